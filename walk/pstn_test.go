package walk_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/jsonscan"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
	"github.com/twmb/franz-go/pkg/kgo"
)

// codecSource adapts a schemas.Codec to a walk.Source.
func codecSource(fn fetch.Function, c *schemas.Codec) walk.Source {
	return walk.Source{
		Name:     c.Source(),
		Function: fn,
		// The scan is left unused: this source reads every row itself.
		Encode: func(raw []byte, _ []jsonscan.Member, dst []byte) (walk.Encoded, error) {
			id, key, out, err := c.Encode(raw, dst)
			if err != nil {
				return walk.Encoded{}, err
			}
			return walk.Encoded{ID: id, Key: []byte(key), Value: out}, nil
		},
	}
}

// TestPstnAndDirectRoutingSideBySide runs a Direct Routing walker and a
// PSTN walker at once against one simulator, each to its own topic with its
// own schema and checkpoint, with one-minute windows over data that has a
// row exactly on every minute. getPstnCalls includes rows at toDateTime, so
// this is where a boundary row would be read twice; none may be, and none
// lost. PSTN charges must come out of Kafka exactly as Graph wrote them.
//
// It runs in both settle modes: exactly-once (a transactional producer and
// the Kafka checkpoint store per lane) and at-least-once (a file store).
func TestPstnAndDirectRoutingSideBySide(t *testing.T) {
	for _, version := range []string{schemas.VersionV1, schemas.VersionBeta} {
		for _, exactlyOnce := range []bool{true, false} {
			name := version + "/" + map[bool]string{true: "exactly-once", false: "at-least-once"}[exactlyOnce]
			t.Run(name, func(t *testing.T) { sideBySide(t, version, exactlyOnce) })
		}
	}
}

func sideBySide(t *testing.T, version string, exactlyOnce bool) {
	day0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	end := day0.Add(2 * time.Hour)
	sim, srvURL := testkit.Graph(t, graphsim.Config{Token: "tok", Seed: 9, Start: day0, End: end, RowsPerHour: 600})
	fc, err := fetch.New(fetch.Config{BaseURL: srvURL, APIVersion: version, Tokens: fetch.StaticToken("tok"),
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	kc := kafkatest.New(t)

	type lane struct {
		fn     fetch.Function
		codec  *schemas.Codec
		topic  string
		walker *walk.Walker
		truth  []graphsim.Row
	}
	var lanes []*lane
	for _, l := range []struct {
		source string
		fn     fetch.Function
		truth  []graphsim.Row
	}{
		{"direct-routing", fetch.FunctionOf(sources.MustLookup("direct-routing")), sim.Rows(day0, end)},
		{"pstn", fetch.FunctionOf(sources.MustLookup("pstn")), sim.PstnRows(day0, end)},
	} {
		codec, err := schemas.For(l.source, version)
		if err != nil {
			t.Fatal(err)
		}
		topic := kc.Topic(t, 3, nil)
		pcfg := producer.Config{
			Brokers: kc.Brokers, Topic: topic,
			Schema: producer.Schema{Name: codec.Name(), Text: codec.Text(), Fingerprint: "x"},
		}
		var store checkpoint.Loader
		if exactlyOnce {
			cl := kc.Client(t, kgo.MetadataMinAge(250*time.Millisecond)) // the checkpoint topic is new: see walk_test.go freshMetadata
			if err := producer.EnsureCheckpointTopic(context.Background(), cl, topic+".checkpoint", topic); err != nil {
				t.Fatal(err)
			}
			pcfg.TransactionalID = topic
			store = checkpoint.NewKafkaStore(cl, topic+".checkpoint", topic)
		} else {
			fs, err := checkpoint.NewFileStore(filepath.Join(t.TempDir(), l.source+".json"))
			if err != nil {
				t.Fatal(err)
			}
			store = fs
		}
		prod, err := producer.New(context.Background(), pcfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = prod.Close(context.Background()) })
		w, err := walk.New(walk.Config{
			Source: codecSource(l.fn, codec), Start: day0, End: end, Window: time.Minute,
			Logger: slog.New(slog.DiscardHandler),
		}, fc, prod, store)
		if err != nil {
			t.Fatal(err)
		}
		lanes = append(lanes, &lane{fn: l.fn, codec: codec, topic: topic, walker: w, truth: l.truth})
	}

	onMinute := 0
	for _, r := range lanes[1].truth {
		if r.Start.Equal(r.Start.Truncate(time.Minute)) {
			onMinute++
		}
	}
	if onMinute < 100 {
		t.Fatalf("only %d PSTN rows on window boundaries; the test needs them", onMinute)
	}

	var wg sync.WaitGroup
	errs := make([]error, len(lanes))
	for k, l := range lanes {
		wg.Go(func() { errs[k] = l.walker.Run(context.Background(), true) })
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			t.Fatalf("%s walker: %v", lanes[k].fn, err)
		}
	}

	for _, l := range lanes {
		if st := l.walker.Stats(); st.Duplicates != 0 || st.Windows != 120 || st.Published != len(l.truth) {
			t.Errorf("%s: %+v; a boundary row read twice shows as a duplicate", l.fn, st)
		}
		want := make(map[string]graphsim.Row, len(l.truth))
		for _, r := range l.truth {
			want[r.ID] = r
		}
		seen := map[string]int{}
		charges := 0
		for _, rec := range kc.ReadAll(t, l.topic, true) {
			row, err := l.codec.Decode(rec.Value)
			if err != nil {
				t.Fatalf("%s offset %d: %v", l.fn, rec.Offset, err)
			}
			var id, key string
			switch r := row.(type) {
			case *schemas.DirectRoutingLogRow:
				id, key = r.ID, want[r.ID].CorrelationID
			case *schemas.PstnCallLogRow:
				id, key = r.ID, want[r.ID].CallID
				charges += checkCharge(t, want[r.ID], version, r)
			}
			if _, ok := want[id]; !ok {
				t.Fatalf("%s topic holds row %s, not one of its function's", l.fn, id)
			}
			if string(rec.Key) != key {
				t.Fatalf("%s row %s keyed %q, want %q", l.fn, id, rec.Key, key)
			}
			seen[id]++
		}
		for id, r := range want {
			if seen[id] != 1 {
				t.Fatalf("%s row %d at %s is in the topic %d times", l.fn, r.Index, r.Start.Format(time.RFC3339Nano), seen[id])
			}
		}
		if l.fn == fetch.FunctionOf(sources.MustLookup("pstn")) && charges == 0 {
			t.Fatal("no PSTN row carried a charge")
		}
	}
}

// checkCharge compares a PSTN row read back from Kafka with the JSON the
// simulator served, as exact rationals; it returns how many charges it
// compared.
func checkCharge(t *testing.T, truth graphsim.Row, version string, r *schemas.PstnCallLogRow) int {
	t.Helper()
	raw := truth.JSON
	if version == schemas.VersionBeta {
		raw = truth.BetaJSON
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, got := range map[string]*schemas.Decimal{"charge": r.Charge, "connectionCharge": r.ConnectionCharge} {
		text := string(m[name])
		if text == "null" {
			if got != nil {
				t.Fatalf("row %s: %s null came back %s", r.ID, name, got)
			}
			continue
		}
		want, _ := new(big.Rat).SetString(text)
		if got == nil || got.Rat().Cmp(want) != 0 {
			t.Fatalf("row %s: %s %s came back %v", r.ID, name, text, got)
		}
		n++
	}
	if version == schemas.VersionBeta && string(m["clientPublicIpV4Address"]) != "null" &&
		(r.ClientPublicIPv4Address == nil || `"`+*r.ClientPublicIPv4Address+`"` != string(m["clientPublicIpV4Address"])) {
		t.Fatalf("row %s: clientPublicIpV4Address %v, served %s", r.ID, r.ClientPublicIPv4Address, m["clientPublicIpV4Address"])
	}
	return n
}
