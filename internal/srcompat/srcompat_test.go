package srcompat

import (
	"strings"
	"testing"
)

func TestCheckIsBackwardCompatibility(t *testing.T) {
	const v1 = `{"type":"record","name":"R","fields":[{"name":"id","type":"string"},{"name":"n","type":"int"}]}`
	cases := []struct {
		name, reader string
		ok           bool
		mention      string
	}{
		{"same", v1, true, ""},
		{"added nullable field with default", `{"type":"record","name":"R","fields":[{"name":"id","type":"string"},{"name":"n","type":"int"},{"name":"x","type":["null","string"],"default":null}]}`, true, ""},
		{"dropped field", `{"type":"record","name":"R","fields":[{"name":"id","type":"string"}]}`, true, ""},
		{"promoted int to long", `{"type":"record","name":"R","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}`, true, ""},
		{"added required field", `{"type":"record","name":"R","fields":[{"name":"id","type":"string"},{"name":"n","type":"int"},{"name":"x","type":"string"}]}`, false, "x"},
		{"narrowed type", `{"type":"record","name":"R","fields":[{"name":"id","type":"long"},{"name":"n","type":"int"}]}`, false, "long not compatible"},
		{"not a schema", `{"type":"record"`, false, "INVALID_SCHEMA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(tc.reader, v1)
			if (got == "") != tc.ok {
				t.Fatalf("Check = %q, want compatible=%v", got, tc.ok)
			}
			if !strings.Contains(got, tc.mention) {
				t.Fatalf("Check = %q, want it to mention %q", got, tc.mention)
			}
		})
	}
}
