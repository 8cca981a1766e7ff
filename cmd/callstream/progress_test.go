package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/callstream/callstream/walk"
)

func TestProgressFigures(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{from: from, to: from.Add(240 * time.Hour), window: time.Hour}
	cases := []struct {
		name string
		snap progressSnapshot
		want string
	}{
		{"before the checkpoint is loaded", progressSnapshot{},
			"[------------------------]   0%  0 rows  0 requests  0 full pages  unpaced  0 throttled  ETA --"},
		{"fresh, 40% in 4 minutes", progressSnapshot{mark: from.Add(96 * time.Hour), resumed: from, elapsed: 4 * time.Minute,
			stats: walk.Stats{Fetched: 1_234_567, Pages: 1300, Requests: 1310, FullPages: 1230, Throttled: 2}},
			"[#########---------------]  40%  1.2M rows  1310 requests  1230 full pages  unpaced  2 throttled  ETA 6m0s"},
		{"resumed at 50%, now 75% after 1 minute", progressSnapshot{mark: from.Add(180 * time.Hour), resumed: from.Add(120 * time.Hour), elapsed: time.Minute,
			stats: walk.Stats{Fetched: 600, Pages: 61, Requests: 61}},
			"[##################------]  75%  600 rows  61 requests  0 full pages  unpaced  0 throttled  ETA 1m0s"},
		{"done", progressSnapshot{mark: from.Add(240 * time.Hour), resumed: from, elapsed: 2 * time.Hour, stats: walk.Stats{Fetched: 12_000_000, Pages: 12_000, Requests: 12_000, FullPages: 12_000}},
			"[########################] 100%  12.0M rows  12.0k requests  12.0k full pages  unpaced  0 throttled  ETA 0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.barLine(tc.snap); got != tc.want {
				t.Errorf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestProgressETAFromBudget: with a budget, the ETA is the requests still
// to send at the budget's rate — the requests so far in proportion to the
// range left — whatever the clock of the last minutes says; the bar shows
// the share of the budget used.
func TestProgressETAFromBudget(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{from: from, to: from.Add(90 * 24 * time.Hour), window: time.Hour, limit: 50}
	// A third of the range in 40 requests, sent in one minute (the
	// budget's burst): 80 left at 50 a minute is 1m36s, not the clock's 2m.
	s := progressSnapshot{mark: from.Add(30 * 24 * time.Hour), resumed: from, elapsed: time.Minute,
		stats: walk.Stats{Fetched: 39_500, Requests: 40, FullPages: 39}}
	want := "[########----------------]  33%  39.5k rows  40 requests  39 full pages  80% of 50/min  0 throttled  ETA 1m36s"
	if got := p.barLine(s); got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}

func TestTermWriterKeepsTheBarBelowLogLines(t *testing.T) {
	var out bytes.Buffer
	tw := &termWriter{w: &out}
	tw.draw("[bar 1]")
	if _, err := tw.Write([]byte("WARN something\n")); err != nil {
		t.Fatal(err)
	}
	tw.draw("[bar 2]")
	tw.finish("[bar 3]")
	if _, err := tw.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	want := clearLine + "[bar 1]" + clearLine + "WARN something\n" + "[bar 1]" + clearLine + "[bar 2]" + clearLine + "[bar 3]\n" + "after\n"
	if got := out.String(); got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}
