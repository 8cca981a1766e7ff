package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/testkit"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
)

// The tests in this file break the checkpoint as an unlucky operator or a
// bad edit would, and hold callstream to Invariant 1 of DESIGN.md: the
// checkpoint never runs ahead of Kafka — nor of time. A checkpoint that
// cannot be trusted, or could not be written, stops callstream before it
// publishes anything; it never reads as "caught up".

// year2099 is a watermark no walker can have written.
var year2099 = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)

// recentPipeline is a pipeline over six recent simulated hours, all due.
func recentPipeline(t *testing.T) *pipeline {
	t.Helper()
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	return newPipeline(t, graphsim.Config{Seed: 12, Start: end.Add(-6 * time.Hour), End: end, RowsPerHour: 60, PageSize: 50})
}

// writeKafkaCheckpoint commits st to the pipeline's checkpoint topic the
// way the binary does: staged records in a transaction.
func writeKafkaCheckpoint(t *testing.T, p *pipeline, st checkpoint.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := p.kafka.Client(t)
	cpTopic := p.topic + ".checkpoint"
	if err := producer.EnsureCheckpointTopic(ctx, cl, cpTopic, p.topic); err != nil {
		t.Fatal(err)
	}
	prod, err := producer.New(ctx, producer.Config{Brokers: p.kafka.Brokers, Topic: p.topic, TransactionalID: "hostile-checkpoint-writer",
		Schema: producer.Schema{Name: schemas.DirectRoutingSchemaName, Text: schemas.DirectRoutingSchemaText(), Fingerprint: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())
	source := directRoutingSource().Name
	store := checkpoint.NewKafkaStore(cl, cpTopic, p.topic)
	if _, err := store.Load(ctx, source); err != nil {
		t.Fatal(err)
	}
	b, err := prod.Begin(source, st.Watermark, st.Watermark)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.Stage(source, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
}

// assertNothingPublished fails if any record, committed or not, reached
// the data topic.
func assertNothingPublished(t *testing.T, p *pipeline) {
	t.Helper()
	if recs := p.kafka.ReadAll(t, p.topic, false); len(recs) != 0 {
		t.Fatalf("%d records published although the checkpoint was refused", len(recs))
	}
}

// TestBinaryFutureCheckpointIsRefused, for both stores: a 2099 watermark
// makes run --once (and backfill, given that file) fail (not "caught up") with the reset that repairs it;
// checkpoint show flags it instead of printing a negative age; a reset
// into the future is refused with exit 2 naming --to; and the repair the
// error names works: after it every row is in Kafka, none lost.
func TestBinaryFutureCheckpointIsRefused(t *testing.T) {
	for _, store := range []string{"file", "kafka"} {
		t.Run(store, func(t *testing.T) {
			p := recentPipeline(t)
			p.env["CHECKPOINT_STORE"] = store
			if store == "file" {
				fs, err := checkpoint.NewFileStore(p.cpPath)
				if err != nil {
					t.Fatal(err)
				}
				if err := fs.Save(context.Background(), directRoutingSource().Name, checkpoint.State{Watermark: year2099}); err != nil {
					t.Fatal(err)
				}
			} else {
				writeKafkaCheckpoint(t, p, checkpoint.State{Watermark: year2099})
			}

			runs := [][]string{{"run", "--once"}}
			if store == "file" {
				// backfill keeps its own checkpoint file; given this one, it
				// refuses it too.
				runs = append(runs, []string{"backfill", "--from", p.start.Format(time.RFC3339), "--to", p.end.Format(time.RFC3339), "--checkpoint", p.cpPath})
			}
			for _, args := range runs {
				run := launch(t, p.env, nil, args...)
				if code := run.Wait(t, 2*time.Minute); code == 0 {
					t.Fatalf("%v: exit 0 from a checkpoint in 2099:\n%s", args, run.Out)
				}
				out := run.Out.String()
				for _, want := range []string{"2099-01-01T00:00:00Z is in the future", "callstream checkpoint reset --source direct-routing --to"} {
					if !strings.Contains(out, want) {
						t.Errorf("%v does not say %q:\n%s", args, want, out)
					}
				}
			}
			assertNothingPublished(t, p)

			show := launch(t, p.env, nil, "checkpoint", "show")
			if code := show.Wait(t, time.Minute); code != 0 {
				t.Fatalf("show: exit %d\n%s", code, show.Out)
			}
			text := show.Out.String()
			if !strings.Contains(text, "watermark  2099-01-01T00:00:00Z: IN THE FUTURE, invalid") || !strings.Contains(text, "INVALID") ||
				strings.Contains(text, "ago)") || strings.Contains(text, "(-") {
				t.Errorf("show does not flag the future watermark (or prints a negative age):\n%s", text)
			}
			showJSON := launch(t, p.env, nil, "checkpoint", "show", "--json")
			if code := showJSON.Wait(t, time.Minute); code != 0 {
				t.Fatalf("show --json: exit %d\n%s", code, showJSON.Out)
			}
			var js struct{ Invalid string }
			if err := json.Unmarshal([]byte(showJSON.Out.String()), &js); err != nil || !strings.Contains(js.Invalid, "in the future") {
				t.Errorf("show --json has no invalid field (%v):\n%s", err, showJSON.Out)
			}

			fwd := launch(t, p.env, nil, "checkpoint", "reset", "--to", "2062-01-05", "--forward", "--yes")
			if code := fwd.Wait(t, time.Minute); code != 2 || !strings.Contains(fwd.Out.String(), "--to") || !strings.Contains(fwd.Out.String(), "in the future") {
				t.Fatalf("reset --to 2062-01-05 --forward: exit %d, want 2 naming --to\n%s", code, fwd.Out)
			}
			if wm := p.watermark(t); !wm.Equal(year2099) {
				t.Fatalf("a refused reset moved the watermark to %s", wm)
			}

			// The repair the error names: back to the start, then a run
			// publishes every row once.
			fix := launch(t, p.env, nil, "checkpoint", "reset", "--source", "direct-routing", "--to", p.start.Format(time.RFC3339), "--yes")
			if code := fix.Wait(t, time.Minute); code != 0 {
				t.Fatalf("repair reset: exit %d\n%s", code, fix.Out)
			}
			if code := launch(t, p.env, nil, "run", "--once").Wait(t, 2*time.Minute); code != 0 {
				t.Fatal("run after the repair failed")
			}
			if dups := p.check(t); dups != 0 {
				t.Fatalf("%d duplicates after the repair", dups)
			}
		})
	}
}

// TestBinaryCheckFailsOnFutureCheckpoint: check reports a checkpoint in
// the future as a failed check, not "all checks passed".
func TestBinaryCheckFailsOnFutureCheckpoint(t *testing.T) {
	p := recentPipeline(t)
	p.env["CHECKPOINT_STORE"] = "file"
	fs, err := checkpoint.NewFileStore(p.cpPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Save(context.Background(), directRoutingSource().Name, checkpoint.State{Watermark: year2099}); err != nil {
		t.Fatal(err)
	}
	check := launch(t, p.env, nil, "check", "--timeout", "10s")
	if code := check.Wait(t, time.Minute); code != 1 {
		t.Fatalf("check: exit %d, want 1\n%s", code, check.Out)
	}
	if out := check.Out.String(); !strings.Contains(out, "FAIL") || !strings.Contains(out, "in the future") || strings.Contains(out, "all checks passed") {
		t.Fatalf("check does not fail on the future watermark:\n%s", out)
	}
}

// TestBinaryUnwritableCheckpointRefusedBeforePublishing: with the file
// store in a directory callstream cannot write, run exits 2 naming
// CHECKPOINT_PATH before its first publish (it used to publish a window,
// fail to save it, and publish it again on every run).
func TestBinaryUnwritableCheckpointRefusedBeforePublishing(t *testing.T) {
	p := recentPipeline(t)
	p.env["CHECKPOINT_STORE"] = "file"
	p.env["CHECKPOINT_PATH"] = filepath.Join(testkit.UnwritableDir(t), "callstream-checkpoint.json")
	for _, args := range [][]string{{"run", "--once"}, {"backfill", "--from", p.start.Format(time.RFC3339), "--to", p.end.Format(time.RFC3339)}} {
		proc := launch(t, p.env, nil, args...)
		if code := proc.Wait(t, 2*time.Minute); code != 2 || !strings.Contains(proc.Out.String(), "CHECKPOINT_PATH") ||
			!strings.Contains(proc.Out.String(), "not writable") {
			t.Fatalf("%v: exit %d, want 2 naming CHECKPOINT_PATH as not writable\n%s", args, code, proc.Out)
		}
	}
	assertNothingPublished(t, p)
}

// TestBinaryCheckpointWithTrailingGarbageIsCorrupt: a checkpoint file with
// data after its JSON document is refused as corrupt, naming the file;
// nothing is published.
func TestBinaryCheckpointWithTrailingGarbageIsCorrupt(t *testing.T) {
	p := recentPipeline(t)
	p.env["CHECKPOINT_STORE"] = "file"
	// A valid document that claims the first three hours, then garbage: if
	// the garbage were ignored, run would resume from there and succeed.
	wm := p.start.Add(3 * time.Hour)
	doc := `{"format":"callstream-checkpoint","version":1,"sources":{"direct-routing":{"watermark":"` + wm.Format(time.RFC3339) +
		`","savedAt":"` + wm.Format(time.RFC3339) + `","windows":[]}}}`
	for name, body := range map[string]string{"garbage": doc + "garbage", "two documents": doc + "\n" + doc} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(p.cpPath, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			proc := launch(t, p.env, nil, "run", "--once")
			if code := proc.Wait(t, 2*time.Minute); code == 0 {
				t.Fatalf("run --once accepted a checkpoint with trailing data:\n%s", proc.Out)
			}
			if out := proc.Out.String(); !strings.Contains(out, "checkpoint "+p.cpPath+" is corrupt") {
				t.Fatalf("the error does not name %s as corrupt:\n%s", p.cpPath, out)
			}
			if b, _ := os.ReadFile(p.cpPath); string(b) != body {
				t.Fatal("the corrupt checkpoint was modified")
			}
			assertNothingPublished(t, p)
		})
	}
}
