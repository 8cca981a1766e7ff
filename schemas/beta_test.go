package schemas

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

func seedRowBeta() DirectRoutingLogRow {
	r := seedRow()
	r.UserCountryCode = ptr("US")
	r.OtherPartyCountryCode = ptr("US")
	r.TransferorCorrelationID = ptr("0e2f6b2a-5c0f-4f1e-9d55-2d9b5b7c1a11")
	r.AdministrativeUnitInfos = []AdministrativeUnitInfo{
		{ID: ptr("2a7e4a53-8d1b-4a0c-9f5e-6b2c1d3e4f50")}, {ID: ptr("7c1f0e2d-3b4a-4c5d-8e6f-9a0b1c2d3e4f")},
	}
	return r
}

func TestDirectRoutingBeta(t *testing.T) {
	raw, err := os.ReadFile("testdata/seed_row_beta.json")
	if err != nil {
		t.Fatal(err)
	}
	want := seedRowBeta()
	var row DirectRoutingLogRow
	if err := ParseDirectRoutingRowBeta(raw, &row); err != nil {
		t.Fatal(err)
	}
	for _, d := range diffRows(&row, &want) {
		t.Errorf("parsed: %s", d)
	}
	if _, err := row.AppendAvro(nil); err == nil || !strings.Contains(err.Error(), "userCountryCode") {
		t.Errorf("v1.0 AppendAvro of a beta row: err = %v, want it to name the beta field", err)
	}
	data, err := row.AppendAvroBeta(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back DirectRoutingLogRow
	if err := DecodeDirectRoutingRowBeta(data, &back); err != nil {
		t.Fatal(err)
	}
	wantBack := truncatedToMillis(want)
	for _, d := range diffRows(&back, &wantBack) {
		t.Errorf("decoded: %s", d)
	}

	// Under v1.0 rules the same row keeps its beta properties as raw JSON.
	var v1 DirectRoutingLogRow
	if err := ParseDirectRoutingRow(raw, &v1); err != nil {
		t.Fatal(err)
	}
	if v1.UserCountryCode != nil || len(v1.AdditionalProperties) != 4 ||
		v1.AdditionalProperties["administrativeUnitInfos"] != `[{"id":"2a7e4a53-8d1b-4a0c-9f5e-6b2c1d3e4f50"},{"id":"7c1f0e2d-3b4a-4c5d-8e6f-9a0b1c2d3e4f"}]` {
		t.Errorf("v1.0 parse of a beta row: %v", v1.AdditionalProperties)
	}
	if _, err := v1.AppendAvro(nil); err != nil {
		t.Errorf("v1.0 AppendAvro of a v1.0 parse: %v", err)
	}
}

func TestAdministrativeUnitInfos(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		want  []AdministrativeUnitInfo
		props map[string]string
	}{
		{"null", `null`, nil, nil},
		{"empty", `[]`, []AdministrativeUnitInfo{}, nil},
		{"ids", `[{"id": "a"}, {"id": "b"}]`, []AdministrativeUnitInfo{{ID: ptr("a")}, {ID: ptr("b")}}, nil},
		{"null and missing id", `[{"id": null}, {}]`, []AdministrativeUnitInfo{{}, {}}, nil},
		{"escaped id", `[{"\u0069d": "\u00e9"}]`, []AdministrativeUnitInfo{{ID: ptr("é")}}, nil},
		{"unknown item property keeps the raw array", `[{"id": "a", "displayName": "Sales"}]`,
			[]AdministrativeUnitInfo{{ID: ptr("a")}},
			map[string]string{"administrativeUnitInfos": `[{"id":"a","displayName":"Sales"}]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, source := range []string{SourceDirectRouting, SourcePstn} {
				raw := []byte(`{"id": "i", "correlationId": "c", "administrativeUnitInfos": ` + tc.json + `}`)
				var got []AdministrativeUnitInfo
				var props map[string]string
				var encoded []byte
				var back []AdministrativeUnitInfo
				if source == SourceDirectRouting {
					var row DirectRoutingLogRow
					if err := ParseDirectRoutingRowBeta(raw, &row); err != nil {
						t.Fatal(err)
					}
					got, props = row.AdministrativeUnitInfos, row.AdditionalProperties
					var err error
					if encoded, err = row.AppendAvroBeta(nil); err != nil {
						t.Fatal(err)
					}
					var b DirectRoutingLogRow
					if err := DecodeDirectRoutingRowBeta(encoded, &b); err != nil {
						t.Fatal(err)
					}
					back = b.AdministrativeUnitInfos
				} else {
					var row PstnCallLogRow
					if err := ParsePstnCallRowBeta(raw, &row); err != nil {
						t.Fatal(err)
					}
					got, props = row.AdministrativeUnitInfos, row.AdditionalProperties
					delete(props, "correlationId")
					if len(props) == 0 {
						props = nil
					}
					var err error
					if encoded, err = row.AppendAvroBeta(nil); err != nil {
						t.Fatal(err)
					}
					var b PstnCallLogRow
					if err := DecodePstnCallRowBeta(encoded, &b); err != nil {
						t.Fatal(err)
					}
					back = b.AdministrativeUnitInfos
				}
				type units struct {
					U []AdministrativeUnitInfo
					P map[string]string
				}
				for _, d := range diffRows(&units{got, props}, &units{tc.want, tc.props}) {
					t.Errorf("%s parsed: %s", source, d)
				}
				for _, d := range diffRows(&units{U: back}, &units{U: tc.want}) {
					t.Errorf("%s after Avro: %s", source, d)
				}
			}
		})
	}
}

func TestAdministrativeUnitInfosErrors(t *testing.T) {
	for _, tc := range []struct{ json, reason string }{
		{`"au-1"`, "want array, got string"},
		{`{"id": "a"}`, "want array, got object"},
		{`[1]`, "item 0: want object, got number"},
		{`[{"id": "a"}, "b"]`, "item 1: want object, got string"},
		{`[{"id": 5}]`, "item 0: id: want string, got number"},
		{`[{"id": ["a"]}]`, "item 0: id: want string, got array"},
		{`[{"id": "a", "id": "b"}]`, `item 0: duplicate property "id"`},
	} {
		raw := []byte(`{"id": "i", "correlationId": "c", "administrativeUnitInfos": ` + tc.json + `}`)
		for name, parse := range map[string]func([]byte) error{
			"DirectRouting": func(b []byte) error { return ParseDirectRoutingRowBeta(b, new(DirectRoutingLogRow)) },
			"Pstn":          func(b []byte) error { return ParsePstnCallRowBeta(b, new(PstnCallLogRow)) },
		} {
			var rerr *RowError
			if err := parse(raw); !errors.As(err, &rerr) || rerr.Field != "administrativeUnitInfos" || rerr.Reason != tc.reason {
				t.Errorf("%s %s: err = %v, want administrativeUnitInfos: %s", name, tc.json, err, tc.reason)
			}
		}
	}
}

// TestBetaReadsV1DataAndBack decodes real records across versions through
// hamba's schema resolution: v1.0 data read with the beta schema gets null
// beta fields, beta data read with the v1.0 schema drops them, and every
// v1.0 field comes through unchanged both ways.
func TestBetaReadsV1DataAndBack(t *testing.T) {
	compat := avro.NewSchemaCompatibility()
	resolveInto := func(t *testing.T, reader, writer avro.Schema, data []byte, v any) {
		t.Helper()
		s, err := compat.Resolve(reader, writer)
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
		if err := avroAPI.Unmarshal(s, data, v); err != nil {
			t.Fatalf("decode with resolved schema: %v", err)
		}
	}

	t.Run("DirectRouting", func(t *testing.T) {
		v1Row := fullRow()
		v1Data, err := v1Row.AppendAvro(nil)
		if err != nil {
			t.Fatal(err)
		}
		a := reflect.New(mirrorType(reflect.TypeFor[DirectRoutingLogRow]())).Interface()
		resolveInto(t, DirectRoutingBetaSchema(), DirectRoutingSchema(), v1Data, a)
		// Written again with the beta schema, the resolved record goes
		// through the table-driven beta reader.
		var viaBeta DirectRoutingLogRow
		if err := DecodeDirectRoutingRowBeta(mustAppendBeta(t, a), &viaBeta); err != nil {
			t.Fatal(err)
		}
		want := truncatedToMillis(v1Row)
		for _, d := range diffRows(&viaBeta, &want) {
			t.Errorf("v1.0 data through the beta reader: %s", d)
		}

		betaRow := seedRowBeta()
		betaData, err := betaRow.AppendAvroBeta(nil)
		if err != nil {
			t.Fatal(err)
		}
		m := reflect.New(mirrorType(reflect.TypeFor[DirectRoutingLogRow]())).Interface()
		resolveInto(t, DirectRoutingSchema(), DirectRoutingBetaSchema(), betaData, m)
		var b DirectRoutingLogRow
		if err := fromMirror(m, &b); err != nil {
			t.Fatal(err)
		}
		if b.UserCountryCode != nil || b.AdministrativeUnitInfos != nil {
			t.Errorf("v1.0 reader kept beta fields: %v %v", b.UserCountryCode, b.AdministrativeUnitInfos)
		}
		if b.ID != betaRow.ID || *b.CallEndSubReason != *betaRow.CallEndSubReason || !b.StartDateTime.Equal(*betaRow.StartDateTime) {
			t.Errorf("v1.0 reader of beta data: %+v", b)
		}
	})

	t.Run("Pstn", func(t *testing.T) {
		v1Row := pstnSeedRow(t)
		v1Data, err := v1Row.AppendAvro(nil)
		if err != nil {
			t.Fatal(err)
		}
		pstnMirror := func(t *testing.T, reader, writer avro.Schema, data []byte) PstnCallLogRow {
			t.Helper()
			m := reflect.New(mirrorType(reflect.TypeFor[PstnCallLogRow]())).Interface()
			resolveInto(t, reader, writer, data, m)
			var row PstnCallLogRow
			if err := fromMirror(m, &row); err != nil {
				t.Fatal(err)
			}
			return row
		}
		a := pstnMirror(t, PstnBetaSchema(), PstnSchema(), v1Data)
		if a.OtherPartyCountryCode != nil || a.AdministrativeUnitInfos != nil || a.ID != v1Row.ID {
			t.Errorf("beta reader of v1.0 data: %+v", a)
		}
		if a.Charge == nil || *a.Charge != *v1Row.Charge {
			t.Errorf("charge through the beta reader: %v", a.Charge)
		}

		betaRow := v1Row
		betaRow.ClientPublicIPv4Address = ptr("203.0.113.9")
		betaData, err := betaRow.AppendAvroBeta(nil)
		if err != nil {
			t.Fatal(err)
		}
		b := pstnMirror(t, PstnSchema(), PstnBetaSchema(), betaData)
		if b.ClientPublicIPv4Address != nil || *b.CallID != *v1Row.CallID {
			t.Errorf("v1.0 reader of beta data: %+v", b)
		}
	})
}

// mustAppendBeta re-encodes a decoded mirror with the beta schema, so the
// test can read it back with DecodeDirectRoutingRowBeta.
func mustAppendBeta(t *testing.T, a any) []byte {
	t.Helper()
	data, err := appendEncoded(nil, directRoutingBetaSchema, a)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
