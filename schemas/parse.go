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

// Indexes of the schema fields that Graph sends, in schema order; they index
// the duplicate-key bit set in parseRow.
const (
	fieldID = iota
	fieldCorrelationID
	fieldUserID
	fieldUserPrincipalName
	fieldUserDisplayName
	fieldStartDateTime
	fieldInviteDateTime
	fieldFailureDateTime
	fieldEndDateTime
	fieldDuration
	fieldCallType
	fieldSuccessfulCall
	fieldCallerNumber
	fieldCalleeNumber
	fieldMediaPathLocation
	fieldSignalingLocation
	fieldFinalSipCode
	fieldCallEndSubReason
	fieldFinalSipCodePhrase
	fieldTrunkFullyQualifiedDomainName
	fieldMediaBypassEnabled

	// Beta only.
	fieldUserCountryCode
	fieldOtherPartyCountryCode
	fieldTransferorCorrelationID
	fieldAdministrativeUnitInfos
)

// fieldIndex maps a Graph property name to its field index, or -1 for a
// property the schema does not define; the beta-only properties are fields
// only in the beta schema. Matching is exact: unlike encoding/json, "ID" is
// not "id", it is an unknown property.
func fieldIndex(name string, beta bool) int {
	switch name {
	case "id":
		return fieldID
	case "correlationId":
		return fieldCorrelationID
	case "userId":
		return fieldUserID
	case "userPrincipalName":
		return fieldUserPrincipalName
	case "userDisplayName":
		return fieldUserDisplayName
	case "startDateTime":
		return fieldStartDateTime
	case "inviteDateTime":
		return fieldInviteDateTime
	case "failureDateTime":
		return fieldFailureDateTime
	case "endDateTime":
		return fieldEndDateTime
	case "duration":
		return fieldDuration
	case "callType":
		return fieldCallType
	case "successfulCall":
		return fieldSuccessfulCall
	case "callerNumber":
		return fieldCallerNumber
	case "calleeNumber":
		return fieldCalleeNumber
	case "mediaPathLocation":
		return fieldMediaPathLocation
	case "signalingLocation":
		return fieldSignalingLocation
	case "finalSipCode":
		return fieldFinalSipCode
	case "callEndSubReason":
		return fieldCallEndSubReason
	case "finalSipCodePhrase":
		return fieldFinalSipCodePhrase
	case "trunkFullyQualifiedDomainName":
		return fieldTrunkFullyQualifiedDomainName
	case "mediaBypassEnabled":
		return fieldMediaBypassEnabled
	}
	if beta {
		switch name {
		case "userCountryCode":
			return fieldUserCountryCode
		case "otherPartyCountryCode":
			return fieldOtherPartyCountryCode
		case "transferorCorrelationId":
			return fieldTransferorCorrelationID
		case "administrativeUnitInfos":
			return fieldAdministrativeUnitInfos
		}
	}
	return -1
}

// rowStore backs every pointer field of one parsed row, so a row costs one
// allocation for its nullable values instead of one per field. Each parse
// gets a fresh store: callers may keep pointers from an earlier row.
type rowStore struct {
	strs  [13]string
	times [4]time.Time
	ints  [3]int32
	bools [2]bool
}

// ParseDirectRoutingRow parses one element of the "value" array of a Graph
// v1.0 getDirectRoutingCalls response into row. row is reset first, so one
// value can be reused across rows; on error it is left zero.
//
// Rules:
//   - null or absent properties become nil; "" stays a non-nil empty string.
//   - id and correlationId must be non-empty strings.
//   - DateTimeOffsets are RFC 3339 with any number of fractional digits and
//     "Z" or a ±HH:MM offset; they are stored in UTC at full precision.
//     Graph's placeholder 0001-01-01T00:00:00Z (in any fraction or offset
//     form) becomes nil.
//   - Int32 properties must be JSON integer literals within int32: 5.5, 5.0,
//     5e0 and "5" are rejected, as they mean Graph changed the type.
//   - Properties the schema does not define, including @odata.* annotations
//     and the beta-only properties, are kept in AdditionalProperties as
//     compacted raw JSON.
//   - Property names are matched exactly, and a repeated name is an error
//     rather than last-wins, since either copy could be the real one.
//   - Invalid UTF-8 inside strings is replaced with U+FFFD, as encoding/json
//     does, because Avro strings must be UTF-8 — except in id and
//     correlationId, which identify the row: there invalid UTF-8 (raw, or
//     an unpaired surrogate escape like \udcff) is a *RowError, since the
//     repair could turn one row's id into another's.
//   - Errors name the property and the kind of problem, never its value:
//     they end up in logs and dead-letter headers, and values are personal
//     data (user principal names, phone numbers).
//
// Every failure is a *RowError naming the property at fault, or with an
// empty Field when raw is not valid JSON or not an object; malformed JSON
// is reported even when an earlier property also had a bad value.
//
// The strings in row share one copy of raw, so raw may be reused at once,
// while keeping any one string alive keeps that copy alive.
func ParseDirectRoutingRow(raw []byte, row *DirectRoutingLogRow) error {
	return parseDirectRouting(raw, row, false)
}

// ParseDirectRoutingRowBeta is ParseDirectRoutingRow for a row of the beta
// endpoint: the beta-only properties (userCountryCode,
// otherPartyCountryCode, transferorCorrelationId, administrativeUnitInfos)
// fill their fields instead of AdditionalProperties. Encode the row with
// AppendAvroBeta.
func ParseDirectRoutingRowBeta(raw []byte, row *DirectRoutingLogRow) error {
	return parseDirectRouting(raw, row, true)
}

func parseDirectRouting(raw []byte, row *DirectRoutingLogRow, beta bool) error {
	*row = DirectRoutingLogRow{}
	if rerr := parseRow(rowInput{raw: raw}, row, new(rowStore), beta); rerr != nil {
		*row = DirectRoutingLogRow{}
		return rerr
	}
	return nil
}

// parseRow does the work of ParseDirectRoutingRow, with st backing the
// row's pointer fields. It returns *RowError, not
// error, so the wrapper cannot leak a typed nil. A non-nil
// row.AdditionalProperties is filled rather than replaced.
func parseRow(in rowInput, row *DirectRoutingLogRow, st *rowStore, beta bool) *RowError {
	p := drParser{row: row, st: st, beta: beta}
	if rerr := walkObject(in, p.property); rerr != nil {
		return rerr
	}
	for _, req := range [...]struct {
		idx  int
		name string
	}{{fieldID, "id"}, {fieldCorrelationID, "correlationId"}} {
		if p.seen&(1<<req.idx) == 0 {
			return &RowError{Field: req.name, Reason: "required property is missing"}
		}
	}
	return nil
}

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

// drParser stores the properties of one Direct Routing row.
type drParser struct {
	row  *DirectRoutingLogRow
	st   *rowStore
	seen uint32 // bit per field index: duplicate detection
	beta bool
}

// property stores one property of the row, val being its JSON value and
// plain saying it is a string that needs no decoding (see walkObject).
func (p *drParser) property(name, val string, plain bool) *RowError {
	idx := fieldIndex(name, p.beta)
	if idx < 0 {
		return addUnknown(&p.row.AdditionalProperties, name, val)
	}
	if p.seen&(1<<idx) != 0 {
		return &RowError{Field: name, Reason: "duplicate property"}
	}
	p.seen |= 1 << idx
	return p.setField(idx, name, val, plain)
}

// setField stores the JSON value val of the known property idx into row,
// using st for the pointed-to values.
func (p *drParser) setField(idx int, name, val string, plain bool) *RowError {
	row, st := p.row, p.st
	var rerr *RowError
	switch idx {
	case fieldID:
		row.ID, rerr = requiredString(name, val, plain)
	case fieldCorrelationID:
		row.CorrelationID, rerr = requiredString(name, val, plain)
	case fieldUserID:
		row.UserID, rerr = optString(&st.strs[0], name, val, plain)
	case fieldUserPrincipalName:
		row.UserPrincipalName, rerr = optString(&st.strs[1], name, val, plain)
	case fieldUserDisplayName:
		row.UserDisplayName, rerr = optString(&st.strs[2], name, val, plain)
	case fieldStartDateTime:
		row.StartDateTime, rerr = optTime(&st.times[0], name, val, plain)
	case fieldInviteDateTime:
		row.InviteDateTime, rerr = optTime(&st.times[1], name, val, plain)
	case fieldFailureDateTime:
		row.FailureDateTime, rerr = optTime(&st.times[2], name, val, plain)
	case fieldEndDateTime:
		row.EndDateTime, rerr = optTime(&st.times[3], name, val, plain)
	case fieldDuration:
		row.Duration, rerr = optInt(&st.ints[0], name, val)
	case fieldCallType:
		row.CallType, rerr = optString(&st.strs[3], name, val, plain)
	case fieldSuccessfulCall:
		row.SuccessfulCall, rerr = optBool(&st.bools[0], name, val)
	case fieldCallerNumber:
		row.CallerNumber, rerr = optString(&st.strs[4], name, val, plain)
	case fieldCalleeNumber:
		row.CalleeNumber, rerr = optString(&st.strs[5], name, val, plain)
	case fieldMediaPathLocation:
		row.MediaPathLocation, rerr = optString(&st.strs[6], name, val, plain)
	case fieldSignalingLocation:
		row.SignalingLocation, rerr = optString(&st.strs[7], name, val, plain)
	case fieldFinalSipCode:
		row.FinalSipCode, rerr = optInt(&st.ints[1], name, val)
	case fieldCallEndSubReason:
		row.CallEndSubReason, rerr = optInt(&st.ints[2], name, val)
	case fieldFinalSipCodePhrase:
		row.FinalSipCodePhrase, rerr = optString(&st.strs[8], name, val, plain)
	case fieldTrunkFullyQualifiedDomainName:
		row.TrunkFullyQualifiedDomainName, rerr = optString(&st.strs[9], name, val, plain)
	case fieldMediaBypassEnabled:
		row.MediaBypassEnabled, rerr = optBool(&st.bools[1], name, val)
	case fieldUserCountryCode:
		row.UserCountryCode, rerr = optString(&st.strs[10], name, val, plain)
	case fieldOtherPartyCountryCode:
		row.OtherPartyCountryCode, rerr = optString(&st.strs[11], name, val, plain)
	case fieldTransferorCorrelationID:
		row.TransferorCorrelationID, rerr = optString(&st.strs[12], name, val, plain)
	case fieldAdministrativeUnitInfos:
		row.AdministrativeUnitInfos, rerr = optUnitInfos(&row.AdditionalProperties, name, val)
	default:
		panic(fmt.Sprintf("schemas: no setter for field index %d", idx))
	}
	return rerr
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

func optInt(slot *int32, name, val string) (*int32, *RowError) {
	if val == "null" {
		return nil, nil
	}
	if n, ok := smallInt(val); ok {
		*slot = n
		return slot, nil
	}
	if jsonKind(val) != "number" {
		return nil, wrongType(name, "integer", val)
	}
	if strings.ContainsAny(val, ".eE") {
		return nil, &RowError{Field: name, Reason: "want integer, got a number with a fraction or exponent"}
	}
	n, err := strconv.ParseInt(val, 10, 32)
	if err != nil {
		// The JSON grammar already holds, so only the range can be wrong.
		return nil, &RowError{Field: name, Reason: "integer out of int32 range"}
	}
	*slot = int32(n)
	return slot, nil
}

// smallInt reads the integers Graph sends (SIP codes, durations): an
// optional minus and one to nine digits, without a leading zero, which
// cannot leave int32's range. Anything else takes optInt's general path.
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
