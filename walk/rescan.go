package walk

import (
	"slices"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/sources"
)

// Rescans are coalesced: adjacent remembered windows due for a re-read at
// the same RescanAfter age are read as one span, and remembered as one
// window from then on (their ids together, in order). Left alone, every
// window of WINDOW would cost a request at each age — five a day per hour
// of the day with the default ages, however quiet the tenant.
//
// To make adjacent windows due together, a rescan at age a may wait for a
// grid: it is due at the first multiple of rescanQuantum(a) (counted from
// the Unix epoch) at or after the window's end plus a, never before. So a
// row is still re-read at least a after its window, as RESCAN_AFTER
// promises, and at most rescanQuantum(a) later; the windows whose rescan
// falls in one quantum are read as one span. A span holds at most
// coalesceRows remembered rows and never exceeds 90 days or the source's
// range limit: a busy tenant's spans stay small enough for a transaction.
//
// A merged window's later ages count from its end, the newest member's, so
// the older members are re-read later than their own age, never sooner;
// and their ids are forgotten once the merged window has had its last
// rescan, at most the last quantum after they would have been alone: the
// dedup state stays bounded by the horizon plus half of it.

// rescanQuantum is how long a rescan at age may wait for adjacent windows:
// half the age, and never less than a Window.
func (w *Walker) rescanQuantum(age time.Duration) time.Duration {
	return max(w.cfg.Window, age/2)
}

// rescanAt is when the rescan at age of a window ending at to is due. An
// aggregate's days are never merged (a span of days would be summed into
// one row), so they have nothing to wait for.
func (w *Walker) rescanAt(to time.Time, age time.Duration) time.Time {
	at := to.Add(age)
	if w.cfg.Source.Aggregate {
		return at
	}
	q := w.rescanQuantum(age)
	if r := time.Duration(at.UnixNano() % int64(q)); r > 0 {
		at = at.Add(q - r)
	} else if r < 0 {
		at = at.Add(-r)
	}
	return at
}

// dueAge is the largest age at which win is due for a re-read at now: an
// age it had not reached when it was last read, whose rescan time has
// come. ok is false when none is.
func (w *Walker) dueAge(win checkpoint.Window, now time.Time) (age time.Duration, ok bool) {
	if win.To.After(w.state.Watermark) {
		return 0, false // ids of a partial read of a new window, not a rescan
	}
	for _, a := range w.cfg.RescanAfter {
		if !now.Before(w.rescanAt(win.To, a)) && win.ReadAt.Before(win.To.Add(a)) {
			age, ok = a, true
		}
	}
	return age, ok
}

// coalesceRows bounds the rows a coalesced rescan may hold, by the rows
// its windows remembered: nine tenths of a history window's pages, so
// that it fits the same transaction bound with room for late rows.
func (w *Walker) coalesceRows() int {
	pages, rows := w.cfg.History.Pages, w.cfg.History.PageRows
	if pages <= 0 {
		pages = DefaultHistoryPages
	}
	if rows <= 0 {
		rows = graphPageRows
	}
	return pages * rows * 9 / 10
}

// pageRows is how many rows make a full page.
func (w *Walker) pageRows() int {
	if w.cfg.History.PageRows > 0 {
		return w.cfg.History.PageRows
	}
	return graphPageRows
}

// graphPageRows is Graph's page size, which bounds coalesced rescans when
// the history planner is off.
const graphPageRows = 1000

// maxSpan is the widest range one read may ask for: 90 days, or the
// source's range limit.
func (w *Walker) maxSpan() time.Duration {
	m := MaxHistoryWidth
	if src, ok := sources.ByFunction(string(w.cfg.Source.Function)); ok && src.MaxRange > 0 && src.MaxRange < m {
		m = src.MaxRange
	}
	return m
}

// dueRescan finds the oldest remembered window due for a re-read, and the
// span it is read in: it and the windows right after it (contiguous, due
// at the same age) within coalesceRows and maxSpan.
func (w *Walker) dueRescan(now time.Time) (span, bool) {
	ws := w.state.Windows
	for i, win := range ws {
		age, ok := w.dueAge(win, now)
		if !ok {
			continue
		}
		sp := span{from: win.From, to: win.To}
		rows := len(win.IDs)
		for _, next := range ws[i+1:] {
			a, ok := w.dueAge(next, now)
			if w.cfg.Source.Aggregate || !ok || a != age || !next.From.Equal(sp.to) ||
				rows+len(next.IDs) > w.coalesceRows() || next.To.Sub(sp.from) > w.maxSpan() {
				break
			}
			sp.to = next.To
			rows += len(next.IDs)
		}
		return sp, true
	}
	return span{}, false
}

// coalesce merges the remembered windows that lie within [from, to) and
// cover it exactly into one window [from, to): their ids in order (so that
// the first one's ids stay a prefix, as the Kafka store appends), and the
// oldest of their read times (a partial read of the span leaves the
// merged window due as early as its earliest member). It does nothing
// unless several windows tile the span.
func (w *Walker) coalesce(from, to time.Time) {
	ws := w.state.Windows
	i := slices.IndexFunc(ws, func(x checkpoint.Window) bool { return x.From.Equal(from) })
	if i < 0 || !ws[i].To.Before(to) {
		return
	}
	j := i
	for j+1 < len(ws) && ws[j+1].From.Equal(ws[j].To) && !ws[j+1].To.After(to) {
		j++
	}
	if !ws[j].To.Equal(to) {
		return
	}
	merged := checkpoint.Window{From: from, To: to, ReadAt: ws[i].ReadAt}
	n := 0
	for _, x := range ws[i : j+1] {
		n += len(x.IDs)
		if x.ReadAt.Before(merged.ReadAt) {
			merged.ReadAt = x.ReadAt
		}
	}
	merged.IDs = make([]string, 0, n)
	for _, x := range ws[i : j+1] {
		merged.IDs = append(merged.IDs, x.IDs...)
	}
	w.state.Windows = slices.Replace(ws, i, j+1, merged)
}
