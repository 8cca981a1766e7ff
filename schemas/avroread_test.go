package schemas

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestDecodeMatchesHamba holds the table-driven reader to hamba's, the
// reader it replaced: for every source and version, the seed row's record,
// and that record with one byte changed (a fixed random sample), read the
// same with both wherever the table-driven reader accepts them. (It may
// refuse what hamba lets through, e.g. an int that overflows 32 bits,
// which hamba wraps.)
func TestDecodeMatchesHamba(t *testing.T) {
	for _, sc := range allSourceCodecs() {
		for ver, v := range sc.versions {
			row, err := sc.parse(seedRaw(t, sc, ver), ver)
			if err != nil {
				t.Fatal(err)
			}
			data := sc.appendRow(row, ver, nil)
			accepted := 0
			check := func(data []byte) {
				got, err := sc.decode(data, ver)
				if err != nil {
					return
				}
				accepted++
				want, herr := sc.hambaDecode(data, ver)
				if herr != nil {
					t.Errorf("%s %s: read %x, which hamba refuses: %v", sc.source, v.version, data, herr)
					return
				}
				for _, d := range diffRowValues(got, want) {
					t.Errorf("%s %s: %x: %s", sc.source, v.version, data, d)
				}
			}
			check(data)
			if accepted != 1 {
				t.Fatalf("%s %s: the seed row's record was refused", sc.source, v.version)
			}
			rng := rand.New(rand.NewPCG(uint64(len(data)), uint64(ver)))
			for range 400 {
				m := bytes.Clone(data)
				m[rng.IntN(len(m))] = byte(rng.Uint32())
				check(m)
			}
		}
	}
}

// TestDecodeRejectsHostileRecords checks the reader's own checks, which
// hamba made before: each record below is refused with an error that says
// why, without reading past data or allocating what a count claims.
func TestDecodeRejectsHostileRecords(t *testing.T) {
	// drV1 is a v1.0 Direct Routing record with id "i", correlationId "c"
	// and the given encodings for the 21 fields after them (userId ...
	// additionalProperties, tenantId), null (0x00) where none is given.
	drV1 := func(fields map[int][]byte) []byte {
		out := []byte{2, 'i', 2, 'c'}
		for i := range 21 {
			if b, ok := fields[i]; ok {
				out = append(out, b...)
			} else {
				out = append(out, 0)
			}
		}
		return out
	}
	const duration, successfulCall, additionalProperties = 7, 9, 19
	var row DirectRoutingLogRow
	if err := DecodeDirectRoutingRow(drV1(nil), &row); err != nil || row.ID != "i" || row.CorrelationID != "c" {
		t.Fatalf("the all-null record: %v, %+v", err, row)
	}
	// hamba's default map form: a negative count, then the block's size.
	if err := DecodeDirectRoutingRow(drV1(map[int][]byte{additionalProperties: {2, 1, 8, 2, 'k', 2, 'v', 0}}), &row); err != nil || row.AdditionalProperties["k"] != "v" {
		t.Errorf("a map block with a size header: %v, %v", err, row.AdditionalProperties)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"negative string length", []byte{1, 'i'}, "id: negative length -1"},
		{"string past the end", []byte{100, 'i'}, "truncated record: id"},
		{"varint longer than a long", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, make([]byte, 40)...), "id: varint longer than a long"},
		{"union branch 2", drV1(map[int][]byte{0: {4}}), "userId: union branch 2 of 2"},
		{"negative union branch", drV1(map[int][]byte{0: {1}}), "userId: union branch -1 of 2"},
		{"boolean byte 2", drV1(map[int][]byte{successfulCall: {2, 2}}), "successfulCall: boolean byte 2"},
		{"int beyond int32", drV1(map[int][]byte{duration: {2, 0x80, 0x80, 0x80, 0x80, 0x10}}), "duration: int 2147483648 out of range"},
		{"map count past the end", drV1(map[int][]byte{additionalProperties: {2, 0xfe, 0xff, 0xff, 0xff, 0x0f}}), "truncated record: additionalProperties"},
		{"map count of MinInt64", drV1(map[int][]byte{additionalProperties: {2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}}), "additionalProperties: block count out of range"},
	} {
		row := DirectRoutingLogRow{ID: "old"}
		err := DecodeDirectRoutingRow(tc.data, &row)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "decode avro row: ") {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
		if strings.Contains(tc.want, "truncated") && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v does not wrap io.ErrUnexpectedEOF", tc.name, err)
		}
		if row.ID != "old" {
			t.Errorf("%s: the failed decode changed the row", tc.name)
		}
	}
}

// TestFieldTableMustMatchStruct checks that a field table that does not
// describe its row struct fails when the codec is built, never on a row:
// the table carries no offsets, so resolveRecord is what ties it to the
// struct.
func TestFieldTableMustMatchStruct(t *testing.T) {
	type row struct {
		ID    string            `avro:"id"`
		N     *int32            `avro:"n"`
		Props map[string]string `avro:"additionalProperties"`
	}
	ok := []recordField{{"id", kString, 0}, {"n", kOptInt, 0}, {"additionalProperties", kUnknown, 0}}
	props := propertySet{id: func(name string) int { return slices.Index([]string{"id", "n", "m"}, name) }, count: 3}
	resolve := func(table []recordField, id string) (err any) {
		defer func() { err = recover() }()
		resolveRecord(reflect.TypeFor[row](), table, 1, id, props)
		return nil
	}
	if err := resolve(ok, "id"); err != nil {
		t.Fatalf("a matching table: %v", err)
	}
	for name, tc := range map[string]struct {
		table []recordField
		id    string
	}{
		"wrong kind":           {[]recordField{{"id", kString, 0}, {"n", kOptLong, 0}, {"additionalProperties", kUnknown, 0}}, "id"},
		"unknown field":        {[]recordField{{"id", kString, 0}, {"m", kOptInt, 0}, {"additionalProperties", kUnknown, 0}}, "id"},
		"missing field":        {[]recordField{{"id", kString, 0}, {"additionalProperties", kUnknown, 0}}, "id"},
		"no unknown map":       {[]recordField{{"id", kString, 0}, {"n", kOptInt, 0}}, "id"},
		"version out of range": {[]recordField{{"id", kString, 0}, {"n", kOptInt, 1}, {"additionalProperties", kUnknown, 0}}, "id"},
		"id not a string":      {ok, "n"},
	} {
		if err := resolve(tc.table, tc.id); err == nil {
			t.Errorf("%s: resolveRecord accepted the table", name)
		}
	}
}
