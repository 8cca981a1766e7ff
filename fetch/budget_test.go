package fetch_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/callstream/callstream/fetch"
)

func newBudget(t *testing.T, cfg fetch.BudgetConfig) *fetch.Budget {
	t.Helper()
	b, err := fetch.NewBudget(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustWait waits on b and returns how long it took by the fake clock.
func mustWait(t *testing.T, b *fetch.Budget, fn fetch.Function) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := b.Wait(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func TestBudgetDefaults(t *testing.T) {
	b := newBudget(t, fetch.BudgetConfig{})
	if got := b.Allowance(fetch.DirectRoutingCalls); got != fetch.DefaultFunctionBudget {
		t.Fatalf("allowance %d, want %d", got, fetch.DefaultFunctionBudget)
	}
	if _, err := fetch.NewBudget(fetch.BudgetConfig{PerFunction: -1}); err == nil {
		t.Fatal("a negative limit was accepted")
	}
}

// TestBudgetSlidingWindow: a burst of the limit after a quiet spell, then
// each token returns exactly one window after it was spent.
func TestBudgetSlidingWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, fetch.BudgetConfig{PerFunction: 5, PerApp: 100, Window: time.Minute})
		for i := range 5 {
			if d := mustWait(t, b, fetch.DirectRoutingCalls); d != 0 {
				t.Fatalf("request %d waited %s within the burst", i+1, d)
			}
			time.Sleep(2 * time.Second)
		}
		// Sent at 0, 2, 4, 6, 8 s; now 10 s. The sixth goes at 60 s, the
		// seventh at 62 s.
		if d := mustWait(t, b, fetch.DirectRoutingCalls); d != 50*time.Second {
			t.Fatalf("sixth request waited %s, want 50s", d)
		}
		if d := mustWait(t, b, fetch.DirectRoutingCalls); d != 2*time.Second {
			t.Fatalf("seventh request waited %s, want 2s", d)
		}
	})
}

// TestBudgetAppBucketIsShared: the per-application limit binds across
// functions while each function keeps its own.
func TestBudgetAppBucketIsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, fetch.BudgetConfig{PerFunction: 5, PerApp: 8, Window: time.Minute})
		for range 5 {
			mustWait(t, b, fetch.DirectRoutingCalls)
		}
		for i := range 3 {
			if d := mustWait(t, b, fetch.PstnCalls); d != 0 {
				t.Fatalf("pstn request %d waited %s", i+1, d)
			}
		}
		if d := mustWait(t, b, fetch.PstnCalls); d != time.Minute {
			t.Fatalf("pstn request 4 waited %s, want a minute for the application bucket", d)
		}
	})
}

// TestBudgetAdapts: a 429 pauses the function for its Retry-After and
// lowers its allowance once per pause; sustained success brings it back.
func TestBudgetAdapts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := fetch.DirectRoutingCalls
		b := newBudget(t, fetch.BudgetConfig{PerFunction: 50, Window: time.Minute})
		b.Throttled(fn, 10*time.Second)
		if got := b.Allowance(fn); got != 40 {
			t.Fatalf("allowance %d after a 429, want 40", got)
		}
		b.Throttled(fn, 10*time.Second) // in flight together with the first
		if got := b.Allowance(fn); got != 40 {
			t.Fatalf("allowance %d after a second 429 in the same pause, want 40", got)
		}
		if d := mustWait(t, b, fn); d != 10*time.Second {
			t.Fatalf("waited %s after Retry-After 10s", d)
		}
		if d := mustWait(t, b, fetch.PstnCalls); d != 0 {
			t.Fatalf("another function waited %s for this one's pause", d)
		}
		b.Throttled(fn, time.Second)
		if got := b.Allowance(fn); got != 32 {
			t.Fatalf("allowance %d after a 429 past the pause, want 32", got)
		}
		// One more per window for each window's worth of successes: from
		// 32 back to 50 takes 32+33+…+49 = 729 successes.
		for range 700 {
			b.Succeeded(fn)
		}
		if got := b.Allowance(fn); got >= 50 {
			t.Fatalf("allowance %d back at the limit after 700 successes, too fast", got)
		}
		for range 29 {
			b.Succeeded(fn)
		}
		if got := b.Allowance(fn); got != 50 {
			t.Fatalf("allowance %d after 729 successes, want 50", got)
		}
	})
}

func TestBudgetWaitHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, fetch.BudgetConfig{PerFunction: 1, Window: time.Hour})
		mustWait(t, b, fetch.DirectRoutingCalls)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		d, err := b.Wait(ctx, fetch.DirectRoutingCalls)
		if !errors.Is(err, context.DeadlineExceeded) || d != time.Minute {
			t.Fatalf("waited %s: %v", d, err)
		}
	})
}

// TestBudgetSharedByGoroutines: many goroutines on one budget never put
// more than the limit into any window, and together reach the limit.
func TestBudgetSharedByGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, window = 50, time.Minute
		b := newBudget(t, fetch.BudgetConfig{PerFunction: limit, Window: window})
		var mu sync.Mutex
		var sent []time.Time
		var wg sync.WaitGroup
		start := time.Now()
		for range 10 {
			wg.Go(func() {
				for range 20 {
					if _, err := b.Wait(context.Background(), fetch.DirectRoutingCalls); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					sent = append(sent, time.Now())
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for i := range sent {
			n := 0
			for _, s := range sent {
				if !s.After(sent[i]) && s.After(sent[i].Add(-window)) {
					n++
				}
			}
			if n > limit {
				t.Fatalf("%d requests in the window ending at %s", n, sent[i].Sub(start))
			}
		}
		// 200 requests: bursts at 0, 60, 120 and 180 s.
		if took := time.Since(start); took != 3*window {
			t.Fatalf("200 requests took %s, want %s", took, 3*window)
		}
	})
}
