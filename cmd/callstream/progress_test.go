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
			"[------------------------]   0%  0/240 windows  0 rows  0 pages  0 rows/s  ETA --"},
		{"fresh, 40% in 4 minutes", progressSnapshot{mark: from.Add(96 * time.Hour), resumed: from, elapsed: 4 * time.Minute,
			stats: walk.Stats{Fetched: 1_234_567, Pages: 1300}},
			"[#########---------------]  40%  96/240 windows  1.2M rows  1300 pages  5144 rows/s  ETA 6m0s"},
		{"resumed at 50%, now 75% after 1 minute", progressSnapshot{mark: from.Add(180 * time.Hour), resumed: from.Add(120 * time.Hour), elapsed: time.Minute,
			stats: walk.Stats{Fetched: 600, Pages: 61}},
			"[##################------]  75%  180/240 windows  600 rows  61 pages  10 rows/s  ETA 1m0s"},
		{"done", progressSnapshot{mark: from.Add(240 * time.Hour), resumed: from, elapsed: 2 * time.Hour, stats: walk.Stats{Fetched: 12_000_000, Pages: 12_000}},
			"[########################] 100%  240/240 windows  12.0M rows  12.0k pages  1667 rows/s  ETA 0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.barLine(tc.snap); got != tc.want {
				t.Errorf("\n got %q\nwant %q", got, tc.want)
			}
		})
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
