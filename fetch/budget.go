package fetch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Defaults for BudgetConfig fields left zero, from Graph's documented limits
// for the call-log functions: 50 requests per 60 s per function ("per
// collection") and 200 per 60 s per application per tenant. (The third
// limit, 1,000 per tenant, is shared with other applications and cannot be
// budgeted from here.)
const (
	DefaultFunctionBudget = 50
	DefaultAppBudget      = 200
	// DefaultBudgetWindow is a second wider than Graph's 60 s: Graph counts
	// a request when it arrives and we when we send it, and network jitter
	// between the two would otherwise now and then put one request too many
	// into Graph's window.
	DefaultBudgetWindow = 61 * time.Second
)

// How the budget adapts: a 429 multiplies a function's allowance by
// decreaseFactor (once per pause, however many requests were refused
// together), and each window's worth of successes adds one request back,
// so the allowance climbs to the limit about one request per window —
// slowly enough that a budget probing a limit lower than configured is
// refused about once per hundred requests.
const (
	decreaseFactor = 0.8
	minAllowance   = 1
)

// BudgetConfig configures a Budget.
type BudgetConfig struct {
	// PerFunction is how many requests one function may receive per
	// Window; DefaultFunctionBudget if zero.
	PerFunction int
	// PerApp is how many requests all functions together may receive per
	// Window; DefaultAppBudget if zero.
	PerApp int
	// Window is the width of the sliding window the limits count over;
	// DefaultBudgetWindow if zero.
	Window time.Duration
	// Logger receives adaptation notices; nil means slog.Default().
	Logger *slog.Logger
}

// Budget paces the requests of one application in one tenant so that they
// stay inside Graph's limits, and adapts when Graph says they do not. One
// Budget is shared by every goroutine and Client reading that tenant; it is
// safe for concurrent use.
//
// Graph states its limits as "N requests per 60 seconds". Each limit is
// kept as a bucket of N tokens in which a spent token returns exactly one
// Window after it was spent — a token bucket whose refill mirrors Graph's
// sliding window. A bucket refilled continuously would either stay below
// the limit or, after a burst, exceed it within some 60 s; this one allows
// a burst of N after a quiet spell and N per Window at steady state, never
// more.
//
// There is one bucket per function (adaptive) and one for the application
// (fixed). A 429 pauses the function's bucket until its Retry-After and
// lowers its allowance; sustained success raises the allowance back to the
// limit.
type Budget struct {
	window time.Duration
	log    *slog.Logger

	mu  sync.Mutex
	app *bucket
	fns map[Function]*bucket
	per int
}

// bucket is one limit: the send times inside the window, oldest first.
type bucket struct {
	limit int
	// allowance is the adaptive share of limit in use, in [minAllowance,
	// limit]; credit accumulates successes towards the next increase.
	allowance float64
	credit    float64
	sent      []time.Time
	// pausedUntil holds requests back after a 429.
	pausedUntil time.Time
}

// NewBudget validates cfg and returns a Budget with every function at its
// full limit.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	if cfg.PerFunction < 0 || cfg.PerApp < 0 || cfg.Window < 0 {
		return nil, fmt.Errorf("fetch: budget limits must not be negative: %+v", cfg)
	}
	if cfg.PerFunction == 0 {
		cfg.PerFunction = DefaultFunctionBudget
	}
	if cfg.PerApp == 0 {
		cfg.PerApp = DefaultAppBudget
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultBudgetWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Budget{
		window: cfg.Window,
		log:    cfg.Logger,
		app:    newBucket(cfg.PerApp),
		fns:    map[Function]*bucket{},
		per:    cfg.PerFunction,
	}, nil
}

func newBucket(limit int) *bucket {
	return &bucket{limit: limit, allowance: float64(limit)}
}

func (b *Budget) fn(f Function) *bucket {
	k := b.fns[f]
	if k == nil {
		k = newBucket(b.per)
		b.fns[f] = k
	}
	return k
}

// Wait blocks until fn may send a request, or ctx ends, and counts the
// request as sent. It returns how long it waited.
func (b *Budget) Wait(ctx context.Context, fn Function) (time.Duration, error) {
	start := time.Now()
	for {
		b.mu.Lock()
		now := time.Now()
		k := b.fn(fn)
		at := later(k.next(now, b.window), b.app.next(now, b.window))
		if !at.After(now) {
			k.take(now, b.window)
			b.app.take(now, b.window)
			b.mu.Unlock()
			return now.Sub(start), nil
		}
		b.mu.Unlock()
		// Sleep until then and look again: another goroutine may have
		// taken the token meanwhile, or a 429 paused the bucket.
		t := time.NewTimer(at.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Since(start), ctx.Err()
		case <-t.C:
		}
	}
}

// Throttled tells the budget that Graph refused a request of fn with 429
// and asked for wait before the next one: the function's bucket pauses that
// long and, unless it was already paused, its allowance drops.
func (b *Budget) Throttled(fn Function, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	k := b.fn(fn)
	if !now.Before(k.pausedUntil) {
		// The first 429 of a burst: requests already in flight will be
		// refused too, and lowering again for each would overshoot.
		before := k.allowance
		k.allowance = math.Max(minAllowance, k.allowance*decreaseFactor)
		k.credit = 0
		b.log.Info("graph throttled a request; lowering the request budget",
			slog.String("function", string(fn)), slog.Duration("retry_after", wait),
			slog.Int("from", int(before)), slog.Int("to", int(k.allowance)), slog.Duration("per", b.window))
	}
	if until := now.Add(wait); until.After(k.pausedUntil) {
		k.pausedUntil = until
	}
}

// Succeeded tells the budget that a request of fn was answered without
// throttling; enough of them raise a lowered allowance back to the limit.
func (b *Budget) Succeeded(fn Function) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.fn(fn)
	if k.allowance >= float64(k.limit) {
		return
	}
	// One request more per window for every window's worth of successes.
	k.credit += 1 / k.allowance
	if k.credit >= 1-1e-9 { // a sum of n times 1/n may land a hair below 1
		k.credit--
		k.allowance = math.Min(float64(k.limit), k.allowance+1)
		if k.allowance >= float64(k.limit) {
			b.log.Info("graph request budget back at its limit", slog.String("function", string(fn)), slog.Int("limit", k.limit), slog.Duration("per", b.window))
		}
	}
}

// Allowance returns how many requests fn may currently send per window.
func (b *Budget) Allowance(fn Function) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int(b.fn(fn).allowance)
}

// next is the earliest time at or after now when the bucket has a token.
func (k *bucket) next(now time.Time, window time.Duration) time.Time {
	k.expire(now, window)
	at := now
	n := max(int(k.allowance), minAllowance)
	if len(k.sent) >= n {
		// The token spent n sends ago returns one window after it went.
		at = later(at, k.sent[len(k.sent)-n].Add(window))
	}
	return later(at, k.pausedUntil)
}

// take spends a token at now.
func (k *bucket) take(now time.Time, window time.Duration) {
	k.expire(now, window)
	k.sent = append(k.sent, now)
}

// expire forgets sends that have left the window (now-window, now].
func (k *bucket) expire(now time.Time, window time.Duration) {
	cut := 0
	for cut < len(k.sent) && !k.sent[cut].After(now.Add(-window)) {
		cut++
	}
	if cut > 0 {
		k.sent = append(k.sent[:0], k.sent[cut:]...)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
