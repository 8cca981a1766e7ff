package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
)

// fatalRecorder is a testing.TB whose Fatal and Fatalf record the message
// and stop the check (by panicking), so that a test can see the checker
// fail without failing itself.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}
func (f *fatalRecorder) Fatal(args ...any) { f.msg = fmt.Sprint(args...); panic(f) }

// compareFails runs compareRecord and returns its failure message, "" if
// it passed.
func compareFails(t *testing.T, schema *avro.RecordSchema, raw []byte, got map[string]any) (msg string) {
	rec := &fatalRecorder{TB: t}
	defer func() {
		if r := recover(); r != nil {
			if r != rec {
				panic(r)
			}
			msg = rec.msg
		}
	}()
	compareRecord(rec, "row", schema, raw, got)
	return ""
}

// TestCompareRecordIsNotVacuous shows that the field-by-field check the
// end-to-end tests rely on (compareRecord) passes a correct record and
// catches each kind of wrong one, for every Log source and version: a
// record produced from a simulated row by the source's codec, decoded
// generically, must pass; altered copies of it must each be reported.
func TestCompareRecordIsNotVacuous(t *testing.T) {
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	sim, err := graphsim.New(graphsim.Config{Token: "x", Seed: 7, Start: from, End: from.Add(12 * time.Hour), RowsPerHour: 600, ExtraProperty: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range logSources("") {
		for _, version := range src.Versions {
			t.Run(src.Name+"/"+version, func(t *testing.T) {
				codec, err := schemas.For(src.Name, version)
				if err != nil {
					t.Fatal(err)
				}
				schema := codec.Schema().(*avro.RecordSchema)
				kinds := map[string]bool{}
				// A couple of hundred rows show every kind of value;
				// rendering more costs time.
				var rows []graphsim.Row
				for h := from; len(rows) < 200 && h.Before(from.Add(12*time.Hour)); h = h.Add(time.Hour) {
					rows = append(rows, simRows(t, sim, src, h, h.Add(time.Hour))...)
				}
				for _, r := range rows[:min(len(rows), 200)] {
					raw := served(r, version)
					_, _, value, err := codec.Encode(raw, nil)
					if err != nil {
						continue // a malformed row: dead-lettered, never compared
					}
					decode := func() map[string]any {
						var got map[string]any
						if err := avro.Unmarshal(schema, value, &got); err != nil {
							t.Fatal(err)
						}
						return got
					}
					var props map[string]json.RawMessage
					if err := json.Unmarshal(raw, &props); err != nil {
						t.Fatal(err)
					}
					// Alter each field the row has a value for, once per
					// kind of value.
					base := decode()
					if msg := compareFails(t, schema, raw, base); msg != "" {
						t.Fatalf("a correct record was reported: %s\n%s", msg, raw)
					}
					for _, f := range schema.Fields() {
						got := maps.Clone(base) // alterations replace a field, never change one in place
						var kind string
						switch v := got[f.Name()].(type) {
						case string:
							kind, got[f.Name()] = "a changed string", v+"x"
						case int:
							kind, got[f.Name()] = "a changed int", v+1
						case bool:
							kind, got[f.Name()] = "a flipped boolean", !v
						case time.Time:
							kind, got[f.Name()] = "a timestamp 1 ms late", v.Add(time.Millisecond)
						case *big.Rat:
							kind, got[f.Name()] = "a decimal off by a millionth", new(big.Rat).Add(v, big.NewRat(1, 1e6))
						case map[string]any:
							if f.Name() == unknownField {
								kind, got[f.Name()] = "a lost extra property", nil
							} else {
								kind, got[f.Name()] = "a list item dropped", map[string]any{"array": []any{}}
								if items, _ := v["array"].([]any); len(items) == 0 {
									kind, got[f.Name()] = "a list item added", map[string]any{"array": []any{map[string]any{"id": nil}}}
								}
							}
						case nil:
							if string(props[f.Name()]) == "null" || props[f.Name()] == nil {
								kind, got[f.Name()] = "a value for a null", "x"
							}
						}
						if kind == "" || kinds[kind+f.Name()] {
							continue
						}
						kinds[kind+f.Name()] = true
						if compareFails(t, schema, raw, got) == "" {
							t.Errorf("the check missed %s in %s", kind, f.Name())
						}
					}
				}
				for _, must := range []string{"a changed string", "a timestamp 1 ms late", "a value for a null"} {
					found := false
					for k := range kinds {
						found = found || len(k) > len(must) && k[:len(must)] == must
					}
					if !found {
						t.Errorf("no row of the data set let the test try %s", must)
					}
				}
				t.Logf("%d alterations caught", len(kinds))
			})
		}
	}
}
