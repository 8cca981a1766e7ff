package walk

import (
	"math"
	"slices"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
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
//
// A rescan of the windows ending at the watermark is folded into the read
// of the live window after them (fold): it waits for that window to settle
// (waitsToFold; within its quantum, so the bound above holds), and both
// are read as one range and settled together. Grids cannot merge a first
// age's rescans (its quantum is a Window, so each window is alone on it);
// folding is what spares their requests: in steady state the rescan of the
// window before each live window, due at its first age when the live
// window settles, costs nothing of its own.

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
		last := win
		for _, next := range ws[i+1:] {
			a, ok := w.dueAge(next, now)
			if w.cfg.Source.Aggregate || !ok || a != age || !next.From.Equal(sp.to) ||
				rows+len(next.IDs) > w.coalesceRows() || next.To.Sub(sp.from) > w.maxSpan() {
				break
			}
			sp.to = next.To
			rows += len(next.IDs)
			last = next
		}
		if w.waitsToFold(sp, last, age, now) {
			// Nothing after it is due: it ends at the watermark.
			return span{}, false
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

// fold widens sp, a due rescan of the windows that end at the watermark,
// to take in the new window that starts there when that one is due too
// and is a live window: the two are then one read, one request sequence
// instead of two, settled together (the watermark, the new window's ids
// and the rescanned windows' read time in the same transaction or save).
// In steady state every live window finds the window before it due at its
// first age, so this saves a request per live window.
//
// A folded read tells the rescan's rows from the new window's by their
// start time (rowBefore): a new id before split is a late row of the
// rescanned windows. It is not done for an aggregate (days are never
// merged), for a source whose time property is unknown, for a history
// window (sized by the planner on its own), or when the span would hold
// more than coalesceRows (the rescanned windows' rows and the new
// window's estimated from the last of them) or be wider than maxSpan.
func (w *Walker) fold(sp span, now time.Time) (span, bool) {
	if w.cfg.Source.Aggregate || w.timeProp == "" || !sp.to.Equal(w.state.Watermark) {
		return sp, false
	}
	due := w.dueWindows(now, 1)
	if len(due) == 0 || due[0].k > 0 || !due[0].from.Equal(sp.to) {
		return sp, false
	}
	next := due[0]
	rows := 0
	var last checkpoint.Window
	for _, win := range w.state.Windows {
		if !win.From.Before(sp.from) && !win.To.After(sp.to) {
			rows += len(win.IDs)
			last = win
		}
		if win.From.Equal(next.from) {
			rows += len(win.IDs) // a partial read of the new window, resumed
		}
	}
	est := 0
	if d := last.To.Sub(last.From); d > 0 {
		est = int(math.Ceil(float64(len(last.IDs)) * float64(next.to.Sub(next.from)) / float64(d)))
	}
	if rows+est > w.coalesceRows() || next.to.Sub(sp.from) > w.maxSpan() {
		return sp, false
	}
	return span{from: sp.from, to: next.to, split: sp.to}, true
}

// waitsToFold reports whether sp, due at now for its rescan at age and
// ending with last, waits for the live window after it to become due, so
// as to be read with it (see fold). In steady state that window settles
// SettleDelay after the rescan at the first age fell due. It waits no
// longer than rescanAt may have made it wait anyway: until the
// quantum after last's age has passed (so a SettleDelay longer than the
// quantum turns folding off), and not at all when End leaves no window
// after it.
func (w *Walker) waitsToFold(sp span, last checkpoint.Window, age time.Duration, now time.Time) bool {
	if w.cfg.Source.Aggregate || w.timeProp == "" || !sp.to.Equal(w.state.Watermark) {
		return false
	}
	from, to, ok := w.windowAt(sp.to, now)
	if ok || !w.cfg.End.IsZero() && !from.Before(w.cfg.End) {
		return false // due now, and fold reads it; or there is none
	}
	return !to.Add(w.cfg.SettleDelay).After(last.To.Add(age + w.rescanQuantum(age)))
}

// rowBefore reports whether row i of p starts before t, by the source's
// time property. A row whose time cannot be read counts as not before:
// in a folded read it is then remembered with the new window, whose ids
// are kept at least as long as the rescanned windows', so it is never
// published twice (only Stats.Late may miss it).
func (w *Walker) rowBefore(p fetch.Page, i int, t time.Time) bool {
	raw := p.Rows[i]
	if i >= len(p.Scans) || len(raw) == 0 || raw[0] != '{' {
		return false
	}
	for _, m := range p.Scans[i] {
		if !m.PlainName || string(raw[m.NameStart:m.NameEnd]) != w.timeProp {
			continue
		}
		v := raw[m.ValueStart:m.ValueEnd]
		if !m.PlainValue || len(v) < 2 || v[0] != '"' {
			return false
		}
		at, err := time.Parse(time.RFC3339Nano, string(v[1:len(v)-1]))
		return err == nil && at.Before(t)
	}
	return false
}

// timeProperty is the row property fn's range selects on, or "" for a
// function not in the registry.
func timeProperty(fn string) string {
	src, ok := sources.ByFunction(fn)
	if !ok {
		return ""
	}
	return src.TimeProperty
}
