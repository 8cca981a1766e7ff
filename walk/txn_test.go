package walk

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
)

// The tests in this file are exactly-once only: they are about
// transactions (a failed commit, windows grouped in one commit), which the
// at-least-once strategy has none of.

// TestCheckpointNeverAdvancesOnAFailedCommit lets three window transactions
// commit, then makes every further EndTxn fail (the broker drops the
// connection). The walk must give up without ever claiming more: the
// checkpoint's watermark is the end of the third window, and read_committed
// readers see exactly the rows of those three windows.
func TestCheckpointNeverAdvancesOnAFailedCommit(t *testing.T) {
	end := day0.Add(8 * time.Hour)
	r := newRig(t, exactlyOnce, graphsim.Config{Seed: 4, Start: day0, End: end, RowsPerHour: 300}, failEndTxn(3))
	w := r.walker(t, Config{Start: day0, End: end, Window: time.Hour, MaxConsecutiveFailures: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := w.Run(ctx, true); err == nil {
		t.Fatal("the walk succeeded although commits failed")
	}
	third := day0.Add(3 * time.Hour)
	st := r.load(t)
	if !st.Watermark.Equal(third) {
		t.Fatalf("checkpoint watermark %s, want %s (the last committed window)", st.Watermark, third)
	}
	if w.Watermark() != third {
		t.Fatalf("walker reports watermark %s, want %s", w.Watermark(), third)
	}
	want := map[string]bool{}
	for _, row := range r.sim.Rows(day0, third) {
		want[row.ID] = true
	}
	var row schemas.DirectRoutingLogRow
	recs := r.kafka.ReadAll(t, r.topic, true)
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
			r := newRig(t, exactlyOnce, graphsim.Config{Seed: 6, Start: day0, End: end, RowsPerHour: 300}, failEndTxn(tc.failAfter))
			w := r.walkerOf(t, Config{Start: day0, End: end, Window: time.Hour, Concurrency: 4, MaxConsecutiveFailures: 2},
				newFirstLast(r.fc, day0, 3))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := w.Run(ctx, true); (err == nil) != tc.wantFinish {
				t.Fatalf("Run: %v", err)
			}

			st := r.load(t)
			if w.Watermark() != st.Watermark {
				t.Fatalf("walker reports watermark %s, the checkpoint says %s", w.Watermark(), st.Watermark)
			}
			want := map[string]bool{}
			for _, row := range r.sim.Rows(day0, st.Watermark) {
				want[row.ID] = true
			}
			var row schemas.DirectRoutingLogRow
			for _, rec := range r.kafka.ReadAll(t, r.topic, true) {
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

			n := int(r.commits.Load())
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
