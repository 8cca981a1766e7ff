package producer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
)

// rowSchema is a small but valid Avro record schema; the producer only
// registers or names it, it never parses it.
var rowSchema = producer.Schema{
	Name:        "test.callstream.Row",
	Text:        `{"type":"record","name":"Row","namespace":"test.callstream","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}`,
	Fingerprint: "c0ffee0123456789",
}

var compact = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}

func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// uniqueName returns a topic or transactional id that no other test uses.
func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// newProducer creates a producer on kc with cfg (Brokers, Schema, Logger and
// ConnectTimeout filled in when empty) and closes it when the test ends.
func newProducer(tb testing.TB, kc *kafkatest.Cluster, cfg producer.Config) *producer.Producer {
	tb.Helper()
	p, err := tryNew(tb, kc, cfg)
	if err != nil {
		tb.Fatalf("producer.New: %v", err)
	}
	return p
}

func tryNew(tb testing.TB, kc *kafkatest.Cluster, cfg producer.Config) (*producer.Producer, error) {
	tb.Helper()
	if cfg.Brokers == nil {
		cfg.Brokers = kc.Brokers
	}
	if cfg.Schema == (producer.Schema{}) {
		cfg.Schema = rowSchema
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	p, err := producer.New(testCtx(tb), cfg)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p, nil
}

var (
	winFrom = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	winTo   = winFrom.Add(time.Hour)
)

// row is one record the tests add: a key and the Avro body after the
// framing.
type row struct{ key, body string }

func rows(prefix string, n int) []row {
	out := make([]row, n)
	for i := range out {
		out[i] = row{key: fmt.Sprintf("%s-key-%03d", prefix, i), body: fmt.Sprintf("%s-body-%03d", prefix, i)}
	}
	return out
}

// addRows adds rs to b with the producer's framing.
func addRows(ctx context.Context, p *producer.Producer, b *producer.Batch, rs []row) {
	for _, r := range rs {
		v := append(p.ValueBuffer(len(r.body)), r.body...)
		b.Add(ctx, []byte(r.key), v)
	}
}

// readCommitted waits until no transaction is pending on topic (its last
// stable offsets reach its high watermarks), then reads it read_committed.
// A real broker answers EndTxn before it has written the transaction
// markers to the partitions; until they are written, read_committed readers
// stop short of the committed records.
func readCommitted(tb testing.TB, kc *kafkatest.Cluster, topic string) []*kgo.Record {
	tb.Helper()
	ctx := testCtx(tb)
	adm := kadm.NewClient(kc.Client(tb))
	for start, tries := time.Now(), 0; ; tries++ {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			tb.Fatal(err)
		}
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = stable.Error()
		}
		if err != nil {
			tb.Fatal(err)
		}
		settled := true
		ends.Each(func(o kadm.ListedOffset) {
			if so, ok := stable.Lookup(o.Topic, o.Partition); !ok || so.Offset != o.Offset {
				settled = false
			}
		})
		if settled {
			if tries > 0 {
				tb.Logf("%s: transaction markers written %v after the first look", topic, time.Since(start).Round(time.Millisecond))
			}
			return kc.ReadAll(tb, topic, true)
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("%s: the last stable offsets do not reach the high watermarks", topic)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func keys(recs []*kgo.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, string(r.Key))
	}
	slices.Sort(out)
	return out
}

func rowKeys(rss ...[]row) []string {
	var out []string
	for _, rs := range rss {
		for _, r := range rs {
			out = append(out, r.key)
		}
	}
	slices.Sort(out)
	return out
}

func TestNewRefusesBadTopics(t *testing.T) {
	kc := kafkatest.New(t)
	missing := uniqueName("missing")
	deleted := kc.Topic(t, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")})
	deleted2 := kc.Topic(t, 1, nil)
	compacted := kc.Topic(t, 1, compact)
	both := kc.Topic(t, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact,delete")})

	tests := []struct {
		name       string
		topic      string
		topics     producer.TopicSettings
		wantErr    bool
		wantInErr  string
		wantTarget error
	}{
		{name: "missing topic", topic: missing, wantErr: true, wantInErr: missing},
		{name: "compacted topic", topic: compacted, wantErr: true, wantInErr: compacted, wantTarget: producer.ErrCompactedTopic},
		{name: "compact,delete topic", topic: both, wantErr: true, wantInErr: both, wantTarget: producer.ErrCompactedTopic},
		{name: "missing dead-letter topic", topic: deleted, topics: producer.TopicSettings{DeadLetter: missing}, wantErr: true, wantInErr: missing},
		{name: "compacted dead-letter topic", topic: deleted, topics: producer.TopicSettings{DeadLetter: compacted}, wantErr: true, wantInErr: compacted, wantTarget: producer.ErrCompactedTopic},
		{name: "delete-policy topic", topic: deleted},
		{name: "with dead-letter and checkpoint topics", topic: deleted, topics: producer.TopicSettings{DeadLetter: deleted2, Checkpoint: compacted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tryNew(t, kc, producer.Config{Topic: tt.topic, Topics: tt.topics})
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("New(%s): %v", tt.topic, err)
				}
				if p.Topic() != tt.topic || p.Transactional() || p.SchemaID() != 0 {
					t.Fatalf("Topic %q Transactional %v SchemaID %d", p.Topic(), p.Transactional(), p.SchemaID())
				}
				return
			}
			if err == nil {
				t.Fatalf("New(%s) succeeded, want an error", tt.topic)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not name %s", err, tt.wantInErr)
			}
			if tt.wantTarget != nil && !errors.Is(err, tt.wantTarget) {
				t.Errorf("error %q is not %v", err, tt.wantTarget)
			}
			if tt.wantTarget == nil && errors.Is(err, producer.ErrCompactedTopic) {
				t.Errorf("error %q claims compaction", err)
			}
		})
	}
}

// TestNewChecksOtherTopics: Config.OtherTopics is documented as "must
// exist too".

func TestNewRefusesBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  producer.Config
	}{
		{"no brokers", producer.Config{Topic: "t", Schema: rowSchema}},
		{"no topic", producer.Config{Brokers: []string{"127.0.0.1:1"}, Schema: rowSchema}},
		{"no schema text", producer.Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Schema: producer.Schema{Name: "x"}}},
		{"no schema name", producer.Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Schema: producer.Schema{Text: "{}"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := producer.New(testCtx(t), tt.cfg); err == nil {
				_ = p.Close(testCtx(t))
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestNewGivesUpOnUnreachableCluster(t *testing.T) {
	// Nothing listens on port 1: New retries until ConnectTimeout.
	start := time.Now()
	_, err := producer.New(testCtx(t), producer.Config{
		Brokers: []string{"127.0.0.1:1"}, Topic: "t", Schema: rowSchema,
		ConnectTimeout: 300 * time.Millisecond, Logger: quietLogger(),
	})
	if err == nil {
		t.Fatal("New succeeded against an unreachable cluster")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("New took %v to give up with ConnectTimeout 300ms", d)
	}
}

func TestRecordFraming(t *testing.T) {
	kc := kafkatest.New(t)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	// Another subject first, with an id whose four bytes all differ, so that
	// the framed id shows its byte order and is not a lucky 1.
	reg.SeedSchema("unrelated-value", 1, 0x0a0b0c0d, sr.Schema{Schema: `{"type":"string"}`, Type: sr.TypeAvro})

	// The window is given in a non-UTC zone: the header is UTC.
	cet := time.FixedZone("CET", 3600)
	from := time.Date(2026, 3, 1, 11, 0, 0, 500, cet)
	to := from.Add(90 * time.Minute)
	wantWindow := "2026-03-01T10:00:00.0000005Z/2026-03-01T11:30:00.0000005Z"

	for _, tt := range []struct {
		name     string
		registry bool
	}{
		{"schema registry", true},
		{"no registry", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topic := kc.Topic(t, 2, nil)
			cfg := producer.Config{Topic: topic}
			if tt.registry {
				cfg.Registry = producer.Registry{URL: reg.URL()}
			}
			p := newProducer(t, kc, cfg)
			ctx := testCtx(t)

			var wantID int
			if tt.registry {
				ss, ok := reg.GetSchema(topic+"-value", 1)
				if !ok {
					t.Fatalf("no schema registered under %s-value", topic)
				}
				if ss.Schema.Schema != rowSchema.Text || ss.Schema.Type != sr.TypeAvro {
					t.Fatalf("registered %v schema %q, want the Avro schema %q", ss.Schema.Type, ss.Schema.Schema, rowSchema.Text)
				}
				wantID = ss.ID
				if wantID == 0 || p.SchemaID() != wantID {
					t.Fatalf("SchemaID() = %d, registry says %d", p.SchemaID(), wantID)
				}
			} else if p.SchemaID() != 0 {
				t.Fatalf("SchemaID() = %d without a registry", p.SchemaID())
			}

			b, err := p.Begin("direct-routing", from, to)
			if err != nil {
				t.Fatal(err)
			}
			rs := rows("f", 20)
			addRows(ctx, p, b, rs)
			// A key-less, body-less row is framed all the same.
			b.Add(ctx, nil, p.ValueBuffer(0))
			if b.Len() != len(rs)+1 {
				t.Fatalf("Len() = %d, want %d", b.Len(), len(rs)+1)
			}
			if err := b.Commit(ctx); err != nil {
				t.Fatalf("Commit: %v", err)
			}

			recs := kc.ReadAll(t, topic, false)
			if len(recs) != len(rs)+1 {
				t.Fatalf("%d records in %s, want %d", len(recs), topic, len(rs)+1)
			}
			bodies := map[string]string{"": ""}
			for _, r := range rs {
				bodies[r.key] = r.body
			}
			for _, rec := range recs {
				body, ok := bodies[string(rec.Key)]
				if !ok {
					t.Fatalf("unexpected key %q", rec.Key)
				}
				delete(bodies, string(rec.Key))
				if tt.registry {
					wantPrefix := binary.BigEndian.AppendUint32([]byte{0}, uint32(wantID))
					if !bytes.HasPrefix(rec.Value, wantPrefix) {
						t.Fatalf("key %q: value % x does not start with magic 0 and schema id %d (% x)", rec.Key, rec.Value[:min(5, len(rec.Value))], wantID, wantPrefix)
					}
					if got := string(rec.Value[5:]); got != body {
						t.Fatalf("key %q: body %q, want %q", rec.Key, got, body)
					}
				} else if string(rec.Value) != body {
					t.Fatalf("key %q: value %q, want the plain body %q", rec.Key, rec.Value, body)
				}

				wantHeaders := map[string]string{
					producer.HeaderSource: "direct-routing",
					producer.HeaderWindow: wantWindow,
				}
				if !tt.registry {
					wantHeaders[producer.HeaderSchema] = rowSchema.Name
					wantHeaders[producer.HeaderSchemaFingerprint] = rowSchema.Fingerprint
				}
				for k, want := range wantHeaders {
					if got, ok := header(rec, k); !ok || got != want {
						t.Errorf("key %q: header %s = %q (present %v), want %q", rec.Key, k, got, ok, want)
					}
				}
				if tt.registry {
					for _, k := range []string{producer.HeaderSchema, producer.HeaderSchemaFingerprint} {
						if v, ok := header(rec, k); ok {
							t.Errorf("key %q: header %s = %q although the registry names the schema", rec.Key, k, v)
						}
					}
				}
				if len(rec.Headers) != len(wantHeaders) {
					t.Errorf("key %q: %d headers %v, want %d", rec.Key, len(rec.Headers), rec.Headers, len(wantHeaders))
				}
			}
		})
	}
}

func TestAddRecordAppendsBatchHeaders(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	dlq := kc.Topic(t, 1, nil)
	p := newProducer(t, kc, producer.Config{Topic: topic, Topics: producer.TopicSettings{DeadLetter: dlq}})
	ctx := testCtx(t)
	b, err := p.Begin("pstn", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	b.AddRecord(ctx, &kgo.Record{Topic: dlq, Key: []byte("bad-row"), Value: []byte("{}"),
		Headers: []kgo.RecordHeader{{Key: "reason", Value: []byte("unparsable")}}})
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(kc.ReadAll(t, topic, false)); n != 0 {
		t.Fatalf("%d records in the data topic, want 0", n)
	}
	recs := kc.ReadAll(t, dlq, false)
	if len(recs) != 1 {
		t.Fatalf("%d dead letters, want 1", len(recs))
	}
	r := recs[0]
	if string(r.Key) != "bad-row" || string(r.Value) != "{}" {
		t.Fatalf("dead letter %q=%q", r.Key, r.Value)
	}
	for k, want := range map[string]string{"reason": "unparsable", producer.HeaderSource: "pstn"} {
		if got, _ := header(r, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := header(r, producer.HeaderWindow); !ok {
		t.Error("no window header on the dead letter")
	}
}

func TestCommitExtraNeedsTransactions(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	other := kc.Topic(t, 1, nil)
	p := newProducer(t, kc, producer.Config{Topic: topic})
	if p.Transactional() {
		t.Fatal("producer without TransactionalID is transactional")
	}
	ctx := testCtx(t)
	b, err := p.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	addRows(ctx, p, b, rows("r", 3))
	if err := b.Commit(ctx, &kgo.Record{Topic: other, Key: []byte("cp"), Value: []byte("x")}); err == nil {
		t.Fatal("Commit with extra records succeeded on a non-transactional producer")
	}
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(kc.ReadAll(t, other, false)); n != 0 {
		t.Fatalf("the extra record was written (%d records)", n)
	}
}

func TestTransactions(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 3, nil)
	cpTopic := kc.Topic(t, 1, compact)
	p := newProducer(t, kc, producer.Config{Topic: topic, TransactionalID: uniqueName("txn"), Topics: producer.TopicSettings{Checkpoint: cpTopic}})
	if !p.Transactional() {
		t.Fatal("Transactional() = false")
	}
	ctx := testCtx(t)

	// 1. Committed, with an extra (checkpoint) record in the second topic.
	b, err := p.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	committed := rows("committed", 30)
	addRows(ctx, p, b, committed)
	if err := b.Commit(ctx, &kgo.Record{Topic: cpTopic, Key: []byte("cp"), Value: []byte("1")}); err != nil {
		t.Fatalf("Commit: %v", err)
	}

	// 2. Aborted after every record is acknowledged (so the records are in
	// the log, only never committed), with an extra record of its own.
	b, err = p.Begin("s", winTo, winTo.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	aborted := rows("aborted", 25)
	addRows(ctx, p, b, aborted)
	b.AddRecord(ctx, &kgo.Record{Topic: cpTopic, Key: []byte("cp"), Value: []byte("2-aborted")})
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := b.Abort(ctx); err != nil {
		t.Fatalf("second Abort: %v", err)
	}

	// 3. Aborted while records may still be buffered.
	b, err = p.Begin("s", winTo, winTo.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	aborted2 := rows("aborted2", 25)
	addRows(ctx, p, b, aborted2)
	if err := b.Abort(ctx); err != nil {
		t.Fatalf("Abort with buffered records: %v", err)
	}

	// 4. The producer goes on after aborts.
	b, err = p.Begin("s", winTo, winTo.Add(time.Hour))
	if err != nil {
		t.Fatalf("Begin after Abort: %v", err)
	}
	committed2 := rows("committed2", 10)
	addRows(ctx, p, b, committed2)
	if err := b.Commit(ctx, &kgo.Record{Topic: cpTopic, Key: []byte("cp"), Value: []byte("3")}); err != nil {
		t.Fatalf("Commit after Abort: %v", err)
	}

	if got, want := keys(readCommitted(t, kc, topic)), rowKeys(committed, committed2); !slices.Equal(got, want) {
		t.Errorf("read_committed %s: %d keys, want %d (only the committed batches)\ngot  %v\nwant %v", topic, len(got), len(want), got, want)
	}
	var cps []string
	for _, r := range readCommitted(t, kc, cpTopic) {
		cps = append(cps, string(r.Value))
	}
	if !slices.Equal(cps, []string{"1", "3"}) {
		t.Errorf("read_committed %s: %q, want the extra records of the committed batches [1 3]", cpTopic, cps)
	}
	// The aborted rows that reached the broker are in the log: read
	// uncommitted, they are there, so the check above is not vacuous.
	uncommitted := keys(kc.ReadAll(t, topic, false))
	for _, k := range rowKeys(aborted) {
		if _, found := slices.BinarySearch(uncommitted, k); !found {
			t.Fatalf("aborted row %s is not in the log at all; the abort test proves nothing", k)
		}
	}
}

// TestNextChainsWindowsInOneTransaction: batches chained with Next commit
// or abort together, each record keeping its own window's header, and a
// settled batch cannot be continued.
func TestNextChainsWindowsInOneTransaction(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 3, nil)
	cpTopic := kc.Topic(t, 1, compact)
	p := newProducer(t, kc, producer.Config{Topic: topic, TransactionalID: uniqueName("chain"), Topics: producer.TopicSettings{Checkpoint: cpTopic}})
	ctx := testCtx(t)
	win := func(k int) (time.Time, time.Time) {
		return winFrom.Add(time.Duration(k) * time.Hour), winFrom.Add(time.Duration(k+1) * time.Hour)
	}

	// chain adds three windows of rows, one batch each, in one transaction
	// and returns the last batch.
	chain := func(prefix string) (*producer.Batch, []row) {
		var all []row
		from, to := win(0)
		b, err := p.Begin("s", from, to)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			if k > 0 {
				from, to = win(k)
				if b, err = b.Next("s", from, to); err != nil {
					t.Fatal(err)
				}
			}
			rs := rows(fmt.Sprintf("%s-w%d", prefix, k), 10)
			addRows(ctx, p, b, rs)
			all = append(all, rs...)
		}
		return b, all
	}

	aborting, _ := chain("aborted")
	if err := aborting.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := aborting.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	last, committed := chain("committed")
	if err := last.Commit(ctx, &kgo.Record{Topic: cpTopic, Key: []byte("cp"), Value: []byte("3 windows")}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := last.Next("s", winFrom, winTo); err == nil {
		t.Error("Next on a committed batch succeeded")
	}

	recs := readCommitted(t, kc, topic)
	if got, want := keys(recs), rowKeys(committed); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %d keys, want the %d of the committed chain\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for _, r := range recs {
		k := int(string(r.Key)[len("committed-w")] - '0')
		from, to := win(k)
		want := from.Format(time.RFC3339Nano) + "/" + to.Format(time.RFC3339Nano)
		got := ""
		for _, h := range r.Headers {
			if h.Key == producer.HeaderWindow {
				got = string(h.Value)
			}
		}
		if got != want {
			t.Errorf("record %s has window header %q, want %q", r.Key, got, want)
		}
	}
	if n := len(readCommitted(t, kc, cpTopic)); n != 1 {
		t.Errorf("%d checkpoint records committed, want 1", n)
	}

	plain := newProducer(t, kc, producer.Config{Topic: topic})
	b, err := plain.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Next("s", winTo, winTo.Add(time.Hour)); err == nil {
		t.Error("Next without transactions succeeded")
	}
}

// TestRecordTooLargeNamesTheSetting: a record over the batch size fails
// with ErrRecordTooLarge, naming KAFKA_BATCH_MAX_BYTES, instead of a bare
// Kafka error that looks worth retrying.
func TestRecordTooLargeNamesTheSetting(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	p := newProducer(t, kc, producer.Config{Topic: topic, BatchMaxBytes: 4096})
	ctx := testCtx(t)
	b, err := p.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	b.Add(ctx, []byte("k"), append(p.ValueBuffer(0), make([]byte, 8192)...))
	err = b.Commit(ctx)
	if !errors.Is(err, producer.ErrRecordTooLarge) || !strings.Contains(err.Error(), "KAFKA_BATCH_MAX_BYTES") || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("Commit of an 8 KiB record with a 4 KiB batch size: %v", err)
	}
}

// TestCommitFailureCommitsNothing: when a record of the batch cannot be
// delivered, Commit fails and none of the batch's rows become visible.
func TestCommitFailureCommitsNothing(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 2, nil)
	p := newProducer(t, kc, producer.Config{Topic: topic, TransactionalID: uniqueName("txn"),
		Opts: []kgo.Opt{kgo.UnknownTopicRetries(1)}})
	ctx := testCtx(t)

	b, err := p.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	addRows(ctx, p, b, rows("doomed", 10))
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	missing := uniqueName("no-such-topic")
	err = b.Commit(ctx, &kgo.Record{Topic: missing, Key: []byte("cp"), Value: []byte("x")})
	if err == nil {
		t.Fatalf("Commit with a record for the missing topic %s succeeded", missing)
	}
	if errors.Is(err, producer.ErrFenced) {
		t.Fatalf("Commit error %v claims fencing", err)
	}
	if got := readCommitted(t, kc, topic); len(got) != 0 {
		t.Fatalf("%d rows of the failed batch are visible read_committed", len(got))
	}

	// The producer is usable again.
	b, err = p.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatalf("Begin after a failed Commit: %v", err)
	}
	ok := rows("ok", 5)
	addRows(ctx, p, b, ok)
	if err := b.Commit(ctx); err != nil {
		t.Fatalf("Commit after a failed Commit: %v", err)
	}
	if got, want := keys(readCommitted(t, kc, topic)), rowKeys(ok); !slices.Equal(got, want) {
		t.Fatalf("read_committed %v, want %v", got, want)
	}
}

func TestFencing(t *testing.T) {
	// Each case: the first producer does before() before the second one is
	// created, then after() must fail with ErrFenced.
	type step func(ctx context.Context, t *testing.T, p *producer.Producer, b **producer.Batch) error
	begin := func(ctx context.Context, t *testing.T, p *producer.Producer, b **producer.Batch) error {
		var err error
		*b, err = p.Begin("s", winFrom, winTo)
		return err
	}
	addWait := func(ctx context.Context, t *testing.T, p *producer.Producer, b **producer.Batch) error {
		addRows(ctx, p, *b, rows(t.Name()+"-zombie", 10))
		return (*b).Wait(ctx)
	}
	commit := func(ctx context.Context, t *testing.T, p *producer.Producer, b **producer.Batch) error {
		return (*b).Commit(ctx, &kgo.Record{Key: []byte("zombie-extra"), Value: []byte("x")})
	}
	commitNoExtra := func(ctx context.Context, t *testing.T, p *producer.Producer, b **producer.Batch) error {
		return (*b).Commit(ctx)
	}
	beginAddCommit := func(ctx context.Context, t *testing.T, p *producer.Producer, b **producer.Batch) error {
		if err := begin(ctx, t, p, b); err != nil {
			return err
		}
		addRows(ctx, p, *b, rows(t.Name()+"-zombie", 10))
		return commit(ctx, t, p, b)
	}

	for _, tt := range []struct {
		name   string
		before []step
		after  step
		// zombieInLog: the fenced producer's rows were acknowledged before
		// it was fenced, so they are in the log (uncommitted).
		zombieInLog bool
		// kfakeInvalidTxnState: kfake (not Kafka 4.4) answers this EndTxn
		// with INVALID_TXN_STATE instead of PRODUCER_FENCED: its KIP-890
		// retry detection takes the fenced producer's commit for a retry
		// of the abort that fenced it. The commit still fails and nothing
		// becomes visible; only the error is not recognisably fencing.
		kfakeInvalidTxnState bool
	}{
		// Fenced between batches: its next batch must fail.
		{name: "idle", after: beginAddCommit},
		// Fenced with a transaction open whose rows are acknowledged: New
		// aborts that transaction and the commit must fail.
		{name: "open transaction", before: []step{begin, addWait}, after: commit, zombieInLog: true},
		{name: "open transaction, commit without extra records", before: []step{begin, addWait}, after: commitNoExtra, zombieInLog: true, kfakeInvalidTxnState: true},
		// Fenced after Begin: the rows added then fail.
		{name: "begun", before: []step{begin}, after: addWait},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kc := kafkatest.New(t)
			topic := kc.Topic(t, 2, nil)
			txnID := uniqueName("fence")
			ctx := testCtx(t)
			cfg := producer.Config{Topic: topic, TransactionalID: txnID, TransactionTimeout: 30 * time.Second}

			first := newProducer(t, kc, cfg)
			// The first producer commits a batch while it still may.
			b, err := first.Begin("s", winFrom, winTo)
			if err != nil {
				t.Fatal(err)
			}
			early := rows("early", 5)
			addRows(ctx, first, b, early)
			if err := b.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.before {
				if err := s(ctx, t, first, &b); err != nil {
					t.Fatalf("before fencing: %v", err)
				}
			}

			second := newProducer(t, kc, cfg)

			fenced := func(err error) bool {
				if errors.Is(err, producer.ErrFenced) {
					return true
				}
				if tt.kfakeInvalidTxnState && !kc.Real && err != nil && strings.Contains(err.Error(), kerr.InvalidTxnState.Message) {
					t.Logf("kfake: %v (a real broker says PRODUCER_FENCED)", err)
					return true
				}
				return false
			}
			err = tt.after(ctx, t, first, &b)
			if !fenced(err) {
				t.Fatalf("fenced producer: error %v, want ErrFenced", err)
			}
			t.Logf("fenced producer: %v", err)
			// From now on the first producer refuses work outright.
			if _, err := first.Begin("s", winFrom, winTo); !fenced(err) {
				t.Fatalf("Begin after fencing: %v, want ErrFenced", err)
			}

			// The second producer works.
			b2, err := second.Begin("s", winFrom, winTo)
			if err != nil {
				t.Fatal(err)
			}
			late := rows("late", 5)
			addRows(ctx, second, b2, late)
			if err := b2.Commit(ctx); err != nil {
				t.Fatalf("Commit of the new producer: %v", err)
			}

			if got, want := keys(readCommitted(t, kc, topic)), rowKeys(early, late); !slices.Equal(got, want) {
				t.Fatalf("read_committed %v, want %v: something the fenced producer wrote is visible", got, want)
			}
			if tt.zombieInLog {
				// The zombie's acknowledged rows are in the log, so the
				// check above is not vacuous.
				uncommitted := keys(kc.ReadAll(t, topic, false))
				for _, k := range rowKeys(rows(t.Name()+"-zombie", 10)) {
					if _, found := slices.BinarySearch(uncommitted, k); !found {
						t.Fatalf("zombie row %s is not in the log at all", k)
					}
				}
			}
		})
	}
}

// TestFencedErrorWrapsKafkaError checks that ErrFenced keeps the broker's
// error: callers may log either.
func TestFencedErrorWrapsKafkaError(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	cfg := producer.Config{Topic: topic, TransactionalID: uniqueName("fence")}
	first := newProducer(t, kc, cfg)
	newProducer(t, kc, cfg)
	ctx := testCtx(t)
	b, err := first.Begin("s", winFrom, winTo)
	if err == nil {
		addRows(ctx, first, b, rows("z", 3))
		err = b.Commit(ctx)
	}
	if !errors.Is(err, producer.ErrFenced) {
		t.Fatalf("error %v, want ErrFenced", err)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Errorf("error %v does not wrap the broker's fencing error", err)
	}
}

func TestEnsureCheckpointTopic(t *testing.T) {
	kc := kafkatest.New(t)
	data := kc.Topic(t, 2, nil)
	existingCompact := kc.Topic(t, 1, compact)
	existingDelete := kc.Topic(t, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")})
	// As cmd/callstream does: with the default MetadataMinAge (5s) the
	// client answers EnsureCheckpointTopic's "is it there yet?" from its
	// metadata cache and creating a topic takes over 5s.
	cl := kc.Client(t, kgo.MetadataMinAge(250*time.Millisecond))
	adm := kadm.NewClient(kc.Client(t, kgo.MetadataMinAge(20*time.Millisecond)))

	created := uniqueName("checkpoints")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopic(ctx, created)
	})

	for _, tt := range []struct {
		name      string
		topic     string
		wantErr   bool
		wantInErr string
	}{
		{name: "missing is created", topic: created},
		{name: "second call accepts the created topic", topic: created},
		{name: "existing compacted", topic: existingCompact},
		{name: "existing delete-policy", topic: existingDelete, wantErr: true, wantInErr: existingDelete},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			start := time.Now()
			err := producer.EnsureCheckpointTopic(ctx, cl, tt.topic, data)
			t.Logf("EnsureCheckpointTopic took %v", time.Since(start).Round(time.Millisecond))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("EnsureCheckpointTopic(%s) succeeded", tt.topic)
				}
				if !strings.Contains(err.Error(), tt.wantInErr) || !strings.Contains(err.Error(), "cleanup.policy") {
					t.Fatalf("error %q does not name the topic and its policy", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("EnsureCheckpointTopic(%s): %v", tt.topic, err)
			}
			rcs, err := adm.DescribeTopicConfigs(ctx, tt.topic)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := rcs.On(tt.topic, nil)
			if err != nil {
				t.Fatal(err)
			}
			policy := "<unset>"
			for _, c := range rc.Configs {
				if c.Key == "cleanup.policy" && c.Value != nil {
					policy = *c.Value
				}
			}
			if policy != "compact" {
				t.Fatalf("%s has cleanup.policy=%s, want compact", tt.topic, policy)
			}
			tds, err := adm.ListTopics(ctx, tt.topic)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(tds[tt.topic].Partitions); n != 1 {
				t.Fatalf("%s has %d partitions, want 1", tt.topic, n)
			}
		})
	}
}
