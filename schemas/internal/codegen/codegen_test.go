package codegen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGoName(t *testing.T) {
	for prop, want := range map[string]string{
		"id": "ID", "correlationId": "CorrelationID", "userPrincipalName": "UserPrincipalName", "callId": "CallID",
	} {
		if got := goName(prop, nil); got != want {
			t.Errorf("goName(%q) = %q, want %q", prop, got, want)
		}
	}
	if got := goName("clientLocalIpV4Address", map[string]string{"clientLocalIpV4Address": "ClientLocalIPv4Address"}); got != "ClientLocalIPv4Address" {
		t.Errorf("override ignored: %q", got)
	}
}

// TestGeneratorRefuses checks that what the generator cannot generate
// correctly is an error naming the problem, never code that compiles and
// does something else.
func TestGeneratorRefuses(t *testing.T) {
	const okFields = `{"name": "id", "type": "string"},
		{"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}], "default": null}`
	record := func(fields string) string {
		return `{"type": "record", "name": "R", "namespace": "t", "fields": [` + fields + `]}`
	}
	const annotation = `{"source": "s", "prefix": "r", "schemaFunc": "R", "funcName": "R", "doc": "is a row.",
		"versions": [{"version": "v1.0", "avsc": "R.avsc"}, {"version": "beta", "avsc": "R.beta.avsc", "suffix": "Beta"}],
		"identity": ["id"], "id": "id", "key": ["id"], "unknown": "additionalProperties"}`
	// An aggregate: no id, every grouping property in the key.
	const aggFields = `{"name": "g", "type": ["null", "string"]}, {"name": "h", "type": ["null", "string"]},
		{"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}], "default": null}`
	const aggregate = `{"source": "s", "prefix": "r", "schemaFunc": "R", "funcName": "R", "doc": "is a row.",
		"versions": [{"version": "v1.0", "avsc": "R.avsc"}, {"version": "beta", "avsc": "R.beta.avsc", "suffix": "Beta"}],
		"aggregate": true, "identity": ["g", "h"], "key": ["g", "h"], "unknown": "additionalProperties"}`
	for _, c := range []struct{ name, v1, beta, annotation, want string }{
		{"ok", okFields, okFields, annotation, ""},
		{"decimal scale", okFields + `, {"name": "c", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}]}`, "", "", "decimal(18,2)"},
		{"nested record", okFields + `, {"name": "r", "type": ["null", {"type": "record", "name": "N", "fields": []}]}`, "", "", "field r"},
		{"record array without codec", okFields + `, {"name": "r", "type": ["null", {"type": "array", "items": {"type": "record", "name": "N", "fields": []}}]}`, "", "", "no codec for that record"},
		{"required int", okFields + `, {"name": "n", "type": "int"}`, "", "", "non-nullable type int"},
		{"three-branch union", okFields + `, {"name": "n", "type": ["null", "int", "string"]}`, "", "", "field n"},
		{"beta drops a field", okFields + `, {"name": "a", "type": ["null", "string"]}`, okFields, "", "field a of an earlier version is missing"},
		{"beta reorders", `{"name": "id", "type": "string"}, {"name": "a", "type": ["null", "string"]}, {"name": "b", "type": ["null", "string"]}, {"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}]}`,
			`{"name": "id", "type": "string"}, {"name": "b", "type": ["null", "string"]}, {"name": "a", "type": ["null", "string"]}, {"name": "additionalProperties", "type": ["null", {"type": "map", "values": "string"}]}`, "", "orders its fields differently"},
		{"type changes", okFields + `, {"name": "a", "type": ["null", "string"]}`, okFields + `, {"name": "a", "type": ["null", "int"]}`, "", "type changed"},
		{"key not identity", okFields + `, {"name": "k", "type": ["null", "string"]}`, "", strings.Replace(annotation, `"key": ["id"]`, `"key": ["k", "id"]`, 1), "key property k"},
		{"field named key", okFields + `, {"name": "key", "type": ["null", "string"]}`, "", "", "Key method"},
		{"aggregate", aggFields, "", aggregate, ""},
		{"aggregate with an id", okFields, "", strings.Replace(annotation, `"id": "id"`, `"aggregate": true, "id": "id"`, 1), "only then) id"},
		{"log without an id", okFields, "", strings.Replace(annotation, `"id": "id",`, ``, 1), "only then) id"},
		{"aggregate groups by a non-identity", aggFields, "", strings.Replace(aggregate, `"identity": ["g", "h"]`, `"identity": ["g"]`, 1), "grouping property h"},
		{"aggregate groups by an int", aggFields + `, {"name": "n", "type": ["null", "int"]}`, "", strings.Replace(aggregate, `"h"]`, `"n"]`, 2), "identity property n must be a string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			beta := c.beta
			if beta == "" {
				beta = c.v1
			}
			ann := c.annotation
			if ann == "" {
				ann = annotation
			}
			for name, text := range map[string]string{"R.avsc": record(c.v1), "R.beta.avsc": record(beta), "R.codec.json": ann} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			files, err := Generate(dir)
			if c.want == "" {
				if err != nil || files["R_gen.go"] == nil {
					t.Fatalf("Generate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Generate = %v, want an error containing %q", err, c.want)
			}
		})
	}
}
