package fetch_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

// hostileToken is the bearer token the hostile tests send; it must never
// reach any host but the configured one, nor any error text.
const hostileToken = "hostile-secret-token-0123456789"

var (
	h0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	h1 = h0.Add(time.Hour)
)

// hostileClient is a fetch client for base with quick retries.
func hostileClient(t *testing.T, base string, mod ...func(*fetch.Config)) *fetch.Client {
	t.Helper()
	cfg := fetch.Config{
		BaseURL:     base,
		Tokens:      fetch.StaticToken(hostileToken),
		MaxAttempts: 2,
		Sleep:       func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readAll runs one Calls and returns the rows delivered and the error.
func readAll(ctx context.Context, c *fetch.Client) (rows []string, st fetch.Stats, err error) {
	st, err = c.Calls(ctx, fetch.DirectRoutingCalls, h0, h1, func(p fetch.Page) error {
		for _, r := range p.Rows {
			rows = append(rows, string(r))
		}
		return nil
	})
	return rows, st, err
}

// TestRedirectIsNeverFollowed guards DESIGN.md invariant 4, "the bearer
// token is sent only to the configured Graph host", and invariant 2,
// "nothing is dropped silently": a 3xx to the same host on another port,
// from https to http, or to a foreign host is a permanent *RedirectError
// naming the location (its secrets redacted), the target receives no
// request at all, and no page is delivered.
func TestRedirectIsNeverFollowed(t *testing.T) {
	target := &graphsim.Hostile{Behaviour: graphsim.HostileEmpty}
	other := httptest.NewServer(target) // 127.0.0.1, another port
	defer other.Close()
	otherURL, _ := url.Parse(other.URL)
	foreign := "http://localhost:" + otherURL.Port() // another host name, same listener

	tls := httptest.NewTLSServer(&graphsim.Hostile{Behaviour: graphsim.HostileRedirect, Location: other.URL + "/v1.0/x?sig=s3cret"})
	defer tls.Close()

	for _, tc := range []struct {
		name     string
		base     string
		client   *http.Client
		location string
	}{
		{"same host other port", "", nil, other.URL + "/v1.0/communications?sig=s3cret"},
		{"foreign host", "", nil, foreign + "/v1.0/x"},
		{"userinfo in location", "", nil, "http://user:pa55word@" + otherURL.Host + "/x"},
		{"https to http", tls.URL, tls.Client(), ""},
		{"caller's client", "", &http.Client{}, other.URL + "/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base
			if base == "" {
				srv := httptest.NewServer(&graphsim.Hostile{Behaviour: graphsim.HostileRedirect, Location: tc.location})
				defer srv.Close()
				base = srv.URL
			}
			before := len(target.Requests())
			c := hostileClient(t, base, func(c *fetch.Config) { c.HTTPClient = tc.client })
			rows, st, err := readAll(context.Background(), c)
			var re *fetch.RedirectError
			if !errors.As(err, &re) || re.StatusCode != http.StatusFound {
				t.Fatalf("err %v, want a *RedirectError 302", err)
			}
			if !fetch.IsPermanent(err) || fetch.IsRetryable(err) {
				t.Fatalf("redirect error is not permanent: %v", err)
			}
			if st.Requests != 1 || len(rows) != 0 || st.Pages != 0 {
				t.Fatalf("%d requests, %d pages, %d rows; want 1, 0, 0", st.Requests, st.Pages, len(rows))
			}
			if got := target.Requests()[before:]; len(got) != 0 {
				t.Fatalf("redirect target received %d requests: %+v", len(got), got)
			}
			for _, secret := range []string{"s3cret", "pa55word", hostileToken} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks %q: %v", secret, err)
				}
			}
			if !strings.Contains(err.Error(), otherURL.Port()) {
				t.Fatalf("error does not name the location: %v", err)
			}
			if tc.client != nil && tc.client.CheckRedirect != nil {
				t.Fatal("the caller's HTTP client was changed")
			}
		})
	}
}

// TestPageCap guards DESIGN.md invariant 9, "every input is bounded": a
// plain body or a gzip bomb larger than MaxPageBytes, or a Content-Length
// above it, fails permanently with an error naming GRAPH_MAX_PAGE_BYTES,
// after reading about the cap and no more, with the heap kept near it.
func TestPageCap(t *testing.T) {
	const limit = 1 << 20
	for _, tc := range []struct {
		name string
		h    *graphsim.Hostile
	}{
		{"plain", &graphsim.Hostile{Behaviour: graphsim.HostileHugeBody, Size: 256 << 20}},
		{"declared length", &graphsim.Hostile{Behaviour: graphsim.HostileHugeBody, Size: 256 << 20, DeclareLength: true}},
		{"gzip bomb", &graphsim.Hostile{Behaviour: graphsim.HostileGzipBomb, Size: 512 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			c := hostileClient(t, srv.URL, func(c *fetch.Config) { c.MaxPageBytes = limit })
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, st, err := readAll(context.Background(), c)
			runtime.ReadMemStats(&after)
			var pe *fetch.PageTooLargeError
			if !errors.As(err, &pe) || pe.Limit != limit || !strings.Contains(err.Error(), "GRAPH_MAX_PAGE_BYTES") {
				t.Fatalf("err %v, want a *PageTooLargeError naming GRAPH_MAX_PAGE_BYTES", err)
			}
			if !fetch.IsPermanent(err) || st.Requests != 1 {
				t.Fatalf("%d requests, permanent %v; want 1 request, permanent", st.Requests, fetch.IsPermanent(err))
			}
			// Everything allocated while reading, garbage included, is far
			// below the body's size: it was never read whole.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16*limit {
				t.Fatalf("reading allocated %d bytes for a cap of %d", grew, limit)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}
}

// TestPageUnderCapIsRead is the other side of the cap: a page of exactly
// MaxPageBytes, gzip or not, is read.
func TestPageUnderCapIsRead(t *testing.T) {
	for _, b := range []graphsim.Behaviour{graphsim.HostileHugeBody, graphsim.HostileGzipBomb} {
		srv := httptest.NewServer(&graphsim.Hostile{Behaviour: b, Size: 1 << 20})
		c := hostileClient(t, srv.URL, func(c *fetch.Config) { c.MaxPageBytes = 1 << 20 })
		rows, _, err := readAll(context.Background(), c)
		srv.Close()
		if err != nil || len(rows) != 1 {
			t.Fatalf("behaviour %d: %d rows, err %v", b, len(rows), err)
		}
	}
}

// TestSelfNextLinkEnds guards DESIGN.md invariant 9, "every input is
// bounded": a nextLink pointing to itself is ErrRepeatedLink after one
// request (the repeat is caught before it is sent), and a chain of ever-new links is ErrTooManyPages at MaxPages,
// naming GRAPH_MAX_PAGES_PER_WINDOW and WINDOW; both are permanent.
func TestSelfNextLinkEnds(t *testing.T) {
	self := &graphsim.Hostile{Behaviour: graphsim.HostileSelfLink}
	srv := httptest.NewServer(self)
	defer srv.Close()
	_, st, err := readAll(context.Background(), hostileClient(t, srv.URL))
	if !errors.Is(err, fetch.ErrRepeatedLink) || !fetch.IsPermanent(err) || st.Requests != 1 {
		t.Fatalf("self link: %d requests, err %v; want 1, ErrRepeatedLink", st.Requests, err)
	}

	fresh := &graphsim.Hostile{Behaviour: graphsim.HostileSelfLink, NewLinks: true}
	srv2 := httptest.NewServer(fresh)
	defer srv2.Close()
	_, st, err = readAll(context.Background(), hostileClient(t, srv2.URL, func(c *fetch.Config) { c.MaxPages = 50 }))
	if !errors.Is(err, fetch.ErrTooManyPages) || !fetch.IsPermanent(err) || st.Requests != 50 || len(fresh.Requests()) != 50 {
		t.Fatalf("new links: %d requests, err %v; want 50, ErrTooManyPages", st.Requests, err)
	}
	for _, want := range []string{"GRAPH_MAX_PAGES_PER_WINDOW", "WINDOW", "2026-01-02T03:00:00Z"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error does not name %s: %v", want, err)
		}
	}
}

// TestDeepRowIsABadRowNotABadPage guards DESIGN.md invariant 2, "nothing
// is dropped silently", and invariant 9: a row nested beyond the JSON
// depth limit is delivered whole without a scan, beside the page's other
// rows, for the schema layer to reject, instead of the page failing on
// every try.
func TestDeepRowIsABadRowNotABadPage(t *testing.T) {
	h := &graphsim.Hostile{Behaviour: graphsim.HostileDeepRow, Rows: []json.RawMessage{
		json.RawMessage(`{"id":"a"}`), json.RawMessage(`{"id":"b"}`),
	}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := hostileClient(t, srv.URL)
	var rows []string
	var scans []bool
	st, err := c.Calls(context.Background(), fetch.DirectRoutingCalls, h0, h1, func(p fetch.Page) error {
		for i, r := range p.Rows {
			rows = append(rows, string(r))
			scans = append(scans, p.Scans[i] != nil)
		}
		return nil
	})
	if err != nil || st.Requests != 1 || len(rows) != 3 {
		t.Fatalf("%d rows in %d requests, err %v; want 3 in 1", len(rows), st.Requests, err)
	}
	if rows[0] != `{"id":"a"}` || rows[2] != `{"id":"b"}` || !scans[0] || !scans[2] {
		t.Fatalf("good rows %s %s (scanned %v %v)", rows[0], rows[2], scans[0], scans[2])
	}
	if !strings.HasPrefix(rows[1], `{"a":{"a":`) || len(rows[1]) != 10001*len(`{"a":}`)+1 || scans[1] {
		t.Fatalf("deep row: %d bytes, scanned %v", len(rows[1]), scans[1])
	}
	if json.Valid([]byte(rows[1])) {
		t.Fatal("the deep row is within encoding/json's limit; the test proves nothing")
	}
}

// TestEchoedTokenIsRedacted guards DESIGN.md invariant 4, "the bearer
// token is sent only to the configured Graph host" (and so never printed):
// a Graph error body echoing the Authorization header comes back with the
// token redacted, for retried and permanent statuses alike.
func TestEchoedTokenIsRedacted(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusForbidden, http.StatusBadRequest} {
		srv := httptest.NewServer(&graphsim.Hostile{Behaviour: graphsim.HostileError, Status: status})
		_, _, err := readAll(context.Background(), hostileClient(t, srv.URL))
		srv.Close()
		var ge *fetch.Error
		if !errors.As(err, &ge) || ge.StatusCode != status {
			t.Fatalf("err %v, want a *fetch.Error %d", err, status)
		}
		if strings.Contains(err.Error(), hostileToken) || strings.Contains(ge.Message, hostileToken) {
			t.Fatalf("token in error: %v", err)
		}
		if !strings.Contains(ge.Message, "[REDACTED]") {
			t.Fatalf("message %q: the echo is gone, not redacted", ge.Message)
		}
	}
}

// TestBaseURLWithUserinfoIsRefused guards DESIGN.md invariant 4: a
// BaseURL with a user name or password is refused, and the error does not
// repeat the password.
func TestBaseURLWithUserinfoIsRefused(t *testing.T) {
	_, err := fetch.New(fetch.Config{BaseURL: "https://user:pa55word@graph.example", Tokens: fetch.StaticToken("t")})
	if err == nil || strings.Contains(err.Error(), "pa55word") || !strings.Contains(err.Error(), "user name or password") {
		t.Fatalf("err %v", err)
	}
}

// TestNextLinkWithUserinfoIsRefused: a nextLink on the configured host but
// carrying a password is not followed, and the password is not printed.
func TestNextLinkWithUserinfoIsRefused(t *testing.T) {
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := url.Parse(srvURL)
		link, _ := json.Marshal("http://u:pa55word@" + u.Host + "/next")
		_, _ = w.Write([]byte(`{"value":[],"@odata.nextLink":` + string(link) + `}`))
	}))
	defer srv.Close()
	srvURL = srv.URL
	_, _, err := readAll(context.Background(), hostileClient(t, srv.URL))
	if !errors.Is(err, fetch.ErrBadLink) || !fetch.IsPermanent(err) || strings.Contains(err.Error(), "pa55word") {
		t.Fatalf("err %v", err)
	}
}
