package graphsim_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/callstream/callstream/graphsim"
)

const simHost = "graph.microsoft.com"

// netSim serves a simulator at https://graph.microsoft.com on an in-memory
// network, usable inside a synctest bubble.
func netSim(t *testing.T, cfg graphsim.Config) (*graphsim.Server, *http.Client) {
	t.Helper()
	cfg.Token = token
	if cfg.Start.IsZero() {
		cfg.Start, cfg.End = day0, day0.Add(24*time.Hour)
	}
	if cfg.RowsPerHour == 0 {
		cfg.RowsPerHour = 60
	}
	if cfg.Now == nil {
		cfg.Now = farFuture
	}
	sim, err := graphsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := graphsim.NewNetwork()
	n.Handle(simHost, sim)
	return sim, n.Client()
}

// call requests fn (a function name) with bearer tok and returns the
// status, Retry-After, WWW-Authenticate and body.
func call(t *testing.T, c *http.Client, fn, tok string) (status int, retryAfter, challenge string, body []byte) {
	t.Helper()
	u := "https://" + simHost + "/v1.0/communications/callRecords/" + fn + "(fromDateTime=2019-11-01T00:00:00Z,toDateTime=2019-11-01T01:00:00Z)"
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("WWW-Authenticate"), body
}

const dr = "getDirectRoutingCalls"

func TestLimits_PerFunction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, c := netSim(t, graphsim.Config{Limits: graphsim.Limits{PerFunction: 3}, Now: time.Now})
		for i := range 3 {
			if st, _, _, _ := call(t, c, dr, token); st != http.StatusOK {
				t.Fatalf("request %d: status %d", i+1, st)
			}
		}
		st, ra, _, body := call(t, c, dr, token)
		if st != http.StatusTooManyRequests || ra != "60" {
			t.Fatalf("fourth request: status %d Retry-After %q, want 429 60", st, ra)
		}
		e := decodeErr(t, body)
		if e.Error.Code != graphsim.CodeTooManyRequests || e.Error.InnerError.Code != "activityLimitReached" {
			t.Fatalf("error body %+v", e)
		}
		// The other spelling of the same function shares its limit;
		// another function has its own.
		if st, _, _, _ := call(t, c, "microsoft.graph.callRecords.getDirectRoutingCalls", token); st != http.StatusTooManyRequests {
			t.Fatalf("qualified name: status %d, want 429", st)
		}
		if st, _, _, _ := call(t, c, "getPstnCalls", token); st == http.StatusTooManyRequests {
			t.Fatal("getPstnCalls throttled by getDirectRoutingCalls' limit")
		}
		time.Sleep(60 * time.Second)
		if st, _, _, _ := call(t, c, dr, token); st != http.StatusOK {
			t.Fatalf("after Retry-After: status %d", st)
		}
	})
}

// TestLimits_ThrottledRequestsCount: a retry before Retry-After is counted
// too, and pushes the next acceptance further out.
func TestLimits_ThrottledRequestsCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, c := netSim(t, graphsim.Config{Limits: graphsim.Limits{PerFunction: 2, Window: time.Minute}, Now: time.Now})
		call(t, c, dr, token)
		call(t, c, dr, token)
		time.Sleep(10 * time.Second)
		if st, ra, _, _ := call(t, c, dr, token); st != 429 || ra != "50" {
			t.Fatalf("at 10s: %d Retry-After %q, want 429 50", st, ra)
		}
		time.Sleep(10 * time.Second) // retrying early, at 20 s
		if st, ra, _, _ := call(t, c, dr, token); st != 429 || ra != "50" {
			t.Fatalf("at 20s: %d Retry-After %q, want 429 50 (now until 70 s)", st, ra)
		}
		time.Sleep(40 * time.Second) // 60 s: would have been fine without the early retry
		if st, _, _, _ := call(t, c, dr, token); st != 429 {
			t.Fatalf("at 60s: %d, want 429", st)
		}
	})
}

func TestLimits_PerAppAndPerTenant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, c := netSim(t, graphsim.Config{Limits: graphsim.Limits{PerFunction: 3, PerApp: 4, PerTenant: 6}, Now: time.Now})
		exp := time.Now().Add(time.Hour)
		sim.AcceptToken("tok-a", graphsim.TokenInfo{App: "app-a", ExpiresAt: exp})
		sim.AcceptToken("tok-b", graphsim.TokenInfo{App: "app-b", ExpiresAt: exp})
		steps := []struct {
			fn, tok string
			want    int
		}{
			{dr, "tok-a", 200}, {dr, "tok-a", 200}, {dr, "tok-a", 200},
			{"getPstnCalls", "tok-a", 0}, // fourth of app a: within PerApp
			{"getPstnCalls", "tok-a", 429},
			{dr, "tok-b", 200}, // app b has its own function and app limits…
			{dr, "tok-b", 429}, // …but the tenant has seen 6 requests
		}
		for i, s := range steps {
			st, _, _, _ := call(t, c, s.fn, s.tok)
			if (s.want == 0 && st == 429) || (s.want != 0 && st != s.want) {
				t.Fatalf("step %d (%s, %s): status %d, want %d", i, s.fn, s.tok, st, s.want)
			}
		}
	})
}

func TestLimits_SetLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, c := netSim(t, graphsim.Config{Limits: graphsim.DocumentedLimits, Now: time.Now})
		for range 30 {
			if st, _, _, _ := call(t, c, dr, token); st != 200 {
				t.Fatalf("status %d under the documented limits", st)
			}
		}
		half := graphsim.DocumentedLimits
		half.PerFunction = 25
		sim.SetLimits(half)
		if st, _, _, _ := call(t, c, dr, token); st != 429 {
			t.Fatalf("status %d after halving with 30 requests in the window", st)
		}
		if sim.Stats().ByStatus[429] != 1 {
			t.Fatalf("stats %+v", sim.Stats())
		}
	})
}

func TestTokens_ExpiryAudienceRevocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, c := netSim(t, graphsim.Config{Audience: "https://graph.microsoft.com", Now: time.Now})
		now := time.Now()
		sim.AcceptToken("good", graphsim.TokenInfo{App: "a", Audience: "https://graph.microsoft.com/", IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		sim.AcceptToken("gov", graphsim.TokenInfo{App: "a", Audience: "https://graph.microsoft.us", IssuedAt: now, ExpiresAt: now.Add(time.Hour)})

		if st, _, _, _ := call(t, c, dr, "good"); st != 200 {
			t.Fatalf("good token: %d", st)
		}
		st, _, _, body := call(t, c, dr, "gov")
		if e := decodeErr(t, body); st != 401 || !strings.Contains(e.Error.Message, "Invalid audience") {
			t.Fatalf("another cloud's token: %d %+v", st, e)
		}
		time.Sleep(time.Hour)
		st, _, chal, body := call(t, c, dr, "good")
		if e := decodeErr(t, body); st != 401 || e.Error.Code != graphsim.CodeInvalidToken || !strings.Contains(e.Error.Message, "expired") {
			t.Fatalf("expired token: %d %+v", st, e)
		}
		if strings.Contains(chal, "claims=") {
			t.Fatalf("an expired token got a claims challenge: %s", chal)
		}
		if st, _, _, _ := call(t, c, dr, token); st != 200 {
			t.Fatalf("Config.Token: %d", st)
		}

		later := time.Now()
		sim.AcceptToken("old", graphsim.TokenInfo{App: "a", Audience: "https://graph.microsoft.com", IssuedAt: later, ExpiresAt: later.Add(time.Hour)})
		time.Sleep(time.Minute)
		revokedAt := time.Now()
		sim.RevokeTokens()
		sim.AcceptToken("new", graphsim.TokenInfo{App: "a", Audience: "https://graph.microsoft.com", IssuedAt: revokedAt, ExpiresAt: revokedAt.Add(time.Hour)})
		st, _, chal, _ = call(t, c, dr, "old")
		_, enc, ok := strings.Cut(chal, `claims="`)
		enc, _, _ = strings.Cut(enc, `"`)
		claims, err := base64.StdEncoding.DecodeString(enc)
		if st != 401 || !ok || err != nil || !strings.Contains(chal, `error="insufficient_claims"`) {
			t.Fatalf("revoked token: %d challenge %q", st, chal)
		}
		if want := `"nbf":{"essential":true,"value":"` + strconv.FormatInt(revokedAt.Unix(), 10) + `"}`; !strings.Contains(string(claims), want) {
			t.Fatalf("claims %s do not ask for %s", claims, want)
		}
		if st, _, _, _ := call(t, c, dr, "new"); st != 200 {
			t.Fatalf("token issued at the revocation: %d", st)
		}
	})
}

func TestFault_HTMLProxyPage(t *testing.T) {
	_, c := netSim(t, graphsim.Config{Faults: []graphsim.Fault{{Every: 1, Status: http.StatusBadGateway, HTML: true, RetryAfter: "3"}}})
	req, _ := http.NewRequest(http.MethodGet, "https://"+simHost+"/v1.0/communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-11-02)", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || resp.Header.Get("Content-Type") != graphsim.ProxyContentType || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(string(body), "<title>502 Bad Gateway</title>") {
		t.Fatalf("body %s", body)
	}
}

func TestForeignNextLink(t *testing.T) {
	_, c := netSim(t, graphsim.Config{PageSize: 10, ForeignNextLink: "https://evil.example"})
	status, _, _, body := call(t, c, dr, token)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.NextLink, "https://evil.example/v1.0/communications/callRecords/") || !strings.HasSuffix(p.NextLink, "?$skip=10") {
		t.Fatalf("nextLink %q", p.NextLink)
	}
}

func TestNew_ValidatesAdditions(t *testing.T) {
	_, err := graphsim.New(graphsim.Config{
		Start: day0, End: day0.Add(time.Hour), RowsPerHour: 1, Token: token,
		Limits:          graphsim.Limits{PerFunction: -1},
		ForeignNextLink: "evil.example/path",
		Faults:          []graphsim.Fault{{Every: 1, Truncate: true, HTML: true}},
	})
	for _, want := range []string{"Limits", "ForeignNextLink", "Truncate and HTML"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestNetwork(t *testing.T) {
	sim, err := graphsim.New(graphsim.Config{
		Start: day0, End: day0.Add(time.Hour), RowsPerHour: 60, Token: token, Now: farFuture,
		Faults: []graphsim.Fault{{Every: 1, Truncate: true, Limit: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := graphsim.NewNetwork()
	n.Handle(simHost, sim)
	c := n.Client()

	if _, err := c.Get("https://nowhere.example/"); err == nil || !strings.Contains(err.Error(), "no such host") {
		t.Fatalf("unknown host: %v", err)
	}
	if n.Requests("nowhere.example") != 1 {
		t.Fatalf("requests to an unknown host not counted")
	}
	// A truncating fault cuts the body short as a closed connection does.
	req, _ := http.NewRequest(http.MethodGet, "https://"+simHost+"/v1.0/communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-11-02)", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body read: %v", err)
	}
	// A cancelled request is not served.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req = req.WithContext(ctx)
	if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	if got := sim.Stats().Requests; got != 1 {
		t.Fatalf("simulator saw %d requests, want 1", got)
	}
}

// TestLimits_Scaled: Graph's limits at 12× speed allow 600 requests per
// function in any 60 seconds — a sliding window, not a fixed minute — and
// answer the 601st with 429 and the Retry-After until the oldest request
// leaves the window, as the documented limits do at 50.
func TestLimits_Scaled(t *testing.T) {
	l := graphsim.DocumentedLimits.Scaled(12)
	if l.PerFunction != 600 || l.PerApp != 2400 || l.PerTenant != 12000 || l.Window != time.Minute {
		t.Fatalf("DocumentedLimits.Scaled(12) = %+v", l)
	}
	synctest.Test(t, func(t *testing.T) {
		_, c := netSim(t, graphsim.Config{Limits: l, Now: time.Now})
		// 300 at once, 300 spread over the next 30 s: 600 in the window.
		for range 300 {
			if st, _, _, _ := call(t, c, dr, token); st != http.StatusOK {
				t.Fatalf("status %d within the scaled limit", st)
			}
		}
		for range 300 {
			time.Sleep(100 * time.Millisecond)
			if st, _, _, _ := call(t, c, dr, token); st != http.StatusOK {
				t.Fatalf("status %d within the scaled limit", st)
			}
		}
		// At 30 s: the first 300 leave the window at 60 s.
		if st, ra, _, _ := call(t, c, dr, token); st != http.StatusTooManyRequests || ra != "30" {
			t.Fatalf("601st request in 60 s: %d Retry-After %q, want 429 30", st, ra)
		}
		time.Sleep(30 * time.Second)
		// Sliding: at 60 s the first 300 (and the refused one, counted at
		// 30 s, stays) are out; 299 more fit.
		for i := range 299 {
			if st, _, _, _ := call(t, c, dr, token); st != http.StatusOK {
				t.Fatalf("request %d after the burst left the window: status %d", i+1, st)
			}
		}
		if st, _, _, _ := call(t, c, dr, token); st != http.StatusTooManyRequests {
			t.Fatalf("status %d with 600 requests in the last 60 s", st)
		}
	})
}

// TestRowsPerDay: densities below one call an hour, or between whole
// numbers an hour, as the budget benchmark's tenants of 100 and 2,000
// calls a day.
func TestRowsPerDay(t *testing.T) {
	for _, perDay := range []int{100, 2000} {
		sim, err := graphsim.New(graphsim.Config{Token: token, Start: day0, End: day0.Add(90 * 24 * time.Hour), RowsPerDay: perDay})
		if err != nil {
			t.Fatal(err)
		}
		if got := sim.Len(); got != 90*perDay {
			t.Errorf("%d a day for 90 days: %d rows, want %d", perDay, got, 90*perDay)
		}
		if got := sim.Count(day0.Add(24*time.Hour), day0.Add(48*time.Hour)); got != perDay {
			t.Errorf("%d a day: %d rows on day 2", perDay, got)
		}
	}
	if _, err := graphsim.New(graphsim.Config{Token: token, Start: day0, End: day0.Add(time.Hour), RowsPerDay: 10, RowsPerHour: 10}); err == nil {
		t.Error("both RowsPerDay and RowsPerHour accepted")
	}
}
