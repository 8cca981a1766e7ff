package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
)

// Progress is a backfill's progress report: the figures (rows, requests,
// full pages, share of the budget, ETA) taken from the walker, as the
// line of a bar on a terminal or as a log line. Drawing the bar is the
// caller's.
type Progress struct {
	From, To time.Time
	Window   time.Duration
	// Limit is the requests a minute the budget lets the source send
	// (GRAPH_BUDGET_PER_MINUTE; for call records, its family's
	// GRAPH_CALLRECORDS_BUDGET_PER_20S); 0 means unpaced.
	Limit int
	// Records marks a records source (call records): every record costs
	// requests of its own (its read, and its further sessions pages), so
	// the ETA counts records left at the requests a record has cost so
	// far, and its rows are records.
	Records bool
}

// BackfillProgress is the progress report of a backfill of [from, to)
// with c: of its first source, the one the report watches.
func (c Config) BackfillProgress(from, to time.Time) Progress {
	p := Progress{From: from, To: to, Window: c.Walk.Window, Limit: c.Graph.BudgetPerFunction}
	if len(c.Walk.Sources) == 0 {
		return p
	}
	if src, ok := sources.Lookup(c.Walk.Sources[0]); ok && src.Kind == sources.Records {
		p.Records = true
		if p.Limit > 0 {
			// Unpaced stays unpaced (GRAPH_BUDGET_PER_MINUTE=0 turns
			// pacing off for every family).
			// The budget's window slides: its steady state is the
			// budget per window, 60/21 of it a minute, not two whole
			// windows (which made the ETA 43% long).
			p.Limit = int(int64(c.Graph.CallRecordsBudget) * int64(time.Minute) / int64(fetch.DefaultRecordsBudgetWindow))
		}
	}
	return p
}

// ProgressSnapshot is what one report says.
type ProgressSnapshot struct {
	Mark    time.Time     // the walker's watermark; zero before it loaded the checkpoint
	Resumed time.Time     // where this process started (the resumed watermark, or From)
	Elapsed time.Duration // since this process started walking
	Stats   walk.Stats
	// Base and BaseElapsed are Stats and Elapsed when Resumed was taken:
	// the first report may come after windows were published, and what
	// they cost is not in Mark − Resumed, so the ETA counts from there.
	Base        walk.Stats
	BaseElapsed time.Duration
}

// Watch snapshots w every interval and hands each to report until ctx
// ends, then takes one more with last set, so the last state shows.
func (p Progress) Watch(ctx context.Context, w *walk.Walker, interval time.Duration, report func(s ProgressSnapshot, last bool)) {
	began := time.Now()
	var resumed time.Time
	var base walk.Stats
	var baseElapsed time.Duration
	snap := func() ProgressSnapshot {
		mark, st, elapsed := w.Watermark(), w.Stats(), time.Since(began)
		if resumed.IsZero() && !mark.IsZero() {
			resumed, base, baseElapsed = mark, st, elapsed
		}
		return ProgressSnapshot{Mark: mark, Resumed: resumed, Elapsed: elapsed, Stats: st, Base: base, BaseElapsed: baseElapsed}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			report(snap(), true)
			return
		case <-t.C:
			report(snap(), false)
		}
	}
}

// progressFigures are what both report forms show.
type progressFigures struct {
	done, total int // windows of WINDOW covered, and in the range
	frac        float64
	rate        float64 // rows a second
	// share is the requests a minute this process sent over the budget;
	// -1 when unpaced or nothing was sent yet.
	share float64
	eta   time.Duration
}

// figures derives the figures. The ETA comes from the budget: Graph's
// limit, not the machine, bounds a backfill, so the requests still to
// send — the requests so far, in proportion to the range still to walk —
// over the budget a minute. A history window is sized by rows, so requests
// follow rows, not time, and the estimate holds across quiet and busy
// stretches alike. Unpaced (GRAPH_BUDGET_PER_MINUTE=0), it is the clock's
// estimate.
func (p Progress) figures(s ProgressSnapshot) progressFigures {
	var f progressFigures
	span := p.To.Sub(p.From)
	f.total = int((span + p.Window - 1) / p.Window)
	mark := s.Mark
	if mark.IsZero() || mark.Before(p.From) {
		mark = p.From
	}
	if mark.After(p.To) {
		mark = p.To
	}
	f.done = int((mark.Sub(p.From) + p.Window - 1) / p.Window)
	f.frac = float64(mark.Sub(p.From)) / float64(span)
	f.share = -1
	if secs := s.Elapsed.Seconds(); secs > 0 {
		f.rate = float64(s.Stats.Fetched) / secs
		if p.Limit > 0 && s.Stats.Requests > 0 {
			f.share = float64(s.Stats.Requests) / s.Elapsed.Minutes() / float64(p.Limit)
		}
	}
	f.eta = -1
	start := s.Resumed
	if start.IsZero() {
		start = p.From
	}
	covered := mark.Sub(start)
	// What was read and sent, and how long it took, since Resumed.
	elapsed := s.Elapsed - s.BaseElapsed
	fetched, requests := s.Stats.Fetched-s.Base.Fetched, s.Stats.Requests-s.Base.Requests
	if covered <= 0 || elapsed <= 0 {
		return f
	}
	clock := time.Duration(float64(p.To.Sub(mark)) / float64(covered) * float64(elapsed))
	switch {
	case p.Records && p.Limit > 0 && fetched > 0:
		// The cost model of a records source: the records left, at the
		// rate found so far, each at the requests a record cost so far
		// (its read, further sessions pages, its share of the list). The
		// budget bounds the time from below; reads that wait on Graph's
		// answers rather than the budget make the clock's estimate the
		// longer one.
		recordsLeft := float64(fetched) * float64(p.To.Sub(mark)) / float64(covered)
		perRecord := float64(requests) / float64(fetched)
		f.eta = max(clock, time.Duration(recordsLeft*perRecord/float64(p.Limit)*float64(time.Minute)))
	case p.Limit > 0 && requests > 0:
		left := float64(requests) * float64(p.To.Sub(mark)) / float64(covered)
		f.eta = time.Duration(left / float64(p.Limit) * float64(time.Minute))
	default:
		f.eta = clock
	}
	return f
}

// BarLine renders the terminal bar, e.g.
//
//	[########------------]  40%  1.2M rows  1.3k requests  1.2k full pages  98% of 50/min  0 throttled  ETA 3m12s
func (p Progress) BarLine(s ProgressSnapshot) string {
	const width = 24
	f := p.figures(s)
	filled := int(f.frac * width)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", width-filled)
	budget := "unpaced"
	if p.Limit > 0 {
		budget = fmt.Sprintf("%s of %d/min", fmtShare(f.share), p.Limit)
	}
	rows := "rows"
	if p.Records {
		rows = "records"
	}
	return fmt.Sprintf("[%s] %3.0f%%  %s %s  %s requests  %s full pages  %s  %d throttled  ETA %s",
		bar, f.frac*100, humanCount(float64(s.Stats.Fetched)), rows, humanCount(float64(s.Stats.Requests)),
		humanCount(float64(s.Stats.FullPages)), budget, s.Stats.Throttled, fmtETA(f.eta))
}

// LogLine writes the "backfill progress" log line to log.
func (p Progress) LogLine(log *slog.Logger, s ProgressSnapshot) {
	f := p.figures(s)
	log.Info("backfill progress", "percent", fmt.Sprintf("%.1f", f.frac*100), "windows", f.done, "windows_total", f.total,
		"rows", s.Stats.Fetched, "published", s.Stats.Published, "pages", s.Stats.Pages,
		"requests", s.Stats.Requests, "full_pages", s.Stats.FullPages, "throttled", s.Stats.Throttled,
		"budget_per_minute", p.Limit, "budget_share", fmtShare(f.share),
		"rows_per_second", fmt.Sprintf("%.0f", f.rate), "eta", fmtETA(f.eta))
}

// fmtShare prints a share of the budget as a percentage, "--" when there
// is none.
func fmtShare(x float64) string {
	if x < 0 {
		return "--"
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}

func fmtETA(d time.Duration) string {
	switch {
	case d < 0:
		return "--"
	case d < time.Second:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}

// humanCount prints 1234567 as 1.2M.
func humanCount(x float64) string {
	switch {
	case x >= 1e9:
		return fmt.Sprintf("%.1fG", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.1fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}
