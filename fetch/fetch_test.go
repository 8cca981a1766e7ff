package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sleeps records the waits a Client asked for instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newClient(t *testing.T, base string, mod ...func(*Config)) (*Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	cfg := Config{BaseURL: base, Tokens: StaticToken("tok"), Sleep: sl.sleep, MaxAttempts: 4}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

func page(rows []string, next string) string {
	b, _ := json.Marshal(next)
	s := `{"@odata.context":"x","@odata.count":` + fmt.Sprint(len(rows)) + `,"value":[` + strings.Join(rows, ",") + `]`
	if next != "" {
		s += `,"@odata.nextLink":` + string(b)
	}
	return s + "}"
}

var (
	t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
)

func collect(t *testing.T, c *Client) ([]string, Stats, error) {
	t.Helper()
	var got []string
	st, err := c.Calls(context.Background(), DirectRoutingCalls, t0, t1, func(p Page) error {
		for _, r := range p.Rows {
			got = append(got, string(r))
		}
		return nil
	})
	return got, st, err
}

func TestURLIsUTCWithoutOffset(t *testing.T) {
	c, _ := newClient(t, "https://graph.microsoft.com/")
	from := time.Date(2026, 3, 1, 2, 0, 0, 0, time.FixedZone("CET", 3600))
	got := c.URL(DirectRoutingCalls, from, from.Add(90*time.Minute+500*time.Millisecond))
	want := "https://graph.microsoft.com/v1.0/communications/callRecords/getDirectRoutingCalls(fromDateTime=2026-03-01T01:00:00Z,toDateTime=2026-03-01T02:30:00.5Z)"
	if got != want {
		t.Fatalf("URL:\n got %s\nwant %s", got, want)
	}
}

func TestFollowsNextLinkVerbatim(t *testing.T) {
	var paths []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("authorization header %q", r.Header.Get("Authorization"))
		}
		paths = append(paths, r.URL.RequestURI())
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			fmt.Fprint(w, page([]string{`{"id":"a"}`, `{"id":"b"}`}, srv.URL+r.URL.Path+"?$skiptoken=opaque%2F1"))
		case "opaque/1":
			fmt.Fprint(w, page([]string{`{"id":"c"}`}, srv.URL+r.URL.Path+"?$skiptoken=opaque%2F2"))
		default:
			fmt.Fprint(w, page(nil, ""))
		}
	}))
	t.Cleanup(srv.Close)
	c, _ := newClient(t, srv.URL)
	got, st, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"c"}`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	if st.Pages != 3 || st.Rows != 3 || st.Requests != 3 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(paths[1], "$skiptoken=opaque%2F1") {
		t.Fatalf("second request %q did not use the nextLink verbatim", paths[1])
	}
}

func TestRetries(t *testing.T) {
	httpDate := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		status     int
		retryAfter string
		wantMin    time.Duration
		wantMax    time.Duration
		throttled  int
	}{
		{"429 seconds", 429, "7", 7 * time.Second, 7 * time.Second, 1},
		{"429 http date", 429, httpDate, 1 * time.Second, 3 * time.Second, 1},
		{"503 seconds", 503, "2", 2 * time.Second, 2 * time.Second, 0},
		{"504 no header backs off", 504, "", DefaultBaseBackoff, DefaultBaseBackoff, 0},
		{"500 backs off", 500, "", DefaultBaseBackoff, DefaultBaseBackoff, 0},
		{"429 without header backs off", 429, "", DefaultBaseBackoff, DefaultBaseBackoff, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.WriteHeader(tc.status)
					fmt.Fprint(w, `{"error":{"code":"TooManyRequests","message":"slow down"}}`)
					return
				}
				fmt.Fprint(w, page([]string{`{"id":"a"}`}, ""))
			}))
			t.Cleanup(srv.Close)
			c, sl := newClient(t, srv.URL)
			got, st, err := collect(t, c)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || st.Retries != 1 || st.Requests != 2 || st.Throttled != tc.throttled {
				t.Fatalf("rows %v stats %+v", got, st)
			}
			if len(sl.d) != 1 || sl.d[0] < tc.wantMin || sl.d[0] > tc.wantMax {
				t.Fatalf("waited %v, want within [%s, %s]", sl.d, tc.wantMin, tc.wantMax)
			}
		})
	}
}

func TestPermanentErrorsCarryGraphError(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 406} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				w.Header().Set("request-id", "rid-1")
				w.WriteHeader(status)
				fmt.Fprint(w, `{"error":{"code":"Forbidden","message":"Missing role CallRecords.Read.All"}}`)
			}))
			t.Cleanup(srv.Close)
			c, sl := newClient(t, srv.URL)
			_, _, err := collect(t, c)
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %v is not a *fetch.Error", err)
			}
			if ge.StatusCode != status || ge.Code != "Forbidden" || ge.Message != "Missing role CallRecords.Read.All" || ge.RequestID != "rid-1" {
				t.Fatalf("error %+v", ge)
			}
			if IsRetryable(err) || n.Load() != 1 || len(sl.d) != 0 {
				t.Fatalf("a %d was retried: requests %d, sleeps %v", status, n.Load(), sl.d)
			}
		})
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(403)
		fmt.Fprint(w, "<html><body>Access denied by proxy</body></html>")
	}))
	t.Cleanup(srv.Close)
	c, _ := newClient(t, srv.URL)
	_, _, err := collect(t, c)
	if err == nil || !strings.Contains(err.Error(), "non-JSON error body (text/html") {
		t.Fatalf("error %v", err)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(500)
	}))
	t.Cleanup(srv.Close)
	c, _ := newClient(t, srv.URL)
	_, _, err := collect(t, c)
	if err == nil || !IsRetryable(err) || n.Load() != 4 {
		t.Fatalf("err %v after %d requests, want a retryable error after 4", err, n.Load())
	}
}

func TestThrottleStormIsRiddenOut(t *testing.T) {
	// More 429s than MaxAttempts: with Retry-After they do not use up the
	// attempts meant for failures.
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 20 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		fmt.Fprint(w, page([]string{`{"id":"a"}`}, ""))
	}))
	t.Cleanup(srv.Close)
	c, sl := newClient(t, srv.URL)
	got, st, err := collect(t, c)
	if err != nil || len(got) != 1 {
		t.Fatalf("rows %v err %v", got, err)
	}
	if st.Throttled != 20 || st.ThrottleWait != 20*time.Second || len(sl.d) != 20 {
		t.Fatalf("stats %+v, sleeps %d", st, len(sl.d))
	}
}

func TestThrottleWaitIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(429)
	}))
	t.Cleanup(srv.Close)
	c, _ := newClient(t, srv.URL, func(c *Config) { c.MaxThrottleWait = 5 * time.Minute })
	_, st, err := collect(t, c)
	if err == nil || !strings.Contains(err.Error(), "throttled for more than 5m0s") {
		t.Fatalf("err %v", err)
	}
	if st.Throttled != 6 {
		t.Fatalf("throttled %d times, want 6", st.Throttled)
	}
}

func TestForeignNextLinkIsRefused(t *testing.T) {
	var foreignHits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
	}))
	t.Cleanup(foreign.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, page([]string{`{"id":"a"}`}, foreign.URL+r.URL.Path+"?$skip=1"))
	}))
	t.Cleanup(srv.Close)
	c, _ := newClient(t, srv.URL)
	got, _, err := collect(t, c)
	if !errors.Is(err, ErrForeignHost) {
		t.Fatalf("err %v, want ErrForeignHost", err)
	}
	if IsRetryable(err) {
		t.Fatal("a foreign nextLink must not be retried")
	}
	if foreignHits.Load() != 0 {
		t.Fatalf("the foreign host received %d requests", foreignHits.Load())
	}
	if len(got) != 1 {
		t.Fatalf("rows %v: the first page should have been delivered", got)
	}
}

func TestTruncatedBodyIsRetriedAndPageDeliveredOnce(t *testing.T) {
	full := page([]string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"c"}`}, "")
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", fmt.Sprint(len(full)))
			w.WriteHeader(200)
			fmt.Fprint(w, full[:len(full)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		fmt.Fprint(w, full)
	}))
	t.Cleanup(srv.Close)
	srv.Config.ErrorLog = nil
	c, _ := newClient(t, srv.URL)
	got, st, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || st.Retries != 1 {
		t.Fatalf("rows %v stats %+v: want 3 rows once after one retry", got, st)
	}
}

func TestMalformedPages(t *testing.T) {
	cases := map[string]string{
		"no value":        `{"@odata.count":0}`,
		"value not array": `{"value":{}}`,
		"trailing data":   `{"value":[]} {"value":[]}`,
		"html":            `<html>proxy error</html>`,
		"cut":             `{"value":[{"id":"a"},`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, body)
			}))
			t.Cleanup(srv.Close)
			c, _ := newClient(t, srv.URL)
			got, _, err := collect(t, c)
			if err == nil || len(got) != 0 {
				t.Fatalf("rows %v err %v: want an error and no rows", got, err)
			}
		})
	}
}

func TestContextCancelStopsRetrying(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(429)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, Tokens: StaticToken("tok")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Calls(ctx, DirectRoutingCalls, t0, t1, func(Page) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("cancellation did not interrupt the Retry-After wait")
	}
}

func TestTokenErrorIsPermanent(t *testing.T) {
	c, err := New(Config{BaseURL: "http://127.0.0.1:1", Tokens: failingTokens{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Calls(context.Background(), DirectRoutingCalls, t0, t1, func(Page) error { return nil })
	var te *TokenError
	if !errors.As(err, &te) || IsRetryable(err) {
		t.Fatalf("err %v", err)
	}
}

type failingTokens struct{}

func (failingTokens) Token(context.Context) (string, error) { return "", errors.New("no credential") }

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{" 12 ", 12 * time.Second, true},
		{"-1", 0, false},
		{"Thu, 01 Jan 2026 00:00:30 GMT", 30 * time.Second, true},
		{"Wed, 31 Dec 2025 23:00:00 GMT", 0, true},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tc := range cases {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLookupCloud(t *testing.T) {
	cases := []struct{ name, graph, scope, authority string }{
		{"global", "https://graph.microsoft.com", "https://graph.microsoft.com/.default", "https://login.microsoftonline.com/"},
		{"usgov", "https://graph.microsoft.us", "https://graph.microsoft.us/.default", "https://login.microsoftonline.us/"},
		{"dod", "https://dod-graph.microsoft.us", "https://dod-graph.microsoft.us/.default", "https://login.microsoftonline.us/"},
	}
	for _, tc := range cases {
		c, err := LookupCloud(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if c.GraphURL != tc.graph || c.Scope() != tc.scope || c.Authority.ActiveDirectoryAuthorityHost != tc.authority {
			t.Errorf("%s: %+v scope %s", tc.name, c, c.Scope())
		}
	}
	if _, err := LookupCloud("china"); err == nil || !strings.Contains(err.Error(), "does not offer") {
		t.Errorf("china: %v", err)
	}
	if _, err := LookupCloud("mars"); err == nil || !strings.Contains(err.Error(), "dod, global, usgov") {
		t.Errorf("mars: %v", err)
	}
}
