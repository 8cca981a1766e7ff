package walk

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/fetch/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
)

// TestCheckpointNeverAdvancesOnAFailedCommit lets three window transactions
// commit, then makes every further EndTxn fail (the broker drops the
// connection). The walk must give up without ever claiming more: the
// checkpoint's watermark is the end of the third window, and read_committed
// readers see exactly the rows of those three windows.
func TestCheckpointNeverAdvancesOnAFailedCommit(t *testing.T) {
	end := day0.Add(8 * time.Hour)
	r := newTxnRig(t, graphsim.Config{Seed: 4, Start: day0, End: end, RowsPerHour: 300}, "txn-fail", 3)
	sim, kc, cl := r.sim, r.kc, r.cl
	w, err := New(Config{Source: DirectRouting(), Start: day0, End: end, Window: time.Hour,
		MaxConsecutiveFailures: 2, Logger: slog.New(slog.DiscardHandler)}, r.fc, r.prod, r.store())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := w.Run(ctx, true); err == nil {
		t.Fatal("the walk succeeded although commits failed")
	}
	third := day0.Add(3 * time.Hour)
	st, err := checkpoint.NewKafkaStore(cl, "rows.checkpoint", "rows").Load(ctx, "direct-routing")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Watermark.Equal(third) {
		t.Fatalf("checkpoint watermark %s, want %s (the last committed window)", st.Watermark, third)
	}
	if w.Watermark() != third {
		t.Fatalf("walker reports watermark %s, want %s", w.Watermark(), third)
	}
	want := map[string]bool{}
	for _, r := range sim.Rows(day0, third) {
		want[r.ID] = true
	}
	var row schemas.DirectRoutingLogRow
	recs := kc.ReadAll(t, "rows", true)
	for _, rec := range recs {
		if err := schemas.DecodeDirectRoutingRow(rec.Value, &row); err != nil {
			t.Fatal(err)
		}
		if !want[row.ID] {
			t.Fatalf("row %s of an uncommitted window is visible", row.ID)
		}
		delete(want, row.ID)
	}
	if len(want) != 0 {
		t.Fatalf("%d rows of committed windows are missing", len(want))
	}
}

// txnRig is an exactly-once walk's surroundings on kfake: a simulator, its
// fetch client, a Kafka checkpoint store and a transactional producer.
// EndTxn fails (the coordinator is gone) once failAfter commits went
// through, unless failAfter is 0; commits counts the commits.
type txnRig struct {
	sim     *graphsim.Server
	fc      *fetch.Client
	kc      *kafkatest.Cluster
	cl      *kgo.Client
	prod    *producer.Producer
	commits *atomic.Int32
}

func newTxnRig(t *testing.T, sc graphsim.Config, txnID string, failAfter int32) *txnRig {
	t.Helper()
	sim, fc := simulatedGraph(t, sc)
	kc := kafkatest.NewFake(t, kfake.SeedTopics(3, "rows"))
	commits := new(atomic.Int32)
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
	cl := kc.Client(t)
	if err := producer.EnsureCheckpointTopic(context.Background(), cl, "rows.checkpoint", "rows"); err != nil {
		t.Fatal(err)
	}
	prod, err := producer.New(context.Background(), producer.Config{
		Brokers: kc.Brokers, Topic: "rows", TransactionalID: txnID,
		Schema: producer.Schema{Name: schemas.DirectRoutingSchemaName, Text: schemas.DirectRoutingSchemaText(), Fingerprint: "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	return &txnRig{sim: sim, fc: fc, kc: kc, cl: cl, prod: prod, commits: commits}
}

func (r *txnRig) store() *checkpoint.KafkaStore {
	return checkpoint.NewKafkaStore(r.cl, "rows.checkpoint", "rows")
}

// firstLast holds the first fetch of the window starting at first until
// the fetches of others other windows have completed, so that they are all
// fetched by the time it arrives: a gate, not a wall-clock delay that a
// loaded machine could outlast.
type firstLast struct {
	Fetcher
	first  time.Time
	others int
	held   atomic.Bool
	done   chan struct{} // one value per completed fetch of another window
}

func newFirstLast(f Fetcher, first time.Time, others int) *firstLast {
	return &firstLast{Fetcher: f, first: first, others: others, done: make(chan struct{}, 1024)}
}

func (s *firstLast) Calls(ctx context.Context, fn fetch.Function, from, to time.Time, onPage func(fetch.Page) error) (fetch.Stats, error) {
	if from.Equal(s.first) && s.held.CompareAndSwap(false, true) {
		for range s.others {
			select {
			case <-s.done:
			case <-ctx.Done():
				return fetch.Stats{}, ctx.Err()
			}
		}
		return s.Fetcher.Calls(ctx, fn, from, to, onPage)
	}
	st, err := s.Fetcher.Calls(ctx, fn, from, to, onPage)
	if !from.Equal(s.first) {
		select {
		case s.done <- struct{}{}:
		default:
		}
	}
	return st, err
}

// TestBackfillCommitsFetchedWindowsTogether: exactly-once, a backfill whose
// next windows are already fetched commits them in one transaction (fewer
// EndTxn commits than windows), every row exactly once; and when such a
// commit fails, the checkpoint's watermark and what read_committed readers
// see still agree window for window.
func TestBackfillCommitsFetchedWindowsTogether(t *testing.T) {
	const windows = 24
	end := day0.Add(windows * time.Hour)
	for _, tc := range []struct {
		name       string
		failAfter  int32 // commits allowed before EndTxn fails; 0: never fails
		wantFinish bool
	}{
		{"commits", 0, true},
		{"second commit fails", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTxnRig(t, graphsim.Config{Seed: 6, Start: day0, End: end, RowsPerHour: 300}, "txn-group", tc.failAfter)
			sim, kc, cl, commits := r.sim, r.kc, r.cl, r.commits
			w, err := New(Config{Source: DirectRouting(), Start: day0, End: end, Window: time.Hour, Concurrency: 4,
				MaxConsecutiveFailures: 2, Logger: slog.New(slog.DiscardHandler)},
				newFirstLast(r.fc, day0, 3), r.prod, r.store())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err = w.Run(ctx, true)
			if (err == nil) != tc.wantFinish {
				t.Fatalf("Run: %v", err)
			}

			st, err := checkpoint.NewKafkaStore(cl, "rows.checkpoint", "rows").Load(ctx, "direct-routing")
			if err != nil {
				t.Fatal(err)
			}
			if w.Watermark() != st.Watermark {
				t.Fatalf("walker reports watermark %s, the checkpoint says %s", w.Watermark(), st.Watermark)
			}
			want := map[string]bool{}
			for _, r := range sim.Rows(day0, st.Watermark) {
				want[r.ID] = true
			}
			var row schemas.DirectRoutingLogRow
			for _, rec := range kc.ReadAll(t, "rows", true) {
				if err := schemas.DecodeDirectRoutingRow(rec.Value, &row); err != nil {
					t.Fatal(err)
				}
				if !want[row.ID] {
					t.Fatalf("row %s is visible twice or beyond the checkpoint's watermark %s", row.ID, st.Watermark)
				}
				delete(want, row.ID)
			}
			if len(want) != 0 {
				t.Fatalf("%d rows before the checkpoint's watermark %s are not visible", len(want), st.Watermark)
			}

			n := int(commits.Load())
			stats := w.Stats()
			if !tc.wantFinish {
				if n != 1 || !st.Watermark.After(day0.Add(time.Hour)) {
					t.Fatalf("%d commits, watermark %s: want one commit of several windows", n, st.Watermark)
				}
				return
			}
			if !st.Watermark.Equal(end) || stats.Windows != windows || stats.Failures != 0 {
				t.Fatalf("watermark %s, %d windows, %d failures; want %s, %d, 0", st.Watermark, stats.Windows, stats.Failures, end, windows)
			}
			// The first window arrives after the next three: they commit
			// with it. No transaction holds more than maxTxnWindows.
			if n > windows-3 || n < (windows+maxTxnWindows-1)/maxTxnWindows {
				t.Fatalf("%d transactions committed %d windows", n, windows)
			}
			t.Logf("%d windows in %d transactions", windows, n)
		})
	}
}
