package fetch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

// TestObserveSeesEveryRequest walks a faulty simulated Graph and checks
// that the observer heard of every request the simulator answered, by
// status, and of every retry the client made.
func TestObserveSeesEveryRequest(t *testing.T) {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	sim, err := graphsim.New(graphsim.Config{
		Seed: 7, Start: start, End: start.Add(6 * time.Hour), RowsPerHour: 2500, Token: "tok",
		Faults: []graphsim.Fault{
			{Every: 5, Offset: 2, Status: http.StatusTooManyRequests, RetryAfter: "0"},
			{Every: 7, Offset: 3, Status: http.StatusServiceUnavailable},
			{Every: 11, Offset: 4, Truncate: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	srv.Config.ErrorLog = nil
	t.Cleanup(srv.Close)

	var (
		mu       sync.Mutex
		byStatus = map[int]int{}
		retries  int
	)
	c, err := fetch.New(fetch.Config{
		BaseURL: srv.URL, Tokens: fetch.StaticToken("tok"),
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		Observe: func(a fetch.Attempt) {
			mu.Lock()
			defer mu.Unlock()
			byStatus[a.Status]++
			if a.Retry {
				retries++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var total fetch.Stats
	for from := start; from.Before(start.Add(6 * time.Hour)); from = from.Add(time.Hour) {
		st, err := c.Calls(context.Background(), fetch.DirectRoutingCalls, from, from.Add(time.Hour), func(fetch.Page) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		total.Requests += st.Requests
		total.Retries += st.Retries
		total.Pages += st.Pages
	}
	ss := sim.Stats()
	if ss.ByStatus[429] == 0 || ss.ByStatus[503] == 0 || ss.Truncated == 0 {
		t.Fatalf("faults not exercised: %+v", ss)
	}
	want := map[int]int{
		http.StatusOK:                 ss.ByStatus[http.StatusOK] - ss.Truncated,
		http.StatusTooManyRequests:    ss.ByStatus[http.StatusTooManyRequests],
		http.StatusServiceUnavailable: ss.ByStatus[http.StatusServiceUnavailable],
		0:                             ss.Truncated,
	}
	for status, n := range want {
		if byStatus[status] != n {
			t.Errorf("observed %d requests with status %d, the simulator answered %d", byStatus[status], status, n)
		}
	}
	if len(byStatus) != len(want) {
		t.Errorf("observed statuses %v, want %v", byStatus, want)
	}
	if retries != total.Retries || retries != total.Requests-total.Pages {
		t.Errorf("observed %d retries, client counted %d (requests %d)", retries, total.Retries, total.Requests)
	}
}
