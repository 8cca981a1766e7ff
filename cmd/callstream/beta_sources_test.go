package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
)

// TestBinaryBetaLogSources walks the two beta log sources that ride on the
// registry — sms (getSmsLog) and pstn-blocked-users
// (getPstnBlockedUsersLog) — exactly-once through the built binary: every
// simulated row of the range is on its source's topic once, decoded with
// its .avsc, keyed by its user (an SMS without a user by its id), and its
// properties as the simulator served them.
func TestBinaryBetaLogSources(t *testing.T) {
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	p := newPipeline(t, graphsim.Config{Seed: 44, Start: from, End: from.Add(12 * time.Hour), RowsPerHour: 600})
	smsTopic, blockedTopic := p.kafka.Topic(t, 3, nil), p.kafka.Topic(t, 3, nil)
	p.env["SOURCES"] = "sms,pstn-blocked-users"
	p.env["GRAPH_API_VERSION"] = "beta"
	p.env["KAFKA_SMS_TOPIC"] = smsTopic
	p.env["KAFKA_PSTN_BLOCKED_USERS_TOPIC"] = blockedTopic
	proc := start(t, p.env, "run", "--once")
	if code := proc.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.stderr)
	}
	for _, lane := range []struct {
		source, topic string
		rows          []graphsim.Row
	}{
		{"sms", smsTopic, p.sim.SmsRows(p.start, p.end)},
		{"pstn-blocked-users", blockedTopic, p.sim.BlockedUsersRows(p.start, p.end)},
	} {
		t.Run(lane.source, func(t *testing.T) {
			if len(lane.rows) == 0 {
				t.Fatal("the simulator holds no rows of this source in the range")
			}
			codec, err := schemas.For(lane.source, schemas.VersionBeta)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]graphsim.Row{}
			for _, r := range lane.rows {
				want[r.ID] = r
			}
			got := map[string]int{}
			for _, rec := range p.kafka.ReadAll(t, lane.topic, true) {
				if len(rec.Value) < 5 || rec.Value[0] != 0 {
					t.Fatalf("record at offset %d lacks the Confluent framing", rec.Offset)
				}
				row, ok := want[codecID(t, codec, rec.Value[5:])]
				if !ok {
					t.Fatalf("record at offset %d is not a simulated row", rec.Offset)
				}
				id, key, value, err := codec.Encode(row.JSON, nil)
				if err != nil {
					t.Fatalf("re-encoding the simulator's row: %v", err)
				}
				if !bytes.Equal(value, rec.Value[5:]) || key != string(rec.Key) {
					t.Fatalf("record at offset %d differs from the simulator's row (key %q, want %q)", rec.Offset, rec.Key, key)
				}
				got[id]++
			}
			for id := range want {
				if got[id] != 1 {
					t.Errorf("row %s is on the topic %d times, want once", id, got[id])
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d distinct rows on the topic, the simulator holds %d", len(got), len(want))
			}
		})
	}
}

// codecID decodes an Avro value with the codec's schema and returns its
// dedup id (the codec's id property).
func codecID(t *testing.T, codec *schemas.Codec, value []byte) string {
	t.Helper()
	var v map[string]any
	if err := avro.Unmarshal(codec.Schema(), value, &v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	for _, prop := range []string{"id", "remediationId"} {
		if id, ok := v[prop].(string); ok {
			return id
		}
	}
	t.Fatalf("record without an id: %v", v)
	return ""
}
