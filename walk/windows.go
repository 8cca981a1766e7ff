package walk

import (
	"time"
)

// maxAhead bounds how many due windows one backfill round plans; rescans
// that fall due meanwhile wait at most that long.
const maxAhead = 256

type span struct{ from, to time.Time }

// dueWindows lists up to n consecutive new windows that are complete and
// settled, starting at the cursor.
func (w *Walker) dueWindows(now time.Time, n int) []span {
	var out []span
	cur := w.cursor()
	for len(out) < n {
		from, to, ok := w.windowAt(cur, now)
		if !ok {
			break
		}
		out = append(out, span{from, to})
		cur = to
	}
	return out
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

// dueRescan finds the oldest remembered window that has reached a rescan
// age it had not reached when it was last read.
func (w *Walker) dueRescan(now time.Time) (int, bool) {
	for i, win := range w.state.Windows {
		if win.To.After(w.state.Watermark) {
			continue // ids of a partial read of a new window, not a rescan
		}
		for _, age := range w.cfg.RescanAfter {
			at := win.To.Add(age)
			if !now.Before(at) && win.ReadAt.Before(at) {
				return i, true
			}
		}
	}
	return 0, false
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
