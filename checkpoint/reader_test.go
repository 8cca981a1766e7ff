package checkpoint_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/checkpoint"
)

// lane is one (scope, source) of a reader's test.
type lane struct{ scope, source string }

// tenantLanes returns n tenants' lanes on data topic "calls", both sources
// each, plus the single-tenant lanes of "calls".
func tenantLanes(n int) []lane {
	out := []lane{{"calls", "direct-routing"}, {"calls", "pstn"}}
	for i := range n {
		scope := checkpoint.TenantScope("calls", fmt.Sprintf("%08x-0000-4000-8000-000000000000", i))
		out = append(out, lane{scope, "direct-routing"}, lane{scope, "pstn"})
	}
	return out
}

// laneState is a state unique to lane i.
func laneState(i int) checkpoint.State {
	base := at(0).Add(time.Duration(i) * time.Minute)
	return checkpoint.State{
		Watermark: base.Add(2 * time.Hour),
		Windows: []checkpoint.Window{
			{From: base, To: base.Add(time.Hour), ReadAt: base.Add(time.Hour), IDs: ids(i, 0, 1+i%3)},
			{From: base.Add(time.Hour), To: base.Add(2 * time.Hour), ReadAt: base.Add(2 * time.Hour)},
		},
	}
}

// gatedReader returns a reader whose first pass waits until release is
// closed, so a test can queue loads behind it.
func gatedReader(e *kafkaEnv) (*checkpoint.KafkaReader, chan struct{}) {
	r := checkpoint.NewKafkaReader(e.reader, e.topic)
	release := make(chan struct{})
	var first atomic.Bool
	r.SetPassHook(func() {
		if first.CompareAndSwap(false, true) {
			<-release
		}
	})
	return r, release
}

// loadAll loads every lane concurrently through r's stores, with r's first
// pass held (see gatedReader) until every other load waits for the next:
// so exactly two passes serve them all. It returns the stores and states.
func loadAll(t *testing.T, r *checkpoint.KafkaReader, release chan struct{}, lanes []lane) ([]*checkpoint.KafkaStore, []checkpoint.State) {
	t.Helper()
	ctx := kctx(t)
	stores := make([]*checkpoint.KafkaStore, len(lanes))
	states := make([]checkpoint.State, len(lanes))
	errs := make([]error, len(lanes))
	before := r.Passes()
	var wg sync.WaitGroup
	for i, l := range lanes {
		stores[i] = r.Store(l.scope)
		wg.Go(func() { states[i], errs[i] = stores[i].Load(ctx, l.source) })
	}
	for r.Waiting() < len(lanes)-1 {
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d loads wait for the next pass", r.Waiting(), len(lanes)-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Load(%s, %s): %v", lanes[i].scope, lanes[i].source, err)
		}
	}
	if got := r.Passes() - before; got != 2 {
		t.Fatalf("%d loads took %d passes over the topic, want 2 (the held one and the next)", len(lanes), got)
	}
	return stores, states
}

// TestKafkaReaderManyLanesTwoPasses: 2,000 tenant lanes (1,000 tenants,
// both sources) and a single-tenant deployment's lanes, loaded at once
// through one reader, are served by two passes over the topic — the one
// the first load started and the next — each lane with its own state;
// stores of one reader stage and commit concurrently without sharing
// state.
func TestKafkaReaderManyLanesTwoPasses(t *testing.T) {
	e := newKafkaEnv(t)
	lanes := tenantLanes(1000)

	r, release := gatedReader(e)
	stores, states := loadAll(t, r, release, lanes)
	for i, st := range states {
		if !st.Watermark.IsZero() || len(st.Windows) != 0 {
			t.Fatalf("lane %v loads %+v from an empty topic", lanes[i], st)
		}
	}

	// Every lane stages its state concurrently; one transaction carries
	// them all.
	recs := make([][]*kgo.Record, len(lanes))
	var wg sync.WaitGroup
	for i, l := range lanes {
		wg.Go(func() {
			var err error
			if recs[i], err = stores[i].Stage(l.source, laneState(i)); err != nil {
				t.Errorf("Stage(%v): %v", l, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	e.write(t, true, slices.Concat(recs...))
	for i, l := range lanes {
		wg.Go(func() { stores[i].Committed(l.source) })
	}
	wg.Wait()

	r2, release2 := gatedReader(e)
	start := time.Now()
	_, states = loadAll(t, r2, release2, lanes)
	t.Logf("%d lanes loaded in %v with 2 passes", len(lanes), time.Since(start).Round(time.Millisecond))
	for i, st := range states {
		if d := diffState(st, laneState(i)); d != "" {
			t.Fatalf("lane %v: %s", lanes[i], d)
		}
	}
	// The stores that staged know what they committed: staging the same
	// state again writes only the head.
	for i, l := range lanes[:10] {
		again, err := stores[i].Stage(l.source, laneState(i))
		if err != nil {
			t.Fatal(err)
		}
		checkStaged(t, again, l.scope, l.source, "head")
	}
}

// commitNow stages st with s, produces it in a transaction of cl and
// commits it, and returns as soon as EndTransaction does — before the
// broker may have written the transaction's markers. It returns the
// records, with their offsets.
func commitNow(t *testing.T, cl *kgo.Client, s *checkpoint.KafkaStore, source string, st checkpoint.State) []*kgo.Record {
	t.Helper()
	ctx := kctx(t)
	recs, err := s.Stage(source, st)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin transaction: %v", err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	s.Committed(source)
	return recs
}

// TestKafkaReaderLoadSeesEarlierCommit: a load returns every transaction
// committed before it was called, even when it is called the moment the
// commit returns, before the broker has written the markers, from a reader
// that has seen nothing before.
func TestKafkaReaderLoadSeesEarlierCommit(t *testing.T) {
	e := newKafkaEnv(t)
	w := e.store(scope)
	mustLoad(t, w, source)
	st := checkpoint.State{}
	adm := kadm.NewClient(e.reader)
	early := 0 // commits whose markers were not yet written when the load began
	t.Cleanup(func() { t.Logf("%d of 15 loads began before their commit's markers were written", early) })
	for i := range 15 {
		st.Watermark = at(0).Add(time.Duration(i+1) * time.Minute)
		st.Upsert(checkpoint.Window{From: at(0).Add(time.Duration(i) * time.Minute), To: st.Watermark, ReadAt: st.Watermark, IDs: ids(i, 0, 2)})
		recs := commitNow(t, e.txn, w, source, st)
		if stable, err := adm.ListCommittedOffsets(kctx(t), e.topic); err == nil {
			if so, ok := stable.Lookup(e.topic, 0); ok && so.Offset <= recs[len(recs)-1].Offset {
				early++
			}
		}
		got, err := checkpoint.NewKafkaReader(e.reader, e.topic).Store(scope).Load(kctx(t), source)
		if err != nil {
			t.Fatalf("commit %d: Load: %v", i, err)
		}
		if d := diffState(got, st); d != "" {
			t.Fatalf("commit %d: a load called after it returned loads an older state: %s", i, d)
		}
	}
}

// TestKafkaReaderOpenTransactionOfAnotherScope: a transaction left open by
// another lane on the same partition holds back the last stable offset but
// not a load of this lane, which sees this lane's commit made after the
// open transaction began; the open transaction's records stay invisible
// until it commits.
func TestKafkaReaderOpenTransactionOfAnotherScope(t *testing.T) {
	e := newKafkaEnv(t)
	other := checkpoint.TenantScope("calls", "tenant-b")
	mine := checkpoint.TenantScope("calls", "tenant-a")
	r := checkpoint.NewKafkaReader(e.reader, e.topic)
	// Open transactions of the scope loaded are waited for only briefly here.
	r.SetOpenTxnWait(500 * time.Millisecond)
	os, ms := r.Store(other), r.Store(mine)
	mustLoad(t, os, source)
	mustLoad(t, ms, source)

	// The other lane's transaction, left open.
	ctx := kctx(t)
	otx := e.kc.Client(t, kgo.TransactionalID(e.topic+"-other"), kgo.TransactionTimeout(time.Minute))
	otherState := checkpoint.State{Watermark: at(7)}
	orecs, err := os.Stage(source, otherState)
	if err != nil {
		t.Fatal(err)
	}
	if err := otx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = otx.EndTransaction(context.Background(), kgo.TryAbort) })
	if err := otx.ProduceSync(ctx, orecs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// This lane commits after it.
	myState := checkpoint.State{Watermark: at(3), Windows: []checkpoint.Window{{From: at(2), To: at(3), ReadAt: at(3), IDs: ids(2, 0, 5)}}}
	mrecs := commitNow(t, e.txn, ms, source, myState)

	// Not vacuous: the open transaction holds the last stable offset back,
	// before this lane's records, so read_committed cannot see them yet.
	stable, err := kadm.NewClient(e.reader).ListCommittedOffsets(ctx, e.topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	if so, _ := stable.Lookup(e.topic, 0); so.Offset > orecs[0].Offset || so.Offset > mrecs[0].Offset {
		t.Fatalf("last stable offset %d, the open transaction starts at %d and this lane's records at %d: it does not hold them back",
			so.Offset, orecs[0].Offset, mrecs[0].Offset)
	}

	start := time.Now()
	got := mustLoad(t, checkpoint.NewKafkaReader(e.reader, e.topic).Store(mine), source)
	if d := diffState(got, myState); d != "" {
		t.Fatalf("with another lane's transaction open: %s", d)
	}
	if took := time.Since(start); took > checkpoint.DefaultOpenTxnWait/2 {
		t.Fatalf("the load took %v: it waited for another lane's transaction", took)
	}
	if st := mustLoad(t, r.Store(other), source); !st.Watermark.IsZero() {
		t.Fatalf("the open transaction's state is visible: %+v", st)
	}

	if err := otx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if d := diffState(mustLoad(t, checkpoint.NewKafkaReader(e.reader, e.topic).Store(other), source), otherState); d != "" {
		t.Fatalf("after the other lane commits: %s", d)
	}
	if d := diffState(mustLoad(t, ms, source), myState); d != "" {
		t.Fatalf("after the other lane commits, this lane: %s", d)
	}
}

// TestKafkaReaderLoadWaitIsBoundedByCtx: a load that waits for an open
// transaction of its own lane gives up when its ctx ends, with an error
// saying so, while a load of another lane in the same pass is answered.
func TestKafkaReaderLoadWaitIsBoundedByCtx(t *testing.T) {
	e := newKafkaEnv(t)
	r := checkpoint.NewKafkaReader(e.reader, e.topic)
	r.SetOpenTxnWait(time.Hour) // only ctx bounds the wait
	s := r.Store(scope)
	mustLoad(t, s, source)
	recs, err := s.Stage(source, checkpoint.State{Watermark: at(1)})
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

	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start := time.Now()
	_, err = r.Store(scope).Load(short, source)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Load with an open transaction of its lane: %v, want the ctx's deadline", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Load returned %v after its ctx ended", took)
	}
	t.Logf("%v", err)

	// The transaction commits: a new load sees it.
	if err := e.txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if st := mustLoad(t, r.Store(scope), source); !st.Watermark.Equal(at(1)) {
		t.Fatalf("after the commit: watermark %s, want %s", st.Watermark, at(1))
	}
}

// TestKafkaReaderScopes: Scopes lists every lane on the topic with its
// state, sorted, tenant scopes split by SplitScope, a corrupt lane with its
// own error and the others intact, and leaves out lanes not committed.
func TestKafkaReaderScopes(t *testing.T) {
	e := newKafkaEnv(t)
	r := checkpoint.NewKafkaReader(e.reader, e.topic)
	if got, err := r.Scopes(kctx(t)); err != nil || len(got) != 0 {
		t.Fatalf("Scopes of an empty topic: %v, %v", got, err)
	}
	lanes := tenantLanes(3)
	stores := map[string]*checkpoint.KafkaStore{}
	var recs []*kgo.Record
	for i, l := range lanes {
		if stores[l.scope] == nil {
			stores[l.scope] = r.Store(l.scope)
		}
		mustLoad(t, stores[l.scope], l.source)
		rs, err := stores[l.scope].Stage(l.source, laneState(i))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rs...)
	}
	e.write(t, true, recs)
	// A corrupt lane, and an aborted one.
	e.write(t, true, []*kgo.Record{{Topic: e.topic, Key: []byte("callstream/calls@bad/pstn/head"), Value: []byte("{")}})
	gone := r.Store("calls@gone")
	mustLoad(t, gone, source)
	aborted, err := gone.Stage(source, checkpoint.State{Watermark: at(1)})
	if err != nil {
		t.Fatal(err)
	}
	e.write(t, false, aborted)

	got, err := r.Scopes(kctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(lanes)
	want = append(want, lane{"calls@bad", "pstn"})
	slices.SortFunc(want, func(a, b lane) int {
		return cmp.Or(cmp.Compare(a.scope, b.scope), cmp.Compare(a.source, b.source))
	})
	if len(got) != len(want) {
		t.Fatalf("Scopes lists %d lanes, want %d: %+v", len(got), len(want), got)
	}
	for i, g := range got {
		if g.Scope != want[i].scope || g.Source != want[i].source {
			t.Fatalf("lane %d is %s/%s, want %s/%s", i, g.Scope, g.Source, want[i].scope, want[i].source)
		}
		if g.Scope == "calls@bad" {
			var ce *checkpoint.CorruptError
			if !errors.As(g.Err, &ce) {
				t.Fatalf("the corrupt lane's Err is %v, want a *CorruptError", g.Err)
			}
			continue
		}
		if g.Err != nil {
			t.Fatalf("%s/%s: %v", g.Scope, g.Source, g.Err)
		}
		if d := diffState(g.State, laneState(slices.Index(lanes, lane{g.Scope, g.Source}))); d != "" {
			t.Fatalf("%s/%s: %s", g.Scope, g.Source, d)
		}
		topic, tenant := checkpoint.SplitScope(g.Scope)
		if topic != "calls" || (tenant == "") != (g.Scope == "calls") {
			t.Fatalf("SplitScope(%q) = %q, %q", g.Scope, topic, tenant)
		}
	}
}

func TestTenantScope(t *testing.T) {
	for _, tt := range []struct{ topic, tenant, scope string }{
		{"calls", "", "calls"},
		{"calls", "72f988bf-86f1-41af-91ab-2d7cd011db47", "calls@72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{"teams.pstn-v2", "contoso", "teams.pstn-v2@contoso"},
	} {
		if got := checkpoint.TenantScope(tt.topic, tt.tenant); got != tt.scope {
			t.Errorf("TenantScope(%q, %q) = %q, want %q", tt.topic, tt.tenant, got, tt.scope)
		}
		if topic, tenant := checkpoint.SplitScope(tt.scope); topic != tt.topic || tenant != tt.tenant {
			t.Errorf("SplitScope(%q) = %q, %q; want %q, %q", tt.scope, topic, tenant, tt.topic, tt.tenant)
		}
	}
}

// BenchmarkKafkaReaderLoad2000: 2,000 lanes load at once through one
// reader, as when a replica is handed buckets; it reports the passes over
// the topic per round (ideally 2: the first load's and the next).
func BenchmarkKafkaReaderLoad2000(b *testing.B) {
	e := newKafkaEnv(b)
	lanes := tenantLanes(1000)
	w := checkpoint.NewKafkaReader(e.reader, e.topic)
	var recs []*kgo.Record
	for i, l := range lanes {
		s := w.Store(l.scope)
		if _, err := s.Load(context.Background(), l.source); err != nil {
			b.Fatal(err)
		}
		rs, err := s.Stage(l.source, laneState(i))
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rs...)
	}
	ctx := context.Background()
	if err := e.txn.BeginTransaction(); err != nil {
		b.Fatal(err)
	}
	if err := e.txn.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	if err := e.txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		b.Fatal(err)
	}
	var passes int64
	b.ResetTimer()
	for range b.N {
		r := checkpoint.NewKafkaReader(e.reader, e.topic)
		var wg sync.WaitGroup
		for _, l := range lanes {
			wg.Go(func() {
				if _, err := r.Store(l.scope).Load(context.Background(), l.source); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		passes += r.Passes()
	}
	b.ReportMetric(float64(passes)/float64(b.N), "passes/op")
}

// TestKafkaReaderWaitsForOwnOpenTransaction: a transaction of the lane
// being loaded that is open when the load begins is waited for, and
// applied whole although most of it is written after the load listed the
// watermarks: the load never returns half a transaction.
func TestKafkaReaderWaitsForOwnOpenTransaction(t *testing.T) {
	e := newKafkaEnv(t)
	w := e.store(scope)
	mustLoad(t, w, source)
	st := checkpoint.State{Watermark: at(2), Windows: []checkpoint.Window{{From: at(1), To: at(2), ReadAt: at(2), IDs: ids(1, 0, 3)}}}
	recs, err := w.Stage(source, st)
	if err != nil {
		t.Fatal(err)
	}
	// The head first, below the watermarks the load lists; the window's
	// chunk and header after.
	checkStaged(t, recs[:1], scope, source, "head")
	ctx := kctx(t)
	if err := e.txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.txn.EndTransaction(context.Background(), kgo.TryAbort) })
	if err := e.txn.ProduceSync(ctx, recs[0]).FirstErr(); err != nil {
		t.Fatal(err)
	}

	r := checkpoint.NewKafkaReader(e.reader, e.topic)
	listed := make(chan struct{})
	r.SetPassHook(func() { close(listed) })
	type result struct {
		st  checkpoint.State
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := r.Store(scope).Load(ctx, source)
		done <- result{st, err}
	}()
	<-listed
	time.Sleep(500 * time.Millisecond) // the pass lists the watermarks meanwhile
	select {
	case res := <-done:
		t.Fatalf("Load returned %+v, %v while its lane's transaction was open", res.st, res.err)
	default:
	}
	if err := e.txn.ProduceSync(ctx, recs[1:]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := e.txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("Load: %v", res.err)
	}
	if d := diffState(res.st, st); d != "" {
		t.Fatalf("the transaction was not applied whole: %s", d)
	}
}
