package graphsim

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// This file simulates getPstnOnlineMeetingDialoutReport (beta only): not a
// log but an aggregate. The data set is a log of audio-conferencing
// dial-out calls (never served itself); a request answers with their
// totals over the range asked, one row per organizer, usage location,
// destination context and currency, as the reference page describes. Only
// calls visible at the time of the request count, so re-reading a range
// after a late call changes that row's figures.
//
// Range rules, from the reference page
// (callrecords-callrecord-getpstnonlinemeetingdialoutreport, beta): the
// range "can't be more than a date range of 90 days"; whether toDateTime
// is inclusive is not said. The simulator counts a call starting exactly
// at toDateTime, like getPstnCalls, so a client reading one UTC day must
// ask for toDateTime = the next midnight minus 100 ns (Graph's finest
// unit), which is exact whichever way Graph decides.

const dialoutRowType = "microsoft.graph.callRecords.pstnOnlineMeetingDialoutReport"

// dialoutPerHourDivisor: one dial-out call for every four call rows.
const dialoutPerHourDivisor = 4

const dialoutSalt = 0x6a09e667f3bcc909

// Dial-out hash tags.
const (
	dtUser = iota
	dtDest
	dtSecs
	dtCurrency
)

// currencies by the organizer's usage location; anything else bills USD.
var currencies = map[string]string{"GR": "EUR", "AE": "AED", "CN": "CNY"}

// dialoutRates are per-minute dial-out rates in millionths, by destination.
var dialoutRates = map[string]int64{"US": 12_000, "GB": 23_500, "DE": 26_125, "FR": 24_000, "SE": 29_990, "AU": 35_000, "JP": 61_750}

// dialoutSet is the getPstnOnlineMeetingDialoutReport data set.
type dialoutSet struct {
	logSet // the dial-out calls
	users  []person
}

func (s *Server) newDialoutSet() *dialoutSet {
	step := int64(time.Hour) / int64(max(s.cfg.RowsPerHour/dialoutPerHourDivisor, 1))
	return &dialoutSet{logSet: s.newLogSet(step, nsTick, dialoutSalt), users: s.users}
}

func (d *dialoutSet) rowType() string         { return dialoutRowType }
func (d *dialoutSet) betaOnly() bool          { return true }
func (d *dialoutSet) maxRange() time.Duration { return MaxBetaRange }
func (d *dialoutSet) inclusiveEnd() bool      { return true }

// dialoutGroup is one row of the report: the grouping properties and the
// totals.
type dialoutGroup struct {
	user         int // index into users
	domestic     bool
	currency     string
	calls, secs  int64
	chargeMicros int64
}

// call returns dial-out call i's group (figures for the one call).
func (d *dialoutSet) call(i int) dialoutGroup {
	u := int(d.hash(i, dtUser) % uint64(len(d.users)))
	country := d.users[u].country
	cc := countryCodes[d.hash(i, dtDest)%uint64(len(countryCodes))]
	cur := cmp.Or(currencies[country], "USD")
	if d.hash(i, dtCurrency)%50 == 0 {
		cur = "USD" // a call billed in another currency: its own row
	}
	secs := 20 + int64(d.hash(i, dtSecs)%1800)
	rate, ok := dialoutRates[cc.iso]
	if !ok {
		rate = dialoutRates["US"]
	}
	return dialoutGroup{user: u, domestic: cc.iso == country, currency: cur, calls: 1, secs: secs,
		chargeMicros: rate * ((secs + 59) / 60)}
}

// report aggregates the calls of [from, to) visible at now, in a fixed
// order: by user, then Domestic before International, then currency.
func (d *dialoutSet) report(from, to, now int64) []dialoutGroup {
	var out []dialoutGroup
	idx := map[dialoutGroup]int{}
	lo, hi := d.span(from, to)
	for i := lo; i < hi; i++ {
		if d.visibleAt(i) > now {
			continue
		}
		c := d.call(i)
		k := dialoutGroup{user: c.user, domestic: c.domestic, currency: c.currency}
		j, ok := idx[k]
		if !ok {
			j = len(out)
			idx[k] = j
			out = append(out, k)
		}
		out[j].calls++
		out[j].secs += c.secs
		out[j].chargeMicros += c.chargeMicros
	}
	slices.SortFunc(out, func(a, b dialoutGroup) int {
		return cmp.Or(cmp.Compare(a.user, b.user), -boolCmp(a.domestic, b.domestic), cmp.Compare(a.currency, b.currency))
	})
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func (d *dialoutSet) render(dst []byte, from, to, now int64, skip, size int) ([]byte, int, int) {
	rep := d.report(from, to, now)
	if skip >= len(rep) {
		return dst, 0, len(rep)
	}
	page := rep[skip:min(skip+size, len(rep))]
	for k := range page {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = d.appendRow(dst, &page[k])
	}
	return dst, len(page), len(rep)
}

// appendRow prints one report row in the property order of the reference
// example.
func (d *dialoutSet) appendRow(dst []byte, g *dialoutGroup) []byte {
	u := &d.users[g.user]
	dst = append(dst, `{"userId":"`...)
	dst = append(dst, u.id...)
	dst = append(dst, `","userPrincipalName":`...)
	dst = append(dst, u.upn...)
	dst = append(dst, `,"userDisplayName":`...)
	dst = append(dst, u.display...)
	dst = append(dst, `,"usageLocation":`...)
	dst = appendASCII(dst, u.country)
	dst = append(dst, `,"destinationContext":`...)
	if g.domestic {
		dst = append(dst, `"Domestic"`...)
	} else {
		dst = append(dst, `"International"`...)
	}
	dst = append(dst, `,"currency":`...)
	dst = appendASCII(dst, g.currency)
	dst = append(dst, `,"totalCalls":`...)
	dst = strconv.AppendInt(dst, g.calls, 10)
	dst = append(dst, `,"totalCallCharge":`...)
	dst = appendFixed6(dst, g.chargeMicros)
	dst = append(dst, `,"totalCallSeconds":`...)
	dst = strconv.AppendInt(dst, g.secs, 10)
	return append(dst, '}')
}

// DialoutRow is one row of the simulated dial-out report: its grouping
// properties, its totals and the JSON the simulator serves for it.
type DialoutRow struct {
	UserID, UsageLocation, DestinationContext, Currency string
	TotalCalls, TotalCallSeconds                        int64
	// TotalCallChargeMicros is totalCallCharge in millionths.
	TotalCallChargeMicros int64
	JSON                  []byte
}

// DialoutReport returns what getPstnOnlineMeetingDialoutReport answers,
// at now, for the calls starting in the half-open [from, to) — the ground
// truth for one day read with toDateTime just below the next midnight —
// in the order the simulator serves the rows.
func (s *Server) DialoutReport(from, to, now time.Time) []DialoutRow {
	d := s.dialout
	rep := d.report(toNs(from), toNs(to), toNs(now))
	out := make([]DialoutRow, len(rep))
	for k := range rep {
		g := &rep[k]
		ctx := "International"
		if g.domestic {
			ctx = "Domestic"
		}
		out[k] = DialoutRow{
			UserID: d.users[g.user].id, UsageLocation: d.users[g.user].country, DestinationContext: ctx, Currency: g.currency,
			TotalCalls: g.calls, TotalCallSeconds: g.secs, TotalCallChargeMicros: g.chargeMicros,
			JSON: d.appendRow(nil, g),
		}
	}
	return out
}

// DialoutCallCount returns the number of dial-out calls, visible or not,
// starting in [from, to): the calls the report totals.
func (s *Server) DialoutCallCount(from, to time.Time) int {
	lo, hi := s.dialout.span(toNs(from), toNs(to))
	return hi - lo
}

// DialoutCallTimes returns the start times of the dial-out calls starting
// in [from, to) and when each becomes visible, for tests that pick a late
// call.
func (s *Server) DialoutCallTimes(from, to time.Time) (starts, visible []time.Time) {
	d := s.dialout
	lo, hi := d.span(toNs(from), toNs(to))
	for i := lo; i < hi; i++ {
		starts = append(starts, time.Unix(0, d.at(i)).UTC())
		visible = append(visible, time.Unix(0, d.visibleAt(i)).UTC())
	}
	return starts, visible
}
