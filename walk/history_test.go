package walk

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/sources"
)

// TestHistoryPlanSizesByRows: the planner probes with one Window, then
// sizes windows to fill pages from the density it saw — growing at most
// eight times a window, shrinking when a window held more than planned,
// never past MaxWidth, 90 days or the source's MaxRange.
func TestHistoryPlanSizesByRows(t *testing.T) {
	cfg := Config{Source: DirectRouting(), Window: time.Hour, History: HistoryConfig{PageRows: 1000}}
	p := newHistoryPlan(cfg)
	if p.k != 1 || p.known {
		t.Fatalf("first window %d Windows (known %v), want a one-Window probe", p.k, p.known)
	}
	if p.maxK != 90*24 {
		t.Fatalf("maxK %d, want 90 days of hours", p.maxK)
	}
	// 2,000 calls a day: 83 an hour. The next window holds at most 16
	// pages, at least 15 full ones.
	for range 4 {
		p.observe(p.k, p.k*83)
	}
	rows := p.k * 83
	if pages := int(math.Ceil(float64(rows) / 1000)); rows > 16000 || float64(rows)/float64(pages) < 950 {
		t.Fatalf("after 83 rows an hour: %d hours, %d rows in %d pages", p.k, rows, pages)
	}
	// Empty and sparse stretches grow eight times a window, up to 90 days.
	p = newHistoryPlan(cfg)
	for _, want := range []int{8, 64, 512, 90 * 24, 90 * 24} {
		p.observe(p.k, 0)
		if p.k != want {
			t.Fatalf("after an empty window: %d hours, want %d", p.k, want)
		}
	}
	p = newHistoryPlan(cfg)
	p.observe(1, 4) // 100 a day
	if p.k != 8 {
		t.Fatalf("after 4 rows in an hour: %d hours, want 8 (growth bound)", p.k)
	}
	// Windows planned before the next is read keep growing while the
	// density asks for more.
	if a, b := p.after(8), p.after(64); a != 64 || b != 512 {
		t.Fatalf("windows after one of 8 hours: %d, then %d hours; want 64, 512", a, b)
	}
	// ... and no further than it asks: 83 rows an hour want about 188.
	p = newHistoryPlan(cfg)
	p.observe(1, 83)
	if a, b, c := p.after(8), p.after(64), p.after(188); a != 64 || b < 150 || b > 190 || c != 188 {
		t.Fatalf("after 83 rows an hour: windows of 8, then %d, %d, %d hours", a, b, c)
	}
	// A window that needed 50 pages: the next holds about 16.
	p.observe(100, 50_000)
	if rows := p.k * 500; p.k >= 100 || rows > 16000 || rows < 12000 {
		t.Fatalf("after 500 rows an hour: %d hours (%d rows)", p.k, rows)
	}
	// MaxWidth and the source's MaxRange cap it.
	cfg.History.MaxWidth = 10 * 24 * time.Hour
	if p := newHistoryPlan(cfg); p.maxK != 240 {
		t.Fatalf("MaxWidth 10 days: maxK %d", p.maxK)
	}
	cfg.History.MaxWidth = 0
	cfg.Source.Function = fetch.FunctionOf(sources.MustLookup("pstn")) // MaxRange 90 days in the registry
	cfg.Window = 7 * 24 * time.Hour
	if p := newHistoryPlan(cfg); p.maxK != 12 {
		t.Fatalf("weekly windows of getPstnCalls: maxK %d, want 12 (90 days)", p.maxK)
	}
}

// historyRig walks [day0, day0+days) of a tenant of perDay calls with the
// planner on and pages of 100 rows (so that the tests stay small), and
// the default live settings.
func historyConfig(end time.Time) Config {
	return Config{Start: day0, End: end, Window: time.Hour, SettleDelay: 15 * time.Minute,
		RescanAfter: []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour},
		History:     HistoryConfig{PageRows: 100}, Concurrency: 4}
}

// TestHistoryWindowsFillPages: a backfill of history costs close to the
// fewest requests that can read it, ceil(rows / page), for a quiet tenant
// and a busy one, and still publishes every row once with a truthful
// checkpoint.
func TestHistoryWindowsFillPages(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		for _, tc := range []struct {
			perDay, days int
		}{{100, 90}, {2000, 30}} {
			end := day0.Add(time.Duration(tc.days) * 24 * time.Hour)
			r := newRig(t, m, graphsim.Config{Seed: 4, Start: day0, End: end, RowsPerDay: tc.perDay, PageSize: 100})
			w := r.walker(t, historyConfig(end))
			if err := w.Run(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			rows := r.sim.Count(day0, end)
			assertExactlyOnce(t, r.topicIDs(t), r.sim.Rows(day0, end))
			minReq := (rows + 99) / 100
			st, reqs := w.Stats(), r.sim.Stats().Requests
			t.Logf("%d calls a day for %d days: %d rows, %d requests (min %d), %d history windows, next width %s",
				tc.perDay, tc.days, rows, reqs, minReq, st.HistoryWindows, w.HistoryWidth())
			if float64(reqs) > 1.1*float64(minReq)+20 {
				t.Errorf("%d requests for %d rows, more than 1.1 × %d + 20", reqs, rows, minReq)
			}
			// Every request but the last of each window comes back full.
			if st.Requests != reqs || st.Requests-st.FullPages > st.Windows {
				t.Errorf("%d requests (the simulator saw %d), %d full pages, %d windows", st.Requests, reqs, st.FullPages, st.Windows)
			}
			// No window holds much more than planned (16 pages).
			if st.Requests > (DefaultHistoryPages+1)*st.Windows {
				t.Errorf("%d requests in %d windows: more than %d pages a window", st.Requests, st.Windows, DefaultHistoryPages+1)
			}
			if st.HistoryWindows != st.Windows || st.Published != rows {
				t.Errorf("stats %+v", st)
			}
			if saved := r.load(t); !saved.Watermark.Equal(end) || len(saved.Windows) != 0 {
				t.Errorf("checkpoint at %s with %d windows, want %s and none (history is never re-read)", saved.Watermark, len(saved.Windows), end)
			}
		}
	})
}

// cancelMidWindow cancels the walk after the page-th page of the first
// window wider than minWidth, from inside the fetch: a stop (or a kill)
// in the middle of a large history window, with rows of it handed to
// Kafka already.
type cancelMidWindow struct {
	Fetcher
	minWidth time.Duration
	page     int
	cancel   func()
	hit      atomic.Bool
	from, to atomic.Pointer[time.Time]
}

func (c *cancelMidWindow) Calls(ctx context.Context, fn fetch.Function, from, to time.Time, onPage func(fetch.Page) error) (fetch.Stats, error) {
	return c.Fetcher.Calls(ctx, fn, from, to, func(p fetch.Page) error {
		if err := onPage(p); err != nil {
			return err
		}
		if p.Number == c.page && to.Sub(from) > c.minWidth && c.hit.CompareAndSwap(false, true) {
			c.from.Store(&from)
			c.to.Store(&to)
			c.cancel()
			return context.Canceled
		}
		return nil
	})
}

// TestStopInLargeHistoryWindow: a walk stopped in the middle of a large
// history window, with pages of it published but not settled, loses
// nothing and doubles nothing once a new walker (a restarted process)
// reads it again: its rows stay in an aborted transaction (exactly-once)
// or are remembered as acknowledged (at-least-once), and the checkpoint
// never claims the window.
func TestStopInLargeHistoryWindow(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		end := day0.Add(10 * 24 * time.Hour)
		r := newRig(t, m, graphsim.Config{Seed: 8, Start: day0, End: end, RowsPerDay: 2400, PageSize: 100})
		cfg := historyConfig(end)
		cfg.Concurrency = 1 // read page by page, publishing as pages arrive
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stop := &cancelMidWindow{Fetcher: r.fc, minWidth: 4 * time.Hour, page: 6, cancel: cancel}
		w1 := r.walkerOf(t, cfg, stop)
		if err := w1.Run(ctx, true); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want the stop", err)
		}
		from, to := *stop.from.Load(), *stop.to.Load()
		saved := r.load(t)
		if saved.Watermark.After(from) {
			t.Fatalf("checkpoint watermark %s claims part of the stopped window [%s, %s)", saved.Watermark, from, to)
		}
		t.Logf("stopped after page 6 of [%s, %s) (%s, %d rows)", from, to, to.Sub(from), r.sim.Count(from, to))

		if m == exactlyOnce {
			if all, committed := len(r.kafka.ReadAll(t, r.topic, false)), len(r.kafka.ReadAll(t, r.topic, true)); all <= committed {
				t.Fatalf("read_uncommitted sees %d records, read_committed %d: the stop left no rows of the window on the topic", all, committed)
			}
		}
		w2 := r.walker(t, cfg)
		if err := w2.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		assertExactlyOnce(t, r.topicIDs(t), r.sim.Rows(day0, end))
		if saved := r.load(t); !saved.Watermark.Equal(end) {
			t.Fatalf("watermark %s, want %s", saved.Watermark, end)
		}
	})
}

// TestLateRowsWithHistoryPlanner: the late-rows walk with the planner on,
// starting late enough that the first part of the data is history: rows
// are published exactly once, late ones by rescans of the live part.
func TestLateRowsWithHistoryPlanner(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		clk := &clock{}
		end := day0.Add(48 * time.Hour)
		r := newRig(t, m, graphsim.Config{Seed: 12, Start: day0, End: end, RowsPerHour: 300, PageSize: 100,
			LateFraction: 0.05, LateDelay: 3 * time.Hour, Now: clk.Now})
		cfg := Config{Start: day0, Window: time.Hour, SettleDelay: 10 * time.Minute,
			RescanAfter: []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour},
			History:     HistoryConfig{PageRows: 100}, Concurrency: 4, Now: clk.Now}
		w := r.walker(t, cfg)
		ctx := context.Background()
		for now := day0.Add(36 * time.Hour); now.Before(end.Add(30 * time.Hour)); now = now.Add(20 * time.Minute) {
			clk.Set(now)
			if err := w.Run(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
		all := r.sim.Rows(day0, end)
		assertExactlyOnce(t, r.topicIDs(t), all)
		st := w.Stats()
		if st.HistoryWindows == 0 || st.Late == 0 {
			t.Fatalf("stats %+v: want history windows and late rows", st)
		}
	})
}
