package pipeline

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/callstream/callstream/entrasim"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

const (
	testTenant = "8f2b7c1e-4d3a-4b5c-9e6f-0a1b2c3d4e5f"
	testClient = "3c9d1e2f-5a6b-4c7d-8e9f-101112131415"
	testCert   = "../fetch/testdata/client-cert.pem"
	testPFX    = "../fetch/testdata/client-cert.pfx"
)

// withBrokers adds the one setting every case needs besides Graph's.
func withBrokers(env map[string]string) envconfig.Lookuper {
	m := map[string]string{"KAFKA_BROKERS": "k:9092"}
	for k, v := range env {
		m[k] = v
	}
	return envconfig.MapLookuper(m)
}

func TestGraphAuthConfig(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("federated"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		env      map[string]string
		wantMode fetch.AuthMode
		problems []string // every one must be reported; none means valid
		check    func(t *testing.T, c fetch.Credentials)
	}{
		{name: "nothing set is the default chain", env: nil, wantMode: fetch.AuthDefault},
		{name: "an access token alone is token mode", env: map[string]string{"GRAPH_ACCESS_TOKEN": "abc"}, wantMode: fetch.AuthToken,
			check: func(t *testing.T, c fetch.Credentials) {
				if c.AccessToken != "abc" {
					t.Errorf("token %q", c.AccessToken)
				}
			}},
		{name: "secret", env: map[string]string{"GRAPH_AUTH": "secret", "AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient, "AZURE_CLIENT_SECRET": "pw"},
			wantMode: fetch.AuthSecret,
			check: func(t *testing.T, c fetch.Credentials) {
				if c.TenantID != testTenant || c.ClientID != testClient || c.ClientSecret != "pw" {
					t.Errorf("credentials %+v", c)
				}
			}},
		{name: "secret missing everything", env: map[string]string{"GRAPH_AUTH": "secret"},
			problems: []string{"GRAPH_AUTH=secret needs AZURE_TENANT_ID", "GRAPH_AUTH=secret needs AZURE_CLIENT_ID", "GRAPH_AUTH=secret needs AZURE_CLIENT_SECRET"}},
		{name: "certificate PEM with chain", env: map[string]string{"GRAPH_AUTH": "certificate", "AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient,
			"AZURE_CLIENT_CERTIFICATE_PATH": testCert, "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN": "true"},
			wantMode: fetch.AuthCertificate,
			check: func(t *testing.T, c fetch.Credentials) {
				if len(c.Certificate) == 0 || !c.SendCertificateChain {
					t.Errorf("certificate %d bytes, chain %v", len(c.Certificate), c.SendCertificateChain)
				}
			}},
		{name: "certificate PKCS12", env: map[string]string{"GRAPH_AUTH": "certificate", "AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient,
			"AZURE_CLIENT_CERTIFICATE_PATH": testPFX, "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pfx-pass"},
			wantMode: fetch.AuthCertificate},
		{name: "certificate problems", env: map[string]string{"GRAPH_AUTH": "certificate", "AZURE_CLIENT_CERTIFICATE_PATH": testPFX,
			"AZURE_CLIENT_CERTIFICATE_PASSWORD": "wrong", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN": "perhaps"},
			problems: []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH " + testPFX, "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"}},
		{name: "certificate file missing", env: map[string]string{"GRAPH_AUTH": "certificate", "AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient,
			"AZURE_CLIENT_CERTIFICATE_PATH": "/nonexistent/cert.pem"},
			problems: []string{"AZURE_CLIENT_CERTIFICATE_PATH", "no such file"}},
		{name: "workload", env: map[string]string{"GRAPH_AUTH": "workload", "AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient, "AZURE_FEDERATED_TOKEN_FILE": tokenFile},
			wantMode: fetch.AuthWorkload,
			check: func(t *testing.T, c fetch.Credentials) {
				if c.FederatedTokenFile != tokenFile {
					t.Errorf("token file %q", c.FederatedTokenFile)
				}
			}},
		{name: "workload without its file", env: map[string]string{"GRAPH_AUTH": "workload", "AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient, "AZURE_FEDERATED_TOKEN_FILE": "/nonexistent/token"},
			problems: []string{"AZURE_FEDERATED_TOKEN_FILE"}},
		{name: "managed user-assigned", env: map[string]string{"GRAPH_AUTH": "Managed", "AZURE_CLIENT_ID": testClient}, wantMode: fetch.AuthManaged,
			check: func(t *testing.T, c fetch.Credentials) {
				if c.ClientID != testClient {
					t.Errorf("client id %q", c.ClientID)
				}
			}},
		{name: "token mode needs the token", env: map[string]string{"GRAPH_AUTH": "token"}, problems: []string{"GRAPH_AUTH=token needs GRAPH_ACCESS_TOKEN"}},
		{name: "a token with another mode is ambiguous", env: map[string]string{"GRAPH_AUTH": "managed", "GRAPH_ACCESS_TOKEN": "abc"},
			problems: []string{"GRAPH_ACCESS_TOKEN is set but GRAPH_AUTH=managed"}},
		{name: "unknown mode", env: map[string]string{"GRAPH_AUTH": "kerberos"}, problems: []string{`GRAPH_AUTH "kerberos"`}},
		{name: "china with a credential problem", env: map[string]string{"GRAPH_CLOUD": "china", "GRAPH_AUTH": "secret"},
			problems: []string{"not offer", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(context.Background(), withBrokers(tc.env))
			if len(tc.problems) > 0 {
				var ce *ConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("err %v, want a ConfigError", err)
				}
				for _, w := range tc.problems {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not mention %q:\n%s", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Graph.Auth.Mode != tc.wantMode {
				t.Fatalf("mode %q, want %q", c.Graph.Auth.Mode, tc.wantMode)
			}
			if tc.check != nil {
				tc.check(t, c.Graph.Auth)
			}
		})
	}
}

func TestGraphBudgetConfig(t *testing.T) {
	c, err := loadConfig(context.Background(), withBrokers(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Graph.BudgetPerFunction != 50 || c.Graph.BudgetPerApp != 200 {
		t.Fatalf("budget %d/%d, want 50/200", c.Graph.BudgetPerFunction, c.Graph.BudgetPerApp)
	}
	c, err = loadConfig(context.Background(), withBrokers(map[string]string{"GRAPH_BUDGET_PER_MINUTE": "0"}))
	if err != nil || c.Graph.BudgetPerFunction != 0 {
		t.Fatalf("budget off: %d %v", c.Graph.BudgetPerFunction, err)
	}
	if b, err := graphBudget(c, discardLogger()); b != nil || err != nil {
		t.Fatalf("GRAPH_BUDGET_PER_MINUTE=0 built a budget: %v %v", b, err)
	}
	_, err = loadConfig(context.Background(), withBrokers(map[string]string{"GRAPH_BUDGET_PER_MINUTE": "-5", "GRAPH_APP_BUDGET_PER_MINUTE": "0"}))
	for _, w := range []string{"GRAPH_BUDGET_PER_MINUTE", "GRAPH_APP_BUDGET_PER_MINUTE"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not mention %s", err, w)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func parsePEMCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTokenSourceFromEnvironment follows the settings from the environment
// to the token request: the simulated Entra, at the cloud's real authority
// host, must see the configured app ask for the cloud's Graph scope.
func TestTokenSourceFromEnvironment(t *testing.T) {
	cases := []struct {
		cloud, authority, audience string
		env                        map[string]string
		grant                      entrasim.Grant
	}{
		{"global", "login.microsoftonline.com", "https://graph.microsoft.com",
			map[string]string{"GRAPH_AUTH": "secret", "AZURE_CLIENT_SECRET": "pw"}, entrasim.GrantSecret},
		{"usgov", "login.microsoftonline.us", "https://graph.microsoft.us",
			map[string]string{"GRAPH_AUTH": "certificate", "AZURE_CLIENT_CERTIFICATE_PATH": testCert}, entrasim.GrantCertificate},
		{"dod", "login.microsoftonline.us", "https://dod-graph.microsoft.us",
			map[string]string{"GRAPH_AUTH": "secret", "AZURE_CLIENT_SECRET": "pw"}, entrasim.GrantSecret},
	}
	cert, err := os.ReadFile("../fetch/testdata/client-cert-public.pem")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.cloud, func(t *testing.T) {
			env := map[string]string{"GRAPH_CLOUD": tc.cloud, "AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := loadConfig(context.Background(), withBrokers(env))
			if err != nil {
				t.Fatal(err)
			}
			es, err := entrasim.New(entrasim.Config{TenantID: testTenant, Apps: []entrasim.App{{ClientID: testClient, Secret: "pw", Certificate: parsePEMCert(t, cert)}}})
			if err != nil {
				t.Fatal(err)
			}
			n := graphsim.NewNetwork()
			n.Handle(tc.authority, es)
			cfg.Graph.Auth.Transport = n
			ts, err := tokenSource(cfg, discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Token(context.Background()); err != nil {
				t.Fatal(err)
			}
			issued := es.Issued()
			if len(issued) != 1 || issued[0].ClientID != testClient || issued[0].Audience != tc.audience || issued[0].Grant != tc.grant {
				t.Fatalf("issued %+v", issued)
			}
		})
	}
}
