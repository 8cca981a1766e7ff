package producer_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
)

// otherSchema is a second source's schema: lanes of one Shared may write
// different schemas.
var otherSchema = producer.Schema{
	Name:        "test.callstream.Other",
	Text:        `{"type":"record","name":"Other","namespace":"test.callstream","fields":[{"name":"id","type":"string"}]}`,
	Fingerprint: "0123456789abcdef",
}

// newShared makes a Shared on kc with the transactional id txnID, closed
// when the test ends. It does not claim the id. slots, if given, is its
// Config.OpenTransactions.
func newShared(tb testing.TB, kc *kafkatest.Cluster, txnID string, slots ...chan struct{}) *producer.Shared {
	tb.Helper()
	cfg := producer.Config{
		Brokers:            kc.Brokers,
		TransactionalID:    txnID,
		TransactionTimeout: 30 * time.Second,
		ConnectTimeout:     30 * time.Second,
		Logger:             quietLogger(),
	}
	if len(slots) > 0 {
		cfg.OpenTransactions = slots[0]
	}
	s, err := producer.NewShared(testCtx(tb), cfg)
	if err != nil {
		tb.Fatalf("NewShared: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// claimed is newShared and Claim.
func claimed(tb testing.TB, kc *kafkatest.Cluster, txnID string) *producer.Shared {
	tb.Helper()
	s := newShared(tb, kc, txnID)
	if err := s.Claim(testCtx(tb)); err != nil {
		tb.Fatalf("Claim: %v", err)
	}
	return s
}

// lane makes a lane of s for topic, schema rowSchema unless cfg says
// otherwise.
func lane(tb testing.TB, s *producer.Shared, cfg producer.Config) *producer.Producer {
	tb.Helper()
	if cfg.Schema == (producer.Schema{}) {
		cfg.Schema = rowSchema
	}
	p, err := s.Lane(testCtx(tb), cfg)
	if err != nil {
		tb.Fatalf("Lane(%s): %v", cfg.Topic, err)
	}
	return p
}

func tenantHeader(tenant string) []kgo.RecordHeader {
	return []kgo.RecordHeader{{Key: producer.HeaderTenant, Value: []byte(tenant)}}
}

// commitRows begins a batch on p, adds rs and commits it with a
// checkpoint record for cpTopic (none when cpTopic is empty).
func commitRows(t *testing.T, p *producer.Producer, rs []row, cpTopic string) {
	t.Helper()
	ctx := testCtx(t)
	b, err := p.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	addRows(ctx, p, b, rs)
	var extra []*kgo.Record
	if cpTopic != "" {
		extra = append(extra, &kgo.Record{Topic: cpTopic, Key: []byte(p.Topic()), Value: []byte(rs[len(rs)-1].key)})
	}
	if err := b.Commit(ctx, extra...); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// TestSharedLanesCommitInterleavedWindows: two lanes of one Shared, on two
// topics with two schemas and two tenants, take turns at the transaction
// window after window; read_committed holds exactly the committed windows
// of each lane, on its own topic, with its own headers.
func TestSharedLanesCommitInterleavedWindows(t *testing.T) {
	kc := kafkatest.New(t)
	topicA, topicB := kc.Topic(t, 2, nil), kc.Topic(t, 3, nil)
	cpTopic := kc.Topic(t, 1, compact)
	s := claimed(t, kc, uniqueName("bucket"))
	a := lane(t, s, producer.Config{Topic: topicA, Headers: tenantHeader("tenant-a"),
		Topics: producer.TopicSettings{Checkpoint: cpTopic}})
	b := lane(t, s, producer.Config{Topic: topicB, Schema: otherSchema, Headers: tenantHeader("tenant-b"),
		Topics: producer.TopicSettings{Checkpoint: cpTopic}})
	if a.Client() != s.Client() || b.Client() != s.Client() {
		t.Fatal("a lane has a client of its own")
	}
	if !a.Transactional() {
		t.Fatal("a lane is not transactional")
	}
	ctx := testCtx(t)

	var wantA, wantB []row
	for w := range 3 {
		ra := rows(fmt.Sprintf("a-w%d", w), 7)
		commitRows(t, a, ra, cpTopic)
		wantA = append(wantA, ra...)

		// Lane b chains two windows into one transaction, and aborts
		// the chain of window 1 before its Commit: its rows wait in the
		// batch until Commit, so Wait has nothing to wait for and the
		// abort drops them.
		bt, err := b.Begin("s", winFrom, winTo)
		if err != nil {
			t.Fatal(err)
		}
		rb := rows(fmt.Sprintf("b-w%d-first", w), 5)
		addRows(ctx, b, bt, rb)
		if bt, err = bt.Next("s", winTo, winTo.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		rb2 := rows(fmt.Sprintf("b-w%d-second", w), 4)
		addRows(ctx, b, bt, rb2)
		if w == 1 {
			if err := bt.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if err := bt.Abort(ctx); err != nil {
				t.Fatalf("Abort: %v", err)
			}
			continue
		}
		if err := bt.Commit(ctx, &kgo.Record{Topic: cpTopic, Key: []byte(topicB), Value: []byte(rb2[3].key)}); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		wantB = append(wantB, rb...)
		wantB = append(wantB, rb2...)
	}

	for _, tc := range []struct {
		lane           *producer.Producer
		want           []row
		tenant, schema string
	}{
		{a, wantA, "tenant-a", rowSchema.Name},
		{b, wantB, "tenant-b", otherSchema.Name},
	} {
		recs := readCommitted(t, kc, tc.lane.Topic())
		if got, want := keys(recs), rowKeys(tc.want); !slices.Equal(got, want) {
			t.Errorf("read_committed %s: %d keys, want %d\ngot  %v\nwant %v", tc.lane.Topic(), len(got), len(want), got, want)
		}
		for _, r := range recs {
			if v, _ := header(r, producer.HeaderTenant); v != tc.tenant {
				t.Errorf("%s: record %s has tenant %q, want %q", tc.lane.Topic(), r.Key, v, tc.tenant)
			}
			if v, _ := header(r, producer.HeaderSchema); v != tc.schema {
				t.Errorf("%s: record %s has schema %q, want %q", tc.lane.Topic(), r.Key, v, tc.schema)
			}
		}
	}
	// The aborted window of lane b never reached the log, and the
	// committed ones are in it once.
	for _, tc := range []struct {
		topic string
		want  []row
	}{{topicA, wantA}, {topicB, wantB}} {
		if got, want := keys(kc.ReadAll(t, tc.topic, false)), rowKeys(tc.want); !slices.Equal(got, want) {
			t.Errorf("read_uncommitted %s: %d keys, want %d (no aborted row)\ngot  %v\nwant %v", tc.topic, len(got), len(want), got, want)
		}
	}
	if n := len(readCommitted(t, kc, cpTopic)); n != 5 {
		t.Errorf("%d checkpoint records committed, want 5 (3 of a, 2 of b)", n)
	}
}

// TestSharedManyLanesOneClient: 50 lanes on one topic share the Shared's
// one client, and the topic is checked and the schema registered once.
func TestSharedManyLanesOneClient(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	var registryRequests atomic.Int64
	target, err := url.Parse(reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		registryRequests.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)

	s := claimed(t, kc, uniqueName("bucket"))
	var lanes []*producer.Producer
	var oneLane int64
	for i := range 50 {
		lanes = append(lanes, lane(t, s, producer.Config{Topic: topic, Registry: producer.Registry{URL: counting.URL},
			Headers: tenantHeader(fmt.Sprintf("tenant-%02d", i))}))
		if i == 0 {
			oneLane = registryRequests.Load()
		}
	}
	if oneLane == 0 {
		t.Fatal("the first lane asked the registry nothing")
	}
	if n := registryRequests.Load(); n != oneLane {
		t.Errorf("50 lanes of one topic and schema made %d registry requests, the first alone %d", n, oneLane)
	}
	for _, p := range lanes {
		if p.Client() != s.Client() {
			t.Fatal("a lane has a client of its own")
		}
		if p.SchemaID() != lanes[0].SchemaID() || p.SchemaID() == 0 {
			t.Fatalf("schema ids %d and %d, want one registered id", p.SchemaID(), lanes[0].SchemaID())
		}
	}
	// A new schema is resolved afresh.
	before := registryRequests.Load()
	other := lane(t, s, producer.Config{Topic: topic, Schema: otherSchema, Registry: producer.Registry{URL: counting.URL}})
	if registryRequests.Load() == before || other.SchemaID() == lanes[0].SchemaID() {
		t.Errorf("a lane with another schema was not resolved afresh (schema id %d)", other.SchemaID())
	}

	for i, p := range lanes[:3] {
		commitRows(t, p, rows(fmt.Sprintf("lane%02d", i), 2), "")
	}
	recs := readCommitted(t, kc, topic)
	if len(recs) != 6 {
		t.Fatalf("%d records, want 6", len(recs))
	}
	for _, r := range recs {
		tenant, _ := header(r, producer.HeaderTenant)
		if want := "tenant-" + string(r.Key[len("lane"):len("lane00")]); tenant != want {
			t.Errorf("record %s has tenant %q, want %q", r.Key, tenant, want)
		}
		if id := binary.BigEndian.Uint32(r.Value[1:5]); r.Value[0] != 0 || int(id) != lanes[0].SchemaID() {
			t.Errorf("record %s is not framed with schema id %d", r.Key, lanes[0].SchemaID())
		}
	}
}

// commitGate holds chosen lanes' Commits mid-transaction — their records
// produced and acknowledged, the transaction not yet ended — until the
// test releases them.
type commitGate struct {
	mu      sync.Mutex
	held    map[*producer.Producer]chan struct{}
	reached chan *producer.Producer
}

// gateCommits installs a commitGate on s; call it before any lane of s
// commits. Lanes not held pass through.
func gateCommits(t *testing.T, s *producer.Shared) *commitGate {
	t.Helper()
	g := &commitGate{held: map[*producer.Producer]chan struct{}{}, reached: make(chan *producer.Producer, 8)}
	producer.SetCommitHook(s, func(p *producer.Producer) {
		g.mu.Lock()
		release, ok := g.held[p]
		g.mu.Unlock()
		if !ok {
			return
		}
		g.reached <- p
		<-release
	})
	t.Cleanup(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		for p, release := range g.held {
			close(release)
			delete(g.held, p)
		}
	})
	return g
}

// hold makes p's next Commit stop mid-transaction.
func (g *commitGate) hold(p *producer.Producer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held[p] = make(chan struct{})
}

// await waits until p's held Commit has stopped mid-transaction.
func (g *commitGate) await(t *testing.T, p *producer.Producer) {
	t.Helper()
	select {
	case got := <-g.reached:
		if got != p {
			t.Fatalf("lane for %s stopped in Commit, want lane for %s", got.Topic(), p.Topic())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("lane for %s did not reach the middle of its Commit", p.Topic())
	}
}

// release lets p's held Commit end its transaction.
func (g *commitGate) release(p *producer.Producer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if release, ok := g.held[p]; ok {
		close(release)
		delete(g.held, p)
	}
}

// commitAsync commits b in a goroutine.
func commitAsync(ctx context.Context, b *producer.Batch, extra ...*kgo.Record) <-chan error {
	done := make(chan error, 1)
	go func() { done <- b.Commit(ctx, extra...) }()
	return done
}

// result waits for done, at most 10 s.
func result(t *testing.T, what string, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still waits", what)
		return nil
	}
}

// stillWaiting fails the test if done delivers within d.
func stillWaiting(t *testing.T, what string, done <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s returned (%v) while another lane held the transaction", what, err)
	case <-time.After(d):
	}
}

// TestSharedCommitWaitsForTheTransaction: a lane's Begin returns at once
// while another lane holds the transaction (is inside its Commit), and it
// is the lane's Commit that waits for its turn, or gives up when its
// context ends; the waiting lane's records stay in its batch, out of the
// holder's transaction, until its turn.
func TestSharedCommitWaitsForTheTransaction(t *testing.T) {
	kc := kafkatest.New(t)
	topicA, topicB := kc.Topic(t, 1, nil), kc.Topic(t, 1, nil)
	s := claimed(t, kc, uniqueName("bucket"))
	gate := gateCommits(t, s)
	a := lane(t, s, producer.Config{Topic: topicA})
	b := lane(t, s, producer.Config{Topic: topicB})
	ctx := testCtx(t)

	// Lane a commits a chain of two windows and is held mid-transaction,
	// its rows acknowledged.
	ta, err := a.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	addRows(ctx, a, ta, rows("a", 5))
	if ta, err = ta.Next("s", winTo, winTo.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	addRows(ctx, a, ta, rows("a-next", 5))
	gate.hold(a)
	aDone := commitAsync(ctx, ta)
	gate.await(t, a)
	if got, want := keys(kc.ReadAll(t, topicA, false)), rowKeys(rows("a", 5), rows("a-next", 5)); !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted %s while a's transaction is open: %v, want %v", topicA, got, want)
	}

	// Lane b begins at once.
	type begun struct {
		b   *producer.Batch
		err error
	}
	got := make(chan begun, 1)
	go func() {
		bt, err := b.Begin("s", winFrom, winTo)
		got <- begun{bt, err}
	}()
	var tb *producer.Batch
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("lane b's Begin: %v", r.err)
		}
		tb = r.b
	case <-time.After(5 * time.Second):
		t.Fatal("lane b's Begin waits while lane a holds the transaction")
	}
	addRows(ctx, b, tb, rows("b", 5))

	// A Commit with a deadline gives up waiting without disturbing anyone.
	td, err := b.BeginContext(ctx, "s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	addRows(ctx, b, td, rows("b-deadline", 3))
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := td.Commit(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Commit while the transaction is held: %v, want the context's deadline", err)
	}

	// Lane b's Commit waits for a's transaction; b's rows are not in it,
	// nor anywhere in the log yet.
	bDone := commitAsync(ctx, tb)
	stillWaiting(t, "lane b's Commit", bDone, 200*time.Millisecond)
	if got := kc.ReadAll(t, topicB, false); len(got) != 0 {
		t.Fatalf("%d of lane b's records reached the log while lane a held the transaction", len(got))
	}

	gate.release(a)
	if err := result(t, "lane a's Commit", aDone); err != nil {
		t.Fatalf("lane a's Commit: %v", err)
	}
	if err := result(t, "lane b's Commit after a committed", bDone); err != nil {
		t.Fatalf("lane b's Commit: %v", err)
	}

	if got, want := keys(readCommitted(t, kc, topicA)), rowKeys(rows("a", 5), rows("a-next", 5)); !slices.Equal(got, want) {
		t.Errorf("read_committed %s: %v, want %v", topicA, got, want)
	}
	// b's rows once; the batch that gave up never reached the log.
	if got, want := keys(readCommitted(t, kc, topicB)), rowKeys(rows("b", 5)); !slices.Equal(got, want) {
		t.Errorf("read_committed %s: %v, want %v", topicB, got, want)
	}
	if got, want := keys(kc.ReadAll(t, topicB, false)), rowKeys(rows("b", 5)); !slices.Equal(got, want) {
		t.Errorf("read_uncommitted %s: %v, want %v", topicB, got, want)
	}
}

// TestSharedPendingBatchDoesNotHoldOtherLanes: a lane with records in a
// batch it has not committed yet (reading Graph, say) holds nothing: other
// lanes go through whole Begin–Commit cycles meanwhile, and its records
// reach the log only with its own Commit.
func TestSharedPendingBatchDoesNotHoldOtherLanes(t *testing.T) {
	kc := kafkatest.New(t)
	topicA, topicB := kc.Topic(t, 1, nil), kc.Topic(t, 2, nil)
	s := claimed(t, kc, uniqueName("bucket"))
	a := lane(t, s, producer.Config{Topic: topicA})
	b := lane(t, s, producer.Config{Topic: topicB})
	ctx := testCtx(t)

	ta, err := a.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	addRows(ctx, a, ta, rows("a-first", 4))
	if ta, err = ta.Next("s", winTo, winTo.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	addRows(ctx, a, ta, rows("a-second", 4))

	var wantB []row
	for i := range 2 {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		tb, err := b.BeginContext(cctx, "s", winFrom, winTo)
		if err != nil {
			cancel()
			t.Fatalf("lane b's Begin while lane a's batch is pending: %v", err)
		}
		rb := rows(fmt.Sprintf("b%d", i), 3)
		addRows(cctx, b, tb, rb)
		err = tb.Commit(cctx)
		cancel()
		if err != nil {
			t.Fatalf("lane b's Commit while lane a's batch is pending: %v", err)
		}
		wantB = append(wantB, rb...)
	}
	if got, want := keys(readCommitted(t, kc, topicB)), rowKeys(wantB); !slices.Equal(got, want) {
		t.Fatalf("read_committed %s: %v, want %v", topicB, got, want)
	}
	if got := kc.ReadAll(t, topicA, false); len(got) != 0 {
		t.Fatalf("%d of lane a's pending records reached the log before its Commit", len(got))
	}

	if err := ta.Commit(ctx); err != nil {
		t.Fatalf("lane a's Commit: %v", err)
	}
	want := rowKeys(rows("a-first", 4), rows("a-second", 4))
	if got := keys(readCommitted(t, kc, topicA)); !slices.Equal(got, want) {
		t.Fatalf("read_committed %s: %v, want %v", topicA, got, want)
	}
	if got := keys(kc.ReadAll(t, topicA, false)); !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted %s: %v, want %v", topicA, got, want)
	}
}

// TestSharedClaimFencesZombie: a second Shared claiming the id fences the
// first (a replica that lost its bucket) and aborts its open transaction
// before Claim returns; the zombie's commit and every lane of it then fail
// with ErrFenced, and the new Shared's first transaction commits.
func TestSharedClaimFencesZombie(t *testing.T) {
	for _, tt := range []struct {
		name string
		// open: the zombie has a transaction open, its rows acknowledged
		// (its Commit held before ending it), when it is fenced;
		// otherwise it is between transactions.
		open bool
	}{
		{name: "open transaction", open: true},
		{name: "idle"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kc := kafkatest.New(t)
			topic := kc.Topic(t, 2, nil)
			cpTopic := kc.Topic(t, 1, compact)
			txnID := uniqueName("bucket")
			ctx := testCtx(t)

			zombie := claimed(t, kc, txnID)
			gate := gateCommits(t, zombie)
			za := lane(t, zombie, producer.Config{Topic: topic, Headers: tenantHeader("a")})
			zb := lane(t, zombie, producer.Config{Topic: topic, Headers: tenantHeader("b")})
			early := rows("early", 4)
			commitRows(t, za, early, cpTopic)

			zrows := rows("zombie", 10)
			zcp := &kgo.Record{Topic: cpTopic, Key: []byte("cp"), Value: []byte("zombie")}
			var zDone <-chan error
			if tt.open {
				// The zombie's Commit is held mid-transaction, its rows
				// and checkpoint produced and acknowledged.
				open, err := za.Begin("s", winFrom, winTo)
				if err != nil {
					t.Fatal(err)
				}
				addRows(ctx, za, open, zrows)
				gate.hold(za)
				zDone = commitAsync(ctx, open, zcp)
				gate.await(t, za)
			}

			owner := newShared(t, kc, txnID)
			if err := owner.Claim(ctx); err != nil {
				t.Fatalf("Claim: %v", err)
			}
			// The zombie's transaction is aborted by the time Claim
			// returns: nothing is pending on the topic any more.
			adm := kadm.NewClient(kc.Client(t))
			ends, err := adm.ListEndOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			stable, err := adm.ListCommittedOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			ends.Each(func(o kadm.ListedOffset) {
				if so, _ := stable.Lookup(o.Topic, o.Partition); so.Offset != o.Offset {
					t.Errorf("partition %d: last stable offset %d, high watermark %d right after Claim: the zombie's transaction is still open", o.Partition, so.Offset, o.Offset)
				}
			})
			if got, want := keys(kc.ReadAll(t, topic, true)), rowKeys(early); !slices.Equal(got, want) {
				t.Fatalf("read_committed after Claim: %v, want %v", got, want)
			}
			if tt.open {
				// Not vacuous: the zombie's rows are in the log.
				if got, want := keys(kc.ReadAll(t, topic, false)), rowKeys(early, zrows); !slices.Equal(got, want) {
					t.Fatalf("read_uncommitted after Claim: %v, want %v: the zombie's rows are not in the log, the test proves nothing", got, want)
				}
			}

			// The zombie's commit fails as fenced, and so does every lane.
			fenced := true
			if tt.open {
				gate.release(za)
				err = result(t, "the zombie's Commit", zDone)
				if !kc.Real && errors.Is(err, kerr.InvalidTxnState) {
					// kfake takes an EndTxn at the epoch just before a
					// fencing claim for a KIP-890 retry of the abort the
					// claim completed, and answers INVALID_TXN_STATE (a
					// fatal error to the client) where Kafka answers that
					// the producer is fenced. Nothing of the zombie is
					// committed all the same, as checked below.
					t.Logf("kfake: zombie's commit: %v", err)
					fenced = false
				}
			} else {
				var open *producer.Batch
				if open, err = za.Begin("s", winFrom, winTo); err == nil {
					addRows(ctx, za, open, zrows)
					err = open.Commit(ctx, zcp)
				}
			}
			if fenced {
				if !errors.Is(err, producer.ErrFenced) {
					t.Fatalf("zombie's commit: %v, want ErrFenced", err)
				}
				if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
					t.Errorf("zombie's commit error %v does not wrap the broker's fencing error", err)
				}
				if !zombie.Fenced() {
					t.Error("the zombie Shared does not know it is fenced")
				}
				if _, err := zb.Begin("s", winFrom, winTo); !errors.Is(err, producer.ErrFenced) {
					t.Fatalf("another lane of the zombie: Begin %v, want ErrFenced", err)
				}
			}

			// The new owner's first transaction, after Claim, commits.
			late := rows("late", 4)
			commitRows(t, lane(t, owner, producer.Config{Topic: topic}), late, cpTopic)
			if got, want := keys(readCommitted(t, kc, topic)), rowKeys(early, late); !slices.Equal(got, want) {
				t.Fatalf("read_committed %v, want %v: something of the zombie is visible", got, want)
			}
			var cps []string
			for _, r := range readCommitted(t, kc, cpTopic) {
				cps = append(cps, string(r.Value))
			}
			if want := []string{early[3].key, late[3].key}; !slices.Equal(cps, want) {
				t.Errorf("checkpoints %v, want %v", cps, want)
			}
		})
	}
}

// TestSharedCloseWakesWaiters: closing the Shared (a bucket revoked)
// wakes a lane's Commit waiting for its turn with ErrClosed and aborts the
// holder's transaction; closing one lane wakes only that lane's waiting
// Commit, and a lane closed while it holds the transaction gives it up to
// the others. Begin on a closed lane, or a lane of a closed Shared, fails
// with ErrClosed.
func TestSharedCloseWakesWaiters(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	s := claimed(t, kc, uniqueName("bucket"))
	gate := gateCommits(t, s)
	holder := lane(t, s, producer.Config{Topic: topic})
	waiter := lane(t, s, producer.Config{Topic: topic})
	closing := lane(t, s, producer.Config{Topic: topic})
	ctx := testCtx(t)

	// beginAndCommit begins a batch on p, adds rows and commits it.
	beginAndCommit := func(p *producer.Producer, prefix string) <-chan error {
		t.Helper()
		b, err := p.Begin("s", winFrom, winTo)
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		addRows(ctx, p, b, rows(prefix, 2))
		return commitAsync(ctx, b)
	}
	// holdOpen begins a batch on p, adds rows and commits it, held
	// mid-transaction with the rows acknowledged.
	holdOpen := func(p *producer.Producer, prefix string) (*producer.Batch, <-chan error) {
		t.Helper()
		b, err := p.Begin("s", winFrom, winTo)
		if err != nil {
			t.Fatal(err)
		}
		addRows(ctx, p, b, rows(prefix, 3))
		gate.hold(p)
		done := commitAsync(ctx, b)
		gate.await(t, p)
		return b, done
	}

	// A lane closed while it holds the transaction frees it: the waiting
	// lane commits, and the closed lane's rows stay invisible.
	_, closingDone := holdOpen(closing, "closed-lane")
	next := beginAndCommit(waiter, "waiter")
	stillWaiting(t, "the waiter's Commit", next, 100*time.Millisecond)
	if err := closing.Close(ctx); err != nil {
		t.Fatalf("lane Close: %v", err)
	}
	if err := result(t, "the lane after a closed holder", next); err != nil {
		t.Fatalf("lane after a closed holder: %v", err)
	}
	gate.release(closing)
	if err := result(t, "the closed lane's Commit", closingDone); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("closed lane's Commit: %v, want ErrClosed", err)
	}
	if _, err := closing.Begin("s", winFrom, winTo); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("closed lane's Begin: %v, want ErrClosed", err)
	}

	// A lane closed while its Commit waits wakes; the holder is
	// undisturbed.
	hb, holderDone := holdOpen(holder, "holder")
	third := lane(t, s, producer.Config{Topic: topic})
	thirdDone := beginAndCommit(third, "third")
	stillWaiting(t, "the third lane's Commit", thirdDone, 100*time.Millisecond)
	if err := third.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := result(t, "a closed lane's Commit", thirdDone); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("closed lane's waiting Commit: %v, want ErrClosed", err)
	}
	stillWaiting(t, "the holder's Commit", holderDone, 50*time.Millisecond)

	// Closing the Shared wakes the waiting Commit, aborts the holder and
	// fails the Commit of a batch begun before it.
	waiting := beginAndCommit(waiter, "waiting")
	stillWaiting(t, "the waiter's Commit", waiting, 100*time.Millisecond)
	pending, err := waiter.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	addRows(ctx, waiter, pending, rows("pending", 2))
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Close(cctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := result(t, "a waiting Commit", waiting); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("waiting Commit after Close: %v, want ErrClosed", err)
	}
	gate.release(holder)
	if err := result(t, "the holder's Commit", holderDone); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("holder's Commit after Close: %v, want ErrClosed", err)
	}
	if err := hb.Abort(ctx); err != nil {
		t.Fatalf("holder's Abort after Close: %v", err)
	}
	if err := pending.Commit(ctx); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("Commit of a batch begun before Close: %v, want ErrClosed", err)
	}
	if _, err := waiter.Begin("s", winFrom, winTo); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("Begin on a lane of a closed Shared: %v, want ErrClosed", err)
	}
	if _, err := s.Lane(ctx, producer.Config{Topic: topic, Schema: rowSchema}); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("Lane after Close: %v, want ErrClosed", err)
	}

	if got, want := keys(readCommitted(t, kc, topic)), rowKeys(rows("waiter", 2)); !slices.Equal(got, want) {
		t.Fatalf("read_committed %v, want only the one committed transaction %v", got, want)
	}
	// The held transactions reached the log and were aborted; the
	// records of Commits that never had their turn never left their
	// batches.
	if got, want := keys(kc.ReadAll(t, topic, false)), rowKeys(rows("closed-lane", 3), rows("waiter", 2), rows("holder", 3)); !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted %v, want %v", got, want)
	}
}

// TestNewSetsStaticHeaders: a single producer made by New writes
// Config.Headers on every record too.
func TestNewSetsStaticHeaders(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	p := newProducer(t, kc, producer.Config{Topic: topic, Headers: tenantHeader("solo")})
	produceOne(t, p, "one")
	recs := kc.ReadAll(t, topic, false)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	if v, _ := header(recs[0], producer.HeaderTenant); v != "solo" {
		t.Errorf("tenant header %q, want solo", v)
	}
}

// TestNewSharedRefusesBadConfig: a Shared is transactional by definition.
func TestNewSharedRefusesBadConfig(t *testing.T) {
	kc := kafkatest.New(t)
	for _, cfg := range []producer.Config{
		{Brokers: kc.Brokers},
		{Brokers: kc.Brokers, TransactionalID: "x", DisableIdempotence: true},
		{TransactionalID: "x"},
	} {
		if s, err := producer.NewShared(testCtx(t), cfg); err == nil {
			_ = s.Close(testCtx(t))
			t.Errorf("NewShared(%+v) succeeded", cfg)
		}
	}
}

// TestSharedConcurrentLanes: lanes committing and aborting windows at the
// same time through one Shared. Every committed row is visible once and
// no aborted row is: an aborted row in another lane's transaction would
// have been committed with it. Aborted windows never took their turn, so
// the log holds exactly the committed rows.
func TestSharedConcurrentLanes(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 3, nil)
	s := claimed(t, kc, uniqueName("bucket"))
	ctx := testCtx(t)
	const nLanes, nWindows = 6, 6
	committed := make([][]row, nLanes)
	errs := make(chan error, nLanes)
	for i := range nLanes {
		p := lane(t, s, producer.Config{Topic: topic, Headers: tenantHeader(fmt.Sprint(i))})
		go func() {
			errs <- func() error {
				for w := range nWindows {
					b, err := p.Begin("s", winFrom, winTo)
					if err != nil {
						return err
					}
					rs := rows(fmt.Sprintf("l%d-w%d", i, w), 5)
					addRows(ctx, p, b, rs)
					if w%3 == 1 {
						// Aborted before Commit: the rows never leave the
						// batch (Wait has nothing to wait for).
						if err := b.Wait(ctx); err != nil {
							return err
						}
						if err := b.Abort(ctx); err != nil {
							return err
						}
						continue
					}
					if b, err = b.Next("s", winTo, winTo.Add(time.Hour)); err != nil {
						return err
					}
					rs2 := rows(fmt.Sprintf("l%d-w%d-next", i, w), 3)
					addRows(ctx, p, b, rs2)
					if err := b.Commit(ctx); err != nil {
						return err
					}
					committed[i] = append(committed[i], rs...)
					committed[i] = append(committed[i], rs2...)
				}
				return nil
			}()
		}()
	}
	for range nLanes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	recs := readCommitted(t, kc, topic)
	if got, want := keys(recs), rowKeys(committed...); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %d keys, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for _, r := range recs {
		if tenant, _ := header(r, producer.HeaderTenant); !strings.HasPrefix(string(r.Key), "l"+tenant+"-") {
			t.Errorf("record %s has tenant %q", r.Key, tenant)
		}
	}
	if got, want := keys(kc.ReadAll(t, topic, false)), rowKeys(committed...); !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted: %d keys, want the %d committed ones and no aborted one\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
}

// TestSharedOpenTransactionsBound: Shareds given one OpenTransactions
// channel of capacity 1 have one transaction open at a time between them —
// a bucket's commit waits while another bucket's is open, and proceeds
// when it ends.
func TestSharedOpenTransactionsBound(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	slots := make(chan struct{}, 1)
	s1, s2 := newShared(t, kc, uniqueName("bucket"), slots), newShared(t, kc, uniqueName("bucket"), slots)
	for _, s := range []*producer.Shared{s1, s2} {
		if err := s.Claim(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	gate := gateCommits(t, s1)
	a, b := lane(t, s1, producer.Config{Topic: topic}), lane(t, s2, producer.Config{Topic: topic})
	ctx := testCtx(t)
	ta, err := a.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	addRows(ctx, a, ta, rows("a", 3))
	gate.hold(a)
	aDone := commitAsync(ctx, ta)
	gate.await(t, a)
	tb, err := b.Begin("s", winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	addRows(ctx, b, tb, rows("b", 3))
	bDone := commitAsync(ctx, tb)
	stillWaiting(t, "the other bucket's commit while the only slot is taken", bDone, 500*time.Millisecond)
	gate.release(a)
	if err := result(t, "a's commit", aDone); err != nil {
		t.Fatal(err)
	}
	if err := result(t, "b's commit", bDone); err != nil {
		t.Fatal(err)
	}
	if got := len(kc.ReadAll(t, topic, true)); got != 6 {
		t.Fatalf("%d committed records, want 6", got)
	}
	if len(slots) != 0 {
		t.Fatalf("%d slots still taken after both commits", len(slots))
	}
}
