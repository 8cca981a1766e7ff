package schemas

import (
	"os"
	"testing"
)

func loadSeed(b *testing.B) []byte {
	b.Helper()
	raw, err := os.ReadFile("testdata/seed_row.json")
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func BenchmarkParse(b *testing.B) {
	raw := loadSeed(b)
	var row DirectRoutingLogRow
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := ParseDirectRoutingRow(raw, &row); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseUnknownProperties measures a row carrying beta-style
// properties the schema does not define.
func BenchmarkParseUnknownProperties(b *testing.B) {
	raw := loadSeed(b)
	raw = append(raw[:len(raw)-2], []byte(`,
    "@odata.type": "#microsoft.graph.callRecords.directRoutingLogRow",
    "userCountryCode": "US",
    "otherPartyCountryCode": "US",
    "transferorCorrelationId": "0e2f6b2a-5c0f-4f1e-9d55-2d9b5b7c1a11",
    "administrativeUnitInfos": [ { "id": "au-1" }, { "id": "au-2" } ]
}
`)...)
	var row DirectRoutingLogRow
	if err := ParseDirectRoutingRow(raw, &row); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := ParseDirectRoutingRow(raw, &row); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAvro(b *testing.B) {
	var row DirectRoutingLogRow
	if err := ParseDirectRoutingRow(loadSeed(b), &row); err != nil {
		b.Fatal(err)
	}
	buf, err := row.AppendAvro(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if buf, err = row.AppendAvro(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	var row DirectRoutingLogRow
	if err := ParseDirectRoutingRow(loadSeed(b), &row); err != nil {
		b.Fatal(err)
	}
	data, err := row.AppendAvro(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := DecodeDirectRoutingRow(data, &row); err != nil {
			b.Fatal(err)
		}
	}
}
