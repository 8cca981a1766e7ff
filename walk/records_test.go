package walk

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
)

// recordsSource is the call-records source as the lanes build it.
func recordsSource(t *testing.T) Source {
	t.Helper()
	s, err := For(sources.MustLookup("call-records"), sources.V1)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Records || s.Aggregate {
		t.Fatal("For(call-records) is not walked as a records source")
	}
	return s
}

// recRig is a call-records walk's surroundings: the simulator on a clock
// the test moves (the walker's clock too), and a schemaRig of the call
// record's schema, batching as the lanes of a records source do (a
// meeting's record is large).
type recRig struct {
	*schemaRig
	clk *clock
	sim *graphsim.Server
	fc  Fetcher
}

func newRecRig(t *testing.T, m mode, sc graphsim.Config) *recRig {
	t.Helper()
	r := &recRig{clk: &clock{}, schemaRig: newSchemaRig(t, m,
		producer.Schema{Name: schemas.CallRecordsSchemaName, Text: schemas.CallRecordsSchemaText(), Fingerprint: "x"}, 1_000_000)}
	sc.Now = r.clk.Now
	r.sim, r.fc = simulatedGraph(t, sc)
	return r
}

// walker is a new walker (a new process) of the call records of [start,
// end) on the rig's clock.
func (r *recRig) walker(t *testing.T, start, end time.Time, rescan ...time.Duration) (*Walker, error) {
	t.Helper()
	return New(Config{Source: recordsSource(t), Start: start, End: end, Window: time.Hour, RescanAfter: rescan,
		Retention: sources.MustLookup("call-records").Retention, Now: r.clk.Now, Logger: slog.New(slog.DiscardHandler)},
		r.fc, r.prod, r.store())
}

// published reads the committed topic: per (id, version), the values
// published, each keyed by its record's id.
func (r *recRig) published(t *testing.T) map[string][][]byte {
	t.Helper()
	codec, err := schemas.For("call-records", schemas.VersionV1)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	framing := len(r.prod.ValueBuffer(0))
	for _, rec := range r.kafka.ReadAll(t, r.topic, true) {
		body := rec.Value[framing:]
		v, err := codec.Decode(body)
		if err != nil {
			t.Fatalf("offset %d: %v", rec.Offset, err)
		}
		m := v.(map[string]any)
		id, _ := m["id"].(string)
		if string(rec.Key) != id {
			t.Fatalf("record %s keyed %q, want its id", id, rec.Key)
		}
		vid := schemas.VersionedID(id, m["version"].(int64))
		out[vid] = append(out[vid], body)
	}
	return out
}

// encoded is the simulator's record as the codec writes it: what the
// topic must hold, byte for byte.
func encodedRecord(t *testing.T, v graphsim.CallRecordVersion) []byte {
	t.Helper()
	codec, err := schemas.For("call-records", schemas.VersionV1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, out, err := codec.Encode(v.JSON, nil)
	if err != nil {
		t.Fatalf("simulated record %s v%d does not encode: %v", v.ID, v.Version, err)
	}
	return out
}

// TestRecordsOncePerVersion walks six hours of call records twice. The
// first walk, an hour after the range, publishes every record then visible
// once, in the version then served, keyed by its id, byte for byte the
// codec's encoding of what Graph served. Two days later the rescans find
// late records and updates: exactly the new (id, version)s are published,
// once each, so the latest version of every record is on the topic; the
// unchanged records are not read again (their get is the request saved).
func TestRecordsOncePerVersion(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		start := day0
		end := start.Add(6 * time.Hour)
		r := newRecRig(t, m, graphsim.Config{Seed: 171, Start: start.Add(-24 * time.Hour), End: end.Add(24 * time.Hour), RowsPerHour: 30})
		r.clk.Set(end.Add(time.Hour))
		first := r.sim.CallRecordsAt(start, end, r.clk.Now())
		if len(first) < 100 {
			t.Fatalf("the simulator serves %d records of the range: too few to test", len(first))
		}
		w, err := r.walker(t, start, end, 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		got := r.published(t)
		for _, v := range first {
			vs := got[schemas.VersionedID(v.ID, v.Version)]
			if len(vs) != 1 || !bytes.Equal(vs[0], encodedRecord(t, v)) {
				t.Fatalf("%s v%d: %d records, want one equal to the simulator's", v.ID, v.Version, len(vs))
			}
		}
		if len(got) != len(first) {
			t.Fatalf("%d (id, version)s on the topic, the simulator served %d", len(got), len(first))
		}

		// Days on: every update has appeared, and the windows are due for
		// their 48 h rescan (on its 24 h grid: see rescanAt).
		r.clk.Set(start.Add(73 * time.Hour))
		second := r.sim.CallRecordsAt(start, end, r.clk.Now())
		had := map[string]int64{}
		for _, v := range first {
			had[v.ID] = v.Version
		}
		changed, reads := 0, 0
		for _, v := range second {
			if had[v.ID] != v.Version {
				changed++
				reads += 1 + max(0, (v.Sessions+graphsim.SessionsPageSize-1)/graphsim.SessionsPageSize-1)
			}
		}
		if changed == 0 || changed > len(second)/2 {
			t.Fatalf("%d of %d records changed in two days: want some, not most", changed, len(second))
		}
		before := r.sim.Stats().Requests
		w, err = r.walker(t, start, end, 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		st := w.Stats()
		if st.Rescans == 0 || st.Published != changed {
			t.Fatalf("second walk: %d rescans, %d published, want the %d new versions", st.Rescans, st.Published, changed)
		}
		// The lists of six windows (at most), and a read of each changed
		// record: none of the unchanged ones.
		if sent := r.sim.Stats().Requests - before; sent < reads || sent > reads+6 {
			t.Fatalf("second walk sent %d requests: want the %d reads of changed records and at most 6 lists (unchanged records are not read)", sent, reads)
		}
		got = r.published(t)
		want := map[string]bool{}
		for _, v := range append(first, second...) {
			want[schemas.VersionedID(v.ID, v.Version)] = true
		}
		for _, v := range second {
			vs := got[schemas.VersionedID(v.ID, v.Version)]
			if len(vs) != 1 || !bytes.Equal(vs[0], encodedRecord(t, v)) {
				t.Fatalf("%s: its latest version %d is on the topic %d times, want once equal to the simulator's", v.ID, v.Version, len(vs))
			}
		}
		for vid, vs := range got {
			if !want[vid] || len(vs) != 1 {
				t.Fatalf("%s: %d records, want one per version the walks saw", vid, len(vs))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d (id, version)s on the topic, want %d", len(got), len(want))
		}
	})
}

// TestRecordsRefusedBeyondRetention: a walk whose next window starts
// before Graph's 30 days is refused for good, naming the retention and
// the date to start after — at its start, or at its checkpoint's
// watermark — rather than reading nothing and saving a checkpoint that
// says its records were published.
func TestRecordsRefusedBeyondRetention(t *testing.T) {
	r := newRecRig(t, atLeastOnce, graphsim.Config{Seed: 172, Start: day0, End: day0.Add(time.Hour), RowsPerHour: 10})
	r.clk.Set(day0.Add(31 * 24 * time.Hour))
	w, err := r.walker(t, day0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Run(context.Background(), true)
	if err == nil || retryable(err) || !strings.Contains(err.Error(), "30 days") || !strings.Contains(err.Error(), "start at 2026-01-06T00:00:00Z") {
		t.Fatalf("start 31 days back: %v, want a permanent refusal naming 30 days and the earliest start", err)
	}
	// A checkpoint left behind by a process stopped for a month.
	if err := r.file.Save(context.Background(), "call-records", checkpoint.State{Watermark: day0.Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	w, err = r.walker(t, day0.Add(24*time.Hour*20), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Run(context.Background(), true)
	var pe *permanentError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "watermark 2026-01-05T12:00:00Z") || !strings.Contains(err.Error(), "checkpoint reset --source call-records") {
		t.Fatalf("watermark 30.5 days back: %v, want a permanent refusal naming the watermark and the reset", err)
	}
	// Inside the retention, the same walk reads.
	r.clk.Set(day0.Add(24 * time.Hour))
	if err := w.Run(context.Background(), true); err != nil {
		t.Fatalf("inside the retention: %v", err)
	}
}

// TestRecordsNeedARecordsFetcher: a records source with a fetcher that
// only reads logs is refused when the walker is made.
func TestRecordsNeedARecordsFetcher(t *testing.T) {
	r := newRecRig(t, atLeastOnce, graphsim.Config{Seed: 173, Start: day0, End: day0.Add(time.Hour), RowsPerHour: 10})
	_, err := New(Config{Source: recordsSource(t), Start: day0, Window: time.Hour}, onlyCalls{r.fc}, r.prod, r.store())
	if err == nil || !strings.Contains(err.Error(), "records source") {
		t.Fatalf("New with a log-only fetcher: %v", err)
	}
}

// onlyCalls hides every method of a Fetcher but Calls.
type onlyCalls struct{ f Fetcher }

func (o onlyCalls) Calls(ctx context.Context, fn fetch.Function, from, to time.Time, onPage func(fetch.Page) error) (fetch.Stats, error) {
	return o.f.Calls(ctx, fn, from, to, onPage)
}
