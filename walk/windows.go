package walk

import (
	"time"
)

// maxAhead bounds how many due windows one backfill round plans; rescans
// that fall due meanwhile wait at most that long.
const maxAhead = 256

// span is a window of call start times [from, to) to read; k is its
// width in Windows when the history planner sized it, 0 for a live window
// or a rescan. split, when set, marks a folded read (see fold): [from,
// split) is a rescan of remembered windows, [split, to) a new window.
type span struct {
	from, to time.Time
	k        int
	split    time.Time
}

// dueWindows lists up to n consecutive new windows that are complete and
// settled, starting at the cursor: history windows as the planner sizes
// them (at most historyRound of them, so that the next round is planned
// with what this one learns), then live ones Window wide.
func (w *Walker) dueWindows(now time.Time, n int) []span {
	var out []span
	cur := w.cursor()
	if sp, ok := w.resumeAt(cur, now); ok {
		// A window read in part before a stop is read again with the same
		// bounds, whatever the planner or WINDOW would cut now: its
		// record holds the ids published so far, which only a read of
		// the same range merges with (see remember); a different range
		// would leave them in a record of their own, re-read later as a
		// rescan that publishes again what the new windows read since.
		return append(out, sp)
	}
	for k := w.hist.k; len(out) < n && len(out) < w.historyRound(); k = w.hist.after(k) {
		sp, ok := w.historyAt(cur, now, k)
		if !ok {
			break
		}
		out = append(out, sp)
		cur = sp.to
	}
	if len(out) > 0 {
		return out
	}
	for len(out) < n {
		from, to, ok := w.windowAt(cur, now)
		if !ok {
			break
		}
		out = append(out, span{from: from, to: to})
		cur = to
	}
	return out
}

// resumeAt returns the window a partial read left remembered at cur, if
// it is due: complete and settled. It is a history window when all of it
// is history.
func (w *Walker) resumeAt(cur, now time.Time) (span, bool) {
	for _, win := range w.state.Windows {
		if !win.From.Equal(cur) || !win.To.After(w.state.Watermark) {
			continue
		}
		if win.To.After(now.Add(-w.cfg.SettleDelay)) {
			return span{}, false
		}
		sp := span{from: win.From, to: win.To}
		if w.cfg.History.enabled() && !win.To.After(w.historyLimit(now)) {
			sp.k = max(int(win.To.Sub(win.From)/w.cfg.Window), 1)
		}
		return sp, true
	}
	return span{}, false
}

// cursor is where the next new window starts.
func (w *Walker) cursor() time.Time {
	if !w.state.Watermark.IsZero() {
		return w.state.Watermark
	}
	return w.cfg.Start
}

// windowAt returns the new window starting at from if it is complete and
// settled. Windows never extend past End.
func (w *Walker) windowAt(from, now time.Time) (_, to time.Time, ok bool) {
	to = from.Add(w.cfg.Window)
	if !w.cfg.End.IsZero() {
		if !from.Before(w.cfg.End) {
			return from, to, false
		}
		if to.After(w.cfg.End) {
			to = w.cfg.End
		}
	}
	if to.After(now.Add(-w.cfg.SettleDelay)) {
		return from, to, false
	}
	return from, to, true
}

// needsRescan reports whether a window read at readAt has a rescan ahead.
func (w *Walker) needsRescan(to, readAt time.Time) bool {
	for _, age := range w.cfg.RescanAfter {
		if readAt.Before(to.Add(age)) {
			return true
		}
	}
	return false
}
