package entrasim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/entrasim"
)

const tenant = "8f2b7c1e-4d3a-4b5c-9e6f-0a1b2c3d4e5f"

func newServer(t *testing.T, cfg entrasim.Config) (*entrasim.Server, *httptest.Server) {
	t.Helper()
	cfg.TenantID = tenant
	s, err := entrasim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return m
}

func TestNewValidation(t *testing.T) {
	_, err := entrasim.New(entrasim.Config{
		Apps:     []entrasim.App{{}, {ClientID: "a"}, {ClientID: "b", Secret: "s", RequireChain: true}},
		Managed:  entrasim.ManagedIdentity{Header: "h"},
		Lifetime: -time.Second,
	})
	for _, want := range []string{"TenantID", "Apps[0]: ClientID", "Apps[1]: no secret", "Apps[2]: RequireChain", "SystemClientID", "Lifetime"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

// TestDiscovery: the issuer must repeat the host the client called, or
// MSAL refuses the authority.
func TestDiscovery(t *testing.T) {
	_, ts := newServer(t, entrasim.Config{})
	resp, err := ts.Client().Get(ts.URL + "/" + tenant + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, resp)
	if doc["issuer"] != ts.URL+"/"+tenant+"/v2.0" || doc["token_endpoint"] != ts.URL+"/"+tenant+"/oauth2/v2.0/token" {
		t.Fatalf("document %v", doc)
	}
	resp, err = ts.Client().Get(ts.URL + "/other-tenant/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || !strings.Contains(decode(t, resp)["error_description"].(string), "AADSTS90002") {
		t.Fatalf("unknown tenant: %d", resp.StatusCode)
	}
}

func TestTokenEndpoint(t *testing.T) {
	var reported []entrasim.Token
	s, ts := newServer(t, entrasim.Config{
		Apps:     []entrasim.App{{ClientID: "app", Secret: "pw"}},
		Lifetime: 90 * time.Minute,
		OnIssue:  func(tok entrasim.Token) { reported = append(reported, tok) },
	})
	post := func(form url.Values) (*http.Response, map[string]any) {
		resp, err := ts.Client().PostForm(ts.URL+"/"+tenant+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		return resp, decode(t, resp)
	}
	base := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"pw"},
		"scope": {"https://graph.microsoft.us/.default openid offline_access profile"}}

	resp, body := post(base)
	if resp.StatusCode != 200 || body["token_type"] != "Bearer" || body["expires_in"] != float64(5400) {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if len(reported) != 1 || reported[0].Value != body["access_token"] || reported[0].Audience != "https://graph.microsoft.us" || reported[0].Grant != entrasim.GrantSecret {
		t.Fatalf("reported %+v", reported)
	}

	cases := []struct {
		name   string
		change func(url.Values)
		status int
		code   string
	}{
		{"wrong secret", func(v url.Values) { v.Set("client_secret", "no") }, 401, "AADSTS7000215"},
		{"unknown client", func(v url.Values) { v.Set("client_id", "nobody") }, 400, "AADSTS700016"},
		{"scope without .default", func(v url.Values) { v.Set("scope", "https://graph.microsoft.com/CallRecords.Read.All") }, 400, "AADSTS1002012"},
		{"two resources", func(v url.Values) {
			v.Set("scope", "https://graph.microsoft.com/.default https://graph.microsoft.us/.default")
		}, 400, "AADSTS1002012"},
		{"bad claims", func(v url.Values) { v.Set("claims", "{nope") }, 400, "AADSTS50027"},
		{"no credential", func(v url.Values) { v.Del("client_secret") }, 401, "AADSTS7000218"},
		{"wrong grant", func(v url.Values) { v.Set("grant_type", "password") }, 400, "AADSTS70003"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{}
			for k, vs := range base {
				v[k] = append([]string(nil), vs...)
			}
			tc.change(v)
			resp, body := post(v)
			if resp.StatusCode != tc.status || !strings.HasPrefix(body["error_description"].(string), tc.code) {
				t.Fatalf("%d %v, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
		})
	}
	if st := s.Stats(); st.Issued != 1 || st.Refused != len(cases) || len(reported) != 1 {
		t.Fatalf("stats %+v, %d reported", st, len(reported))
	}
}

func TestManagedIdentityEndpoint(t *testing.T) {
	s, ts := newServer(t, entrasim.Config{Managed: entrasim.ManagedIdentity{Header: "secret-header", SystemClientID: "sys", UserClientIDs: []string{"user-1"}}})
	get := func(query, header string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+entrasim.ManagedIdentityPath+"?"+query, nil)
		if header != "" {
			req.Header.Set("X-IDENTITY-HEADER", header)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, decode(t, resp)
	}
	const ok = "api-version=2019-08-01&resource=https%3A%2F%2Fdod-graph.microsoft.us"
	if resp, body := get(ok, "secret-header"); resp.StatusCode != 200 || body["client_id"] != "sys" || body["resource"] != "https://dod-graph.microsoft.us" || body["expires_on"] == "" {
		t.Fatalf("system-assigned: %d %v", resp.StatusCode, body)
	}
	if resp, body := get(ok+"&client_id=user-1", "secret-header"); resp.StatusCode != 200 || body["client_id"] != "user-1" {
		t.Fatalf("user-assigned: %d %v", resp.StatusCode, body)
	}
	for _, bad := range []struct{ query, header string }{
		{ok, ""},
		{ok, "wrong"},
		{ok + "&client_id=user-2", "secret-header"},
		{"api-version=2017-09-01&resource=https%3A%2F%2Fgraph.microsoft.com", "secret-header"},
		{"api-version=2019-08-01&resource=https%3A%2F%2Fgraph.microsoft.com%2F.default", "secret-header"},
	} {
		if resp, body := get(bad.query, bad.header); resp.StatusCode < 400 {
			t.Errorf("%s with header %q: %d %v", bad.query, bad.header, resp.StatusCode, body)
		}
	}
	if st := s.Stats(); st.Issued != 2 || st.Refused != 5 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTenants: each served tenant answers at its own authority and records
// itself on its tokens; an unknown tenant is not found; an app without a
// service principal in a tenant is refused there with AADSTS7000229 and
// only there, until consent returns.
func TestTenants(t *testing.T) {
	const other, third = "tenant-b", "Tenant-C"
	var reported []entrasim.Token
	s, err := entrasim.New(entrasim.Config{
		TenantID: tenant,
		Tenants:  []string{other},
		Apps:     []entrasim.App{{ClientID: "app", Secret: "pw"}, {ClientID: "app2", Secret: "pw2"}},
		OnIssue:  func(tok entrasim.Token) { reported = append(reported, tok) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	t.Cleanup(ts.Close)
	if err := s.AddTenant(third); err != nil {
		t.Fatal(err)
	}
	post := func(tenant, client, secret string) (int, map[string]any) {
		t.Helper()
		resp, err := ts.Client().PostForm(ts.URL+"/"+tenant+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret},
			"scope": {"https://graph.microsoft.com/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, decode(t, resp)
	}
	refusal := func(body map[string]any) string {
		d, _ := body["error_description"].(string)
		code, _, _ := strings.Cut(d, ":")
		return code
	}

	for _, tn := range []string{tenant, other, "tenant-c"} {
		if st, body := post(tn, "app", "pw"); st != 200 {
			t.Fatalf("%s: %d %v", tn, st, body)
		}
	}
	want := []string{tenant, other, third}
	for i, tok := range reported {
		if tok.Tenant != want[i] {
			t.Errorf("token %d: tenant %q, want %q", i, tok.Tenant, want[i])
		}
	}
	resp, err := ts.Client().Get(ts.URL + "/tenant-c/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	if doc := decode(t, resp); doc["token_endpoint"] != ts.URL+"/"+third+"/oauth2/v2.0/token" {
		t.Fatalf("discovery of %s: %v", third, doc)
	}

	if st, body := post("nobody", "app", "pw"); st != 400 || refusal(body) != "AADSTS90002" {
		t.Fatalf("unknown tenant: %d %v", st, body)
	}

	s.SetConsent(other, "APP", false)
	if st, body := post(other, "app", "pw"); st != 400 || refusal(body) != "AADSTS7000229" || body["error"] != "invalid_client" {
		t.Fatalf("withdrawn consent: %d %v", st, body)
	}
	// Not even a wrong secret is looked at, as Entra checks the service
	// principal first.
	if st, body := post(other, "app", "wrong"); refusal(body) != "AADSTS7000229" {
		t.Fatalf("withdrawn consent, wrong secret: %d %v", st, body)
	}
	if st, body := post(tenant, "app", "pw"); st != 200 {
		t.Fatalf("another tenant of the app: %d %v", st, body)
	}
	if st, body := post(other, "app2", "pw2"); st != 200 {
		t.Fatalf("another app in the tenant: %d %v", st, body)
	}
	s.SetConsent(other, "app", true)
	if st, body := post(other, "app", "pw"); st != 200 {
		t.Fatalf("consent restored: %d %v", st, body)
	}
	if got := s.Stats().Refusals; strings.Join(got, " ") != "AADSTS90002 AADSTS7000229 AADSTS7000229" {
		t.Fatalf("refusals %v", got)
	}
}

func TestTenantsValidation(t *testing.T) {
	if _, err := entrasim.New(entrasim.Config{Tenants: []string{"a", "b/c", ""}}); err == nil ||
		!strings.Contains(err.Error(), "Tenants[1]") || !strings.Contains(err.Error(), "Tenants[2]") {
		t.Fatalf("error %v", err)
	}
	s, err := entrasim.New(entrasim.Config{Tenants: []string{"only"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Tenants(); len(got) != 1 || got[0] != "only" {
		t.Fatalf("tenants %v", got)
	}
	if err := s.AddTenant("x/y"); err == nil {
		t.Fatal("AddTenant accepted a tenant id with a slash")
	}
}
