package main

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/internal/testkit"
	app "github.com/callstream/callstream/pipeline"
)

// planDoc is `callstream plan --json`.
type planDoc struct {
	Sources []struct {
		Source       string
		Watermark    *time.Time
		Rescans      []app.PlannedScan
		Windows      []app.PlannedRange
		TotalWindows int `json:"total_windows"`
	}
	Windows, Rescans int
}

func runPlan(t *testing.T, p *pipeline, args ...string) planDoc {
	t.Helper()
	out, errOut, code := testkit.Run(t, callstreamBinary(t), p.env, append([]string{"plan", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	var doc planDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Sources) != 1 {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	return doc
}

// checkpointEnds are the checkpoint topic's end offsets, or nil when it
// does not exist.
func checkpointEnds(t *testing.T, p *pipeline) map[int32]int64 {
	t.Helper()
	ends, err := kadm.NewClient(p.kafka.Client(t)).ListEndOffsets(t.Context(), p.topic+".checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

// runOnceCounts runs run --once and returns the windows and rescans its
// "caught up" line counts.
func runOnceCounts(t *testing.T, p *pipeline) (windows, rescans int) {
	t.Helper()
	proc := launch(t, p.env, nil, "run", "--once")
	if code := proc.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("run --once: exit %d\n%s", code, proc.Out)
	}
	rec := proc.LogLine(t, "caught up", time.Second)
	w, _ := rec["windows"].(float64)
	r, _ := rec["rescans"].(float64)
	return int(w), int(r)
}

// TestBinaryPlanMatchesTheRun, with the Kafka store: plan on a fresh
// cluster lists the windows the next run --once reads, creates no topic;
// after the run it shows the new watermark and nothing due; with a
// remembered window past its rescan age it lists that rescan, which the
// next run reads. The cluster's topics and the checkpoint topic's offsets
// are the same before and after every plan.
func TestBinaryPlanMatchesTheRun(t *testing.T) {
	p := recentPipeline(t)
	p.env["CHECKPOINT_STORE"] = "kafka"
	p.env["RESCAN_AFTER"] = "1h"
	// plan lists WINDOW-wide windows; history sized by rows is planned as
	// its rows come back, which a plan made without reading cannot list.
	p.env["HISTORY_WINDOW_PAGES"] = "0"
	readOnly := func(step string, f func() planDoc) planDoc {
		t.Helper()
		topics, ends := topicNames(t, p), checkpointEnds(t, p)
		doc := f()
		if after := topicNames(t, p); !slices.Equal(topics, after) {
			t.Errorf("%s: plan changed the topics from %v to %v", step, topics, after)
		}
		if after := checkpointEnds(t, p); len(after) != len(ends) || !func() bool {
			for k, v := range ends {
				if after[k] != v {
					return false
				}
			}
			return true
		}() {
			t.Errorf("%s: plan wrote to the checkpoint topic: end offsets %v, then %v", step, ends, after)
		}
		return doc
	}

	fresh := readOnly("fresh", func() planDoc { return runPlan(t, p, "--limit", "4") })
	s := fresh.Sources[0]
	if s.Watermark != nil || s.TotalWindows != 6 || len(s.Windows) != 4 || !s.Windows[0].From.Equal(p.start) || len(s.Rescans) != 0 {
		t.Fatalf("fresh plan: %+v; want no watermark, 6 windows from %s (4 listed), no rescan", s, p.start)
	}
	windows, rescans := runOnceCounts(t, p)
	if windows != fresh.Windows || rescans != fresh.Rescans {
		t.Errorf("run --once read %d windows and %d rescans; plan said %d and %d", windows, rescans, fresh.Windows, fresh.Rescans)
	}

	after := readOnly("after a run", func() planDoc { return runPlan(t, p) })
	if s := after.Sources[0]; s.Watermark == nil || !s.Watermark.Equal(p.end) || s.TotalWindows != 0 || len(s.Rescans) != 0 {
		t.Errorf("plan after the run: %+v; want the watermark %s and nothing due", s, p.end)
	}

	// The last window, remembered as read when it ended: its 1h rescan
	// is due.
	last := checkpoint.Window{From: p.end.Add(-time.Hour), To: p.end, ReadAt: p.end, IDs: []string{"x"}}
	writeKafkaCheckpoint(t, p, checkpoint.State{Watermark: p.end, Windows: []checkpoint.Window{last}})
	due := readOnly("rescan due", func() planDoc { return runPlan(t, p) })
	if s := due.Sources[0]; len(s.Rescans) != 1 || !s.Rescans[0].From.Equal(last.From) || s.Rescans[0].Step != "1h0m0s" || s.TotalWindows != 0 {
		t.Fatalf("plan with a rescan due: %+v", s)
	}
	if windows, rescans := runOnceCounts(t, p); windows != 0 || rescans != 1 {
		t.Errorf("run --once read %d windows and %d rescans; plan said 0 and 1", windows, rescans)
	}
}

// TestBinaryPlanFileStoreWritesNothing: with the file store, plan reads
// the checkpoint without creating the file nor probing its directory.
func TestBinaryPlanFileStoreWritesNothing(t *testing.T) {
	p := recentPipeline(t)
	p.env["CHECKPOINT_STORE"] = "file"
	dir := t.TempDir()
	p.env["CHECKPOINT_PATH"] = dir + "/cp.json"
	before := topicNames(t, p)
	doc := runPlan(t, p)
	if doc.Windows != 6 {
		t.Errorf("plan: %d windows, want 6", doc.Windows)
	}
	entries, err := osReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("plan wrote %v into the checkpoint directory", entries)
	}
	if after := topicNames(t, p); !slices.Equal(before, after) {
		t.Errorf("plan changed the topics from %v to %v", before, after)
	}
}

func osReadDir(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names, err
}
