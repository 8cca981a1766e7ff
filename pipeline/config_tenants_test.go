package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/tenants"
)

const otherTenant = "11111111-2222-4333-8444-555555555555"

// secretApp is a multi-tenant app registration with a secret.
var secretApp = map[string]string{"GRAPH_AUTH": "secret", "AZURE_CLIENT_ID": testClient, "AZURE_CLIENT_SECRET": "pw"}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTenantsConfig(t *testing.T) {
	secretFile := writeFile(t, "secret", "per-tenant-pw\n")
	goodFile := writeFile(t, "tenants.yaml", `
tenants:
  - id: `+testTenant+`
    name: Contoso
    sources: [pstn]
    topics: {pstn: contoso.pstn}
  - id: fabrikam.onmicrosoft.com
`)
	ownCreds := writeFile(t, "own.yaml", `
tenants:
  - id: `+testTenant+`
    clientId: `+testClient+`
    clientSecretFile: `+secretFile+`
  - id: `+otherTenant+`
    clientId: `+testClient+`
    certificateFile: `+testCert+`
`)
	mixedCreds := writeFile(t, "mixed.yaml", "tenants:\n  - id: "+testTenant+"\n    clientId: "+testClient+"\n    clientSecretFile: "+secretFile+"\n  - id: "+otherTenant+"\n")
	cases := []struct {
		name     string
		env      map[string]string
		problems []string
		check    func(t *testing.T, c Config)
	}{
		{name: "single tenant is AZURE_TENANT_ID, as before", env: merge(secretApp, map[string]string{"AZURE_TENANT_ID": testTenant}),
			check: func(t *testing.T, c Config) {
				if c.Multi() || !reflect.DeepEqual(c.TenantList(), []tenants.Tenant{{ID: testTenant}}) {
					t.Fatalf("multi %v, tenants %+v", c.Multi(), c.TenantList())
				}
				if c.Cluster != (ClusterConfig{Topic: "callstream.assignments", Buckets: 64}) || c.Tenants.Retry != 5*time.Minute {
					t.Fatalf("defaults: cluster %+v, retry %s", c.Cluster, c.Tenants.Retry)
				}
			}},
		{name: "TENANTS needs no AZURE_TENANT_ID", env: merge(secretApp, map[string]string{"TENANTS": testTenant + ", Fabrikam.onmicrosoft.com"}),
			check: func(t *testing.T, c Config) {
				want := []tenants.Tenant{{ID: testTenant}, {ID: "fabrikam.onmicrosoft.com"}}
				if !c.Multi() || !reflect.DeepEqual(c.TenantList(), want) {
					t.Fatalf("multi %v, tenants %+v", c.Multi(), c.TenantList())
				}
				creds, err := c.TenantCredentials(c.TenantList()[1])
				if err != nil || creds.TenantID != "fabrikam.onmicrosoft.com" || creds.ClientID != testClient || creds.ClientSecret != "pw" || creds.Mode != fetch.AuthSecret {
					t.Fatalf("credentials %+v %v", creds, err)
				}
			}},
		{name: "TENANTS_FILE", env: merge(secretApp, map[string]string{"TENANTS_FILE": goodFile, "SOURCES": "direct-routing,pstn"}),
			check: func(t *testing.T, c Config) {
				l := c.TenantList()
				if c.Tenants.File != goodFile || len(l) != 2 || l[0].Name != "Contoso" || l[0].Topics["pstn"] != "contoso.pstn" {
					t.Fatalf("tenants %+v", l)
				}
				if got := c.TenantSources(l[0]); !reflect.DeepEqual(got, []string{"pstn"}) {
					t.Errorf("own sources %v", got)
				}
				if got := c.TenantSources(l[1]); !reflect.DeepEqual(got, []string{"direct-routing", "pstn"}) {
					t.Errorf("the run's sources %v", got)
				}
			}},
		{name: "per-tenant credentials need no GRAPH_AUTH of the run", env: map[string]string{"TENANTS_FILE": ownCreds},
			check: func(t *testing.T, c Config) {
				l := c.TenantList()
				a, err := c.TenantCredentials(l[0])
				if err != nil || a.Mode != fetch.AuthSecret || a.ClientSecret != "per-tenant-pw" || a.TenantID != testTenant {
					t.Fatalf("secret tenant: %+v %v", a, err)
				}
				b, err := c.TenantCredentials(l[1])
				if err != nil || b.Mode != fetch.AuthCertificate || len(b.Certificate) == 0 || b.TenantID != otherTenant {
					t.Fatalf("certificate tenant: %v %v", b.Mode, err)
				}
			}},
		{name: "a tenant without its own credentials needs the run's", env: map[string]string{"TENANTS_FILE": mixedCreds},
			problems: []string{"GRAPH_AUTH=default cannot read several tenants (TENANTS_FILE)", otherTenant + " lack them"}},
		{name: "token and managed identity are one tenant's", env: map[string]string{"TENANTS": testTenant, "GRAPH_AUTH": "managed"},
			problems: []string{"GRAPH_AUTH=managed cannot read several tenants (TENANTS)"}},
		{name: "a static token with TENANTS", env: map[string]string{"TENANTS": testTenant, "GRAPH_ACCESS_TOKEN": "abc"},
			problems: []string{"GRAPH_AUTH=token cannot read several tenants (TENANTS)", "GRAPH_ACCESS_TOKEN is one tenant's token"}},
		{name: "both ways at once", env: merge(secretApp, map[string]string{"TENANTS": testTenant, "TENANTS_FILE": goodFile}),
			problems: []string{"TENANTS and TENANTS_FILE are both set"}},
		{name: "bad ids all named", env: merge(secretApp, map[string]string{"TENANTS": "common," + testTenant + ",contoso," + testTenant}),
			problems: []string{`TENANTS: "common" is Entra's multi-tenant alias`, `TENANTS: "contoso"`, "TENANTS: " + testTenant + " is listed twice"}},
		{name: "unreadable file", env: merge(secretApp, map[string]string{"TENANTS_FILE": "/nonexistent/tenants.yaml"}),
			problems: []string{"TENANTS_FILE: open /nonexistent/tenants.yaml"}},
		{name: "file problems name the file and the tenant", env: merge(secretApp, map[string]string{
			"TENANTS_FILE": writeFile(t, "bad.yaml", "tenants:\n  - id: "+testTenant+"\n    colour: blue\n    sources: [sms]\n    topics: {pstn: p}\n    start: 2001-01-01\n")}),
			problems: []string{`unknown key "colour"`, "tenant " + testTenant + ": sources: sms", "offered in Graph beta only",
				"tenant " + testTenant + ": topics: pstn is not among the sources it reads (sms)", "start 2001-01-01T00:00:00Z: before 2018-01-01"}},
		{name: "missing credential files", env: map[string]string{"TENANTS_FILE": writeFile(t, "gone.yaml",
			"tenants:\n  - id: "+testTenant+"\n    clientId: "+testClient+"\n    clientSecretFile: /nonexistent/s\n  - id: "+otherTenant+"\n    clientId: "+testClient+"\n    certificateFile: "+testCert+".missing\n")},
			problems: []string{"tenant " + testTenant + ": clientSecretFile: stat /nonexistent/s", "tenant " + otherTenant + ": certificateFile: open"}},
		{name: "bad retry", env: merge(secretApp, map[string]string{"TENANTS": testTenant, "TENANT_RETRY_INTERVAL": "soon"}),
			problems: []string{"TENANT_RETRY_INTERVAL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(context.Background(), withBrokers(tc.env))
			checkProblems(t, c, err, tc.problems, tc.check)
		})
	}
}

// checkProblems asserts a ConfigError naming every one of want, or with
// want empty a valid configuration that check accepts.
func checkProblems(t *testing.T, c Config, err error, want []string, check func(*testing.T, Config)) {
	t.Helper()
	if len(want) > 0 {
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("err %v, want a ConfigError", err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error does not mention %q:\n%s", w, err)
			}
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if check != nil {
		check(t, c)
	}
}

func TestClusterConfig(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		problems []string
		check    func(t *testing.T, c Config)
	}{
		{name: "scale-out", env: map[string]string{"CLUSTER_GROUP": "callstream", "CLUSTER_TOPIC": "cs.assign", "CLUSTER_BUCKETS": "128", "CLUSTER_INSTANCE_ID": "callstream-2"},
			check: func(t *testing.T, c Config) {
				if c.Cluster != (ClusterConfig{Group: "callstream", Topic: "cs.assign", Buckets: 128, InstanceID: "callstream-2"}) {
					t.Fatalf("cluster %+v", c.Cluster)
				}
			}},
		{name: "an instance id alone is a warning", env: map[string]string{"CLUSTER_INSTANCE_ID": "pod-0"},
			check: func(t *testing.T, c Config) {
				if !strings.Contains(strings.Join(c.Walk.Warnings, "\n"), "CLUSTER_INSTANCE_ID is set but CLUSTER_GROUP is not") {
					t.Fatalf("warnings %v", c.Walk.Warnings)
				}
			}},
		{name: "exactly-once only", env: map[string]string{"CLUSTER_GROUP": "g", "CHECKPOINT_STORE": "file"},
			problems: []string{"CLUSTER_GROUP needs CHECKPOINT_STORE=kafka"}},
		{name: "bounds and names", env: map[string]string{"CLUSTER_GROUP": "a group", "CLUSTER_TOPIC": "", "CLUSTER_BUCKETS": "10001", "CLUSTER_INSTANCE_ID": "pod/0"},
			problems: []string{`CLUSTER_GROUP "a group"`, `CLUSTER_TOPIC ""`, `CLUSTER_BUCKETS "10001": want 1 to 10000`, `CLUSTER_INSTANCE_ID "pod/0"`}},
		{name: "no buckets", env: map[string]string{"CLUSTER_BUCKETS": "0"}, problems: []string{`CLUSTER_BUCKETS "0"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(context.Background(), withBrokers(tc.env))
			checkProblems(t, c, err, tc.problems, tc.check)
		})
	}
}

func TestAuthorityHostConfig(t *testing.T) {
	cases := []struct {
		name, host, want string
		skipDiscovery    bool
		problem          string
	}{
		{name: "unset keeps the cloud's", want: "https://login.microsoftonline.com/"},
		{name: "an Entra host keeps discovery", host: "https://login.microsoftonline.us", want: "https://login.microsoftonline.us/"},
		{name: "a simulator skips discovery", host: "https://127.0.0.1:8443/", want: "https://127.0.0.1:8443/", skipDiscovery: true},
		{name: "Azure Stack ADFS with a path", host: "https://adfs.local.azurestack.external/adfs", want: "https://adfs.local.azurestack.external/adfs/", skipDiscovery: true},
		{name: "plain http is refused", host: "http://login.example", problem: "AZURE_AUTHORITY_HOST \"http://login.example\": must be https://"},
		{name: "not a URL", host: "login.example", problem: "want an https URL"},
		{name: "a password is not echoed", host: "https://u:hunter2@login.example/", problem: "without a user name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := merge(secretApp, map[string]string{"AZURE_TENANT_ID": testTenant})
			if tc.host != "" {
				env["AZURE_AUTHORITY_HOST"] = tc.host
			}
			c, err := loadConfig(context.Background(), withBrokers(env))
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("err %v, want %q without the password", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Graph.Cloud.Authority.ActiveDirectoryAuthorityHost; got != tc.want || c.Graph.Auth.DisableInstanceDiscovery != tc.skipDiscovery {
				t.Fatalf("authority %q, skip discovery %v; want %q, %v", got, c.Graph.Auth.DisableInstanceDiscovery, tc.want, tc.skipDiscovery)
			}
			if fetch.Clouds["global"].Authority.ActiveDirectoryAuthorityHost != "https://login.microsoftonline.com/" {
				t.Fatal("the override changed the shared cloud table")
			}
		})
	}
}
