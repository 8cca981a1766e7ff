package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/entrasim"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

// simServer serves a simulator over a real socket; the fetch.Client sends
// it the simulator's static token and never sleeps.
func simServer(t *testing.T, cfg graphsim.Config) (*graphsim.Server, *httptest.Server, *fetch.Client) {
	t.Helper()
	cfg.Seed, cfg.Start, cfg.End, cfg.Token = 3, day0, day1, "tok"
	if cfg.RowsPerHour == 0 {
		cfg.RowsPerHour = 60
	}
	cfg.Now = farFuture
	sim, err := graphsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := fetch.New(fetch.Config{BaseURL: srv.URL, Tokens: fetch.StaticToken("tok"), MaxAttempts: 3,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return sim, srv, c
}

// TestProxyHTMLErrorPage: a 502 HTML page from a proxy is retried like any
// 5xx, and when it persists the error names what came back.
func TestProxyHTMLErrorPage(t *testing.T) {
	t.Run("transient", func(t *testing.T) {
		sim, _, c := simServer(t, graphsim.Config{Faults: []graphsim.Fault{{Every: 1, Status: http.StatusBadGateway, HTML: true, Limit: 2}}})
		rows, st, err := readDay(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if rows != sim.Count(day0, day1) || st.Retries != 2 {
			t.Fatalf("%d rows, stats %+v", rows, st)
		}
	})
	t.Run("persistent", func(t *testing.T) {
		sim, _, c := simServer(t, graphsim.Config{Faults: []graphsim.Fault{{Every: 1, Status: http.StatusBadGateway, HTML: true}}})
		_, _, err := readDay(context.Background(), c)
		var ge *fetch.Error
		if !errors.As(err, &ge) || ge.StatusCode != http.StatusBadGateway || !fetch.IsRetryable(err) {
			t.Fatalf("err %v, want a retryable 502", err)
		}
		for _, want := range []string{"502 Bad Gateway", "non-JSON error body (text/html", `title "502 Bad Gateway"`, "giving up after 3"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		t.Logf("error: %v", err)
		if n := sim.Stats().Requests; n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
	})
	t.Run("200 with HTML", func(t *testing.T) {
		// A captive portal or login page answering 200.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><head><title>Sign in to the proxy</title></head><body>…</body></html>")
		}))
		t.Cleanup(srv.Close)
		c, err := fetch.New(fetch.Config{BaseURL: srv.URL, Tokens: fetch.StaticToken("tok"), MaxAttempts: 2,
			Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = readDay(context.Background(), c)
		if err == nil || !strings.Contains(err.Error(), `200 with a non-JSON body (text/html`) || !strings.Contains(err.Error(), `title "Sign in to the proxy"`) {
			t.Fatalf("err %v", err)
		}
	})
}

// TestForeignNextLinkEndToEnd: the simulator hands out a nextLink to
// another host; the client refuses it and that host receives nothing,
// over real sockets and at real hostnames.
func TestForeignNextLinkEndToEnd(t *testing.T) {
	t.Run("sockets", func(t *testing.T) {
		var hits atomic.Int32
		foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		t.Cleanup(foreign.Close)
		_, _, c := simServer(t, graphsim.Config{PageSize: 10, ForeignNextLink: foreign.URL})
		rows, _, err := readDay(context.Background(), c)
		if !errors.Is(err, fetch.ErrForeignHost) || fetch.IsRetryable(err) {
			t.Fatalf("err %v, want a permanent ErrForeignHost", err)
		}
		if hits.Load() != 0 {
			t.Fatalf("the foreign host received %d requests", hits.Load())
		}
		if rows != 10 {
			t.Fatalf("%d rows delivered, want the first page's 10", rows)
		}
	})
	t.Run("hostnames", func(t *testing.T) {
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{PageSize: 10, ForeignNextLink: "https://graph.microsoft.com.evil.example"}, entrasim.Config{})
		r.net.Handle("graph.microsoft.com.evil.example", http.NotFoundHandler())
		_, _, err := readHour(context.Background(), r.client(t), simStart.Add(-time.Hour))
		if !errors.Is(err, fetch.ErrForeignHost) {
			t.Fatalf("err %v", err)
		}
		if n := r.net.Requests("graph.microsoft.com.evil.example"); n != 0 {
			t.Fatalf("the foreign host received %d requests", n)
		}
		if n := r.net.Requests("graph.microsoft.com"); n != 1 {
			t.Fatalf("graph received %d requests, want 1", n)
		}
	})
}
