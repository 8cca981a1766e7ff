// Package walk owns time: which windows of call start time are read or
// re-read, in what order, which rows are new, and when the checkpoint may
// advance. It is the one place that combines fetch, schemas, producer and
// checkpoint.
//
// Invariants kept here:
//   - windows are half-open [from, to) in UTC; every instant is in one window;
//   - a window's ids are remembered, and its watermark saved, only after
//     Kafka acknowledged every row published from it;
//   - an id remembered in the rescan horizon is never published again;
//   - a bad row — one that cannot be encoded, or whose record would not fit
//     in a record batch — goes to the dead-letter topic with the reason, or
//     stops the walk with an error naming it when there is none: nothing is
//     dropped silently (DESIGN.md Invariant 5).
package walk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

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
}

// Config configures a Walker.
type Config struct {
	Source Source
	// Start is where the first walk begins when there is no checkpoint.
	Start time.Time
	// End, when set, is where walking stops for good.
	End time.Time
	// Window is the width of one window.
	Window time.Duration
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
}

// Walker walks one source. It is not safe for concurrent use; run one per
// source.
type Walker struct {
	cfg   Config
	fetch Fetcher
	pub   Publisher
	store checkpoint.Store
	log   *slog.Logger
	// rowRoom is the most key and value bytes a row's record can carry; a
	// larger row is a bad row (see encode).
	rowRoom int

	state  checkpoint.State
	seen   *idSet
	loaded bool
	open   *openTxn // windows read into a transaction not yet committed

	// mu guards what other goroutines (metrics, health) read while the walk
	// runs.
	mu       sync.Mutex
	stats    Stats
	progress time.Time // when a read last completed
	mark     time.Time // copy of state.Watermark
	failing  int       // windows failed in a row, reset by a walk that succeeds
	lastErr  error     // the last of those failures
}

// New validates cfg and returns a Walker.
func New(cfg Config, f Fetcher, p Publisher, s checkpoint.Store) (*Walker, error) {
	var errs []error
	if cfg.Source.Name == "" || cfg.Source.Function == "" || cfg.Source.Encode == nil {
		errs = append(errs, errors.New("source is incomplete"))
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
	if cfg.SettleDelay < 0 {
		errs = append(errs, errors.New("settle delay must not be negative"))
	}
	for _, a := range cfg.RescanAfter {
		if a <= 0 {
			errs = append(errs, fmt.Errorf("rescan age %s must be positive", a))
		}
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
	return &Walker{cfg: cfg, fetch: f, pub: p, store: s, log: cfg.Logger.With("source", cfg.Source.Name),
		rowRoom: p.MaxValueBytes(cfg.Source.Name, nil)}, nil
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
			if err := sleep(ctx, w.cfg.PollInterval); err != nil {
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
	w.state = st
	w.mark = st.Watermark
	w.seen = newIDSet(0)
	for _, win := range st.Windows {
		for _, id := range win.IDs {
			w.seen.add(id)
		}
	}
	w.loaded = true
	if !st.Watermark.IsZero() {
		w.log.Info("resuming from checkpoint", "watermark", st.Watermark, "remembered_windows", len(st.Windows), "remembered_ids", w.seen.len())
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
		if i, ok := w.dueRescan(now); ok {
			win := w.state.Windows[i]
			if err := w.read(ctx, win.From, win.To, true, nil, false); err != nil {
				return err
			}
			continue
		}
		due := w.dueWindows(now, maxAhead)
		switch {
		case len(due) == 0:
			return nil
		case len(due) == 1 || w.cfg.Concurrency <= 1:
			if err := w.read(ctx, due[0].from, due[0].to, false, nil, false); err != nil {
				return err
			}
		default:
			if err := w.backfill(ctx, due); err != nil {
				return err
			}
		}
	}
}

// maxAhead bounds how many due windows one backfill round plans; rescans
// that fall due meanwhile wait at most that long.
const maxAhead = 256

type span struct{ from, to time.Time }

// dueWindows lists up to n consecutive new windows that are complete and
// settled, starting at the cursor.
func (w *Walker) dueWindows(now time.Time, n int) []span {
	var out []span
	cur := w.cursor()
	for len(out) < n {
		from, to, ok := w.windowAt(cur, now)
		if !ok {
			break
		}
		out = append(out, span{from, to})
		cur = to
	}
	return out
}

// backfill reads a run of due windows, fetching up to Concurrency of them
// at once while publishing and checkpointing strictly in window order, so
// the watermark only ever advances over a contiguous prefix. At most
// Concurrency windows are held in memory, fetched but not yet published.
func (w *Walker) backfill(ctx context.Context, due []span) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	results := make([]chan *prefetched, len(due))
	for i := range results {
		results[i] = make(chan *prefetched, 1)
	}
	slots := make(chan struct{}, w.cfg.Concurrency)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, sp := range due {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] <- w.prefetch(ctx, sp.from, sp.to)
			}()
		}
	}()
	// Exactly-once, consecutive windows that are already fetched share one
	// transaction (see openTxn).
	_, chain := w.store.(checkpoint.TxnStore)
	chain = chain && w.pub.Transactional()
	defer w.dropOpen(ctx) // only after a failure is a transaction left open
	var next *prefetched
	for i, sp := range due {
		pre := next
		next = nil
		if pre == nil {
			select {
			case pre = <-results[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		more := false
		if chain && i+1 < len(due) && pre.err == nil && (w.open == nil || len(w.open.windows)+1 < maxTxnWindows && w.open.rows < maxTxnRows) {
			select {
			case next = <-results[i+1]:
				more = next.err == nil
			default:
			}
		}
		err := w.read(ctx, sp.from, sp.to, false, pre, more)
		<-slots
		if err != nil {
			return err
		}
	}
	return nil
}

// prefetched is a window read ahead of its turn, each row already encoded
// (out of the fetch client's reused buffers), so that parsing and encoding
// overlap with the publishing of the windows before it. Which rows are new
// is still decided in window order, by read.
type prefetched struct {
	pages   [][]encoded // per page, per row
	numbers []int       // the pages' numbers
	stats   fetch.Stats
	err     error
}

// encoded is the outcome of Source.Encode for one row: its value, id and
// key in a valueArena, or the error and a copy of the row for the
// dead-letter topic.
type encoded struct {
	enc Encoded
	err error
	raw []byte
}

// encode runs Source.Encode over row i of p, which aliases the fetch
// client's page buffer, and keeps what the row became in values.
//
// A row whose record would not fit in a record batch is a bad row like one
// that cannot be encoded: the client would refuse it, and the walk would
// stop at it forever. It is decided here, while the row's bytes are still
// at hand for the dead-letter topic, and costs one comparison per row.
func (w *Walker) encode(p fetch.Page, i int, values *valueArena) encoded {
	raw := p.Rows[i]
	var scan []jsonscan.Member
	if p.Scans != nil {
		scan = p.Scans[i]
	}
	enc, err := w.cfg.Source.Encode(raw, scan, values.next(len(raw)))
	if err == nil && len(enc.Key)+len(enc.Value) > w.rowRoom {
		err = &producer.RecordTooLargeError{Bytes: len(enc.Key) + len(enc.Value), Max: w.rowRoom}
	}
	if err != nil {
		return encoded{err: err, raw: bytes.Clone(raw)}
	}
	return encoded{enc: values.own(enc)}
}

func (w *Walker) prefetch(ctx context.Context, from, to time.Time) *prefetched {
	pre := &prefetched{}
	var values valueArena
	values.prefix = w.pub.ValueBuffer(0)
	pre.stats, pre.err = w.fetch.Calls(ctx, w.cfg.Source.Function, from, to, func(p fetch.Page) error {
		encs := make([]encoded, len(p.Rows))
		for i := range p.Rows {
			encs[i] = w.encode(p, i, &values)
		}
		pre.pages = append(pre.pages, encs)
		pre.numbers = append(pre.numbers, p.Number)
		// A page is a millisecond or two of encoding. Yielding between
		// pages lets the Kafka client's goroutines that became ready
		// meanwhile (responses, the next request) run now rather than at
		// the scheduler's 10 ms preemption; see producer.yieldEvery.
		runtime.Gosched()
		return nil
	})
	return pre
}

// calls runs onPage over the window's encoded pages: prefetched ones, or
// fetched and encoded now, into values.
func (w *Walker) calls(ctx context.Context, from, to time.Time, pre *prefetched, values *valueArena, onPage func(page int, encs []encoded) error) (fetch.Stats, error) {
	if pre == nil {
		var encs []encoded
		return w.fetch.Calls(ctx, w.cfg.Source.Function, from, to, func(p fetch.Page) error {
			encs = encs[:0]
			for i := range p.Rows {
				encs = append(encs, w.encode(p, i, values))
			}
			return onPage(p.Number, encs)
		})
	}
	for i, encs := range pre.pages {
		if err := onPage(pre.numbers[i], encs); err != nil {
			return pre.stats, err
		}
	}
	return pre.stats, pre.err
}

// cursor is where the next new window starts.
func (w *Walker) cursor() time.Time {
	if !w.state.Watermark.IsZero() {
		return w.state.Watermark
	}
	return w.cfg.Start
}

// windowAt returns the new window starting at from if it is complete and
// settled. Windows never extend past End.
func (w *Walker) windowAt(from, now time.Time) (_, to time.Time, ok bool) {
	to = from.Add(w.cfg.Window)
	if !w.cfg.End.IsZero() {
		if !from.Before(w.cfg.End) {
			return from, to, false
		}
		if to.After(w.cfg.End) {
			to = w.cfg.End
		}
	}
	if to.After(now.Add(-w.cfg.SettleDelay)) {
		return from, to, false
	}
	return from, to, true
}

// dueRescan finds the oldest remembered window that has reached a rescan
// age it had not reached when it was last read.
func (w *Walker) dueRescan(now time.Time) (int, bool) {
	for i, win := range w.state.Windows {
		if win.To.After(w.state.Watermark) {
			continue // ids of a partial read of a new window, not a rescan
		}
		for _, age := range w.cfg.RescanAfter {
			at := win.To.Add(age)
			if !now.Before(at) && win.ReadAt.Before(at) {
				return i, true
			}
		}
	}
	return 0, false
}

// needsRescan reports whether a window read at readAt has a rescan ahead.
func (w *Walker) needsRescan(to, readAt time.Time) bool {
	for _, age := range w.cfg.RescanAfter {
		if readAt.Before(to.Add(age)) {
			return true
		}
	}
	return false
}

// read fetches [from, to) whole, publishes the rows whose ids are new (and
// dead-letters the ones that cannot be encoded), and settles the window:
//   - exactly-once (transactional producer and a TxnStore): the rows and the
//     new checkpoint commit in one transaction, or neither does;
//   - at-least-once: Kafka acknowledges every row, and only then is the
//     checkpoint saved.
//
// With more (exactly-once only), the window's transaction is left open for
// the next read to continue (see openTxn); the window is settled, and
// counted, when a later read commits.
func (w *Walker) read(ctx context.Context, from, to time.Time, rescan bool, pre *prefetched, more bool) error {
	started := w.cfg.Now().UTC()
	var batch *producer.Batch
	var err error
	if w.open != nil {
		batch, err = w.open.batch.Next(w.cfg.Source.Name, from, to)
	} else {
		batch, err = w.pub.Begin(w.cfg.Source.Name, from, to)
	}
	if err != nil {
		w.dropOpen(ctx)
		return w.publishErr(from, to, err)
	}
	// Records are handed to Kafka with a context that outlives a stop by
	// stopGrace: a SIGTERM must not fail records the client still buffers
	// while others of the window are acknowledged, or the acknowledged
	// ones could not be remembered and would be published again. An open
	// transaction's records keep its context until it is settled.
	var pctx context.Context
	var release func()
	if w.open != nil {
		pctx, release = w.open.pctx, w.open.release
	} else {
		c, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })
		pctx, release = c, func() { stopAfter(); cancel() }
	}
	keepOpen := false
	defer func() {
		if !keepOpen {
			release()
		}
	}()
	// A prefetched window's size is known: size the window's id lists for
	// it rather than growing them row by row.
	rows := 0
	if pre != nil {
		for _, p := range pre.pages {
			rows += len(p)
		}
	}
	newIDs := make([]string, 0, rows)
	pending := newIDSet(rows)
	fetched, dups, dead := 0, 0, 0
	var values valueArena
	values.prefix = w.pub.ValueBuffer(0)
	onPage := func(page int, encs []encoded) error {
		for i := range encs {
			fetched++
			enc, err := encs[i].enc, encs[i].err
			if err != nil {
				if w.cfg.DeadLetterTopic == "" {
					return &permanentError{fmt.Errorf("row %d of page %d of window [%s, %s) is a bad row and no dead-letter topic is set (KAFKA_DLQ_TOPIC): %w",
						fetched, page, fmtT(from), fmtT(to), err)}
				}
				// A bad row is remembered by a hash of its bytes, so that
				// rescans do not dead-letter it again.
				raw := encs[i].raw
				enc.ID = deadLetterID(raw)
				k := keyOf(enc.ID)
				if w.known(k, pending) {
					dups++
					continue
				}
				pending.addKey(k)
				newIDs = append(newIDs, enc.ID)
				dead++
				batch.AddRecord(pctx, w.deadLetter(raw, err))
				w.log.Warn("row sent to the dead-letter topic", "topic", w.cfg.DeadLetterTopic,
					"window_from", fmtT(from), "page", page, "reason", err.Error())
				continue
			}
			k := keyOf(enc.ID)
			if w.known(k, pending) {
				dups++
				continue
			}
			pending.addKey(k)
			newIDs = append(newIDs, enc.ID)
			batch.Add(pctx, enc.Key, enc.Value)
		}
		return nil
	}
	fst, ferr := w.calls(ctx, from, to, pre, &values, onPage)
	w.count(func(s *Stats) {
		s.Pages += fst.Pages
		s.Requests += fst.Requests
		s.Retries += fst.Retries
		s.Throttled += fst.Throttled
	})
	txnStore, exactlyOnce := w.store.(checkpoint.TxnStore)
	exactlyOnce = exactlyOnce && w.pub.Transactional()
	if ferr != nil {
		w.count(func(s *Stats) { s.Failures++ })
		if exactlyOnce {
			// Nothing of the window (nor of the windows before it in the
			// same transaction) becomes visible; the next try starts clean.
			err := errors.Join(fmt.Errorf("read window [%s, %s): %w", fmtT(from), fmtT(to), ferr), w.abort(ctx, batch))
			w.dropOpen(ctx)
			return err
		}
		return w.partial(ctx, batch, from, to, newIDs, ferr)
	}

	res := windowRead{from: from, to: to, started: started, rescan: rescan, pages: fst.Pages, throttled: fst.Throttled,
		fetched: fetched, published: len(newIDs) - dead, dups: dups, dead: dead}
	if exactlyOnce {
		if !rescan {
			w.state.Watermark = to
		}
		w.remember(from, to, started, newIDs)
		w.evict()
		if w.open == nil {
			w.open = &openTxn{pctx: pctx, release: release}
		}
		w.open.batch = batch
		w.open.windows = append(w.open.windows, res)
		w.open.rows += fetched
		if more {
			keepOpen = true
			return nil
		}
		group := w.open.windows
		w.open = nil
		recs, err := txnStore.Stage(w.cfg.Source.Name, w.state)
		if err == nil {
			err = batch.Commit(ctx, recs...)
		} else {
			err = errors.Join(err, batch.Abort(ctx))
		}
		if err != nil {
			w.count(func(s *Stats) { s.Failures++ })
			// The in-memory state ran ahead of what is committed: re-read
			// the truth before the next window.
			w.loaded = false
			return w.publishErr(group[0].from, to, err)
		}
		txnStore.Committed(w.cfg.Source.Name)
		for _, r := range group {
			w.settled(r)
		}
		return nil
	}

	if err := batch.Commit(ctx); err != nil {
		w.count(func(s *Stats) { s.Failures++ })
		return w.publishErr(from, to, err)
	}
	if !rescan {
		w.state.Watermark = to
	}
	w.remember(from, to, started, newIDs)
	w.evict()
	if err := w.save(ctx); err != nil {
		return err
	}
	w.settled(res)
	return nil
}

// windowRead is what one read of a window found, kept until the window is
// settled.
type windowRead struct {
	from, to, started        time.Time
	rescan                   bool
	pages, throttled         int
	fetched, published, dups int
	dead                     int
}

// openTxn is an exactly-once transaction a backfill keeps open across
// consecutive windows that are already fetched: the last window's batch
// (chained to the others' with producer.Batch.Next) and what each window
// read. One commit then settles them all, with the checkpoint of the last;
// the windows' in-memory state is applied as they are read, and re-read
// from the store if the commit fails.
type openTxn struct {
	batch   *producer.Batch
	windows []windowRead
	rows    int
	// pctx is the context the transaction's records are produced with;
	// release ends it once the transaction is settled.
	pctx    context.Context
	release func()
}

// Bounds of one open transaction: the work redone after a failure, and the
// time records wait to become visible.
const (
	maxTxnWindows = 8
	maxTxnRows    = 50_000
)

// dropOpen abandons the open transaction, if any, after a failure: the
// transaction is aborted (by the caller's Abort or here) and the in-memory
// state of its windows, applied ahead of the commit, is re-read.
func (w *Walker) dropOpen(ctx context.Context) {
	if w.open == nil {
		return
	}
	_ = w.abort(ctx, w.open.batch)
	w.open.release()
	w.open = nil
	w.loaded = false
}

// settled counts a window whose rows are durable and whose checkpoint says
// so, so that the counters never run ahead of Kafka.
func (w *Walker) settled(r windowRead) {
	w.mu.Lock()
	w.stats.Fetched += r.fetched
	w.stats.Published += r.published
	w.stats.DeadLettered += r.dead
	w.stats.Duplicates += r.dups
	if r.rescan {
		w.stats.Rescans++
		w.stats.Late += r.published
	} else {
		w.stats.Windows++
	}
	w.mark = w.state.Watermark
	w.progress = w.cfg.Now()
	w.mu.Unlock()
	if w.cfg.OnRead != nil {
		w.cfg.OnRead(r.rescan, w.cfg.Now().Sub(r.started))
	}
	kind := "window"
	if r.rescan {
		kind = "rescan"
	}
	w.log.Info(kind+" published", "from", fmtT(r.from), "to", fmtT(r.to), "pages", r.pages,
		"rows", r.fetched, "published", r.published, "duplicates", r.dups, "dead_lettered", r.dead,
		"throttled", r.throttled, "took", w.cfg.Now().Sub(r.started).Round(time.Millisecond))
}

// valueArena hands out value buffers carved from large chunks, so that a
// row's Avro value costs no allocation of its own. A chunk is owned by the
// batch its values went to and dropped with it; chunks are not reused, as
// the client may hold the values until the batch is settled.
type valueArena struct {
	prefix []byte // the value framing, copied in front of every value
	buf    []byte
}

// valueChunk is the size of one arena chunk: a few hundred rows.
const valueChunk = 256 << 10

// next returns an empty buffer holding the framing, with room for about
// rawLen bytes of Avro (always less than the row's JSON).
func (a *valueArena) next(rawLen int) []byte {
	need := len(a.prefix) + rawLen
	if cap(a.buf)-len(a.buf) < need {
		a.buf = make([]byte, 0, max(valueChunk, need))
	}
	return append(a.buf[len(a.buf):len(a.buf)], a.prefix...)
}

// keep marks v, the value built in the last buffer from next, as used and
// returns it with its capacity cut, so later values cannot overwrite it. A
// value that outgrew its buffer was reallocated by append and is not in
// the chunk at all.
func (a *valueArena) keep(v []byte) []byte {
	free := a.buf[len(a.buf):cap(a.buf)]
	if len(v) > 0 && len(free) >= len(v) && &free[0] == &v[0] {
		a.buf = a.buf[:len(a.buf)+len(v)]
	}
	return v[:len(v):len(v)]
}

// own keeps enc's value (built in the last buffer from next) and copies its
// id and key, which may alias the row, into the arena behind it. The id is
// a string over arena bytes: a chunk is never written again once carved.
func (a *valueArena) own(enc Encoded) Encoded {
	enc.Value = a.keep(enc.Value)
	n := len(enc.ID) + len(enc.Key)
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(valueChunk, n))
	}
	start := len(a.buf)
	a.buf = append(a.buf, enc.ID...)
	a.buf = append(a.buf, enc.Key...)
	b := a.buf[start:len(a.buf):len(a.buf)]
	if len(enc.ID) > 0 {
		enc.ID = unsafe.String(&b[0], len(enc.ID))
	}
	if enc.Key != nil {
		enc.Key = b[len(enc.ID):] // an empty key stays non-nil: Kafka tells it from a null key
	}
	return enc
}

// known reports whether id was published before or earlier in this read.
func (w *Walker) known(k idKey, pending *idSet) bool {
	return w.seen.hasKey(k) || pending.hasKey(k)
}

// partial handles a failed fetch without transactions. It waits for what
// was handed to Kafka (a stop waits a bounded grace period): acknowledged
// ids are worth remembering, since a retry or a restart then skips them,
// and nothing may still be in flight when the window is tried again.
func (w *Walker) partial(ctx context.Context, batch *producer.Batch, from, to time.Time, newIDs []string, ferr error) error {
	werr := batch.Wait(ctx)
	if ctx.Err() != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
		werr = batch.Wait(wctx)
		cancel()
	}
	ferr = fmt.Errorf("read window [%s, %s): %w", fmtT(from), fmtT(to), ferr)
	if werr != nil || len(newIDs) == 0 {
		return ferr
	}
	// Every row handed over is acknowledged: remember the ids, though not
	// the window as read (a partial read is not a read).
	w.remember(from, to, time.Time{}, newIDs)
	if err := w.save(ctx); err != nil {
		return errors.Join(ferr, err)
	}
	return ferr
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

// Dead-letter headers, beside the source and window headers every record
// of a batch carries. The size and sha256 of the whole raw row let a
// truncated dead letter be identified and matched with Graph's copy.
const (
	HeaderDLQReason    = "callstream.dlq.reason"
	HeaderDLQField     = "callstream.dlq.field"
	HeaderDLQSize      = "callstream.dlq.size"
	HeaderDLQSHA256    = "callstream.dlq.sha256"
	HeaderDLQTruncated = "callstream.dlq.truncated"
)

// deadLetter builds the dead-letter record of raw, a bad row, with the
// reason err. A dead letter always fits in a record batch (Invariant 5:
// nothing is dropped silently — a row too large for Kafka must still be
// accounted for): a raw row larger than the room left by its headers is
// cut to fit, with HeaderDLQTruncated set; HeaderDLQSize and
// HeaderDLQSHA256 always describe the whole row.
func (w *Walker) deadLetter(raw []byte, err error) *kgo.Record {
	field := ""
	var re *schemas.RowError
	if errors.As(err, &re) {
		field = re.Field
	}
	sum := sha256.Sum256(raw)
	headers := []kgo.RecordHeader{
		{Key: HeaderDLQReason, Value: []byte(err.Error())},
		{Key: HeaderDLQField, Value: []byte(field)},
		{Key: HeaderDLQSize, Value: strconv.AppendInt(nil, int64(len(raw)), 10)},
		{Key: HeaderDLQSHA256, Value: hex.AppendEncode(nil, sum[:])},
		{Key: HeaderDLQTruncated, Value: []byte("true")},
	}
	// The room is measured with the truncation header, so the record fits
	// whichever way it goes; the header is dropped when nothing is cut.
	value := raw // a copy of the row, made by encode
	if room := w.pub.MaxValueBytes(w.cfg.Source.Name, headers); len(raw) > room {
		value = raw[:max(room, 0)]
	} else {
		headers = headers[:len(headers)-1]
	}
	return &kgo.Record{Topic: w.cfg.DeadLetterTopic, Value: value, Headers: headers}
}

// deadLetterID identifies a bad row by a hash of its bytes, so that
// rescans do not dead-letter it again.
func deadLetterID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "dlq:" + hex.EncodeToString(sum[:16])
}

// remember merges ids into the window's record; readAt zero keeps the
// window's previous read time (a partial read is not a read).
func (w *Walker) remember(from, to, readAt time.Time, ids []string) {
	at := readAt
	for _, win := range w.state.Windows {
		if at.IsZero() && win.From.Equal(from) && win.To.Equal(to) {
			at = win.ReadAt
		}
	}
	if w.keeps(to, at) {
		ids = ownIDs(ids)
		for _, id := range ids {
			w.seen.add(id)
		}
	} else {
		// evict drops the window at once (a backfill of windows past
		// their last rescan): its ids would be added only to be removed.
		ids = nil
	}
	for i := range w.state.Windows {
		win := &w.state.Windows[i]
		if win.From.Equal(from) && win.To.Equal(to) {
			win.IDs = append(win.IDs, ids...)
			if !readAt.IsZero() {
				win.ReadAt = readAt
			}
			return
		}
	}
	w.state.Upsert(checkpoint.Window{From: from, To: to, ReadAt: readAt, IDs: ids})
}

// evict forgets windows that will not be read again: their ids cannot come
// back through a rescan, so the dedup state stays bounded by the horizon.
func (w *Walker) evict() {
	kept := w.state.Windows[:0]
	for _, win := range w.state.Windows {
		if w.keeps(win.To, win.ReadAt) {
			kept = append(kept, win)
			continue
		}
		for _, id := range win.IDs {
			w.seen.remove(id)
		}
	}
	clear(w.state.Windows[len(kept):])
	w.state.Windows = kept
}

// keeps reports whether evict keeps a window ending at to, read at readAt:
// one still in flight (a partial read of a new window), or with a rescan
// ahead.
func (w *Walker) keeps(to, readAt time.Time) bool {
	return to.After(w.state.Watermark) || w.needsRescan(to, readAt)
}

// ownIDs copies ids into one allocation, so that remembering a window's ids
// for the rescan horizon keeps alive neither the value arenas they were cut
// from nor one allocation per id.
func ownIDs(ids []string) []string {
	n := 0
	for _, id := range ids {
		n += len(id)
	}
	all := make([]byte, 0, n)
	for _, id := range ids {
		all = append(all, id...)
	}
	s := unsafe.String(unsafe.SliceData(all), len(all))
	out := make([]string, len(ids))
	off := 0
	for i, id := range ids {
		out[i] = s[off : off+len(id)]
		off += len(id)
	}
	return out
}

func (w *Walker) save(ctx context.Context) error {
	// The save must not be cut short by a cancelled walk: the rows are
	// acknowledged, and recording that is what avoids duplicates.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.store.Save(sctx, w.cfg.Source.Name, w.state); err != nil {
		return &permanentError{fmt.Errorf("save checkpoint: %w", err)}
	}
	return nil
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
