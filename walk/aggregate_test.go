package walk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
	"github.com/twmb/franz-go/pkg/kgo"
)

// dialoutSource is the pstn-dialout source (beta only) as the lanes build
// it.
func dialoutSource(t *testing.T) Source {
	t.Helper()
	s, err := For(sources.MustLookup("pstn-dialout"), sources.Beta)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Aggregate {
		t.Fatal("For(pstn-dialout) is not walked as an aggregate")
	}
	return s
}

// schemaRig is a walk's Kafka surroundings for a source of its own
// schema: a data topic, a producer and a checkpoint store, exactly-once
// (transactional, Kafka store) or at-least-once (file store).
type schemaRig struct {
	mode  mode
	kafka *kafkatest.Cluster
	topic string
	prod  *producer.Producer
	cl    *kgo.Client
	file  *checkpoint.FileStore
}

// newSchemaRig is a schemaRig producing with schema, in batches of at most
// batchMax bytes (0: the producer's default).
func newSchemaRig(t *testing.T, m mode, schema producer.Schema, batchMax int32) *schemaRig {
	t.Helper()
	r := &schemaRig{mode: m, kafka: kafkatest.New(t)}
	r.topic = r.kafka.Topic(t, 3, nil)
	pcfg := producer.Config{Brokers: r.kafka.Brokers, Topic: r.topic, Schema: schema, BatchMaxBytes: batchMax}
	if m == exactlyOnce {
		r.cl = r.kafka.Client(t, freshMetadata)
		if err := producer.EnsureCheckpointTopic(context.Background(), r.cl, r.topic+".checkpoint", r.topic); err != nil {
			t.Fatal(err)
		}
		pcfg.TransactionalID = r.topic
	} else {
		fs, err := checkpoint.NewFileStore(filepath.Join(t.TempDir(), "cp.json"))
		if err != nil {
			t.Fatal(err)
		}
		r.file = fs
	}
	prod, err := producer.New(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	r.prod = prod
	return r
}

// store is the checkpoint store a new process starts with.
func (r *schemaRig) store() checkpoint.Loader {
	if r.mode == exactlyOnce {
		return checkpoint.NewKafkaStore(r.cl, r.topic+".checkpoint", r.topic)
	}
	return r.file
}

// aggRig is a dial-out walk's surroundings: a schemaRig of the dial-out
// schema and a dead-letter topic.
type aggRig struct {
	*schemaRig
	dlq string
}

func newAggRig(t *testing.T, m mode) *aggRig {
	t.Helper()
	r := &aggRig{schemaRig: newSchemaRig(t, m,
		producer.Schema{Name: schemas.PstnDialoutSchemaName, Text: schemas.PstnDialoutBetaSchemaText(), Fingerprint: "x"}, 0)}
	r.dlq = r.kafka.Topic(t, 1, nil)
	return r
}

func (r *aggRig) walker(t *testing.T, cfg Config, f Fetcher) *Walker {
	t.Helper()
	cfg.Source = dialoutSource(t)
	cfg.Logger = slog.New(slog.DiscardHandler)
	w, err := New(cfg, f, r.prod, r.store())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// records reads the committed data topic: every record, decoded with the
// dial-out schema, its Value cut to the Avro body.
func (r *aggRig) records(t *testing.T) []*kgo.Record {
	t.Helper()
	recs := r.kafka.ReadAll(t, r.topic, true)
	frame := len(r.prod.ValueBuffer(0))
	for _, rec := range recs {
		var row schemas.PstnOnlineMeetingDialoutReport
		if err := schemas.DecodePstnDialoutRowBeta(rec.Value, &row); err != nil {
			t.Fatalf("decode offset %d: %v", rec.Offset, err)
		}
		rec.Value = rec.Value[frame:] // the Avro body, as recordOf makes it
	}
	return recs
}

func runOnce(t *testing.T, w *Walker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := w.Run(ctx, true); err != nil {
		t.Fatal(err)
	}
}

// report is a Fetcher answering getPstnOnlineMeetingDialoutReport with
// the rows set for each day, which a test changes between reads. It
// records the ranges asked.
type report struct {
	mu    sync.Mutex
	days  map[time.Time][]string
	asked [][2]time.Time
}

func (r *report) set(day time.Time, rows ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.days[day] = rows
}

func (r *report) Calls(_ context.Context, _ fetch.Function, from, to time.Time, onPage func(fetch.Page) error) (fetch.Stats, error) {
	r.mu.Lock()
	r.asked = append(r.asked, [2]time.Time{from, to})
	var rows []json.RawMessage
	for _, s := range r.days[from] {
		rows = append(rows, json.RawMessage(s))
	}
	r.mu.Unlock()
	return fetch.Stats{Pages: 1, Requests: 1, Rows: len(rows)}, onPage(fetch.Page{Number: 1, Rows: rows})
}

func dialoutRow(user, loc, dest, cur string, calls, secs int, charge string) string {
	return fmt.Sprintf(`{"userId":%q,"userPrincipalName":"%s@contoso.com","userDisplayName":"User %s","usageLocation":%q,"destinationContext":%q,"currency":%q,"totalCalls":%d,"totalCallCharge":%s,"totalCallSeconds":%d}`,
		user, user, user, loc, dest, cur, calls, charge, secs)
}

// recordOf is the key and Avro body the walker must publish for a row of
// day.
func recordOf(t *testing.T, day time.Time, raw string) (key string, body []byte) {
	t.Helper()
	codec, err := schemas.For("pstn-dialout", schemas.VersionBeta)
	if err != nil {
		t.Fatal(err)
	}
	_, group, body, err := codec.Encode([]byte(raw), nil)
	if err != nil {
		t.Fatalf("encode %s: %v", raw, err)
	}
	return schemas.DayKey(day, group), body
}

// TestAggregateUpsertsChangedRowsOnly holds the aggregate walk's
// contract on a report whose rows the test sets: every (day, grouping) is
// published once, keyed by schemas.DayKey; a day re-read with identical
// figures publishes nothing; a changed row is published once with its new
// figures, a new grouping once; a row whose figures go back to an earlier
// version is published again (the latest version per key is what counts,
// not whether a version was ever seen); a walker restarted on the same
// checkpoint store publishes nothing for an unchanged day; a bad row goes
// to the dead-letter topic once. In both settle modes.
func TestAggregateUpsertsChangedRowsOnly(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		r := newAggRig(t, m)
		d0, d1 := day0, day0.Add(24*time.Hour)
		a0 := dialoutRow("u1", "US", "International", "USD", 2, 100, "1.5")
		b0 := dialoutRow("u2", "GR", "Domestic", "EUR", 1, 30, "0.2")
		a1 := dialoutRow("u1", "US", "International", "USD", 1, 60, "0.5") // a0's grouping, the next day
		a1b := dialoutRow("u1", "US", "International", "USD", 2, 75, "0.75")
		c1 := dialoutRow("u3", "AE", "International", "AED", 1, 20, "3")
		bad := `{"userId":"u9","usageLocation":"US","destinationContext":"Domestic","currency":"USD","totalCalls":"many"}`
		rep := &report{days: map[time.Time][]string{d0: {a0, b0}, d1: {a1, bad}}}
		clk := &clock{}
		// Day 1 ends at d1+24h and is re-read 1, 2, 3 and 4 hours later;
		// day 0 is read once, after its last rescan age.
		cfg := Config{Start: d0.Add(5 * time.Hour), End: d1.Add(20 * time.Hour), Window: time.Hour,
			RescanAfter:     []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour},
			DeadLetterTopic: r.dlq, Now: clk.Now}
		at := func(h int) { clk.Set(d1.Add(24*time.Hour + time.Duration(h)*time.Hour + 30*time.Minute)) }

		type want struct {
			day time.Time
			raw string
		}
		var published []want
		step := func(name string, w *Walker, pub, dups int, rows ...want) {
			t.Helper()
			before := w.Stats()
			runOnce(t, w)
			st := w.Stats()
			if got := st.Published - before.Published; got != pub {
				t.Errorf("%s: published %d, want %d", name, got, pub)
			}
			if got := st.Duplicates - before.Duplicates; got != dups {
				t.Errorf("%s: %d unchanged rows skipped, want %d", name, got, dups)
			}
			published = append(published, rows...)
			recs := r.records(t)
			if len(recs) != len(published) {
				t.Fatalf("%s: %d records on the topic, want %d", name, len(recs), len(published))
			}
			// Records of one key are in one partition, in order; across
			// keys the order is the partitions'. Compare per key.
			got, exp := map[string][][]byte{}, map[string][][]byte{}
			for _, rec := range recs {
				got[string(rec.Key)] = append(got[string(rec.Key)], rec.Value)
			}
			for _, p := range published {
				k, body := recordOf(t, p.day, p.raw)
				exp[k] = append(exp[k], body)
			}
			for k, bodies := range exp {
				g := got[k]
				if len(g) != len(bodies) {
					t.Fatalf("%s: key %s has %d records, want %d", name, k, len(g), len(bodies))
				}
				for i := range bodies {
					if !bytes.Equal(g[i], bodies[i]) {
						t.Fatalf("%s: key %s record %d differs from the row served", name, k, i)
					}
				}
			}
		}

		at(0)
		w := r.walker(t, cfg, rep)
		step("first read", w, 3, 0, want{d0, a0}, want{d0, b0}, want{d1, a1})
		if st := w.Stats(); st.Windows != 2 || st.DeadLettered != 1 {
			t.Fatalf("first read: %d windows, %d dead-lettered; want 2 days and the bad row", st.Windows, st.DeadLettered)
		}
		for _, q := range rep.asked {
			if q[0].Truncate(24*time.Hour) != q[0] || q[1].Sub(q[0]) != 24*time.Hour {
				t.Fatalf("asked [%s, %s): not one UTC day", q[0], q[1])
			}
		}

		at(1)
		step("unchanged re-read", w, 0, 2) // a1 and the bad row, already dead-lettered

		rep.set(d1, a1b, bad, c1)
		at(2)
		step("changed and new", w, 2, 1, want{d1, a1b}, want{d1, c1})

		at(3)
		restarted := r.walker(t, cfg, rep)
		step("restart, unchanged", restarted, 0, 3)

		rep.set(d1, a1, bad, c1)
		at(4)
		step("back to an earlier version", restarted, 1, 2, want{d1, a1})

		if n := len(r.kafka.ReadAll(t, r.dlq, true)); n != 1 {
			t.Errorf("%d dead letters, want the bad row once", n)
		}
		// Day 0 left the horizon after its only read, day 1 after its last
		// rescan: nothing of either is remembered.
		st, err := r.store().Load(context.Background(), "pstn-dialout")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Windows) != 0 || !st.Watermark.Equal(d1.Add(24*time.Hour)) {
			t.Errorf("checkpoint %v, %d windows; want the watermark at the end of day 1 and no window", st.Watermark, len(st.Windows))
		}
	})
}

// TestAggregateWalkMatchesSimulator walks two days of the simulated
// dial-out report while late calls arrive. The first read publishes every
// (day, grouping) once, field by field the simulator's aggregation of the
// calls visible then, each day asked for [00:00, next midnight − 100 ns];
// re-reads after the late calls publish exactly the rows whose figures
// changed (or that are new), once each, with the new figures; re-reads and
// a restarted walker with nothing new publish nothing. In both modes.
func TestAggregateWalkMatchesSimulator(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		r := newAggRig(t, m)
		clk := &clock{}
		end := day0.Add(48 * time.Hour)
		sim, err := graphsim.New(graphsim.Config{Token: "tok", Seed: 16, Start: day0, End: end, RowsPerHour: 240,
			LateFraction: 0.05, LateDelay: 30 * time.Hour, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var asked []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if !strings.Contains(req.URL.Path, "$skip") && !strings.Contains(req.URL.RawQuery, "skip") {
				mu.Lock()
				asked = append(asked, req.URL.Path)
				mu.Unlock()
			}
			sim.ServeHTTP(w, req)
		}))
		t.Cleanup(srv.Close)
		fc, err := fetch.New(fetch.Config{BaseURL: srv.URL, APIVersion: sources.Beta, Tokens: fetch.StaticToken("tok"),
			Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
		if err != nil {
			t.Fatal(err)
		}
		mid := day0.Add(24 * time.Hour)
		days := []time.Time{day0, mid}
		truth := func(at time.Time) map[string][]byte {
			out := map[string][]byte{}
			for _, d := range days {
				for _, row := range sim.DialoutReport(d, d.Add(24*time.Hour), at) {
					k, body := recordOf(t, d, string(row.JSON))
					out[k] = body
				}
			}
			return out
		}
		// The days end at +24h and +48h; rescans at ages 30h (+54h, +78h),
		// 40h (+64h, +88h) and 60h (+84h, +108h).
		cfg := Config{Start: day0, End: end, RescanAfter: []time.Duration{30 * time.Hour, 40 * time.Hour, 60 * time.Hour}, Now: clk.Now}
		// Records of one key are in one partition, in publishing order, so
		// what a read published is, per key, the records beyond the count
		// before it, and the last is the latest.
		counts := map[string]int{}
		read := func(name string, w *Walker, at time.Time, want map[string][]byte) {
			t.Helper()
			clk.Set(at)
			runOnce(t, w)
			now, last := map[string]int{}, map[string][]byte{}
			for _, rec := range r.records(t) {
				now[string(rec.Key)]++
				last[string(rec.Key)] = rec.Value
			}
			fresh := 0
			for k, n := range now {
				switch d := n - counts[k]; {
				case d == 0:
				case want[k] == nil:
					t.Fatalf("%s: published %s %d times, though it is neither new nor changed", name, k, d)
				case d != 1:
					t.Fatalf("%s: published %s %d times, want once", name, k, d)
				case !bytes.Equal(last[k], want[k]):
					t.Fatalf("%s: %s differs from the simulator's aggregation", name, k)
				default:
					fresh++
				}
			}
			if fresh != len(want) {
				t.Errorf("%s: %d rows published, want %d", name, fresh, len(want))
			}
			counts = now
		}
		changed := func(before, after map[string][]byte) map[string][]byte {
			out := map[string][]byte{}
			for k, v := range after {
				if !bytes.Equal(before[k], v) {
					out[k] = v
				}
			}
			return out
		}

		t1 := end.Add(time.Hour) // the late calls of the second half of day 0 and all of day 1 are not visible yet
		w := r.walker(t, cfg, fc)
		first := truth(t1)
		read("first read", w, t1, first)
		if w.Stats().Windows != 2 {
			t.Fatalf("%d windows read, want the 2 days", w.Stats().Windows)
		}
		// The boundary: the function counts a call at exactly toDateTime
		// (graphsim's TestDialout_AggregatesAndLateCalls; Graph does not
		// say), so a day is asked up to the last 100 ns tick before the
		// next midnight — a call at midnight counts in the next day only —
		// and one day is far inside the 90-day range limit.
		mu.Lock()
		want := []string{
			"/beta/communications/callRecords/getPstnOnlineMeetingDialoutReport(fromDateTime=2026-01-05T00:00:00Z,toDateTime=2026-01-05T23:59:59.9999999Z)",
			"/beta/communications/callRecords/getPstnOnlineMeetingDialoutReport(fromDateTime=2026-01-06T00:00:00Z,toDateTime=2026-01-06T23:59:59.9999999Z)",
		}
		if fmt.Sprint(asked) != fmt.Sprint(want) {
			t.Errorf("asked %v, want %v", asked, want)
		}
		mu.Unlock()

		t2 := day0.Add(80 * time.Hour) // every late call is visible
		second := truth(t2)
		diff := changed(first, second)
		if len(diff) == 0 || len(diff) == len(second) {
			t.Fatalf("%d of %d rows changed by the late calls: want some, not all", len(diff), len(second))
		}
		read("re-read after the late calls", w, t2, diff)
		if st := w.Stats(); st.Rescans != 2 || st.Late != len(diff) {
			t.Errorf("%d rescans publishing %d rows, want 2 and %d", st.Rescans, st.Late, len(diff))
		}

		read("re-read, nothing new", w, day0.Add(90*time.Hour), nil)
		if st := w.Stats(); st.Rescans != 4 {
			t.Errorf("%d rescans, want 4", st.Rescans)
		}
		restarted := r.walker(t, cfg, fc)
		read("restarted, nothing new", restarted, day0.Add(110*time.Hour), nil)
		if st := restarted.Stats(); st.Rescans != 1 || st.Duplicates == 0 {
			t.Errorf("restarted walker: %d rescans, %d unchanged rows; want day 1 re-read", st.Rescans, st.Duplicates)
		}
	})
}

// TestAggregateWindowsAreUTCDays: whatever WINDOW says and however the
// range is cut, an aggregate is read in whole UTC days, the first the one
// START_TIME falls in, the last the one END_TIME falls in; and a log is
// not.
func TestAggregateWindowsAreUTCDays(t *testing.T) {
	cfg := Config{Source: Source{Aggregate: true}, Start: day0.Add(5 * time.Hour), End: day0.Add(49 * time.Hour), Window: time.Hour}
	p, err := PlanFor(cfg, checkpoint.State{}, day0.Add(100*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []PlannedWindow{{day0, day0.Add(24 * time.Hour)}, {day0.Add(24 * time.Hour), day0.Add(48 * time.Hour)},
		{day0.Add(48 * time.Hour), day0.Add(72 * time.Hour)}}
	if len(p.Windows) != len(want) || p.TotalWindows != len(want) {
		t.Fatalf("windows %v (total %d), want %v", p.Windows, p.TotalWindows, want)
	}
	for i := range want {
		if !p.Windows[i].From.Equal(want[i].From) || !p.Windows[i].To.Equal(want[i].To) {
			t.Fatalf("window %d is [%s, %s), want [%s, %s)", i, p.Windows[i].From, p.Windows[i].To, want[i].From, want[i].To)
		}
	}
	// A checkpoint reset to a time inside a day reads that day whole.
	r := newAggRig(t, atLeastOnce)
	if err := r.file.Save(context.Background(), "pstn-dialout", checkpoint.State{Watermark: day0.Add(30 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rep := &report{days: map[time.Time][]string{}}
	w := r.walker(t, Config{Start: day0, End: day0.Add(48 * time.Hour), Now: func() time.Time { return day0.Add(100 * time.Hour) }}, rep)
	runOnce(t, w)
	if len(rep.asked) != 1 || !rep.asked[0][0].Equal(day0.Add(24*time.Hour)) || !rep.asked[0][1].Equal(day0.Add(48*time.Hour)) {
		t.Errorf("after a reset to +30h, asked %v, want day 1 whole", rep.asked)
	}

	cfg.Source.Aggregate = false
	if p, err := PlanFor(cfg, checkpoint.State{}, day0.Add(100*time.Hour), 1); err != nil || p.Windows[0].To.Sub(p.Windows[0].From) != time.Hour {
		t.Errorf("a log's windows: %v, %v", p.Windows, err)
	}
}

// TestAggIndexKeepsTheLatestVersion: the entries round-trip, later entries
// of a key replace earlier ones, and within one read a key's repeated
// version is a duplicate while a different one is not.
func TestAggIndexKeepsTheLatestVersion(t *testing.T) {
	kh := keyHash(`["2026-01-05","u1","US","International","USD"]`)
	for _, ch := range []uint64{0, 1, 1<<64 - 1, 0x0123456789abcdef} {
		e := aggEntry(kh, ch)
		gk, gc, ok := parseAggEntry(e)
		if !ok || gk != kh || gc != ch || len(e) != aggEntryLen {
			t.Fatalf("entry %q parses to %x, %x, %v", e, gk, gc, ok)
		}
	}
	for _, s := range []string{"dlq:0123", "agg:" + string(make([]byte, 48)), "8c1d3a0e-6a3f-4a8b-9a47-2a2b0c9a7e11"} {
		if _, _, ok := parseAggEntry(s); ok {
			t.Errorf("%q parsed as an aggregate entry", s)
		}
	}
	a := newAggIndex(5, 0)
	frame := []byte{0, 0, 0, 0, 1}
	enc := func(group, body string) Encoded {
		return Encoded{Key: []byte(group), Value: append(append([]byte{}, frame...), body...)}
	}
	a.beginRead()
	e1, fresh := a.fresh(day0, enc(`["u1"]`, "A"))
	if !fresh || string(e1.Key) != `["2026-01-05","u1"]` {
		t.Fatalf("first version: fresh %v, key %s", fresh, e1.Key)
	}
	if _, fresh := a.fresh(day0, enc(`["u1"]`, "A")); fresh {
		t.Error("the same version twice in a read is fresh")
	}
	if _, fresh := a.fresh(day0.Add(24*time.Hour), enc(`["u1"]`, "A")); !fresh {
		t.Error("the same grouping on another day is not fresh")
	}
	a.add(e1.ID)
	a.beginRead()
	if _, fresh := a.fresh(day0, enc(`["u1"]`, "A")); fresh {
		t.Error("a published version is fresh")
	}
	// Another registry framing does not make a version new.
	other := Encoded{Key: []byte(`["u1"]`), Value: append([]byte{0, 0, 0, 0, 2}, 'A')}
	if _, fresh := a.fresh(day0, other); fresh {
		t.Error("a new schema id alone made a version fresh")
	}
	e2, fresh := a.fresh(day0, enc(`["u1"]`, "B"))
	if !fresh {
		t.Fatal("a changed version is not fresh")
	}
	a.add(e2.ID)
	a.beginRead()
	if _, fresh := a.fresh(day0, enc(`["u1"]`, "A")); !fresh {
		t.Error("going back to an earlier version is not fresh")
	}
	a.remove(e1.ID)
	if len(a.latest) != 0 {
		t.Errorf("%d keys after the day was forgotten", len(a.latest))
	}

	// The tenantId field that ends a value is not its content: a version
	// remembered before values named their tenant matches the same
	// figures with the tenant, and the tenant alone never makes one new.
	suffix := schemas.TenantSuffix(testTenant)
	b := newAggIndex(5, len(suffix))
	b.add(e1.ID) // hashed as "A", from a value without the field
	b.beginRead()
	if _, fresh := b.fresh(day0, enc(`["u1"]`, "A"+string(suffix))); fresh {
		t.Error("the tenant field alone made a version fresh")
	}
	if _, fresh := b.fresh(day0, enc(`["u1"]`, "B"+string(suffix))); !fresh {
		t.Error("changed figures with the tenant field are not fresh")
	}
}
