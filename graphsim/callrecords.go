package graphsim

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file is the call-records data set (sources entry "call-records"):
// Teams call records of the calls the Direct Routing data set logs, and
// Teams-only calls and meetings between them, each with its sessions,
// segments, media and streams. Like the rows, a record is never stored:
// record r of version v, and its session j, are pure functions of the seed,
// r's grid index and v, so a listing is found by arithmetic over two time
// grids and one record's sessions are rendered only when asked for.
//
// The records:
//
//   - One per Direct Routing call, that is per distinct correlationId: the
//     row of an inbound call and the transfer or forward leg after it
//     share one record. Its id is the correlationId, its startDateTime the
//     first row's start, its endDateTime the latest end of its rows (the
//     failure time for a failed call); type peerToPeer, or groupCall when
//     a leg joined a third party; modalities audio; the PSTN side is a
//     serviceEndpoint (role skypeForBusinessMicrosoftTeamsGateway, the
//     SBC's trunk in its header value).
//   - Teams-only records on a grid of their own (Config.TeamsRecordsPerDay):
//     peer-to-peer calls (1–2 sessions, sometimes video) and meetings
//     (groupCall, 2–6 sessions, video and screen sharing, a joinWebUrl,
//     users, guests and phone dial-ins), one in 40 a large meeting of
//     61–200 sessions.
//
// Every record becomes visible 15–60 minutes after its call ends (at
// version 1); 30% are updated once or twice later (version 2 at 10 min–6 h
// after that, version 3 at 30 min–12 h after version 2), each update
// moving lastModifiedDateTime to just before it appears and changing the
// content: the first session's stream figures always, and, per record,
// a session added and/or a feedback rating on the first session's caller.
// A record whose startDateTime is more than CallRecordRetention before the
// request's instant is neither listed nor gettable (404 NotFound).

// CallRecordRetention is how long Graph keeps a call record after its
// startDateTime (callrecords-callrecord-get: 30 days; older ones are 404).
const CallRecordRetention = 30 * 24 * time.Hour

// SessionsPageSize is how many sessions a get with $expand=sessions, or
// a sessions page, carries before its nextLink, as Graph documents ("60
// entries for sessions").
const SessionsPageSize = 60

// crSet is the call-records data set, derived from the Direct Routing data
// set s.
type crSet struct {
	s        *Server
	teams    logSet // the Teams-only records' grid; n 0 when there are none
	idKey    uint64 // Teams-only record ids: hi = mix64(j*golden + idKey)
	key      uint64 // content hashes
	tenantID string
}

const (
	crSalt     = 0x6a09e667f3bcc909
	crTeamSalt = 0x3c6ef372fe94f82b
)

// newCallRecordSet returns the call-records data set of s.
func (s *Server) newCallRecordSet() *crSet {
	c := &crSet{
		s:     s,
		idKey: mix64(s.keys[tagExtra] ^ crTeamSalt),
		key:   mix64(s.keys[tagExtra] ^ crSalt),
	}
	c.tenantID = string(appendUUID(nil, uuidBits{mix64(c.key + 1), mix64(c.key + 2), 4}))
	step := s.step
	switch {
	case s.cfg.TeamsRecordsPerDay > 0:
		step = int64(24*time.Hour) / int64(s.cfg.TeamsRecordsPerDay)
	case s.cfg.TeamsRecordsPerDay < 0:
		step = 0
	}
	if step > 0 {
		c.teams = s.newLogSet(step, nsTick, crTeamSalt)
	}
	return c
}

// The inverses of splitmix64's multipliers and of golden, mod 2^64, so
// that a record id maps back to its grid index in constant time.
var (
	invMul1   = modInverse(0xbf58476d1ce4e5b9)
	invMul2   = modInverse(0x94d049bb133111eb)
	invGolden = modInverse(golden)
)

// modInverse returns the inverse of odd c mod 2^64 (Newton's iteration
// doubles the correct low bits each step, from 3).
func modInverse(c uint64) uint64 {
	x := c
	for range 5 {
		x *= 2 - c*x
	}
	return x
}

// unmix64 inverts mix64.
func unmix64(x uint64) uint64 {
	x ^= x>>31 ^ x>>62
	x *= invMul2
	x ^= x>>27 ^ x>>54
	x *= invMul1
	x ^= x>>30 ^ x>>60
	return x
}

// crRef names a record: the Direct Routing row of its call's first leg,
// or the index of a Teams-only record on its grid.
type crRef struct {
	teams bool
	i     int
}

// crRec is what a record's rendering needs, computed from its ref.
type crRec struct {
	ref        crRef
	id         uuidBits
	key        uint64 // content hashes
	start, end int64
	// visible[v] is when version v appears (1 ≤ v ≤ maxVersion).
	visible    [4]int64
	maxVersion int

	meeting, large bool
	video, screen  bool
	baseSessions   int
	addSession     bool // each update adds a session
	laterFeedback  bool // version 2 adds a rating on session 0's caller

	// Direct Routing records.
	callType   string
	ok         bool
	firstEnd   int64 // the first row's end
	leg        bool  // row i+1 is a transfer or forward leg of this call
	legStart   int64
	legEnd     int64
	legOK      bool
	legForward bool
}

// Record-level hash tags.
const (
	crtVersion = iota + 1
	crtVis1
	crtVis2
	crtVis3
	crtMod
	crtKind
	crtLarge
	crtDur
	crtSessions
	crtVideo
	crtScreen
	crtAdd
	crtFeedback
	crtExtra
	crtOrganizer
	crtJoin
	crtPeer
)

func (r *crRec) h(tag uint64) uint64 { return mix64(r.key ^ tag*0xA24BAED4963EE407) }

// sh hashes session j's field tag.
func (r *crRec) sh(j int, tag uint64) uint64 {
	return mix64((r.key + uint64(j+1)*golden) ^ (tag * 0x9FB21C651E98DF25))
}

// ticks turns a hash into a multiple of 100 ns in [0, span).
func ticks(h uint64, span int64) int64 {
	if span < nsTick {
		return 0
	}
	return int64(h%uint64(span/nsTick)) * nsTick
}

// rec computes ref's record.
func (c *crSet) rec(ref crRef) crRec {
	s := c.s
	var r crRec
	r.ref = ref
	if !ref.teams {
		i := ref.i
		r.id = s.freshCorrBits(i)
		r.key = mix64(r.id.hi ^ c.key)
		st := s.slotStart(i)
		r.start = st.ns
		r.callType = s.callType(i)
		r.ok = s.successful(i)
		r.firstEnd = r.start + int64(s.callDuration(i, r.ok))*nsSecond
		if !r.ok {
			r.firstEnd = r.start + s.failureOffset(i, unitFor(st.digits))
		}
		r.end = r.firstEnd
		if i+1 < s.n && s.isTransfer(i+1) {
			lst := s.slotStart(i + 1)
			r.leg, r.legStart = true, lst.ns
			r.legOK = s.successful(i + 1)
			r.legForward = s.callType(i+1) == ctForward
			r.legEnd = r.legStart + int64(s.callDuration(i+1, r.legOK))*nsSecond
			if !r.legOK {
				r.legEnd = r.legStart + s.failureOffset(i+1, unitFor(lst.digits))
			}
			r.end = max(r.end, r.legEnd)
		}
		r.baseSessions = 1
		if r.leg {
			r.baseSessions = 2
		}
	} else {
		j := ref.i
		hi := mix64(uint64(j)*golden + c.idKey)
		r.id = uuidBits{hi, mix64(hi ^ crTeamSalt), 4}
		r.key = mix64(r.id.hi ^ c.key)
		r.start = c.teams.at(j)
		r.large = r.h(crtLarge)%40 == 0
		r.meeting = r.large || r.h(crtKind)%100 < 40
		var dur int64
		switch {
		case r.large:
			dur = 30*nsMinute + ticks(r.h(crtDur), 90*nsMinute)
			r.baseSessions = 61 + int(r.h(crtSessions)%140)
		case r.meeting:
			dur = 15*nsMinute + ticks(r.h(crtDur), 60*nsMinute)
			r.baseSessions = 2 + int(r.h(crtSessions)%5)
		default:
			// Roughly exponential, mean near six minutes.
			dur = 10*nsSecond + int64(-math.Log(1-frac(r.h(crtDur)))*360)*nsSecond + ticks(r.h(crtDur)>>7, nsSecond)
			dur = min(dur, 4*time.Hour.Nanoseconds())
			r.baseSessions = 1 + int(r.h(crtSessions)%4/3)
		}
		r.end = r.start + dur
		if r.meeting {
			r.video = r.h(crtVideo)%10 < 7
			r.screen = r.h(crtScreen)%10 < 4
		} else {
			r.video = r.h(crtVideo)%10 < 3
		}
	}
	r.maxVersion = 1
	switch v := r.h(crtVersion) % 100; {
	case v >= 92:
		r.maxVersion = 3
	case v >= 70:
		r.maxVersion = 2
	}
	r.visible[1] = r.end + 15*nsMinute + ticks(r.h(crtVis1), 45*nsMinute)
	r.visible[2] = r.visible[1] + 10*nsMinute + ticks(r.h(crtVis2), 6*time.Hour.Nanoseconds())
	r.visible[3] = r.visible[2] + 30*nsMinute + ticks(r.h(crtVis3), 12*time.Hour.Nanoseconds())
	r.addSession = r.h(crtAdd)%2 == 0
	r.laterFeedback = r.h(crtFeedback)%3 == 0
	return r
}

// versionAt returns the version of r served at now: 0 before it appears
// or once it is past the retention horizon.
func (r *crRec) versionAt(now int64) int {
	if r.start < satAdd(now, -int64(CallRecordRetention)) {
		return 0
	}
	v := 0
	for k := 1; k <= r.maxVersion; k++ {
		if r.visible[k] <= now {
			v = k
		}
	}
	return v
}

// sessions is the number of sessions of version v.
func (r *crRec) sessions(v int) int {
	if r.addSession {
		return r.baseSessions + v - 1
	}
	return r.baseSessions
}

// lastModified is version v's lastModifiedDateTime: a little before it
// appears, as Graph's processing finishes before the record is served.
func (r *crRec) lastModified(v int) int64 {
	return r.visible[v] - nsSecond - ticks(r.h(crtMod+uint64(v)*64), 2*nsMinute)
}

// parseRecordID maps a call record id back to its record, in constant time
// (mix64 is a bijection): ok is false for an id no record has.
func (c *crSet) parseRecordID(id string) (crRef, bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return crRef{}, false
	}
	lower := strings.ToLower(id)
	var raw [16]byte
	if _, err := hex.Decode(raw[:], []byte(lower[0:8]+lower[9:13]+lower[14:18]+lower[19:23]+lower[24:36])); err != nil {
		return crRef{}, false
	}
	// appendUUID's layout: hi fills hex digits 0-11, 13-15 and 17.
	digit := func(k int) uint64 {
		b := raw[k/2]
		if k%2 == 0 {
			return uint64(b >> 4)
		}
		return uint64(b & 15)
	}
	var hi uint64
	for _, k := range [...]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 17} {
		hi = hi<<4 | digit(k)
	}
	s := c.s
	if i := (unmix64(hi) - s.keys[tagCorr]) * invGolden; i < uint64(s.n) && !s.isTransfer(int(i)) {
		if string(appendUUID(nil, s.freshCorrBits(int(i)))) == lower {
			return crRef{false, int(i)}, true
		}
	}
	if j := (unmix64(hi) - c.idKey) * invGolden; j < uint64(c.teams.n) {
		r := c.rec(crRef{true, int(j)})
		if string(appendUUID(nil, r.id)) == lower {
			return crRef{true, int(j)}, true
		}
	}
	return crRef{}, false
}

// cursor is a position in the merged start-time order of the two grids:
// the next Direct Routing row and the next Teams-only record to consider.
type cursor struct{ d, t int }

// bounds are the grid index ranges of the records whose start is in
// [from, to).
type bounds struct{ dLo, dHi, tLo, tHi int }

func (c *crSet) bounds(from, to int64) bounds {
	var b bounds
	b.dLo, b.dHi = c.s.indexRange(from, to)
	if c.teams.n > 0 {
		b.tLo, b.tHi = c.teams.span(from, to)
	}
	return b
}

// next returns the record at cur in start order (Direct Routing first on
// a tie) and the cursor after it; ok is false when none remain. Transfer
// legs are skipped: they belong to the record of the row before.
func (c *crSet) next(cur cursor, b bounds) (crRef, cursor, bool) {
	for cur.d < b.dHi && c.s.isTransfer(cur.d) {
		cur.d++
	}
	haveD, haveT := cur.d < b.dHi, cur.t < b.tHi
	switch {
	case haveD && (!haveT || c.s.slotStart(cur.d).ns <= c.teams.at(cur.t)):
		ref := crRef{false, cur.d}
		cur.d++
		return ref, cur, true
	case haveT:
		ref := crRef{true, cur.t}
		cur.t++
		return ref, cur, true
	}
	return crRef{}, cur, false
}

// Rendering. Records use Graph's own host in their @odata.context
// annotations, as Graph does whatever name a client reached it by, so that
// the merged JSON a client receives does not depend on the simulator's
// address (CallRecordVersion.JSON).
const crContextBase = "https://graph.microsoft.com/v1.0/$metadata#communications/callRecords"

// appendRecordProps appends version v of r's own properties (no braces),
// in the order Graph's example shows them.
func (c *crSet) appendRecordProps(dst []byte, r *crRec, v int) []byte {
	dst = append(dst, `"version":`...)
	dst = strconv.AppendInt(dst, int64(v), 10)
	dst = append(dst, `,"type":`...)
	if r.meeting || r.leg {
		dst = append(dst, `"groupCall"`...)
	} else {
		dst = append(dst, `"peerToPeer"`...)
	}
	dst = append(dst, `,"modalities":["audio"`...)
	if r.video {
		dst = append(dst, `,"video"`...)
	}
	if r.screen {
		dst = append(dst, `,"screenSharing"`...)
	}
	dst = append(dst, `],"lastModifiedDateTime":`...)
	dst = appendTrimmedTime(dst, r.lastModified(v))
	dst = append(dst, `,"startDateTime":`...)
	dst = appendTrimmedTime(dst, r.start)
	dst = append(dst, `,"endDateTime":`...)
	dst = appendTrimmedTime(dst, r.end)
	dst = append(dst, `,"id":"`...)
	dst = appendUUID(dst, r.id)
	dst = append(dst, `","joinWebUrl":`...)
	if r.meeting {
		dst = append(dst, `"https://teams.microsoft.com/l/meetup-join/19%3ameeting_`...)
		dst = appendBase62(dst, r.h(crtJoin))
		dst = appendBase62(dst, mix64(r.h(crtJoin)))
		dst = append(dst, `%40thread.v2/0?context=%7b%22Tid%22%3a%22`...)
		dst = append(dst, c.tenantID...)
		dst = append(dst, `%22%2c%22Oid%22%3a%22`...)
		dst = append(dst, c.organizer(r).id...)
		dst = append(dst, `%22%7d"`...)
	} else {
		dst = append(dst, "null"...)
	}
	if r.h(crtExtra)%8 == 0 {
		// Not in the v1.0 schema: Graph adds properties without a version
		// change.
		dst = append(dst, `,"tenantRegion":"`...)
		dst = append(dst, []string{"EUR", "NAM", "APC", "GBR"}[r.h(crtExtra)/8%4]...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"organizer_v2@odata.context":"`...)
	dst = append(dst, crContextBase...)
	dst = append(dst, `('`...)
	dst = appendUUID(dst, r.id)
	dst = append(dst, `')/organizer_v2/$entity","organizer_v2":{"id":`...)
	if !r.ref.teams && (r.callType == ctIn || r.callType == ctInUcap) {
		// An inbound call's organizer is the caller on the phone.
		dst = append(dst, '"')
		dst = appendUUID(dst, uuidBits{r.h(crtOrganizer), mix64(r.h(crtOrganizer)), 4})
		dst = append(dst, `","identity":{"@odata.type":"#microsoft.graph.communicationsIdentitySet","user":null,"phone":{"id":`...)
		dst = c.s.appendExternalNumber(dst, r.ref.i)
		dst = append(dst, `,"displayName":null}}}`...)
	} else {
		u := c.organizer(r)
		dst = append(dst, '"')
		dst = append(dst, u.id...)
		dst = append(dst, `","identity":{"@odata.type":"#microsoft.graph.communicationsIdentitySet","user":`...)
		dst = c.appendUserIdentity(dst, u)
		dst = append(dst, `,"phone":null}}`...)
	}
	dst = append(dst, `,"participants_v2@odata.context":"`...)
	dst = append(dst, crContextBase...)
	dst = append(dst, `('`...)
	dst = appendUUID(dst, r.id)
	return append(dst, `')/participants_v2/$entity"`...)
}

// organizer is the tenant user who placed or hosted the call.
func (c *crSet) organizer(r *crRec) *person {
	s := c.s
	if !r.ref.teams {
		if r.callType == ctInUcap {
			return &s.users[r.h(crtOrganizer)%uint64(len(s.users))]
		}
		return &s.users[s.userIdx(r.ref.i)]
	}
	return &s.users[r.h(crtOrganizer)%uint64(len(s.users))]
}

func (c *crSet) appendUserIdentity(dst []byte, u *person) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, u.id...)
	dst = append(dst, `","displayName":`...)
	dst = append(dst, u.display...)
	dst = append(dst, `,"tenantId":"`...)
	dst = append(dst, c.tenantID...)
	dst = append(dst, `","userPrincipalName":`...)
	dst = append(dst, u.upn...)
	return append(dst, '}')
}

// appendListed appends r as the list returns it: its own properties only.
func (c *crSet) appendListed(dst []byte, r *crRec, v int) []byte {
	dst = append(dst, '{')
	dst = c.appendRecordProps(dst, r, v)
	return append(dst, '}')
}

// appendGet appends the answer of a get of r (version v): without
// sessions unless expand, else with sessions [0, hi) (segments expanded
// when segments is set) and, when hi is below the session count, the
// nextLink base+"…/sessions?…" (none when linkBase is empty, as for the
// merged truth).
func (c *crSet) appendGet(dst []byte, r *crRec, v int, expand, segments bool, hi int, linkBase string) []byte {
	dst = append(dst, `{"@odata.context":"`...)
	dst = append(dst, crContextBase...)
	switch {
	case expand && segments:
		dst = append(dst, `(sessions(segments()))`...)
	case expand:
		dst = append(dst, `(sessions())`...)
	}
	dst = append(dst, `/$entity",`...)
	dst = c.appendRecordProps(dst, r, v)
	if expand {
		dst = append(dst, `,"sessions@odata.context":"`...)
		dst = append(dst, crContextBase...)
		dst = append(dst, `('`...)
		dst = appendUUID(dst, r.id)
		dst = append(dst, `')/sessions`...)
		if segments {
			dst = append(dst, `(segments())`...)
		}
		dst = append(dst, `","sessions":[`...)
		n := r.sessions(v)
		hi = min(hi, n)
		for j := range hi {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = c.appendSession(dst, r, v, j, segments)
		}
		dst = append(dst, ']')
		if hi < n && linkBase != "" {
			dst = append(dst, `,"sessions@odata.nextLink":`...)
			dst = appendJSONString(dst, c.sessionsLink(linkBase, r, v, hi, segments))
		}
	}
	return append(dst, '}')
}

// sessionsLink is the nextLink to r's sessions from offset at, version v.
func (c *crSet) sessionsLink(linkBase string, r *crRec, v, at int, segments bool) string {
	u := linkBase + "/v1.0/communications/callRecords/" + string(appendUUID(nil, r.id)) + "/sessions?"
	if segments {
		u += "$expand=segments&"
	}
	return u + "$skiptoken=" + sessionsToken(v, at)
}

// appendTrimmedTime prints a DateTimeOffset as Graph serialises call
// records' times: UTC, Z, and the fraction of seconds to 7 digits with
// trailing zeros dropped ("2020-02-25T19:00:24.582757Z").
func appendTrimmedTime(dst []byte, ns int64) []byte {
	dst = appendTime(dst, ns-ns%nsSecond, 0, false)
	f := (ns % nsSecond) / nsTick
	if f == 0 {
		return dst
	}
	dst = dst[:len(dst)-2] // `Z"`
	digits := 7
	for f%10 == 0 {
		f /= 10
		digits--
	}
	dst = appendFrac(dst, f, digits)
	return append(dst, `Z"`...)
}

// appendISODuration prints a duration of whole 100 ns ticks as the
// ISO 8601 string Graph sends for TimeSpan properties ("PT0.016S",
// "PT1M3.5S", "PT0S").
func appendISODuration(dst []byte, ns int64) []byte {
	t := ns / nsTick
	dst = append(dst, `"PT`...)
	if t == 0 {
		return append(dst, `0S"`...)
	}
	const perSec, perMin, perHour = int64(1e7), int64(60e7), int64(3600e7)
	if h := t / perHour; h > 0 {
		dst = strconv.AppendInt(dst, h, 10)
		dst = append(dst, 'H')
		t -= h * perHour
	}
	if m := t / perMin; m > 0 {
		dst = strconv.AppendInt(dst, m, 10)
		dst = append(dst, 'M')
		t -= m * perMin
	}
	if t > 0 {
		dst = strconv.AppendInt(dst, t/perSec, 10)
		if f := t % perSec; f > 0 {
			digits := 7
			for f%10 == 0 {
				f /= 10
				digits--
			}
			dst = appendFrac(dst, f, digits)
		}
		dst = append(dst, 'S')
	}
	return append(dst, '"')
}

const base62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func appendBase62(dst []byte, v uint64) []byte { return appendBase62n(dst, v, 10) }

// appendBase62n appends the n lowest base-62 digits of v.
func appendBase62n(dst []byte, v uint64, n int) []byte {
	for range n {
		dst = append(dst, base62[v%62])
		v /= 62
	}
	return dst
}
