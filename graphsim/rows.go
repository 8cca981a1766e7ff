package graphsim

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// This file generates row content. Every field is a function of the seed,
// the row index and a per-field tag, so any row, or one field of a
// neighbouring row, can be computed on its own without generating the rows
// before it.

const (
	tagID = iota
	tagID2
	tagCorr
	tagCorr2
	tagTransfer
	tagType
	tagSuccess
	tagUser
	tagBot
	tagBotNull
	tagExtCC
	tagExtNum
	tagOddNum
	tagPrec
	tagPos
	tagPlus
	tagInvite
	tagInviteNull
	tagDur
	tagFail
	tagFailAt
	tagEndNull
	tagPhraseNull
	tagSignal
	tagMedia
	tagTrunk
	tagExtra
	tagLate
	tagSubReason
	tagAU
	tagPeople
	tagRequestID
	numTags
)

const golden = 0x9E3779B97F4A7C15

// mix64 is the splitmix64 finaliser. It is a bijection on uint64, which is
// what makes row ids unique without checking.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (s *Server) initKeys() {
	for t := range s.keys {
		s.keys[t] = mix64(uint64(s.cfg.Seed)*golden + uint64(t+1)*0xD1B54A32D192ED03)
	}
}

// h returns the hash of row i for one field.
func (s *Server) h(i int, tag int) uint64 {
	return mix64(uint64(i)*golden + s.keys[tag])
}

// frac maps a hash to [0, 1).
func frac(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// uuidBits is 128 bits to print as a UUID; the printer overwrites the 6
// version and variant bits, so only hi carries a guaranteed-unique value.
type uuidBits struct {
	hi, lo  uint64
	version byte
}

// idBits returns the bits of row i's id. hi is a bijection of i, and
// appendUUID keeps all 64 of its bits, so ids never collide within a seed.
func (s *Server) idBits(i int) uuidBits {
	return uuidBits{mix64(uint64(i) + s.keys[tagID]), s.h(i, tagID2), 5}
}

func (s *Server) freshCorrBits(i int) uuidBits {
	return uuidBits{s.h(i, tagCorr), s.h(i, tagCorr2), 4}
}

// corrBits returns row i's correlationId: a transfer or forward leg shares
// the correlationId of the inbound call before it.
func (s *Server) corrBits(i int) uuidBits {
	if s.isTransfer(i) {
		return s.freshCorrBits(i - 1)
	}
	return s.freshCorrBits(i)
}

const hexDigits = "0123456789abcdef"

// appendUUID prints b in 8-4-4-4-12 form. The 64 bits of hi fill hex digits
// 0-11, 13-15 and 17, skipping the version digit 12 and the variant digit 16.
func appendUUID(dst []byte, b uuidBits) []byte {
	var d [32]byte
	hi, lo := b.hi, b.lo
	for k := 0; k < 12; k++ {
		d[k] = hexDigits[hi>>60]
		hi <<= 4
	}
	d[12] = hexDigits[b.version]
	for k := 13; k < 16; k++ {
		d[k] = hexDigits[hi>>60]
		hi <<= 4
	}
	d[16] = hexDigits[8|lo&3]
	lo >>= 2
	d[17] = hexDigits[hi>>60]
	for k := 18; k < 32; k++ {
		d[k] = hexDigits[lo&15]
		lo >>= 4
	}
	dst = append(dst, d[0:8]...)
	dst = append(dst, '-')
	dst = append(dst, d[8:12]...)
	dst = append(dst, '-')
	dst = append(dst, d[12:16]...)
	dst = append(dst, '-')
	dst = append(dst, d[16:20]...)
	dst = append(dst, '-')
	return append(dst, d[20:32]...)
}

// Call types as the API spells them (not the admin center's dr_* names).
const (
	ctIn       = "ByotIn"
	ctOut      = "ByotOut"
	ctInUcap   = "ByotInUcap"
	ctTransfer = "ByotOutUserTransfer"
	ctForward  = "ByotOutUserForwarding"
)

// transferFlag marks about 10% of rows as candidate transfer legs.
func (s *Server) transferFlag(i int) bool {
	return i >= 1 && s.h(i, tagTransfer)%100 < 11
}

// isTransfer reports whether row i is a transfer or forward leg of row i-1.
// Two legs in a row are not allowed, so the previous row is always the
// original inbound call.
func (s *Server) isTransfer(i int) bool {
	return s.transferFlag(i) && !s.transferFlag(i-1)
}

func (s *Server) callType(i int) string {
	if s.isTransfer(i) {
		if s.h(i, tagType)&1 == 0 {
			return ctTransfer
		}
		return ctForward
	}
	if s.isTransfer(i + 1) {
		return ctIn
	}
	switch v := s.h(i, tagType) % 100; {
	case v < 47:
		return ctIn
	case v < 84:
		return ctOut
	default:
		return ctInUcap
	}
}

func (s *Server) successful(i int) bool {
	if s.isTransfer(i + 1) {
		return true // a call that gets transferred was answered
	}
	return s.h(i, tagSuccess)%100 >= 15
}

// userIdx picks the tenant user on row i; a transfer leg belongs to the user
// who answered the inbound call.
func (s *Server) userIdx(i int) int {
	if s.isTransfer(i) {
		i--
	}
	return int(s.h(i, tagUser) % uint64(len(s.users)))
}

// externalNumber prints the remote party of row i: mostly masked E.164,
// sometimes what PBXs and spam callers really send.
func (s *Server) appendExternalNumber(dst []byte, i int) []byte {
	if v := s.h(i, tagOddNum) % 1000; v < 25 {
		return append(dst, oddNumbersJSON[v%uint64(len(oddNumbersJSON))]...)
	}
	c := countryCodes[s.h(i, tagExtCC)%uint64(len(countryCodes))]
	dst = append(dst, '"')
	dst = append(dst, c.prefix...)
	n := s.h(i, tagExtNum)
	dst = append(dst, byte('2'+n%8))
	n /= 8
	for k := 1; k < c.digits-3; k++ {
		dst = append(dst, byte('0'+n%10))
		n /= 10
	}
	return append(dst, `***"`...)
}

type trunk struct {
	fqdn   string
	bypass bool
}

var trunks = []trunk{
	{"sbc01.contoso.com", false},
	{"sbc02.contoso.com", true},
	{"sbc-eu1.contoso.com", true},
	{"sbc-ap1.contoso.com", false},
}

var locations = []string{"USWE", "USEA", "USSC", "EUNO", "EUWE", "APSE"}

type sipFailure struct {
	code   int
	phrase string
}

var sipFailures = []sipFailure{
	{404, "Not Found"},
	{408, "Request Timeout"},
	{480, "Temporarily Unavailable"},
	{486, "Busy Here"},
	{487, "Request Terminated"},
	{503, "Service Unavailable"},
	{484, "Address Incomplete"},
}

type countryCode struct {
	prefix string
	digits int // national significant digits, masked ones included
	iso    string
}

var countryCodes = []countryCode{
	{"+1", 10, "US"}, {"+1", 10, "US"}, {"+44", 10, "GB"}, {"+49", 11, "DE"},
	{"+33", 9, "FR"}, {"+46", 9, "SE"}, {"+61", 9, "AU"}, {"+81", 10, "JP"},
}

// oddNumbers are values seen in caller/callee fields that are not E.164.
var oddNumbers = []string{"4711", "2305", "Anonymous", `ACME "Sales" Ltd`, "0049301234***", "sip:reception@fabrikam.com", "Zoë's Bäckerei"}

// oddNumbersJSON holds oddNumbers as JSON strings, escaped once.
var oddNumbersJSON = func() []string {
	out := make([]string, len(oddNumbers))
	for i, v := range oddNumbers {
		out[i] = jsonString(v)
	}
	return out
}()

// sentinel is the DateTimeOffset.MinValue Graph prints for "no value".
const sentinel = `"0001-01-01T00:00:00Z"`

// appendTime prints a DateTimeOffset the way Graph does for this row:
// seconds with 0, 3 or 7 fractional digits and Z or +00:00.
func appendTime(dst []byte, ns int64, digits int, plus bool) []byte {
	secs := floorDiv(ns, nsSecond)
	f := ns - secs*nsSecond
	days := floorDiv(secs, 86400)
	sod := secs - days*86400
	y, m, d := civil(days)
	b := [21]byte{'"', 0, 0, 0, 0, '-', 0, 0, '-', 0, 0, 'T', 0, 0, ':', 0, 0, ':', 0, 0}
	put2(b[1:], y/100)
	put2(b[3:], y%100)
	put2(b[6:], m)
	put2(b[9:], d)
	put2(b[12:], sod/3600)
	put2(b[15:], sod/60%60)
	put2(b[18:], sod%60)
	dst = append(dst, b[:20]...)
	switch digits {
	case 3:
		dst = appendFrac(dst, f/nsMilli, 3)
	case 7:
		dst = appendFrac(dst, f/nsTick, 7)
	}
	if plus {
		return append(dst, `+00:00"`...)
	}
	return append(dst, `Z"`...)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse). time.Time.AppendFormat did the
// same job at over half the cost of a whole row.
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

func put2(b []byte, v int64) {
	b[0] = byte('0' + v/10)
	b[1] = byte('0' + v%10)
}

func appendFrac(dst []byte, v int64, width int) []byte {
	var b [8]byte
	b[0] = '.'
	for k := width; k >= 1; k-- {
		b[k] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[:width+1]...)
}

// appendRow appends row i's JSON object, with the 21 v1.0 properties in
// Graph's order, plus the beta-only properties when beta is set.
func (s *Server) appendRow(dst []byte, i int, beta bool) []byte {
	st := s.slotStart(i)
	start, digits := st.ns, st.digits
	unit := unitFor(digits)
	plus := s.h(i, tagPlus)%20 == 0
	ct := s.callType(i)
	ok := s.successful(i)
	bot := ct == ctInUcap

	dst = append(dst, `{"id":"`...)
	dst = appendUUID(dst, s.idBits(i))
	dst = append(dst, `","correlationId":"`...)
	dst = appendUUID(dst, s.corrBits(i))
	dst = append(dst, '"')

	var u *person
	if bot {
		b := &s.bots[s.h(i, tagBot)%uint64(len(s.bots))]
		// Bot rows have no user; Graph sends null or, less often, "".
		if s.h(i, tagBotNull)%10 < 7 {
			dst = append(dst, `,"userId":null`...)
		} else {
			dst = append(dst, `,"userId":""`...)
		}
		dst = append(dst, `,"userPrincipalName":null,"userDisplayName":`...)
		dst = append(dst, b.display...)
		u = b
	} else {
		u = &s.users[s.userIdx(i)]
		dst = append(dst, `,"userId":"`...)
		dst = append(dst, u.id...)
		dst = append(dst, `","userPrincipalName":`...)
		dst = append(dst, u.upn...)
		dst = append(dst, `,"userDisplayName":`...)
		dst = append(dst, u.display...)
	}

	dst = append(dst, `,"startDateTime":`...)
	dst = appendTime(dst, start, digits, plus)

	dst = append(dst, `,"inviteDateTime":`...)
	if s.h(i, tagInviteNull)%100 == 0 {
		dst = append(dst, "null"...)
	} else {
		d := 300*nsMilli + int64(s.h(i, tagInvite)%uint64(5700*nsMilli))
		d = max(d-d%unit, unit)
		dst = appendTime(dst, start-d, digits, plus)
	}

	duration := s.callDuration(i, ok)
	dst = append(dst, `,"failureDateTime":`...)
	if ok {
		dst = append(dst, sentinel...)
	} else {
		dst = appendTime(dst, start+s.failureOffset(i, unit), digits, plus)
	}
	dst = append(dst, `,"endDateTime":`...)
	switch {
	case ok:
		dst = appendTime(dst, start+int64(duration)*nsSecond, digits, plus)
	case s.h(i, tagEndNull)&1 == 0:
		dst = append(dst, "null"...)
	default:
		dst = append(dst, sentinel...)
	}
	dst = append(dst, `,"duration":`...)
	dst = strconv.AppendInt(dst, int64(duration), 10)
	dst = append(dst, `,"callType":"`...)
	dst = append(dst, ct...)
	dst = append(dst, '"')
	if s.cfg.ExtraProperty {
		dst = s.appendExtra(dst, i)
	}
	dst = append(dst, `,"successfulCall":`...)
	dst = strconv.AppendBool(dst, ok)

	// Inbound and bot calls come from outside; outbound legs go to it. A
	// transfer or forward leg keeps the original caller.
	dst = append(dst, `,"callerNumber":`...)
	switch ct {
	case ctIn, ctInUcap:
		dst = s.appendExternalNumber(dst, i)
	case ctOut:
		dst = append(dst, u.number...)
	default:
		dst = s.appendExternalNumber(dst, i-1)
	}
	dst = append(dst, `,"calleeNumber":`...)
	switch ct {
	case ctIn, ctInUcap:
		dst = append(dst, u.number...)
	default:
		dst = s.appendExternalNumber(dst, i)
	}

	tr := trunks[s.h(i, tagTrunk)%uint64(len(trunks))]
	// Bypassed media never touches a Microsoft datacenter.
	dst = append(dst, `,"mediaPathLocation":`...)
	if tr.bypass {
		dst = append(dst, "null"...)
	} else {
		dst = appendASCII(dst, locations[s.h(i, tagMedia)%uint64(len(locations))])
	}
	dst = append(dst, `,"signalingLocation":`...)
	dst = appendASCII(dst, locations[s.h(i, tagSignal)%uint64(len(locations))])

	dst = append(dst, `,"finalSipCode":`...)
	if ok {
		dst = append(dst, `0,"callEndSubReason":`...)
		if s.h(i, tagSubReason)%10 == 0 {
			dst = append(dst, "540200"...)
		} else {
			dst = append(dst, "540000"...)
		}
		dst = append(dst, `,"finalSipCodePhrase":"BYE"`...)
	} else {
		f := sipFailures[s.h(i, tagFail)%uint64(len(sipFailures))]
		dst = strconv.AppendInt(dst, int64(f.code), 10)
		dst = append(dst, `,"callEndSubReason":`...)
		dst = strconv.AppendInt(dst, int64(560000+f.code), 10)
		dst = append(dst, `,"finalSipCodePhrase":`...)
		if s.h(i, tagPhraseNull)%20 == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = appendASCII(dst, f.phrase)
		}
	}
	dst = append(dst, `,"trunkFullyQualifiedDomainName":"`...)
	dst = append(dst, tr.fqdn...)
	dst = append(dst, `","mediaBypassEnabled":`...)
	dst = strconv.AppendBool(dst, tr.bypass)

	if beta {
		dst = append(dst, `,"userCountryCode":`...)
		dst = appendASCII(dst, u.country)
		dst = append(dst, `,"otherPartyCountryCode":`...)
		if v := s.h(i, tagOddNum) % 1000; v < 25 {
			dst = append(dst, "null"...)
		} else {
			dst = appendASCII(dst, countryCodes[s.h(i, tagExtCC)%uint64(len(countryCodes))].iso)
		}
		dst = append(dst, `,"transferorCorrelationId":`...)
		if s.isTransfer(i) {
			dst = append(dst, '"')
			dst = appendUUID(dst, s.corrBits(i))
			dst = append(dst, '"')
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, `,"administrativeUnitInfos":[`...)
		if s.h(i, tagAU)%4 == 0 {
			dst = append(dst, `{"id":"`...)
			dst = append(dst, u.au...)
			dst = append(dst, `"}`...)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// callDuration is row i's duration in seconds: 0 for a failed call, and
// for an answered one roughly exponential with a mean near three minutes.
func (s *Server) callDuration(i int, ok bool) int {
	if !ok {
		return 0
	}
	return min(3+int(-math.Log(1-frac(s.h(i, tagDur)))*170), 4*3600)
}

// failureOffset is how long after its start failed row i failed, whole
// units of the precision its times are printed with.
func (s *Server) failureOffset(i int, unit int64) int64 {
	return int64(s.h(i, tagFailAt)%uint64(20*nsSecond)) / unit * unit
}

// appendExtra adds, to about one row in 50, a property v1.0 does not define:
// sometimes a number, sometimes a nested object.
func (s *Server) appendExtra(dst []byte, i int) []byte {
	v := s.h(i, tagExtra)
	if v%50 != 0 {
		return dst
	}
	v /= 50
	if v&1 == 0 {
		dst = append(dst, `,"callQualityScore":`...)
		return strconv.AppendFloat(dst, 1+float64(v%41)/10, 'f', -1, 64)
	}
	dst = append(dst, `,"callQualityDetails":{"jitterMs":`...)
	dst = strconv.AppendInt(dst, int64(v%90), 10)
	dst = append(dst, `,"packetLossRate":0.0`...)
	dst = strconv.AppendInt(dst, int64(v%97), 10)
	return append(dst, `,"codec":"SILKWB","streams":[{"direction":"callerToCallee"},{"direction":"calleeToCaller"}]}`...)
}

// appendASCII quotes a string known to need no escaping.
func appendASCII(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendJSONString appends s as a JSON string. Non-ASCII text is kept as
// UTF-8, as Graph sends it; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
