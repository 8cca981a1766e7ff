package fetch_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/callstream/callstream/entrasim"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

// cloudRig is simulated Entra and Graph at a national cloud's real
// hostnames, on an in-memory network, so it works inside a synctest bubble
// (whose clock then drives token lifetimes, Graph's clock and the budget).
type cloudRig struct {
	net   *graphsim.Network
	cloud fetch.Cloud
	sim   *graphsim.Server
	entra *entrasim.Server
}

// simStart is where synctest's fake clock starts; the data set ends there,
// so every row is visible.
var simStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func hostOf(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// newCloudRig serves Entra at cl's authority host and Graph at cl's Graph
// host. sc and ec are completed with the parts the rig owns.
func newCloudRig(t testing.TB, cl fetch.Cloud, sc graphsim.Config, ec entrasim.Config) *cloudRig {
	t.Helper()
	r := &cloudRig{net: graphsim.NewNetwork(), cloud: cl}
	if sc.Start.IsZero() {
		sc.Start, sc.End = simStart.Add(-24*time.Hour), simStart
	}
	if sc.RowsPerHour == 0 {
		sc.RowsPerHour = 60
	}
	sc.Token = "static-token-not-used-here"
	sc.Audience = cl.GraphURL
	var err error
	if r.sim, err = graphsim.New(sc); err != nil {
		t.Fatal(err)
	}
	ec.TenantID = tenantID
	if ec.Apps == nil {
		ec.Apps = []entrasim.App{{ClientID: appID, Secret: appSecret}}
	}
	if ec.OnIssue == nil {
		ec.OnIssue = acceptInto(r.sim)
	}
	if r.entra, err = entrasim.New(ec); err != nil {
		t.Fatal(err)
	}
	r.net.Handle(hostOf(t, cl.Authority.ActiveDirectoryAuthorityHost), r.entra)
	r.net.Handle(hostOf(t, cl.GraphURL), r.sim)
	return r
}

// client returns a Client with a secret credential; mod adjusts its Config.
func (r *cloudRig) client(t testing.TB, mod ...func(*fetch.Config)) *fetch.Client {
	t.Helper()
	ts, err := fetch.NewTokenSource(fetch.Credentials{
		Mode: fetch.AuthSecret, TenantID: tenantID, ClientID: appID, ClientSecret: appSecret, Transport: r.net,
	}, r.cloud, r.cloud.Scope())
	if err != nil {
		t.Fatal(err)
	}
	cfg := fetch.Config{BaseURL: r.cloud.GraphURL, Tokens: ts, HTTPClient: r.net.Client(), MaxAttempts: 3}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readHour reads the hour starting at from and returns the row count.
func readHour(ctx context.Context, c *fetch.Client, from time.Time) (int, fetch.Stats, error) {
	n := 0
	st, err := c.Calls(ctx, fetch.DirectRoutingCalls, from, from.Add(time.Hour), func(p fetch.Page) error {
		n += len(p.Rows)
		return nil
	})
	return n, st, err
}

// TestCloudTriples runs each cloud end to end at its real hostnames: the
// credential must go to the cloud's authority and ask for the cloud's Graph
// scope, and the request must go to the cloud's Graph host, or the
// simulated Graph refuses the token's audience. No other cloud's hosts see
// a request.
func TestCloudTriples(t *testing.T) {
	allHosts := []string{
		"login.microsoftonline.com", "graph.microsoft.com", "login.microsoftonline.us", "graph.microsoft.us",
		"dod-graph.microsoft.us", "login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn",
	}
	cases := []struct{ name, authority, graph, scope string }{
		{"global", "login.microsoftonline.com", "graph.microsoft.com", "https://graph.microsoft.com/.default"},
		{"usgov", "login.microsoftonline.us", "graph.microsoft.us", "https://graph.microsoft.us/.default"},
		{"dod", "login.microsoftonline.us", "dod-graph.microsoft.us", "https://dod-graph.microsoft.us/.default"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := fetch.LookupCloud(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if hostOf(t, cl.Authority.ActiveDirectoryAuthorityHost) != tc.authority || hostOf(t, cl.GraphURL) != tc.graph || cl.Scope() != tc.scope {
				t.Fatalf("cloud %s is %s / %s / %s", tc.name, cl.Authority.ActiveDirectoryAuthorityHost, cl.GraphURL, cl.Scope())
			}
			r := newCloudRig(t, cl, graphsim.Config{}, entrasim.Config{})
			n, _, err := readHour(context.Background(), r.client(t), simStart.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if want := r.sim.Count(simStart.Add(-time.Hour), simStart); n != want {
				t.Fatalf("%d rows, want %d", n, want)
			}
			issued := r.entra.Issued()
			if len(issued) != 1 || issued[0].Audience+"/.default" != tc.scope {
				t.Fatalf("issued %+v, want one token for %s", issued, tc.scope)
			}
			for _, h := range allHosts {
				if h != tc.authority && h != tc.graph && r.net.Requests(h) != 0 {
					t.Errorf("%s received %d requests", h, r.net.Requests(h))
				}
			}
			if r.net.Requests(tc.authority) == 0 || r.net.Requests(tc.graph) == 0 {
				t.Errorf("authority %d requests, graph %d", r.net.Requests(tc.authority), r.net.Requests(tc.graph))
			}
		})
	}

	t.Run("mismatched scope is refused with a clear error", func(t *testing.T) {
		usgov := fetch.Clouds["usgov"]
		r := newCloudRig(t, usgov, graphsim.Config{}, entrasim.Config{})
		ts, err := fetch.NewTokenSource(fetch.Credentials{Mode: fetch.AuthSecret, TenantID: tenantID, ClientID: appID, ClientSecret: appSecret, Transport: r.net},
			usgov, fetch.Clouds["global"].Scope())
		if err != nil {
			t.Fatal(err)
		}
		c, err := fetch.New(fetch.Config{BaseURL: usgov.GraphURL, Tokens: ts, HTTPClient: r.net.Client()})
		if err != nil {
			t.Fatal(err)
		}
		_, st, err := readHour(context.Background(), c, simStart.Add(-time.Hour))
		var ge *fetch.Error
		if !errors.As(err, &ge) || ge.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), "freshly issued token") {
			t.Fatalf("err %v", err)
		}
		if st.Requests != 2 || st.TokenRefreshes != 1 {
			t.Fatalf("stats %+v: want one retry with one fresh token", st)
		}
	})
}

// TestManagedIdentityInNationalCloud checks that a managed identity, which
// ignores the authority, still asks for the national Graph's scope.
func TestManagedIdentityInNationalCloud(t *testing.T) {
	usgov := fetch.Clouds["usgov"]
	r := newCloudRig(t, usgov, graphsim.Config{}, entrasim.Config{Managed: entrasim.ManagedIdentity{Header: miHeader, SystemClientID: miSystem}})
	r.net.Handle("localhost:42356", r.entra)
	t.Setenv("IDENTITY_ENDPOINT", "http://localhost:42356"+entrasim.ManagedIdentityPath)
	t.Setenv("IDENTITY_HEADER", miHeader)
	ts, err := fetch.NewTokenSource(fetch.Credentials{Mode: fetch.AuthManaged, Transport: r.net}, usgov, usgov.Scope())
	if err != nil {
		t.Fatal(err)
	}
	c, err := fetch.New(fetch.Config{BaseURL: usgov.GraphURL, Tokens: ts, HTTPClient: r.net.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := readHour(context.Background(), c, simStart.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	issued := r.entra.Issued()
	if len(issued) != 1 || issued[0].Grant != entrasim.GrantManaged || issued[0].Audience != "https://graph.microsoft.us" {
		t.Fatalf("issued %+v", issued)
	}
	if n := r.net.Requests("login.microsoftonline.us"); n != 0 {
		t.Fatalf("a managed identity called the authority %d times", n)
	}
}

// TestTokensRenewedBeforeExpiry reads every minute for three hours of fake
// time with hour-long tokens: azidentity must fetch each new token before
// the old one expires, so Graph never answers 401.
func TestTokensRenewedBeforeExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{Lifetime: time.Hour})
		c := r.client(t)
		ctx := context.Background()
		reads := 0
		for end := time.Now().Add(3 * time.Hour); time.Now().Before(end); time.Sleep(time.Minute) {
			if _, _, err := readHour(ctx, c, simStart.Add(-time.Hour)); err != nil {
				t.Fatalf("read at %s: %v", time.Now().Format(time.TimeOnly), err)
			}
			reads++
		}
		issued := r.entra.Issued()
		if len(issued) < 3 {
			t.Fatalf("%d tokens for three hours of one-hour tokens", len(issued))
		}
		for i := 1; i < len(issued); i++ {
			prev, next := issued[i-1], issued[i]
			if !next.IssuedAt.Before(prev.ExpiresAt) {
				t.Errorf("token %d issued at %s, after token %d expired at %s", i, next.IssuedAt, i-1, prev.ExpiresAt)
			}
			if next.Claims != "" {
				t.Errorf("token %d was forced (claims %s), not renewed", i, next.Claims)
			}
		}
		if n := r.sim.Stats().ByStatus[http.StatusUnauthorized]; n != 0 {
			t.Fatalf("graph answered 401 %d times", n)
		}
		t.Logf("%d reads over 3h used %d tokens, each renewed %s before expiry",
			reads, len(issued), issued[0].ExpiresAt.Sub(issued[1].IssuedAt))
	})
}

// TestRevokedTokenGetsOneFreshToken revokes tokens mid-walk: Graph answers
// 401 with a claims challenge, the client passes the challenge to Entra
// (bypassing the credential's cache), retries once and carries on.
func TestRevokedTokenGetsOneFreshToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{PageSize: 10}, entrasim.Config{})
		c := r.client(t)
		time.Sleep(time.Second) // the first token is issued before the revocation
		from := simStart.Add(-time.Hour)
		pages, rows := 0, 0
		var revokedAt time.Time
		st, err := c.Calls(context.Background(), fetch.DirectRoutingCalls, from, from.Add(time.Hour), func(p fetch.Page) error {
			pages++
			rows += len(p.Rows)
			if pages == 1 {
				time.Sleep(time.Second)
				revokedAt = time.Now()
				r.sim.RevokeTokens()
				time.Sleep(5 * time.Second) // so the challenge's time differs from now
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := r.sim.Count(from, from.Add(time.Hour)); rows != want {
			t.Fatalf("%d rows, want %d", rows, want)
		}
		if st.TokenRefreshes != 1 || r.sim.Stats().ByStatus[http.StatusUnauthorized] != 1 {
			t.Fatalf("stats %+v, graph %v: want one 401 and one refresh", st, r.sim.Stats().ByStatus)
		}
		issued := r.entra.Issued()
		challenge := `{"access_token":{"nbf":{"essential":true,"value":"` + strconv.FormatInt(revokedAt.Unix(), 10) + `"}}}`
		if len(issued) != 2 || issued[1].Claims != challenge {
			t.Fatalf("issued %+v: want a second token requested with the challenge's claims %s", issued, challenge)
		}
		// Later requests use the fresh token from the credential's cache.
		if _, st, err := readHour(context.Background(), c, from); err != nil || st.TokenRefreshes != 0 {
			t.Fatalf("after the refresh: %+v %v", st, err)
		}
		if n := len(r.entra.Issued()); n != 2 {
			t.Fatalf("%d tokens issued, want 2", n)
		}
	})
}

// TestGraphSideExpiryWithoutChallenge has Graph consider tokens expired
// after ten minutes although Entra said an hour (clock skew, or a
// shortened lifetime policy): each 401 brings exactly one forced token.
func TestGraphSideExpiryWithoutChallenge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sim *graphsim.Server
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{
			OnIssue: func(tok entrasim.Token) {
				sim.AcceptToken(tok.Value, graphsim.TokenInfo{App: tok.ClientID, Audience: tok.Audience, IssuedAt: tok.IssuedAt, ExpiresAt: tok.IssuedAt.Add(10 * time.Minute)})
			},
		})
		sim = r.sim
		c := r.client(t)
		refreshes := 0
		for end := time.Now().Add(45 * time.Minute); time.Now().Before(end); time.Sleep(time.Minute) {
			_, st, err := readHour(context.Background(), c, simStart.Add(-time.Hour))
			if err != nil {
				t.Fatalf("read at %s: %v", time.Now().Format(time.TimeOnly), err)
			}
			refreshes += st.TokenRefreshes
		}
		unauthorized := r.sim.Stats().ByStatus[http.StatusUnauthorized]
		issued := r.entra.Issued()
		if refreshes != 4 || unauthorized != 4 || len(issued) != 5 {
			t.Fatalf("%d refreshes, %d 401s, %d tokens; want 4, 4, 5", refreshes, unauthorized, len(issued))
		}
		for _, tok := range issued[1:] {
			if !strings.Contains(tok.Claims, `"nbf"`) {
				t.Fatalf("a refreshed token was asked for without claims: %+v", tok)
			}
		}
	})
}

// TestSecond401IsAClearError: when even a fresh token is refused, the
// request is not retried further and the error says what to check.
func TestSecond401IsAClearError(t *testing.T) {
	r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{OnIssue: func(entrasim.Token) {}})
	_, st, err := readHour(context.Background(), r.client(t), simStart.Add(-time.Hour))
	var ge *fetch.Error
	if !errors.As(err, &ge) || ge.StatusCode != http.StatusUnauthorized || fetch.IsRetryable(err) {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(err.Error(), "refused a freshly issued token too") || !strings.Contains(err.Error(), "CallRecords.Read.All") {
		t.Fatalf("err %v does not say what to check", err)
	}
	if st.Requests != 2 || r.sim.Stats().Requests != 2 || len(r.entra.Issued()) != 2 {
		t.Fatalf("stats %+v, graph %d requests, %d tokens: want 2, 2, 2", st, r.sim.Stats().Requests, len(r.entra.Issued()))
	}
}

func TestStaticToken401IsAClearError(t *testing.T) {
	r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{})
	c := r.client(t, func(c *fetch.Config) { c.Tokens = fetch.StaticToken("expired-static-token") })
	_, st, err := readHour(context.Background(), c, simStart.Add(-time.Hour))
	if err == nil || !strings.Contains(err.Error(), "static token cannot be refreshed") {
		t.Fatalf("err %v", err)
	}
	if st.Requests != 1 {
		t.Fatalf("%d requests, want 1", st.Requests)
	}
}

// TestConcurrentRefusalsShareOneRefresh: goroutines refused with the same
// token together get one new token between them.
func TestConcurrentRefusalsShareOneRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{})
		c := r.client(t)
		if _, _, err := readHour(context.Background(), c, simStart.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		r.sim.RevokeTokens()
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				_, _, errs[i] = readHour(context.Background(), c, simStart.Add(-time.Duration(i+1)*time.Hour))
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if n := len(r.entra.Issued()); n != 2 {
			t.Fatalf("%d tokens issued, want 2 (the first and one shared refresh)", n)
		}
	})
}
