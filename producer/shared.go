package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Shared is one transactional client shared by many lanes (Producers made
// by Lane), e.g. every (tenant, source) of one bucket: broker connections
// and transaction coordinator state then grow with the Shareds a process
// holds, not with its lanes.
//
// A client has one transaction at a time, so the lanes take turns: a
// lane's records wait in its batch (across Batch.Next) until the chain's
// Commit, which waits for the transaction, produces them and commits. A
// lane's work between Begin and Commit therefore holds no other lane
// back, and records of one lane are never in another lane's transaction. Fencing is shared too:
// once the client is fenced, every lane's work fails with ErrFenced.
//
// A Shared is safe for concurrent use; its lanes are, as Producers are.
type Shared struct {
	cl       *kgo.Client
	log      *slog.Logger
	txnID    string
	batchMax int32
	// batchCfg is the configured batch cap (0 for the default), which
	// lanes' topics are checked against as New checks its topics.
	batchCfg int32
	fenced   atomic.Bool

	// turn holds one token while no lane holds the transaction; taking it
	// is taking the transaction.
	turn   chan struct{}
	closed chan struct{}
	// slots, when set (Config.OpenTransactions), bounds the transactions
	// open at once across every Shared given the same channel.
	slots     chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	open *txnHold // the lane holding the transaction, nil when none does

	topics  memo[struct{}]
	schemas memo[int]

	// commitHook, set only by tests before any lane commits, is called
	// by a lane's Commit once its records are produced and acknowledged,
	// before the transaction is ended.
	commitHook func(lane *Producer)
}

// ErrClosed means the lane or its Shared was closed (a bucket released,
// a tenant removed) while the lane waited for the Shared's transaction or
// held it: the lane's open transaction, if any, was aborted.
var ErrClosed = errors.New("producer: closed")

// errRevoked fails the records a lane adds after its turn at the
// transaction was taken from it by Close.
var errRevoked = fmt.Errorf("%w: the lane's transaction was aborted when the lane or its shared producer was closed", ErrClosed)

// NewShared connects a transactional client with cfg's connection
// settings: Brokers, Security, Compression, Preset, BatchMaxBytes,
// ClientID, ConnectTimeout, ConnectAttempts, TransactionalID (required),
// TransactionTimeout, Logger and Opts. The settings of what is written
// (Topic, Schema, Registry, Topics, Headers) are each lane's and are
// ignored here; DisableIdempotence is refused, as transactions need
// idempotence.
//
// NewShared does not claim the transactional id: call Claim before
// reading the checkpoints the lanes will continue from.
func NewShared(ctx context.Context, cfg Config) (*Shared, error) {
	if cfg.TransactionalID == "" {
		return nil, errors.New("producer: a shared producer needs a transactional id")
	}
	if cfg.DisableIdempotence {
		return nil, errors.New("producer: a shared producer is transactional and cannot disable idempotence")
	}
	cl, log, err := newClient(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	s := &Shared{
		cl:       cl,
		log:      log.With("transactional_id", cfg.TransactionalID),
		txnID:    cfg.TransactionalID,
		batchCfg: cfg.BatchMaxBytes,
		turn:     make(chan struct{}, 1),
		closed:   make(chan struct{}),
		slots:    cfg.OpenTransactions,
	}
	s.batchMax, _ = cl.OptValue(kgo.ProducerBatchMaxBytes).(int32)
	s.turn <- struct{}{}
	return s, nil
}

// Claim makes the transaction coordinator give this client the
// transactional id now, with a new epoch: whoever held the id before (a
// replica that lost the bucket but does not know it yet) is fenced, and
// its open transaction is aborted. Claim returns once that abort is
// complete — the coordinator answers CONCURRENT_TRANSACTIONS until then,
// and Claim keeps asking until ctx ends — so that checkpoints read after
// it can no longer change under the caller.
//
// The id is claimed once per Shared: a later Claim returns at once
// without a new epoch. To claim a bucket again after losing it, Close the
// Shared and make a new one.
func (s *Shared) Claim(ctx context.Context) error {
	start := time.Now()
	wait := 100 * time.Millisecond
	for {
		// The client's ProducerID sends InitProducerID the first time,
		// retrying CONCURRENT_TRANSACTIONS in place until ctx ends, and
		// keeps the result; a failed attempt is not kept, so asking again
		// asks the coordinator again.
		_, epoch, err := s.cl.ProducerID(ctx)
		if err == nil {
			s.log.Debug("claimed transactional id", "epoch", epoch, "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		err = s.classify(fmt.Errorf("claim transactional id %q: %w", s.txnID, err))
		if ctx.Err() != nil || errors.Is(err, ErrFenced) || !retriable(err) {
			return err
		}
		s.log.Warn("claiming the transactional id failed, retrying", "wait", wait, "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// retriable reports whether asking again may succeed: any failure but a
// broker's non-retriable error (an authorization failure, say).
func retriable(err error) bool {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable || errors.Is(err, kerr.ConcurrentTransactions)
	}
	return true
}

// Lane returns a Producer writing cfg.Topic with cfg.Schema (framed for
// cfg.Registry) and cfg.Headers through the Shared's client and
// transaction. Like New it checks (or creates) the topics of cfg.Topics
// and resolves the schema first; both are remembered per Shared, so many
// lanes on one topic and schema cost one check. cfg's connection
// settings and TransactionalID are ignored: they are the Shared's.
//
// The lane's Close does not close the Shared's client.
func (s *Shared) Lane(ctx context.Context, cfg Config) (*Producer, error) {
	if err := cfg.checkLane(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, fmt.Errorf("%w: shared producer %q", ErrClosed, s.txnID)
	}
	log := cfg.Logger
	if log == nil {
		log = s.log
	}
	cfg.BatchMaxBytes = s.batchCfg
	specs := cfg.topicSpecs()
	if _, err := s.topics.do(ctx, fmt.Sprintf("%t %v", cfg.Topics.Create, specs), func() (struct{}, error) {
		return struct{}{}, EnsureTopics(ctx, s.cl, specs, cfg.Topics.Create, log)
	}); err != nil {
		return nil, err
	}
	p := &Producer{
		cl:       s.cl,
		topic:    cfg.Topic,
		log:      log,
		txn:      true,
		fenced:   &s.fenced,
		batchMax: s.batchMax,
		sh:       s,
		closed:   make(chan struct{}),
	}
	r := cfg.Registry
	key := fmt.Sprintf("%q %q %q %t %q %q", r.URL, r.Username, r.Subject, r.LookupOnly, cfg.Topic, cfg.Schema.Text)
	if err := p.frame(ctx, cfg, func(ctx context.Context) (int, error) {
		return s.schemas.do(ctx, key, func() (int, error) {
			id, _, err := ResolveSchema(ctx, r, cfg.Topic, cfg.Schema, log)
			return id, err
		})
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// Client is the shared client, for readiness checks and reading back.
func (s *Shared) Client() *kgo.Client { return s.cl }

// TransactionalID is the id the Shared's transactions are written with.
func (s *Shared) TransactionalID() string { return s.txnID }

// Fenced reports whether another client claimed the transactional id:
// every lane's work now fails with ErrFenced, and the Shared should be
// closed.
func (s *Shared) Fenced() bool { return s.fenced.Load() }

// Close ends the Shared, e.g. when its bucket is revoked: lanes waiting in
// Commit for their turn wake with ErrClosed, later Begins fail with it, an open
// transaction is aborted (its lane's further records and its Commit fail
// with ErrClosed) or, if its commit is already under way, waited for until
// ctx ends, and the client is closed. Nothing uncommitted becomes visible;
// whatever the new owner claims next starts from the last commit. Close
// may be called more than once; calls after the first return nil.
func (s *Shared) Close(ctx context.Context) error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		close(s.closed)
	})
	if !first {
		return nil
	}
	s.mu.Lock()
	h := s.open
	s.mu.Unlock()
	var err error
	if h != nil {
		err = s.revoke(ctx, h)
		select {
		case <-h.done:
		case <-ctx.Done():
			// A commit outlived ctx: closing the client cuts it short, and
			// the transaction's outcome is settled by whoever claims the
			// id next.
			err = errors.Join(err, fmt.Errorf("close shared producer %q: open transaction not ended: %w", s.txnID, context.Cause(ctx)))
		}
	}
	s.cl.Close()
	return err
}

func (s *Shared) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// classify is Producer.classify for the Shared's own requests.
func (s *Shared) classify(err error) error {
	p := Producer{fenced: &s.fenced, batchMax: s.batchMax}
	return p.classify(err)
}

// The states of a lane's turn at the transaction.
const (
	// holdOpen: the lane may add records and end the transaction.
	holdOpen = iota
	// holdEnding: the lane is committing or aborting; Close waits for it.
	holdEnding
	// holdRevoked: Close aborted the transaction; the lane's records and
	// Commit fail, its Abort is a no-op.
	holdRevoked
)

// txnHold is one lane's turn at the Shared's transaction, from Begin until
// the chain's Commit or Abort returns (or Close takes it).
type txnHold struct {
	lane *Producer
	// mu guards state. Adding a record holds it for reading, so that
	// taking the turn (which holds it for writing) waits for records
	// being handed to the client and refuses later ones: none can land
	// in the next lane's transaction.
	mu    sync.RWMutex
	state int
	// released and done are guarded by the Shared's mu; done is closed
	// when the turn is given back.
	released bool
	done     chan struct{}
}

// usable is nil while the lane may go on with its transaction. A nil hold
// (a Producer made by New) always may.
func (h *txnHold) usable() error {
	if h == nil {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.state == holdRevoked {
		return errRevoked
	}
	return nil
}

// end marks the lane's transaction as being ended by the lane, unless
// Close already aborted it.
func (h *txnHold) end() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == holdRevoked {
		return errRevoked
	}
	h.state = holdEnding
	return nil
}

// acquire waits for the transaction and begins it for lane.
func (s *Shared) acquire(ctx context.Context, lane *Producer) (*txnHold, error) {
	select {
	case <-s.turn:
	case <-s.closed:
		return nil, fmt.Errorf("%w: shared producer %q", ErrClosed, s.txnID)
	case <-lane.closed:
		return nil, fmt.Errorf("%w: lane for %s", ErrClosed, lane.topic)
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the shared transaction: %w", context.Cause(ctx))
	}
	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
		case <-s.closed:
			s.turn <- struct{}{}
			return nil, fmt.Errorf("%w: shared producer %q", ErrClosed, s.txnID)
		case <-lane.closed:
			s.turn <- struct{}{}
			return nil, fmt.Errorf("%w: lane for %s", ErrClosed, lane.topic)
		case <-ctx.Done():
			s.turn <- struct{}{}
			return nil, fmt.Errorf("wait for a transaction slot: %w", context.Cause(ctx))
		}
	}
	// The turn and a close may have been ready together. The hold is
	// registered under mu with the check, so that a Close either is seen
	// here or sees the hold and revokes it.
	h := &txnHold{lane: lane, done: make(chan struct{})}
	s.mu.Lock()
	var err error
	switch {
	case s.isClosed():
		err = fmt.Errorf("%w: shared producer %q", ErrClosed, s.txnID)
	case lane.isClosed():
		err = fmt.Errorf("%w: lane for %s", ErrClosed, lane.topic)
	case s.fenced.Load():
		err = ErrFenced
	default:
		s.open = h
	}
	s.mu.Unlock()
	if err != nil {
		s.freeSlot()
		s.turn <- struct{}{}
		return nil, err
	}
	// Holding h.mu keeps a revoke from ending the transaction before it
	// has begun.
	h.mu.Lock()
	if h.state == holdRevoked {
		err = errRevoked
	} else if berr := s.cl.BeginTransaction(); berr != nil {
		err = s.classify(fmt.Errorf("begin transaction: %w", berr))
	}
	h.mu.Unlock()
	if err != nil {
		s.release(h)
		return nil, err
	}
	return h, nil
}

// release gives the turn back, once.
func (s *Shared) release(h *txnHold) {
	s.mu.Lock()
	if h.released {
		s.mu.Unlock()
		return
	}
	h.released = true
	if s.open == h {
		s.open = nil
	}
	close(h.done)
	s.mu.Unlock()
	s.freeSlot()
	s.turn <- struct{}{}
}

// freeSlot gives back the transaction slot taken by acquire, if any.
func (s *Shared) freeSlot() {
	if s.slots != nil {
		<-s.slots
	}
}

// revoke takes an open transaction from its lane: it is aborted and the
// turn given back. A transaction its lane is already ending is left to it.
func (s *Shared) revoke(ctx context.Context, h *txnHold) error {
	h.mu.Lock()
	if h.state != holdOpen {
		h.mu.Unlock()
		return nil
	}
	h.state = holdRevoked
	h.mu.Unlock()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	if aerr := s.cl.AbortBufferedRecords(actx); aerr != nil {
		err = fmt.Errorf("abort buffered records: %w", aerr)
	} else if aerr := s.cl.EndTransaction(actx, kgo.TryAbort); aerr != nil {
		err = s.classify(fmt.Errorf("abort transaction: %w", aerr))
	}
	s.release(h)
	if err != nil {
		s.log.Warn("aborting the open transaction failed; the next claim of the id aborts it", "error", err.Error())
	}
	return err
}

// revokeLane revokes lane's transaction, if it holds one.
func (s *Shared) revokeLane(ctx context.Context, lane *Producer) error {
	s.mu.Lock()
	h := s.open
	s.mu.Unlock()
	if h == nil || h.lane != lane {
		return nil
	}
	return s.revoke(ctx, h)
}

func (p *Producer) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// memo runs a function once per key among concurrent and later callers,
// remembering successes only: a failure is returned to whoever waited for
// it, and the next caller tries again.
type memo[V any] struct {
	mu sync.Mutex
	m  map[string]*memoEntry[V]
}

type memoEntry[V any] struct {
	done chan struct{}
	v    V
	err  error
}

func (c *memo[V]) do(ctx context.Context, key string, fn func() (V, error)) (V, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*memoEntry[V]{}
	}
	e, ok := c.m[key]
	if !ok {
		e = &memoEntry[V]{done: make(chan struct{})}
		c.m[key] = e
		c.mu.Unlock()
		e.v, e.err = fn()
		if e.err != nil {
			c.mu.Lock()
			delete(c.m, key)
			c.mu.Unlock()
		}
		close(e.done)
		return e.v, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.v, e.err
	case <-ctx.Done():
		var zero V
		return zero, context.Cause(ctx)
	}
}
