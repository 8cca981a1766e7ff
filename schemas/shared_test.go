package schemas

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/callstream/callstream/internal/jsonscan"
)

// sharedCases are rows that exercise what EncodeShared reuses from row to
// row: unknown properties (the pooled map), escapes (strings that are not
// cut from raw), beta-only properties and every kind of failure.
func sharedCases(t *testing.T, source string) [][]byte {
	t.Helper()
	files := map[string][]string{
		SourceDirectRouting:    {"seed_row.json", "seed_row_beta.json"},
		SourcePstn:             {"pstn_seed_row.json", "pstn_seed_row_beta.json"},
		SourceSms:              {"sms_seed_row_beta.json"},
		SourcePstnBlockedUsers: {"pstn_blocked_users_seed_row_beta.json"},
		SourcePstnDialout:      {"pstn_dialout_seed_row_beta.json"},
	}[source]
	var rows [][]byte
	for _, f := range files {
		b, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, b)
	}
	const ids = `"id": "6c1b5f7e-0d1e-4d5a-9f0e-1a2b3c4d5e6f", "correlationId": "c", "callId": "k", "remediationId": "r", "userId": "u"`
	for _, s := range []string{
		`{` + ids + `, "x-extra": {"a": [1, 2]}, "@odata.type": "#t"}`,
		`{` + ids + `}`, // after a row with unknown properties: none may linger
		`{"id": "\u0041b\"c", "correlationId": "\u00e9t\u00e9", "callId": "\/k", "remediationId": "\u00e9", "userId": "\u00e9\"", "currency": "\/"}`,
		`{` + ids + `, "duration": "5", "charge": "1"}`,
		`{` + ids + `, "x": 1, "x": 2}`,
		`{` + ids + `, "startDateTime": "yesterday", "startTime": "yesterday"}`,
		`{"correlationId": "c"}`,
		`<html>proxy error</html>`,
		`{` + ids + `, "z": "tail"`,
		`{` + ids + `, "userCountryCode": "US", "otherPartyCountryCode": "de"}`,
	} {
		rows = append(rows, []byte(s))
	}
	return rows
}

// TestEncodeSharedMatchesEncode runs every codec's EncodeShared over rows
// in sequence, as the walker does, and wants exactly Encode's results; and
// overwrites raw afterwards, which must not change an error already
// returned.
func TestEncodeSharedMatchesEncode(t *testing.T) {
	for _, sc := range rowSourceCodecs() {
		source := sc.source
		for _, v := range sc.versions {
			version := v.version
			c, err := For(source, version)
			if err != nil {
				t.Fatal(err)
			}
			for round := range 3 { // later rounds run on pooled scratch
				for i, raw := range sharedCases(t, source) {
					wantID, wantKey, want, wantErr := c.Encode(raw, []byte("hdr"))
					buf := bytes.Clone(raw)
					id, key, got, err := c.EncodeShared(buf, []byte("hdr"))
					// Maps are written in Go's iteration order, so compare
					// what the bytes decode to.
					if id != wantID || key != wantKey || !bytes.HasPrefix(got, []byte("hdr")) || !sameRecord(t, c, got[3:], want[3:]) {
						t.Errorf("%s %s round %d row %d: EncodeShared = %q %q %x, Encode = %q %q %x",
							source, version, round, i, id, key, got, wantID, wantKey, want)
					}
					if (err == nil) != (wantErr == nil) {
						t.Fatalf("%s %s row %d: EncodeShared error %v, Encode error %v", source, version, i, err, wantErr)
					}
					// With the scan a page's split records, the row is not
					// scanned again and must come out the same.
					if start := jsonscan.SkipSpace(raw, 0); start < len(raw) && raw[start] == '{' {
						if end, scan, serr := jsonscan.Object(raw, start, 0, nil); serr == nil && jsonscan.SkipSpace(raw, end) == len(raw) {
							sid, skey, sgot, sErr := c.EncodeScanned(raw[start:end], scan, []byte("hdr"))
							if sid != wantID || skey != wantKey || !sameRecord(t, c, sgot[3:], want[3:]) || (sErr == nil) != (wantErr == nil) ||
								(sErr != nil && sErr.Error() != wantErr.Error()) {
								t.Errorf("%s %s row %d: EncodeScanned = %q %q %x %v, Encode = %q %q %x %v",
									source, version, i, sid, skey, sgot, sErr, wantID, wantKey, want, wantErr)
							}
						}
					}
					if err == nil {
						continue
					}
					msg := err.Error()
					for j := range buf {
						buf[j] = 'x'
					}
					if err.Error() != msg || msg != wantErr.Error() {
						t.Errorf("%s %s row %d: error %q after raw was overwritten (was %q, Encode said %q)",
							source, version, i, err.Error(), msg, wantErr.Error())
					}
				}
			}
		}
	}
}

// sameRecord reports whether two Avro bodies decode to equal rows; two
// empty bodies (both encodes failed) are the same.
func sameRecord(t *testing.T, c *Codec, a, b []byte) bool {
	t.Helper()
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	ra, err := c.Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(ra, rb)
}
