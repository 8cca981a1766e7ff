package checkpoint_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/internal/kafkatest"
)

// kafkaEnv is a compacted checkpoint topic on the test cluster, a client to
// read it and a raw transactional client standing in for the producer's
// transaction (checkpoint must not import producer).
type kafkaEnv struct {
	kc     *kafkatest.Cluster
	topic  string
	reader *kgo.Client
	txn    *kgo.Client
}

func newKafkaEnv(t testing.TB) *kafkaEnv {
	t.Helper()
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	return &kafkaEnv{
		kc:     kc,
		topic:  topic,
		reader: kc.Client(t),
		txn: kc.Client(t,
			kgo.TransactionalID(topic+"-txn"),
			kgo.TransactionTimeout(30*time.Second)),
	}
}

func kctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *kafkaEnv) store(scope string) *checkpoint.KafkaStore {
	return checkpoint.NewKafkaStore(e.reader, e.topic, scope)
}

// write produces recs in one transaction of the raw transactional client,
// and commits it or aborts it after every record is acknowledged.
func (e *kafkaEnv) write(t *testing.T, commit bool, recs []*kgo.Record) {
	t.Helper()
	ctx := kctx(t)
	if err := e.txn.BeginTransaction(); err != nil {
		t.Fatalf("begin transaction: %v", err)
	}
	if err := e.txn.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d checkpoint records: %v", len(recs), err)
	}
	if err := e.txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
	e.waitSettled(t)
}

// waitSettled waits until the topic's last stable offset reaches its high
// watermark. A real broker answers EndTxn once the outcome is logged by the
// transaction coordinator and writes the transaction markers to the
// partitions afterwards: until then read_committed readers (Load) stop
// before the transaction, as if it had not committed yet.
func (e *kafkaEnv) waitSettled(t *testing.T) {
	t.Helper()
	ctx := kctx(t)
	adm := kadm.NewClient(e.reader)
	for start, tries := time.Now(), 0; ; tries++ {
		ends, err := adm.ListEndOffsets(ctx, e.topic)
		if err != nil {
			t.Fatal(err)
		}
		stable, err := adm.ListCommittedOffsets(ctx, e.topic)
		if err != nil {
			t.Fatal(err)
		}
		settled := true
		ends.Each(func(o kadm.ListedOffset) {
			if so, ok := stable.Lookup(o.Topic, o.Partition); !ok || so.Offset != o.Offset {
				settled = false
			}
		})
		if settled {
			if tries > 0 {
				t.Logf("transaction markers written %v after EndTransaction returned", time.Since(start).Round(time.Millisecond))
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("last stable offset of %s does not reach the high watermark", e.topic)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// load reads source's state with a store that has seen nothing before.
func (e *kafkaEnv) load(t *testing.T, scope, source string) checkpoint.State {
	t.Helper()
	st, err := e.store(scope).Load(kctx(t), source)
	if err != nil {
		t.Fatalf("Load(%s, %s): %v", scope, source, err)
	}
	return st
}

// mustLoad loads source with s, the way a store is used before Stage.
func mustLoad(t *testing.T, s *checkpoint.KafkaStore, source string) checkpoint.State {
	t.Helper()
	st, err := s.Load(kctx(t), source)
	if err != nil {
		t.Fatalf("Load(%s): %v", source, err)
	}
	return st
}

// commitState stages st and commits it in a transaction, then tells the
// store. It returns the staged records.
func (e *kafkaEnv) commitState(t *testing.T, s *checkpoint.KafkaStore, source string, st checkpoint.State) []*kgo.Record {
	t.Helper()
	recs, err := s.Stage(source, st)
	if err != nil {
		t.Fatalf("Stage(%s): %v", source, err)
	}
	for _, r := range recs {
		if r.Topic != e.topic {
			t.Fatalf("staged record %s is for topic %q, want %q", r.Key, r.Topic, e.topic)
		}
	}
	e.write(t, true, recs)
	s.Committed(source)
	return recs
}

func at(h int) time.Time { return time.Date(2026, 2, 1, h, 0, 0, 0, time.UTC) }

// ids returns n distinct UUID-like ids of window w.
func ids(w, from, n int) []string {
	out := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("%08x-0000-4000-8000-%012x", w, i))
	}
	return out
}

// diffState describes how got differs from want, or returns "". Times are
// compared as instants and must be UTC in got; nil and empty id lists are
// the same.
func diffState(got, want checkpoint.State) string {
	if !got.Watermark.Equal(want.Watermark) {
		return fmt.Sprintf("watermark %s, want %s", got.Watermark, want.Watermark)
	}
	if !got.Watermark.IsZero() && got.Watermark.Location() != time.UTC {
		return fmt.Sprintf("watermark %s is not UTC", got.Watermark)
	}
	if len(got.Windows) != len(want.Windows) {
		return fmt.Sprintf("%d windows, want %d", len(got.Windows), len(want.Windows))
	}
	for i, g := range got.Windows {
		w := want.Windows[i]
		if !g.From.Equal(w.From) || !g.To.Equal(w.To) || !g.ReadAt.Equal(w.ReadAt) {
			return fmt.Sprintf("window %d is [%s, %s) read at %s, want [%s, %s) read at %s", i, g.From, g.To, g.ReadAt, w.From, w.To, w.ReadAt)
		}
		for _, tm := range []time.Time{g.From, g.To, g.ReadAt} {
			if tm.Location() != time.UTC {
				return fmt.Sprintf("window %d: time %s is not UTC", i, tm)
			}
		}
		if !slices.Equal(g.IDs, w.IDs) {
			return fmt.Sprintf("window %d: %d ids, want %d (or the same number in another order)", i, len(g.IDs), len(w.IDs))
		}
	}
	return ""
}

// staged summarizes records of source in scope as sorted lines such as
// "head", "w/<from> chunks=2 ids=15000", "w/<from>/1 ids=5000" and
// "w/<from>/1 tombstone", with <from> replaced by the window's hour.
func staged(t *testing.T, recs []*kgo.Record, scope, source string) []string {
	t.Helper()
	prefix := "callstream/" + scope + "/" + source + "/"
	var out []string
	for _, r := range recs {
		key, ok := strings.CutPrefix(string(r.Key), prefix)
		if !ok {
			t.Fatalf("staged record key %q lacks the prefix %q", r.Key, prefix)
		}
		if rest, ok := strings.CutPrefix(key, "w/"); ok {
			from, chunk, isChunk := strings.Cut(rest, "/")
			ns, err := strconv.ParseInt(from, 10, 64)
			if err != nil {
				t.Fatalf("staged key %q: window start %q is not unix ns", r.Key, from)
			}
			key = "w/" + strconv.Itoa(time.Unix(0, ns).UTC().Hour())
			if isChunk {
				key += "/" + chunk
			}
			switch {
			case r.Value == nil:
				key += " tombstone"
			case isChunk:
				var ids []string
				if err := json.Unmarshal(r.Value, &ids); err != nil {
					t.Fatalf("chunk %s: %v", r.Key, err)
				}
				key += " ids=" + strconv.Itoa(len(ids))
			default:
				var h struct{ Chunks, IDs int }
				if err := json.Unmarshal(r.Value, &h); err != nil {
					t.Fatalf("window %s: %v", r.Key, err)
				}
				key += fmt.Sprintf(" chunks=%d ids=%d", h.Chunks, h.IDs)
			}
		} else if r.Value == nil {
			key += " tombstone"
		}
		out = append(out, key)
	}
	slices.Sort(out)
	return out
}

func checkStaged(t *testing.T, recs []*kgo.Record, scope, source string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := staged(t, recs, scope, source); !slices.Equal(got, want) {
		t.Fatalf("staged records:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const (
	scope  = "calls"
	source = "direct-routing"
)

func TestKafkaStoreEmptyTopic(t *testing.T) {
	e := newKafkaEnv(t)
	s := e.store(scope)
	if s.Topic() != e.topic {
		t.Fatalf("Topic() = %q, want %q", s.Topic(), e.topic)
	}
	st := mustLoad(t, s, source)
	if !st.Watermark.IsZero() || len(st.Windows) != 0 {
		t.Fatalf("Load on an empty topic: %+v, want the zero State", st)
	}
}

func TestKafkaStoreStageNeedsLoad(t *testing.T) {
	e := newKafkaEnv(t)
	if _, err := e.store(scope).Stage(source, checkpoint.State{Watermark: at(1)}); err == nil {
		t.Fatal("Stage before Load succeeded")
	}
	// The Kafka store is written only through transactions: it offers no
	// Save that a walker could call outside one.
	if _, ok := any(e.store(scope)).(checkpoint.Saver); ok {
		t.Fatal("KafkaStore is a checkpoint.Saver")
	}
}

func TestKafkaStoreRoundTrip(t *testing.T) {
	e := newKafkaEnv(t)
	s := e.store(scope)
	mustLoad(t, s, source)
	cet := time.FixedZone("CET", 3600)
	want := checkpoint.State{
		// Not UTC and with nanoseconds: Load gives the same instants in UTC.
		Watermark: at(4).In(cet).Add(7),
		Windows: []checkpoint.Window{
			{From: at(1), To: at(2), ReadAt: at(2).Add(time.Minute + 123456789), IDs: []string{"c", "a", "b"}},
			{From: at(2).In(cet), To: at(3), ReadAt: at(3).Add(time.Minute), IDs: nil},
			{From: at(3), To: at(4).Add(7), ReadAt: at(4).Add(time.Minute), IDs: ids(3, 0, 7)},
		},
	}
	recs := e.commitState(t, s, source, want)
	checkStaged(t, recs, scope, source,
		"head",
		"w/1 chunks=1 ids=3", "w/1/0 ids=3",
		"w/2 chunks=0 ids=0",
		"w/3 chunks=1 ids=7", "w/3/0 ids=7",
	)
	if d := diffState(e.load(t, scope, source), want); d != "" {
		t.Fatalf("a fresh store loads a different state: %s", d)
	}
	// The store that wrote it reads the same.
	if d := diffState(mustLoad(t, s, source), want); d != "" {
		t.Fatalf("the writing store loads a different state: %s", d)
	}

	// A later state with a moved watermark and a zero one: the head follows.
	next := want.Clone()
	next.Watermark = time.Time{}
	e.commitState(t, s, source, next)
	if d := diffState(e.load(t, scope, source), next); d != "" {
		t.Fatalf("after clearing the watermark: %s", d)
	}
}

func TestKafkaStoreChunks(t *testing.T) {
	e := newKafkaEnv(t)
	s := e.store(scope)
	mustLoad(t, s, source)

	big := ids(5, 0, 25000)
	st := checkpoint.State{
		Watermark: at(6),
		Windows: []checkpoint.Window{
			{From: at(5), To: at(6), ReadAt: at(6), IDs: big},
			{From: at(6), To: at(7), ReadAt: at(7), IDs: ids(6, 0, checkpoint.MaxIDsPerRecord)},
		},
	}
	recs := e.commitState(t, s, source, st)
	chunks := func(n int) (out []string) { // the records of n GUIDs, as Stage cuts them
		per := (checkpoint.MaxChunkBytes - 2) / 39
		for i := 0; i*per < n; i++ {
			out = append(out, fmt.Sprintf("%d", min(per, n-i*per)))
		}
		return out
	}
	want := []string{"head", fmt.Sprintf("w/5 chunks=%d ids=25000", len(chunks(25000))),
		fmt.Sprintf("w/6 chunks=%d ids=%d", len(chunks(checkpoint.MaxIDsPerRecord)), checkpoint.MaxIDsPerRecord)}
	for i, n := range chunks(25000) {
		want = append(want, fmt.Sprintf("w/5/%d ids=%s", i, n))
	}
	for i, n := range chunks(checkpoint.MaxIDsPerRecord) {
		want = append(want, fmt.Sprintf("w/6/%d ids=%s", i, n))
	}
	checkStaged(t, recs, scope, source, want...)
	for _, r := range recs {
		// The producer's default batch, which a record must fit.
		if len(r.Value) > 64<<10 {
			t.Fatalf("record %s has %d bytes, over the producer's 64 KiB batch", r.Key, len(r.Value))
		}
	}
	if d := diffState(e.load(t, scope, source), st); d != "" {
		t.Fatalf("25,000 ids do not round-trip: %s", d)
	}

	// The walker appends ids: only the new ones are written, in new chunks;
	// the header follows; the unchanged window writes nothing.
	st.Windows[0].IDs = append(slices.Clone(big), ids(5, 25000, 12000)...)
	recs = e.commitState(t, s, source, st)
	first := len(chunks(25000))
	want = []string{"head", fmt.Sprintf("w/5 chunks=%d ids=37000", first+len(chunks(12000)))}
	for i, n := range chunks(12000) {
		want = append(want, fmt.Sprintf("w/5/%d ids=%s", first+i, n))
	}
	checkStaged(t, recs, scope, source, want...)
	var chunkN []string
	for _, r := range recs {
		if strings.HasSuffix(string(r.Key), fmt.Sprintf("/%d", first)) {
			if err := json.Unmarshal(r.Value, &chunkN); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(chunkN) == 0 || chunkN[0] != st.Windows[0].IDs[25000] {
		t.Fatalf("chunk %d does not start with id 25000", first)
	}
	if d := diffState(e.load(t, scope, source), st); d != "" {
		t.Fatalf("after appending: %s", d)
	}

	// A store that learnt the state by Load (not by Committed) also writes
	// only what changed: a later ReadAt rewrites the header alone.
	s2 := e.store(scope)
	mustLoad(t, s2, source)
	st.Windows[1].ReadAt = at(9)
	recs = e.commitState(t, s2, source, st)
	checkStaged(t, recs, scope, source, "head", fmt.Sprintf("w/6 chunks=%d ids=10000", len(chunks(checkpoint.MaxIDsPerRecord))))
	recs, err := s2.Stage(source, st)
	if err != nil {
		t.Fatal(err)
	}
	checkStaged(t, recs, scope, source, "head")
	if d := diffState(e.load(t, scope, source), st); d != "" {
		t.Fatalf("after the ReadAt change: %s", d)
	}
}

func TestKafkaStoreEvict(t *testing.T) {
	e := newKafkaEnv(t)
	s := e.store(scope)
	mustLoad(t, s, source)
	st := checkpoint.State{
		Watermark: at(4),
		Windows: []checkpoint.Window{
			{From: at(1), To: at(2), ReadAt: at(2), IDs: ids(1, 0, checkpoint.MaxIDsPerRecord+1)},
			{From: at(2), To: at(3), ReadAt: at(3), IDs: nil},
			{From: at(3), To: at(4), ReadAt: at(4), IDs: ids(3, 0, 3)},
		},
	}
	e.commitState(t, s, source, st)

	st.Evict(at(4)) // drops the windows ending before 04:00
	st.Watermark = at(5)
	st.Upsert(checkpoint.Window{From: at(4), To: at(5), ReadAt: at(5), IDs: ids(4, 0, 2)})
	recs := e.commitState(t, s, source, st)
	checkStaged(t, recs, scope, source,
		"head",
		"w/1 tombstone", "w/1/0 tombstone", "w/1/1 tombstone", "w/1/2 tombstone", "w/1/3 tombstone", "w/1/4 tombstone",
		"w/1/5 tombstone", "w/1/6 tombstone", "w/1/7 tombstone", // 10,001 GUIDs in chunks of 1,260
		"w/2 tombstone",
		"w/4 chunks=1 ids=2", "w/4/0 ids=2",
	)
	got := e.load(t, scope, source)
	if d := diffState(got, st); d != "" {
		t.Fatalf("after evicting: %s", d)
	}
	if got.Windows[0].From.Equal(at(1)) {
		t.Fatal("the evicted window is still loaded")
	}

	// The tombstones are in the topic, committed, so compaction removes the
	// evicted records.
	tomb := 0
	for _, r := range e.kc.ReadAll(t, e.topic, true) {
		if r.Value == nil {
			tomb++
		}
	}
	if tomb != 10 {
		t.Fatalf("%d tombstones in the topic, want 10", tomb)
	}

	// A window re-read at the same start after eviction starts afresh.
	st.Upsert(checkpoint.Window{From: at(1), To: at(2), ReadAt: at(6), IDs: []string{"again"}})
	st.Watermark = at(5)
	recs = e.commitState(t, s, source, st)
	checkStaged(t, recs, scope, source, "head", "w/1 chunks=1 ids=1", "w/1/0 ids=1")
	if d := diffState(e.load(t, scope, source), st); d != "" {
		t.Fatalf("after re-adding: %s", d)
	}
}

func TestKafkaStoreAbortedTransactionIsInvisible(t *testing.T) {
	e := newKafkaEnv(t)
	s := e.store(scope)
	mustLoad(t, s, source)
	first := checkpoint.State{
		Watermark: at(2),
		Windows:   []checkpoint.Window{{From: at(1), To: at(2), ReadAt: at(2), IDs: ids(1, 0, 4)}},
	}
	e.commitState(t, s, source, first)

	second := first.Clone()
	second.Watermark = at(3)
	second.Windows[0].IDs = append(second.Windows[0].IDs, ids(1, 4, 3)...)
	second.Upsert(checkpoint.Window{From: at(2), To: at(3), ReadAt: at(3), IDs: ids(2, 0, 5)})
	recs, err := s.Stage(source, second)
	if err != nil {
		t.Fatal(err)
	}
	e.write(t, false, recs) // the transaction aborts: Committed is not called

	// Not vacuous: the aborted records are in the log.
	if all, committed := len(e.kc.ReadAll(t, e.topic, false)), len(e.kc.ReadAll(t, e.topic, true)); all <= committed {
		t.Fatalf("%d records read uncommitted, %d committed: the aborted ones are not in the log", all, committed)
	}
	if d := diffState(e.load(t, scope, source), first); d != "" {
		t.Fatalf("after an aborted transaction a fresh store loads: %s", d)
	}
	// The store re-reads the truth and stages the whole difference again.
	if d := diffState(mustLoad(t, s, source), first); d != "" {
		t.Fatalf("after an aborted transaction the store loads: %s", d)
	}
	recs = e.commitState(t, s, source, second)
	checkStaged(t, recs, scope, source,
		"head",
		"w/1 chunks=2 ids=7", "w/1/1 ids=3",
		"w/2 chunks=1 ids=5", "w/2/0 ids=5",
	)
	if d := diffState(e.load(t, scope, source), second); d != "" {
		t.Fatalf("after committing again: %s", d)
	}
}

// TestKafkaStoreOpenTransactionIsInvisible: a crash mid-transaction leaves
// the previous state for whoever loads before the transaction ends.
func TestKafkaStoreOpenTransactionIsInvisible(t *testing.T) {
	e := newKafkaEnv(t)
	s := e.store(scope)
	mustLoad(t, s, source)
	first := checkpoint.State{Watermark: at(2), Windows: []checkpoint.Window{{From: at(1), To: at(2), ReadAt: at(2), IDs: []string{"a"}}}}
	e.commitState(t, s, source, first)

	second := first.Clone()
	second.Watermark = at(3)
	second.Windows[0].IDs = append(second.Windows[0].IDs, "b")
	recs, err := s.Stage(source, second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := kctx(t)
	if err := e.txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.txn.EndTransaction(context.Background(), kgo.TryAbort) })
	if err := e.txn.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if d := diffState(e.load(t, scope, source), first); d != "" {
		t.Fatalf("with the transaction open a fresh store loads: %s", d)
	}
	if err := e.txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	e.waitSettled(t)
	if d := diffState(e.load(t, scope, source), second); d != "" {
		t.Fatalf("after the commit: %s", d)
	}
}

// TestKafkaStoreStagedButNotCommitted: a Stage whose transaction never
// committed (no Committed call) does not change what the next Stage writes.
func TestKafkaStoreStagedButNotCommitted(t *testing.T) {
	e := newKafkaEnv(t)
	s := e.store(scope)
	mustLoad(t, s, source)
	st := checkpoint.State{Windows: []checkpoint.Window{{From: at(1), To: at(2), ReadAt: at(2), IDs: ids(1, 0, 2)}}}
	if _, err := s.Stage(source, st); err != nil { // lost: never produced
		t.Fatal(err)
	}
	recs := e.commitState(t, s, source, st)
	checkStaged(t, recs, scope, source, "head", "w/1 chunks=1 ids=2", "w/1/0 ids=2")
	if d := diffState(e.load(t, scope, source), st); d != "" {
		t.Fatal(d)
	}
}

func TestKafkaStoreIsolation(t *testing.T) {
	e := newKafkaEnv(t)
	type key struct{ scope, source string }
	states := map[key]checkpoint.State{
		{"calls", "direct-routing"}: {Watermark: at(1), Windows: []checkpoint.Window{{From: at(0), To: at(1), ReadAt: at(1), IDs: []string{"a"}}}},
		// A source whose name extends another's.
		{"calls", "direct-routing-eu"}: {Watermark: at(2), Windows: []checkpoint.Window{{From: at(1), To: at(2), ReadAt: at(2), IDs: []string{"b"}}}},
		{"calls", "pstn"}:              {Watermark: at(3)},
		// The same source in another deployment sharing the topic.
		{"calls-eu", "direct-routing"}: {Watermark: at(4), Windows: []checkpoint.Window{{From: at(3), To: at(4), ReadAt: at(4), IDs: []string{"c", "d"}}}},
	}
	stores := map[string]*checkpoint.KafkaStore{"calls": e.store("calls"), "calls-eu": e.store("calls-eu")}
	for k, st := range states {
		mustLoad(t, stores[k.scope], k.source)
		e.commitState(t, stores[k.scope], k.source, st)
	}
	for k, want := range states {
		if d := diffState(e.load(t, k.scope, k.source), want); d != "" {
			t.Errorf("%s/%s: %s", k.scope, k.source, d)
		}
	}
	for _, k := range []key{{"calls", "direct"}, {"calls-eu", "pstn"}, {"other", "direct-routing"}} {
		if st := e.load(t, k.scope, k.source); !st.Watermark.IsZero() || len(st.Windows) != 0 {
			t.Errorf("%s/%s was never written but loads %+v", k.scope, k.source, st)
		}
	}
	// Evicting everything from one source leaves the others alone.
	s := stores["calls"]
	e.commitState(t, s, "direct-routing", checkpoint.State{Watermark: at(9)})
	for k, want := range states {
		if k == (key{"calls", "direct-routing"}) {
			want = checkpoint.State{Watermark: at(9)}
		}
		if d := diffState(e.load(t, k.scope, k.source), want); d != "" {
			t.Errorf("after evicting calls/direct-routing, %s/%s: %s", k.scope, k.source, d)
		}
	}
}

// TestKafkaStoreCoalescedWindows: adjacent windows the walker merged (a
// rescan read them as one span) become the first with a later end — its
// chunks kept, the others' ids in new chunks — and the others are deleted;
// the merged state round-trips.
func TestKafkaStoreCoalescedWindows(t *testing.T) {
	e := newKafkaEnv(t)
	s := e.store(scope)
	mustLoad(t, s, source)
	st := checkpoint.State{Watermark: at(4), Windows: []checkpoint.Window{
		{From: at(1), To: at(2), ReadAt: at(2), IDs: ids(1, 0, 3)},
		{From: at(2), To: at(3), ReadAt: at(3), IDs: ids(2, 0, 2)},
		{From: at(3), To: at(4), ReadAt: at(4), IDs: ids(3, 0, 1)},
	}}
	e.commitState(t, s, source, st)
	merged := checkpoint.State{Watermark: at(4), Windows: []checkpoint.Window{
		{From: at(1), To: at(3), ReadAt: at(5), IDs: append(ids(1, 0, 3), ids(2, 0, 2)...)},
		st.Windows[2],
	}}
	recs := e.commitState(t, s, source, merged)
	checkStaged(t, recs, scope, source, "head", "w/1 chunks=2 ids=5", "w/1/1 ids=2", "w/2 tombstone", "w/2/0 tombstone")
	if d := diffState(e.load(t, scope, source), merged); d != "" {
		t.Fatalf("the coalesced state does not round-trip: %s", d)
	}
}

func TestKafkaStoreStageRefusesImpossibleStates(t *testing.T) {
	e := newKafkaEnv(t)
	s := e.store(scope)
	mustLoad(t, s, source)
	base := checkpoint.State{Watermark: at(2), Windows: []checkpoint.Window{{From: at(1), To: at(2), ReadAt: at(2), IDs: ids(1, 0, 3)}}}
	e.commitState(t, s, source, base)

	for _, tt := range []struct {
		name   string
		mutate func(*checkpoint.State)
	}{
		{"overlapping windows", func(st *checkpoint.State) {
			st.Windows = append(st.Windows, checkpoint.Window{From: at(1).Add(time.Minute), To: at(3), ReadAt: at(3)})
		}},
		{"empty window", func(st *checkpoint.State) { st.Windows[0].To = st.Windows[0].From }},
		{"window end moved back", func(st *checkpoint.State) { st.Windows[0].To = at(1).Add(time.Minute) }},
		{"ids lost", func(st *checkpoint.State) { st.Windows[0].IDs = st.Windows[0].IDs[:2] }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := base.Clone()
			tt.mutate(&st)
			if recs, err := s.Stage(source, st); err == nil {
				t.Fatalf("Stage accepted it and staged %v", staged(t, recs, scope, source))
			}
		})
	}
	// A refused Stage changes nothing.
	if recs, err := s.Stage(source, base); err != nil {
		t.Fatal(err)
	} else {
		checkStaged(t, recs, scope, source, "head")
	}
}

func TestKafkaStoreCorrupt(t *testing.T) {
	e := newKafkaEnv(t)
	p := "callstream/" + scope + "/"
	w1 := strconv.FormatInt(at(1).UnixNano(), 10)
	w2 := strconv.FormatInt(at(2).UnixNano(), 10)
	head := `{"version":1,"watermark":"2026-02-01T03:00:00Z"}`
	win := func(from, to time.Time, chunks, n int) string {
		return fmt.Sprintf(`{"from":%q,"to":%q,"readAt":%q,"chunks":%d,"ids":%d}`,
			from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), chunks, n)
	}
	type kv struct{ key, value string } // value "<nil>" is a tombstone
	tests := []struct {
		name string
		recs []kv
	}{
		{"head is not JSON", []kv{{"head", `{"version":1,`}}},
		{"head of another version", []kv{{"head", `{"version":99}`}}},
		{"window header is not JSON", []kv{{"head", head}, {"w/" + w1, `nope`}}},
		{"missing chunk", []kv{{"head", head}, {"w/" + w1, win(at(1), at(2), 2, 3)}, {"w/" + w1 + "/0", `["a","b"]`}}},
		{"chunk deleted by a tombstone", []kv{{"head", head}, {"w/" + w1, win(at(1), at(2), 1, 1)}, {"w/" + w1 + "/0", `["a"]`}, {"w/" + w1 + "/0", "<nil>"}}},
		{"chunk is not a JSON array", []kv{{"head", head}, {"w/" + w1, win(at(1), at(2), 1, 1)}, {"w/" + w1 + "/0", `{"a":1}`}}},
		{"chunk is not JSON", []kv{{"head", head}, {"w/" + w1, win(at(1), at(2), 1, 1)}, {"w/" + w1 + "/0", `["a"`}}},
		{"fewer ids than the header says", []kv{{"head", head}, {"w/" + w1, win(at(1), at(2), 1, 5)}, {"w/" + w1 + "/0", `["a","b"]`}}},
		{"more ids than the header says", []kv{{"head", head}, {"w/" + w1, win(at(1), at(2), 1, 1)}, {"w/" + w1 + "/0", `["a","b"]`}}},
		{"negative id count", []kv{{"head", head}, {"w/" + w1, win(at(1), at(2), 0, -1)}}},
		{"window ends before it starts", []kv{{"head", head}, {"w/" + w1, win(at(2), at(1), 0, 0)}}},
		{"overlapping windows", []kv{{"head", head}, {"w/" + w1, win(at(1), at(3), 0, 0)}, {"w/" + w2, win(at(2), at(3), 0, 0)}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case is its own source on the shared topic.
			src := "src" + strconv.Itoa(i)
			var recs []*kgo.Record
			for _, r := range tt.recs {
				rec := &kgo.Record{Topic: e.topic, Key: []byte(p + src + "/" + r.key), Value: []byte(r.value)}
				if r.value == "<nil>" {
					rec.Value = nil
				}
				recs = append(recs, rec)
			}
			e.write(t, true, recs)

			st, err := loadNoPanic(t, e.store(scope), src)
			var ce *checkpoint.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Load: state %+v, error %v; want a *CorruptError", st, err)
			}
			if !strings.Contains(ce.Path, e.topic) {
				t.Errorf("CorruptError.Path %q does not name the topic %s", ce.Path, e.topic)
			}
			t.Logf("%v", err)
		})
	}
	// The corrupt sources do not spoil a healthy one on the same topic.
	s := e.store(scope)
	mustLoad(t, s, source)
	want := checkpoint.State{Watermark: at(1)}
	e.commitState(t, s, source, want)
	if d := diffState(e.load(t, scope, source), want); d != "" {
		t.Fatal(d)
	}
}

// loadNoPanic turns a panic in Load into a test failure, so that one bad
// case does not take down the rest of the package's tests.
func loadNoPanic(t *testing.T, s *checkpoint.KafkaStore, source string) (st checkpoint.State, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Load panicked instead of returning a *CorruptError: %v", r)
		}
	}()
	return s.Load(kctx(t), source)
}
