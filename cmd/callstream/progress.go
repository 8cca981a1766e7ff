package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/callstream/callstream/walk"
)

// isTerminal reports whether w is a terminal a person watches.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress reports a backfill: a bar redrawn in place on a terminal, or a
// log line every so often otherwise.
type progress struct {
	from, to time.Time
	window   time.Duration
	// limit is the request budget per function per minute
	// (GRAPH_BUDGET_PER_MINUTE); 0 means unpaced.
	limit int
	// bar draws on a terminal; nil means log lines instead.
	bar   *termWriter
	every time.Duration
	log   *slog.Logger
	now   func() time.Time
}

// progressSnapshot is what one report says.
type progressSnapshot struct {
	mark    time.Time     // the walker's watermark; zero before it loaded the checkpoint
	resumed time.Time     // where this process started (the resumed watermark, or from)
	elapsed time.Duration // since this process started walking
	stats   walk.Stats
}

// watch reports until ctx ends, then once more so the last state shows.
func (p *progress) watch(ctx context.Context, w *walk.Walker) {
	began := p.now()
	var resumed time.Time
	snap := func() progressSnapshot {
		mark := w.Watermark()
		if resumed.IsZero() && !mark.IsZero() {
			resumed = mark
		}
		return progressSnapshot{mark: mark, resumed: resumed, elapsed: p.now().Sub(began), stats: w.Stats()}
	}
	interval := p.every
	if p.bar != nil {
		interval = 250 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s := snap()
			if p.bar != nil {
				p.bar.finish(p.barLine(s))
			}
			return
		case <-t.C:
			s := snap()
			if p.bar != nil {
				p.bar.draw(p.barLine(s))
			} else {
				p.logLine(s)
			}
		}
	}
}

// figures are what both report forms show.
type figures struct {
	done, total int // windows of WINDOW covered, and in the range
	frac        float64
	rate        float64 // rows a second
	// share is the requests a minute this process sent over the budget;
	// -1 when unpaced or nothing was sent yet.
	share float64
	eta   time.Duration
}

// numbers derives the figures. The ETA comes from the budget: Graph's
// limit, not the machine, bounds a backfill, so the requests still to
// send — the requests so far, in proportion to the range still to walk —
// over the budget a minute. A history window is sized by rows, so requests
// follow rows, not time, and the estimate holds across quiet and busy
// stretches alike. Unpaced (GRAPH_BUDGET_PER_MINUTE=0), it is the clock's
// estimate.
func (p *progress) numbers(s progressSnapshot) figures {
	var f figures
	span := p.to.Sub(p.from)
	f.total = int((span + p.window - 1) / p.window)
	mark := s.mark
	if mark.IsZero() || mark.Before(p.from) {
		mark = p.from
	}
	if mark.After(p.to) {
		mark = p.to
	}
	f.done = int((mark.Sub(p.from) + p.window - 1) / p.window)
	f.frac = float64(mark.Sub(p.from)) / float64(span)
	f.share = -1
	if secs := s.elapsed.Seconds(); secs > 0 {
		f.rate = float64(s.stats.Fetched) / secs
		if p.limit > 0 && s.stats.Requests > 0 {
			f.share = float64(s.stats.Requests) / s.elapsed.Minutes() / float64(p.limit)
		}
	}
	f.eta = -1
	start := s.resumed
	if start.IsZero() {
		start = p.from
	}
	covered := mark.Sub(start)
	switch {
	case covered <= 0 || s.elapsed <= 0:
	case p.limit > 0 && s.stats.Requests > 0:
		left := float64(s.stats.Requests) * float64(p.to.Sub(mark)) / float64(covered)
		f.eta = time.Duration(left / float64(p.limit) * float64(time.Minute))
	default:
		f.eta = time.Duration(float64(p.to.Sub(mark)) / float64(covered) * float64(s.elapsed))
	}
	return f
}

// barLine renders the terminal bar, e.g.
//
//	[########------------]  40%  1.2M rows  1.3k requests  1.2k full pages  98% of 50/min  0 throttled  ETA 3m12s
func (p *progress) barLine(s progressSnapshot) string {
	const width = 24
	f := p.numbers(s)
	filled := int(f.frac * width)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", width-filled)
	budget := "unpaced"
	if p.limit > 0 {
		budget = fmt.Sprintf("%s of %d/min", fmtShare(f.share), p.limit)
	}
	return fmt.Sprintf("[%s] %3.0f%%  %s rows  %s requests  %s full pages  %s  %d throttled  ETA %s",
		bar, f.frac*100, humanCount(float64(s.stats.Fetched)), humanCount(float64(s.stats.Requests)),
		humanCount(float64(s.stats.FullPages)), budget, s.stats.Throttled, fmtETA(f.eta))
}

func (p *progress) logLine(s progressSnapshot) {
	f := p.numbers(s)
	p.log.Info("backfill progress", "percent", fmt.Sprintf("%.1f", f.frac*100), "windows", f.done, "windows_total", f.total,
		"rows", s.stats.Fetched, "published", s.stats.Published, "pages", s.stats.Pages,
		"requests", s.stats.Requests, "full_pages", s.stats.FullPages, "throttled", s.stats.Throttled,
		"budget_per_minute", p.limit, "budget_share", fmtShare(f.share),
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

// termWriter shares a terminal between log lines and a bar kept on the
// last line: a log line clears the bar, prints, and redraws it below.
type termWriter struct {
	mu  sync.Mutex
	w   io.Writer
	bar string
}

const clearLine = "\r\x1b[K"

// Write prints a log line above the bar.
func (t *termWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != "" {
		io.WriteString(t.w, clearLine)
	}
	n, err := t.w.Write(b)
	if t.bar != "" {
		io.WriteString(t.w, t.bar)
	}
	return n, err
}

func (t *termWriter) draw(bar string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bar = bar
	io.WriteString(t.w, clearLine+bar)
}

// finish draws the bar a last time and leaves it in place.
func (t *termWriter) finish(bar string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bar = ""
	io.WriteString(t.w, clearLine+bar+"\n")
}
