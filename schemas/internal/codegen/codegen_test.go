package codegen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstream/callstream/sources"
)

func TestGoName(t *testing.T) {
	for prop, want := range map[string]string{
		"id": "ID", "correlationId": "CorrelationID", "userPrincipalName": "UserPrincipalName", "callId": "CallID",
		"clientLocalIpV4Address": "ClientLocalIPv4Address", "clientPublicIpV6Address": "ClientPublicIPv6Address",
	} {
		if got := goName(prop); got != want {
			t.Errorf("goName(%q) = %q, want %q", prop, got, want)
		}
	}
}

// TestDerivedNames pins the Go names derive gives the registered sources:
// they are exported API.
func TestDerivedNames(t *testing.T) {
	want := map[string][3]string{ // prefix, schemaFunc, funcName
		"direct-routing":     {"directRouting", "DirectRouting", "DirectRoutingRow"},
		"pstn":               {"pstn", "Pstn", "PstnCallRow"},
		"sms":                {"sms", "Sms", "SmsRow"},
		"pstn-blocked-users": {"pstnBlockedUsers", "PstnBlockedUsers", "PstnBlockedUsersRow"},
		"pstn-dialout":       {"pstnDialout", "PstnDialout", "PstnDialoutRow"},
	}
	for _, src := range sources.All() {
		a, _, err := derive(src)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[src.Name]
		if !ok {
			continue // a new source: its names follow the rule
		}
		if got := [3]string{a.Prefix, a.SchemaFunc, a.FuncName}; got != w {
			t.Errorf("%s: names %q, want %q", src.Name, got, w)
		}
	}
}

// TestGeneratorRefuses checks that what the generator cannot generate
// correctly is an error naming the problem, never code that compiles and
// does something else.
func TestGeneratorRefuses(t *testing.T) {
	const okFields = `{"name": "id", "type": "string"},
		{"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}], "default": null}`
	// record appends the tenant field every production schema ends with,
	// unless fields names it already or starts with "!" (no tenant field).
	record := func(fields string) string {
		if f, ok := strings.CutPrefix(fields, "!"); ok {
			fields = f
		} else if !strings.Contains(fields, `"tenantId"`) {
			fields += `, {"name": "tenantId", "type": ["null", "string"], "default": null}`
		}
		return `{"type": "record", "name": "R", "namespace": "t", "fields": [` + fields + `]}`
	}
	entry := sources.Source{Name: "s", Title: "S", Kind: sources.Log, Function: "getR", Versions: []string{sources.V1, sources.Beta},
		Record: "R", IDProperty: "id", KeyProperty: "id"}
	with := func(change func(*sources.Source)) sources.Source {
		s := entry
		change(&s)
		return s
	}
	// An aggregate: no id, every grouping property in the key.
	const aggFields = `{"name": "g", "type": ["null", "string"]}, {"name": "h", "type": ["null", "string"]},
		{"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}], "default": null}`
	aggregate := with(func(s *sources.Source) {
		s.Kind, s.IDProperty, s.KeyProperty, s.GroupBy = sources.Aggregate, "", "g", []string{"g", "h"}
	})
	for _, c := range []struct {
		name, v1, beta string
		entry          *sources.Source
		want           string
	}{
		{"ok", okFields, okFields, nil, ""},
		{"decimal scale", okFields + `, {"name": "c", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}]}`, "", nil, "decimal(18,2)"},
		{"nested record", okFields + `, {"name": "r", "type": ["null", {"type": "record", "name": "N", "fields": []}]}`, "", nil, "field r"},
		{"record array without codec", okFields + `, {"name": "r", "type": ["null", {"type": "array", "items": {"type": "record", "name": "N", "fields": []}}]}`, "", nil, "no codec for that record"},
		{"required int", okFields + `, {"name": "n", "type": "int"}`, "", nil, "non-nullable type int"},
		{"three-branch union", okFields + `, {"name": "n", "type": ["null", "int", "string"]}`, "", nil, "field n"},
		{"beta drops a field", okFields + `, {"name": "a", "type": ["null", "string"]}`, okFields, nil, "field a of an earlier version is missing"},
		{"beta reorders", `{"name": "id", "type": "string"}, {"name": "a", "type": ["null", "string"]}, {"name": "b", "type": ["null", "string"]}, {"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}]}`,
			`{"name": "id", "type": "string"}, {"name": "b", "type": ["null", "string"]}, {"name": "a", "type": ["null", "string"]}, {"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}]}`, nil, "orders its fields differently"},
		{"type changes", okFields + `, {"name": "a", "type": ["null", "string"]}`, okFields + `, {"name": "a", "type": ["null", "int"]}`, nil, "type changed"},
		{"nullable key falls back to the id", okFields + `, {"name": "k", "type": ["null", "string"]}`, "", ptr(with(func(s *sources.Source) { s.KeyProperty = "k" })), ""},
		{"key not a string", okFields + `, {"name": "k", "type": ["null", "int"]}`, "", ptr(with(func(s *sources.Source) { s.KeyProperty = "k" })), "identity property k must be a string"},
		{"key not in the schema", okFields, "", ptr(with(func(s *sources.Source) { s.KeyProperty = "k" })), "KeyProperty k is not in the schema"},
		{"id not required", okFields + `, {"name": "k", "type": ["null", "string"]}`, "", ptr(with(func(s *sources.Source) { s.IDProperty = "k" })), "id property k must be a required string"},
		{"no unknown-properties field", `{"name": "id", "type": "string"}`, "", nil, "no additionalProperties field"},
		{"field named key", okFields + `, {"name": "key", "type": ["null", "string"]}`, "", nil, "Key method"},
		{"record name differs", okFields, "", ptr(with(func(s *sources.Source) { s.Record = "Q" })), "Q.avsc"},
		{"unknown version", okFields, "", ptr(with(func(s *sources.Source) { s.Versions = []string{"v2"} })), `version "v2"`},
		{"avsc without an entry", okFields, "", ptr(with(func(s *sources.Source) { s.Versions = []string{sources.V1} })), "R.beta.avsc: no entry"},
		{"records kind in beta", okFields, "", ptr(with(func(s *sources.Source) { s.Kind, s.VersionProperty, s.TimeProperty = sources.Records, "id", "id" })), "read in v1.0 only"},
		{"aggregate", aggFields, "", &aggregate, ""},
		{"no tenant field", "!" + okFields, "", nil, "R.avsc: the last field must be tenantId"},
		{"only beta has the tenant field", "!" + okFields, okFields, nil, "R.avsc: the last field must be tenantId"},
		{"tenant field not last", `{"name": "id", "type": "string"}, {"name": "tenantId", "type": ["null", "string"]}, {"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}]}`, "", nil, "the last field must be tenantId"},
		{"tenant field not a string", okFields + `, {"name": "tenantId", "type": ["null", "long"]}`, "", nil, "tenant field must be a nullable string"},
		{"aggregate with an id", aggFields, "", ptr(with(func(s *sources.Source) { *s = aggregate; s.IDProperty = "g" })), "no IDProperty"},
		{"aggregate without grouping", aggFields, "", ptr(with(func(s *sources.Source) { *s = aggregate; s.GroupBy = nil })), "has GroupBy"},
		{"log with grouping", okFields, "", ptr(with(func(s *sources.Source) { s.GroupBy = []string{"id"} })), "aggregate only"},
		{"aggregate groups by an int", aggFields + `, {"name": "n", "type": ["null", "int"]}`, "", ptr(with(func(s *sources.Source) { *s = aggregate; s.GroupBy = []string{"g", "n"} })), "identity property n must be a string"},
		{"aggregate groups by a required string", okFields + `, {"name": "g", "type": ["null", "string"]}`, "", ptr(with(func(s *sources.Source) { *s = aggregate; s.GroupBy = []string{"g", "id"} })), "grouping property id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			beta := c.beta
			if beta == "" {
				beta = c.v1
			}
			src := entry
			if c.entry != nil {
				src = *c.entry
			}
			for name, text := range map[string]string{"R.avsc": record(c.v1), "R.beta.avsc": record(beta)} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			files, err := generate(dir, []sources.Source{src})
			if c.want == "" {
				if err != nil || files["R_gen.go"] == nil {
					t.Fatalf("Generate: %v", err)
				}
				// The tenant is callstream's, not a Graph property: the
				// shared property switch must not know its name.
				if idx := string(files["codecs_gen.go"]); !strings.Contains(idx, "switch name") || strings.Contains(idx, `"tenantId"`) {
					t.Errorf("codecs_gen.go's property switch names tenantId:\n%s", idx)
				}
				if !strings.Contains(string(files["R_gen.go"]), `{"tenantId", kTenant, 0}`) {
					t.Errorf("R_gen.go has no kTenant field table entry:\n%s", files["R_gen.go"])
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Generate = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestGeneratorRecords checks the generator's handling of a Records source
// (call records), whose codec is hand-written: it emits no file, lists the
// codec by the naming rule, and refuses a schema that disagrees with the
// entry.
func TestGeneratorRecords(t *testing.T) {
	const (
		id      = `{"name": "id", "type": "string"}`
		version = `{"name": "version", "type": "long"}`
		start   = `{"name": "startDateTime", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": null}`
		unknown = `{"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}], "default": null}`
		tenant  = `{"name": "tenantId", "type": ["null", "string"], "default": null}`
		nested  = `{"name": "sessions", "type": ["null", {"type": "array", "items": {"type": "record", "name": "S", "fields": []}}], "default": null}`
	)
	entry := sources.Source{Name: "call-recs", Title: "C", Kind: sources.Records, Function: "callRecords", Versions: []string{sources.V1},
		Record: "C", IDProperty: "id", KeyProperty: "id", VersionProperty: "version", TimeProperty: "startDateTime"}
	record := func(name string, fields ...string) string {
		return `{"type": "record", "name": "` + name + `", "namespace": "t", "fields": [` + strings.Join(fields, ",") + `]}`
	}
	for _, c := range []struct {
		name, avsc string
		change     func(*sources.Source)
		want       string
	}{
		{"ok", record("C", id, version, start, nested, unknown, tenant), nil, ""},
		{"record name differs", record("D", id, version, start, unknown, tenant), nil, "the entry's Record is C"},
		{"no version", record("C", id, start, unknown, tenant), nil, "VersionProperty version is not in the schema"},
		{"version nullable", record("C", id, `{"name": "version", "type": ["null", "long"]}`, start, unknown, tenant), nil, "VersionProperty version has type"},
		{"id nullable", record("C", `{"name": "id", "type": ["null", "string"]}`, version, start, unknown, tenant), nil, "IDProperty id has type"},
		{"time not a timestamp", record("C", id, version, `{"name": "startDateTime", "type": ["null", "string"]}`, unknown, tenant), nil, "TimeProperty startDateTime"},
		{"no unknown map", record("C", id, version, start, tenant), nil, "additionalProperties is not in the schema"},
		{"tenant not last", record("C", id, version, start, tenant, unknown), nil, "the last field must be tenantId"},
		{"no version property", record("C", id, version, start, unknown, tenant), func(s *sources.Source) { s.VersionProperty = "" }, "needs an IDProperty, a KeyProperty, a VersionProperty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "C.avsc"), []byte(c.avsc), 0o644); err != nil {
				t.Fatal(err)
			}
			src := entry
			if c.change != nil {
				c.change(&src)
			}
			files, err := generate(dir, []sources.Source{src})
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("Generate = %v, want an error containing %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if _, ok := files["C_gen.go"]; ok {
				t.Errorf("Generate emitted C_gen.go for a Records source, whose codec is hand-written")
			}
			if idx := string(files["codecs_gen.go"]); !strings.Contains(idx, "&callRecsCodec.sourceCodec") {
				t.Errorf("codecs_gen.go does not list callRecsCodec:\n%s", idx)
			}
		})
	}
}
