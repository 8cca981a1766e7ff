package pipeline

import (
	"io"
	"log/slog"
	"os"
)

// durationsAsText renders durations in Go's duration syntax ("1.5s"), the
// syntax of the settings, instead of the integer nanoseconds slog's JSON
// handler writes, which log pipelines then mistake for counts. The text
// handler gets the same, so both formats agree.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// NewLogger returns the process logger, at level ("debug", "info", "warn"
// or "error") in format ("json", "text", or "" for text on a terminal and
// JSON otherwise). Every command logs through it, so durations read the
// same in all of them.
func NewLogger(level, format string, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: durationsAsText}
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
