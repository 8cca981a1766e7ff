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

// numbers derives the figures both report forms show.
func (p *progress) numbers(s progressSnapshot) (done, total int, frac, rate float64, eta time.Duration) {
	span := p.to.Sub(p.from)
	total = int((span + p.window - 1) / p.window)
	mark := s.mark
	if mark.IsZero() || mark.Before(p.from) {
		mark = p.from
	}
	if mark.After(p.to) {
		mark = p.to
	}
	done = int((mark.Sub(p.from) + p.window - 1) / p.window)
	frac = float64(mark.Sub(p.from)) / float64(span)
	if secs := s.elapsed.Seconds(); secs > 0 {
		rate = float64(s.stats.Fetched) / secs
	}
	eta = -1
	start := s.resumed
	if start.IsZero() {
		start = p.from
	}
	if covered := mark.Sub(start); covered > 0 && s.elapsed > 0 {
		eta = time.Duration(float64(p.to.Sub(mark)) / float64(covered) * float64(s.elapsed))
	}
	return done, total, frac, rate, eta
}

// barLine renders the terminal bar, e.g.
//
//	[########------------]  40%  96/240 windows  1.2M rows  1.3k pages  8.1k rows/s  ETA 3m12s
func (p *progress) barLine(s progressSnapshot) string {
	const width = 24
	done, total, frac, rate, eta := p.numbers(s)
	filled := int(frac * width)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", width-filled)
	return fmt.Sprintf("[%s] %3.0f%%  %d/%d windows  %s rows  %s pages  %s rows/s  ETA %s",
		bar, frac*100, done, total, humanCount(float64(s.stats.Fetched)), humanCount(float64(s.stats.Pages)), humanCount(rate), fmtETA(eta))
}

func (p *progress) logLine(s progressSnapshot) {
	done, total, frac, rate, eta := p.numbers(s)
	p.log.Info("backfill progress", "percent", fmt.Sprintf("%.1f", frac*100), "windows", done, "windows_total", total,
		"rows", s.stats.Fetched, "published", s.stats.Published, "pages", s.stats.Pages,
		"rows_per_second", fmt.Sprintf("%.0f", rate), "eta", fmtETA(eta))
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
