package graphsim

import (
	"strconv"
	"time"
)

// This file simulates getSmsLog (beta only): rows of smsLogRow on their own
// time grid, sentDateTime the time they are cut on.
//
// Range rules, from the reference page (callrecords-callrecord-getsmslog,
// beta): fromDateTime and toDateTime are "UTC, inclusive", and may not be
// more than 90 days apart. The simulator includes a row sent exactly at
// toDateTime and answers a wider range 406, as for getPstnCalls.

const smsRowType = "microsoft.graph.callRecords.smsLogRow"

// smsPerHourDivisor makes SMS rarer than calls: one for every eight call
// rows an hour, at least one an hour.
const smsPerHourDivisor = 8

// smsSalt separates the SMS data set's hashes from the other data sets'.
const smsSalt = 0x3c6ef372fe94f82b

// SMS hash tags.
const (
	stUser = iota
	stDir
	stExt
	stUnits
	stSmsID
	stBot
	stAU
	stCharge
)

// smsSet is the getSmsLog data set.
type smsSet struct {
	logSet
	users, bots []person
}

func (s *Server) newSmsSet() *smsSet {
	step := int64(time.Hour) / int64(max(s.cfg.RowsPerHour/smsPerHourDivisor, 1))
	return &smsSet{logSet: s.newLogSet(step, nsTick, smsSalt), users: s.users, bots: s.bots}
}

func (d *smsSet) rowType() string         { return smsRowType }
func (d *smsSet) betaOnly() bool          { return true }
func (d *smsSet) maxRange() time.Duration { return MaxBetaRange }
func (d *smsSet) inclusiveEnd() bool      { return true }
func (d *smsSet) render(dst []byte, from, to, now int64, skip, size int) ([]byte, int, int) {
	return d.renderLog(dst, from, to, now, skip, size, d.appendRow)
}

// smsRates are per-SMS charges in millionths of USD by destination
// country; inbound SMS are free.
var smsRates = map[string]int64{"US": 7_500, "GB": 41_300, "DE": 78_900, "FR": 66_000, "SE": 52_350, "AU": 48_125, "JP": 69_990}

// id is row i's id: a GUID unique over the data set (mix64 is a bijection).
func (d *smsSet) id(i int) string {
	return string(appendUUID(nil, uuidBits{mix64(uint64(i) ^ d.key), d.hash(i, 99), 4}))
}

// appendRow appends SMS row i's JSON object, in the property order of the
// reference page's example, with the beta-only administrativeUnitInfos.
func (d *smsSet) appendRow(dst []byte, i int) []byte {
	h := d.hash
	out := h(i, stDir)%100 < 55
	// About 3% are sent or received by a resource account (no user).
	bot := h(i, stBot)%100 < 3
	var u *person
	if bot {
		u = &d.bots[h(i, stUser)%uint64(len(d.bots))]
	} else {
		u = &d.users[h(i, stUser)%uint64(len(d.users))]
	}
	cc := countryCodes[h(i, stExt)%uint64(len(countryCodes))]

	dst = append(dst, `{"id":"`...)
	dst = append(dst, d.id(i)...)
	// smsId is documented as not unique: a multi-part SMS repeats the
	// previous row's.
	dst = append(dst, `","smsId":"`...)
	k := i
	if i > 0 && h(i, stSmsID)%20 == 0 {
		k = i - 1
	}
	dst = appendUUID(dst, uuidBits{h(k, stSmsID+100), mix64(h(k, stSmsID+101)), 4})
	dst = append(dst, '"')
	if bot {
		dst = append(dst, `,"userId":null,"userPrincipalName":null,"userDisplayName":`...)
	} else {
		dst = append(dst, `,"userId":"`...)
		dst = append(dst, u.id...)
		dst = append(dst, `","userPrincipalName":`...)
		dst = append(dst, u.upn...)
		dst = append(dst, `,"userDisplayName":`...)
	}
	dst = append(dst, u.display...)
	dst = append(dst, `,"userCountryCode":`...)
	dst = appendASCII(dst, u.country)
	dst = append(dst, `,"tenantCountryCode":"US"`...)
	ext := func(dst []byte) []byte { return appendMaskedNumber(dst, cc, h(i, stExt+50)) }
	dst = append(dst, `,"sourceNumber":`...)
	if out {
		dst = append(dst, u.number...)
	} else {
		dst = ext(dst)
	}
	dst = append(dst, `,"destinationNumber":`...)
	if out {
		dst = ext(dst)
	} else {
		dst = append(dst, u.number...)
	}
	dst = append(dst, `,"sentDateTime":`...)
	dst = appendTime(dst, d.at(i), 7, false)
	units := 1 + int64(h(i, stUnits)%100/80) + int64(h(i, stUnits)%100/95) // 1, 2 or 3
	dst = append(dst, `,"callCharge":`...)
	if out {
		dst = appendFixed6(dst, smsRates[cc.iso]*units)
	} else {
		dst = append(dst, "0.00"...)
	}
	dst = append(dst, `,"currency":"USD","smsType":`...)
	if out {
		dst = append(dst, `"sms_out"`...)
	} else {
		dst = append(dst, `"sms_in"`...)
	}
	dst = append(dst, `,"destinationContext":`...)
	switch {
	case !out:
		dst = append(dst, "null"...)
	case cc.iso == u.country:
		dst = append(dst, `"Domestic"`...)
	default:
		dst = append(dst, `"International"`...)
	}
	dst = append(dst, `,"destinationName":`...)
	if out {
		dst = appendASCII(dst, countryNames[cc.iso])
	} else {
		dst = appendASCII(dst, countryNames[u.country])
	}
	dst = append(dst, `,"otherPartyCountryCode":`...)
	dst = appendASCII(dst, cc.iso)
	dst = append(dst, `,"licenseCapability":"MCOSMS1","smsUnits":`...)
	dst = strconv.AppendInt(dst, units, 10)
	dst = append(dst, `,"administrativeUnitInfos":[`...)
	if h(i, stAU)%4 == 0 {
		dst = append(dst, `{"id":"`...)
		dst = append(dst, u.au...)
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...)
}

// appendMaskedNumber prints an external E.164 number of country cc with
// its last three digits masked, as Graph does for external numbers.
func appendMaskedNumber(dst []byte, cc countryCode, n uint64) []byte {
	dst = append(dst, '"')
	dst = append(dst, cc.prefix...)
	dst = append(dst, byte('2'+n%8))
	n /= 8
	for k := 1; k < cc.digits-3; k++ {
		dst = append(dst, byte('0'+n%10))
		n /= 10
	}
	return append(dst, `***"`...)
}

// SmsCount returns the number of SMS rows, visible or not, sent in
// [from, to).
func (s *Server) SmsCount(from, to time.Time) int {
	lo, hi := s.sms.span(toNs(from), toNs(to))
	return hi - lo
}

// SmsRows returns the getSmsLog ground truth: every row sent in the
// half-open [from, to), visible or not, in time order (getSmsLog itself,
// asked for toDateTime=to, also returns a row sent exactly at to). JSON and
// BetaJSON are both the beta row: the function has no v1.0 form.
func (s *Server) SmsRows(from, to time.Time) []Row {
	return s.sms.logRows(from, to, s.sms.id, s.sms.appendRow)
}
