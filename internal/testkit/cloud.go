package testkit

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/entrasim"
	"github.com/callstream/callstream/graphsim"
)

// The multi-tenant app a Cloud registers when CloudConfig leaves it out.
const (
	CloudClientID = "5c1d7a4e-0b2f-4e8a-9c3d-6f7e8a9b0c1d"
	CloudSecret   = "cloud-app-secret"
)

// CloudConfig configures a simulated cloud of many tenants.
type CloudConfig struct {
	// Tenants are the customer tenants, each with the app consented;
	// at least one.
	Tenants []string
	// Graph is the data set of every tenant: graphsim.TenantsConfig.Base
	// (Start, End, RowsPerHour or RowsPerDay, VisibleDelay, Limits,
	// Latency and LatencyMax, Now …). Each tenant's seed is
	// graphsim.TenantSeed(Graph.Seed, tenant); Token is not used. Now is
	// also Entra's clock, so that tokens are valid by Graph's clock.
	Graph graphsim.Config
	// ClientID and Secret are the multi-tenant app's registration;
	// CloudClientID and CloudSecret if empty.
	ClientID, Secret string
	// TokenLifetime is how long Entra's tokens live;
	// entrasim.DefaultLifetime if zero.
	TokenLifetime time.Duration
}

// Cloud is a simulated Microsoft cloud serving many tenants to one
// multi-tenant app: a simulated Entra (over TLS, as azidentity demands)
// that issues each tenant's tokens at its own authority and refuses a
// tenant without consent, and a simulated Graph (over TLS, as Entra only
// issues tokens for an https resource) that serves each token its own
// tenant's data set. Both stop at the end of the test.
type Cloud struct {
	// Entra is the simulated Entra ID: its Issued and Stats show what was
	// asked of it.
	Entra *entrasim.Server
	// Graph is the simulated Graph of all tenants; Graph.Tenant(id) is a
	// tenant's data set.
	Graph *graphsim.Tenants
	// AuthorityURL is Entra's base URL (https://127.0.0.1:port), and
	// GraphURL Graph's.
	AuthorityURL, GraphURL string
	// CertFile is a PEM file of the certificates both servers present.
	CertFile string
	// ClientID and Secret are the app's credentials.
	ClientID, Secret string

	tenants []string
	client  *http.Client
}

// NewCloud starts a simulated cloud with cfg for the rest of the test.
func NewCloud(t testing.TB, cfg CloudConfig) *Cloud {
	t.Helper()
	if len(cfg.Tenants) == 0 {
		t.Fatal("testkit: CloudConfig.Tenants is empty")
	}
	c := &Cloud{ClientID: cfg.ClientID, Secret: cfg.Secret, tenants: slices.Clone(cfg.Tenants)}
	if c.ClientID == "" {
		c.ClientID = CloudClientID
	}
	if c.Secret == "" {
		c.Secret = CloudSecret
	}
	var err error
	if c.Graph, err = graphsim.NewTenants(graphsim.TenantsConfig{Base: cfg.Graph}); err != nil {
		t.Fatalf("testkit: cloud: %v", err)
	}
	c.Entra, err = entrasim.New(entrasim.Config{
		Tenants:  cfg.Tenants,
		Apps:     []entrasim.App{{ClientID: c.ClientID, Secret: c.Secret}},
		Lifetime: cfg.TokenLifetime,
		Now:      cfg.Graph.Now,
		OnIssue: func(tok entrasim.Token) {
			err := c.Graph.AcceptToken(tok.Value, graphsim.TokenInfo{
				App: tok.ClientID, Audience: tok.Audience, Tenant: tok.Tenant,
				IssuedAt: tok.IssuedAt, ExpiresAt: tok.ExpiresAt,
			})
			if err != nil {
				t.Errorf("testkit: cloud: %v", err)
			}
		},
	})
	if err != nil {
		t.Fatalf("testkit: cloud: %v", err)
	}
	entra, graph := serveTLS(t, c.Entra), serveTLS(t, c.Graph)
	c.AuthorityURL, c.GraphURL = entra.URL, graph.URL
	c.client = entra.Client()

	var certs []byte
	for _, srv := range []*httptest.Server{entra, graph} {
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if !strings.Contains(string(certs), string(b)) {
			certs = append(certs, b...)
		}
	}
	c.CertFile = filepath.Join(t.TempDir(), "cloud-ca.pem")
	if err := os.WriteFile(c.CertFile, certs, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// serveTLS serves h over TLS until the end of the test, discarding the
// server's error log as Serve does.
func serveTLS(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// Tenants returns the tenants served, in the order configured (then
// added).
func (c *Cloud) Tenants() []string { return slices.Clone(c.tenants) }

// Env is the environment the callstream binary needs to read every tenant
// of the cloud with the app's secret: GRAPH_AUTH=secret, AZURE_CLIENT_ID,
// AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST, GRAPH_BASE_URL, TENANTS, and
// SSL_CERT_FILE, which makes the binary's crypto/x509 (on Linux) trust the
// simulators' certificate. It names no AZURE_TENANT_ID, as a multi-tenant
// deployment sets none.
func (c *Cloud) Env() Env {
	return Env{
		"GRAPH_AUTH":           "secret",
		"AZURE_CLIENT_ID":      c.ClientID,
		"AZURE_CLIENT_SECRET":  c.Secret,
		"AZURE_AUTHORITY_HOST": c.AuthorityURL + "/",
		"GRAPH_BASE_URL":       c.GraphURL,
		"TENANTS":              strings.Join(c.tenants, ","),
		"SSL_CERT_FILE":        c.CertFile,
	}
}

// Client returns an HTTP client that trusts the simulators, for a test
// that talks to them itself.
func (c *Cloud) Client() *http.Client { return c.client }

// AddTenant adds a tenant, with the app consented, to Entra and to Env's
// TENANTS, as an admin consenting a new customer does; Graph serves it as
// soon as Entra issues it a token. It is not safe for use concurrently
// with Env, Tenants or another AddTenant.
func (c *Cloud) AddTenant(t testing.TB, tenant string) {
	t.Helper()
	if err := c.Entra.AddTenant(tenant); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(c.tenants, func(s string) bool { return strings.EqualFold(s, tenant) }) {
		c.tenants = append(c.tenants, tenant)
	}
}

// SetConsent withdraws or restores the app's consent in tenant as an admin
// does in the portal: Entra stops (or resumes) issuing the app tokens
// there with AADSTS7000229, and Graph answers the tokens already issued
// with 403 Authorization_RequestDenied (or serves them again). A running
// client therefore sees the withdrawal at its next Graph request, not only
// when its cached token expires.
func (c *Cloud) SetConsent(tenant string, granted bool) {
	c.Entra.SetConsent(tenant, c.ClientID, granted)
	c.Graph.Deny(tenant, !granted)
}

// Truth returns tenant's data set, whose ground truth (for LogRows,
// LogCount and AggregateRows) is what a client must read for that tenant.
func (c *Cloud) Truth(tenant string) *graphsim.Server { return c.Graph.Tenant(tenant) }
