package codegen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/callstream/callstream/sources"
)

// A source of Kind Records (Teams call records) is nested — record →
// sessions → segments → endpoints, media → streams — which the flat row
// type and field table the generator emits cannot describe. Its codec is
// hand-written in package schemas and driven by the schema itself (the
// encoder tree it builds from the parsed .avsc at init), so the generator
// emits no file for it: it checks that the .avsc agrees with the registry
// entry and lists the hand-written codec, named by the same rule as a
// generated one (<Prefix>Codec, e.g. callRecordsCodec), in sourceCodecs.

// Record-source field types, as the .avsc spells them (compared as parsed
// JSON, so spacing does not matter).
var (
	requiredStringType = `"string"`
	optStringType      = `["null", "string"]`
	requiredLongType   = `"long"`
	optTimestampType   = `["null", {"type": "long", "logicalType": "timestamp-millis"}]`
	unknownMapType     = `["null", {"type": "map", "values": "string"}]`
)

// checkRecords checks a Records entry's .avsc in dir against the entry:
// one version (the hand-written codec reads v1.0 only), the entry's
// Record as the top-level record's name, IDProperty a required string,
// KeyProperty a string, VersionProperty a required long, TimeProperty a
// nullable timestamp-millis, an additionalProperties map and tenantId
// last.
func checkRecords(a Annotation, src sources.Source, dir string) error {
	if len(a.Versions) != 1 || a.Versions[0].Version != sources.V1 {
		return fmt.Errorf("%s: a Records source is read in %s only (its codec is hand-written for that schema)", a.origin, sources.V1)
	}
	if src.IDProperty == "" || src.KeyProperty == "" || src.VersionProperty == "" || src.TimeProperty == "" {
		return fmt.Errorf("%s: a Records source needs an IDProperty, a KeyProperty, a VersionProperty and a TimeProperty", a.origin)
	}
	if len(src.GroupBy) != 0 {
		return fmt.Errorf("%s: GroupBy is for an aggregate only", a.origin)
	}
	file := a.Versions[0].Avsc
	text, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return fmt.Errorf("%s: %w", a.origin, err)
	}
	var rec avscRecord
	if err := json.Unmarshal(text, &rec); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if rec.Type != "record" {
		return fmt.Errorf("%s: top-level type %q, want record", file, rec.Type)
	}
	if rec.Name != src.Record {
		return fmt.Errorf("%s: %s holds record %s, the entry's Record is %s", a.origin, file, rec.Name, src.Record)
	}
	byName := map[string]avscField{}
	for _, f := range rec.Fields {
		byName[f.Name] = f
	}
	for _, want := range []struct{ role, name, types string }{
		{"IDProperty", src.IDProperty, requiredStringType},
		{"KeyProperty", src.KeyProperty, requiredStringType},
		{"VersionProperty", src.VersionProperty, requiredLongType},
		{"TimeProperty", src.TimeProperty, optTimestampType},
		{"the unknown-properties field", unknownField, unknownMapType},
	} {
		f, ok := byName[want.name]
		if !ok {
			return fmt.Errorf("%s: %s %s is not in the schema", file, want.role, want.name)
		}
		if !sameJSON(f.Type, want.types) {
			return fmt.Errorf("%s: %s %s has type %s, want %s", file, want.role, want.name, f.Type, want.types)
		}
	}
	if n := len(rec.Fields); n == 0 || rec.Fields[n-1].Name != tenantField || !sameJSON(rec.Fields[n-1].Type, optStringType) {
		return fmt.Errorf("%s: the last field must be %s, %s (every source's names the tenant its rows were read from there)", file, tenantField, optStringType)
	}
	return nil
}

// sameJSON reports whether the JSON texts a and b hold the same value.
func sameJSON(a json.RawMessage, b string) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal([]byte(b), &vb) == nil && reflect.DeepEqual(va, vb)
}
