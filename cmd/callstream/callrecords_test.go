package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
)

// crRun is a pipeline walking call-records through the built binary
// (exactly-once, the Kafka checkpoint store) live: its windows are the
// seconds just after the run starts, read as they end and re-read a few
// seconds later, as RESCAN_AFTER re-reads recent windows in production.
// The simulated Graph's own clock — which records are visible, in which
// version — is the test's: set to an hour after the calls, then flipped
// to a day and a half after them while the walk runs, so that records
// read before the flip are updated (or appear late) at their re-read.
type crRun struct {
	*pipeline
	topic    string
	from, to time.Time
	simNow   atomic.Int64
	schema   avro.Schema
	codec    *schemas.Codec
}

// crSpan is the walk's range: windows of crWindow, re-read at the ages
// of crRescan after their end; the simulator's clock flips in its middle,
// before every window's last re-read (whose age, 12 s, waits for a 6 s
// grid: see walk's rescanAt), so each is read at least once after the
// flip, and the windows of the first half before it too.
const (
	crSpan    = 16 * time.Second
	crWindow  = 2 * time.Second
	crRescan  = "3s,12s"
	crLastAge = 18 * time.Second
)

func newCRRun(t *testing.T, sc graphsim.Config) *crRun {
	t.Helper()
	// The range starts once the process is up, on the window grid.
	from := time.Now().UTC().Add(3 * time.Second).Truncate(crWindow)
	c := &crRun{from: from, to: from.Add(crSpan)}
	c.setSim(time.Hour)
	sc.Start, sc.End = c.from, c.to
	sc.Now = func() time.Time { return time.Unix(0, c.simNow.Load()).UTC() }
	if sc.RowsPerDay == 0 {
		sc.RowsPerDay = 8 * 86400 // 8 Direct Routing rows a second
	}
	if sc.TeamsRecordsPerDay == 0 {
		sc.TeamsRecordsPerDay = 8 * 86400
	}
	c.pipeline = newPipeline(t, sc)
	c.topic = c.kafka.Topic(t, 3, nil)
	c.env["SOURCES"] = "call-records"
	c.env["KAFKA_CALLRECORDS_TOPIC"] = c.topic
	c.lane.topic = c.topic // for offsets
	c.env["CHECKPOINT_STORE"] = "kafka"
	c.env["WINDOW"] = crWindow.String()
	c.env["SETTLE_DELAY"] = "0s"
	c.env["RESCAN_AFTER"] = crRescan
	c.env["POLL_INTERVAL"] = "1s"
	avsc, err := os.ReadFile("../../schemas/CallRecord.avsc")
	if err != nil {
		t.Fatal(err)
	}
	c.schema = avro.MustParse(string(avsc))
	if c.codec, err = schemas.For("call-records", schemas.VersionV1); err != nil {
		t.Fatal(err)
	}
	return c
}

// setSim sets the simulator's clock to the range's end + h.
func (c *crRun) setSim(h time.Duration) { c.simNow.Store(c.to.Add(h).UnixNano()) }

// flipAt moves the simulator's clock to a day and a half after the calls
// once the real clock reaches the middle of the range.
func (c *crRun) flipAt(t *testing.T) {
	t.Helper()
	mid := c.from.Add(crSpan / 2)
	timer := time.AfterFunc(time.Until(mid), func() { c.setSim(36 * time.Hour) })
	t.Cleanup(func() { timer.Stop() })
}

// truth is every record the simulator serves at its clock, by (id,
// version).
func (c *crRun) truthAt(h time.Duration) map[string]graphsim.CallRecordVersion {
	out := map[string]graphsim.CallRecordVersion{}
	for _, v := range c.sim.CallRecordsAt(c.from, c.to, c.to.Add(h)) {
		out[schemas.VersionedID(v.ID, v.Version)] = v
	}
	return out
}

// published reads the committed topic: per (id, version), the Avro bodies
// published, each checked to be keyed by its record's id.
func (c *crRun) published(t *testing.T, committed bool) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for _, rec := range c.kafka.ReadAll(t, c.topic, committed) {
		if len(rec.Value) < 5 || rec.Value[0] != 0 {
			t.Fatalf("offset %d: value lacks the Confluent header", rec.Offset)
		}
		var got struct {
			ID      string `avro:"id"`
			Version int64  `avro:"version"`
		}
		body := rec.Value[5:]
		if err := avro.Unmarshal(c.schema, body, &got); err != nil {
			t.Fatalf("offset %d: %v", rec.Offset, err)
		}
		if string(rec.Key) != got.ID {
			t.Fatalf("record %s keyed %q, want its id", got.ID, rec.Key)
		}
		vid := schemas.VersionedID(got.ID, got.Version)
		out[vid] = append(out[vid], body)
	}
	return out
}

// same reports whether body is the simulator's record v: byte for byte
// the codec's encoding of what Graph served, and, decoded through a
// generic decoder from the .avsc (not the schemas package), field by field
// equal to the JSON down to every session's segments and media streams.
func (c *crRun) same(t *testing.T, body []byte, v graphsim.CallRecordVersion) bool {
	t.Helper()
	_, _, want, err := c.codec.Encode(v.JSON, nil)
	if err != nil {
		t.Fatalf("simulated record %s v%d does not encode: %v", v.ID, v.Version, err)
	}
	if !bytes.Equal(body, want) {
		return false
	}
	var got map[string]any
	if err := avro.Unmarshal(c.schema, body, &got); err != nil {
		t.Fatal(err)
	}
	var src map[string]any
	if err := json.Unmarshal(v.JSON, &src); err != nil {
		t.Fatal(err)
	}
	if diff := sameTree(src, got, ""); diff != "" {
		t.Errorf("%s v%d: %s", v.ID, v.Version, diff)
		return false
	}
	return true
}

// sameTree compares a record's JSON with its Avro decoding along the
// nested arrays a consumer walks: the record's and every session's,
// segment's, media's and stream's identifying and measured properties.
func sameTree(src, got map[string]any, path string) string {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	for _, k := range []string{"id", "type", "streamId", "streamDirection", "label"} {
		if s, ok := src[k].(string); ok && s != str(got, k) {
			return fmt.Sprintf("%s%s = %q, want %q", path, k, str(got, k), s)
		}
	}
	if n, ok := src["version"].(float64); ok && got["version"] != int64(n) {
		return fmt.Sprintf("%sversion = %v, want %v", path, got["version"], n)
	}
	if d, ok := src["averageJitter"].(string); ok && d != "" {
		if j, ok := got["averageJitter"].(int64); !ok || j <= 0 {
			return fmt.Sprintf("%saverageJitter = %v for %q", path, got["averageJitter"], d)
		}
	}
	if st, ok := src["startDateTime"].(string); ok {
		want, err := time.Parse(time.RFC3339Nano, st)
		if g, _ := got["startDateTime"].(time.Time); err == nil && !g.Equal(want.Truncate(time.Millisecond)) {
			return fmt.Sprintf("%sstartDateTime = %v, want %v", path, g, want)
		}
	}
	for _, k := range []string{"sessions", "segments", "media", "streams"} {
		sa, _ := src[k].([]any)
		ga := avroArray(got[k])
		if len(sa) != len(ga) {
			return fmt.Sprintf("%s%s has %d entries, want %d", path, k, len(ga), len(sa))
		}
		for i := range sa {
			sm, _ := sa[i].(map[string]any)
			gm, _ := ga[i].(map[string]any)
			if d := sameTree(sm, gm, fmt.Sprintf("%s%s[%d].", path, k, i)); d != "" {
				return d
			}
		}
	}
	return ""
}

// avroArray is a decoded array, unwrapped from its ["null", array] union.
func avroArray(v any) []any {
	switch a := v.(type) {
	case []any:
		return a
	case map[string]any:
		for _, x := range a {
			if arr, ok := x.([]any); ok {
				return arr
			}
		}
	}
	return nil
}

// run runs the walk until END_TIME's last re-read is done.
func (c *crRun) run(t *testing.T) string {
	t.Helper()
	proc := start(t, c.env, "run")
	if code := proc.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}
	return proc.Out.String()
}

// check checks the committed topic against the simulator before and after
// the flip: every record's latest version is there, every record on the
// topic is a version the simulator served (field by field equal to it),
// and no (id, version) is there twice. It returns the records published
// in more than one version: updated, or first read late, after a read.
func (c *crRun) check(t *testing.T) (updated int) {
	t.Helper()
	before, after := c.truthAt(time.Hour), c.truthAt(36*time.Hour)
	got := c.published(t, true)
	versions := map[string]int{}
	for vid, vs := range got {
		v, ok := after[vid]
		if !ok {
			v, ok = before[vid]
		}
		if !ok {
			t.Fatalf("%s: a version the simulator never served", vid)
		}
		if len(vs) != 1 || !c.same(t, vs[0], v) {
			t.Fatalf("%s: %d records, want one equal to the simulator's", vid, len(vs))
		}
		versions[v.ID]++
	}
	for vid, v := range after {
		if len(got[vid]) != 1 {
			t.Fatalf("%s: the latest version of %s is not on the topic", vid, v.ID)
		}
	}
	for _, n := range versions {
		if n > 1 {
			updated++
		}
	}
	if len(versions) != len(after) {
		t.Fatalf("%d records on the topic, the simulator holds %d", len(versions), len(after))
	}
	return updated
}

// TestBinaryCallRecordsOncePerVersion walks 16 live seconds of call
// records through the binary, each 2 s window read when it ends and
// re-read 3 s and 12 s later, while the simulator's clock flips from an hour after
// the calls to a day and a half after them. Every record's latest version
// ends up on the topic, keyed by its id, field by field the simulator's
// (nested sessions, segments, media and streams included); a record
// updated after its first read is there once per version it had when
// read, and no (id, version) twice.
func TestBinaryCallRecordsOncePerVersion(t *testing.T) {
	c := newCRRun(t, graphsim.Config{Seed: 1701})
	before, after := c.truthAt(time.Hour), c.truthAt(36*time.Hour)
	changed := 0
	for vid := range after {
		if _, ok := before[vid]; !ok {
			changed++
		}
	}
	if len(after) < 150 || changed == 0 {
		t.Fatalf("the simulator serves %d records, %d of them in a version the flip brings: too few to test", len(after), changed)
	}
	c.flipAt(t)
	out := c.run(t)
	updated := c.check(t)
	if updated == 0 {
		t.Fatalf("no record was published in a second version: the re-reads after the flip found no update\n%s", out)
	}
	t.Logf("%d records, %d of them published again in a newer version after their first read", len(after), updated)
}

// TestBinaryCallRecordsSurviveSIGKILL is the same live walk SIGKILLed
// every one to three seconds — when it can, while a transaction holds
// records on the topic — and restarted, exactly-once with the Kafka
// checkpoint store, the simulator's clock flipping in the middle: nothing
// lost (every latest version there), nothing doubled per (id, version).
func TestBinaryCallRecordsSurviveSIGKILL(t *testing.T) {
	// Graph answering in 10–40 ms: a window's records are read in runs
	// over a few hundred milliseconds, its transaction open meanwhile.
	c := newCRRun(t, graphsim.Config{Seed: 1702, Latency: 10 * time.Millisecond, LatencyMax: 40 * time.Millisecond})
	c.flipAt(t)
	adm := kadm.NewClient(c.kafka.Client(t))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 17))
	kills, midTxn := 0, 0
	for time.Now().Before(c.to.Add(crLastAge)) {
		proc := start(t, c.env, "run")
		time.Sleep(time.Second + time.Duration(rng.Int64N(int64(time.Second))))
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && !proc.Exited(); time.Sleep(2 * time.Millisecond) {
			if c.offsets(t, adm).open() {
				midTxn++
				break
			}
		}
		if proc.Exited() {
			// END_TIME's last re-read came before the kill.
			if code := proc.Wait(t, time.Second); code != 0 {
				t.Fatalf("exit %d; output:\n%s", code, proc.Out)
			}
			break
		}
		proc.Kill(t)
		kills++
	}
	if kills < 5 {
		t.Fatalf("%d kills: too few to test", kills)
	}
	c.run(t)
	updated := c.check(t)
	all, committed := len(c.kafka.ReadAll(t, c.topic, false)), len(c.kafka.ReadAll(t, c.topic, true))
	if all <= committed {
		t.Fatalf("read_uncommitted sees %d records, read_committed %d: no aborted record, so the kills tested nothing", all, committed)
	}
	t.Logf("after %d SIGKILLs (%d while a transaction held records): %d records once per version, %d published again after an update, %d aborted records hidden from read_committed",
		kills, midTxn, len(c.truthAt(36*time.Hour)), updated, all-committed)
}

// TestBinaryCallRecordsShareDirectRoutingPartitions runs Direct Routing
// and call records together into two topics of six partitions each: the
// call record of every simulated Direct Routing call (its id is the
// calls' correlationId, as users report of Graph) lands in the partition
// whose number its Direct Routing rows have, so a stream processor joins
// the two without repartitioning.
func TestBinaryCallRecordsShareDirectRoutingPartitions(t *testing.T) {
	end := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	p := newPipeline(t, graphsim.Config{Seed: 1703, Start: end.Add(-6 * time.Hour), End: end, RowsPerHour: 40, TeamsRecordsPerDay: 240})
	dr, cr := p.kafka.Topic(t, 6, nil), p.kafka.Topic(t, 6, nil)
	p.env["SOURCES"] = "direct-routing,call-records"
	p.env["KAFKA_TOPIC"] = dr
	p.env["KAFKA_CALLRECORDS_TOPIC"] = cr
	proc := start(t, p.env, "run", "--once")
	if code := proc.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}
	rows := map[string]int32{} // correlationId → partition
	for _, rec := range p.kafka.ReadAll(t, dr, true) {
		if prev, ok := rows[string(rec.Key)]; ok && prev != rec.Partition {
			t.Fatalf("correlationId %s in partitions %d and %d of the Direct Routing topic", rec.Key, prev, rec.Partition)
		}
		rows[string(rec.Key)] = rec.Partition
	}
	records := p.kafka.ReadAll(t, cr, true)
	truth := map[string]graphsim.CallRecordVersion{}
	for _, v := range p.sim.CallRecordsAt(p.start, p.end, time.Now()) {
		truth[v.ID] = v
	}
	joined, teams, spread := 0, 0, map[int32]int{}
	for _, rec := range records {
		v, ok := truth[string(rec.Key)]
		if !ok {
			t.Fatalf("call record keyed %q is not one the simulator served", rec.Key)
		}
		part, hasRows := rows[v.ID]
		switch {
		case v.DirectRoutingRow < 0:
			teams++
			if hasRows {
				t.Fatalf("Teams-only record %s shares an id with Direct Routing rows", v.ID)
			}
		case !hasRows:
			t.Fatalf("record %s of a Direct Routing call: no Direct Routing row keyed by its id", v.ID)
		case part != rec.Partition:
			t.Fatalf("record %s in partition %d, its Direct Routing rows in %d", v.ID, rec.Partition, part)
		default:
			joined++
			spread[rec.Partition]++
		}
	}
	if joined < 100 || teams == 0 || len(spread) != 6 {
		t.Fatalf("%d records joined with Direct Routing rows over %d partitions, %d Teams-only: too few to show anything", joined, len(spread), teams)
	}
	t.Logf("%d call records in the partition of their Direct Routing rows (over all 6 partitions), %d Teams-only records", joined, teams)
}

// TestCallRecordsBeyondRetentionRefused: Graph keeps call records 30 days,
// so a START_TIME (or a backfill's --from) older than that is refused for
// call-records, naming the setting, the 30 days and the earliest time —
// and not for Direct Routing, whose rows Graph keeps longer.
func TestCallRecordsBeyondRetentionRefused(t *testing.T) {
	old := time.Now().UTC().Add(-31 * 24 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
	base := env{"KAFKA_BROKERS": "k:9092", "GRAPH_ACCESS_TOKEN": "t", "START_TIME": old}
	_, err := loadConfig(context.Background(), envconfig.MapLookuper(base.With(env{"SOURCES": "call-records"})))
	if err == nil || !strings.Contains(err.Error(), "START_TIME "+old) || !strings.Contains(err.Error(), "30 days") {
		t.Fatalf("START_TIME 31 days back for call-records: %v", err)
	}
	if _, err := loadConfig(context.Background(), envconfig.MapLookuper(base.With(env{"SOURCES": "direct-routing"}))); err != nil {
		t.Fatalf("START_TIME 31 days back for direct-routing: %v", err)
	}
	to := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
	proc := start(t, env{"KAFKA_BROKERS": "127.0.0.1:1", "GRAPH_ACCESS_TOKEN": "t", "SOURCES": "call-records"}, "backfill", "--from", old, "--to", to)
	if code := proc.Wait(t, time.Minute); code != 2 || !strings.Contains(proc.Out.String(), "--from "+old) || !strings.Contains(proc.Out.String(), "can reach 30 days back") {
		t.Fatalf("backfill --from 31 days back: exit %d\n%s", code, proc.Out)
	}
}
