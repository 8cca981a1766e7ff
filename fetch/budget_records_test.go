package fetch_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/callstream/callstream/fetch"
)

// mustWaitFor is mustWait for a request of the call-records family.
func mustWaitFor(t *testing.T, b *fetch.Budget, r fetch.Request) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := b.WaitFor(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

var (
	crList = fetch.Request{Function: fetch.CallRecordsFn}
	crRec  = func(id string) fetch.Request { return fetch.Request{Function: fetch.CallRecordsFn, Record: id} }
)

func TestRecordsBudgetDefaults(t *testing.T) {
	b := newBudget(t, fetch.BudgetConfig{})
	if got := b.Allowance(fetch.CallRecordsFn); got != fetch.DefaultRecordsListBudget {
		t.Fatalf("list allowance %d, want %d", got, fetch.DefaultRecordsListBudget)
	}
	if got := b.AppAllowance(fetch.CallRecordsFn); got != fetch.DefaultRecordsAppBudget {
		t.Fatalf("app allowance %d, want %d", got, fetch.DefaultRecordsAppBudget)
	}
	if got := b.AppAllowance(fetch.DirectRoutingCalls); got != fetch.DefaultAppBudget {
		t.Fatalf("PSTN app allowance %d, want %d", got, fetch.DefaultAppBudget)
	}
	if !fetch.IsCallRecordsFamily(fetch.CallRecordsFn) || fetch.IsCallRecordsFamily(fetch.PstnCalls) || fetch.IsCallRecordsFamily("noSuchFunction") {
		t.Fatal("families misread")
	}
	if _, err := fetch.NewBudget(fetch.BudgetConfig{PerRecord: -1}); err == nil {
		t.Fatal("a negative limit was accepted")
	}
}

// TestRecordsBudgetListAndRecordBuckets: with Graph's documented limits,
// the list gets 40 requests per 21 s, each record 40 of its own, and the
// two do not take from each other but from the application's 1,500.
func TestRecordsBudgetListAndRecordBuckets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, fetch.BudgetConfig{})
		for i := range fetch.DefaultRecordsListBudget {
			if d := mustWaitFor(t, b, crList); d != 0 {
				t.Fatalf("list request %d waited %s", i+1, d)
			}
		}
		for i := range fetch.DefaultRecordBudget {
			if d := mustWaitFor(t, b, crRec("r1")); d != 0 {
				t.Fatalf("record request %d waited %s after the list's were spent", i+1, d)
			}
		}
		if d := mustWaitFor(t, b, crRec("r2")); d != 0 {
			t.Fatalf("another record waited %s for r1's bucket", d)
		}
		if d := mustWait(t, b, fetch.DirectRoutingCalls); d != 0 {
			t.Fatalf("the PSTN family waited %s for the call-records family", d)
		}
		if d := mustWaitFor(t, b, crRec("r1")); d != fetch.DefaultRecordsBudgetWindow {
			t.Fatalf("r1's 41st request waited %s, want %s", d, fetch.DefaultRecordsBudgetWindow)
		}
		// The list's tokens came back at 21 s too.
		if d := mustWaitFor(t, b, crList); d != 0 {
			t.Fatalf("list request after the window waited %s", d)
		}
	})
}

// TestRecordsBudgetAppBucket: the application's limit binds across the
// list and every record.
func TestRecordsBudgetAppBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, fetch.BudgetConfig{RecordsPerApp: 10, RecordsWindow: 20 * time.Second})
		mustWaitFor(t, b, crList)
		for i := range 9 {
			if d := mustWaitFor(t, b, crRec(fmt.Sprint(i))); d != 0 {
				t.Fatalf("record %d waited %s", i, d)
			}
		}
		if d := mustWaitFor(t, b, crRec("new")); d != 20*time.Second {
			t.Fatalf("the 11th request waited %s, want 20s for the application bucket", d)
		}
		// And the PSTN family's application bucket is its own.
		b = newBudget(t, fetch.BudgetConfig{PerApp: 2, RecordsPerApp: 1})
		mustWait(t, b, fetch.DirectRoutingCalls)
		mustWait(t, b, fetch.PstnCalls)
		if d := mustWaitFor(t, b, crList); d != 0 {
			t.Fatalf("call records waited %s for the PSTN family's application bucket", d)
		}
	})
}

// TestRecordsBudgetWindowsRespected: goroutines listing and reading
// records on one budget over a simulated clock never put more than a
// limit into any of its windows, and reach the limits.
func TestRecordsBudgetWindowsRespected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const app, list, per, window = 60, 10, 5, 20 * time.Second
		b := newBudget(t, fetch.BudgetConfig{RecordsPerApp: app, RecordsList: list, PerRecord: per, RecordsWindow: window})
		var mu sync.Mutex
		sent := map[string][]time.Time{} // by bucket: "app", "list", record id
		var wg sync.WaitGroup
		start := time.Now()
		for g := range 8 {
			wg.Go(func() {
				for i := range 30 {
					r := crList
					if g > 0 {
						r = crRec(fmt.Sprint("r", (g+i)%3)) // three hot records
					}
					if _, err := b.WaitFor(context.Background(), r); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					now := time.Now()
					sent["app"] = append(sent["app"], now)
					if r.Record == "" {
						sent["list"] = append(sent["list"], now)
					} else {
						sent[r.Record] = append(sent[r.Record], now)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		limit := map[string]int{"app": app, "list": list, "r0": per, "r1": per, "r2": per}
		for k, ts := range sent {
			for i := range ts {
				n := 0
				for _, s := range ts {
					if !s.After(ts[i]) && s.After(ts[i].Add(-window)) {
						n++
					}
				}
				if n > limit[k] {
					t.Fatalf("%s: %d requests in the window ending at %s, limit %d", k, n, ts[i].Sub(start), limit[k])
				}
			}
		}
		// 210 record requests on three records of 5 per window: 14
		// windows; the list's 30 at 10 per window take 2 more windows
		// than none.
		if took := time.Since(start); took != 13*window {
			t.Fatalf("took %s, want %s", took, 13*window)
		}
	})
}

// TestRecordsBudgetAdapts: a 429 on the list pauses and lowers the list's
// bucket only; a 429 on a record pauses that record and pauses and lowers
// the application's bucket; the PSTN family is untouched by either;
// successes bring the allowances back.
func TestRecordsBudgetAdapts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, fetch.BudgetConfig{})
		b.ThrottledFor(crList, 5*time.Second)
		if got, app := b.Allowance(fetch.CallRecordsFn), b.AppAllowance(fetch.CallRecordsFn); got != 32 || app != 1500 {
			t.Fatalf("after a list 429: list %d, app %d; want 32, 1500", got, app)
		}
		if d := mustWaitFor(t, b, crRec("r")); d != 0 {
			t.Fatalf("a record waited %s for the list's pause", d)
		}
		if d := mustWaitFor(t, b, crList); d != 5*time.Second {
			t.Fatalf("the list waited %s after Retry-After 5s", d)
		}
		b.ThrottledFor(crRec("r"), 3*time.Second)
		b.ThrottledFor(crRec("s"), 3*time.Second) // in flight together
		if got, app := b.Allowance(fetch.CallRecordsFn), b.AppAllowance(fetch.CallRecordsFn); got != 32 || app != 1200 {
			t.Fatalf("after record 429s: list %d, app %d; want 32, 1200", got, app)
		}
		if d := mustWait(t, b, fetch.DirectRoutingCalls); d != 0 || b.Allowance(fetch.DirectRoutingCalls) != fetch.DefaultFunctionBudget {
			t.Fatalf("the PSTN family waited %s or was lowered", d)
		}
		if d := mustWaitFor(t, b, crRec("other")); d != 3*time.Second {
			t.Fatalf("another record waited %s, want the application's pause of 3s", d)
		}
		// From 1200 back to 1500 in ten steps of a fiftieth of the limit,
		// each after a window's worth of successes: 1200+1230+…+1470 =
		// 13,350 — about ten windows, as the PSTN functions' 40 back to 50
		// takes (one an hour and three quarters at one request a window).
		for range 13_349 {
			b.SucceededFor(crRec("x"))
		}
		if got := b.AppAllowance(fetch.CallRecordsFn); got != 1470 {
			t.Fatalf("app allowance %d one success short of ten windows' worth, want 1470", got)
		}
		b.SucceededFor(crRec("x"))
		if got := b.AppAllowance(fetch.CallRecordsFn); got != 1500 {
			t.Fatalf("app allowance %d after ten windows' worth of successes, want 1500", got)
		}
		if got := b.Allowance(fetch.CallRecordsFn); got != 32 {
			t.Fatalf("list allowance %d raised by record successes", got)
		}
		for range 32 + 33 + 34 + 35 + 36 + 37 + 38 + 39 {
			b.SucceededFor(crList)
		}
		if got := b.Allowance(fetch.CallRecordsFn); got != 40 {
			t.Fatalf("list allowance %d after list successes, want 40", got)
		}
	})
}

// TestRecordsBudgetForgetsIdleRecords: a backfill reads each record once;
// the buckets of records with nothing left in their window are dropped.
func TestRecordsBudgetForgetsIdleRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, fetch.BudgetConfig{})
		for i := range 1000 {
			mustWaitFor(t, b, crRec(fmt.Sprint(i)))
		}
		if n := b.RecordBuckets(); n != 1000 {
			t.Fatalf("%d buckets for 1000 records in the window", n)
		}
		time.Sleep(fetch.DefaultRecordsBudgetWindow + time.Second)
		mustWaitFor(t, b, crRec("next"))
		if n := b.RecordBuckets(); n != 1 {
			t.Fatalf("%d buckets kept after the window, want 1", n)
		}
	})
}

func TestCallRecordsCost(t *testing.T) {
	for _, tc := range []struct {
		records, page int
		sessions      float64
		want          fetch.RequestCost
	}{
		{0, 1000, 3, fetch.RequestCost{List: 1}},
		{1, 0, 3, fetch.RequestCost{List: 1, Records: 1}},
		{1000, 1000, 60, fetch.RequestCost{List: 1, Records: 1000}},
		{1001, 1000, 61, fetch.RequestCost{List: 2, Records: 2002}},
		{150_000, 1000, 130, fetch.RequestCost{List: 150, Records: 450_000}},
	} {
		if got := fetch.CallRecordsCost(tc.records, tc.page, tc.sessions); got != tc.want {
			t.Errorf("CallRecordsCost(%d, %d, %g) = %+v, want %+v", tc.records, tc.page, tc.sessions, got, tc.want)
		}
	}
}

// TestMinDuration: the family's limits give the floor of a backfill's
// time. 30 days of 5,000 calls a day is 150,150 requests: at 1,500 per
// 21 s, 100 windows after the first burst, 35 minutes.
func TestMinDuration(t *testing.T) {
	var cfg fetch.BudgetConfig
	cost := fetch.CallRecordsCost(150_000, 1000, 3)
	if got := cfg.MinDuration(fetch.CallRecordsFn, cost); got != 100*fetch.DefaultRecordsBudgetWindow {
		t.Fatalf("call records: %s, want %s", got, 100*fetch.DefaultRecordsBudgetWindow)
	}
	// Listing alone is bound by the list's 40 per window.
	if got := cfg.MinDuration(fetch.CallRecordsFn, fetch.RequestCost{List: 81}); got != 2*fetch.DefaultRecordsBudgetWindow {
		t.Fatalf("list: %s", got)
	}
	// The PSTN family: 101 pages at 50 a minute.
	if got := cfg.MinDuration(fetch.DirectRoutingCalls, fetch.RequestCost{List: 101}); got != 2*fetch.DefaultBudgetWindow {
		t.Fatalf("direct routing: %s", got)
	}
	scaled := fetch.BudgetConfig{RecordsPerApp: 15_000, RecordsList: 400}
	if got := scaled.MinDuration(fetch.CallRecordsFn, cost); got != 10*fetch.DefaultRecordsBudgetWindow {
		t.Fatalf("scaled: %s", got)
	}
	if got := cfg.MinDuration(fetch.CallRecordsFn, fetch.RequestCost{}); got != 0 {
		t.Fatalf("nothing: %s", got)
	}
}
