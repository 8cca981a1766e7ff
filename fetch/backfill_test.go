package fetch_test

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/callstream/callstream/entrasim"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

// backfill is a throttled backfill on the fake clock: workers goroutines
// share one Client and one Budget and read hour windows from a queue, as a
// parallel backfill does, against a Graph enforcing its documented limits.
type backfill struct {
	rig    *cloudRig
	client *fetch.Client
	budget *fetch.Budget

	mu    sync.Mutex
	pages []time.Time // when each page arrived
	rows  int
}

const backfillPageSize = 10

func newBackfill(t *testing.T, hours int) *backfill {
	t.Helper()
	return newBackfillAt(t, hours, graphsim.DocumentedLimits, fetch.BudgetConfig{})
}

// newBackfillAt is newBackfill against Graph enforcing limits, with a
// budget of bc.
func newBackfillAt(t *testing.T, hours int, limits graphsim.Limits, bc fetch.BudgetConfig) *backfill {
	t.Helper()
	bf := &backfill{}
	start := simStart.Add(-time.Duration(hours) * time.Hour)
	// 600 rows an hour in pages of 10: 60 pages per window.
	bf.rig = newCloudRig(t, fetch.Clouds["global"], graphsim.Config{
		Seed: 9, Start: start, End: simStart, RowsPerHour: 600, PageSize: backfillPageSize,
		Limits: limits,
	}, entrasim.Config{})
	var err error
	if bf.budget, err = fetch.NewBudget(bc); err != nil {
		t.Fatal(err)
	}
	bf.client = bf.rig.client(t, func(c *fetch.Config) { c.Budget = bf.budget })
	return bf
}

// run reads the hour windows [from, to) with workers goroutines; after
// each page, hook (if set) runs with the number of pages so far.
func (bf *backfill) run(t *testing.T, from, to time.Time, workers int, hook func(pages int)) {
	t.Helper()
	windows := make(chan time.Time)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for win := range windows {
				_, err := bf.client.Calls(context.Background(), fetch.DirectRoutingCalls, win, win.Add(time.Hour), func(p fetch.Page) error {
					bf.mu.Lock()
					bf.pages = append(bf.pages, time.Now())
					bf.rows += len(p.Rows)
					n := len(bf.pages)
					bf.mu.Unlock()
					if hook != nil {
						hook(n)
					}
					return nil
				})
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	for win := from; win.Before(to); win = win.Add(time.Hour) {
		windows <- win
	}
	close(windows)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// rate is the steady page rate per minute of the pages that arrived in
// [from, to): the first limit pages of a run ride the burst a quiet
// sliding window allows, so they are left out when burst is set.
func (bf *backfill) rate(from, to time.Time, skip int) (pages int, perMinute float64) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	ts := append([]time.Time(nil), bf.pages...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	var in []time.Time
	for _, p := range ts {
		if !p.Before(from) && p.Before(to) {
			in = append(in, p)
		}
	}
	if len(in) <= skip {
		return len(in), 0
	}
	span := in[len(in)-1].Sub(from)
	return len(in), float64(len(in)-skip) / span.Minutes()
}

// TestBackfillUnderDocumentedLimits: ten hours of data, 600 pages, four
// workers, Graph enforcing 50 requests a minute per function. The steady
// page rate must be at least 95% of the 50 a minute Graph allows, with at
// most 1% of requests answered 429.
func TestBackfillUnderDocumentedLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hours, limit = 10, 50
		bf := newBackfill(t, hours)
		start := time.Now()
		bf.run(t, simStart.Add(-hours*time.Hour), simStart, 4, nil)
		took := time.Since(start)

		if want := bf.rig.sim.Count(simStart.Add(-hours*time.Hour), simStart); bf.rows != want {
			t.Fatalf("%d rows, want %d", bf.rows, want)
		}
		st := bf.rig.sim.Stats()
		share := float64(st.ByStatus[http.StatusTooManyRequests]) / float64(st.Requests)
		pages, perMin := bf.rate(start, start.Add(took+time.Nanosecond), limit)
		t.Logf("%d pages in %s of fake time: steady rate %.2f pages/min = %.1f%% of the %d/min limit; %d of %d requests answered 429 (%.2f%%)",
			pages, took, perMin, 100*perMin/limit, limit, st.ByStatus[http.StatusTooManyRequests], st.Requests, 100*share)
		if perMin < 0.95*limit {
			t.Errorf("steady rate %.2f pages/min, below 95%% of %d", perMin, limit)
		}
		if share > 0.01 {
			t.Errorf("%.2f%% of requests answered 429, more than 1%%", 100*share)
		}
	})
}

// TestBackfillUnderScaledLimits: Graph's limits at 12× speed (600 a
// minute per function, graphsim.Limits.Scaled) and a budget matched to
// them (GRAPH_BUDGET_PER_MINUTE=600, GRAPH_APP_BUDGET_PER_MINUTE=2400), as
// the budget benchmark runs them: 3,000 pages at no less than 95% of the
// limit, with at most 1% of requests answered 429.
func TestBackfillUnderScaledLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hours, speed = 50, 12
		limit := fetch.DefaultFunctionBudget * speed
		bf := newBackfillAt(t, hours, graphsim.DocumentedLimits.Scaled(speed),
			fetch.BudgetConfig{PerFunction: limit, PerApp: fetch.DefaultAppBudget * speed})
		start := time.Now()
		bf.run(t, simStart.Add(-hours*time.Hour), simStart, 4, nil)
		took := time.Since(start)
		st := bf.rig.sim.Stats()
		throttled := st.ByStatus[http.StatusTooManyRequests]
		pages, perMin := bf.rate(start, start.Add(took+time.Nanosecond), limit)
		t.Logf("%d pages in %s of fake time: steady rate %.1f pages/min = %.1f%% of %d/min; %d of %d requests answered 429",
			pages, took, perMin, 100*perMin/float64(limit), limit, throttled, st.Requests)
		if perMin < 0.95*float64(limit) {
			t.Errorf("steady rate %.1f pages/min, below 95%% of %d", perMin, limit)
		}
		if share := float64(throttled) / float64(st.Requests); share > 0.01 {
			t.Errorf("%.2f%% of requests answered 429, more than 1%%", 100*share)
		}
	})
}

// TestBackfillAdaptsToHalvedLimit: Graph halves the per-function limit to
// 25 a minute after 200 pages and restores it after 1,000. The backfill
// must not fail, settle near the lower limit with few 429s, and climb back
// to the full limit once it is restored.
func TestBackfillAdaptsToHalvedLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hours = 40 // 2,400 pages
		bf := newBackfill(t, hours)
		fn := fetch.DirectRoutingCalls
		var (
			mu                  sync.Mutex
			halvedAt, restoreAt time.Time
			requestsAtHalving   int
			throttledAtHalving  int
			requestsAtRestore   int
			throttledAtRestore  int
			allowanceAtRestore  int
			fullAgainAt         time.Time
		)
		start := time.Now()
		bf.run(t, simStart.Add(-hours*time.Hour), simStart, 4, func(pages int) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case pages == 200 && halvedAt.IsZero():
				halvedAt = time.Now()
				st := bf.rig.sim.Stats()
				requestsAtHalving, throttledAtHalving = st.Requests, st.ByStatus[http.StatusTooManyRequests]
				half := graphsim.DocumentedLimits
				half.PerFunction = 25
				bf.rig.sim.SetLimits(half)
			case pages == 1000 && restoreAt.IsZero():
				restoreAt = time.Now()
				st := bf.rig.sim.Stats()
				requestsAtRestore, throttledAtRestore = st.Requests, st.ByStatus[http.StatusTooManyRequests]
				allowanceAtRestore = bf.budget.Allowance(fn)
				bf.rig.sim.SetLimits(graphsim.DocumentedLimits)
			case !restoreAt.IsZero() && fullAgainAt.IsZero() && bf.budget.Allowance(fn) == fetch.DefaultFunctionBudget:
				fullAgainAt = time.Now()
			}
		})
		end := time.Now()

		if want := bf.rig.sim.Count(simStart.Add(-hours*time.Hour), simStart); bf.rows != want {
			t.Fatalf("%d rows, want %d", bf.rows, want)
		}
		st := bf.rig.sim.Stats()
		halvedReq, halved429 := requestsAtRestore-requestsAtHalving, throttledAtRestore-throttledAtHalving
		// Skip the first five minutes after the change, while the budget
		// finds the new limit.
		_, halvedRate := bf.rate(halvedAt.Add(5*time.Minute), restoreAt, 0)
		if fullAgainAt.IsZero() {
			t.Fatalf("the budget never returned to its limit of %d/window after the limit was restored; it is at %d", fetch.DefaultFunctionBudget, bf.budget.Allowance(fn))
		}
		lastPages, lastRate := bf.rate(fullAgainAt, end.Add(time.Nanosecond), 0)
		t.Logf("before: %d requests, %d answered 429", requestsAtHalving, throttledAtHalving)
		t.Logf("limit halved to 25/min for %s: %d requests, %d answered 429 (%.2f%%), steady rate %.2f pages/min (%.0f%% of 25), budget settled at %d/window",
			restoreAt.Sub(halvedAt).Round(time.Second), halvedReq, halved429, 100*float64(halved429)/float64(halvedReq), halvedRate, 100*halvedRate/25, allowanceAtRestore)
		t.Logf("limit restored to 50/min: budget back at its limit after %s; then %d pages at %.2f pages/min; whole run %s, %d requests, %d answered 429",
			fullAgainAt.Sub(restoreAt).Round(time.Second), lastPages, lastRate, end.Sub(start).Round(time.Second), st.Requests, st.ByStatus[http.StatusTooManyRequests])

		if throttledAtHalving != 0 {
			t.Errorf("%d 429s before the limit changed", throttledAtHalving)
		}
		if allowanceAtRestore < 15 || allowanceAtRestore > 30 {
			// It saws around the limit: lowered by a 429 just above it, then
			// climbing back a request per window.
			t.Errorf("budget at %d/window while Graph allowed 25", allowanceAtRestore)
		}
		if share := float64(halved429) / float64(halvedReq); share > 0.05 {
			t.Errorf("%.1f%% of requests answered 429 under the halved limit", 100*share)
		}
		if halvedRate < 0.8*25 {
			t.Errorf("steady rate %.2f pages/min under the halved limit, below 80%% of 25", halvedRate)
		}
		if lastRate < 0.95*50 {
			t.Errorf("rate %.2f pages/min once back at the limit, below 95%% of 50", lastRate)
		}
	})
}
