package fetch_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/callstream/callstream/entrasim"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

const (
	tenantID  = "8f2b7c1e-4d3a-4b5c-9e6f-0a1b2c3d4e5f"
	appID     = "3c9d1e2f-5a6b-4c7d-8e9f-101112131415"
	appSecret = "s3cret~value.for.tests"
	fedToken  = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y2FsbHN0cmVhbTpjYWxsc3RyZWFtIn0.c2ln"
	miHeader  = "mi-identity-header-secret"
	miSystem  = "0a0b0c0d-0000-4000-8000-000000000001"
	miUser    = "0a0b0c0d-0000-4000-8000-000000000002"
)

var (
	day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	day1 = day0.Add(24 * time.Hour)
)

func farFuture() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }

// readCert parses the first certificate of a PEM file in testdata.
func readCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			t.Fatalf("%s: no certificate", name)
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tlsRig is simulated Entra and simulated Graph behind one httptest TLS
// server, as azidentity insists on an https authority: Graph paths start
// with the API version, everything else is Entra's.
type tlsRig struct {
	srv   *httptest.Server
	sim   *graphsim.Server
	entra *entrasim.Server
	cloud fetch.Cloud
}

func newTLSRig(t *testing.T, ecfg entrasim.Config) *tlsRig {
	t.Helper()
	r := &tlsRig{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/v1.0/") {
			r.sim.ServeHTTP(w, req)
			return
		}
		r.entra.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	var err error
	r.sim, err = graphsim.New(graphsim.Config{
		Seed: 1, Start: day0, End: day1, RowsPerHour: 60, Token: "static-token-not-used-here",
		Audience: r.srv.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	ecfg.TenantID = tenantID
	ecfg.OnIssue = acceptInto(r.sim)
	r.entra, err = entrasim.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	r.cloud = fetch.Cloud{Name: "sim", Authority: cloud.Configuration{ActiveDirectoryAuthorityHost: r.srv.URL + "/"}, GraphURL: r.srv.URL}
	return r
}

// acceptInto makes sim accept what Entra issues, as Graph accepts any
// token Entra signed for it.
func acceptInto(sim *graphsim.Server) func(entrasim.Token) {
	return func(tok entrasim.Token) {
		sim.AcceptToken(tok.Value, graphsim.TokenInfo{App: tok.ClientID, Audience: tok.Audience, IssuedAt: tok.IssuedAt, ExpiresAt: tok.ExpiresAt})
	}
}

// client builds the credential and a Client reading Graph with it.
func (r *tlsRig) client(t *testing.T, creds fetch.Credentials) (*fetch.Client, error) {
	t.Helper()
	creds.Transport = r.srv.Client()
	creds.DisableInstanceDiscovery = true
	ts, err := fetch.NewTokenSource(creds, r.cloud, fetch.ScopeFor(r.srv.URL))
	if err != nil {
		return nil, err
	}
	return fetch.New(fetch.Config{BaseURL: r.srv.URL, Tokens: ts, HTTPClient: r.srv.Client(), MaxAttempts: 2,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
}

// readDay reads the whole simulated day and returns the row count.
func readDay(ctx context.Context, c *fetch.Client) (int, fetch.Stats, error) {
	rows := 0
	st, err := c.Calls(ctx, fetch.DirectRoutingCalls, day0, day1, func(p fetch.Page) error {
		rows += len(p.Rows)
		return nil
	})
	return rows, st, err
}

func TestCredentialModesAgainstSimulatedEntra(t *testing.T) {
	cert := readCert(t, "client-cert-public.pem")
	apps := []entrasim.App{{ClientID: appID, Secret: appSecret, Certificate: cert, FederatedToken: fedToken}}
	snApps := []entrasim.App{{ClientID: appID, Certificate: cert, RequireChain: true}}
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(tokenFile, []byte(fedToken), 0o600); err != nil {
		t.Fatal(err)
	}
	managed := entrasim.ManagedIdentity{Header: miHeader, SystemClientID: miSystem, UserClientIDs: []string{miUser}}

	cases := []struct {
		name      string
		apps      []entrasim.App
		creds     fetch.Credentials
		env       map[string]string // for the modes where azidentity reads the environment itself
		wantGrant entrasim.Grant
		wantApp   string
	}{
		{name: "secret", apps: apps,
			creds:     fetch.Credentials{Mode: fetch.AuthSecret, TenantID: tenantID, ClientID: appID, ClientSecret: appSecret},
			wantGrant: entrasim.GrantSecret, wantApp: appID},
		{name: "certificate PEM", apps: apps,
			creds:     fetch.Credentials{Mode: fetch.AuthCertificate, TenantID: tenantID, ClientID: appID, Certificate: readFile(t, "client-cert.pem")},
			wantGrant: entrasim.GrantCertificate, wantApp: appID},
		{name: "certificate PKCS12 with password", apps: apps,
			creds: fetch.Credentials{Mode: fetch.AuthCertificate, TenantID: tenantID, ClientID: appID,
				Certificate: readFile(t, "client-cert.pfx"), CertificatePassword: "pfx-pass"},
			wantGrant: entrasim.GrantCertificate, wantApp: appID},
		{name: "certificate SNI sends x5c", apps: snApps,
			creds: fetch.Credentials{Mode: fetch.AuthCertificate, TenantID: tenantID, ClientID: appID,
				Certificate: readFile(t, "client-cert.pem"), SendCertificateChain: true},
			wantGrant: entrasim.GrantCertificate, wantApp: appID},
		{name: "workload", apps: apps,
			creds:     fetch.Credentials{Mode: fetch.AuthWorkload, TenantID: tenantID, ClientID: appID, FederatedTokenFile: tokenFile},
			wantGrant: entrasim.GrantFederated, wantApp: appID},
		{name: "managed system-assigned",
			creds:     fetch.Credentials{Mode: fetch.AuthManaged},
			env:       map[string]string{"IDENTITY_ENDPOINT": "{srv}" + entrasim.ManagedIdentityPath, "IDENTITY_HEADER": miHeader},
			wantGrant: entrasim.GrantManaged, wantApp: miSystem},
		{name: "managed user-assigned",
			creds:     fetch.Credentials{Mode: fetch.AuthManaged, ClientID: miUser},
			env:       map[string]string{"IDENTITY_ENDPOINT": "{srv}" + entrasim.ManagedIdentityPath, "IDENTITY_HEADER": miHeader},
			wantGrant: entrasim.GrantManaged, wantApp: miUser},
		{name: "default via environment", apps: apps,
			creds: fetch.Credentials{Mode: fetch.AuthDefault, TenantID: tenantID},
			env: map[string]string{"AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
				"AZURE_TENANT_ID": tenantID, "AZURE_CLIENT_ID": appID, "AZURE_CLIENT_SECRET": appSecret},
			wantGrant: entrasim.GrantSecret, wantApp: appID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTLSRig(t, entrasim.Config{Apps: tc.apps, Managed: managed})
			for k, v := range tc.env {
				t.Setenv(k, strings.ReplaceAll(v, "{srv}", r.srv.URL))
			}
			c, err := r.client(t, tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			rows, st, err := readDay(context.Background(), c)
			if err != nil {
				t.Fatalf("read: %v\nentra: %+v", err, r.entra.Stats())
			}
			if want := r.sim.Count(day0, day1); rows != want {
				t.Fatalf("%d rows, want %d", rows, want)
			}
			issued := r.entra.Issued()
			if len(issued) != 1 {
				t.Fatalf("%d tokens issued for %d requests, want 1 (cached)", len(issued), st.Requests)
			}
			got := issued[0]
			if got.Grant != tc.wantGrant || got.ClientID != tc.wantApp || got.Audience != r.srv.URL {
				t.Fatalf("issued %s to %s for %s; want %s to %s for %s", got.Grant, got.ClientID, got.Audience, tc.wantGrant, tc.wantApp, r.srv.URL)
			}
			if n := r.sim.Stats().ByStatus[http.StatusUnauthorized]; n != 0 {
				t.Fatalf("graph answered 401 %d times", n)
			}
		})
	}
}

func TestCredentialRefusals(t *testing.T) {
	cert := readCert(t, "client-cert-public.pem")
	tokenFile := filepath.Join(t.TempDir(), "wrong-token")
	if err := os.WriteFile(tokenFile, []byte("not.the.token"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		apps  []entrasim.App
		creds fetch.Credentials
		want  string
	}{
		{"wrong secret", []entrasim.App{{ClientID: appID, Secret: appSecret}},
			fetch.Credentials{Mode: fetch.AuthSecret, TenantID: tenantID, ClientID: appID, ClientSecret: "guess"}, "AADSTS7000215"},
		{"unknown app", []entrasim.App{{ClientID: appID, Secret: appSecret}},
			fetch.Credentials{Mode: fetch.AuthSecret, TenantID: tenantID, ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: appSecret}, "AADSTS700016"},
		{"unregistered certificate", []entrasim.App{{ClientID: appID, Certificate: cert}},
			fetch.Credentials{Mode: fetch.AuthCertificate, TenantID: tenantID, ClientID: appID, Certificate: readFile(t, "other-cert.pem")}, "AADSTS700027"},
		{"SNI without chain", []entrasim.App{{ClientID: appID, Certificate: cert, RequireChain: true}},
			fetch.Credentials{Mode: fetch.AuthCertificate, TenantID: tenantID, ClientID: appID, Certificate: readFile(t, "client-cert.pem")}, "x5c"},
		{"wrong federated token", []entrasim.App{{ClientID: appID, FederatedToken: fedToken}},
			fetch.Credentials{Mode: fetch.AuthWorkload, TenantID: tenantID, ClientID: appID, FederatedTokenFile: tokenFile}, "AADSTS70021"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTLSRig(t, entrasim.Config{Apps: tc.apps})
			c, err := r.client(t, tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = readDay(context.Background(), c)
			var te *fetch.TokenError
			if !errors.As(err, &te) || fetch.IsRetryable(err) {
				t.Fatalf("err %v, want a permanent TokenError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v does not mention %s", err, tc.want)
			}
			if n := r.sim.Stats().Requests; n != 0 {
				t.Fatalf("graph got %d requests without a token", n)
			}
		})
	}
}

func TestCredentialsValidate(t *testing.T) {
	cases := []struct {
		creds fetch.Credentials
		want  []string
	}{
		{fetch.Credentials{Mode: fetch.AuthSecret}, []string{"TenantID", "ClientID", "ClientSecret"}},
		{fetch.Credentials{Mode: fetch.AuthCertificate, TenantID: "t"}, []string{"ClientID", "Certificate"}},
		{fetch.Credentials{Mode: fetch.AuthWorkload, ClientID: "c"}, []string{"TenantID", "FederatedTokenFile"}},
		{fetch.Credentials{Mode: fetch.AuthToken}, []string{"AccessToken"}},
		{fetch.Credentials{Mode: "kerberos"}, []string{`"kerberos"`, "default, secret, certificate, workload, managed, token"}},
		{fetch.Credentials{Mode: fetch.AuthManaged}, nil},
		{fetch.Credentials{Mode: fetch.AuthDefault}, nil},
	}
	for _, tc := range cases {
		err := tc.creds.Validate()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.creds.Mode, err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v does not name %s", tc.creds.Mode, err, w)
			}
		}
	}
}

func TestCheckCertificate(t *testing.T) {
	if err := fetch.CheckCertificate(readFile(t, "client-cert.pem"), ""); err != nil {
		t.Errorf("PEM: %v", err)
	}
	if err := fetch.CheckCertificate(readFile(t, "client-cert.pfx"), "pfx-pass"); err != nil {
		t.Errorf("PKCS#12: %v", err)
	}
	if err := fetch.CheckCertificate(readFile(t, "client-cert.pfx"), "wrong"); err == nil {
		t.Error("PKCS#12 with a wrong password accepted")
	}
	if err := fetch.CheckCertificate(readFile(t, "client-cert-public.pem"), ""); err == nil {
		t.Error("a certificate without its key accepted")
	}
}

func TestStaticTokenSource(t *testing.T) {
	ts, err := fetch.NewTokenSource(fetch.Credentials{Mode: fetch.AuthToken, AccessToken: " tok \n"}, fetch.Clouds["global"], "")
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := ts.Token(context.Background()); tok != "tok" {
		t.Fatalf("token %q", tok)
	}
	if _, ok := ts.(fetch.Refresher); ok {
		t.Fatal("a static token claims it can be refreshed")
	}
}
