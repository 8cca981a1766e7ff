package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	app "github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/walk"
)

// isTerminal reports whether w is a terminal a person watches.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// watchProgress reports a backfill (app.Progress) beside its walk: a bar
// redrawn in place on bar, or when bar is nil a log line every so often.
func watchProgress(pr app.Progress, bar *termWriter, every time.Duration, log *slog.Logger) func(context.Context, *walk.Walker) {
	return func(ctx context.Context, w *walk.Walker) {
		if bar != nil {
			every = 250 * time.Millisecond
		}
		pr.Watch(ctx, w, every, func(s app.ProgressSnapshot, last bool) {
			switch {
			case bar == nil && !last:
				pr.LogLine(log, s)
			case bar != nil && last:
				bar.finish(pr.BarLine(s))
			case bar != nil:
				bar.draw(pr.BarLine(s))
			}
		})
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
