package checkpoint

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/internal/kread"
)

// DefaultOpenTxnWait is how long a read waits, once it has reached the end
// it set out for, for a transaction holding records of a scope it loads to
// commit or abort. A transaction that committed before the read began has
// its markers written within moments; one still open after this long is of
// a writer that crashed or is not done, and is left out as a
// read_committed consumer leaves it out.
const DefaultOpenTxnWait = 10 * time.Second

// KafkaReader reads the checkpoint topic for many stores: it gives out a
// KafkaStore per scope (Store) and serves their loads together, so that a
// replica whose lanes all load at once reads the topic once, not once per
// lane.
//
// A load joins the next pass over the topic: loads that arrive while a
// pass is running wait for the one after it, and one pass answers every
// load waiting for it. This is what makes the guarantee of Load hold: a
// load returns a state that includes every transaction committed before
// Load was called, since its pass lists the topic's high watermarks only
// after the call, and those transactions' records all lie below them.
//
// A pass reads read_uncommitted and keeps track of transactions itself
// (their commit and abort markers), keeping the records of a transaction
// only once its commit marker is read, and only the records of the scopes
// being loaded (the latest value of each key). So a transaction that is
// open on the same partition — another lane's, another replica's — never
// holds a load back, as it would hold back the last stable offset of a
// read_committed reader; a transaction that holds records of a scope being
// loaded, below the watermarks, is waited for (up to DefaultOpenTxnWait,
// and never past the caller's ctx), since its commit may be what the
// caller needs to see. A transaction is applied whole or not at all, even
// when it straddles the watermarks.
//
// A KafkaReader is safe for concurrent use. Its passes run in goroutines of
// their own, each ending when its read is done or when every load waiting
// for it has given up; it holds no goroutine between passes and needs no
// Close.
type KafkaReader struct {
	cl    *kgo.Client
	topic string

	// openTxnWait is DefaultOpenTxnWait; tests shorten it.
	openTxnWait time.Duration
	// passHook, when set (by tests, before use), runs at the start of each
	// pass, before the watermarks are listed.
	passHook func()
	passes   atomic.Int64

	mu      sync.Mutex
	queued  *pass // the pass new loads join; nil when none is waiting
	running bool  // a pass is reading
}

// NewKafkaReader returns a reader of the checkpoint topic. cl is used only
// to read (with Fetch requests of its own; its isolation level does not
// matter) and may be shared.
func NewKafkaReader(cl *kgo.Client, topic string) *KafkaReader {
	return &KafkaReader{cl: cl, topic: topic, openTxnWait: DefaultOpenTxnWait}
}

// Topic is the checkpoint topic.
func (r *KafkaReader) Topic() string { return r.topic }

// Store returns a store of scope that loads through r. Each call returns a
// new store with views of its own (what it loaded, staged and committed);
// the stores of one reader share only the passes over the topic.
func (r *KafkaReader) Store(scope string) *KafkaStore {
	return &KafkaStore{r: r, scope: scope,
		persisted: map[string]*kafkaView{}, staged: map[string]*kafkaView{}}
}

// ScopeState is the state of one source of one scope, as Scopes finds it
// on the topic.
type ScopeState struct {
	// Scope is the store's scope: a data topic's name, or a tenant's scope
	// (TenantScope; SplitScope takes it apart).
	Scope string
	// Source is the source's name.
	Source string
	// State is what Load of a store of Scope would return for Source.
	State State
	// Err is a *CorruptError when the records of this source cannot be
	// read back (State is then zero); the others are still listed.
	Err error
}

// Scopes returns every (scope, source) with records on the topic, sorted
// by scope then source, each with its state, under the same guarantee as
// Load: every transaction committed before the call is included. A scope
// whose records were all deleted is not listed. The error is about reading
// the topic; a source whose records are corrupt carries its own Err.
func (r *KafkaReader) Scopes(ctx context.Context) ([]ScopeState, error) {
	res, err := r.read(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []ScopeState
	for prefix, latest := range res {
		if len(latest) == 0 {
			continue
		}
		scope, source := splitPrefix(prefix)
		st, _, err := buildState(r.topic, prefix, latest)
		out = append(out, ScopeState{Scope: scope, Source: source, State: st, Err: err})
	}
	slices.SortFunc(out, func(a, b ScopeState) int {
		if c := strings.Compare(a.Scope, b.Scope); c != 0 {
			return c
		}
		return strings.Compare(a.Source, b.Source)
	})
	return out, nil
}

// pass is one read of the topic and the loads waiting for it.
type pass struct {
	want    map[string]bool // prefixes to keep
	all     bool            // keep every prefix (Scopes)
	waiters int

	ctx    context.Context // ends the read when every waiter has gone
	cancel context.CancelFunc
	done   chan struct{}

	// Set before done is closed, read-only after.
	result map[string]map[string][]byte // by prefix: latest value by key
	err    error
}

// read waits for the next pass to read the records of prefix (every prefix
// when prefix is ""), and returns the latest value of each key by prefix.
// The maps are shared by every waiter of the pass: read-only.
func (r *KafkaReader) read(ctx context.Context, prefix string) (map[string]map[string][]byte, error) {
	r.mu.Lock()
	p := r.queued
	if p == nil {
		pctx, cancel := context.WithCancel(context.Background())
		p = &pass{want: map[string]bool{}, ctx: pctx, cancel: cancel, done: make(chan struct{})}
		r.queued = p
	}
	if prefix == "" {
		p.all = true
	} else {
		p.want[prefix] = true
	}
	p.waiters++
	if !r.running {
		r.startLocked()
	}
	r.mu.Unlock()

	select {
	case <-p.done:
		if p.err != nil {
			return nil, p.err
		}
		return p.result, nil
	case <-ctx.Done():
		r.mu.Lock()
		p.waiters--
		if p.waiters == 0 {
			p.cancel() // nobody waits for it any more
			if r.queued == p {
				r.queued = nil
			}
		}
		r.mu.Unlock()
		return nil, fmt.Errorf("read checkpoint topic %s: gave up before the read ended (it waits for open transactions of the lanes it loads): %w",
			r.topic, context.Cause(ctx))
	}
}

// startLocked starts the queued pass. r.mu is held.
func (r *KafkaReader) startLocked() {
	p := r.queued
	r.queued = nil
	r.running = true
	go r.run(p)
}

// run reads the topic for p, hands the result to its waiters, and starts
// the pass queued meanwhile, if any.
func (r *KafkaReader) run(p *pass) {
	defer p.cancel()
	r.passes.Add(1)
	if r.passHook != nil {
		r.passHook()
	}
	keep := func(prefix string) bool { return p.all || p.want[prefix] }
	p.result, p.err = r.scan(p.ctx, keep)
	if p.err != nil {
		p.err = fmt.Errorf("read checkpoint topic %s: %w", r.topic, p.err)
	}
	close(p.done)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = false
	if r.queued != nil {
		r.startLocked()
	}
}

// entry is the latest record of a key: its offset (the later one wins, as
// in compaction) and its value, nil for a tombstone.
type entry struct {
	offset int64
	value  []byte
}

// txn is the kept records of one producer's open transaction.
type txn struct {
	first int64 // offset of its first kept record
	recs  []keptRecord
}

type keptRecord struct {
	key, prefix string
	entry
}

// scan reads every partition from its log start to the high watermark
// listed at its start, and on until the transactions holding kept records
// below that watermark have ended (for at most r.openTxnWait once there).
// It returns the latest value of every key whose prefix keep accepts,
// tombstoned keys left out, by prefix.
func (r *KafkaReader) scan(ctx context.Context, keep func(prefix string) bool) (map[string]map[string][]byte, error) {
	t, err := kread.Describe(ctx, r.cl, r.topic)
	if err != nil {
		return nil, err
	}
	latest := map[string]map[string]entry{}
	apply := func(k keptRecord) {
		m := latest[k.prefix]
		if m == nil {
			m = map[string]entry{}
			latest[k.prefix] = m
		}
		if old, ok := m[k.key]; ok && old.offset > k.offset {
			return
		}
		m[k.key] = k.entry
	}
	for _, sp := range t.Spans {
		if err := r.scanPartition(ctx, t, sp, keep, apply); err != nil {
			return nil, err
		}
	}
	out := make(map[string]map[string][]byte, len(latest))
	for prefix, m := range latest {
		vals := make(map[string][]byte, len(m))
		for key, e := range m {
			if e.value != nil {
				vals[key] = e.value
			}
		}
		out[prefix] = vals
	}
	return out, nil
}

func (r *KafkaReader) scanPartition(ctx context.Context, t kread.Topic, sp kread.Span, keep func(string) bool, apply func(keptRecord)) error {
	open := map[int64]*txn{} // by producer id
	var deadline time.Time   // set once the read reaches sp.End with transactions to wait for
	for offset := sp.Start; ; {
		if offset >= sp.End {
			waiting := false
			for _, tx := range open {
				if tx.first < sp.End {
					waiting = true
					break
				}
			}
			if !waiting {
				return nil
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(r.openTxnWait)
			} else if time.Now().After(deadline) {
				// Still open: not committed, as far as anyone can tell.
				return nil
			}
		}
		recs, next, err := kread.FetchUncommitted(ctx, r.cl, t, sp.Partition, offset)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if rec.Attrs.IsControl() {
				tx := open[rec.ProducerID]
				delete(open, rec.ProducerID)
				if tx != nil && isCommit(rec) {
					for _, k := range tx.recs {
						apply(k)
					}
				}
				continue
			}
			prefix, ok := splitKey(string(rec.Key))
			if !ok || !keep(prefix) {
				continue
			}
			// A copy: the record's value shares the fetch's buffer, which
			// keeping it would keep whole.
			k := keptRecord{key: string(rec.Key), prefix: prefix,
				entry: entry{offset: rec.Offset, value: bytes.Clone(rec.Value)}}
			if !rec.Attrs.IsTransactional() {
				apply(k)
				continue
			}
			tx := open[rec.ProducerID]
			if tx == nil {
				tx = &txn{first: rec.Offset}
				open[rec.ProducerID] = tx
			}
			tx.recs = append(tx.recs, k)
		}
		if next > offset {
			offset = next
			continue
		}
		// Nothing new (the broker already waited a moment) or a retriable
		// error: try again shortly.
		select {
		case <-ctx.Done():
			return fmt.Errorf("partition %d at offset %d (high watermark %d when the read began): %w",
				sp.Partition, offset, sp.End, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isCommit says whether a control record is a commit marker: its key is a
// version (int16) and a type (int16), 0 abort, 1 commit.
func isCommit(rec *kgo.Record) bool {
	return len(rec.Key) >= 4 && binary.BigEndian.Uint16(rec.Key[2:4]) == 1
}

// keyRoot starts every key of the store.
const keyRoot = "callstream/"

// splitKey returns the prefix ("callstream/<scope>/<source>/") of a key of
// the store's layout, or false for a key of no store.
func splitKey(key string) (string, bool) {
	if !strings.HasPrefix(key, keyRoot) {
		return "", false
	}
	var prefix string
	if p, ok := strings.CutSuffix(key, "/head"); ok {
		prefix = p + "/"
	} else if i := strings.LastIndex(key, "/w/"); i >= 0 {
		prefix = key[:i+1]
	} else {
		return "", false
	}
	// A scope and a source, neither empty.
	rest := strings.TrimSuffix(strings.TrimPrefix(prefix, keyRoot), "/")
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return "", false
	}
	return prefix, true
}

// splitPrefix takes a prefix from splitKey apart.
func splitPrefix(prefix string) (scope, source string) {
	rest := strings.TrimSuffix(strings.TrimPrefix(prefix, keyRoot), "/")
	i := strings.LastIndexByte(rest, '/')
	return rest[:i], rest[i+1:]
}
