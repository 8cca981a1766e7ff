package walk

import (
	"errors"
	"math"
	"time"

	"github.com/callstream/callstream/sources"
)

// HistoryConfig sizes the windows of history by rows rather than by the
// clock. History is what lies past its last rescan age when it is read —
// it ends before now minus the largest RescanAfter (and the settle
// delay) — so it is read once and never again, and how it is cut into
// windows changes nothing but the requests it costs: Graph answers
// 1,000 rows a page whatever the range, so a window of a quiet hour costs
// a request as a window of a busy week does. Live windows keep
// Config.Window.
//
// History windows are whole multiples of Window from the cursor, so the
// live windows after them stay on Window's grid. The first is Window wide
// (a probe); each later one is sized from the density the one before it
// found, to hold about Pages pages with the last of them nearly full,
// growing at most eight times a window (an empty or sparse stretch does
// not make the next window jump to 90 days blind) and never wider than
// MaxWidth, 90 days, or the source's MaxRange. A window that holds far
// more than planned (a burst the windows before it did not show) is read
// whole all the same — only the next one shrinks — so the estimate never
// costs a request twice; the fetch client's page cap per window
// (GRAPH_MAX_PAGES_PER_WINDOW, a million rows by default) would take a
// jump in density of sixty times to reach.
type HistoryConfig struct {
	// PageRows is how many rows Graph puts in a full page (1,000); 0
	// turns the planner off, and history is read in Window-wide windows.
	PageRows int
	// Pages is how many pages a history window is planned to hold;
	// DefaultHistoryPages if 0. It bounds what a window puts in one
	// transaction, and what a crash in the middle of one reads again (the
	// exactly-once store) or publishes again (the file store).
	Pages int
	// MaxWidth caps a history window; MaxHistoryWidth (90 days, the range
	// Graph accepts) if 0 or more. The source's MaxRange caps it too.
	MaxWidth time.Duration
}

// Defaults of the history planner.
const (
	// DefaultHistoryPages is 16 pages: a window read page by page keeps
	// one transaction open while it fetches, and 16 pages at Graph's 50
	// requests a minute take under 20 s, well inside the producer's
	// 60-second transaction timeout even after a throttled page; a
	// partial last page costs at most a sixteenth.
	DefaultHistoryPages = 16
	// MaxHistoryWidth is the widest range Graph accepts (getPstnCalls
	// answers 406 beyond it; tools keep every function to it).
	MaxHistoryWidth = 90 * 24 * time.Hour
	// historyGrowth bounds how many times wider a window may be than the
	// one before it.
	historyGrowth = 8
	// historyMargin is the headroom planned above the rows a window is
	// expected to hold, so that a little more traffic than estimated does
	// not spill a handful of rows onto a page of their own.
	historyMargin = 1.02
)

func (h HistoryConfig) enabled() bool { return h.PageRows > 0 }

func (h HistoryConfig) validate() error {
	if h.PageRows < 0 || h.Pages < 0 || h.MaxWidth < 0 {
		return errors.New("history planner settings must not be negative")
	}
	return nil
}

// historyPlan is the planner's state: the width, in Windows, of the next
// history window, and whether it was learnt from a read (before the first
// read the planner probes with one Window).
type historyPlan struct {
	k     int // next width in Windows
	known bool
	// want is the width the density asks for, beyond the growth bound:
	// the windows after the next one, planned before it is read, grow
	// towards it.
	want int
	// maxK caps k: MaxWidth over Window.
	maxK int
	// targetRows is Pages × PageRows.
	targetRows, pageRows int
}

// newHistoryPlan sets the planner up from cfg (already defaulted by New).
func newHistoryPlan(cfg Config) historyPlan {
	h := cfg.History
	pages := h.Pages
	if pages <= 0 {
		pages = DefaultHistoryPages
	}
	maxW := h.MaxWidth
	if maxW <= 0 || maxW > MaxHistoryWidth {
		maxW = MaxHistoryWidth
	}
	if src, ok := sources.ByFunction(string(cfg.Source.Function)); ok && src.MaxRange > 0 && src.MaxRange < maxW {
		maxW = src.MaxRange
	}
	return historyPlan{k: 1, maxK: max(int(maxW/cfg.Window), 1), targetRows: pages * h.PageRows, pageRows: h.PageRows}
}

// observe learns from a history window of k Windows that held rows: the
// next window is the width, in Windows, that fills pages best without
// planning more than targetRows. The rows are those Graph returned,
// duplicates across pages included, since those cost page space too.
func (p *historyPlan) observe(k, rows int) {
	p.known = true
	limit := min(p.maxK, k*historyGrowth)
	if rows == 0 {
		p.k, p.want = limit, p.maxK
		return
	}
	perK := float64(rows) / float64(k) // rows per Window
	p.want = max(1, min(p.maxK, int(float64(p.targetRows)/(perK*historyMargin))))
	kmax := min(p.want, limit)
	// Of the widths from half of kmax up, the one whose pages are fullest
	// by the estimate: a window of 15.2 pages' rows costs 16 requests,
	// one of 14.9 costs 15, and the bigger window is not the better one.
	best, bestFill := kmax, p.fill(kmax, perK)
	for k := kmax - 1; k >= max(1, kmax/2); k-- {
		if f := p.fill(k, perK); f > bestFill+1e-9 {
			best, bestFill = k, f
		}
	}
	p.k = best
}

// fill is the expected rows per request of a window of k Windows.
func (p *historyPlan) fill(k int, perK float64) float64 {
	rows := float64(k) * perK
	pages := math.Max(1, math.Ceil(rows*historyMargin/float64(p.pageRows)))
	return rows / pages
}

// after is the width of the window planned after one of k Windows, before
// that one is read: wider, by the growth bound at most, while the density
// asks for more; the same otherwise.
func (p *historyPlan) after(k int) int {
	if p.want <= k {
		return k
	}
	return min(p.want, k*historyGrowth)
}

// historyLimit is the end of the history at now: windows ending at or
// before it are past their last rescan age and settled.
func (w *Walker) historyLimit(now time.Time) time.Time {
	horizon := w.cfg.SettleDelay
	if n := len(w.cfg.RescanAfter); n > 0 {
		horizon = max(horizon, w.cfg.RescanAfter[n-1])
	}
	limit := now.Add(-horizon)
	if !w.cfg.End.IsZero() && w.cfg.End.Before(limit) {
		limit = w.cfg.End
	}
	return limit
}

// historyAt returns the history window starting at from, k Windows wide
// (fewer where history ends sooner), or false when not even one whole
// Window of history is left: windowAt takes over.
func (w *Walker) historyAt(from, now time.Time, k int) (span, bool) {
	if !w.cfg.History.enabled() {
		return span{}, false
	}
	avail := w.historyLimit(now).Sub(from)
	if fit := int(avail / w.cfg.Window); fit < k {
		k = fit
	}
	if k < 1 {
		return span{}, false
	}
	return span{from: from, to: from.Add(time.Duration(k) * w.cfg.Window), k: k}, true
}

// historyRound is how many history windows one walk round plans: one
// while the planner probes, else enough to keep every concurrent fetch
// busy. Each round is planned with what the rounds before it learnt.
func (w *Walker) historyRound() int {
	if !w.hist.known {
		return 1
	}
	return 2 * max(w.cfg.Concurrency, 1)
}

// learn feeds a completed history read to the planner and logs the next
// width.
func (w *Walker) learn(sp span, rows, pages int) {
	if sp.k == 0 {
		return
	}
	w.hist.observe(sp.k, rows)
	w.mu.Lock()
	w.stats.HistoryWindows++
	w.histWidth = time.Duration(w.hist.k) * w.cfg.Window
	w.mu.Unlock()
	w.log.Debug("history window read; next one planned", "from", fmtT(sp.from), "to", fmtT(sp.to),
		"rows", rows, "pages", pages, "next_width", w.histWidth)
}

// HistoryWidth returns the width of the next history window (Window until
// the planner has read one). It is safe to call while Run runs.
func (w *Walker) HistoryWidth() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.histWidth == 0 {
		return w.cfg.Window
	}
	return w.histWidth
}
