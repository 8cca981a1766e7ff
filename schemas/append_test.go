package schemas

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestAppendMatchesHamba holds the generated writers to hamba's bytes,
// for every source (and the test-only wide schema) and every version, over the values at the edges of each
// type: the seed rows, null and empty everything, extreme integers and
// decimals, timestamps before 1970 and below a millisecond, and maps and
// arrays long enough to need several blocks (maps, written in Go's
// iteration order, are compared decoded).
func TestAppendMatchesHamba(t *testing.T) {
	str := func(s string) *string { return &s }
	i32 := func(v int32) *int32 { return &v }
	tm := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	dec := func(unscaled int64) *Decimal {
		d, err := DecimalFromUnscaled(unscaled)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	yes, no := true, false
	manyProps := map[string]string{}
	for i := range 250 {
		manyProps[fmt.Sprintf("p%03d", i)] = fmt.Sprintf(`"%d"`, i)
	}
	manyUnits := make([]AdministrativeUnitInfo, 201)
	for i := range manyUnits {
		if i%3 != 0 {
			manyUnits[i].ID = str(fmt.Sprint(i))
		}
	}

	seed := seedRowBeta()
	drRows := []DirectRoutingLogRow{
		seed,
		{ID: "i", CorrelationID: "c"},
		{ID: "i", CorrelationID: "", UserID: str(""), AdditionalProperties: map[string]string{}, AdministrativeUnitInfos: []AdministrativeUnitInfo{}},
		{ID: "é😀", CorrelationID: "c", Duration: i32(math.MinInt32), FinalSipCode: i32(math.MaxInt32), CallEndSubReason: i32(-1),
			SuccessfulCall: &yes, MediaBypassEnabled: &no,
			StartDateTime: tm("1969-12-31T23:59:59.9999Z"), InviteDateTime: tm("0001-01-02T00:00:00Z"),
			FailureDateTime: tm("9999-12-31T23:59:59.999999999Z"), EndDateTime: tm("1970-01-01T00:00:00.0005Z"),
			AdditionalProperties: map[string]string{"x": `{"a":[1]}`}},
		{ID: "i", CorrelationID: "c", AdditionalProperties: manyProps, AdministrativeUnitInfos: manyUnits, UserCountryCode: str("US")},
		{ID: "i", CorrelationID: "c", AdministrativeUnitInfos: manyUnits[:100]},
	}
	pstnSeed := pstnSeedRow(t)
	pstnRows := []PstnCallLogRow{
		pstnSeed,
		{ID: "i"},
		{ID: "i", Charge: dec(999_999_999_999_999_999), ConnectionCharge: dec(-999_999_999_999_999_999), CallID: str(""), Duration: i32(0)},
		{ID: "i", Charge: dec(-1), ConnectionCharge: dec(128), StartDateTime: tm("1900-06-01T12:00:00.123456Z"),
			AdditionalProperties: manyProps, AdministrativeUnitInfos: manyUnits, ClientLocalIPv6Address: str("::1")},
		{ID: "i", Charge: dec(0), ConnectionCharge: dec(-129), AdministrativeUnitInfos: []AdministrativeUnitInfo{{}}},
	}
	var rows []any
	for i := range drRows {
		rows = append(rows, &drRows[i])
	}
	for i := range pstnRows {
		rows = append(rows, &pstnRows[i])
	}
	rows = append(rows, wideRows(t)...)
	for _, sc := range allSourceCodecs() { // every source's seed rows, parsed
		for ver := range sc.versions {
			row, err := sc.parse(seedRaw(t, sc, ver), ver)
			if err != nil {
				t.Fatalf("%s seed row, version %d: %v", sc.source, ver, err)
			}
			rows = append(rows, row)
		}
	}
	for i, row := range rows {
		sc := codecOfRow(row)
		for ver, v := range sc.versions {
			if sc.setBeyond(row, ver) != "" {
				continue
			}
			got := sc.appendRow(row, ver, []byte("hdr"))
			want, err := appendEncoded([]byte("hdr"), v.schema, sc.hamba(row))
			if err != nil {
				t.Fatal(err)
			}
			props := sc.unknownOf(row)
			compareEncodings(t, fmt.Sprintf("%s row %d %s", sc.source, i, v.version), got, want, len(props) > 1,
				func(b []byte) (any, error) { return sc.decode(b, ver) })
		}
	}
}

// compareEncodings wants got and want byte for byte, or, when map order
// makes the bytes vary, decoding to the same row.
func compareEncodings(t *testing.T, name string, got, want []byte, mapOrder bool, decode func([]byte) (any, error)) {
	t.Helper()
	if !mapOrder {
		if !bytes.Equal(got, want) {
			t.Errorf("%s: hand-written %x\nhamba        %x", name, got, want)
		}
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d bytes, hamba writes %d", name, len(got), len(want))
	}
	g, err := decode(got[3:])
	if err != nil {
		t.Fatalf("%s: decoding the hand-written bytes: %v", name, err)
	}
	w, err := decode(want[3:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: decodes to\n%+v\nhamba's to\n%+v", name, g, w)
	}
}
