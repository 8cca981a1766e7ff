package walk

import (
	"context"
	"testing"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/graphsim"
)

// TestPlanMatchesTheWalk plans, then walks at the same instant, and checks
// that the walk read exactly what the plan listed: the new windows (the
// watermark lands on the last one's end) and the rescans, from an empty
// checkpoint and from one the first walk left.
func TestPlanMatchesTheWalk(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		r := newRig(t, m, graphsim.Config{Seed: 3, Start: day0, End: day0.Add(3 * 24 * time.Hour), RowsPerHour: 20})
		clk := &clock{}
		cfg := Config{Start: day0, Window: time.Hour, SettleDelay: 15 * time.Minute,
			RescanAfter: []time.Duration{6 * time.Hour, time.Hour}, Now: clk.Now}
		steps := []struct {
			now               time.Time
			windows, rescans  int
			firstFrom, lastTo time.Time
		}{
			// 10:20 with a 15m settle delay: 00:00 to 10:00 are due.
			{now: day0.Add(10*time.Hour + 20*time.Minute), windows: 10, rescans: 0, firstFrom: day0, lastTo: day0.Add(10 * time.Hour)},
			// Seven hours on: seven new windows, and the windows read at
			// 10:20 that reached the age of 6h or 1h since, coalesced: those
			// ending at 05:00 to 09:00 reached 6h (its rescan waits for the
			// 3-hour grid: 12:00 and 15:00, both past) and are one span; the
			// one ending at 10:00 reached 1h (its 6h is due at 18:00) and is
			// another.
			{now: day0.Add(17*time.Hour + 20*time.Minute), windows: 7, rescans: 2, firstFrom: day0.Add(10 * time.Hour), lastTo: day0.Add(17 * time.Hour)},
			// Nothing new within the same window.
			{now: day0.Add(17*time.Hour + 30*time.Minute), windows: 0, rescans: 0},
		}
		for i, s := range steps {
			clk.Set(s.now)
			st := r.load(t)
			p, err := PlanFor(cfg, st, s.now, 3)
			if err != nil {
				t.Fatal(err)
			}
			if p.TotalWindows != s.windows || len(p.Rescans) != s.rescans {
				t.Errorf("step %d: plan has %d windows and %d rescans, want %d and %d", i, p.TotalWindows, len(p.Rescans), s.windows, s.rescans)
			}
			if len(p.Windows) != min(3, s.windows) {
				t.Errorf("step %d: %d windows listed, want the limit 3 or all", i, len(p.Windows))
			}
			if s.windows > 0 && !p.Windows[0].From.Equal(s.firstFrom) {
				t.Errorf("step %d: first window %s, want %s", i, p.Windows[0].From, s.firstFrom)
			}
			w := r.walker(t, cfg)
			if err := w.Run(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			got := w.Stats()
			if got.Windows != p.TotalWindows || got.Rescans != len(p.Rescans) {
				t.Errorf("step %d: the walk read %d windows and %d rescans; the plan said %d and %d",
					i, got.Windows, got.Rescans, p.TotalWindows, len(p.Rescans))
			}
			if s.windows > 0 && !w.Watermark().Equal(s.lastTo) {
				t.Errorf("step %d: watermark %s after the walk, want %s", i, w.Watermark(), s.lastTo)
			}
			if p.Next.IsZero() || p.Next.Before(s.now) {
				t.Errorf("step %d: next window due at %s, want after now", i, p.Next)
			}
		}
	})
}

// TestPlanCountsPastTheLimit counts a long backlog with WINDOW=1s without
// listing it, and stops at END_TIME.
func TestPlanCountsPastTheLimit(t *testing.T) {
	now := day0.Add(30 * 24 * time.Hour)
	cfg := Config{Start: day0, Window: time.Second}
	p, err := PlanFor(cfg, checkpoint.State{}, now, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := 30 * 24 * 3600; p.TotalWindows != want || len(p.Windows) != 5 {
		t.Errorf("%d windows counted, %d listed; want %d and 5", p.TotalWindows, len(p.Windows), want)
	}
	cfg.Window, cfg.End = time.Hour, day0.Add(90*time.Minute)
	p, err = PlanFor(cfg, checkpoint.State{}, now, 5)
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalWindows != 2 || !p.Windows[1].To.Equal(cfg.End) || !p.Next.IsZero() {
		t.Errorf("with END_TIME: %+v, want two windows, the second cut at END_TIME, nothing next", p)
	}
	if _, err := PlanFor(cfg, checkpoint.State{Watermark: now.Add(time.Hour)}, now, 5); err == nil {
		t.Error("a checkpoint from the future was planned from; the walk refuses it")
	}
}
