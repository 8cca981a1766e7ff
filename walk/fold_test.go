package walk

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

// recordCalls records the ranges a walk asks its fetcher for, and with
// stopAt set cancels the walk after that page of the first range that
// starts there and is wider than a Window: a stop in the middle of a
// folded read, with rows of it handed to Kafka already.
type recordCalls struct {
	Fetcher
	mu     sync.Mutex
	ranges [][2]time.Time
	stopAt time.Time
	page   int
	cancel func()
	hit    atomic.Bool
}

func (c *recordCalls) Calls(ctx context.Context, fn fetch.Function, from, to time.Time, onPage func(fetch.Page) error) (fetch.Stats, error) {
	c.mu.Lock()
	c.ranges = append(c.ranges, [2]time.Time{from, to})
	c.mu.Unlock()
	return c.Fetcher.Calls(ctx, fn, from, to, func(p fetch.Page) error {
		if err := onPage(p); err != nil {
			return err
		}
		if c.cancel != nil && from.Equal(c.stopAt) && to.Sub(from) > time.Hour && p.Number == c.page && c.hit.CompareAndSwap(false, true) {
			c.cancel()
			return context.Canceled
		}
		return nil
	})
}

// take returns the ranges recorded since the last take.
func (c *recordCalls) take() [][2]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.ranges
	c.ranges = nil
	return out
}

// foldConfig is steady state with a late row's delay that outlasts the
// first read of its window (40 minutes after its call, read 15 minutes
// after its window) but not the first rescan.
func foldConfig(clk *clock) (graphsim.Config, Config) {
	end := day0.Add(4 * time.Hour)
	return graphsim.Config{Seed: 5, Start: day0, End: end, RowsPerHour: 60, PageSize: 20,
			LateFraction: 0.3, LateDelay: 40 * time.Minute, Now: clk.Now},
		Config{Start: day0, End: end, Window: time.Hour, SettleDelay: 15 * time.Minute,
			RescanAfter: []time.Duration{time.Hour, 6 * time.Hour}, Now: clk.Now}
}

// visible returns the rows the simulator serves at now.
func visible(rows []graphsim.Row, now time.Time) []graphsim.Row {
	var out []graphsim.Row
	for _, row := range rows {
		if !row.VisibleAt.After(now) {
			out = append(out, row)
		}
	}
	return out
}

// lateRows counts the rows of sim that become visible after the first
// read of their window, which is 15 minutes after the window's end.
func lateRows(rows []graphsim.Row) int {
	n := 0
	for _, row := range rows {
		if row.VisibleAt.After(row.Start.Truncate(time.Hour).Add(time.Hour + 15*time.Minute)) {
			n++
		}
	}
	return n
}

// TestRescanFoldsIntoLiveWindow: in steady state the first-age rescan of
// the window before a live window is read with it, as one request
// sequence over both: the late rows of the earlier window are published
// once and counted Late, its rows already published are skipped, its
// read time is stamped as a rescan's would be, and the checkpoint a
// restarted walker loads says all of that — nothing is read again.
func TestRescanFoldsIntoLiveWindow(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		clk := &clock{}
		sc, cfg := foldConfig(clk)
		r := newRig(t, m, sc)
		rec := &recordCalls{Fetcher: r.fc}
		ctx := context.Background()

		clk.Set(day0.Add(time.Hour + 15*time.Minute))
		w := r.walkerOf(t, cfg, rec)
		if err := w.Run(ctx, true); err != nil {
			t.Fatal(err)
		}
		first := w.Stats()
		// 02:10: the rescan of [00:00, 01:00) is due (at 02:00), the
		// window [01:00, 02:00) not yet (02:15): the rescan waits for it.
		clk.Set(day0.Add(2*time.Hour + 10*time.Minute))
		if err := w.Run(ctx, true); err != nil {
			t.Fatal(err)
		}
		rec.take()
		if got := w.Stats(); got.Rescans != 0 || got.Requests != first.Requests {
			t.Fatalf("at 02:10 the walk read something: %+v", got)
		}
		reqs := r.sim.Stats().Requests
		clk.Set(day0.Add(2*time.Hour + 15*time.Minute))
		if err := w.Run(ctx, true); err != nil {
			t.Fatal(err)
		}
		calls := rec.take()
		if len(calls) != 1 || !calls[0][0].Equal(day0) || !calls[0][1].Equal(day0.Add(2*time.Hour)) {
			t.Fatalf("at 02:15 the walk asked for %v, want [00:00, 02:00) once", calls)
		}
		// Every row of [00:00, 01:00) is visible by now, not every one of
		// [01:00, 02:00): those are late rows for its own rescan.
		rows0 := r.sim.Rows(day0, day0.Add(time.Hour))
		rows1 := visible(r.sim.Rows(day0.Add(time.Hour), day0.Add(2*time.Hour)), clk.Now())
		if len(visible(rows0, clk.Now())) != len(rows0) {
			t.Fatal("rows of [00:00, 01:00) still hidden at 02:15")
		}
		pages := (len(rows0) + len(rows1) + sc.PageSize - 1) / sc.PageSize
		if got := r.sim.Stats().Requests - reqs; got != pages {
			t.Fatalf("the folded read took %d requests, want %d (one per page of both windows)", got, pages)
		}
		late := lateRows(rows0)
		if late == 0 {
			t.Fatal("no late rows in [00:00, 01:00): the test proves nothing")
		}
		st := w.Stats()
		if st.Windows != 2 || st.Rescans != 1 || st.Late != late {
			t.Fatalf("stats %+v: want 2 windows, 1 rescan, %d late rows", st, late)
		}
		if dups := st.Duplicates - first.Duplicates; dups != len(rows0)-late {
			t.Fatalf("%d duplicates skipped, want the %d rows of [00:00, 01:00) read before", dups, len(rows0)-late)
		}
		assertExactlyOnce(t, r.topicIDs(t), append(rows0, rows1...))

		// What a restarted walker loads: the watermark past the new
		// window, both windows read at 02:15, every id of both remembered.
		saved := r.load(t)
		if !saved.Watermark.Equal(day0.Add(2*time.Hour)) || len(saved.Windows) != 2 {
			t.Fatalf("checkpoint watermark %s, %d windows; want 02:00 and 2", saved.Watermark, len(saved.Windows))
		}
		for i, want := range [][]graphsim.Row{rows0, rows1} {
			win := saved.Windows[i]
			if !win.ReadAt.Equal(clk.Now()) || len(win.IDs) != len(want) {
				t.Fatalf("window [%s, %s) read at %s with %d ids; want read at %s with %d", win.From, win.To, win.ReadAt, len(win.IDs), clk.Now(), len(want))
			}
		}
		w2 := r.walkerOf(t, cfg, rec)
		if err := w2.Run(ctx, true); err != nil {
			t.Fatal(err)
		}
		if calls := rec.take(); len(calls) != 0 {
			t.Fatalf("a restarted walker read %v again at the same instant", calls)
		}
		// On to the end and every rescan: each row exactly once, each
		// late row counted once.
		for now := clk.Now(); now.Before(sc.End.Add(12 * time.Hour)); now = now.Add(5 * time.Minute) {
			clk.Set(now)
			if err := w2.Run(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
		all := r.sim.Rows(day0, sc.End)
		assertExactlyOnce(t, r.topicIDs(t), all)
		if got := st.Late + w2.Stats().Late; got != lateRows(all) {
			t.Fatalf("%d late rows counted, want %d", got, lateRows(all))
		}
	})
}

// TestStopInFoldedRead: a walk stopped in the middle of a folded read,
// with pages of it handed to Kafka, claims neither window: the
// checkpoint keeps the watermark before the new window and the earlier
// window due, and a restarted walker reads both again as one, losing and
// doubling nothing — the rows handed over are aborted with the
// transaction (exactly-once) or remembered as acknowledged
// (at-least-once).
func TestStopInFoldedRead(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		clk := &clock{}
		sc, cfg := foldConfig(clk)
		r := newRig(t, m, sc)
		clk.Set(day0.Add(time.Hour + 15*time.Minute))
		w := r.walker(t, cfg)
		if err := w.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		firstRead := clk.Now()
		before := r.load(t)

		clk.Set(day0.Add(2*time.Hour + 15*time.Minute))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stop := &recordCalls{Fetcher: r.fc, stopAt: day0, page: 3, cancel: cancel}
		w1 := r.walkerOf(t, cfg, stop)
		if err := w1.Run(ctx, true); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want the stop", err)
		}
		if !stop.hit.Load() {
			t.Fatal("the folded read was not stopped")
		}
		saved := r.load(t)
		if !saved.Watermark.Equal(before.Watermark) {
			t.Fatalf("checkpoint watermark %s after the stop, want %s", saved.Watermark, before.Watermark)
		}
		if len(saved.Windows) == 0 || !saved.Windows[0].ReadAt.Equal(firstRead) {
			t.Fatalf("the stop stamped the earlier window read: %+v", saved.Windows)
		}
		// The aborted transaction's records may or may not have reached
		// the topic before the abort (the client drops what it still
		// buffers), so only what the restart finds is checked.

		rec := &recordCalls{Fetcher: r.fc}
		w2 := r.walkerOf(t, cfg, rec)
		if err := w2.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		if calls := rec.take(); len(calls) != 1 || !calls[0][0].Equal(day0) || !calls[0][1].Equal(day0.Add(2*time.Hour)) {
			t.Fatalf("after the restart the walk asked for %v, want [00:00, 02:00) once", calls)
		}
		assertExactlyOnce(t, r.topicIDs(t), visible(r.sim.Rows(day0, day0.Add(2*time.Hour)), clk.Now()))
		saved = r.load(t)
		if !saved.Watermark.Equal(day0.Add(2*time.Hour)) || !saved.Windows[0].ReadAt.Equal(clk.Now()) {
			t.Fatalf("checkpoint after the restart: watermark %s, windows %+v", saved.Watermark, saved.Windows)
		}
		// Late rows are counted by the read that settles them; the
		// at-least-once stop remembered those it had published, which the
		// restart then skips.
		late := lateRows(r.sim.Rows(day0, day0.Add(time.Hour)))
		if got := w2.Stats().Late; m == exactlyOnce && got != late || got > late {
			t.Fatalf("%d late rows counted, want %d", got, late)
		}
	})
}
