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
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header keys set on every record.
const (
	HeaderSource            = "callstream.source"
	HeaderWindow            = "callstream.window"
	HeaderSchema            = "callstream.schema"
	HeaderSchemaFingerprint = "callstream.schema.fingerprint"
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
	// Logger receives connection notices; nil means slog.Default().
	Logger *slog.Logger
	// Opts are appended to the client options (tests, security settings).
	Opts []kgo.Opt
}

// Producer publishes to one topic. It is safe for concurrent use.
type Producer struct {
	cl       *kgo.Client
	topic    string
	prefix   []byte // Confluent header, or nil
	schemaID int
	headers  []kgo.RecordHeader
	log      *slog.Logger
}

// ErrCompactedTopic is returned for a data topic with cleanup.policy
// compact: rows of one call share a key, so compaction would erase all but
// the last of them.
var ErrCompactedTopic = errors.New("topic is compacted")

// New connects, checks (or creates) the topics and resolves the schema with
// the registry, so that problems stop startup before any record. An unreachable
// cluster is retried with backoff until ConnectTimeout or ctx ends.
func New(ctx context.Context, cfg Config) (*Producer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("producer: no brokers")
	}
	if cfg.Topic == "" {
		return nil, errors.New("producer: no topic")
	}
	if cfg.Schema.Text == "" || cfg.Schema.Name == "" {
		return nil, errors.New("producer: no schema")
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
		kgo.DefaultProduceTopic(cfg.Topic),
		// Both are franz-go defaults; they are spelled out because the
		// delivery guarantee rests on them.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	conn, err := ClientOpts(cfg, log)
	if err != nil {
		return nil, err
	}
	opts = append(opts, conn...)
	opts = append(opts, cfg.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	p := &Producer{cl: cl, topic: cfg.Topic, log: log}
	if err := p.connect(ctx, cfg.ConnectTimeout); err != nil {
		cl.Close()
		return nil, err
	}
	if err := EnsureTopics(ctx, cl, cfg.topicSpecs(), cfg.Topics.Create, log); err != nil {
		cl.Close()
		return nil, err
	}
	if cfg.Registry.URL != "" {
		id, _, err := ResolveSchema(ctx, cfg.Registry, cfg.Topic, cfg.Schema, log)
		if err != nil {
			cl.Close()
			return nil, err
		}
		p.schemaID = id
		p.prefix = binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
	} else {
		p.headers = []kgo.RecordHeader{
			{Key: HeaderSchema, Value: []byte(cfg.Schema.Name)},
			{Key: HeaderSchemaFingerprint, Value: []byte(cfg.Schema.Fingerprint)},
		}
	}
	return p, nil
}

func (p *Producer) connect(ctx context.Context, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := p.cl.Ping(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect to kafka: %w", err)
		}
		p.log.Warn("kafka unreachable, retrying", "attempt", attempt, "wait", wait, "error", err.Error())
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

// Topic is the topic records go to.
func (p *Producer) Topic() string { return p.topic }

// SchemaID is the registry's id of the value schema, 0 without a registry.
func (p *Producer) SchemaID() int { return p.schemaID }

// Client exposes the underlying client, for reading back in tools and tests.
func (p *Producer) Client() *kgo.Client { return p.cl }

// Batch is a set of records in flight whose acknowledgements are awaited
// together, e.g. one window's rows.
type Batch struct {
	p       *Producer
	headers []kgo.RecordHeader
	wg      sync.WaitGroup
	n       atomic.Int64
	errOnce sync.Once
	err     error
}

// Batch starts a batch for the rows of one source and window. Records
// produced through it carry those as headers.
func (p *Producer) Batch(source string, from, to time.Time) *Batch {
	h := make([]kgo.RecordHeader, 0, len(p.headers)+2)
	h = append(h,
		kgo.RecordHeader{Key: HeaderSource, Value: []byte(source)},
		kgo.RecordHeader{Key: HeaderWindow, Value: []byte(from.UTC().Format(time.RFC3339Nano) + "/" + to.UTC().Format(time.RFC3339Nano))},
	)
	h = append(h, p.headers...)
	return &Batch{p: p, headers: h}
}

// ValueBuffer returns a buffer holding the value framing (the registry
// header, or nothing), for the Avro body to be appended to.
func (p *Producer) ValueBuffer(capHint int) []byte {
	b := make([]byte, len(p.prefix), len(p.prefix)+capHint)
	copy(b, p.prefix)
	return b
}

// Add hands one record to the client. value must start with the framing
// from ValueBuffer; both slices are owned by the batch from now on. Add
// blocks while the client's buffer is full, which bounds memory.
func (b *Batch) Add(ctx context.Context, key, value []byte) {
	b.wg.Add(1)
	b.n.Add(1)
	r := &kgo.Record{Key: key, Value: value, Headers: b.headers}
	b.p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
		if err != nil {
			b.errOnce.Do(func() { b.err = err })
		}
		b.wg.Done()
	})
}

// Len is the number of records added.
func (b *Batch) Len() int { return int(b.n.Load()) }

// Wait blocks until every record added is acknowledged by all in-sync
// replicas, or failed, and returns the first failure.
func (b *Batch) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// Records already handed over are still delivered or failed by the
		// client; the caller just stops waiting for them.
		return ctx.Err()
	}
	if b.err != nil {
		return fmt.Errorf("produce to %s: %w", b.p.topic, b.err)
	}
	return nil
}

// Close flushes what is buffered, waiting at most until ctx ends, then
// abandons the rest and closes the client. Abandoned records were never
// acknowledged, so no checkpoint covers them.
func (p *Producer) Close(ctx context.Context) error {
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
