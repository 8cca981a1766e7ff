package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
)

// TestBinaryCheckpointShowAndReset walks recent simulated windows, shows
// the checkpoint, resets it back (refused, then confirmed) and walks again:
// the rows after the reset point are published again, none is lost.
func TestBinaryCheckpointShowAndReset(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	start := end.Add(-12 * time.Hour)
	p := newPipeline(t, graphsim.Config{Seed: 9, Start: start, End: end, RowsPerHour: 200, PageOverlap: 2, PageSize: 50})
	// The file store, whose path show reports; the Kafka store is shown by
	// TestBinaryCheckpointShowKafka.
	p.env["CHECKPOINT_STORE"] = "file"
	if code := launch(t, p.env, nil, "run", "--once").Wait(t, 2*time.Minute); code != 0 {
		t.Fatal("first run failed")
	}

	show := launch(t, p.env, nil, "checkpoint", "show", "--json")
	if code := show.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("show: exit %d\n%s", code, show.Out)
	}
	var got struct {
		Path      string
		Watermark time.Time
		Windows   int `json:"rememberedWindows"`
		IDs       int `json:"rememberedIds"`
	}
	if err := json.Unmarshal([]byte(show.Out.String()), &got); err != nil {
		t.Fatalf("%v:\n%s", err, show.Out)
	}
	if !got.Watermark.Equal(end) || got.Windows != 12 || got.IDs != p.sim.Count(start, end) || got.Path != p.cpPath {
		t.Fatalf("show says %+v; want watermark %s, 12 windows, %d ids", got, end, p.sim.Count(start, end))
	}
	text := launch(t, p.env, nil, "checkpoint", "show")
	if code := text.Wait(t, 30*time.Second); code != 0 || !strings.Contains(text.Out.String(), "watermark  "+end.Format(time.RFC3339)) {
		t.Fatalf("show (text): exit %d\n%s", code, text.Out)
	}

	// Back into the middle of a window: snapped to its start.
	asked := end.Add(-4*time.Hour + 20*time.Minute)
	resetTo := end.Add(-4 * time.Hour)
	args := []string{"checkpoint", "reset", "--to", asked.Format(time.RFC3339)}
	refused := launch(t, p.env, strings.NewReader("no\n"), args...)
	if code := refused.Wait(t, 30*time.Second); code != 1 || !strings.Contains(refused.Out.String(), "not confirmed") {
		t.Fatalf("unconfirmed reset: exit %d, want 1\n%s", code, refused.Out)
	}
	if wm := loadWatermark(t, p.cpPath); !wm.Equal(end) {
		t.Fatalf("an unconfirmed reset moved the watermark to %s", wm)
	}
	done := launch(t, p.env, strings.NewReader("yes\n"), args...)
	if code := done.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("confirmed reset: exit %d\n%s", code, done.Out)
	}
	out := done.Out.String()
	for _, want := range []string{"resetting to its start, " + resetTo.Format(time.RFC3339), "4 remembered windows are forgotten", "read again"} {
		if !strings.Contains(out, want) {
			t.Errorf("the reset does not say %q:\n%s", want, out)
		}
	}
	if wm := loadWatermark(t, p.cpPath); !wm.Equal(resetTo) {
		t.Fatalf("watermark %s after reset, want %s", wm, resetTo)
	}

	// Forward needs --forward.
	fwd := launch(t, p.env, nil, "checkpoint", "reset", "--to", end.Add(time.Hour).Format(time.RFC3339), "--yes")
	if code := fwd.Wait(t, 30*time.Second); code != 2 || !strings.Contains(fwd.Out.String(), "--forward") || !strings.Contains(fwd.Out.String(), "will NOT be read") {
		t.Fatalf("forward reset without --forward: exit %d, want 2\n%s", code, fwd.Out)
	}

	// Walk again: the rows from the reset point on are published again.
	if code := launch(t, p.env, nil, "run", "--once").Wait(t, 2*time.Minute); code != 0 {
		t.Fatal("second run failed")
	}
	dups := p.check(t) // fails on any lost row
	if want := p.sim.Count(resetTo, end); dups != want {
		t.Errorf("%d duplicates after the reset, want the %d rows after %s", dups, want, resetTo)
	}
}

// TestBinaryCheckpointShowKafka reads the default, Kafka checkpoint back
// and resets it: the reset is a transaction that the next run resumes from.
func TestBinaryCheckpointShowKafka(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Hour).Add(-14 * time.Hour)
	end := start.Add(12 * time.Hour)
	p := newPipeline(t, graphsim.Config{Seed: 9, Start: start, End: end, RowsPerHour: 200, PageSize: 50})
	p.env["START_TIME"], p.env["END_TIME"] = start.Format(time.RFC3339), end.Format(time.RFC3339)
	if code := launch(t, p.env, nil, "run", "--once").Wait(t, 2*time.Minute); code != 0 {
		t.Fatal("first run failed")
	}
	show := launch(t, p.env, nil, "checkpoint", "show", "--json")
	if code := show.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("show: exit %d\n%s", code, show.Out)
	}
	var got struct {
		Path      string
		Watermark time.Time
		IDs       int `json:"rememberedIds"`
	}
	if err := json.Unmarshal([]byte(show.Out.String()), &got); err != nil {
		t.Fatalf("%v:\n%s", err, show.Out)
	}
	if !got.Watermark.Equal(end) || got.IDs != p.sim.Count(start, end) || !strings.Contains(got.Path, "kafka topic") {
		t.Fatalf("show says %+v; want watermark %s and %d ids from the Kafka store", got, end, p.sim.Count(start, end))
	}
	to := end.Add(-2 * time.Hour)
	reset := launch(t, p.env, nil, "checkpoint", "reset", "--to", to.Format(time.RFC3339), "--yes")
	if code := reset.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("reset: exit %d\n%s", code, reset.Out)
	}
	if wm := p.watermark(t); !wm.Equal(to) {
		t.Fatalf("after the reset the Kafka checkpoint is at %s, want %s", wm, to)
	}
}
