package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/walk"
)

// TestBinaryPstnDirectRoutingAndDeadLetters runs both sources side by side,
// each to its own topic, over data with malformed rows: every good row is
// on its source's topic exactly once, every malformed row is on the
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
	pstnTopic := p.kafka.Topic(t, 3, nil)
	dlq := p.kafka.Topic(t, 1, nil)
	p.env["SOURCES"] = "direct-routing,pstn"
	p.env["KAFKA_PSTN_TOPIC"] = pstnTopic
	p.env["KAFKA_DLQ_TOPIC"] = dlq
	proc := start(t, p.env, "run", "--once")
	if code := proc.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.stderr)
	}

	lanes := []struct {
		source, topic string
		rows          []graphsim.Row
	}{
		{"direct-routing", p.topic, p.sim.Rows(p.start, p.end)},
		{"pstn", pstnTopic, p.sim.PstnRows(p.start, p.end)},
	}
	wantDead := map[string]graphsim.Row{} // by raw JSON
	deadBySource := map[string]int{}
	for _, l := range lanes {
		codec, err := schemas.For(l.source, schemas.VersionV1)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, r := range l.rows {
			if r.Malformed != graphsim.MalformNone {
				wantDead[string(r.JSON)] = r
				deadBySource[l.source]++
				continue
			}
			want[r.ID] = true
		}
		got := map[string]int{}
		for _, rec := range p.kafka.ReadAll(t, l.topic, true) {
			var v map[string]any
			if err := avro.Unmarshal(codec.Schema(), rec.Value[5:], &v); err != nil {
				t.Fatalf("%s: decode: %v", l.source, err)
			}
			id, _ := v["id"].(string)
			if !want[id] {
				t.Fatalf("%s: record %q is not a good simulated row of this source", l.source, id)
			}
			got[id]++
		}
		for id := range want {
			if got[id] != 1 {
				t.Fatalf("%s: row %s is on the topic %d times", l.source, id, got[id])
			}
		}
		t.Logf("%s: %d rows exactly once on %s", l.source, len(want), l.topic)
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
		if got := caughtUp(t, proc.stderr.String(), source)["dead_lettered"]; got != float64(want) {
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
