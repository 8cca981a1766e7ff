// Package producer publishes encoded rows to Kafka with franz-go: durably
// (acks=all, idempotent), keyed, with headers naming source and window, and
// framed for a Schema Registry when one is configured.
package producer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Header keys set on every record.
const (
	HeaderSource            = "callstream.source"
	HeaderWindow            = "callstream.window"
	HeaderSchema            = "callstream.schema"
	HeaderSchemaFingerprint = "callstream.schema.fingerprint"
	// HeaderTenant names the tenant a record was read from; the caller
	// sets it through Config.Headers, since the producer does not know
	// tenants.
	HeaderTenant = "tenantId"
)

// Schema is the Avro value schema records are written with.
type Schema struct {
	// Name is the record's full name, e.g.
	// microsoft.graph.callRecords.DirectRoutingLogRow.
	Name string
	// Text is the schema JSON, registered with the Schema Registry.
	Text string
	// Fingerprint identifies the schema in the header written without a
	// registry (the CRC-64-AVRO fingerprint, hex).
	Fingerprint string
}

// Config configures a Producer. Brokers, Topic and Schema are required.
type Config struct {
	Brokers []string
	Topic   string
	Schema  Schema
	// Registry, when its URL is set, makes values use the Confluent wire
	// format (magic byte 0, 4-byte big-endian schema id, Avro body) with the
	// schema resolved by ResolveSchema before the first record. Without it
	// values are plain Avro and the schema is named in headers.
	Registry Registry
	// Security is TLS and SASL for the broker connections.
	Security Security
	// Compression is the batch codec; empty means DefaultCompression.
	Compression Compression
	// DisableIdempotence turns off idempotent writes, for clusters that do
	// not grant IDEMPOTENT_WRITE; retries may then duplicate records.
	DisableIdempotence bool
	// BatchMaxBytes caps an uncompressed record batch; 0 means
	// DefaultBatchMaxBytes. Each topic's max.message.bytes must be at least
	// this.
	BatchMaxBytes int32
	// Preset adapts the client to a managed service; see EventHubs.Apply.
	Preset Preset
	// Topics are the topics checked (and optionally created) at start.
	Topics TopicSettings
	// ClientID names the client to the brokers; default "callstream".
	ClientID string
	// ConnectTimeout bounds how long New keeps retrying an unreachable
	// cluster; 0 means until ctx ends.
	ConnectTimeout time.Duration
	// ConnectAttempts, when positive, makes New give up after this many
	// failed attempts to reach the cluster, however long they took: a
	// bounded run ends with the cause rather than waiting for a broker
	// that is not there. 0 means no limit.
	ConnectAttempts int
	// Logger receives connection notices; nil means slog.Default().
	Logger *slog.Logger
	// TransactionalID, when set, makes every Batch one Kafka transaction:
	// its rows and whatever is passed to Commit become visible to
	// read_committed consumers together, or not at all. A second producer
	// with the same id fences this one (ErrFenced).
	TransactionalID string
	// TransactionTimeout is how long the broker lets a transaction stay
	// open before aborting it; default 60s.
	TransactionTimeout time.Duration
	// OpenTransactions, for a Shared, bounds how many transactions the
	// Shareds given the same channel have open at once (its capacity): a
	// process with many buckets so holds broker connections for the few at
	// work, not for all. nil: no bound.
	OpenTransactions chan struct{}
	// Opts are appended to the client options (tests, security settings).
	Opts []kgo.Opt
	// Headers are static headers set on every record the producer writes,
	// after the source, window and schema headers, e.g. HeaderTenant.
	Headers []kgo.RecordHeader
}

// Producer publishes to one topic. It is safe for concurrent use.
//
// A Producer made by New owns its client. One made by Shared.Lane borrows
// the Shared's client and transaction: see Shared.
type Producer struct {
	cl       *kgo.Client
	topic    string
	prefix   []byte // Confluent header, or nil
	schemaID int
	headers  []kgo.RecordHeader
	log      *slog.Logger
	txn      bool
	// fenced is the producer's own flag, or its Shared's: a fenced client
	// fences every lane on it.
	fenced   *atomic.Bool
	batchMax int32 // the client's batch cap, for ErrRecordTooLarge

	// sh is the Shared a lane belongs to; nil for a Producer made by New.
	sh *Shared
	// closed is closed by a lane's Close, waking its Begin; nil (never
	// ready) for a Producer made by New.
	closed    chan struct{}
	closeOnce sync.Once
}

// ErrRecordTooLarge means a record (a row with its headers) does not fit in
// one record batch: no retry can deliver it, a larger KAFKA_BATCH_MAX_BYTES
// can.
var ErrRecordTooLarge = errors.New("a record is larger than the batch size allows")

// RecordTooLargeError is a record that cannot fit in one record batch of
// the client's batch cap (KAFKA_BATCH_MAX_BYTES), found before it is handed
// to the client: no retry can deliver it. It matches ErrRecordTooLarge
// with errors.Is. It names sizes only, never content.
type RecordTooLargeError struct {
	// Bytes is the size of the record's key and value.
	Bytes int
	// Max is the most key and value bytes a record can carry.
	Max int
}

func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("record of %d bytes exceeds KAFKA_BATCH_MAX_BYTES (at most %d bytes of key and value fit)", e.Bytes, e.Max)
}

// Is makes errors.Is(err, ErrRecordTooLarge) hold, so callers that branch
// on the client's MessageTooLarge (through classify) need not tell the two
// apart.
func (e *RecordTooLargeError) Is(target error) bool { return target == ErrRecordTooLarge }

// Wire sizes behind MaxValueBytes, at their widest: a record batch with no
// records (franz-go's recordBatchOverhead: 4-byte array length and the
// 61-byte v2 header), and one record's framing without its headers — length
// (5), attributes (1), timestamp delta (10), offset delta (5), key and
// value lengths (5 each), header count (5) — rounded up for slack; each
// header adds two varint lengths.
const (
	recordFraming   = 65 + 5 + 1 + 10 + 5 + 5 + 5 + 5 + 27
	headerFraming   = 5 + 5
	maxWindowHeader = 2*35 + 1 // two RFC 3339 instants with nanoseconds and a '/'
)

// MaxValueBytes returns the most bytes of key and value that a record added
// to a batch for source, with headers beside the batch's own, can carry and
// still fit in one record batch of the client's batch cap
// (KAFKA_BATCH_MAX_BYTES). It is conservative by a few dozen bytes: framing
// is counted at its widest and the window header at its longest, so a
// record within it is never refused as too large by the client. The result
// is negative when not even an empty record fits, and math.MaxInt when the
// client reports no cap.
func (p *Producer) MaxValueBytes(source string, headers []kgo.RecordHeader) int {
	if p.batchMax <= 0 {
		return math.MaxInt
	}
	n := int(p.batchMax) - recordFraming
	n -= 2*headerFraming + len(HeaderSource) + len(source) + len(HeaderWindow) + maxWindowHeader
	for _, hs := range [][]kgo.RecordHeader{p.headers, headers} {
		for _, h := range hs {
			n -= headerFraming + len(h.Key) + len(h.Value)
		}
	}
	return n
}

// ErrCompactedTopic is returned for a data topic with cleanup.policy
// compact: rows of one call share a key, so compaction would erase all but
// the last of them.
var ErrCompactedTopic = errors.New("topic is compacted")

// New connects, checks (or creates) the topics and resolves the schema with
// the registry, so that problems stop startup before any record. An unreachable
// cluster is retried with backoff until ConnectTimeout or ctx ends.
func New(ctx context.Context, cfg Config) (*Producer, error) {
	if err := cfg.checkLane(); err != nil {
		return nil, err
	}
	cl, log, err := newClient(ctx, &cfg, kgo.DefaultProduceTopic(cfg.Topic))
	if err != nil {
		return nil, err
	}
	p := &Producer{cl: cl, topic: cfg.Topic, log: log, txn: cfg.TransactionalID != "", fenced: new(atomic.Bool)}
	p.batchMax, _ = cl.OptValue(kgo.ProducerBatchMaxBytes).(int32)
	if err := EnsureTopics(ctx, cl, cfg.topicSpecs(), cfg.Topics.Create, log); err != nil {
		cl.Close()
		return nil, err
	}
	if p.txn {
		// Claiming the transactional id now fences any older instance and
		// aborts its open transaction, before the caller reads the
		// checkpoint: what it reads can then no longer change under it.
		if _, _, err := cl.ProducerID(ctx); err != nil {
			cl.Close()
			return nil, fmt.Errorf("init transactional producer %q: %w", cfg.TransactionalID, err)
		}
	}
	if err := p.frame(ctx, cfg, func(ctx context.Context) (int, error) {
		id, _, err := ResolveSchema(ctx, cfg.Registry, cfg.Topic, cfg.Schema, log)
		return id, err
	}); err != nil {
		cl.Close()
		return nil, err
	}
	return p, nil
}

// checkLane checks the settings of what is written: topic and schema.
func (c Config) checkLane() error {
	if c.Topic == "" {
		return errors.New("producer: no topic")
	}
	if c.Schema.Text == "" || c.Schema.Name == "" {
		return errors.New("producer: no schema")
	}
	return nil
}

// newClient makes and connects the client for cfg's connection settings
// (defaulting ClientID and TransactionTimeout in cfg), with extra options
// before cfg.Opts. It is the one place New and NewShared build a client.
func newClient(ctx context.Context, cfg *Config, extra ...kgo.Opt) (*kgo.Client, *slog.Logger, error) {
	if len(cfg.Brokers) == 0 {
		return nil, nil, errors.New("producer: no brokers")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "callstream"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		// Both are franz-go defaults; they are spelled out because the
		// delivery guarantee rests on them.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	opts = append(opts, extra...)
	if cfg.TransactionalID != "" {
		if cfg.TransactionTimeout <= 0 {
			cfg.TransactionTimeout = time.Minute
		}
		opts = append(opts, kgo.TransactionalID(cfg.TransactionalID), kgo.TransactionTimeout(cfg.TransactionTimeout))
	}
	conn, err := ClientOpts(*cfg, log)
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, conn...)
	opts = append(opts, cfg.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	if err := connect(ctx, cl, log, cfg.ConnectTimeout, cfg.ConnectAttempts); err != nil {
		cl.Close()
		return nil, nil, err
	}
	return cl, log, nil
}

// frame sets the value framing and static headers: the registry's schema
// id (from resolve) when a registry is configured, the schema's name and
// fingerprint as headers otherwise, and cfg.Headers after them.
func (p *Producer) frame(ctx context.Context, cfg Config, resolve func(context.Context) (int, error)) error {
	if cfg.Registry.URL != "" {
		id, err := resolve(ctx)
		if err != nil {
			return err
		}
		p.schemaID = id
		p.prefix = binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
	} else {
		p.headers = []kgo.RecordHeader{
			{Key: HeaderSchema, Value: []byte(cfg.Schema.Name)},
			{Key: HeaderSchemaFingerprint, Value: []byte(cfg.Schema.Fingerprint)},
		}
	}
	p.headers = append(p.headers, cfg.Headers...)
	return nil
}

func connect(ctx context.Context, cl *kgo.Client, log *slog.Logger, timeout time.Duration, attempts int) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := cl.Ping(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect to kafka: %w", err)
		}
		if attempts > 0 && attempt >= attempts {
			return fmt.Errorf("connect to kafka: gave up after %d attempts: %w", attempt, err)
		}
		log.Warn("kafka unreachable, retrying", "attempt", attempt, "wait", wait, "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("connect to kafka: %w", err)
		case <-t.C:
		}
		wait = min(wait*2, 30*time.Second)
	}
}

func topicErr(topics kadm.TopicDetails, topic string) error {
	td, ok := topics[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic %s does not exist: create it (partitions and replication are yours to choose)", topic)
	}
	if td.Err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, td.Err)
	}
	return nil
}

// EnsureCheckpointTopic creates the compacted checkpoint topic if it is
// missing (one partition, the replication of like, the data topic), and
// refuses an existing one that is not compacted: time-based deletion would
// silently lose the checkpoint. It is EnsureTopics for one checkpoint
// topic, always creating, plus a wait until the new topic is in metadata.
func EnsureCheckpointTopic(ctx context.Context, cl *kgo.Client, topic, like string) error {
	adm := kadm.NewClient(cl)
	rf := int16(-1)
	if topics, err := adm.ListTopics(ctx, like); err == nil {
		if td, ok := topics[like]; ok && td.Err == nil {
			for _, p := range td.Partitions {
				rf = int16(len(p.Replicas))
				break
			}
		}
	}
	spec := TopicSpec{Name: topic, Role: CheckpointTopic, Partitions: 1, ReplicationFactor: rf}
	if err := EnsureTopics(ctx, cl, []TopicSpec{spec}, true, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	// A new topic takes a moment to appear in every broker's metadata.
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		topics, err := adm.ListTopics(ctx, topic)
		if err == nil && topicErr(topics, topic) == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for checkpoint topic %s: %w", topic, context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}

// Topic is the topic records go to.
func (p *Producer) Topic() string { return p.topic }

// SchemaID is the registry's id of the value schema, 0 without a registry.
func (p *Producer) SchemaID() int { return p.schemaID }

// Client exposes the underlying client, for reading back in tools and tests.
func (p *Producer) Client() *kgo.Client { return p.cl }

// ErrFenced means another producer with the same transactional id took
// over: this one must stop and never write again.
var ErrFenced = errors.New("producer fenced: another instance with the same transactional id is running")

// Transactional reports whether batches are Kafka transactions.
func (p *Producer) Transactional() bool { return p.txn }

// Batch is a set of records whose delivery is settled together, e.g. one
// window's rows: acknowledged together (at-least-once) or committed as one
// transaction (exactly-once).
type Batch struct {
	p       *Producer
	headers []kgo.RecordHeader
	wg      sync.WaitGroup
	n       atomic.Int64
	errOnce sync.Once
	err     error
	ended   bool
	// prev is the batch before this one in the same transaction (see
	// Next): its records settle with this batch's.
	prev *Batch
	// pending, in a lane of a Shared, are the records added while the
	// batch waits for Commit: a lane takes its turn at the shared
	// transaction only to produce them and commit, so that its Graph reads
	// (between Begin and Commit) never hold the other lanes back.
	pending []*kgo.Record
	// deferred marks such a batch until Commit has its turn.
	deferred bool
	// hold is a lane's turn at its Shared's transaction, passed along
	// the chain by Next and given back when the chain is settled; nil
	// for a Producer made by New.
	hold *txnHold

	// slab holds the records of Add, allocated a few hundred at a time
	// rather than one by one; the client keeps pointers into it until the
	// records are settled, which is no longer than the batch lives.
	slab []kgo.Record
	// promise is shared by every record of the batch, so that producing a
	// record allocates no closure.
	promise func(*kgo.Record, error)
}

// slabSize is how many records the largest slab allocation holds; a
// batch's first slab holds firstSlab and each next one twice the last, so
// the window of a quiet tenant (tens of rows) does not cost 512 records.
const (
	slabSize  = 512
	firstSlab = 32
)

// Begin starts a batch for the rows of one source and window; in
// transactional mode it begins a transaction. Records produced through it
// carry the source and window as headers.
//
// A lane of a Shared does not wait here: its records wait in the batch
// (and its chain, see Next) until Commit, which waits for the Shared's
// transaction — another lane may hold it — until its turn, until the lane
// or the Shared is closed (ErrClosed), until it is fenced, or until
// Commit's context ends. Aborting such a batch just drops its records.
func (p *Producer) Begin(source string, from, to time.Time) (*Batch, error) {
	return p.BeginContext(context.Background(), source, from, to)
}

// BeginContext is Begin; nothing in it waits, for a lane of a Shared
// (whose Commit waits for the turn) or a Producer made by New.
func (p *Producer) BeginContext(ctx context.Context, source string, from, to time.Time) (*Batch, error) {
	if p.fenced.Load() {
		return nil, ErrFenced
	}
	if p.sh != nil {
		// The turn at the transaction is taken by Commit (see pending).
		if p.isClosed() {
			return nil, fmt.Errorf("%w: lane for %s", ErrClosed, p.topic)
		}
		if p.sh.isClosed() {
			return nil, fmt.Errorf("%w: shared producer %q", ErrClosed, p.sh.txnID)
		}
		b := p.newBatch(source, from, to)
		b.deferred = true
		return b, nil
	}
	if p.txn {
		if err := p.cl.BeginTransaction(); err != nil {
			return nil, p.classify(fmt.Errorf("begin transaction: %w", err))
		}
	}
	return p.newBatch(source, from, to), nil
}

// Next ends b without settling it and returns the batch of the following
// window in b's transaction: b's records commit or abort with the last
// batch of the chain, whose Commit or Abort settles the whole transaction,
// and whose Wait waits for them too. Committing several windows at once
// saves a transaction round trip per window and keeps the client busy
// across windows. Next needs a transactional producer.
func (b *Batch) Next(source string, from, to time.Time) (*Batch, error) {
	if !b.p.txn {
		return nil, errors.New("producer: Next needs a transactional producer")
	}
	if b.ended {
		return nil, errors.New("producer: Next on a settled batch")
	}
	if b.p.fenced.Load() {
		return nil, ErrFenced
	}
	if err := b.hold.usable(); err != nil {
		return nil, err
	}
	b.ended = true
	nb := b.p.newBatch(source, from, to)
	nb.prev = b
	nb.hold = b.hold
	nb.deferred = b.deferred
	return nb, nil
}

func (p *Producer) newBatch(source string, from, to time.Time) *Batch {
	h := make([]kgo.RecordHeader, 0, len(p.headers)+2)
	h = append(h,
		kgo.RecordHeader{Key: HeaderSource, Value: []byte(source)},
		kgo.RecordHeader{Key: HeaderWindow, Value: []byte(from.UTC().Format(time.RFC3339Nano) + "/" + to.UTC().Format(time.RFC3339Nano))},
	)
	h = append(h, p.headers...)
	b := &Batch{p: p, headers: h}
	b.promise = func(_ *kgo.Record, err error) {
		if err != nil {
			b.errOnce.Do(func() { b.err = err })
		}
		b.wg.Done()
	}
	return b
}

// ValueBuffer returns a buffer holding the value framing (the registry
// header, or nothing), for the Avro body to be appended to.
func (p *Producer) ValueBuffer(capHint int) []byte {
	b := make([]byte, len(p.prefix), len(p.prefix)+capHint)
	copy(b, p.prefix)
	return b
}

// Add hands one row to the client, for the producer's topic. value must
// start with the framing from ValueBuffer; both slices are owned by the
// batch from now on. Add blocks while the client's buffer is full, which
// bounds memory.
func (b *Batch) Add(ctx context.Context, key, value []byte) {
	if len(b.slab) == cap(b.slab) {
		b.slab = make([]kgo.Record, 0, min(max(2*cap(b.slab), firstSlab), slabSize))
	}
	b.slab = append(b.slab, kgo.Record{Topic: b.p.topic, Key: key, Value: value, Headers: b.headers})
	b.produce(ctx, &b.slab[len(b.slab)-1])
}

// AddRecord hands any record to the client within the batch, e.g. a dead
// letter for another topic. The batch's headers are appended to r's.
func (b *Batch) AddRecord(ctx context.Context, r *kgo.Record) {
	r.Headers = append(r.Headers, b.headers...)
	b.produce(ctx, r)
}

// produce hands r to the client; a record without a topic goes to the
// producer's (a lane's client has no default topic). A lane's record is
// refused once its turn at the transaction was taken from it (see
// txnHold), so that it cannot land in the next lane's transaction.
func (b *Batch) produce(ctx context.Context, r *kgo.Record) {
	if r.Topic == "" {
		r.Topic = b.p.topic
	}
	if b.deferred {
		b.n.Add(1)
		b.pending = append(b.pending, r)
		return
	}
	b.wg.Add(1)
	n := b.n.Add(1)
	if h := b.hold; h != nil {
		h.mu.RLock()
		if h.state == holdRevoked {
			h.mu.RUnlock()
			b.promise(r, errRevoked)
			return
		}
		b.p.cl.Produce(ctx, r, b.promise)
		h.mu.RUnlock()
	} else {
		b.p.cl.Produce(ctx, r, b.promise)
	}
	if n%yieldEvery == 0 {
		runtime.Gosched()
	}
}

// yieldEvery is how many records a batch hands the client between yields
// of the processor. When a record fills a batch, Produce starts franz-go's
// drain goroutine, and a new goroutine waits on the caller's processor
// until the caller blocks — for a walker producing a window from memory,
// a millisecond or more, while the broker connection's goroutine (which
// compresses) has nothing to send. Yielding every 64 records starts it
// within microseconds: +7–17% rows/s through one broker connection, no
// change through three (docs/performance.md).
const yieldEvery = 64

// Len is the number of records added.
func (b *Batch) Len() int { return int(b.n.Load()) }

// Wait blocks until every record added is acknowledged by all in-sync
// replicas, or failed, and returns the first failure. In transactional mode
// acknowledged records are still invisible to read_committed readers until
// Commit.
func (b *Batch) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		// Flushing sends what lingers at once: a window's last records
		// would otherwise wait out ProducerLinger on every partition
		// before the batch could settle.
		_ = b.p.cl.Flush(ctx)
		for c := b; c != nil; c = c.prev {
			c.wg.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Records already handed over are still delivered or failed by the
		// client; the caller just stops waiting for them.
		return ctx.Err()
	}
	for c := b; c != nil; c = c.prev {
		if c.err != nil {
			return b.p.classify(fmt.Errorf("produce to %s: %w", b.p.topic, c.err))
		}
	}
	return nil
}

// Commit settles the batch. The extra records (a checkpoint) are produced
// last; in transactional mode they commit atomically with the rows, and
// without transactions extra must be empty. A nil error means every record
// is durable and, in a transaction, committed: read_committed readers see
// it as soon as the broker has written the commit markers, which on a real
// broker can lag the return by up to about a second.
// On error the transaction is aborted: nothing of it becomes visible.
func (b *Batch) Commit(ctx context.Context, extra ...*kgo.Record) error {
	if !b.p.txn {
		if len(extra) > 0 {
			return errors.New("producer: extra records need a transactional producer")
		}
		b.ended = true
		return b.Wait(ctx)
	}
	if b.deferred {
		if err := b.takeTurn(ctx); err != nil {
			b.ended = true
			return err
		}
	}
	for _, r := range extra {
		b.produce(ctx, r)
	}
	if err := b.Wait(ctx); err != nil {
		return errors.Join(err, b.Abort(ctx))
	}
	b.ended = true
	if h := b.hold; h != nil {
		if hook := b.p.sh.commitHook; hook != nil {
			hook(b.p)
		}
		defer b.p.sh.release(h)
		if err := h.end(); err != nil {
			return fmt.Errorf("commit transaction: %w", err)
		}
	}
	// The commit is not cut short by a cancelled walk: an unconfirmed
	// commit leaves the outcome unknown until the next start.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := b.p.cl.EndTransaction(cctx, kgo.TryCommit); err != nil {
		err = b.p.classify(fmt.Errorf("commit transaction: %w", err))
		if !errors.Is(err, ErrFenced) {
			// The commit's outcome is unknown or it failed: abort so the
			// client can begin again; an already-committed transaction is
			// not undone by this.
			if aerr := b.p.cl.EndTransaction(cctx, kgo.TryAbort); aerr != nil {
				err = errors.Join(err, b.p.classify(fmt.Errorf("abort transaction: %w", aerr)))
			}
		}
		return err
	}
	return nil
}

// Abort abandons the batch: buffered records are dropped and, in
// transactional mode, the transaction is aborted. Without transactions,
// records already sent may still land; they are simply not checkpointed.
func (b *Batch) Abort(ctx context.Context) error {
	if b.ended {
		return nil
	}
	b.ended = true
	if !b.p.txn {
		return nil
	}
	if b.deferred {
		// Nothing was handed to the client: no turn, no transaction.
		for c := b; c != nil; c = c.prev {
			c.pending = nil
		}
		return nil
	}
	if h := b.hold; h != nil {
		defer b.p.sh.release(h)
		if h.end() != nil {
			// The transaction was aborted when the turn was taken.
			return nil
		}
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := b.p.cl.AbortBufferedRecords(actx); err != nil {
		return fmt.Errorf("abort buffered records: %w", err)
	}
	if err := b.p.cl.EndTransaction(actx, kgo.TryAbort); err != nil {
		return b.p.classify(fmt.Errorf("abort transaction: %w", err))
	}
	return nil
}

// takeTurn waits for the lane's turn at its Shared's transaction, begins
// it, and hands the client the records of the whole chain, oldest first.
func (b *Batch) takeTurn(ctx context.Context) error {
	h, err := b.p.sh.acquire(ctx, b.p)
	if err != nil {
		return err
	}
	var chain []*Batch
	for c := b; c != nil; c = c.prev {
		chain = append(chain, c)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		c := chain[i]
		c.hold, c.deferred = h, false
		pending := c.pending
		c.pending = nil
		c.n.Store(0)
		for _, r := range pending {
			c.produce(ctx, r)
		}
	}
	return nil
}

// classify marks fencing errors with ErrFenced and remembers them: a fenced
// producer refuses all further work.
func (p *Producer) classify(err error) error {
	if errors.Is(err, kerr.MessageTooLarge) {
		return fmt.Errorf("%w (%d bytes): raise KAFKA_BATCH_MAX_BYTES (and the topics' max.message.bytes): %w", ErrRecordTooLarge, p.batchMax, err)
	}
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) {
		p.fenced.Store(true)
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return err
}

// Close flushes what is buffered, waiting at most until ctx ends, then
// abandons the rest and closes the client. Abandoned records were never
// acknowledged, so no checkpoint covers them.
//
// A lane's Close leaves the Shared's client open: it wakes the lane's
// Commit waiting for its turn, refuses later Begins with ErrClosed and,
// should the lane still hold the Shared's transaction, aborts that
// transaction and frees it for the other lanes.
func (p *Producer) Close(ctx context.Context) error {
	if p.sh != nil {
		p.closeOnce.Do(func() { close(p.closed) })
		return p.sh.revokeLane(ctx, p)
	}
	err := p.cl.Flush(ctx)
	if err != nil {
		abortCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.cl.AbortBufferedRecords(abortCtx)
		cancel()
	}
	p.cl.Close()
	if err != nil {
		return fmt.Errorf("flush kafka producer: %w", err)
	}
	return nil
}
