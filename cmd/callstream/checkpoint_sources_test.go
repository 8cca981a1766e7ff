package main

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
)

// Issue 15, item 1: the checkpoint commands look where run keeps the
// checkpoint, for every source and both stores, validate --source, and
// write nothing when they only read.

// sourcePipeline is newPipeline walking source alone, each source to its
// own topic, over six settled hours.
func sourcePipeline(t *testing.T, store, source string) (p *pipeline, dataTopic string) {
	t.Helper()
	start := time.Now().UTC().Truncate(time.Hour).Add(-8 * time.Hour)
	p = newPipeline(t, graphsim.Config{Seed: 15, Start: start, End: start.Add(6 * time.Hour), RowsPerHour: 40, PageSize: 25})
	pstn := p.kafka.Topic(t, 1, nil)
	p.env["SOURCES"] = source
	p.env["KAFKA_PSTN_TOPIC"] = pstn
	p.env["CHECKPOINT_STORE"] = store
	if source == "pstn" {
		return p, pstn
	}
	return p, p.topic
}

// rowsIn counts the simulated rows of source in [from, to).
func rowsIn(p *pipeline, source string, from, to time.Time) int {
	if source == "pstn" {
		return p.sim.PstnCount(from, to)
	}
	return p.sim.Count(from, to)
}

// showWatermark runs checkpoint show --json for source and returns the
// watermark it reports (zero for none).
func showWatermark(t *testing.T, e env, source string) time.Time {
	t.Helper()
	show := launch(t, e, nil, "checkpoint", "show", "--source", source, "--json")
	if code := show.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("show --source %s: exit %d\n%s", source, code, show.Out)
	}
	var got struct {
		Source    string
		Watermark *time.Time
	}
	if err := json.Unmarshal([]byte(show.Out.String()), &got); err != nil {
		t.Fatalf("%v:\n%s", err, show.Out)
	}
	if got.Source != source {
		t.Fatalf("show --source %s shows source %q", source, got.Source)
	}
	if got.Watermark == nil {
		return time.Time{}
	}
	return *got.Watermark
}

// TestBinaryCheckpointCommandsPerSource: after a run reached a watermark,
// show --source S reports it; reset --source S --forward moves it, and the
// next run resumes from there (it publishes nothing before it), for both
// sources and both stores.
func TestBinaryCheckpointCommandsPerSource(t *testing.T) {
	for _, store := range []string{"file", "kafka"} {
		for _, source := range []string{"direct-routing", "pstn"} {
			t.Run(store+"/"+source, func(t *testing.T) {
				p, topic := sourcePipeline(t, store, source)
				reached := p.start.Add(2 * time.Hour)
				first := p.env.With(env{"END_TIME": reached.Format(time.RFC3339)})
				if run := launch(t, first, nil, "run", "--once"); run.Wait(t, 2*time.Minute) != 0 {
					t.Fatalf("first run failed:\n%s", run.Out)
				}
				if wm := showWatermark(t, p.env, source); !wm.Equal(reached) {
					t.Fatalf("show --source %s: watermark %s, want %s where the run got to", source, wm, reached)
				}

				to := p.start.Add(4 * time.Hour)
				reset := launch(t, p.env, nil, "checkpoint", "reset", "--source", source, "--to", to.Format(time.RFC3339), "--forward", "--yes")
				if code := reset.Wait(t, 30*time.Second); code != 0 {
					t.Fatalf("reset: exit %d\n%s", code, reset.Out)
				}
				if wm := showWatermark(t, p.env, source); !wm.Equal(to) {
					t.Fatalf("after reset --to %s, show says %s", to, wm)
				}

				run := launch(t, p.env, nil, "run", "--once")
				if code := run.Wait(t, 2*time.Minute); code != 0 {
					t.Fatalf("second run: exit %d\n%s", code, run.Out)
				}
				if wm, _ := run.LogLine(t, "resuming from checkpoint", time.Second)["watermark"].(string); wm != to.Format(time.RFC3339) {
					t.Errorf("the second run resumed from %q, want %s", wm, to)
				}
				// The reset skipped [reached, to): nothing of it is read.
				want := rowsIn(p, source, p.start, reached) + rowsIn(p, source, to, p.end)
				if got := len(p.kafka.ReadAll(t, topic, true)); got != want {
					t.Errorf("%d records on %s, want %d: the rows before %s and from %s on", got, topic, want, reached, to)
				}
				if wm := showWatermark(t, p.env, source); !wm.Equal(p.end) {
					t.Errorf("after the second run show says %s, want %s", wm, p.end)
				}
			})
		}
	}
}

// TestBinaryCheckpointUnknownSource: a --source that is none of ours is
// refused with exit 2, naming --source and the valid ones, and nothing is
// written, in either store.
func TestBinaryCheckpointUnknownSource(t *testing.T) {
	for _, store := range []string{"file", "kafka"} {
		t.Run(store, func(t *testing.T) {
			p, _ := sourcePipeline(t, store, "direct-routing")
			if run := launch(t, p.env, nil, "run", "--once"); run.Wait(t, 2*time.Minute) != 0 {
				t.Fatalf("run failed:\n%s", run.Out)
			}
			file, _ := os.ReadFile(p.cpPath) // none under the Kafka store
			topics := topicNames(t, p)
			checkpointRecords := func() int {
				if store != "kafka" {
					return 0
				}
				return len(p.kafka.ReadAll(t, p.topic+".checkpoint", false))
			}
			cpRecords := checkpointRecords()
			to := p.start.Add(time.Hour).Format(time.RFC3339)
			for _, args := range [][]string{
				{"checkpoint", "show", "--source", "directrouting"},
				{"checkpoint", "reset", "--source", "directrouting", "--to", to, "--yes"},
				{"checkpoint", "reset", "--source", "directrouting", "--to", p.end.Add(time.Hour).Format(time.RFC3339), "--forward", "--yes"},
			} {
				proc := launch(t, p.env, nil, args...)
				if code := proc.Wait(t, 30*time.Second); code != 2 {
					t.Fatalf("%v: exit %d, want 2\n%s", args, code, proc.Out)
				}
				out := proc.Out.String()
				if !strings.Contains(out, `--source "directrouting"`) || !strings.Contains(out, "direct-routing, pstn") {
					t.Errorf("%v: the refusal does not name --source and the valid sources:\n%s", args, out)
				}
			}
			if after, _ := os.ReadFile(p.cpPath); !bytes.Equal(file, after) {
				t.Errorf("the checkpoint file changed:\nbefore %s\nafter  %s", file, after)
			}
			if after := topicNames(t, p); !slices.Equal(topics, after) {
				t.Errorf("topics changed: before %v, after %v", topics, after)
			}
			if after := checkpointRecords(); after != cpRecords {
				t.Errorf("%d checkpoint records before, %d after", cpRecords, after)
			}
		})
	}
}

// TestBinaryCheckpointShowOnFreshCluster: show creates nothing, for either
// source: the topics are the same before and after, and it says nothing
// was published. A reset then creates the checkpoint topic as run would.
func TestBinaryCheckpointShowOnFreshCluster(t *testing.T) {
	p, _ := sourcePipeline(t, "kafka", "direct-routing")
	p.env["SOURCES"] = "direct-routing,pstn"
	before := topicNames(t, p)
	for _, source := range []string{"direct-routing", "pstn"} {
		for _, args := range [][]string{{"checkpoint", "show", "--source", source}, {"checkpoint", "show", "--source", source, "--json"}} {
			show := launch(t, p.env, nil, args...)
			if code := show.Wait(t, 30*time.Second); code != 0 {
				t.Fatalf("%v: exit %d\n%s", args, code, show.Out)
			}
			if out := show.Out.String(); len(args) == 4 && !strings.Contains(out, "nothing published yet") {
				t.Errorf("%v does not say nothing was published:\n%s", args, out)
			}
		}
	}
	if after := topicNames(t, p); !slices.Equal(before, after) {
		t.Fatalf("show changed the cluster: topics before %v, after %v", before, after)
	}
	if _, err := os.Stat(p.cpPath); err == nil {
		t.Error("show under the Kafka store wrote the checkpoint file")
	}

	to := p.start.Add(3 * time.Hour)
	reset := launch(t, p.env, nil, "checkpoint", "reset", "--source", "pstn", "--to", to.Format(time.RFC3339), "--forward", "--yes")
	if code := reset.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("reset on a fresh cluster: exit %d\n%s", code, reset.Out)
	}
	if !slices.Contains(topicNames(t, p), p.topic+".checkpoint") {
		t.Errorf("reset did not create %s.checkpoint, run's checkpoint topic", p.topic)
	}
	if wm := showWatermark(t, p.env, "pstn"); !wm.Equal(to) {
		t.Errorf("pstn watermark %s after the reset, want %s", wm, to)
	}
	if wm := showWatermark(t, p.env, "direct-routing"); !wm.IsZero() {
		t.Errorf("the pstn reset moved direct-routing to %s", wm)
	}
}
