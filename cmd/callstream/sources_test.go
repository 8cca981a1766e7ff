package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
)

// TestBinaryPstnDirectRoutingAndDeadLetters runs every Log source offered
// in Graph v1.0 (logSources: direct-routing and pstn) side by side, each
// to its own topic, over data with malformed rows: every good row is on
// its source's topic exactly once, keyed and field by field as the
// simulator served it (checkLane), every malformed row is on the
// dead-letter topic exactly once with its raw JSON and a reason naming the
// field, and nothing else is anywhere; each source's final log line counts
// exactly its dead letters (DESIGN.md invariant 5: each is counted).
func TestBinaryPstnDirectRoutingAndDeadLetters(t *testing.T) {
	sc := faultyGraph(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), 1)
	sc.RowsPerHour = 600
	sc.Malformed = []graphsim.Malformation{
		{Function: graphsim.DirectRoutingCalls, Kind: graphsim.MalformNoID, Every: 211, Offset: 5},
		{Function: graphsim.DirectRoutingCalls, Kind: graphsim.MalformWrongType, Every: 223, Offset: 17},
		{Function: graphsim.PstnCalls, Kind: graphsim.MalformWrongType, Every: 197, Offset: 3},
		{Function: graphsim.PstnCalls, Kind: graphsim.MalformOutOfRange, Every: 229, Offset: 11},
	}
	p := newPipeline(t, sc)
	lanes := p.lanes(t, sources.V1)
	if !containsSource(lanes, "direct-routing") || !containsSource(lanes, "pstn") {
		t.Fatalf("the v1.0 run does not walk both direct-routing and pstn; it walks %s", p.env["SOURCES"])
	}
	dlq := p.kafka.Topic(t, 1, nil)
	p.env["KAFKA_DLQ_TOPIC"] = dlq
	proc := start(t, p.env, "run", "--once")
	if code := proc.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}

	wantDead := map[string]graphsim.Row{} // by raw JSON
	deadBySource := map[string]int{}
	for _, l := range lanes {
		for _, r := range p.truth(t, l, p.start, p.end) {
			if r.Malformed != graphsim.MalformNone {
				wantDead[string(served(r, l.version))] = r
				deadBySource[l.src.Name]++
			}
		}
		// Every good row once, keyed, field by field; no malformed one.
		if dups := p.checkLane(t, l); dups != 0 {
			t.Fatalf("%s: %d duplicate records in a run without a crash", l, dups)
		}
		t.Logf("%s: every good row exactly once", l)
	}
	if len(wantDead) < 8 {
		t.Fatalf("only %d malformed rows; the test needs more", len(wantDead))
	}
	dead := p.kafka.ReadAll(t, dlq, true)
	if len(dead) != len(wantDead) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(wantDead))
	}
	for _, rec := range dead {
		r, ok := wantDead[string(rec.Value)]
		if !ok {
			t.Fatalf("dead letter %q is not a malformed simulated row", rec.Value)
		}
		delete(wantDead, string(rec.Value))
		h := headers(rec)
		if h[walk.HeaderDLQField] != r.MalformedField || !strings.Contains(h[walk.HeaderDLQReason], r.MalformedField) {
			t.Fatalf("dead letter headers %v, want field %q", h, r.MalformedField)
		}
		if h["callstream.source"] == "" || h["callstream.window"] == "" {
			t.Fatalf("dead letter without source/window headers: %v", h)
		}
	}
	for source, want := range deadBySource {
		if got := caughtUp(t, proc.Out.String(), source)["dead_lettered"]; got != float64(want) {
			t.Errorf("%s: the run counts %v dead letters, want %d", source, got, want)
		}
	}
}

// caughtUp returns the fields of the "caught up" log line of source.
func caughtUp(t *testing.T, logs, source string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "caught up" && rec["source"] == source {
			return rec
		}
	}
	t.Fatalf("no \"caught up\" log line for %s:\n%s", source, logs)
	return nil
}

func headers(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}
