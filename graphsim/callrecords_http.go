package graphsim

import (
	"encoding/base64"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file serves the call-records data set:
//
//	GET /v1.0/communications/callRecords?$filter=startDateTime ge X and startDateTime lt Y
//	GET /v1.0/communications/callRecords/{id}[?$expand=sessions($expand=segments)]
//	GET /v1.0/communications/callRecords/{id}/sessions[?$expand=segments][&$skiptoken=…]
//
// and gives tests its ground truth (CallRecordsAt, CallRecordVersions).

// callRecordsDataSet is the sources.Source.DataSet the call records
// answer.
const callRecordsDataSet = "call-records"

// Page sizes of the list. Graph documents Prefer: odata.maxpagesize for it
// but no default or maximum; the simulator's are these, and a larger
// preference is capped (Preference-Applied says what was applied).
const (
	DefaultRecordsPageSize = 60
	MaxRecordsPageSize     = 1000
)

// CodeRecordNotFound is the error code of the 404 for a call record that
// does not exist or is past the 30-day horizon.
const CodeRecordNotFound = "NotFound"

const recordsCollection = "communications/callRecords"

type recordsRouteKind int

const (
	routeList recordsRouteKind = iota
	routeGet
	routeSessions
	routeUnknownSegment
)

type recordsRoute struct {
	version string
	kind    recordsRouteKind
	id      string // as the client spelled it
	segment string // routeUnknownSegment: the segment
}

// parseRecordsPath recognises the call-records paths; ok is false for any
// other (the call-log functions below callRecords/ included).
func parseRecordsPath(path string) (recordsRoute, bool) {
	var rt recordsRoute
	rest, _ := strings.CutPrefix(path, "/")
	rt.version, rest, _ = strings.Cut(rest, "/")
	if len(rest) < len(recordsCollection) || !strings.EqualFold(rest[:len(recordsCollection)], recordsCollection) {
		return rt, false
	}
	after := rest[len(recordsCollection):]
	if after == "" || after == "/" {
		return rt, true
	}
	if after[0] != '/' {
		return rt, false
	}
	id, sub, hasSub := strings.Cut(after[1:], "/")
	if !looksLikeUUID(id) {
		return rt, false
	}
	rt.id, rt.kind = id, routeGet
	switch {
	case !hasSub:
	case strings.EqualFold(sub, "sessions"):
		rt.kind = routeSessions
	default:
		rt.kind, rt.segment = routeUnknownSegment, sub
	}
	return rt, true
}

func looksLikeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// throttleKey is the per-record limit's scope: the record, or "" for the
// list.
func (rt recordsRoute) throttleKey() string {
	if rt.kind == routeList {
		return ""
	}
	return strings.ToLower(rt.id)
}

// respondRecords answers a call-records request at now.
func (s *Server) respondRecords(buf []byte, hdr http.Header, r *http.Request, rt recordsRoute, now time.Time) ([]byte, int, *graphError) {
	if !s.versions[rt.version] {
		return buf, -1, notFound("Invalid version: " + rt.version)
	}
	if rt.version != "v1.0" {
		// The simulator serves call records in v1.0 only, the one version
		// the sources entry reads.
		return buf, -1, notFound("Resource not found for the segment 'callRecords'.")
	}
	if rt.kind == routeUnknownSegment {
		return buf, -1, notFound("Resource not found for the segment '" + rt.segment + "'.")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return buf, -1, badRequest("Bad Request - Error in query syntax.")
	}
	allowed := map[recordsRouteKind][]string{
		routeList:     {"$filter", "$skiptoken"},
		routeGet:      {"$expand"},
		routeSessions: {"$expand", "$skiptoken"},
	}[rt.kind]
	for k, vs := range q {
		if !strings.HasPrefix(k, "$") {
			continue // Graph ignores parameters that are not OData options
		}
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return buf, -1, badRequest("Query option '" + k + "' is not allowed for this request.")
		}
		if len(vs) > 1 {
			return buf, -1, badRequest("Query option '" + k + "' was specified more than once.")
		}
	}
	nowNs := toNs(now)
	switch rt.kind {
	case routeList:
		return s.respondRecordList(buf, hdr, r, q, nowNs)
	case routeGet:
		ref, ok := s.cr.parseRecordID(rt.id)
		if !ok {
			return buf, -1, recordNotFound()
		}
		rec := s.cr.rec(ref)
		v := rec.versionAt(nowNs)
		if v == 0 {
			return buf, -1, recordNotFound()
		}
		expand, segments := false, false
		switch e := q.Get("$expand"); {
		case e == "":
		case strings.EqualFold(strings.ReplaceAll(e, " ", ""), "sessions($expand=segments)"):
			expand, segments = true, true
		case strings.EqualFold(e, "sessions"):
			expand = true
		default:
			return buf, -1, badRequest("Parsing OData Select and Expand failed: Could not find a property named '" + e + "' on type 'microsoft.graph.callRecords.callRecord'.")
		}
		buf = s.cr.appendGet(buf, &rec, v, expand, segments, SessionsPageSize, s.linkBase(baseURL(r)))
		return buf, 1, nil
	default:
		return s.respondSessions(buf, r, rt, q, nowNs)
	}
}

func recordNotFound() *graphError {
	return &graphError{http.StatusNotFound, CodeRecordNotFound, "The requested call record was not found. Call records are kept for 30 days."}
}

// respondRecordList answers the list: the records with startDateTime in
// the $filter's range, visible at now and inside the 30-day horizon, in
// start order, from the $skiptoken's position.
func (s *Server) respondRecordList(buf []byte, hdr http.Header, r *http.Request, q url.Values, now int64) ([]byte, int, *graphError) {
	filter := q.Get("$filter")
	from, to, ge := parseRecordsFilter(filter)
	if ge != nil {
		return buf, -1, ge
	}
	size := DefaultRecordsPageSize
	if n, ok := preferredPageSize(r.Header.Values("Prefer")); ok {
		size = min(n, MaxRecordsPageSize)
		hdr.Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(size))
	}
	// Nothing starting after now can be visible (a record appears after
	// its call ends), nor anything past the horizon.
	lo := max(from, satAdd(now, -int64(CallRecordRetention)))
	hi := min(to, satAdd(now, 1))
	c := s.cr
	b := c.bounds(lo, max(lo, hi))
	cur := cursor{b.dLo, b.tLo}
	if tok := q.Get("$skiptoken"); tok != "" {
		d, t, ok := parseListToken(tok)
		if !ok {
			return buf, -1, badRequest("Invalid $skiptoken value.")
		}
		// The horizon may have moved past the token's position since.
		cur = cursor{max(d, b.dLo), max(t, b.tLo)}
	}
	buf = append(buf, `{"@odata.context":"`...)
	buf = append(buf, crContextBase...)
	buf = append(buf, `","value":[`...)
	n, more := 0, false
	for p := cur; ; {
		ref, next, ok := c.next(p, b)
		if !ok {
			break
		}
		p = next
		rec := c.rec(ref)
		v := rec.versionAt(now)
		if v == 0 {
			continue
		}
		if n == size {
			more = true
			break
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = c.appendListed(buf, &rec, v)
		n++
		cur = next
	}
	buf = append(buf, ']')
	if more {
		link := s.linkBase(baseURL(r)) + r.URL.EscapedPath() + "?"
		if filter != "" {
			link += "$filter=" + url.QueryEscape(filter) + "&"
		}
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendJSONString(buf, link+"$skiptoken="+listToken(cur))
	}
	return append(buf, '}'), n, nil
}

// respondSessions answers a page of a record's sessions: the version and
// offset of the $skiptoken (a get's sessions@odata.nextLink), or the
// current version's first page.
func (s *Server) respondSessions(buf []byte, r *http.Request, rt recordsRoute, q url.Values, now int64) ([]byte, int, *graphError) {
	c := s.cr
	ref, ok := c.parseRecordID(rt.id)
	if !ok {
		return buf, -1, recordNotFound()
	}
	rec := c.rec(ref)
	v := rec.versionAt(now)
	if v == 0 {
		return buf, -1, recordNotFound()
	}
	segments := false
	switch e := q.Get("$expand"); {
	case e == "":
	case strings.EqualFold(e, "segments"):
		segments = true
	default:
		return buf, -1, badRequest("Parsing OData Select and Expand failed: Could not find a property named '" + e + "' on type 'microsoft.graph.callRecords.session'.")
	}
	at := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		tv, ta, ok := parseSessionsToken(tok)
		// A token of a version that has since been replaced still reads
		// that version, so that its pages fit together.
		if !ok || tv < 1 || tv > v || ta < 0 || ta > rec.sessions(tv) {
			return buf, -1, badRequest("Invalid $skiptoken value.")
		}
		v, at = tv, ta
	}
	n := rec.sessions(v)
	end := min(at+SessionsPageSize, n)
	buf = append(buf, `{"@odata.context":"`...)
	buf = append(buf, crContextBase...)
	buf = append(buf, `('`...)
	buf = appendUUID(buf, rec.id)
	buf = append(buf, `')/sessions`...)
	if segments {
		buf = append(buf, `(segments())`...)
	}
	buf = append(buf, `","value":[`...)
	for j := at; j < end; j++ {
		if j > at {
			buf = append(buf, ',')
		}
		buf = c.appendSession(buf, &rec, v, j, segments)
	}
	buf = append(buf, ']')
	if end < n {
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendJSONString(buf, c.sessionsLink(s.linkBase(baseURL(r)), &rec, v, end, segments))
	}
	return append(buf, '}'), 0, nil
}

// parseRecordsFilter parses a $filter of startDateTime comparisons joined
// by "and" (ge, gt, le, lt with DateTimeOffset literals) into the
// half-open range of unix ns it selects; an empty filter selects all.
func parseRecordsFilter(f string) (from, to int64, ge *graphError) {
	from, to = math.MinInt64, math.MaxInt64
	if strings.TrimSpace(f) == "" {
		return from, to, nil
	}
	bad := func(why string) (int64, int64, *graphError) {
		return 0, 0, badRequest("Invalid filter clause: " + why)
	}
	words := strings.Fields(f)
	for k := 0; ; k += 4 {
		if len(words) < k+3 {
			return bad("expected 'startDateTime <ge|gt|le|lt> <DateTimeOffset>'.")
		}
		prop, op, lit := words[k], words[k+1], words[k+2]
		if !strings.EqualFold(prop, "startDateTime") {
			return bad("the property '" + prop + "' cannot be filtered on; only startDateTime can.")
		}
		t, err := parseDateTimeOffset(lit)
		if err != nil {
			return bad("'" + lit + "' is not a DateTimeOffset literal: " + err.Error() + ".")
		}
		ns := toNs(t)
		switch strings.ToLower(op) {
		case "ge":
			from = max(from, ns)
		case "gt":
			from = max(from, satAdd(ns, 1))
		case "lt":
			to = min(to, ns)
		case "le":
			to = min(to, satAdd(ns, 1))
		default:
			return bad("the operator '" + op + "' is not supported on startDateTime.")
		}
		if len(words) == k+3 {
			return from, max(from, to), nil
		}
		if !strings.EqualFold(words[k+3], "and") {
			return bad("clauses must be joined with 'and'.")
		}
	}
}

// preferredPageSize reads odata.maxpagesize from the Prefer headers.
func preferredPageSize(prefer []string) (int, bool) {
	for _, h := range prefer {
		for p := range strings.SplitSeq(h, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "odata.maxpagesize") {
				continue
			}
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
				return n, true
			}
		}
	}
	return 0, false
}

// The skiptokens are opaque to clients: positions in the two grids for
// the list, a version and an offset for sessions.
func listToken(c cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte("r" + strconv.Itoa(c.d) + "." + strconv.Itoa(c.t)))
}

func parseListToken(tok string) (d, t int, ok bool) {
	return parseTokenPair(tok, 'r')
}

func sessionsToken(v, at int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.Itoa(v) + "." + strconv.Itoa(at)))
}

func parseSessionsToken(tok string) (v, at int, ok bool) {
	return parseTokenPair(tok, 's')
}

func parseTokenPair(tok string, tag byte) (a, b int, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 2 || raw[0] != tag {
		return 0, 0, false
	}
	x, y, found := strings.Cut(string(raw[1:]), ".")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(x)
	b, err2 := strconv.Atoi(y)
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return 0, 0, false
	}
	return a, b, true
}

// CallRecordVersion is the ground truth of one version of one call record.
type CallRecordVersion struct {
	// ID is the record's id. A record of a Direct Routing call has the
	// correlationId of that call's rows as its id.
	ID string
	// Version is the record's version property.
	Version int64
	// StartDateTime and EndDateTime are the record's, exactly as printed.
	StartDateTime, EndDateTime time.Time
	// LastModifiedDateTime is this version's, exactly as printed.
	LastModifiedDateTime time.Time
	// VisibleAt is when the simulator starts serving this version (the
	// next version, if any, replaces it at its own VisibleAt). Every
	// version stops being served once StartDateTime is more than
	// CallRecordRetention before the request's instant.
	VisibleAt time.Time
	// DirectRoutingRow is the index (Server.RowAt) of the Direct Routing
	// row of the call's first leg, or -1 for a Teams-only record.
	DirectRoutingRow int
	// Sessions is the number of sessions of this version.
	Sessions int
	// JSON is what a client gets that GETs the record with
	// $expand=sessions($expand=segments) while this version is served and
	// merges every sessions page into "sessions", dropping
	// "sessions@odata.nextLink" and keeping everything else (the
	// @odata.context annotations included).
	JSON []byte
}

func (c *crSet) version(rec *crRec, v int) CallRecordVersion {
	row := -1
	if !rec.ref.teams {
		row = rec.ref.i
	}
	return CallRecordVersion{
		ID:                   string(appendUUID(nil, rec.id)),
		Version:              int64(v),
		StartDateTime:        time.Unix(0, rec.start).UTC(),
		EndDateTime:          time.Unix(0, rec.end).UTC(),
		LastModifiedDateTime: time.Unix(0, rec.lastModified(v)).UTC(),
		VisibleAt:            time.Unix(0, rec.visible[v]).UTC(),
		DirectRoutingRow:     row,
		Sessions:             rec.sessions(v),
		JSON:                 c.appendGet(nil, rec, v, true, true, math.MaxInt, ""),
	}
}

// CallRecordsAt returns the call records a client listing [from, to) at
// now and reading each listed record whole must end up with: every record
// whose startDateTime is in [from, to) that is served at now (visible and
// inside the 30-day horizon), in its version served at now, in the list's
// order (start time). It renders every record, so keep the window small.
func (s *Server) CallRecordsAt(from, to, now time.Time) []CallRecordVersion {
	c := s.cr
	nowNs := toNs(now)
	lo := max(toNs(from), satAdd(nowNs, -int64(CallRecordRetention)))
	hi := min(toNs(to), satAdd(nowNs, 1))
	b := c.bounds(lo, max(lo, hi))
	var out []CallRecordVersion
	for cur := (cursor{b.dLo, b.tLo}); ; {
		ref, next, ok := c.next(cur, b)
		if !ok {
			return out
		}
		cur = next
		rec := c.rec(ref)
		if v := rec.versionAt(nowNs); v > 0 {
			out = append(out, c.version(&rec, v))
		}
	}
}

// CallRecordVersions returns every version the record id ever has, in
// version order, whatever the clock; nil for an id no record has. A
// reader that reads the record at instants t1…tn sees, at each ti inside
// the horizon (ti − StartDateTime ≤ CallRecordRetention), the last version
// whose VisibleAt is at or before ti.
func (s *Server) CallRecordVersions(id string) []CallRecordVersion {
	ref, ok := s.cr.parseRecordID(id)
	if !ok {
		return nil
	}
	rec := s.cr.rec(ref)
	out := make([]CallRecordVersion, 0, rec.maxVersion)
	for v := 1; v <= rec.maxVersion; v++ {
		out = append(out, s.cr.version(&rec, v))
	}
	return out
}

// CallRecordsCount returns the number of call records, visible or not,
// whose startDateTime is in [from, to): Direct Routing calls and
// Teams-only records. It walks the Direct Routing rows of the range.
func (s *Server) CallRecordsCount(from, to time.Time) int {
	b := s.cr.bounds(toNs(from), toNs(to))
	n := b.tHi - b.tLo
	for i := b.dLo; i < b.dHi; i++ {
		if !s.isTransfer(i) {
			n++
		}
	}
	return n
}
