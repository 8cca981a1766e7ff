package graphsim

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/callstream/callstream/sources"
)

// This file simulates getPstnCalls: its own data set of pstnCallLogRow
// rows, served from the same time grid as the Direct Routing rows (same
// Start, End, RowsPerHour and visibility settings) but with its own ids,
// start-time positions, late rows and content.

// Function names one of the simulated Graph functions, as its sources
// entry spells it.
type Function string

// The functions of the simulator's two data sets, named for Malformation
// and the tests; TestDataSetsMatchRegistry checks them against the
// sources registry, which routes requests.
const (
	DirectRoutingCalls Function = "getDirectRoutingCalls"
	PstnCalls          Function = "getPstnCalls"
)

// CodeNotAcceptable is the error code of the 406 for a range wider than a
// function's sources.Source.MaxRange. Graph's documentation names only
// the status; the code and message are the simulator's.
const CodeNotAcceptable = "NotAcceptable"

// InclusiveEnd reports whether fn returns rows starting exactly at
// toDateTime, as its sources entry says (and the simulator serves); the
// beta data sets with no entry yet (getSmsLog documented inclusive,
// getPstnBlockedUsersLog and getPstnOnlineMeetingDialoutReport silent,
// simulated inclusive: see sms.go, blocked.go, dialout.go) include it.
func (fn Function) InclusiveEnd() bool {
	if _, ok := sources.ByFunction(string(fn)); !ok {
		return true
	}
	return sources.InclusiveEnd(string(fn))
}

// pstnSalt separates the PSTN data set's hashes from the Direct Routing
// ones built from the same seed.
const pstnSalt = 0x5bd1e9955bd1e995

// newPstnSet returns the PSTN data set: a Server that shares s's grid,
// visibility settings and tenant (users, bots) but hashes every row with
// its own keys. It is only used for row generation and index math; the
// parent handles requests, faults and stats.
func (s *Server) newPstnSet() *Server {
	p := &Server{
		cfg:        s.cfg,
		versions:   s.versions,
		now:        s.now,
		t0:         s.t0,
		end:        s.end,
		step:       s.step,
		n:          s.n,
		lateThresh: s.lateThresh,
		lateAll:    s.lateAll,
		dNormal:    s.dNormal,
		dLate:      s.dLate,
		users:      s.users,
		bots:       s.bots,
		lateBlocks: make(map[int]int),
	}
	for t := range p.keys {
		p.keys[t] = mix64(s.keys[t] ^ pstnSalt)
	}
	return p
}

// dataset returns the Server holding fn's rows: its sources entry's data
// set, or the default one for a function not in the registry.
func (s *Server) dataset(fn Function) *Server {
	src, ok := sources.ByFunction(string(fn))
	if !ok {
		return s
	}
	if ds := s.dataSet(src.DataSet); ds != nil {
		return ds
	}
	return s
}

// dataSet returns the data set named name (sources.Source.DataSet), or
// nil if the simulator has none of that name. A new source's data set is
// added here; New refuses a registry entry without one.
func (s *Server) dataSet(name string) *Server {
	switch name {
	case "direct-routing":
		return s
	case "pstn":
		return s.pstn
	}
	return nil
}

// PstnLen returns the number of rows in the whole PSTN data set; it equals
// Len, as both data sets share one time grid.
func (s *Server) PstnLen() int { return s.pstn.n }

// PstnCount returns the number of PSTN rows, visible or not, whose start
// is in [from, to).
func (s *Server) PstnCount(from, to time.Time) int {
	lo, hi := s.pstn.indexRange(toNs(from), toNs(to))
	return hi - lo
}

// PstnCountVisible returns the number of PSTN rows whose start is in
// [from, to) that are visible at now.
func (s *Server) PstnCountVisible(from, to, now time.Time) int {
	p := s.pstn
	lo, hi := p.indexRange(toNs(from), toNs(to))
	return p.plan(lo, hi, toNs(now)).total(p)
}

// PstnRows returns the PSTN ground truth: every row whose start is in the
// half-open [from, to), visible or not, in start order — what a client
// should end up with for that window, although getPstnCalls itself, asked
// for fromDateTime=from and toDateTime=to, also returns the rows starting
// exactly at to.
func (s *Server) PstnRows(from, to time.Time) []Row {
	lo, hi := s.pstn.indexRange(toNs(from), toNs(to))
	out := make([]Row, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, s.PstnRowAt(i))
	}
	return out
}

// PstnRowAt returns row i of the PSTN data set. It panics unless
// 0 <= i < PstnLen().
func (s *Server) PstnRowAt(i int) Row {
	p := s.pstn
	if i < 0 || i >= p.n {
		panic(fmt.Sprintf("graphsim: PSTN row index %d out of range [0, %d)", i, p.n))
	}
	st := p.slotStart(i)
	r := Row{
		Index:     i,
		ID:        string(appendUUID(nil, p.idBits(i))),
		CallID:    string(p.appendCallID(nil, i)),
		Start:     time.Unix(0, st.ns).UTC(),
		VisibleAt: time.Unix(0, st.ns+p.delay(i)).UTC(),
		JSON:      s.appendServed(nil, PstnCalls, i, false),
		BetaJSON:  s.appendServed(nil, PstnCalls, i, true),
	}
	s.markMalformed(&r, PstnCalls)
	return r
}

// PSTN call types (getPstnCalls spells them as the admin center does), with
// the Operator Connect ones carrying an oc_ prefix.
const (
	pctUserIn      = "user_in"
	pctUserOut     = "user_out"
	pctTransfer    = "user_out_transfer"
	pctForwarding  = "user_out_forwarding"
	pctConfIn      = "conf_in"
	pctConfOut     = "conf_out"
	pctUcapIn      = "ucap_in"
	pctUcapOut     = "ucap_out"
	pctOcUserIn    = "oc_user_in"
	pctOcUserOut   = "oc_user_out"
	pctOcUcapIn    = "oc_ucap_in"
	conferenceDID  = `"+14255550100"`
	tenantCountry  = "US"
	tenantCurrency = "USD"
)

// pstnTypes weights the call types of rows that are not transfer legs.
var pstnTypes = []struct {
	name   string
	weight int
}{
	{pctUserIn, 33}, {pctUserOut, 30}, {pctConfIn, 6}, {pctConfOut, 4},
	{pctUcapIn, 9}, {pctUcapOut, 2}, {pctOcUserIn, 7}, {pctOcUserOut, 7}, {pctOcUcapIn, 2},
}

// PSTN-only hash tags, for ph.
const (
	ptLeg = iota
	ptType
	ptDur
	ptZeroDur
	ptRateDigits
	ptZeroForm
	ptPremium
	ptConn
	ptOperator
	ptSource
	ptSourceNull
	ptConf
	ptCallID
	ptCallIDHost
	ptIPv6Local
	ptIPv6Public
	ptIP
	ptLicense
)

// ph is the hash of row i for a PSTN-only field.
func (s *Server) ph(i, tag int) uint64 {
	return mix64(uint64(i)*golden + mix64(s.keys[tagExtra]^uint64(tag+1)*0xA24BAED4963EE407))
}

// legFlag marks about 6% of rows as candidate transfer or forward legs.
func (s *Server) legFlag(i int) bool { return i >= 1 && s.ph(i, ptLeg)%100 < 6 }

// isLeg reports whether PSTN row i is a transfer or forward leg of row
// i-1, which then shares its callId; legs never follow legs.
func (s *Server) isLeg(i int) bool { return s.legFlag(i) && !s.legFlag(i-1) }

func (s *Server) pstnCallType(i int) string {
	if s.isLeg(i) {
		if s.ph(i, ptType)&1 == 0 {
			return pctTransfer
		}
		return pctForwarding
	}
	if s.isLeg(i + 1) {
		return pctUserIn // a call that gets transferred came in to a user
	}
	v := int(s.ph(i, ptType) % 100)
	for _, t := range pstnTypes {
		if v < t.weight {
			return t.name
		}
		v -= t.weight
	}
	return pctUserIn
}

// appendCallID prints row i's callId: a Calling Plan call gets the
// "<digits>_<digits>@<ip>" form of the documentation example (with an
// address from the documentation ranges), an Operator Connect call a GUID.
// A transfer leg repeats the callId of the call it continues, so callIds
// are not unique, as documented.
func (s *Server) appendCallID(dst []byte, i int) []byte {
	if s.isLeg(i) {
		i--
	}
	h := s.ph(i, ptCallID)
	if isOperatorConnect(s.pstnCallType(i)) {
		return appendUUID(dst, uuidBits{h, mix64(h), 4})
	}
	dst = strconv.AppendUint(dst, 1_000_000_000+h%9_000_000_000, 10)
	dst = append(dst, '_')
	dst = strconv.AppendUint(dst, 100_000_000+(h>>34)%900_000_000, 10)
	dst = append(dst, '@')
	return appendDocIP(dst, s.ph(i, ptCallIDHost))
}

// appendDocIP prints an IPv4 address from the documentation ranges
// (RFC 5737), so no real host appears in simulated data.
func appendDocIP(dst []byte, h uint64) []byte {
	nets := [...]string{"192.0.2.", "198.51.100.", "203.0.113."}
	dst = append(dst, nets[h%3]...)
	return strconv.AppendUint(dst, 1+(h>>8)%254, 10)
}

func isOperatorConnect(ct string) bool { return len(ct) > 3 && ct[:3] == "oc_" }

func isInbound(ct string) bool {
	switch ct {
	case pctUserIn, pctConfIn, pctUcapIn, pctOcUserIn, pctOcUcapIn:
		return true
	}
	return false
}

// pstnRates are per-minute charges in ten-thousandths of the tenant
// currency, by destination country, and a premium-rate destination.
var pstnRates = map[string]int64{"US": 190, "GB": 350, "DE": 400, "FR": 380, "SE": 420, "AU": 560, "JP": 890}

const premiumRate = 25_000 // 2.5000 a minute

var countryNames = map[string]string{
	"US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France",
	"SE": "Sweden", "AU": "Australia", "JP": "Japan",
}

// appendPstnRow appends PSTN row i's JSON object with the 23 v1.0
// properties in the order of Graph's documentation example, plus the
// beta-only ones when beta is set.
func (s *Server) appendPstnRow(dst []byte, i int, beta bool) []byte {
	st := s.slotStart(i)
	start, digits := st.ns, st.digits
	plus := s.h(i, tagPlus)%20 == 0
	ct := s.pstnCallType(i)
	oc := isOperatorConnect(ct)
	in := isInbound(ct)
	bot := ct == pctUcapIn || ct == pctUcapOut || ct == pctOcUcapIn
	conf := ct == pctConfIn || ct == pctConfOut
	// The remote party: a transfer leg keeps its original caller's country.
	ext := i
	if s.isLeg(i) {
		ext = i - 1
	}
	cc := countryCodes[s.h(ext, tagExtCC)%uint64(len(countryCodes))]
	odd := s.h(ext, tagOddNum)%1000 < 25

	dst = append(dst, `{"id":"`...)
	dst = appendUUID(dst, s.idBits(i))
	dst = append(dst, `","callId":"`...)
	dst = s.appendCallID(dst, i)
	dst = append(dst, '"')

	var u *person
	if bot {
		u = &s.bots[s.h(i, tagBot)%uint64(len(s.bots))]
		if s.h(i, tagBotNull)%10 < 7 {
			dst = append(dst, `,"userId":null`...)
		} else {
			dst = append(dst, `,"userId":""`...)
		}
		dst = append(dst, `,"userPrincipalName":null,"userDisplayName":`...)
		dst = append(dst, u.display...)
	} else {
		k := i
		if s.isLeg(i) {
			k = i - 1 // the user who answered the call transfers it
		}
		u = &s.users[s.h(k, tagUser)%uint64(len(s.users))]
		dst = append(dst, `,"userId":"`...)
		dst = append(dst, u.id...)
		dst = append(dst, `","userPrincipalName":`...)
		dst = append(dst, u.upn...)
		dst = append(dst, `,"userDisplayName":`...)
		dst = append(dst, u.display...)
	}

	duration := int64(0)
	if s.ph(i, ptZeroDur)%100 >= 4 {
		duration = 3 + int64(-math.Log(1-frac(s.ph(i, ptDur)))*170)
		duration = min(duration, 4*3600)
	}
	dst = append(dst, `,"startDateTime":`...)
	dst = appendTime(dst, start, digits, plus)
	dst = append(dst, `,"endDateTime":`...)
	dst = appendTime(dst, start+duration*nsSecond, digits, plus)
	dst = append(dst, `,"duration":`...)
	dst = strconv.AppendInt(dst, duration, 10)

	// Operator Connect calls are billed by the operator: Graph has no
	// charge or currency for them. Inbound calls are free.
	dst = append(dst, `,"charge":`...)
	switch {
	case oc:
		dst = append(dst, "null"...)
	case in:
		dst = s.appendZero(dst, i)
	default:
		rate, ok := pstnRates[cc.iso]
		if !ok || odd {
			rate = pstnRates[tenantCountry]
		}
		if s.ph(i, ptPremium)%200 == 0 {
			rate = premiumRate
		}
		minutes := (duration + 59) / 60
		dst = s.appendMoney(dst, i, rate*minutes)
	}
	dst = append(dst, `,"callType":"`...)
	dst = append(dst, ct...)
	dst = append(dst, '"')
	if s.cfg.ExtraProperty {
		dst = s.appendExtra(dst, i)
	}
	dst = append(dst, `,"currency":`...)
	if oc {
		dst = append(dst, "null"...)
	} else {
		dst = appendASCII(dst, tenantCurrency)
	}

	// Numbers: the user's (or the bridge's) DID on our side, the remote
	// party's on the other.
	own := u.number
	if conf {
		own = conferenceDID
	}
	party := func(dst []byte, remote bool) []byte {
		if remote {
			return s.appendExternalNumber(dst, ext)
		}
		return append(dst, own...)
	}
	dst = append(dst, `,"calleeNumber":`...)
	dst = party(dst, !in)
	dst = append(dst, `,"usageCountryCode":`...)
	dst = appendASCII(dst, u.country)
	dst = append(dst, `,"tenantCountryCode":`...)
	dst = appendASCII(dst, tenantCountry)
	dst = append(dst, `,"connectionCharge":`...)
	switch {
	case oc:
		dst = append(dst, "null"...)
	case !in && cc.iso != tenantCountry && !odd && s.ph(i, ptConn)%3 == 0:
		dst = s.appendMoney(dst, i, 500) // 0.0500 to connect an international call
	default:
		dst = s.appendZero(dst, i)
	}
	dst = append(dst, `,"callerNumber":`...)
	dst = party(dst, in)

	dst = append(dst, `,"destinationContext":`...)
	switch {
	case in || odd:
		dst = append(dst, "null"...)
	case cc.iso == tenantCountry:
		dst = append(dst, `"Domestic"`...)
	default:
		dst = append(dst, `"International"`...)
	}
	dst = append(dst, `,"destinationName":`...)
	switch {
	case in:
		dst = appendASCII(dst, countryNames[tenantCountry])
	case odd:
		dst = append(dst, "null"...)
	default:
		dst = appendASCII(dst, countryNames[cc.iso])
	}
	dst = append(dst, `,"conferenceId":`...)
	if conf {
		dst = append(dst, '"')
		dst = strconv.AppendUint(dst, 100_000_000+s.ph(i, ptConf)%900_000_000, 10)
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"licenseCapability":`...)
	switch {
	case oc:
		dst = append(dst, `"MCOEV"`...)
	case conf:
		dst = append(dst, `"MCOMEETADD"`...)
	case bot:
		dst = append(dst, `"MCOPSTNPP"`...)
	default:
		licenses := [...]string{`"MCOPSTNU"`, `"MCOPSTN1"`, `"MCOPSTN2"`, `"MCOPSTN5"`}
		dst = append(dst, licenses[s.ph(i, ptLicense)%4]...)
	}
	dst = append(dst, `,"inventoryType":`...)
	if bot || conf {
		dst = append(dst, `"Service"`...)
	} else {
		dst = append(dst, `"Subscriber"`...)
	}
	dst = append(dst, `,"operator":`...)
	if oc {
		operators := [...]string{`"Contoso Telecom"`, `"Fabrikam Voice Ltd."`}
		dst = append(dst, operators[s.ph(i, ptOperator)%2]...)
	} else {
		dst = append(dst, `"Microsoft"`...)
	}
	dst = append(dst, `,"callDurationSource":`...)
	switch {
	case s.ph(i, ptSourceNull)%100 == 0:
		dst = append(dst, "null"...)
	case oc && s.ph(i, ptSource)%10 < 7:
		dst = append(dst, `"operator"`...)
	default:
		dst = append(dst, `"microsoft"`...)
	}

	if beta {
		dst = s.appendPstnBeta(dst, i, u, cc.iso, odd || conf, bot || conf)
	}
	return append(dst, '}')
}

// appendMoney prints an amount in ten-thousandths the way Graph prints an
// Edm.Decimal: a JSON number with two fractional digits when the amount
// allows it (sometimes), four otherwise, trailing zeros kept.
func (s *Server) appendMoney(dst []byte, i int, tenThousandths int64) []byte {
	if tenThousandths == 0 {
		return s.appendZero(dst, i)
	}
	dst = strconv.AppendInt(dst, tenThousandths/10_000, 10)
	frac := tenThousandths % 10_000
	if frac%100 == 0 && s.ph(i, ptRateDigits)&1 == 0 {
		return append(dst, '.', byte('0'+frac/1000), byte('0'+frac/100%10))
	}
	return append(dst, '.', byte('0'+frac/1000), byte('0'+frac/100%10), byte('0'+frac/10%10), byte('0'+frac%10))
}

// appendZero prints a zero charge, mostly as the documentation example
// does (0.00), sometimes as 0 or 0.0000.
func (s *Server) appendZero(dst []byte, i int) []byte {
	switch s.ph(i, ptZeroForm) % 10 {
	case 0:
		return append(dst, '0')
	case 1:
		return append(dst, "0.0000"...)
	}
	return append(dst, "0.00"...)
}

// appendPstnBeta appends the beta-only PSTN properties. Client addresses
// exist only for calls a user's client made or took; they come from the
// private and documentation ranges (RFC 1918, 5737, 3849).
func (s *Server) appendPstnBeta(dst []byte, i int, u *person, otherISO string, noOther, noClient bool) []byte {
	dst = append(dst, `,"otherPartyCountryCode":`...)
	if noOther {
		dst = append(dst, "null"...)
	} else {
		dst = appendASCII(dst, otherISO)
	}
	h := s.ph(i, ptIP)
	if noClient {
		dst = append(dst, `,"clientLocalIpV4Address":null,"clientLocalIpV6Address":null,"clientPublicIpV4Address":null,"clientPublicIpV6Address":null`...)
	} else {
		dst = append(dst, `,"clientLocalIpV4Address":"`...)
		if h&1 == 0 {
			dst = append(dst, "10."...)
			dst = strconv.AppendUint(dst, (h>>8)%256, 10)
		} else {
			dst = append(dst, "192.168"...)
		}
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, (h>>16)%256, 10)
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, 1+(h>>24)%254, 10)
		dst = append(dst, `","clientLocalIpV6Address":`...)
		if s.ph(i, ptIPv6Local)%2 == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, `"fe80::`...)
			dst = strconv.AppendUint(dst, (h>>32)%0x10000, 16)
			dst = append(dst, ':')
			dst = strconv.AppendUint(dst, (h>>48)%0x10000, 16)
			dst = append(dst, '"')
		}
		dst = append(dst, `,"clientPublicIpV4Address":"`...)
		dst = appendDocIP(dst, mix64(h))
		dst = append(dst, `","clientPublicIpV6Address":`...)
		if s.ph(i, ptIPv6Public)%3 != 0 {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, `"2001:db8:`...)
			dst = strconv.AppendUint(dst, (h>>40)%0x10000, 16)
			dst = append(dst, "::"...)
			dst = strconv.AppendUint(dst, 1+(h>>20)%0xfffe, 16)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, `,"administrativeUnitInfos":[`...)
	if s.h(i, tagAU)%4 == 0 {
		dst = append(dst, `{"id":"`...)
		dst = append(dst, u.au...)
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}
