package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/callstream/callstream/internal/jsonscan"
)

// walkObject checks that raw is one JSON object and hands each property to
// visit: its decoded name, its value's JSON text, and whether that is a
// plain string (ASCII without escapes, so its text between the quotes is
// its value). Names and values are cut from one copy of raw, so strings
// kept from them do not alias the caller's buffer; with shared there is no
// copy and they alias raw itself, so nothing cut from them may be kept once
// raw changes (Codec.EncodeShared, which keeps nothing, saves the copy on
// every row).
//
// in.scan, when not nil, is what jsonscan.Object recorded for exactly raw
// (as the fetch client's page scan does for every row): raw has been
// checked already and is not scanned again. Otherwise raw is checked and
// scanned here, into in.scratch when set. Malformed JSON anywhere in the row is reported before
// any property is visited, since then no field can be trusted; visit is
// not called again after it returns an error.
// rowInput is one row to parse: its text, the scan recorded for it (or
// nil), a buffer to scan it into (or nil), and whether the parsed strings
// may alias it (see walkObject).
type rowInput struct {
	raw     []byte
	scan    []jsonscan.Member
	scratch *[]jsonscan.Member
	shared  bool
	tenant  *string // what the row's tenant field is written as (Codec.WithTenant)
}

func walkObject(in rowInput, visit func(name, val string, plain bool) *RowError) *RowError {
	raw, scan, shared := in.raw, in.scan, in.shared
	if scan == nil {
		start := jsonscan.SkipSpace(raw, 0)
		if start == len(raw) || raw[start] != '{' {
			return notObject(raw)
		}
		var buf []jsonscan.Member
		if in.scratch != nil {
			buf = (*in.scratch)[:0]
		}
		end, members, err := jsonscan.Object(raw, start, 0, buf)
		if in.scratch != nil {
			*in.scratch = members[:0]
		}
		if err != nil || jsonscan.SkipSpace(raw, end) != len(raw) {
			return malformed(raw)
		}
		raw, scan = raw[start:end], members
	}
	// One copy of the row; unescaped strings in row are substrings of it,
	// which costs one allocation per row instead of one per string.
	var s string
	if shared {
		s = unsafe.String(unsafe.SliceData(raw), len(raw))
	} else {
		s = string(raw)
	}
	for _, m := range scan {
		name := bodyValue(s[m.NameStart:m.NameEnd], m.PlainName)
		if rerr := visit(name, s[m.ValueStart:m.ValueEnd], m.PlainValue); rerr != nil {
			return rerr
		}
	}
	return nil
}

// requiredString reads a required string property. Every required string
// identifies the row (id, and Direct Routing's correlationId, the record
// key), so it is checked as an identity (see identityProblem).
func requiredString(name, val string, plain bool) (string, *RowError) {
	switch val[0] {
	case 'n':
		return "", &RowError{Field: name, Reason: "required property is null"}
	case '"':
		body := val[1 : len(val)-1]
		if reason := identityProblem(body, plain); reason != "" {
			return "", &RowError{Field: name, Reason: reason}
		}
		s := bodyValue(body, plain)
		if s == "" {
			return "", &RowError{Field: name, Reason: "required property is empty"}
		}
		return s, nil
	}
	return "", wrongType(name, "string", val)
}

// optKeyString is optString for an optional property that can become the
// row's record key (PSTN's callId), checked as an identity.
func optKeyString(slot *string, name, val string, plain bool) (*string, *RowError) {
	if val[0] == '"' {
		if reason := identityProblem(val[1:len(val)-1], plain); reason != "" {
			return nil, &RowError{Field: name, Reason: reason}
		}
	}
	return optString(slot, name, val, plain)
}

// identityProblem says why body, the text between the quotes of a valid
// JSON string, cannot be an id or a record key, or returns "". Ordinary
// strings have invalid UTF-8 (raw, or an unpaired UTF-16 surrogate escape
// such as \udcff) replaced with U+FFFD, as encoding/json does; done to an
// id, that repair makes "dup-\xff" and "dup-\xfe" the same id, and the
// second row would be dropped as a duplicate of the first. So such an
// identity makes the row a bad row instead (Invariant 5: nothing is
// dropped silently). plain (the scan's verdict: ASCII, no escapes) makes
// the check free for the ids Graph sends, which are GUIDs.
func identityProblem(body string, plain bool) string {
	if plain {
		return ""
	}
	if !utf8.ValidString(body) {
		return "not valid UTF-8 (an id or key is never repaired: it could become another row's)"
	}
	for i := strings.IndexByte(body, '\\'); i >= 0; {
		// body[i] starts an escape; the JSON grammar has checked it.
		n := 2
		if body[i+1] == 'u' {
			n = 6
			if r := hex4(body[i+2 : i+6]); utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+12 <= len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
					r2 = hex4(body[i+8 : i+12])
				}
				if utf16.DecodeRune(r, r2) == unicode.ReplacementChar {
					return "unpaired UTF-16 surrogate escape, not valid UTF-8 (an id or key is never repaired: it could become another row's)"
				}
				n = 12
			}
		}
		i += n
		j := strings.IndexByte(body[i:], '\\')
		if j < 0 {
			break
		}
		i += j
	}
	return ""
}

func optString(slot *string, name, val string, plain bool) (*string, *RowError) {
	switch val[0] {
	case 'n':
		return nil, nil
	case '"':
		*slot = bodyValue(val[1:len(val)-1], plain)
		return slot, nil
	}
	return nil, wrongType(name, "string", val)
}

func optTime(slot *time.Time, name, val string, plain bool) (*time.Time, *RowError) {
	switch val[0] {
	case 'n':
		return nil, nil
	case '"':
		s := bodyValue(val[1:len(val)-1], plain)
		t, minValue, ok := parseDateTimeOffset(s)
		if !ok {
			return nil, &RowError{Field: name, Reason: "want RFC 3339 date-time, got a string of " + strconv.Itoa(len(s)) + " bytes that is not one"}
		}
		if minValue {
			return nil, nil
		}
		*slot = t
		return slot, nil
	}
	return nil, wrongType(name, "date-time string", val)
}

// optInteger reads a nullable Avro int (T int32) or long (T int64): a JSON
// integer literal within T's range.
func optInteger[T int32 | int64](slot *T, name, val string) (*T, *RowError) {
	if val == "null" {
		return nil, nil
	}
	if n, ok := smallInt(val); ok {
		*slot = T(n)
		return slot, nil
	}
	if jsonKind(val) != "number" {
		return nil, wrongType(name, "integer", val)
	}
	if strings.ContainsAny(val, ".eE") {
		return nil, &RowError{Field: name, Reason: "want integer, got a number with a fraction or exponent"}
	}
	bits := 8 * int(unsafe.Sizeof(*slot))
	n, err := strconv.ParseInt(val, 10, bits)
	if err != nil {
		// The JSON grammar already holds, so only the range can be wrong.
		return nil, &RowError{Field: name, Reason: "integer out of int" + strconv.Itoa(bits) + " range"}
	}
	*slot = T(n)
	return slot, nil
}

// smallInt reads the integers Graph sends (SIP codes, durations): an
// optional minus and one to nine digits, without a leading zero, which
// cannot leave int32's range. Anything else takes optInteger's general path.
func smallInt(val string) (int32, bool) {
	digits := val
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 9 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	var n int32
	for i := 0; i < len(digits); i++ {
		c := digits[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int32(c)
	}
	if len(digits) < len(val) {
		n = -n
	}
	return n, true
}

func optBool(slot *bool, name, val string) (*bool, *RowError) {
	switch val {
	case "null":
		return nil, nil
	case "true":
		*slot = true
		return slot, nil
	case "false":
		*slot = false
		return slot, nil
	}
	return nil, wrongType(name, "boolean", val)
}

// addUnknown keeps a property the schema does not define in *props.
func addUnknown(props *map[string]string, name, val string) *RowError {
	if *props == nil {
		*props = make(map[string]string, 2)
	} else if _, dup := (*props)[name]; dup {
		return &RowError{Field: name, Reason: "duplicate property"}
	}
	(*props)[name] = rawValue(val)
	return nil
}

// rawValue returns a valid JSON value as compact, valid-UTF-8 JSON text.
func rawValue(val string) string {
	if (val[0] == '{' || val[0] == '[') && strings.ContainsAny(val, " \t\r\n") {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(val)); err != nil {
			// The row's scan has checked every object and array.
			panic(fmt.Sprintf("schemas: compact validated JSON: %v", err))
		}
		val = b.String()
	}
	// Outside strings valid JSON is ASCII, so replacing invalid bytes only
	// touches string contents and the text stays valid JSON.
	if !utf8.ValidString(val) {
		val = strings.ToValidUTF8(val, "\uFFFD")
	}
	return val
}

func wrongType(name, want, val string) *RowError {
	return &RowError{Field: name, Reason: "want " + want + ", got " + jsonKind(val)}
}

// jsonKind names the JSON type of the valid JSON value starting val.
func jsonKind(val string) string {
	switch val[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// notObject explains a row that does not start with '{'.
func notObject(raw []byte) *RowError {
	if !json.Valid(raw) {
		return malformed(raw)
	}
	s := raw[jsonscan.SkipSpace(raw, 0):]
	return &RowError{Reason: "want JSON object, got " + jsonKind(string(s[:1]))}
}

// malformed explains why raw is not valid JSON. It reruns the stdlib
// decoder only on this failure path, to get its message and offset.
func malformed(raw []byte) *RowError {
	var v json.RawMessage
	err := json.Unmarshal(raw, &v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &RowError{Reason: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)}
	case err != nil:
		return &RowError{Reason: "malformed JSON: " + err.Error()}
	}
	// The scanner rejected what encoding/json accepts, which is a bug in
	// the scanner (FuzzParseDirectRoutingRow hunts for it); say so plainly
	// rather than guess a position.
	return &RowError{Reason: "malformed JSON"}
}

// maxErrorValue bounds how much of a caller's value ParseDecimal's error
// repeats. A RowError repeats none: it ends up in logs and dead-letter
// headers, and row values are personal data.
const maxErrorValue = 40

func truncateForError(s string) string {
	if len(s) <= maxErrorValue {
		return s
	}
	cut := maxErrorValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func quoteForError(s string) string {
	return strconv.Quote(truncateForError(s))
}

// stringValue decodes the JSON string token val (quotes included).
func stringValue(val string) string {
	return bodyValue(val[1:len(val)-1], false)
}

// bodyValue decodes the text between the quotes of a valid JSON string;
// plain is the scan's verdict on it (jsonscan.Member), which saves looking
// again.
func bodyValue(body string, plain bool) string {
	if plain {
		return body
	}
	return decodeStringBody(body, strings.IndexByte(body, '\\') >= 0)
}

// decodeStringBody decodes the text between the quotes of a valid JSON
// string. Without escapes and invalid UTF-8 it returns body itself.
func decodeStringBody(body string, escaped bool) string {
	if !escaped && utf8.ValidString(body) {
		return body
	}
	return unquote(body)
}

// unquote decodes JSON escapes and replaces invalid UTF-8 with U+FFFD,
// matching encoding/json, including for unpaired UTF-16 surrogates.
func unquote(body string) string {
	b := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\':
			switch e := body[i+1]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(body[i+2 : i+6])
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(body) && body[i] == '\\' && body[i+1] == 'u' {
						r2 = hex4(body[i+2 : i+6])
					}
					if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
						r = dec
						i += 6
					} else {
						r = unicode.ReplacementChar
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			default: // '"', '\\', '/'
				b = append(b, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(body[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, body[i:i+size]...)
			}
			i += size
		}
	}
	return string(b)
}

// hex4 decodes four hex digits that the JSON grammar has already checked.
func hex4(s string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// optDouble reads a nullable Avro double: any JSON number within float64's
// range (rounded to the nearest double, as encoding/json does).
func optDouble(slot *float64, name, val string) (*float64, *RowError) {
	if val == "null" {
		return nil, nil
	}
	if jsonKind(val) != "number" {
		return nil, wrongType(name, "number", val)
	}
	f, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return nil, &RowError{Field: name, Reason: "number out of double range"}
	}
	*slot = f
	return slot, nil
}

// arrayOrNull reports whether val, the value of the nullable array property
// name, is an array; it is not when it is null, or the wrong type (rerr).
func arrayOrNull(name, val string) (isArray bool, rerr *RowError) {
	switch val[0] {
	case '[':
		return true, nil
	case 'n':
		return false, nil
	}
	return false, wrongType(name, "array", val)
}

// optStrings reads a nullable array of strings: null gives nil, [] an
// empty non-nil slice. An item that is not a string (null included: Avro
// array items here are not nullable) is an error naming the item.
func optStrings(name, val string) ([]string, *RowError) {
	if isArray, rerr := arrayOrNull(name, val); !isArray {
		return nil, rerr
	}
	out := []string{}
	rerr := forEachElement(val, func(item string) *RowError {
		if item[0] != '"' {
			return &RowError{Field: name, Reason: fmt.Sprintf("item %d: want string, got %s", len(out), jsonKind(item))}
		}
		out = append(out, stringValue(item))
		return nil
	})
	if rerr != nil {
		return nil, rerr
	}
	return out, nil
}
