package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math/big"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/sources"
)

// The end-to-end tests (TestBinaryDeliversEveryRowExactlyOnce,
// TestBinaryPstnDirectRoutingAndDeadLetters, TestBinaryBetaLogSources,
// TestBinarySurvivesSIGKILL, ...) check what the binary published through
// the helpers of this file, for whichever source they walked: read the
// source's topic, decode every record with the source's schema, compare it
// with the simulator's ground truth for that source, field by field.

// srcLane is one source's data topic in a run: the source, the Graph API
// version the run reads it in (which picks its schema and the row shape the
// simulator serves), and the topic its rows go to.
type srcLane struct {
	src     sources.Source
	version string
	topic   string
}

func (l srcLane) String() string { return l.src.Name + " (" + l.version + ") on " + l.topic }

// logSources returns the registry's Log sources offered in Graph API
// version version ("" for any), in registry order: the sources the
// end-to-end tests walk. A Log source added to the registry is walked by
// them without a change here (given its ground truth in testkit's
// simTruth). The filter on Kind is where another kind joins them once
// checkLane can check it (an Aggregate such as pstn-dialout has no id
// property and republishes changed rows, so it needs a check of its own).
func logSources(version string) []sources.Source {
	var out []sources.Source
	for _, s := range sources.All() {
		if s.Kind == sources.Log && (version == "" || s.Offers(version)) {
			out = append(out, s)
		}
	}
	return out
}

// simRows returns the simulator's ground truth for src in [from, to)
// (testkit.LogRows).
func simRows(t testing.TB, sim *graphsim.Server, src sources.Source, from, to time.Time) []graphsim.Row {
	t.Helper()
	rows, err := testkit.LogRows(sim, src, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// served returns the JSON the simulator serves for r in Graph API version
// version.
func served(r graphsim.Row, version string) []byte { return testkit.Served(r, version) }

// truth returns the simulator's rows of p's lane l in [from, to).
func (p *pipeline) truth(t testing.TB, l srcLane, from, to time.Time) []graphsim.Row {
	t.Helper()
	return simRows(t, p.sim, l.src, from, to)
}

// addLane gives src a topic of its own in p's runs (direct-routing keeps
// KAFKA_TOPIC's p.topic, whose name the checkpoint topic is derived from),
// read in Graph API version version, and returns its lane. It does not
// change SOURCES.
func (p *pipeline) addLane(t *testing.T, src sources.Source, version string) srcLane {
	t.Helper()
	if !src.Offers(version) {
		t.Fatalf("%s is not offered in Graph %s", src.Name, version)
	}
	topic, ok := p.env[src.TopicSetting]
	if !ok {
		topic = p.kafka.Topic(t, 3, nil)
		p.env[src.TopicSetting] = topic
	}
	p.env["GRAPH_API_VERSION"] = version
	return srcLane{src: src, version: version, topic: topic}
}

// only makes p's runs walk src alone, in Graph API version version, to a
// topic of its own, and points the single-source helpers (check, watermark,
// liveWatermark, offsets, inFlight, topicIDs, belowWatermarkPublished,
// newWindowGate) at it.
func (p *pipeline) only(t *testing.T, src sources.Source, version string) srcLane {
	t.Helper()
	p.lane = p.addLane(t, src, version)
	p.env["SOURCES"] = src.Name
	return p.lane
}

// lanes makes p's runs walk every Log source offered in Graph API version
// version, each to a topic of its own, and returns their lanes.
func (p *pipeline) lanes(t *testing.T, version string) []srcLane {
	t.Helper()
	var out []srcLane
	var names []string
	for _, src := range logSources(version) {
		out = append(out, p.addLane(t, src, version))
		names = append(names, src.Name)
	}
	p.env["SOURCES"] = strings.Join(names, ",")
	return out
}

// avscPath is the .avsc file of src's schema in Graph API version version.
func avscPath(src sources.Source, version string) string {
	if version == sources.Beta {
		return "../../schemas/" + src.Record + ".beta.avsc"
	}
	return "../../schemas/" + src.Record + ".avsc"
}

// checkLane reads l's topic back read_committed and compares every record
// with the simulator's ground truth for l's source over [p.start, p.end):
// Confluent-framed with the id of the schema registered under
// <topic>-value, which must be the source's .avsc file for l's version;
// decoded with that file through a generic decoder (not the schemas
// package's row types); its callstream.source header the source's name;
// keyed by the source's KeyProperty (its IDProperty when that is null or
// empty, the codecs' fallback); every field as the simulator served it
// (compareRecord). Every good simulated row must be on the topic; a
// malformed one never (it is dead-lettered). It returns the number of
// duplicate records.
func (p *pipeline) checkLane(t *testing.T, l srcLane) (dups int) {
	t.Helper()
	avsc, err := os.ReadFile(avscPath(l.src, l.version))
	if err != nil {
		t.Fatal(err)
	}
	schema, err := avro.Parse(string(avsc))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]graphsim.Row{}
	for _, r := range p.truth(t, l, p.start, p.end) {
		if r.Malformed == graphsim.MalformNone {
			want[r.ID] = r
		}
	}
	if len(want) == 0 {
		t.Fatalf("%s: the simulator holds no good row in [%s, %s): the check would prove nothing", l, p.start, p.end)
	}
	rc, err := sr.NewClient(sr.URLs(p.registry.URL()))
	if err != nil {
		t.Fatal(err)
	}
	registered, err := rc.SchemaByVersion(context.Background(), l.topic+"-value", -1)
	if err != nil {
		t.Fatalf("%s: no schema under %s-value: %v", l, l.topic, err)
	}
	if registered.Schema.Schema != string(avsc) {
		t.Fatalf("%s: the registered schema is not %s", l, avscPath(l.src, l.version))
	}
	seen := map[string]int{}
	keys := map[string]string{} // by id, from the simulator's JSON
	for _, rec := range p.kafka.ReadAll(t, l.topic, true) {
		if len(rec.Value) < 5 || rec.Value[0] != 0 {
			t.Fatalf("%s: offset %d: value lacks the Confluent header", l, rec.Offset)
		}
		if id := binary.BigEndian.Uint32(rec.Value[1:5]); int(id) != registered.ID {
			t.Fatalf("%s: offset %d: schema id %d, want %d (%s-value)", l, rec.Offset, id, registered.ID, l.topic)
		}
		var got map[string]any
		if err := avro.Unmarshal(schema, rec.Value[5:], &got); err != nil {
			t.Fatalf("%s: offset %d: %v", l, rec.Offset, err)
		}
		rowID, _ := got[l.src.IDProperty].(string)
		r, ok := want[rowID]
		if !ok {
			t.Fatalf("%s: record %s %q is not a good simulated row", l, l.src.IDProperty, rowID)
		}
		if h := headers(rec)["callstream.source"]; h != l.src.Name {
			t.Fatalf("%s: record %s has callstream.source %q", l, rowID, h)
		}
		raw := served(r, l.version)
		key, ok := keys[rowID]
		if !ok {
			key = wantKey(t, l.src, raw)
			keys[rowID] = key
		}
		if string(rec.Key) != key {
			t.Fatalf("%s: record %s keyed %q, want %q", l, rowID, rec.Key, key)
		}
		seen[rowID]++
		if seen[rowID] == 1 {
			compareRecord(t, rowID, schema.(*avro.RecordSchema), raw, got)
		}
	}
	lost := 0
	for id := range want {
		switch n := seen[id]; {
		case n == 0:
			lost++
		case n > 1:
			dups += n - 1
		}
	}
	if lost > 0 {
		t.Fatalf("%s: %d of %d simulated rows are not on the topic", l, lost, len(want))
	}
	return dups
}

// wantKey is the record key of a row of src: its KeyProperty when that is
// a non-empty string, else its IDProperty (always present).
func wantKey(t *testing.T, src sources.Source, raw []byte) string {
	t.Helper()
	var row map[string]any
	if err := json.Unmarshal(raw, &row); err != nil {
		t.Fatal(err)
	}
	if k, _ := row[src.KeyProperty].(string); k != "" {
		return k
	}
	id, _ := row[src.IDProperty].(string)
	return id
}

// unknownField is the field every schema keeps the properties it does not
// define in, as raw JSON text by name.
const unknownField = "additionalProperties"

// compareRecord checks a record decoded with schema against the JSON the
// simulator served, field by field, with Graph's conventions applied
// independently of the schemas package and driven by the schema's own
// types: timestamps at millisecond precision in UTC, the year-1 sentinel as
// null, decimals exactly, an absent property as null, and properties the
// schema does not define (or a list whose items carry properties their
// record does not define) as raw JSON text in additionalProperties.
func compareRecord(t testing.TB, id string, schema *avro.RecordSchema, raw []byte, got map[string]any) {
	t.Helper()
	var src map[string]json.RawMessage
	if err := json.Unmarshal(raw, &src); err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{}
	for k, v := range src {
		// got holds exactly the schema's fields (checked below).
		if _, known := got[k]; !known || k == unknownField {
			extra[k] = string(v)
		}
	}
	for _, f := range schema.Fields() {
		if f.Name() == unknownField {
			continue
		}
		g, present := got[f.Name()]
		if !present {
			t.Fatalf("row %s: the decoded record has no field %s", id, f.Name())
		}
		v, ok := src[f.Name()]
		if !ok {
			v = json.RawMessage("null")
		}
		if compareValue(t, fieldPath{id, f.Name()}, f.Type(), v, g) {
			extra[f.Name()] = string(v)
		}
	}
	// A generic decoder names the union branch it took.
	union, _ := got[unknownField].(map[string]any)
	ap, _ := union["map"].(map[string]any)
	if len(extra) == 0 && got[unknownField] != nil {
		t.Fatalf("row %s: %s %v, want null", id, unknownField, got[unknownField])
	}
	if len(ap) != len(extra) {
		t.Fatalf("row %s: %s %v, want %v", id, unknownField, ap, extra)
	}
	for k, v := range extra {
		var a, b any
		_ = json.Unmarshal([]byte(v), &a)
		s, _ := ap[k].(string)
		if err := json.Unmarshal([]byte(s), &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("row %s: %s[%s] = %q, want %s", id, unknownField, k, s, v)
		}
	}
}

// fieldPath names a field of a row in a failure, built only then.
type fieldPath struct{ row, field string }

func (p fieldPath) String() string          { return "row " + p.row + ": " + p.field }
func (p fieldPath) in(sub string) fieldPath { return fieldPath{p.row, p.field + sub} }

func schemaField(r *avro.RecordSchema, name string) *avro.Field {
	for _, f := range r.Fields() {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// compareValue checks the decoded value g of a field of type s against the
// JSON v the simulator served for it, failing the test with what, and
// reports whether v holds properties the schema does not define (the
// producer then keeps v in additionalProperties as well).
func compareValue(t testing.TB, what fieldPath, s avro.Schema, v json.RawMessage, g any) (extra bool) {
	// No t.Helper: it is called for every field of every record, and
	// what names the field that failed.
	null := string(v) == "null"
	switch s := s.(type) {
	case *avro.UnionSchema:
		var branch avro.Schema
		for _, b := range s.Types() {
			if b.Type() != avro.Null {
				branch = b
			}
		}
		if null {
			if g != nil {
				t.Fatalf("%s: got %v, want null", what, g)
			}
			return false
		}
		if m, ok := g.(map[string]any); ok && len(m) == 1 {
			// A generic decoder names the branch of a complex type.
			switch branch.(type) {
			case *avro.ArraySchema, *avro.MapSchema, *avro.RecordSchema:
				for _, inner := range m {
					g = inner
				}
			}
		}
		return compareValue(t, what, branch, v, g)
	case *avro.PrimitiveSchema:
		if null {
			t.Fatalf("%s: the simulator sent null for a non-nullable field", what)
		}
		var want any
		switch {
		case s.Logical() != nil && s.Logical().Type() == avro.TimestampMillis:
			var str string
			if err := json.Unmarshal(v, &str); err != nil {
				t.Fatalf("%s: simulator sent %s: %v", what, v, err)
			}
			ts, err := time.Parse(time.RFC3339Nano, str)
			if err != nil {
				t.Fatalf("%s: simulator sent %s: %v", what, str, err)
			}
			if ts.Year() == 1 { // Graph's "no value"
				if g != nil {
					t.Fatalf("%s: got %v for Graph's 0001-01-01, want null", what, g)
				}
				return false
			}
			gt, ok := g.(time.Time)
			if want := ts.UTC().Truncate(time.Millisecond); !ok || !gt.Equal(want) {
				t.Fatalf("%s: got %v (%T), want %v", what, g, g, want)
			}
			return false
		case s.Logical() != nil && s.Logical().Type() == avro.Decimal:
			want, ok := new(big.Rat).SetString(string(v))
			gr, isRat := g.(*big.Rat)
			if !ok || !isRat || gr.Cmp(want) != 0 {
				t.Fatalf("%s: got %v (%T), want exactly %s", what, g, g, v)
			}
			return false
		case s.Type() == avro.Int:
			var n int
			if err := json.Unmarshal(v, &n); err != nil {
				t.Fatalf("%s: simulator sent %s: %v", what, v, err)
			}
			want = n
		case s.Type() == avro.Long:
			var n int64
			if err := json.Unmarshal(v, &n); err != nil {
				t.Fatalf("%s: simulator sent %s: %v", what, v, err)
			}
			want = n
		default: // string, boolean, double
			if err := json.Unmarshal(v, &want); err != nil {
				t.Fatalf("%s: simulator sent %s: %v", what, v, err)
			}
		}
		if !reflect.DeepEqual(g, want) {
			t.Fatalf("%s: got %v (%T), want %v (%T)", what, g, g, want, want)
		}
		return false
	case *avro.ArraySchema:
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			t.Fatalf("%s: simulator sent %s: %v", what, v, err)
		}
		gs, ok := g.([]any)
		if !ok || len(gs) != len(items) {
			t.Fatalf("%s: got %v, want %s", what, g, v)
		}
		for i, item := range items {
			extra = compareValue(t, what.in("["+strconv.Itoa(i)+"]"), s.Items(), item, gs[i]) || extra
		}
		return extra
	case *avro.RecordSchema:
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); err != nil {
			t.Fatalf("%s: simulator sent %s: %v", what, v, err)
		}
		gm, ok := g.(map[string]any)
		if !ok {
			t.Fatalf("%s: got %v (%T), want a record", what, g, g)
		}
		for k := range obj {
			extra = extra || schemaField(s, k) == nil
		}
		for _, f := range s.Fields() {
			fv, ok := obj[f.Name()]
			if !ok {
				fv = json.RawMessage("null")
			}
			extra = compareValue(t, what.in("."+f.Name()), f.Type(), fv, gm[f.Name()]) || extra
		}
		return extra
	}
	t.Fatalf("%s: the check does not know the schema type %s", what, s.Type())
	return false
}
