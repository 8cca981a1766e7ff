package walk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var day0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the simulator and the walker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// simulatedGraph serves sc's simulated Graph over HTTP and returns a fetch
// client for it whose retry pauses do not wait.
func simulatedGraph(t *testing.T, sc graphsim.Config) (*graphsim.Server, *fetch.Client) {
	t.Helper()
	sc.Token = "tok"
	sim, srvURL := testkit.Graph(t, sc)
	fc, err := fetch.New(fetch.Config{BaseURL: srvURL, Tokens: fetch.StaticToken("tok"),
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return sim, fc
}

// mode is how a walk settles. Exactly-once is callstream's default
// (CHECKPOINT_STORE=kafka); at-least-once is the file store.
type mode string

const (
	exactlyOnce mode = "exactly-once"
	atLeastOnce mode = "at-least-once"
)

// forModes runs f as a subtest in each mode: the walker's behaviour —
// which rows are published, which windows read, what the checkpoint says
// — is the same whichever strategy settles its windows.
func forModes(t *testing.T, f func(t *testing.T, m mode)) {
	t.Helper()
	for _, m := range []mode{exactlyOnce, atLeastOnce} {
		t.Run(string(m), func(t *testing.T) { f(t, m) })
	}
}

// rig is a walk's surroundings: a simulator and its fetch client, a Kafka
// cluster with a data topic, a producer and a checkpoint store —
// exactly-once a transactional producer and the Kafka store on the
// compacted topic <topic>.checkpoint, at-least-once a plain producer and a
// file store.
type rig struct {
	mode  mode
	sim   *graphsim.Server
	fc    *fetch.Client
	kafka *kafkatest.Cluster
	topic string
	prod  *producer.Producer
	cl    *kgo.Client           // exactly-once: reads the checkpoint topic
	file  *checkpoint.FileStore // at-least-once
	// commits counts the transactions committed, with failEndTxn only.
	commits *atomic.Int32
}

// freshMetadata keeps the checkpoint client's metadata fresh, as
// callstream's own checkpoint client does: EnsureCheckpointTopic waits for
// the new topic to appear in metadata, which a client caches for 5 s by
// default.
var freshMetadata = kgo.MetadataMinAge(250 * time.Millisecond)

// rigOption changes how newRig builds a rig.
type rigOption func(*rigSetup)

type rigSetup struct {
	fake      bool  // kfake even when KAFKA_TEST_BROKERS names a real broker
	failAfter int32 // with fake: EndTxn fails after this many commits; 0 never
}

// failEndTxn makes every EndTxn after n commits fail (the coordinator is
// gone) and counts the commits in rig.commits; n 0 only counts. It needs
// kfake's controls, so the rig uses kfake.
func failEndTxn(n int32) rigOption {
	return func(s *rigSetup) { s.fake, s.failAfter = true, n }
}

func newRig(t *testing.T, m mode, sc graphsim.Config, opts ...rigOption) *rig {
	t.Helper()
	var setup rigSetup
	for _, o := range opts {
		o(&setup)
	}
	sim, fc := simulatedGraph(t, sc)
	r := &rig{mode: m, sim: sim, fc: fc}
	if setup.fake {
		r.kafka = kafkatest.NewFake(t)
		r.commits = new(atomic.Int32)
		kc, commits, failAfter := r.kafka, r.commits, setup.failAfter
		kc.Fake.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
			kc.Fake.KeepControl()
			if failAfter > 0 && commits.Load() >= failAfter {
				return nil, errors.New("injected: coordinator gone"), true
			}
			if req.(*kmsg.EndTxnRequest).Commit {
				commits.Add(1)
			}
			return nil, nil, false
		})
	} else {
		r.kafka = kafkatest.New(t)
	}
	r.topic = r.kafka.Topic(t, 3, nil)
	pcfg := producer.Config{Brokers: r.kafka.Brokers, Topic: r.topic,
		Schema: producer.Schema{Name: schemas.DirectRoutingSchemaName, Text: schemas.DirectRoutingSchemaText(), Fingerprint: "x"}}
	switch m {
	case exactlyOnce:
		r.cl = r.kafka.Client(t, freshMetadata)
		if err := producer.EnsureCheckpointTopic(context.Background(), r.cl, r.topic+".checkpoint", r.topic); err != nil {
			t.Fatal(err)
		}
		pcfg.TransactionalID = r.topic // unique, as the topic is
	case atLeastOnce:
		store, err := checkpoint.NewFileStore(filepath.Join(t.TempDir(), "cp.json"))
		if err != nil {
			t.Fatal(err)
		}
		r.file = store
	default:
		t.Fatalf("unknown mode %q", m)
	}
	prod, err := producer.New(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	r.prod = prod
	return r
}

// store returns the checkpoint store a walker (a process) starts with: a
// new Kafka store, or the file store.
func (r *rig) store() checkpoint.Loader {
	if r.mode == exactlyOnce {
		return checkpoint.NewKafkaStore(r.cl, r.topic+".checkpoint", r.topic)
	}
	return r.file
}

// load reads back the checkpoint of the Direct Routing source, as a
// restarted process would.
func (r *rig) load(t *testing.T) checkpoint.State {
	t.Helper()
	st, err := r.store().Load(context.Background(), DirectRouting().Name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// save writes st as the Direct Routing source's checkpoint: saved to the
// file, or committed in a transaction as a reset would commit it.
func (r *rig) save(t *testing.T, st checkpoint.State) {
	t.Helper()
	ctx := context.Background()
	source := DirectRouting().Name
	switch s := r.store().(type) {
	case checkpoint.Saver:
		if err := s.Save(ctx, source, st); err != nil {
			t.Fatal(err)
		}
	case checkpoint.Stager:
		if _, err := s.Load(ctx, source); err != nil {
			t.Fatal(err)
		}
		b, err := r.prod.Begin(source, st.Watermark, st.Watermark)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := s.Stage(source, st)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		s.Committed(source)
	}
}

func (r *rig) walker(t *testing.T, cfg Config) *Walker {
	t.Helper()
	return r.walkerOf(t, cfg, r.fc)
}

// walkerOf is walker with the fetcher f in place of the rig's client.
func (r *rig) walkerOf(t *testing.T, cfg Config, f Fetcher) *Walker {
	t.Helper()
	cfg.Source = DirectRouting()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Window == 0 {
		cfg.Window = time.Hour
	}
	w, err := New(cfg, f, r.prod, r.store())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// topicIDs reads the topic and counts records per row id, checking keys
// and decoding every value.
func (r *rig) topicIDs(t *testing.T) map[string]int {
	t.Helper()
	ids := map[string]int{}
	var row schemas.DirectRoutingLogRow
	for _, rec := range r.kafka.ReadAll(t, r.topic, true) {
		if err := schemas.DecodeDirectRoutingRow(rec.Value, &row); err != nil {
			t.Fatalf("decode offset %d: %v", rec.Offset, err)
		}
		if string(rec.Key) != row.CorrelationID {
			t.Fatalf("row %s keyed %q, want correlationId %q", row.ID, rec.Key, row.CorrelationID)
		}
		ids[row.ID]++
	}
	return ids
}

func assertExactlyOnce(t *testing.T, ids map[string]int, want []graphsim.Row) {
	t.Helper()
	missing, dups := 0, 0
	for _, row := range want {
		switch n := ids[row.ID]; {
		case n == 0:
			missing++
		case n > 1:
			dups += n - 1
		}
	}
	if missing > 0 || dups > 0 || len(ids) != len(want) {
		t.Fatalf("topic has %d distinct ids for %d simulated rows: %d missing, %d duplicated", len(ids), len(want), missing, dups)
	}
}

func TestWalkOnceDeliversEveryRowOnce(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		end := day0.Add(36 * time.Hour)
		r := newRig(t, m, graphsim.Config{
			Seed: 7, Start: day0, End: end, RowsPerHour: 1300, PageOverlap: 4,
			Faults: []graphsim.Fault{
				{Every: 7, Offset: 2, Status: http.StatusTooManyRequests, RetryAfter: "0"},
				{Every: 11, Offset: 3, Status: http.StatusServiceUnavailable},
				{Every: 13, Offset: 5, Truncate: true},
			},
		})
		w := r.walker(t, Config{Start: day0, End: end})
		if err := w.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		st := w.Stats()
		want := r.sim.Rows(day0, end)
		assertExactlyOnce(t, r.topicIDs(t), want)
		if st.Windows != 36 || st.Published != len(want) || st.Fetched != st.Published+st.Duplicates {
			t.Fatalf("stats %+v for %d rows", st, len(want))
		}
		if st.Duplicates == 0 || st.Throttled == 0 || st.Retries == 0 {
			t.Fatalf("stats %+v: the faults and overlaps were not exercised", st)
		}
		saved := r.load(t)
		if !saved.Watermark.Equal(end) {
			t.Fatalf("checkpoint watermark %s, want %s", saved.Watermark, end)
		}
		// Data from long ago has no rescan ahead: nothing is remembered.
		if len(saved.Windows) != 0 {
			t.Fatalf("checkpoint remembers %d windows of old data", len(saved.Windows))
		}
	})
}

func TestParallelBackfillPublishesInWindowOrder(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		end := day0.Add(48 * time.Hour)
		sc := graphsim.Config{Seed: 9, Start: day0, End: end, RowsPerHour: 1500, Latency: 2 * time.Millisecond,
			Faults: []graphsim.Fault{{Every: 9, Offset: 4, Status: http.StatusServiceUnavailable, RetryAfter: "0"}}}
		r := newRig(t, m, sc)
		w := r.walker(t, Config{Start: day0, End: end, Concurrency: 4})
		if err := w.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		assertExactlyOnce(t, r.topicIDs(t), r.sim.Rows(day0, end))
		// Within every partition the windows appear in order: no window's rows
		// are published before an earlier window's.
		last := map[int32]string{}
		for _, rec := range r.kafka.ReadAll(t, r.topic, true) {
			var win string
			for _, h := range rec.Headers {
				if h.Key == producer.HeaderWindow {
					win = string(h.Value)
				}
			}
			if win < last[rec.Partition] {
				t.Fatalf("partition %d: window %s published after %s", rec.Partition, win, last[rec.Partition])
			}
			last[rec.Partition] = win
		}
		if w.Watermark() != end {
			t.Fatalf("watermark %s, want %s", w.Watermark(), end)
		}
	})
}

func TestWindowBoundariesAreHalfOpen(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		// Rows sit exactly on every minute; with 1-minute windows each such row
		// is the first row of exactly one window.
		end := day0.Add(2 * time.Hour)
		r := newRig(t, m, graphsim.Config{Seed: 3, Start: day0, End: end, RowsPerHour: 600})
		onBoundary := 0
		for _, row := range r.sim.Rows(day0, end) {
			if row.Start.Equal(row.Start.Truncate(time.Minute)) {
				onBoundary++
			}
		}
		if onBoundary < 100 {
			t.Fatalf("only %d rows on minute boundaries; the test needs them", onBoundary)
		}
		w := r.walker(t, Config{Start: day0, End: end, Window: time.Minute})
		if err := w.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		assertExactlyOnce(t, r.topicIDs(t), r.sim.Rows(day0, end))
		if st := w.Stats(); st.Duplicates != 0 {
			t.Fatalf("%d duplicates: a boundary row was read by two windows", st.Duplicates)
		}
	})
}

func TestResumeFromCheckpoint(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		end := day0.Add(10 * time.Hour)
		r := newRig(t, m, graphsim.Config{Seed: 5, Start: day0, End: end, RowsPerHour: 1200})
		mid := day0.Add(4 * time.Hour)
		w1 := r.walker(t, Config{Start: day0, End: mid})
		if err := w1.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		// A new walker (a restarted process) with a later END_TIME and a
		// START_TIME that would re-read everything: the checkpoint wins.
		w2 := r.walker(t, Config{Start: day0, End: end})
		if err := w2.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		if w2.Stats().Windows != 6 {
			t.Fatalf("second walker read %d windows, want 6", w2.Stats().Windows)
		}
		assertExactlyOnce(t, r.topicIDs(t), r.sim.Rows(day0, end))
	})
}

func TestLateRowsArePublishedOnceByRescan(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		clk := &clock{}
		end := day0.Add(12 * time.Hour)
		r := newRig(t, m, graphsim.Config{
			Seed: 11, Start: day0, End: end, RowsPerHour: 1200,
			LateFraction: 0.05, LateDelay: 3 * time.Hour, Now: clk.Now,
		})
		w := r.walker(t, Config{
			Start: day0, Window: time.Hour, SettleDelay: 10 * time.Minute,
			RescanAfter: []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour},
			Now:         clk.Now,
		})
		all := r.sim.Rows(day0, end)
		late := 0
		for _, row := range all {
			if row.VisibleAt.After(row.Start.Add(time.Hour)) {
				late++
			}
		}
		if late < 100 {
			t.Fatalf("only %d late rows", late)
		}
		// Walk as time passes, in steps of 20 minutes, until every rescan of
		// the data set is done.
		ctx := context.Background()
		for now := end.Add(10 * time.Minute); now.Before(end.Add(30 * time.Hour)); now = now.Add(20 * time.Minute) {
			clk.Set(now)
			if err := w.Run(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
		st := w.Stats()
		assertExactlyOnce(t, r.topicIDs(t), all)
		if st.Late == 0 || st.Rescans == 0 {
			t.Fatalf("stats %+v: no late rows were found by rescans", st)
		}
		if st.Published != len(all) {
			t.Fatalf("published %d, want %d", st.Published, len(all))
		}
		// Rows already published came back on every rescan and were skipped.
		if st.Duplicates < len(all) {
			t.Fatalf("duplicates skipped %d, want at least %d (each row is re-read)", st.Duplicates, len(all))
		}
		saved := r.load(t)
		// Windows past their last rescan (24h, which waits at most 12h
		// for adjacent windows to share it) are forgotten, the data set's
		// windows among them; only recent ones are remembered.
		horizon := clk.Now().Add(-36 * time.Hour)
		for _, win := range saved.Windows {
			if win.To.Before(horizon) {
				t.Fatalf("window [%s, %s) still remembered after the horizon %s", win.From, win.To, horizon)
			}
		}
		if len(saved.Windows) == 0 || len(saved.Windows) > 25 {
			t.Fatalf("%d windows remembered, want the last day's", len(saved.Windows))
		}
	})
}

func TestDedupStateIsBoundedByHorizon(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		clk := &clock{}
		end := day0.Add(48 * time.Hour)
		r := newRig(t, m, graphsim.Config{Seed: 2, Start: day0, End: end, RowsPerHour: 60, Now: clk.Now})
		w := r.walker(t, Config{Start: day0, RescanAfter: []time.Duration{time.Hour, 6 * time.Hour}, Now: clk.Now})
		for now := day0.Add(time.Hour); now.Before(end); now = now.Add(time.Hour) {
			clk.Set(now)
			if err := w.Run(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			saved := r.load(t)
			// Windows ending more than 9h ago have had their last rescan
			// (6h, which waits at most 3h for adjacent windows to share it).
			if len(saved.Windows) > 10 {
				t.Fatalf("at %s the checkpoint remembers %d windows, want at most 10", now, len(saved.Windows))
			}
		}
	})
}

// TestRetryable: a record too large for a batch, like a bad token, is not
// worth retrying; a Kafka error that may pass is.
func TestRetryable(t *testing.T) {
	tooLarge := fmt.Errorf("publish window: %w", producer.ErrRecordTooLarge)
	if retryable(tooLarge) {
		t.Error("a record larger than the batch size is retried")
	}
	if !retryable(errors.New("produce to rows: NOT_ENOUGH_REPLICAS")) {
		t.Error("a passing Kafka error is not retried")
	}
}

// TestNewChoosesSettleByStore: the settle strategy is decided once, by the
// interface the store offers — a Stager exactly-once, a Saver
// at-least-once — and a Stager with a producer that cannot hold a
// transaction is refused at construction rather than at the first window.
func TestNewChoosesSettleByStore(t *testing.T) {
	cfg := Config{Source: DirectRouting(), Start: day0, Window: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	txn := newRig(t, exactlyOnce, graphsim.Config{Seed: 1, Start: day0, End: day0.Add(time.Hour), RowsPerHour: 1})
	ack := newRig(t, atLeastOnce, graphsim.Config{Seed: 1, Start: day0, End: day0.Add(time.Hour), RowsPerHour: 1})
	if w, err := New(cfg, txn.fc, txn.prod, txn.store()); err != nil {
		t.Fatal(err)
	} else if _, ok := w.settle.(*txnSettle); !ok {
		t.Errorf("Kafka store: settle %T, want *txnSettle", w.settle)
	}
	if w, err := New(cfg, ack.fc, ack.prod, ack.store()); err != nil {
		t.Fatal(err)
	} else if _, ok := w.settle.(*ackSettle); !ok {
		t.Errorf("file store: settle %T, want *ackSettle", w.settle)
	}
	if _, err := New(cfg, ack.fc, ack.prod, txn.store()); err == nil || !strings.Contains(err.Error(), "transactional") {
		t.Errorf("Kafka store with a plain producer: err %v, want one asking for a transactional producer", err)
	}
	if _, err := New(cfg, ack.fc, ack.prod, nil); err == nil {
		t.Error("no checkpoint store accepted")
	}
}
