package walk

import (
	"context"
	"testing"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/graphsim"
)

var defaultRescans = []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour}

// TestRescansCoalesce: a quiet tenant walked live for five simulated days
// with the default RESCAN_AFTER. Rescans of adjacent windows due at the
// same age are read as one span, so there are far fewer of them than
// four per window, yet every row — late ones revealed up to 60 hours
// after their call — is published exactly once (TestRescanNeverEarly: no
// rescan happens before its age).
func TestRescansCoalesce(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		clk := &clock{}
		end := day0.Add(5 * 24 * time.Hour)
		r := newRig(t, m, graphsim.Config{Seed: 21, Start: day0, End: end, RowsPerDay: 2000,
			LateFraction: 0.03, LateDelay: 60 * time.Hour, Now: clk.Now})
		cfg := Config{Start: day0, Window: time.Hour, SettleDelay: 15 * time.Minute, RescanAfter: defaultRescans, Now: clk.Now}
		w := r.walker(t, cfg)
		ctx := context.Background()
		// Every 5 minutes until the last window has had its last rescan.
		for now := day0.Add(20 * time.Minute); now.Before(end.Add(72*time.Hour + 40*time.Hour)); now = now.Add(5 * time.Minute) {
			clk.Set(now)
			if err := w.Run(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
		all := r.sim.Rows(day0, end)
		assertExactlyOnce(t, r.topicIDs(t), all)
		st := w.Stats()
		windows := st.Windows
		t.Logf("%d windows, %d rescans (%.1f per window; uncoalesced: 4), %d late rows, %d requests",
			st.Windows, st.Rescans, float64(st.Rescans)/float64(windows), st.Late, r.sim.Stats().Requests)
		if st.Late == 0 {
			t.Fatal("no late rows were found")
		}
		if st.Rescans > 2*windows {
			t.Fatalf("%d rescans for %d windows: not coalesced", st.Rescans, windows)
		}
		// The dedup state stays bounded: nothing older than the last
		// rescan age plus its quantum (72h + 36h) is remembered.
		for _, win := range r.load(t).Windows {
			if win.To.Before(clk.Now().Add(-108 * time.Hour)) {
				t.Fatalf("window [%s, %s) still remembered at %s", win.From, win.To, clk.Now())
			}
		}
	})
}

// TestRescanNeverEarly: the rescan of a window at an age waits for the
// grid, never runs before the age.
func TestRescanNeverEarly(t *testing.T) {
	w := &Walker{cfg: Config{Window: time.Hour, RescanAfter: defaultRescans}}
	for _, a := range defaultRescans {
		for m := range 24 * 60 {
			to := day0.Add(time.Duration(m) * time.Minute)
			at := w.rescanAt(to, a)
			if at.Before(to.Add(a)) || at.Sub(to.Add(a)) >= w.rescanQuantum(a) {
				t.Fatalf("window ending %s, age %s: rescan at %s", to, a, at)
			}
		}
	}
}

// TestOldCheckpointWindowsCoalesce: a checkpoint a build before coalescing
// saved — one remembered window per WINDOW, each with its ids — loads, its
// ids are never published again, and its windows are merged as their
// rescans come due: the state shrinks, exactly once.
func TestOldCheckpointWindowsCoalesce(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		clk := &clock{}
		end := day0.Add(24 * time.Hour)
		r := newRig(t, m, graphsim.Config{Seed: 22, Start: day0, End: end.Add(24 * time.Hour), RowsPerDay: 2400, Now: clk.Now})
		// Twelve hourly windows as an older build left them: read at
		// 12:20, each with the ids it published.
		old := checkpoint.State{Watermark: day0.Add(12 * time.Hour)}
		oldIDs := map[string]bool{}
		for h := range 12 {
			from := day0.Add(time.Duration(h) * time.Hour)
			win := checkpoint.Window{From: from, To: from.Add(time.Hour), ReadAt: day0.Add(12*time.Hour + 20*time.Minute)}
			for _, row := range r.sim.Rows(win.From, win.To) {
				win.IDs = append(win.IDs, row.ID)
				oldIDs[row.ID] = true
			}
			old.Windows = append(old.Windows, win)
		}
		r.save(t, old)
		cfg := Config{Start: day0, Window: time.Hour, SettleDelay: 15 * time.Minute, RescanAfter: defaultRescans, Now: clk.Now}
		w := r.walker(t, cfg)
		for now := day0.Add(12*time.Hour + 25*time.Minute); now.Before(end); now = now.Add(5 * time.Minute) {
			clk.Set(now)
			if err := w.Run(context.Background(), true); err != nil {
				t.Fatal(err)
			}
		}
		saved := r.load(t)
		merged := 0
		for _, win := range saved.Windows {
			if win.To.Sub(win.From) > time.Hour {
				merged++
			}
		}
		if merged == 0 || len(saved.Windows) >= 24 {
			t.Fatalf("%d remembered windows, %d of them merged: the old windows were not coalesced", len(saved.Windows), merged)
		}
		ids := r.topicIDs(t)
		var want []graphsim.Row
		for _, row := range r.sim.Rows(day0, saved.Watermark) {
			if oldIDs[row.ID] {
				if ids[row.ID] != 0 {
					t.Fatalf("row %s, published by the older build, published again", row.ID)
				}
				continue
			}
			want = append(want, row)
		}
		assertExactlyOnce(t, ids, want)
		if st := w.Stats(); st.Rescans == 0 || st.Duplicates == 0 {
			t.Fatalf("stats %+v: the old windows were not re-read", st)
		}
	})
}
