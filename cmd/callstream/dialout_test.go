package main

import (
	"bytes"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
)

// dialoutRun is a pipeline walking pstn-dialout through the built binary
// (beta, exactly-once with the Kafka checkpoint store) over the last
// `days` whole UTC days before today, with a simulated Graph whose clock —
// which dial-out calls are visible, and so each day's figures — the test
// sets.
type dialoutRun struct {
	*pipeline
	topic  string
	today  time.Time // the midnight ending the range
	days   []time.Time
	simNow atomic.Int64
	schema avro.Schema
}

func newDialoutRun(t *testing.T, days int, sc graphsim.Config) *dialoutRun {
	t.Helper()
	// The walker runs on the real clock, so the days must be real past
	// days; the simulator's own clock decides what they hold.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	d := &dialoutRun{today: today}
	d.simNow.Store(today.Add(time.Hour).UnixNano())
	sc.Start, sc.End = today.Add(-time.Duration(days)*24*time.Hour), today
	sc.Now = func() time.Time { return time.Unix(0, d.simNow.Load()).UTC() }
	if sc.RowsPerHour == 0 {
		sc.RowsPerHour = 240
	}
	// Late calls appear 30 h after they start: at today+1h those of the
	// last 29 hours are missing, at today+31h every one is there.
	sc.LateFraction, sc.LateDelay = 0.05, 30*time.Hour
	d.pipeline = newPipeline(t, sc)
	for day := sc.Start; day.Before(today); day = day.Add(24 * time.Hour) {
		d.days = append(d.days, day)
	}
	// Not compacted, so that every version stays readable and the warning
	// for a non-compacted upsert topic shows.
	d.topic = d.kafka.Topic(t, 3, nil)
	d.env["SOURCES"] = "pstn-dialout"
	d.env["GRAPH_API_VERSION"] = "beta"
	d.env["KAFKA_PSTN_DIALOUT_TOPIC"] = d.topic
	d.env["CHECKPOINT_STORE"] = "kafka"
	// Far enough for every day to stay in the horizon, never due: a re-read
	// happens when rescanDue says.
	d.env["RESCAN_AFTER"] = "1000h"
	avsc, err := os.ReadFile("../../schemas/PstnOnlineMeetingDialoutReport.beta.avsc")
	if err != nil {
		t.Fatal(err)
	}
	d.schema = avro.MustParse(string(avsc))
	return d
}

// setSim sets the simulator's clock to today + h.
func (d *dialoutRun) setSim(h time.Duration) { d.simNow.Store(d.today.Add(h).UnixNano()) }

// truth is the simulator's aggregation at its clock: each (day, grouping)
// by its record key (testkit.AggregateRows, as the interop harness has it).
func (d *dialoutRun) truth(t *testing.T) map[string]graphsim.DialoutRow {
	t.Helper()
	src, _ := sources.Lookup("pstn-dialout")
	rows, err := testkit.AggregateRows(d.sim, src, d.days[0], d.today, time.Unix(0, d.simNow.Load()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]graphsim.DialoutRow{}
	for _, r := range rows {
		out[r.Key] = r.Row
	}
	return out
}

// rescanDue sets RESCAN_AFTER so that every day, read before, is due for
// one re-read now: an age that each day reached a second ago (so after
// its last read, which ended over two seconds ago), and the far one that
// keeps the days in the horizon.
func (d *dialoutRun) rescanDue(t *testing.T) {
	t.Helper()
	time.Sleep(2500 * time.Millisecond)
	base := (time.Since(d.today) - time.Second).Truncate(time.Second)
	ages := []string{"1000h"}
	for k := range d.days {
		ages = append(ages, fmt.Sprintf("%ds", int64((base+time.Duration(k)*24*time.Hour)/time.Second)))
	}
	d.env["RESCAN_AFTER"] = strings.Join(ages, ",")
}

// versions reads the committed topic: per key, the values published, in
// order, each checked field by field against the simulator's row it
// claims to be.
func (d *dialoutRun) versions(t *testing.T) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for _, rec := range d.kafka.ReadAll(t, d.topic, true) {
		if len(rec.Value) < 5 || rec.Value[0] != 0 {
			t.Fatalf("offset %d: value lacks the Confluent header", rec.Offset)
		}
		out[string(rec.Key)] = append(out[string(rec.Key)], rec.Value[5:])
	}
	return out
}

// same reports whether body is row, decoded with the .avsc through a
// generic decoder (not the schemas package) and compared field by field,
// and byte for byte with the codec's encoding of the row served.
func (d *dialoutRun) same(t *testing.T, key string, body []byte, row graphsim.DialoutRow) bool {
	t.Helper()
	var got map[string]any
	if err := avro.Unmarshal(d.schema, body, &got); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	str := func(f string) string { s, _ := got[f].(string); return s }
	num := func(f string) int64 { n, _ := got[f].(int); return int64(n) }
	charge, _ := got["totalCallCharge"].(*big.Rat)
	if str("userId") != row.UserID || str("usageLocation") != row.UsageLocation || str("destinationContext") != row.DestinationContext ||
		str("currency") != row.Currency || num("totalCalls") != row.TotalCalls || num("totalCallSeconds") != row.TotalCallSeconds ||
		charge == nil || charge.Cmp(big.NewRat(row.TotalCallChargeMicros, 1_000_000)) != 0 {
		return false
	}
	codec, err := schemas.For("pstn-dialout", schemas.VersionBeta)
	if err != nil {
		t.Fatal(err)
	}
	_, _, want, err := codec.Encode(row.JSON, nil)
	return err == nil && bytes.Equal(want, body)
}

func (d *dialoutRun) run(t *testing.T) string {
	t.Helper()
	proc := start(t, d.env, "run", "--once")
	if code := proc.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}
	return proc.Out.String()
}

// TestBinaryDialoutUpserts walks pstn-dialout three times through the
// binary. First: every (day, grouping) is on the topic once, keyed by
// schemas.DayKey, field by field the simulator's aggregation. Then late
// calls change some figures and the days are re-read: exactly the changed
// (and new) groupings are published, once each, with their new figures.
// Then the days are re-read with nothing new: nothing is published.
func TestBinaryDialoutUpserts(t *testing.T) {
	d := newDialoutRun(t, 2, graphsim.Config{Seed: 61})
	// plan shows what run reads: the two UTC days, whatever WINDOW says.
	if doc := runPlan(t, d.pipeline); doc.Sources[0].TotalWindows != 2 || len(doc.Sources[0].Windows) != 2 ||
		!doc.Sources[0].Windows[0].From.Equal(d.days[0]) || !doc.Sources[0].Windows[1].To.Equal(d.today) {
		t.Fatalf("plan of pstn-dialout: %+v, want the days %v", doc.Sources[0].Windows, d.days)
	}
	out := d.run(t)
	first := d.truth(t)
	got := d.versions(t)
	if len(first) == 0 || len(got) != len(first) {
		t.Fatalf("%d keys on the topic, the simulator aggregates %d", len(got), len(first))
	}
	for k, row := range first {
		if len(got[k]) != 1 || !d.same(t, k, got[k][0], row) {
			t.Fatalf("%s: %d records, want one equal to the simulator's row", k, len(got[k]))
		}
	}
	if !strings.Contains(out, "not compacted") {
		t.Errorf("no warning that the topic is not compacted:\n%s", out)
	}

	d.setSim(31 * time.Hour) // every late call has arrived
	second := d.truth(t)
	changed := 0
	for k, row := range second {
		if old, ok := first[k]; !ok || !bytes.Equal(old.JSON, row.JSON) {
			changed++
		}
	}
	if changed == 0 || changed == len(second) {
		t.Fatalf("%d of %d rows changed by the late calls: want some, not all", changed, len(second))
	}
	d.rescanDue(t)
	d.run(t)
	got = d.versions(t)
	republished := 0
	for k, row := range second {
		vs := got[k]
		old, had := first[k]
		switch {
		case had && bytes.Equal(old.JSON, row.JSON):
			if len(vs) != 1 {
				t.Fatalf("%s is unchanged but on the topic %d times", k, len(vs))
			}
		case had:
			if len(vs) != 2 || !d.same(t, k, vs[1], row) {
				t.Fatalf("%s changed: %d records, want the old and the new figures once each", k, len(vs))
			}
			republished++
		default:
			if len(vs) != 1 || !d.same(t, k, vs[0], row) {
				t.Fatalf("%s is new: %d records, want it once", k, len(vs))
			}
			republished++
		}
	}
	if republished != changed || len(got) != len(second) {
		t.Fatalf("%d rows republished and %d keys, want %d and %d", republished, len(got), changed, len(second))
	}

	before := len(d.kafka.ReadAll(t, d.topic, true))
	d.rescanDue(t)
	out = d.run(t)
	if after := len(d.kafka.ReadAll(t, d.topic, true)); after != before {
		t.Fatalf("a re-read with nothing new published %d records", after-before)
	}
	if !strings.Contains(out, `"rescans":2`) {
		t.Errorf("the third run did not re-read both days:\n%s", out)
	}
}

// TestBinaryDialoutSurvivesSIGKILL kills the binary with SIGKILL
// repeatedly, first while it reads the days, then while it re-reads them
// after late calls changed some figures, exactly-once with the Kafka
// checkpoint store. The committed topic must hold every (day, grouping)
// once with its first figures, plus each changed one once more with its
// new figures: nothing lost, nothing doubled, the latest figures last.
func TestBinaryDialoutSurvivesSIGKILL(t *testing.T) {
	d := newDialoutRun(t, 4, graphsim.Config{Seed: 62, PageSize: 40, Latency: 2 * time.Millisecond})
	// One day at a time, each page's records produced as it arrives: a
	// kill between two pages leaves a transaction open.
	d.env["BACKFILL_CONCURRENCY"] = "1"
	first := d.truth(t)
	pages := len(first)/40 + len(d.days)
	d.killLoop(t, 6, pages)
	got := d.versions(t)
	for k, row := range first {
		if len(got[k]) != 1 || !d.same(t, k, got[k][0], row) {
			t.Fatalf("after the kills of the first read, %s has %d records, want one equal to the simulator's row", k, len(got[k]))
		}
	}
	if len(got) != len(first) {
		t.Fatalf("%d keys on the topic, the simulator aggregates %d", len(got), len(first))
	}

	d.setSim(31 * time.Hour)
	second := d.truth(t)
	d.rescanDue(t)
	d.killLoop(t, 6, len(second)/40+len(d.days))
	got = d.versions(t)
	changed := 0
	for k, row := range second {
		vs := got[k]
		if old, had := first[k]; had && bytes.Equal(old.JSON, row.JSON) {
			if len(vs) != 1 {
				t.Fatalf("%s is unchanged but on the topic %d times", k, len(vs))
			}
			continue
		}
		changed++
		if len(vs) == 0 || !d.same(t, k, vs[len(vs)-1], row) {
			t.Fatalf("%s: the last of its %d records is not its latest figures", k, len(vs))
		}
		if _, had := first[k]; (had && len(vs) != 2) || (!had && len(vs) != 1) {
			t.Fatalf("%s: %d records, want each version once", k, len(vs))
		}
	}
	if changed == 0 || len(got) != len(second) {
		t.Fatalf("%d changed rows, %d keys for %d groupings", changed, len(got), len(second))
	}
	all, committed := len(d.kafka.ReadAll(t, d.topic, false)), len(d.kafka.ReadAll(t, d.topic, true))
	if all <= committed {
		t.Fatalf("read_uncommitted sees %d records, read_committed %d: no aborted record, so the kills tested nothing", all, committed)
	}
	t.Logf("after 12 SIGKILLs: %d groupings, %d changed, %d aborted records hidden from read_committed", len(second), changed, all-committed)
}

// killLoop starts the walk and SIGKILLs it after a random number of
// further pages, kills times, then lets a last run finish.
func (d *dialoutRun) killLoop(t *testing.T, kills, totalPages int) {
	t.Helper()
	killRuns(t, d.env, func() int { return d.sim.Stats().Pages }, kills, totalPages, 1)
	d.run(t)
}
