package pipeline

import (
	"testing"
	"time"

	"github.com/callstream/callstream/checkpoint"
)

func TestPlanReset(t *testing.T) {
	h := func(n int) time.Time { return time.Date(2026, 3, 1, n, 0, 0, 0, time.UTC) }
	win := func(from, to int, ids ...string) checkpoint.Window {
		return checkpoint.Window{From: h(from), To: h(to), ReadAt: h(to + 1), IDs: ids}
	}
	st := checkpoint.State{Watermark: h(6), Windows: []checkpoint.Window{
		win(2, 3, "a"), win(3, 4, "b", "c"), win(4, 5, "d"), win(5, 6, "e"),
		{From: h(6), To: h(7), IDs: []string{"f"}}, // in flight
	}}
	cases := []struct {
		name      string
		to        time.Time
		want      time.Time
		snapped   bool
		forward   bool
		kept      int
		forgotten int
		ids       int
	}{
		{"back to a window boundary", h(4), h(4), false, false, 2, 3, 3},
		{"back into a window snaps to its start", h(4).Add(30 * time.Minute), h(4), true, false, 2, 3, 3},
		{"back before every window", h(1), h(1), false, false, 0, 5, 6},
		{"forward", h(9), h(9), false, true, 4, 1, 1},
		{"forward into the window in flight snaps to its start", h(6).Add(time.Minute), h(6), true, false, 4, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanReset(st.Clone(), tc.to)
			if !p.To.Equal(tc.want) || p.Snapped != tc.snapped || p.Forward != tc.forward {
				t.Errorf("to %s snapped %v forward %v, want %s %v %v", p.To, p.Snapped, p.Forward, tc.want, tc.snapped, tc.forward)
			}
			if len(p.Next.Windows) != tc.kept || p.Forgotten != tc.forgotten || p.IDs != tc.ids {
				t.Errorf("kept %d, forgot %d windows and %d ids; want %d, %d, %d", len(p.Next.Windows), p.Forgotten, p.IDs, tc.kept, tc.forgotten, tc.ids)
			}
			if err := p.Next.Validate(); err != nil {
				t.Error(err)
			}
			for _, w := range p.Next.Windows {
				if w.To.After(p.To) {
					t.Errorf("kept window [%s, %s) ends after the new watermark %s", w.From, w.To, p.To)
				}
			}
		})
	}
	if p := PlanReset(checkpoint.State{}, h(3)); !p.Forward {
		t.Error("setting a watermark where none was must count as forward: it skips calls after START_TIME")
	}
}
