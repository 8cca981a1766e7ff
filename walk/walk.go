// Package walk owns time: which windows of call start time are read or
// re-read, in what order, which rows are new, and when the checkpoint may
// advance. It is the one place that combines fetch, schemas, producer and
// checkpoint.
//
// Invariants kept here:
//   - windows are half-open [from, to) in UTC; every instant is in one window;
//   - a window's ids are remembered, and its watermark saved, only with
//     every row published from it: committed in the same transaction
//     (exactly-once, a checkpoint.Stager) or acknowledged by Kafka before
//     the save (at-least-once, a checkpoint.Saver) — see settler;
//   - an id remembered in the rescan horizon is never published again;
//   - an aggregate source (Source.Aggregate) is read in UTC days and a row
//     is published again only when its figures changed: its version, not
//     an id, is what is remembered (aggregate.go);
//   - a records source (Source.Records) remembers (id, version): a record
//     is published once per version it had when read, and a record whose
//     listed version is remembered is not read again (records.go);
//   - a bad row — one that cannot be encoded, or whose record would not fit
//     in a record batch — goes to the dead-letter topic with the reason, or
//     stops the walk with an error naming it when there is none: nothing is
//     dropped silently (DESIGN.md Invariant 5).
package walk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/internal/jsonscan"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
)

// Fetcher reads the rows of one function over a range of call start times.
// *fetch.Client implements it.
type Fetcher interface {
	Calls(ctx context.Context, fn fetch.Function, from, to time.Time, onPage func(fetch.Page) error) (fetch.Stats, error)
}

// RecordsFetcher is the Fetcher a records source (Source.Records) needs:
// it also reads the records whose start times are in a range, each whole,
// skipping those whose listed (id, version) known reports.
// *fetch.Client implements it.
type RecordsFetcher interface {
	Fetcher
	CallRecords(ctx context.Context, fn fetch.Function, from, to time.Time, known func(id string, version int64) bool, onPage func(fetch.Page) error) (fetch.Stats, error)
}

// Publisher publishes encoded rows. *producer.Producer implements it.
type Publisher interface {
	Begin(source string, from, to time.Time) (*producer.Batch, error)
	ValueBuffer(capHint int) []byte
	Transactional() bool
	// MaxValueBytes is the most key and value bytes a record of source
	// with headers (beside the batch's own) can carry; see
	// producer.Producer.MaxValueBytes.
	MaxValueBytes(source string, headers []kgo.RecordHeader) int
}

// Encoded is one row ready for Kafka.
type Encoded struct {
	// ID identifies the row for deduplication.
	ID string
	// Key is the record key (the row's correlationId).
	Key []byte
	// Value is the framed Avro value.
	Value []byte
}

// Source is one Graph call-log function and how its rows become records.
type Source struct {
	// Name labels the source in headers, logs and the checkpoint.
	Name     string
	Function fetch.Function
	// Encode parses one raw row and appends its Avro body to dst (which
	// already holds the value framing). scan is what the page's scan
	// recorded for the row (fetch.Page.Scans), which saves scanning it
	// again, or nil. The returned ID and Key may alias raw, which the fetch
	// client reuses for the next page: the walker copies what it keeps. It
	// is called from several goroutines at once during a backfill, so it
	// must be safe for concurrent use.
	Encode func(raw []byte, scan []jsonscan.Member, dst []byte) (Encoded, error)
	// Aggregate marks a report of figures per grouping (sources.Aggregate)
	// rather than a log: it is read per UTC day, keyed by day and
	// grouping, and a row is published again when its figures change
	// (see aggregate.go). Encode then returns no ID and the grouping's
	// JSON array as Key.
	Aggregate bool
	// Records marks a records source (sources.Records, Teams call
	// records): each listed record is read whole (Fetcher.CallRecords)
	// and Encode returns as ID its (id, version) (schemas.VersionedID), so
	// a record is published again whenever its version grows.
	Records bool

	// codec is the schemas codec Encode writes with, when the Source was
	// made from one (CodecSource, For): what WithTenant re-stamps.
	codec *schemas.Codec
}

// Config configures a Walker.
type Config struct {
	Source Source
	// TenantID is the Microsoft Entra tenant (directory) id the source is
	// read from, written into every record's tenantId field (see
	// Source.WithTenant). Empty leaves the Source as it is: its records
	// name the tenant it was stamped with, or none (null).
	TenantID string
	// Start is where the first walk begins when there is no checkpoint.
	Start time.Time
	// End, when set, is where walking stops for good.
	End time.Time
	// Retention is how long Graph keeps the source's rows
	// (sources.Source.Retention); 0 means no limit. A walk whose next
	// window began longer ago than this is refused when it starts: the
	// rows it would read are gone, and a checkpoint that says otherwise
	// would lie.
	Retention time.Duration
	// Window is the width of one live window, and the unit history
	// windows are multiples of.
	Window time.Duration
	// History sizes windows of history (past their last rescan age) by
	// rows; the zero value reads them Window wide. See HistoryConfig.
	History HistoryConfig
	// SettleDelay keeps windows closer to now than this unread: Graph
	// publishes rows with a delay.
	SettleDelay time.Duration
	// RescanAfter lists the ages (measured from a window's end) at which a
	// window is read again for late rows.
	RescanAfter []time.Duration
	// Concurrency is how many windows of a backlog are fetched at once;
	// publishing stays in window order. 0 or 1 reads one window at a time.
	Concurrency int
	// PollInterval is the pause between walks in continuous mode.
	PollInterval time.Duration
	// AlignPolls makes the walks after the first start at the instants
	// PollPhase + k×PollInterval (k whole, counted from the Unix epoch)
	// instead of PollInterval after the last walk ended. A fleet gives the
	// lanes of one bucket one phase and spreads the buckets' phases over
	// the interval, so that a replica's buckets do not all poll — read
	// Graph, commit, hold broker connections — at the same moment.
	AlignPolls bool
	PollPhase  time.Duration
	// MaxConsecutiveFailures ends Run after this many windows failed in a
	// row with retryable errors; 0 means never (continuous mode default).
	MaxConsecutiveFailures int
	// FailureBackoff is the first pause after a failed window; it doubles
	// with each further failure in a row, up to five minutes. 0 means one
	// second.
	FailureBackoff time.Duration
	// DeadLetterTopic receives rows that cannot be encoded, with the reason
	// in headers. Empty means such a row stops the walk with an error.
	DeadLetterTopic string
	// OnRead, when set, is told of every completed read (a new window or a
	// rescan) and how long it took from its first request until its rows
	// and checkpoint were durable. Metrics use it; it must be quick.
	OnRead func(rescan bool, took time.Duration)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Stats counts what a Walker did. Over completed reads,
// Fetched = Published + Duplicates + DeadLettered.
type Stats struct {
	Windows    int // new windows completed
	Rescans    int // re-reads completed
	Pages      int
	Requests   int
	Retries    int
	Throttled  int
	Fetched    int // rows received
	Published  int // rows acknowledged by Kafka
	Duplicates int // rows skipped because their id was already published
	Late       int // rows first published by a rescan
	Failures   int // window attempts that failed
	// DeadLettered counts rows that could not be encoded and went to the
	// dead-letter topic. Fetched = Published + Duplicates + DeadLettered.
	DeadLettered int
	// HistoryWindows counts history windows read (sized by the planner;
	// among Windows).
	HistoryWindows int
	// FullPages counts pages that came back full (HistoryConfig.PageRows,
	// or Graph's 1,000 rows): Requests over FullPages is what the budget
	// spends on partial pages and retries.
	FullPages int
}

// Walker walks one source. It is not safe for concurrent use; run one per
// source.
type Walker struct {
	cfg   Config
	fetch Fetcher
	pub   Publisher
	store checkpoint.Loader
	// settle is the strategy, exactly-once or at-least-once, chosen by New
	// from the store.
	settle settler
	log    *slog.Logger
	// rowRoom is the most key and value bytes a row's record can carry; a
	// larger row is a bad row (see encode).
	rowRoom int
	// tenantLen is the length of the tenantId field that ends every value
	// (0 for a Source not made from a codec): the room the value arena
	// adds, and what the aggregate content hash leaves out.
	tenantLen int

	state checkpoint.State
	seen  *idSet
	// agg is the dedup state of an aggregate source's entries; nil for a
	// log.
	agg    *aggIndex
	loaded bool
	// hist sizes history windows (see HistoryConfig).
	hist historyPlan
	// timeProp is the row property the source's range selects on, which
	// a folded read sorts its rows by (see fold); "" turns folding off.
	timeProp string

	// mu guards what other goroutines (metrics, health) read while the walk
	// runs.
	mu       sync.Mutex
	stats    Stats
	progress time.Time // when a read last completed
	mark     time.Time // copy of state.Watermark
	failing  int       // windows failed in a row, reset by a walk that succeeds
	lastErr  error     // the last of those failures
	// histWidth is the width of the next history window, 0 before the
	// planner read one.
	histWidth time.Duration
}

// New validates cfg and returns a Walker. The checkpoint store decides how
// windows settle, once: a checkpoint.Stager (the Kafka store, with a
// transactional p) exactly-once, a checkpoint.Saver (the file store)
// at-least-once.
func New(cfg Config, f Fetcher, p Publisher, s checkpoint.Loader) (*Walker, error) {
	cfg = aggregateConfig(cfg)
	var errs []error
	if cfg.Source.Name == "" || cfg.Source.Function == "" || cfg.Source.Encode == nil {
		errs = append(errs, errors.New("source is incomplete"))
	}
	if _, ok := f.(RecordsFetcher); cfg.Source.Records && !ok {
		errs = append(errs, fmt.Errorf("source %s is a records source, which its fetcher (%T) cannot read", cfg.Source.Name, f))
	}
	if cfg.Window <= 0 {
		errs = append(errs, errors.New("window must be positive"))
	}
	if cfg.Start.IsZero() {
		errs = append(errs, errors.New("start time is required"))
	}
	if !cfg.End.IsZero() && !cfg.End.After(cfg.Start) {
		errs = append(errs, errors.New("end time must be after start time"))
	}
	if cfg.Retention < 0 {
		errs = append(errs, errors.New("retention must not be negative"))
	}
	if cfg.SettleDelay < 0 {
		errs = append(errs, errors.New("settle delay must not be negative"))
	}
	for _, a := range cfg.RescanAfter {
		if a <= 0 {
			errs = append(errs, fmt.Errorf("rescan age %s must be positive", a))
		}
	}
	if err := cfg.History.validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.TenantID != "" {
		src, err := cfg.Source.WithTenant(cfg.TenantID)
		if err != nil {
			errs = append(errs, err)
		}
		cfg.Source = src
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg.RescanAfter = slices.Clone(cfg.RescanAfter)
	slices.Sort(cfg.RescanAfter)
	cfg.Start, cfg.End = cfg.Start.UTC(), cfg.End.UTC()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Walker{cfg: cfg, fetch: f, pub: p, store: s, log: cfg.Logger.With("source", cfg.Source.Name),
		rowRoom: p.MaxValueBytes(cfg.Source.Name, nil), tenantLen: cfg.Source.tenantLen()}
	w.hist = newHistoryPlan(cfg)
	w.timeProp = timeProperty(string(cfg.Source.Function))
	settle, err := w.newSettler(s)
	if err != nil {
		return nil, err
	}
	w.settle = settle
	return w, nil
}

// Stats returns the counters so far. It is safe to call while Run runs.
func (w *Walker) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Watermark returns the end of the last window published whole. It is safe
// to call while Run runs.
func (w *Walker) Watermark() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mark
}

// LastProgress returns when a window or rescan was last completed (zero
// before the first). Health checks use it to tell a stuck walk from an idle
// one. It is safe to call while Run runs.
func (w *Walker) LastProgress() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.progress
}

// Failing returns how many walks failed in a row with retryable errors
// and the last error, or 0 and nil once a walk succeeded. Health checks
// use it: a walk that keeps failing is retried but is not ready. It is safe
// to call while Run runs.
func (w *Walker) Failing() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failing, w.lastErr
}

func (w *Walker) setFailing(n int, err error) {
	w.mu.Lock()
	w.failing, w.lastErr = n, err
	w.mu.Unlock()
}

// count applies f to the counters under the lock.
func (w *Walker) count(f func(*Stats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// untilNextPoll is how long Run waits before the next walk.
func (w *Walker) untilNextPoll() time.Duration {
	if !w.cfg.AlignPolls {
		return w.cfg.PollInterval
	}
	// The real clock: polls are paced in real time, as sleep is.
	now := time.Now().UnixNano()
	every := int64(w.cfg.PollInterval)
	next := (now-int64(w.cfg.PollPhase))/every*every + int64(w.cfg.PollPhase%w.cfg.PollInterval) + every
	for next-now > every {
		next -= every
	}
	return time.Duration(next - now)
}

// ErrDone is returned by Run in continuous mode when END_TIME is reached
// and no rescan is left.
var ErrDone = errors.New("walk: end time reached")

// Run walks until ctx ends. With once, it returns nil as soon as nothing
// is due (caught up, or END_TIME reached). A window that failed with a
// retryable error is tried again after a backoff; a permanent error is
// returned. When ctx ends, Run returns ctx's error after abandoning the
// window in flight, whose rows are then not checkpointed.
func (w *Walker) Run(ctx context.Context, once bool) error {
	if err := w.load(ctx); err != nil {
		return err
	}
	firstBackoff := w.cfg.FailureBackoff
	if firstBackoff <= 0 {
		firstBackoff = time.Second
	}
	failures := 0
	backoff := firstBackoff
	for {
		err := w.walk(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case err == nil:
			failures, backoff = 0, firstBackoff
			w.setFailing(0, nil)
			if once {
				return nil
			}
			if !w.cfg.End.IsZero() && !w.state.Watermark.Before(w.cfg.End) && len(w.state.Windows) == 0 {
				return ErrDone
			}
			if err := sleep(ctx, w.untilNextPoll()); err != nil {
				return err
			}
		case retryable(err):
			failures++
			w.setFailing(failures, err)
			if w.cfg.MaxConsecutiveFailures > 0 && failures >= w.cfg.MaxConsecutiveFailures {
				return &GaveUpError{Failures: failures, Err: err}
			}
			w.log.Warn("window failed, retrying", "wait", backoff, "error", err.Error())
			if err := sleep(ctx, backoff); err != nil {
				return err
			}
			backoff = min(backoff*2, 5*time.Minute)
		default:
			return err
		}
	}
}

// retryable: Graph trouble that outlasted the client's own retries, or a
// Kafka error, may pass; a bad row, a refused token, a broken checkpoint or
// a record larger than the batch size will not.
func retryable(err error) bool {
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	var te *fetch.TokenError
	if errors.As(err, &te) {
		return false
	}
	if fetch.IsPermanent(err) {
		// A redirect, an oversized page, a nextLink loop: the same window
		// fails the same way on every try.
		return false
	}
	var ge *fetch.Error
	if errors.As(err, &ge) {
		return ge.Retryable()
	}
	return !errors.Is(err, fetch.ErrForeignHost) && !errors.Is(err, producer.ErrRecordTooLarge)
}

// GaveUpError ends Run when Config.MaxConsecutiveFailures windows failed
// in a row: the cause (Err, the last failure) outlasted every retry of a
// bounded run.
type GaveUpError struct {
	Failures int
	Err      error
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("gave up after %d consecutive window failures, last: %v", e.Failures, e.Err)
}

// Unwrap returns the last failure.
func (e *GaveUpError) Unwrap() error { return e.Err }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func (w *Walker) load(ctx context.Context) error {
	if w.loaded {
		return nil
	}
	st, err := w.store.Load(ctx, w.cfg.Source.Name)
	if err != nil {
		err = fmt.Errorf("load checkpoint: %w", err)
		var ce *checkpoint.CorruptError
		if errors.As(err, &ce) {
			return &permanentError{err}
		}
		return err
	}
	// Invariant 1: the checkpoint never runs ahead of Kafka — nor of time.
	// Either store's state is checked here, before anything trusts it.
	if err := st.CheckTime(w.cfg.Now()); err != nil {
		return &permanentError{fmt.Errorf("load checkpoint of %s: %w; to repair, stop callstream and run "+
			"callstream checkpoint reset --source %s --to TIME --yes with TIME the last call start time known to be in Kafka "+
			"(an earlier TIME publishes some rows again, never loses any)", w.cfg.Source.Name, err, w.cfg.Source.Name)}
	}
	if err := w.checkRetention(st); err != nil {
		return &permanentError{err}
	}
	w.seen = newIDSet(0)
	if w.cfg.Source.Aggregate {
		w.agg = newAggIndex(len(w.pub.ValueBuffer(0)), w.tenantLen)
		st.Watermark = w.alignDay(st.Watermark)
	}
	w.state = st
	w.mark = st.Watermark
	for _, win := range st.Windows {
		for _, id := range win.IDs {
			w.addSeen(id)
		}
	}
	w.loaded = true
	if !st.Watermark.IsZero() {
		w.log.Info("resuming from checkpoint", "watermark", st.Watermark, "remembered_windows", len(st.Windows), "remembered_ids", w.rememberedIDs())
	}
	return nil
}

// walk does every read that is due now: rescans of remembered windows,
// oldest first, then new windows up to the settle limit.
func (w *Walker) walk(ctx context.Context) error {
	for {
		if err := w.load(ctx); err != nil {
			return err
		}
		now := w.cfg.Now().UTC()
		if sp, ok := w.dueRescan(now); ok {
			// The rescan of the windows right before a due live window is
			// read with it (see fold): a new window, with a rescan inside.
			sp, folded := w.fold(sp, now)
			if err := w.read(ctx, sp, !folded, nil, false); err != nil {
				return err
			}
			continue
		}
		due := w.dueWindows(now, maxAhead)
		switch {
		case len(due) == 0:
			return nil
		case len(due) == 1 || w.cfg.Concurrency <= 1:
			if err := w.read(ctx, due[0], false, nil, false); err != nil {
				return err
			}
		default:
			if err := w.backfill(ctx, due); err != nil {
				return err
			}
		}
	}
}

func (w *Walker) abort(ctx context.Context, batch *producer.Batch) error {
	if err := batch.Abort(ctx); err != nil {
		return w.publishErr(time.Time{}, time.Time{}, err)
	}
	return nil
}

// publishErr wraps a producer error; fencing is permanent.
func (w *Walker) publishErr(from, to time.Time, err error) error {
	err = fmt.Errorf("publish window [%s, %s): %w", fmtT(from), fmtT(to), err)
	if errors.Is(err, producer.ErrFenced) {
		return &permanentError{err}
	}
	return err
}

// stopGrace bounds the wait for acknowledgements of a window that is being
// abandoned.
const stopGrace = 15 * time.Second

func fmtT(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
