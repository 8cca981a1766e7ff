package main

import "log/slog"

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
