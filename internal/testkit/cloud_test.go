package testkit_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/sources"
)

var cloudDay = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func newCloud(t *testing.T, tenants ...string) *testkit.Cloud {
	t.Helper()
	return testkit.NewCloud(t, testkit.CloudConfig{
		Tenants: tenants,
		Graph:   graphsim.Config{Start: cloudDay, End: cloudDay.Add(24 * time.Hour), RowsPerHour: 30},
	})
}

// reader reads tenant's Direct Routing rows through the cloud as the
// binary does: azidentity against the tenant's authority, then Graph.
func reader(t *testing.T, c *testkit.Cloud, tenant string) *fetch.Client {
	t.Helper()
	cl := fetch.Cloud{Name: "sim", Authority: cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityURL + "/"}, GraphURL: c.GraphURL}
	ts, err := fetch.NewTokenSource(fetch.Credentials{
		Mode: fetch.AuthSecret, TenantID: tenant, ClientID: c.ClientID, ClientSecret: c.Secret,
		Transport: c.Client(), DisableInstanceDiscovery: true,
	}, cl, cl.Scope())
	if err != nil {
		t.Fatal(err)
	}
	fc, err := fetch.New(fetch.Config{BaseURL: c.GraphURL, Tokens: ts, HTTPClient: c.Client(), MaxAttempts: 1,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return fc
}

// readIDs reads the ids of the rows of [from, to).
func readIDs(c *fetch.Client, from, to time.Time) ([]string, error) {
	var ids []string
	src, _ := sources.Lookup("direct-routing")
	_, err := c.Calls(context.Background(), fetch.FunctionOf(src), from, to, func(p fetch.Page) error {
		for _, r := range p.Rows {
			var v struct{ ID string }
			if err := json.Unmarshal(r, &v); err != nil {
				return err
			}
			ids = append(ids, v.ID)
		}
		return nil
	})
	return ids, err
}

func truthIDs(t *testing.T, c *testkit.Cloud, tenant string, from, to time.Time) []string {
	t.Helper()
	src, _ := sources.Lookup("direct-routing")
	rows, err := testkit.LogRows(c.Truth(tenant), src, from, to)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestCloudTenantsReadTheirOwnRows: each tenant's token, from its own
// authority, reads exactly that tenant's ground truth, and the tenants'
// rows differ.
func TestCloudTenantsReadTheirOwnRows(t *testing.T) {
	c := newCloud(t, "tenant-a", "tenant-b")
	from, to := cloudDay.Add(2*time.Hour), cloudDay.Add(3*time.Hour)
	got := map[string][]string{}
	for _, tn := range c.Tenants() {
		ids, err := readIDs(reader(t, c, tn), from, to)
		if err != nil {
			t.Fatalf("%s: %v", tn, err)
		}
		if want := truthIDs(t, c, tn, from, to); len(ids) != 30 || !slices.Equal(ids, want) {
			t.Fatalf("%s read %v, its truth is %v", tn, ids, want)
		}
		got[tn] = ids
	}
	for _, id := range got["tenant-a"] {
		if slices.Contains(got["tenant-b"], id) {
			t.Fatalf("row %s read in both tenants", id)
		}
	}
	var issued []string
	for _, tok := range c.Entra.Issued() {
		issued = append(issued, tok.Tenant)
	}
	if !slices.Equal(issued, []string{"tenant-a", "tenant-b"}) {
		t.Fatalf("tokens issued in %v", issued)
	}
}

// TestCloudConsent: withdrawing consent makes Graph refuse the tenant's
// cached token with 403 and Entra refuse a new one with AADSTS7000229,
// leaves the other tenant reading, and restoring it lets the same client
// read again; a tenant the cloud does not have is not found (AADSTS90002).
func TestCloudConsent(t *testing.T) {
	c := newCloud(t, "tenant-a", "tenant-b")
	from, to := cloudDay, cloudDay.Add(time.Hour)
	a, b := reader(t, c, "tenant-a"), reader(t, c, "tenant-b")
	if _, err := readIDs(a, from, to); err != nil {
		t.Fatal(err)
	}

	c.SetConsent("tenant-a", false)
	var ge *fetch.Error
	if _, err := readIDs(a, from, to); !errors.As(err, &ge) || ge.StatusCode != 403 || ge.Code != graphsim.CodeRequestDenied {
		t.Fatalf("cached token after consent withdrawn: %v", err)
	}
	var te *fetch.TokenError
	if _, err := readIDs(reader(t, c, "tenant-a"), from, to); !errors.As(err, &te) || !strings.Contains(err.Error(), "AADSTS7000229") {
		t.Fatalf("new token after consent withdrawn: %v", err)
	}
	if _, err := readIDs(b, from, to); err != nil {
		t.Fatalf("other tenant: %v", err)
	}

	c.SetConsent("tenant-a", true)
	if ids, err := readIDs(a, from, to); err != nil || !slices.Equal(ids, truthIDs(t, c, "tenant-a", from, to)) {
		t.Fatalf("consent restored: %v", err)
	}

	if _, err := readIDs(reader(t, c, "tenant-x"), from, to); !errors.As(err, &te) || !strings.Contains(err.Error(), "AADSTS90002") {
		t.Fatalf("unknown tenant: %v", err)
	}
	c.AddTenant(t, "tenant-x")
	if _, err := readIDs(reader(t, c, "tenant-x"), from, to); err != nil {
		t.Fatalf("added tenant: %v", err)
	}
	if got := c.Env()["TENANTS"]; got != "tenant-a,tenant-b,tenant-x" {
		t.Fatalf("TENANTS=%s", got)
	}
}

// TestCloudEnv: the environment names the simulators, and the certificate
// file alone is enough to trust both of them, as SSL_CERT_FILE makes it
// for the binary.
func TestCloudEnv(t *testing.T) {
	c := newCloud(t, "t1", "t2")
	env := c.Env()
	want := testkit.Env{
		"GRAPH_AUTH": "secret", "AZURE_CLIENT_ID": testkit.CloudClientID, "AZURE_CLIENT_SECRET": testkit.CloudSecret,
		"AZURE_AUTHORITY_HOST": c.AuthorityURL + "/", "GRAPH_BASE_URL": c.GraphURL, "TENANTS": "t1,t2", "SSL_CERT_FILE": c.CertFile,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if len(env) != len(want) {
		t.Errorf("env %v has settings beyond %v", env, want)
	}
	if !strings.HasPrefix(env["AZURE_AUTHORITY_HOST"], "https://127.0.0.1:") || !strings.HasPrefix(env["GRAPH_BASE_URL"], "https://") {
		t.Errorf("hosts %s %s", env["AZURE_AUTHORITY_HOST"], env["GRAPH_BASE_URL"])
	}

	pemData, err := os.ReadFile(env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificate in SSL_CERT_FILE")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	for _, u := range []string{c.AuthorityURL + "/t2/v2.0/.well-known/openid-configuration", c.GraphURL + "/v1.0/"} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatalf("GET %s trusting only SSL_CERT_FILE: %v", u, err)
		}
		resp.Body.Close()
	}
}
