package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParseDirectRoutingRow checks ParseDirectRoutingRow against
// encoding/json as an oracle: it never panics, every failure is a
// *RowError, invalid JSON is always rejected, and an accepted row agrees
// with what encoding/json reads from the same text and survives Avro.
func FuzzParseDirectRoutingRow(f *testing.F) {
	if seed, err := os.ReadFile("testdata/seed_row.json"); err == nil {
		f.Add(seed)
	}
	for _, s := range []string{
		`{` + req + `}`,
		`{` + req + `, "x": {"a": [1, 2, {"b": "c\"}"}]}, "y": [], "z": "\u00e9\ud83d\ude00"}`,
		`{` + req + `, "duration": 5.5}`,
		`{"id": null}`,
		`{"\u0069d": "i", "correlationId": "c", "startDateTime": "0001-01-01T00:00:00+02:00"}`,
		`[` + req + `]`,
		`{` + req + `, "callType": "a\ud800b", "userId": "\\\/"}`,
		`{` + req + `, "n": -0.5e+7, "m": 01, "x": tru, "y": "\x", "z": [1,]}`,
		`{` + req + `, "a": [{"b": "}"}], "c": {"d": [[]]}}`,
		`{"id": "i", "correlationId": "c", "duration": "5", }`,
		`{"id": "dup-` + "\xff" + `", "correlationId": "c\udcff"}`,
	} {
		f.Add([]byte(s))
	}
	codec, err := For(SourceDirectRouting, VersionV1)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var row DirectRoutingLogRow
		err := ParseDirectRoutingRow(raw, &row)
		valid := json.Valid(raw)
		// The walker's zero-copy path must decide every row as the
		// parser does.
		sharedID, _, _, sharedErr := codec.EncodeShared(bytes.Clone(raw), nil)
		if (sharedErr == nil) != (err == nil) || (err != nil && sharedErr.Error() != err.Error()) || sharedID != row.ID {
			t.Fatalf("EncodeShared = %q, %v; ParseDirectRoutingRow = %q, %v", sharedID, sharedErr, row.ID, err)
		}
		if err != nil {
			var rerr *RowError
			if !errors.As(err, &rerr) {
				t.Fatalf("error %v is %T, not *RowError", err, err)
			}
			// The hand-written grammar checks must agree with the stdlib
			// exactly, both ways.
			if isMalformed := rerr.Field == "" && strings.HasPrefix(rerr.Reason, "malformed JSON"); isMalformed == valid {
				t.Fatalf("json.Valid = %v but got %v for %q", valid, err, raw)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted invalid JSON %q", raw)
		}

		var oracle map[string]json.RawMessage
		if err := json.Unmarshal(raw, &oracle); err != nil {
			t.Fatalf("accepted a row encoding/json cannot read: %v", err)
		}
		var id, corr string
		if json.Unmarshal(oracle["id"], &id) != nil || id != row.ID ||
			json.Unmarshal(oracle["correlationId"], &corr) != nil || corr != row.CorrelationID {
			t.Fatalf("id/correlationId %q/%q, encoding/json reads %s/%s", row.ID, row.CorrelationID, oracle["id"], oracle["correlationId"])
		}
		for name, val := range oracle {
			if directRoutingCodec.desc.defines(name, 0) {
				continue
			}
			got, ok := row.AdditionalProperties[name]
			if !ok {
				t.Fatalf("unknown property %q dropped", name)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, val); err != nil {
				t.Fatal(err)
			}
			if got != strings.ToValidUTF8(want.String(), "\uFFFD") {
				t.Fatalf("property %q = %q, want %q", name, got, want.String())
			}
		}
		if len(row.AdditionalProperties) > len(oracle) {
			t.Fatalf("AdditionalProperties has %d entries for %d properties", len(row.AdditionalProperties), len(oracle))
		}

		data, err := row.AppendAvro(nil)
		if err != nil {
			t.Fatalf("AppendAvro: %v", err)
		}
		if len(row.AdditionalProperties) <= 1 { // more are written in map order
			if want, err := appendEncoded(nil, directRoutingSchema, toMirror(&row)); err != nil || !bytes.Equal(data, want) {
				t.Fatalf("AppendAvro = %x, hamba writes %x (%v)", data, want, err)
			}
		}
		var back DirectRoutingLogRow
		if err := DecodeDirectRoutingRow(data, &back); err != nil {
			t.Fatalf("DecodeDirectRoutingRow: %v", err)
		}
		want := truncatedToMillis(row)
		if d := diffRows(&back, &want); len(d) > 0 {
			t.Fatalf("Avro round trip: %v", d)
		}
	})
}

// FuzzUnquote checks the JSON string decoder against encoding/json.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{
		`plain`, `Zo\u00eb`, `\ud83d\ude00`, `\ud800`, `\ud800\u0041`, `\udc00\ud800`,
		`\"\\\/\b\f\n\r\t`, "bad\xffutf8", `\u0000`, `\uD834\uDD1E`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		tok := `"` + body + `"`
		if !json.Valid([]byte(tok)) {
			return
		}
		var want string
		if err := json.Unmarshal([]byte(tok), &want); err != nil {
			t.Fatal(err)
		}
		if got := stringValue(tok); got != want {
			t.Fatalf("stringValue(%q) = %q, encoding/json = %q", tok, got, want)
		}
	})
}

// FuzzAllSources holds every generated codec (every source and version,
// and the test-only wide schema) to the same oracles as
// FuzzParseDirectRoutingRow: it never panics, every failure is a
// *RowError, invalid JSON is rejected, the zero-copy Encode path decides
// as the parser does, and an accepted row is written byte for byte as
// hamba writes it and survives the Avro round trip.
func FuzzAllSources(f *testing.F) {
	seeds := []string{`{"id": "i", "correlationId": "c", "callId": "k", "groupKey": "g"}`, wideRaw()}
	for _, name := range []string{"seed_row.json", "seed_row_beta.json", "pstn_seed_row.json", "pstn_seed_row_beta.json",
		"sms_seed_row_beta.json", "pstn_blocked_users_seed_row_beta.json", "pstn_dialout_seed_row_beta.json"} {
		if b, err := os.ReadFile("testdata/" + name); err == nil {
			seeds = append(seeds, string(b))
		}
	}
	codecs := allSourceCodecs()
	type target struct {
		sc  *sourceCodec
		ver int
	}
	var targets []target
	for _, sc := range codecs {
		for ver := range sc.versions {
			targets = append(targets, target{sc, ver})
		}
	}
	for i := range targets {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		tg := targets[int(which)%len(targets)]
		sc, ver := tg.sc, tg.ver
		row, err := sc.parse(raw, ver)
		id, _, _, sharedErr := sc.encode(rowInput{raw: bytes.Clone(raw), shared: true}, ver, nil)
		if (sharedErr == nil) != (err == nil) || (err != nil && sharedErr.Error() != err.Error()) {
			t.Fatalf("%s %d: shared encode %v, parse %v", sc.source, ver, sharedErr, err)
		}
		if err != nil {
			var rerr *RowError
			if !errors.As(err, &rerr) {
				t.Fatalf("error %v is %T, not *RowError", err, err)
			}
			if isMalformed := rerr.Field == "" && strings.HasPrefix(rerr.Reason, "malformed JSON"); isMalformed == json.Valid(raw) {
				t.Fatalf("json.Valid = %v but got %v for %q", !isMalformed, err, raw)
			}
			return
		}
		if wantID := sc.idOf(row); id != wantID {
			t.Fatalf("shared encode id %q, parse %q", id, wantID)
		}
		data := sc.appendRow(row, ver, nil)
		if len(sc.unknownOf(row)) <= 1 {
			if want, err := appendEncoded(nil, sc.versions[ver].schema, sc.hamba(row)); err != nil || !bytes.Equal(data, want) {
				t.Fatalf("%s %d: wrote %x, hamba writes %x (%v)", sc.source, ver, data, want, err)
			}
		}
		back, err := sc.decode(data, ver)
		if err != nil {
			t.Fatalf("%s %d: decode: %v", sc.source, ver, err)
		}
		if again := sc.appendRow(back, ver, nil); len(again) != len(data) {
			t.Fatalf("%s %d: re-encoding the decoded row gives %d bytes, not %d", sc.source, ver, len(again), len(data))
		}
	})
}
