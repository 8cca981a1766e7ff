package fetch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/callstream/callstream/sources"
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

// Defaults for the call-records family's BudgetConfig fields left zero,
// from Graph's documented limits for it (throttling-call-records): 1,500
// requests per 20 s per application per tenant, 40 per 20 s for the list
// of call records and 40 per 20 s per call record. (10,000 per 20 s per
// tenant for all applications and 15,000 per 20 s per application across
// tenants are shared with others or span tenants, and cannot be budgeted
// from one tenant's Budget.)
const (
	DefaultRecordsAppBudget  = 1500
	DefaultRecordsListBudget = 40
	DefaultRecordBudget      = 40
	// DefaultRecordsBudgetWindow is a second wider than Graph's 20 s, for
	// the reason DefaultBudgetWindow is a second wider than its 60 s.
	DefaultRecordsBudgetWindow = 21 * time.Second
)

// How the budget adapts: a 429 multiplies a function's allowance by
// decreaseFactor (once per pause, however many requests were refused
// together), and each window's worth of successes adds a fiftieth of the
// limit back (at least one request), so the allowance climbs back from a
// 429 in about ten windows whatever the limit — one request per window for
// the PSTN functions' 50, thirty for the call-records family's 1,500 (at
// one a window, one 429 would cost that family an hour and three
// quarters) — slowly enough that a budget probing a limit lower than
// configured is refused about once per hundred requests.
const (
	decreaseFactor = 0.8
	minAllowance   = 1
	increaseShare  = 50 // the limit over the step of one increase
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

	// The call-records family's limits (functions whose sources entry's
	// Throttle is sources.ThrottleCallRecords), counted apart from the
	// limits above, which are the PSTN family's.
	//
	// RecordsPerApp is how many requests of the family together may be
	// sent per RecordsWindow; DefaultRecordsAppBudget if zero.
	RecordsPerApp int
	// RecordsList is how many requests may list call records per
	// RecordsWindow; DefaultRecordsListBudget if zero.
	RecordsList int
	// PerRecord is how many requests may read one call record (its GET
	// and the further pages of its sessions) per RecordsWindow;
	// DefaultRecordBudget if zero.
	PerRecord int
	// RecordsWindow is the width of the sliding window the family's
	// limits count over; DefaultRecordsBudgetWindow if zero.
	RecordsWindow time.Duration
	// Logger receives adaptation notices; nil means slog.Default().
	Logger *slog.Logger
}

// Budget paces the requests of one application in one tenant so that they
// stay inside Graph's limits, and adapts when Graph says they do not. One
// Budget is shared by every goroutine and Client reading that tenant; it is
// safe for concurrent use.
//
// Graph states its limits as "N requests per W seconds". Each limit is
// kept as a bucket of N tokens in which a spent token returns exactly one
// window after it was spent — a token bucket whose refill mirrors Graph's
// sliding window. A bucket refilled continuously would either stay below
// the limit or, after a burst, exceed it within some window; this one
// allows a burst of N after a quiet spell and N per window at steady
// state, never more.
//
// Graph counts two families of functions apart (sources.Source.Throttle),
// and so does the Budget:
//
//   - The PSTN family (every function not in the call-records family): one
//     bucket per function (adaptive) and one for the application (fixed).
//     A 429 pauses the function's bucket until its Retry-After and lowers
//     its allowance; sustained success raises it back to the limit.
//   - The call-records family: one bucket for listing call records
//     (adaptive), one per call record (fixed; kept only while the record
//     has requests in its window) and one for the application (adaptive).
//     A 429 on the list pauses and lowers the list's bucket. A 429 on a
//     record's request pauses that record's bucket and pauses and lowers
//     the application's: reading a record takes a request or three, far
//     below its own limit, so what Graph refused is the application's
//     share.
type Budget struct {
	window time.Duration
	log    *slog.Logger

	mu  sync.Mutex
	app *bucket
	fns map[Function]*bucket
	per int

	recs recordsBuckets
	// family caches whether a function is in the call-records family.
	family map[Function]bool
}

// recordsBuckets are the call-records family's buckets.
type recordsBuckets struct {
	window    time.Duration
	app, list *bucket
	per       int
	records   map[string]*bucket
	// swept is when idle records' buckets were last dropped.
	swept time.Time
}

// Request is what one request reads, as the Budget tells requests apart.
type Request struct {
	Function Function
	// Record is the id of the call record the request reads (its GET or a
	// page of its sessions); "" for the list of call records and for every
	// function outside the call-records family.
	Record string
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

// NewBudget validates cfg and returns a Budget with every limit at its
// full allowance.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	if cfg.PerFunction < 0 || cfg.PerApp < 0 || cfg.Window < 0 ||
		cfg.RecordsPerApp < 0 || cfg.RecordsList < 0 || cfg.PerRecord < 0 || cfg.RecordsWindow < 0 {
		return nil, fmt.Errorf("fetch: budget limits must not be negative: %+v", cfg)
	}
	cfg = cfg.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Budget{
		window: cfg.Window,
		log:    cfg.Logger,
		app:    newBucket(cfg.PerApp),
		fns:    map[Function]*bucket{},
		per:    cfg.PerFunction,
		recs: recordsBuckets{
			window:  cfg.RecordsWindow,
			app:     newBucket(cfg.RecordsPerApp),
			list:    newBucket(cfg.RecordsList),
			per:     cfg.PerRecord,
			records: map[string]*bucket{},
		},
		family: map[Function]bool{},
	}, nil
}

// withDefaults returns cfg with its zero limits replaced by the documented
// defaults.
func (cfg BudgetConfig) withDefaults() BudgetConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.PerFunction, DefaultFunctionBudget)
	def(&cfg.PerApp, DefaultAppBudget)
	def(&cfg.RecordsPerApp, DefaultRecordsAppBudget)
	def(&cfg.RecordsList, DefaultRecordsListBudget)
	def(&cfg.PerRecord, DefaultRecordBudget)
	if cfg.Window == 0 {
		cfg.Window = DefaultBudgetWindow
	}
	if cfg.RecordsWindow == 0 {
		cfg.RecordsWindow = DefaultRecordsBudgetWindow
	}
	return cfg
}

func newBucket(limit int) *bucket {
	return &bucket{limit: limit, allowance: float64(limit)}
}

// IsCallRecordsFamily reports whether fn's requests count against Graph's
// call-records throttling family rather than the PSTN family's: its
// sources entry says so. A function the registry does not know is taken
// for the PSTN family, as before there were two.
func IsCallRecordsFamily(fn Function) bool {
	s, ok := sources.ByFunction(string(fn))
	return ok && s.Throttle == sources.ThrottleCallRecords
}

// records reports whether fn is in the call-records family; b.mu is held.
func (b *Budget) records(fn Function) bool {
	r, ok := b.family[fn]
	if !ok {
		r = IsCallRecordsFamily(fn)
		b.family[fn] = r
	}
	return r
}

func (b *Budget) fn(f Function) *bucket {
	k := b.fns[f]
	if k == nil {
		k = newBucket(b.per)
		b.fns[f] = k
	}
	return k
}

// route returns the buckets a request spends a token of and their window,
// and the bucket its 429 pauses and lowers (lower) and the one it only
// pauses (pause, or nil); b.mu is held.
func (b *Budget) route(r Request, now time.Time) (spend [2]*bucket, window time.Duration, lower, pause *bucket) {
	if !b.records(r.Function) {
		k := b.fn(r.Function)
		return [2]*bucket{k, b.app}, b.window, k, nil
	}
	if r.Record == "" {
		return [2]*bucket{b.recs.list, b.recs.app}, b.recs.window, b.recs.list, nil
	}
	b.recs.sweep(now)
	k := b.recs.records[r.Record]
	if k == nil {
		k = newBucket(b.recs.per)
		b.recs.records[r.Record] = k
	}
	return [2]*bucket{k, b.recs.app}, b.recs.window, b.recs.app, k
}

// sweep drops, at most once a window, the buckets of records with no
// request in their window and no pause: a backfill reads each record once,
// and their buckets would otherwise pile up by the million. What is kept is
// bounded by the records the application limit lets through in a window
// or two.
func (r *recordsBuckets) sweep(now time.Time) {
	if now.Sub(r.swept) < r.window {
		return
	}
	r.swept = now
	for id, k := range r.records {
		k.expire(now, r.window)
		if len(k.sent) == 0 && !now.Before(k.pausedUntil) {
			delete(r.records, id)
		}
	}
}

// Wait blocks until fn may send a request, or ctx ends, and counts the
// request as sent. It returns how long it waited. For a function of the
// call-records family it paces a request that lists call records; use
// WaitFor for one that reads a record.
func (b *Budget) Wait(ctx context.Context, fn Function) (time.Duration, error) {
	return b.WaitFor(ctx, Request{Function: fn})
}

// WaitFor blocks until r may be sent, or ctx ends, and counts it as sent.
// It returns how long it waited.
func (b *Budget) WaitFor(ctx context.Context, r Request) (time.Duration, error) {
	start := time.Now()
	for {
		b.mu.Lock()
		now := time.Now()
		spend, window, _, _ := b.route(r, now)
		at := later(spend[0].next(now, window), spend[1].next(now, window))
		if !at.After(now) {
			spend[0].take(now, window)
			spend[1].take(now, window)
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
// and asked for wait before the next one (for the call-records family, a
// request that lists records; see ThrottledFor).
func (b *Budget) Throttled(fn Function, wait time.Duration) {
	b.ThrottledFor(Request{Function: fn}, wait)
}

// ThrottledFor tells the budget that Graph refused r with 429 and asked
// for wait before the next request: the bucket the refusal is put down to
// (see Budget) pauses that long and, unless it was already paused, its
// allowance drops.
func (b *Budget) ThrottledFor(r Request, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	_, window, lower, pause := b.route(r, now)
	until := now.Add(wait)
	if !now.Before(lower.pausedUntil) {
		// The first 429 of a burst: requests already in flight will be
		// refused too, and lowering again for each would overshoot.
		before := lower.allowance
		lower.allowance = math.Max(minAllowance, lower.allowance*decreaseFactor)
		lower.credit = 0
		b.log.Info("graph throttled a request; lowering the request budget",
			slog.String("function", string(r.Function)), slog.String("limit", b.limitName(r, lower)),
			slog.Duration("retry_after", wait),
			slog.Int("from", int(before)), slog.Int("to", int(lower.allowance)), slog.Duration("per", window))
	}
	for _, k := range []*bucket{lower, pause} {
		if k != nil && until.After(k.pausedUntil) {
			k.pausedUntil = until
		}
	}
}

// limitName names the limit a bucket keeps, for a log line (never a
// record's id: a log names no personal data, and the id is one call's).
func (b *Budget) limitName(r Request, k *bucket) string {
	switch k {
	case b.recs.app:
		return "call-records per app"
	case b.recs.list:
		return "call-records list"
	}
	if b.records(r.Function) {
		return "call-records per record"
	}
	return "per function"
}

// Succeeded tells the budget that a request of fn was answered without
// throttling (for the call-records family, one that lists records; see
// SucceededFor).
func (b *Budget) Succeeded(fn Function) { b.SucceededFor(Request{Function: fn}) }

// SucceededFor tells the budget that r was answered without throttling;
// enough such answers raise a lowered allowance back to its limit.
func (b *Budget) SucceededFor(r Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.records(r.Function) {
		b.credit(r, b.fn(r.Function), b.window)
		return
	}
	if r.Record == "" {
		b.credit(r, b.recs.list, b.recs.window)
	}
	b.credit(r, b.recs.app, b.recs.window)
}

// credit counts one success towards k's allowance; b.mu is held.
func (b *Budget) credit(r Request, k *bucket, window time.Duration) {
	if k.allowance >= float64(k.limit) {
		return
	}
	// A step more per window for every window's worth of successes.
	k.credit += 1 / k.allowance
	if k.credit >= 1-1e-9 { // a sum of n times 1/n may land a hair below 1
		k.credit--
		step := math.Max(1, math.Floor(float64(k.limit)/increaseShare))
		k.allowance = math.Min(float64(k.limit), k.allowance+step)
		if k.allowance >= float64(k.limit) {
			b.log.Info("graph request budget back at its limit", slog.String("function", string(r.Function)),
				slog.String("limit", b.limitName(r, k)), slog.Int("requests", k.limit), slog.Duration("per", window))
		}
	}
}

// Allowance returns how many requests fn may currently send per window:
// for the call-records family, how many may list records.
func (b *Budget) Allowance(fn Function) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.records(fn) {
		return int(b.recs.list.allowance)
	}
	return int(b.fn(fn).allowance)
}

// AppAllowance returns how many requests of fn's family the application
// may currently send per window: fixed for the PSTN family, adaptive for
// the call-records family.
func (b *Budget) AppAllowance(fn Function) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.records(fn) {
		return int(b.recs.app.allowance)
	}
	return int(b.app.allowance)
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
