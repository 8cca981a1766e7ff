package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/schemas/internal/codegen"
)

// TestGeneratedFilesUpToDate regenerates every codec into memory and fails
// when a committed *_gen.go file differs from it, or when a generated file
// on disk no longer has a source (a registry entry, or a test-only
// annotation under testdata/codegen): the committed code is the sources
// registry's and .avsc files' output, never edited by hand.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := codegen.Generate(".")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%s: %v (run go generate ./schemas)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what its registry entry and .avsc generate: run go generate ./schemas", name)
		}
	}
	onDisk, _ := filepath.Glob("*_gen*.go")
	for _, name := range onDisk {
		if _, ok := files[name]; !ok {
			t.Errorf("%s is not generated from any source: delete it", name)
		}
	}
}

// allSourceCodecs is every generated codec: the production sources and the
// test-only wide schema.
func allSourceCodecs() []*sourceCodec {
	return append(rowSourceCodecs(), &wideCodec.sourceCodec)
}

// rowSourceCodecs is every production codec of flat rows: all but the
// hand-written call-records codec (Records), which has no row type or
// field table and is tested on its own (callrecord_test.go).
func rowSourceCodecs() []*sourceCodec {
	var out []*sourceCodec
	for _, sc := range sourceCodecs {
		if !sc.records {
			out = append(out, sc)
		}
	}
	return out
}

// wideProperties lists the beta WideRow's JSON properties in schema order.
func wideProperties() []string {
	var out []string
	for _, f := range WideBetaSchema().(*avro.RecordSchema).Fields() {
		if f.Name() != "additionalProperties" {
			out = append(out, f.Name())
		}
	}
	return out
}

// wideValue is a JSON value for the wide property name, by the kind its
// name ends with (see testdata/codegen).
func wideValue(name string) string {
	switch {
	case name == "id":
		return `"w-1"`
	case name == "groupKey":
		return `"g"`
	case name == "units":
		return `[{"id": "u"}, {}]`
	}
	switch name[len(name)-1] {
	case 's':
		return `"x\u00e9"`
	case 't':
		return `"2024-01-02T03:04:05.1234567Z"`
	case 'i':
		return `-7`
	case 'l':
		return `9007199254740993`
	case 'b':
		return `true`
	case 'd':
		return `1.5e300`
	case 'm':
		return `12.345678`
	case 'a':
		return `["a", "b\u00e9", ""]`
	}
	panic("wide property of unknown kind: " + name)
}

// wideRaw is a WideRow with every property set, plus one the schema does
// not define.
func wideRaw() string {
	var b strings.Builder
	b.WriteString(`{"odata": {"x": [1, 2]}`)
	for _, name := range wideProperties() {
		fmt.Fprintf(&b, `, %q: %s`, name, wideValue(name))
	}
	return b.String() + "}"
}

// wideRows returns WideRows for the writer tests: full, minimal, with
// empty arrays.
func wideRows(t testing.TB) []any {
	var full WideRow
	if err := ParseWideRowBeta([]byte(wideRaw()), &full); err != nil {
		t.Fatal(err)
	}
	var v1 WideRow
	if err := ParseWideRow([]byte(wideRaw()), &v1); err != nil {
		t.Fatal(err)
	}
	return []any{&full, &v1, &WideRow{ID: "i"}, &WideRow{ID: "i", F07a: []string{}, Units: []AdministrativeUnitInfo{}}}
}

// TestWideRowManyFields checks that every field of a schema with more than
// 128 properties (beyond the seen words a parser holds inline) is parsed,
// written as hamba writes it and read back, and that a repeated property
// is an error at every field index: the duplicate check used to be a
// uint32 mask, which a field index of 32 or more silently escaped.
func TestWideRowManyFields(t *testing.T) {
	props := wideProperties()
	if len(props) <= 128 {
		t.Fatalf("the wide schema has %d properties; it must have more than 128", len(props))
	}
	raw := wideRaw()
	for ver := range wideCodec.versions {
		row, err := wideCodec.parse([]byte(raw), ver)
		if err != nil {
			t.Fatalf("version %d: %v", ver, err)
		}
		w := row.(*WideRow)
		if w.F65t == nil || w.F63a == nil || w.F140d == nil || w.F135s == nil || w.F69d == nil || *w.F69d != 1.5e300 || *w.F62m != (Decimal{unscaled: 12_345_678}) || *w.F67l != 9007199254740993 {
			t.Errorf("version %d: fields above 63 not set: %+v", ver, w)
		}
		inBeta := w.B03l != nil
		if inBeta != (ver == 1) {
			t.Errorf("version %d: beta-only b03l set = %v", ver, inBeta)
		}
		if ver == 0 && w.AdditionalProperties["b03l"] != "9007199254740993" {
			t.Errorf("v1.0 kept b03l as %q", w.AdditionalProperties["b03l"])
		}
		data := wideCodec.appendRow(row, ver, nil)
		back, err := wideCodec.decode(data, ver)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diffRows(back.(*WideRow), w) {
			if !strings.HasSuffix(strings.SplitN(d, ":", 2)[0], "t") { // timestamps differ by the truncation to ms
				t.Errorf("version %d round trip: %s", ver, d)
			}
		}
	}
	for i, name := range props {
		dup := strings.TrimSuffix(raw, "}") + fmt.Sprintf(`, %q: %s}`, name, wideValue(name))
		_, err := wideCodec.parse([]byte(dup), 1)
		var rerr *RowError
		if !errors.As(err, &rerr) || rerr.Field != name || rerr.Reason != "duplicate property" {
			t.Errorf("property %d (%s) twice: %v, want a duplicate property error", i, name, err)
		}
	}
}

// seedRaw returns a full row of sc's source for version ver, from
// testdata (or the wide schema's generated row).
func seedRaw(t *testing.T, sc *sourceCodec, ver int) []byte {
	t.Helper()
	files := map[string][]string{ // by version index
		SourceDirectRouting:    {"seed_row.json", "seed_row_beta.json"},
		SourcePstn:             {"pstn_seed_row.json", "pstn_seed_row_beta.json"},
		SourceSms:              {"sms_seed_row_beta.json"},
		SourcePstnBlockedUsers: {"pstn_blocked_users_seed_row_beta.json"},
		SourcePstnDialout:      {"pstn_dialout_seed_row_beta.json"},
	}
	if sc == &wideCodec.sourceCodec {
		return []byte(wideRaw())
	}
	f, ok := files[sc.source]
	if !ok {
		t.Fatalf("no seed row for source %s: add its testdata files to seedRaw", sc.source)
	}
	b, err := os.ReadFile("testdata/" + f[ver])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEveryCodecDecodesExactly is TestDecodeRejectsTruncatedAndTrailing for
// every generated codec and version: a full row, cut anywhere or with a
// byte added, is an error, and the pooled reader recovers after it.
func TestEveryCodecDecodesExactly(t *testing.T) {
	for _, sc := range allSourceCodecs() {
		for ver, v := range sc.versions {
			row, err := sc.parse(seedRaw(t, sc, ver), ver)
			if err != nil {
				t.Fatalf("%s %s: %v", sc.source, v.version, err)
			}
			data := sc.appendRow(row, ver, nil)
			for n := range len(data) {
				if _, err := sc.decode(data[:n], ver); err == nil {
					t.Errorf("%s %s: accepted the first %d of %d bytes", sc.source, v.version, n, len(data))
				}
			}
			if _, err := sc.decode(append(data[:len(data):len(data)], 0), ver); err == nil {
				t.Errorf("%s %s: accepted a trailing byte", sc.source, v.version)
			}
			back, err := sc.decode(data, ver)
			if err != nil {
				t.Fatalf("%s %s: decode after failures: %v", sc.source, v.version, err)
			}
			if again := sc.appendRow(back, ver, nil); !bytes.Equal(again, data) && len(sc.unknownOf(row)) <= 1 {
				t.Errorf("%s %s: decoded row re-encodes differently", sc.source, v.version)
			}
		}
	}
}
