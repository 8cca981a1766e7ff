package schemas

import (
	"os"
	"testing"
)

// BenchmarkCodecEncode measures what the walker pays per row: parse plus
// Avro encode through a Codec, for each source and version.
func BenchmarkCodecEncode(b *testing.B) {
	for _, bc := range []struct{ source, version, file string }{
		{SourceDirectRouting, VersionV1, "testdata/seed_row.json"},
		{SourceDirectRouting, VersionBeta, "testdata/seed_row_beta.json"},
		{SourcePstn, VersionV1, "testdata/pstn_seed_row.json"},
		{SourcePstn, VersionBeta, "testdata/pstn_seed_row_beta.json"},
	} {
		b.Run(bc.source+"/"+bc.version, func(b *testing.B) {
			raw, err := os.ReadFile(bc.file)
			if err != nil {
				b.Fatal(err)
			}
			c, err := For(bc.source, bc.version)
			if err != nil {
				b.Fatal(err)
			}
			var buf []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, _, buf, err = c.Encode(raw, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPstnDecode(b *testing.B) {
	raw, err := os.ReadFile("testdata/pstn_seed_row.json")
	if err != nil {
		b.Fatal(err)
	}
	var row PstnCallLogRow
	if err := ParsePstnCallRow(raw, &row); err != nil {
		b.Fatal(err)
	}
	data, err := row.AppendAvro(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := DecodePstnCallRow(data, &row); err != nil {
			b.Fatal(err)
		}
	}
}
