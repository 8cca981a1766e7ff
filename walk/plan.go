package walk

import (
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/callstream/callstream/checkpoint"
)

// Plan is what a walk starting at a given time would read, computed by the
// walker's own scheduling (dueRescan, dueWindows, windowAt) from a saved
// state, without fetching, publishing or saving anything.
type Plan struct {
	// Watermark is the checkpoint's; zero when nothing was published yet.
	Watermark time.Time
	// Cursor is where the first new window starts: the watermark, or the
	// configured start.
	Cursor time.Time
	// Rescans are the remembered windows read again, in the walk's order
	// (it reads them before any new window).
	Rescans []PlannedRescan
	// Windows are the first new windows, at most the limit asked for.
	Windows []PlannedWindow
	// TotalWindows counts every new window due, beyond the limit too.
	TotalWindows int
	// Next is when the window after the due ones becomes due (complete and
	// settled); zero when End stops the walk.
	Next time.Time
}

// PlannedWindow is a new window of call start times [From, To).
type PlannedWindow struct {
	From, To time.Time
}

// PlannedRescan is a remembered window due to be read again.
type PlannedRescan struct {
	// From and To span the remembered windows read again as one: adjacent
	// windows due at the same age are coalesced. A rescan ending at the
	// cursor is read with the first new window, in the same requests
	// (see fold); it is listed here all the same.
	From, To time.Time
	// ReadAt is when it was last read (the earliest of the windows').
	ReadAt time.Time
	// Age is how long ago the span ended.
	Age time.Duration
	// Step is the RESCAN_AFTER age it has reached since it was last read.
	Step time.Duration
}

// PlanFor computes the Plan of a walk at now from the saved state st, with
// at most limit windows listed (all are counted). cfg is the walker's
// configuration; of its Source only Aggregate (an aggregate's windows are
// UTC days) and Function (whose time property lets a rescan wait to be
// folded into a live window, see fold) count, and no Fetcher or Publisher
// is needed. It
// fails as the walk would on a state from the future.
func PlanFor(cfg Config, st checkpoint.State, now time.Time, limit int) (Plan, error) {
	cfg = aggregateConfig(cfg)
	if cfg.Window <= 0 {
		return Plan{}, errors.New("window must be positive")
	}
	if cfg.Start.IsZero() && st.Watermark.IsZero() {
		return Plan{}, errors.New("start time is required")
	}
	if err := st.CheckTime(now); err != nil {
		return Plan{}, err
	}
	cfg.RescanAfter = slices.Clone(cfg.RescanAfter)
	slices.Sort(cfg.RescanAfter)
	cfg.Start, cfg.End = cfg.Start.UTC(), cfg.End.UTC()
	now = now.UTC()
	w := &Walker{cfg: cfg, state: st.Clone(), timeProp: timeProperty(string(cfg.Source.Function))}
	p := Plan{Watermark: st.Watermark, Cursor: w.cursor()}
	// The walk reads every due rescan first, each one stamping its window
	// read at now, which is what takes it off the list.
	// Adjacent windows due at the same age are one rescan (see
	// dueRescan), merged into one window as the walk merges them.
	for {
		sp, ok := w.dueRescan(now)
		if !ok {
			break
		}
		i := slices.IndexFunc(w.state.Windows, func(x checkpoint.Window) bool { return x.From.Equal(sp.from) })
		r := PlannedRescan{From: sp.from, To: sp.to, ReadAt: w.state.Windows[i].ReadAt, Age: now.Sub(sp.to)}
		r.Step, _ = w.dueAge(w.state.Windows[i], now)
		w.coalesce(sp.from, sp.to)
		win := &w.state.Windows[i]
		r.ReadAt = win.ReadAt
		p.Rescans = append(p.Rescans, r)
		win.ReadAt = now
	}
	for _, s := range w.dueWindows(now, max(limit, 0)) {
		p.Windows = append(p.Windows, PlannedWindow{From: s.from, To: s.to})
	}
	// Windows follow one another Window apart from the cursor, and
	// windowAt is monotonic in its start: the count is the first k whose
	// window is not due, found with windowAt itself.
	cur := p.Cursor
	bound := 1
	if d := now.Sub(cur); d > 0 {
		bound = int(d/cfg.Window) + 2
	}
	p.TotalWindows = sort.Search(bound, func(k int) bool {
		_, _, ok := w.windowAt(cur.Add(time.Duration(k)*cfg.Window), now)
		return !ok
	})
	next := cur.Add(time.Duration(p.TotalWindows) * cfg.Window)
	if _, to, _ := w.windowAt(next, now); cfg.End.IsZero() || next.Before(cfg.End) {
		p.Next = to.Add(cfg.SettleDelay)
	}
	return p, nil
}
