package schemas

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/internal/jsonscan"
)

// encodeEveryWay runs raw through every way a row is parsed — the Parse
// function of c's source and version, and the codec's Encode,
// EncodeShared and EncodeScanned (with the scan the fetch client records)
// — and fails unless they all agree; it returns the id and key they
// produced and the error.
func encodeEveryWay(t *testing.T, c *Codec, raw string) (id, key string, err error) {
	t.Helper()
	var perr error
	beta := c.Version() == VersionBeta
	switch {
	case c.Source() == SourceDirectRouting && beta:
		perr = ParseDirectRoutingRowBeta([]byte(raw), new(DirectRoutingLogRow))
	case c.Source() == SourceDirectRouting:
		perr = ParseDirectRoutingRow([]byte(raw), new(DirectRoutingLogRow))
	case beta:
		perr = ParsePstnCallRowBeta([]byte(raw), new(PstnCallLogRow))
	default:
		perr = ParsePstnCallRow([]byte(raw), new(PstnCallLogRow))
	}
	id, key, _, err = c.Encode([]byte(raw), nil)
	sid, skey, _, serr := c.EncodeShared([]byte(raw), nil)
	var scan []jsonscan.Member
	var scanErr error
	if start := jsonscan.SkipSpace(raw, 0); start < len(raw) && raw[start] == '{' {
		_, scan, scanErr = jsonscan.Object([]byte(raw), start, 0, nil)
	}
	var cid, ckey string
	var cerr error
	if scanErr == nil && scan != nil {
		cid, ckey, _, cerr = c.EncodeScanned([]byte(raw), scan, nil)
	} else {
		cid, ckey, cerr = id, key, err
	}
	for _, other := range []struct {
		how     string
		id, key string
		err     error
	}{{"EncodeShared", sid, skey, serr}, {"EncodeScanned", cid, ckey, cerr}, {"Parse", id, key, perr}} {
		if (other.err == nil) != (err == nil) || (err != nil && other.err.Error() != err.Error()) ||
			other.id != id || other.key != key {
			t.Fatalf("%s = %q, %q, %v; Encode = %q, %q, %v", other.how, other.id, other.key, other.err, id, key, err)
		}
	}
	return id, key, err
}

// allCodecs is every source at every API version.
func allCodecs(t *testing.T) []*Codec {
	t.Helper()
	var out []*Codec
	for _, s := range []string{SourceDirectRouting, SourcePstn} {
		for _, v := range []string{VersionV1, VersionBeta} {
			c, err := For(s, v)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
	}
	return out
}

// identityFields are the properties of each source that identify a row:
// its deduplication id and what its record key is taken from.
var identityFields = map[string][]string{
	SourceDirectRouting: {"id", "correlationId"},
	SourcePstn:          {"id", "callId"},
}

// rowWith is a valid row of source with the identity property field set
// to the JSON string body (the text between the quotes).
func rowWith(source, field, body string) string {
	props := map[string]string{"id": "i-1", "correlationId": "c-1", "callId": "k-1"}
	props[field] = body
	if source == SourcePstn {
		return `{"id": "` + props["id"] + `", "callId": "` + props["callId"] + `", "userDisplayName": "x"}`
	}
	return `{"id": "` + props["id"] + `", "correlationId": "` + props["correlationId"] + `", "userDisplayName": "x"}`
}

// TestIdentityRejectsInvalidUTF8 holds Invariant 5 (nothing is dropped
// silently) at its source: an id or key that is not valid UTF-8 — raw, or
// through an escape of an unpaired UTF-16 surrogate, which encoding/json
// also turns into U+FFFD — is a RowError naming the property, so the row
// is dead-lettered. Repairing it would make "dup-\xff" and "dup-\xfe" the
// same id, and the walker would drop the second row as a duplicate.
func TestIdentityRejectsInvalidUTF8(t *testing.T) {
	bad := []struct{ name, body string }{
		{"raw 0xff", "dup-\xff"},
		{"raw 0xfe", "dup-\xfe"},
		{"raw truncated rune", "dup-\xc3"},
		{"raw encoded surrogate", "dup-\xed\xa0\x80"},
		{"raw overlong", "dup-\xc0\xaf"},
		{"lone low surrogate escape", `dup-\udcff`},
		{"lone high surrogate escape at end", `dup-\ud800`},
		{"high surrogate then text", `dup-\ud800x`},
		{"two high surrogates", `dup-\ud800\ud800`},
		{"reversed pair", `dup-\ude00\ud83d`},
		{"after a valid escape", `dup-\n\udcff`},
		{"invalid byte beside escapes", "dup-\\u00e9\xff"},
	}
	for _, c := range allCodecs(t) {
		for _, field := range identityFields[c.Source()] {
			for _, tc := range bad {
				t.Run(c.Source()+"/"+c.Version()+"/"+field+"/"+tc.name, func(t *testing.T) {
					_, _, err := encodeEveryWay(t, c, rowWith(c.Source(), field, tc.body))
					var rerr *RowError
					if !errors.As(err, &rerr) {
						t.Fatalf("err = %v, want a *RowError", err)
					}
					if rerr.Field != field || !strings.Contains(rerr.Reason, "UTF-8") {
						t.Errorf("error %q, want one naming field %q and UTF-8", err, field)
					}
				})
			}
		}
	}
}

// TestIdentityAcceptsValidUnicode checks that the UTF-8 rule rejects only
// what is invalid: non-ASCII ids, raw or escaped, surrogate pairs, and an
// escaped backslash followed by "udcff" (text, not an escape) stay ids,
// decoded as encoding/json decodes them.
func TestIdentityAcceptsValidUnicode(t *testing.T) {
	good := []struct{ name, body, want string }{
		{"raw é", "dup-é", "dup-é"},
		{"escaped é", `dup-\u00e9`, "dup-é"},
		{"surrogate pair", `dup-\ud83d\ude00`, "dup-😀"},
		{"raw emoji", "dup-😀", "dup-😀"},
		{"escaped backslash before u", `dup-\\udcff`, `dup-\udcff`},
		{"literal U+FFFD", "dup-\uFFFD", "dup-\uFFFD"},
		{"escaped quote", `dup-\"x`, `dup-"x`},
	}
	for _, c := range allCodecs(t) {
		for _, field := range identityFields[c.Source()] {
			for _, tc := range good {
				t.Run(c.Source()+"/"+c.Version()+"/"+field+"/"+tc.name, func(t *testing.T) {
					id, key, err := encodeEveryWay(t, c, rowWith(c.Source(), field, tc.body))
					if err != nil {
						t.Fatal(err)
					}
					got := key
					if field == "id" {
						got = id
					}
					if got != tc.want {
						t.Errorf("%s = %q, want %q", field, got, tc.want)
					}
				})
			}
		}
	}
}

// TestOrdinaryStringsAreStillRepaired pins the choice for properties that
// identify nothing: invalid UTF-8 there is replaced with U+FFFD, as
// encoding/json does (Avro strings must be UTF-8), and the row is
// published.
func TestOrdinaryStringsAreStillRepaired(t *testing.T) {
	var row DirectRoutingLogRow
	if err := ParseDirectRoutingRowBeta([]byte(`{"id": "i", "correlationId": "c", "userDisplayName": "a`+"\xff"+`b",
		"transferorCorrelationId": "t\udcff"}`), &row); err != nil {
		t.Fatal(err)
	}
	if *row.UserDisplayName != "a\uFFFDb" || *row.TransferorCorrelationID != "t\uFFFD" {
		t.Errorf("userDisplayName %q, transferorCorrelationId %q: want U+FFFD repairs", *row.UserDisplayName, *row.TransferorCorrelationID)
	}
	var prow PstnCallLogRow
	if err := ParsePstnCallRow([]byte(`{"id": "i", "callerNumber": "+1`+"\xfe"+`"}`), &prow); err != nil {
		t.Fatal(err)
	}
	if *prow.CallerNumber != "+1\uFFFD" {
		t.Errorf("callerNumber %q, want a U+FFFD repair", *prow.CallerNumber)
	}
}

// Distinctive values that must never appear in an error: a RowError goes
// to logs and to dead-letter headers, and row values are personal data.
const (
	secret       = "alice.secret@contoso.com"
	secretNumber = "98765432109876543210" // no int32 or decimal(18,6) holds it
	secretFrac   = "3.14159265358979"     // more fractional digits than any field takes
	secretDigits = "1415926535"           // a run of secretFrac that would show it
)

// TestRowErrorsNeverEchoValues produces every kind of row error, in every
// property of every source and version, from rows whose every string
// carries a secret, and checks no error text repeats a value: errors name
// the property and the kind of problem only.
func TestRowErrorsNeverEchoValues(t *testing.T) {
	kinds := map[string]bool{}
	for _, c := range allCodecs(t) {
		rec := c.Schema().(*avro.RecordSchema)
		required := `"id": "` + secret + `-id"`
		if c.Source() == SourceDirectRouting {
			required += `, "correlationId": "` + secret + `-corr"`
		}
		// A valid row full of secrets, for the error to sit among.
		var full []string
		for _, f := range rec.Fields() {
			switch f.Name() {
			case "id", "correlationId", "additionalProperties", "administrativeUnitInfos":
				continue
			case "userDisplayName", "userPrincipalName", "callerNumber", "calleeNumber", "callId":
				full = append(full, `"`+f.Name()+`": "`+secret+`"`)
			}
		}
		base := required + ", " + strings.Join(full, ", ") + `, "unknownSecret": "` + secret + `"`
		without := func(name string) string {
			var keep []string
			for _, p := range strings.Split(base, ", ") {
				if !strings.HasPrefix(p, `"`+name+`":`) {
					keep = append(keep, p)
				}
			}
			return strings.Join(keep, ", ")
		}
		var rows []string
		for _, f := range rec.Fields() {
			name := f.Name()
			if name == "additionalProperties" {
				continue
			}
			rest := without(name)
			for _, v := range []string{
				`{"k": "` + secret + `"}`, // wrong type: object
				`["` + secret + `"]`,      // wrong type: array (or a bad item)
				`"` + secret + `"`,        // a string where another type belongs
				secretNumber,              // out of every range
				secretFrac,                // a fraction where an integer belongs
				`"` + secret + "\xff" + `"`,
				`"` + secret + `\udcff"`,
				`""`,
				`null`,
				`true`,
			} {
				rows = append(rows, `{`+rest+`, "`+name+`": `+v+`}`)
			}
			// A repeated property.
			rows = append(rows, `{`+base+`, "`+name+`": "`+secret+`", "`+name+`": "`+secret+`"}`)
		}
		rows = append(rows,
			`{`+base+`, "unknownSecret": "`+secret+`"}`, // a repeated unknown property
			`{`+without("id")+`}`,                       // a required property missing
			`{`+base+`, "trailing": "`+secret+`",}`,     // malformed JSON after the secret
			`{`+base+`, "broken": "`+secret+`\x", "z": 1}`,
			`{`+base+`, "`+secret+`" "x"}`,
			`"`+secret+`"`, // not an object
			`["`+secret+`"]`,
			`{"administrativeUnitInfos": [{"id": "`+secret+`", "id": "`+secret+`"}], `+base+`}`,
			`{"administrativeUnitInfos": [{"id": ["`+secret+`"]}], `+base+`}`,
			`{"administrativeUnitInfos": ["`+secret+`"], `+base+`}`,
		)
		for _, raw := range rows {
			_, _, err := encodeEveryWay(t, c, raw)
			if err == nil {
				continue
			}
			var rerr *RowError
			if !errors.As(err, &rerr) {
				t.Fatalf("%s/%s: %q: error %v is not a *RowError", c.Source(), c.Version(), raw, err)
			}
			kinds[kindOf(rerr.Reason)] = true
			msg := err.Error()
			for _, s := range []string{secret, "secret", "contoso", secretNumber[:8], secretDigits} {
				if strings.Contains(msg, s) {
					t.Errorf("%s/%s: error %q repeats the value %q of row %q", c.Source(), c.Version(), msg, s, raw)
				}
			}
			if !utf8.ValidString(msg) {
				t.Errorf("error %q is not valid UTF-8", msg)
			}
		}
	}
	// Every kind of row error was produced, so a new kind that echoes a
	// value cannot hide from this test behind rows that never reach it.
	for _, want := range []string{"want ", "duplicate property", "required property is missing",
		"required property is null", "required property is empty", "UTF-8", "RFC 3339", "fraction",
		"int32 range", "decimal(18,6)", "malformed JSON", "item ", "want JSON object"} {
		if !kinds[want] {
			t.Errorf("no row error of kind %q was produced; the rows above must cover it", want)
		}
	}
}

// kindOf sorts a RowError reason into the kinds TestRowErrorsNeverEchoValues
// must see.
func kindOf(reason string) string {
	for _, k := range []string{"item ", "UTF-8", "RFC 3339", "fraction", "int32 range", "decimal(18,6)",
		"malformed JSON", "want JSON object", "duplicate property", "required property is missing",
		"required property is null", "required property is empty", "want "} {
		if strings.Contains(reason, k) {
			return k
		}
	}
	return reason
}

// TestUnscannableRowIsARowError covers a row the page split could not scan
// (nested beyond jsonscan's depth limit), which reaches the codec with a
// nil scan: it is scanned again here and comes out a RowError for the
// dead-letter topic, not a panic or a transport error.
func TestUnscannableRowIsARowError(t *testing.T) {
	deep := `{"id": "i", "correlationId": "c", "x": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	for _, c := range allCodecs(t) {
		_, _, _, err := c.EncodeScanned([]byte(deep), nil, nil)
		var rerr *RowError
		if !errors.As(err, &rerr) || rerr.Field != "" {
			t.Errorf("%s/%s: err = %v, want a RowError for the whole row", c.Source(), c.Version(), err)
		}
	}
}
