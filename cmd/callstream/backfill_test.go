package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstream/callstream/walk"

	"github.com/callstream/callstream/checkpoint"
)

// TestBinaryBackfillResumesAfterKill backfills a simulated range, kills the
// process with SIGKILL midway, runs the same command again and checks that
// the second run resumed rather than started over and that the topic holds
// every row; a third run has nothing left to do.
func TestBinaryBackfillResumesAfterKill(t *testing.T) {
	sc := faultyGraph(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), 1)
	sc.Latency = 3 * time.Millisecond
	p := newPipeline(t, sc)
	// The live run's settings must not steer a backfill.
	// One window at a time, so that a kill after a few pages lands after
	// some window was saved.
	p.env["BACKFILL_CONCURRENCY"] = "1"
	p.env["START_TIME"] = p.end.Format(time.RFC3339)
	p.env["END_TIME"] = p.end.Add(time.Hour).Format(time.RFC3339)
	args := []string{"backfill", "--from", p.start.Format(time.RFC3339), "--to", p.end.Format(time.RFC3339), "--progress-every", "200ms"}
	cpPath := p.cpPath + ".backfill-20260701T000000Z-20260702T000000Z"

	// Kill somewhere in the first half of the walk.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	target := 5 + rng.IntN(15)
	first := launch(t, p.env, nil, args...)
	deadline := time.Now().Add(2 * time.Minute)
	for p.sim.Stats().Pages < target {
		select {
		case <-first.Done():
			t.Fatalf("the backfill ended before the kill; output:\n%s", first.Out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress; output:\n%s", first.Out)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := first.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.Done()
	killedAt := loadWatermark(t, cpPath)
	if !killedAt.After(p.start) || !killedAt.Before(p.end) {
		t.Fatalf("after the kill the backfill checkpoint is at %s, want inside (%s, %s)", killedAt, p.start, p.end)
	}

	second := launch(t, p.env, nil, args...)
	if code := second.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, second.Out)
	}
	resumed := second.LogLine(t, "resuming from checkpoint", time.Second)
	if resumed["watermark"] != killedAt.Format(time.RFC3339) {
		t.Errorf("resumed from %v, want %s", resumed["watermark"], killedAt)
	}
	done := second.LogLine(t, "backfill complete", time.Second)
	// History windows are sized by rows (a one-hour probe, then windows
	// of up to HISTORY_WINDOW_PAGES pages): at least one, at most the
	// hours left.
	if got, left := done["windows"].(float64), int(p.end.Sub(killedAt)/time.Hour); got < 1 || got > float64(left) {
		t.Errorf("second run walked %v windows, want between 1 and the %d hours left after the kill", got, left)
	}
	if got := done["rows"].(float64); got < float64(p.sim.Count(killedAt, p.end)) {
		t.Errorf("second run read %v rows, fewer than the %d after the kill", got, p.sim.Count(killedAt, p.end))
	}
	if got := loadWatermark(t, cpPath); !got.Equal(p.end) {
		t.Fatalf("backfill checkpoint at %s, want %s", got, p.end)
	}
	if _, err := os.Stat(p.cpPath); err == nil {
		t.Error("the backfill wrote the live run's checkpoint")
	}
	progressLines := 0
	for _, line := range strings.Split(second.Out.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "backfill progress" {
			progressLines++
			for _, k := range []string{"percent", "windows", "windows_total", "rows", "pages", "rows_per_second", "eta"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("progress line lacks %s: %s", k, line)
				}
			}
		}
	}
	if progressLines == 0 {
		t.Errorf("no progress log lines; output:\n%s", second.Out)
	}
	dups := p.check(t)
	if max := (walk.DefaultHistoryPages + 1) * 1000; dups > max {
		t.Fatalf("%d duplicates after one kill, more than the window in flight could hold (%d)", dups, max)
	}
	t.Logf("killed after %d pages at %s; resumed; %d duplicate records (the window in flight)", target, killedAt, dups)

	// Once complete, the same command has nothing to do.
	records := len(p.kafka.ReadAll(t, p.topic, true))
	third := launch(t, p.env, nil, args...)
	if code := third.Wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, third.Out)
	}
	if got := third.LogLine(t, "backfill complete", time.Second)["windows"]; got != float64(0) {
		t.Errorf("a finished backfill walked %v windows again", got)
	}
	if n := len(p.kafka.ReadAll(t, p.topic, true)); n != records {
		t.Errorf("a finished backfill published %d more records", n-records)
	}
}

func loadWatermark(t *testing.T, path string) time.Time {
	t.Helper()
	st, err := checkpoint.NewFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Load(context.Background(), directRoutingSource().Name)
	if err != nil {
		t.Fatal(err)
	}
	return s.Watermark
}

func TestBinaryBackfillRefusesBadRanges(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing", []string{"backfill"}, []string{"--from is required", "--to is required", "KAFKA_BROKERS"}},
		{"reversed", []string{"backfill", "--from", "2026-02-01", "--to", "2026-01-01"}, []string{"--to 2026-01-01T00:00:00Z is not after --from"}},
		{"unsettled", []string{"backfill", "--from", "2026-02-01", "--to", future}, []string{"SETTLE_DELAY"}},
		{"garbled", []string{"backfill", "--from", "yesterday", "--to", "2026-01-01"}, []string{`--from "yesterday"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := env{"KAFKA_BROKERS": "127.0.0.1:1"}
			if tc.name == "missing" {
				delete(e, "KAFKA_BROKERS")
			}
			proc := launch(t, e, nil, tc.args...)
			if code := proc.Wait(t, 30*time.Second); code != 2 {
				t.Fatalf("exit %d, want 2; output:\n%s", code, proc.Out)
			}
			for _, w := range tc.want {
				if !strings.Contains(proc.Out.String(), w) {
					t.Errorf("output does not say %q:\n%s", w, proc.Out)
				}
			}
		})
	}
}
