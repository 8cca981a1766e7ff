package graphsim

import (
	"net/http"
	"strconv"
	"time"
)

// The beta-only functions: each is served from its own data set (sms.go,
// blocked.go, dialout.go) through the dataset interface, so that routing a
// function to its data set is one table entry (betaSets), which a registry
// of sources can later own.
const (
	SmsLog                   Function = "getSmsLog"
	PstnBlockedUsersLog      Function = "getPstnBlockedUsersLog"
	PstnOnlineMeetingDialout Function = "getPstnOnlineMeetingDialoutReport"
)

// MaxBetaRange is the widest range the three beta functions accept: each
// one's reference page says fromDateTime and toDateTime "can't be more than
// a date range of 90 days". The simulator answers a wider one 406, as
// Graph was seen to for getPstnCalls.
const MaxBetaRange = 90 * 24 * time.Hour

const betaRangeMessage = "The fromDateTime and toDateTime values cannot be more than a date range of 90 days."

// dataset is what the handler needs of a simulated function's data: the
// OData row type, the range rules and one page of the answer. Paging,
// faults, tokens and throttling stay in the handler, shared by every
// function.
type dataset interface {
	// rowType is the Graph type named in @odata.context.
	rowType() string
	// betaOnly reports whether the function exists only on /beta (v1.0
	// answers 404 for it, as for any unknown segment).
	betaOnly() bool
	// maxRange is the widest fromDateTime–toDateTime span accepted; a
	// wider one is answered 406 as for getPstnCalls.
	maxRange() time.Duration
	// inclusiveEnd reports whether rows at exactly toDateTime are in.
	inclusiveEnd() bool
	// render appends the JSON objects (comma-separated) of the page
	// [skip, skip+size) of the answer for [from, to] (to exclusive unless
	// inclusiveEnd; unix ns, to already adjusted) as seen at now, and
	// returns the extended slice, the rows in the page and the total.
	render(dst []byte, from, to, now int64, skip, size int) (out []byte, rows, total int)
}

// betaSet returns the data set serving fn, or nil for the call logs the
// Server itself serves.
func (s *Server) betaSet(fn Function) dataset {
	switch fn {
	case SmsLog:
		return s.sms
	case PstnBlockedUsersLog:
		return s.blocked
	case PstnOnlineMeetingDialout:
		return s.dialout
	}
	return nil
}

// betaFunctions are the simulated functions that have no sources entry
// yet; parsePath answers them beside the registry's.
var betaFunctions = [...]Function{SmsLog, PstnBlockedUsersLog, PstnOnlineMeetingDialout}

// respondSet answers a request for a function served by ds, with the
// handler's paging: $skip offsets, an absolute nextLink while rows remain,
// a per-page @odata.count, and Config.PageOverlap / TrailingEmptyPage.
func (s *Server) respondSet(buf []byte, r *http.Request, fn Function, ds dataset, version string, from, to time.Time, skip int, now time.Time) ([]byte, int, *graphError) {
	if ds.betaOnly() && version != "beta" {
		// Graph's v1.0 schema does not have the function at all.
		return buf, -1, notFound("Resource not found for the segment '" + string(fn) + "'.")
	}
	if m := ds.maxRange(); m > 0 && to.Sub(from) > m {
		return buf, -1, &graphError{http.StatusNotAcceptable, CodeNotAcceptable, betaRangeMessage}
	}
	toQ := toNs(to)
	if ds.inclusiveEnd() {
		toQ = satAdd(toQ, 1)
	}
	if skip > 0 && s.cfg.PageOverlap > 0 {
		skip = max(skip-s.cfg.PageOverlap, 0)
	}
	base := baseURL(r)
	buf = append(buf, `{"@odata.context":`...)
	buf = appendJSONString(buf, base+"/"+version+"/$metadata#Collection("+ds.rowType()+")")
	// The count is this page's, known only after rendering, and Graph
	// writes it before the rows: render into a pooled buffer first.
	rp := bufPool.Get().(*[]byte)
	defer bufPool.Put(rp)
	rows, n, total := ds.render((*rp)[:0], toNs(from), toQ, toNs(now), skip, s.cfg.PageSize)
	*rp = rows
	buf = append(buf, `,"@odata.count":`...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	buf = append(buf, `,"value":[`...)
	buf = append(buf, rows...)
	buf = append(buf, ']')
	next := skip + n
	if next < total || (s.cfg.TrailingEmptyPage && n == s.cfg.PageSize) {
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendJSONString(buf, s.linkBase(base)+r.URL.EscapedPath()+"?$skip="+strconv.Itoa(next))
	}
	return append(buf, '}'), n, nil
}

// logSet is the time grid a beta log's rows live on, as the call logs'
// rows do: row i lies in its slot [t0+i*step, t0+(i+1)*step), at a hashed
// 100 ns tick, so the rows of a range are found by arithmetic. Its
// visibility follows Config (VisibleDelay; LateFraction rows at
// LateDelay). The rows of a request are listed by walking the range, which
// costs the range's row count: the beta logs are far sparser than the
// call logs (rowsPerHour below), so no index of late rows is kept.
type logSet struct {
	t0, end, step int64
	unit          int64 // timestamps are whole multiples of it
	n             int
	key           uint64
	dNormal       int64
	dLate         int64
	lateThresh    uint64
	lateAll       bool
}

// newLogSet returns the grid of a beta log with one row every step over
// s's [Start, End), at whole multiples of unit (the precision the rows'
// timestamps are printed with, so that a printed time and the time the
// simulator filters on agree), hashed with salt.
func (s *Server) newLogSet(step, unit int64, salt uint64) logSet {
	step = max(step, 2*unit)
	l := logSet{
		t0: s.t0, end: s.end, step: step, unit: unit,
		key:     mix64(s.keys[tagExtra] ^ salt),
		dNormal: s.dNormal, dLate: s.dLate, lateThresh: s.lateThresh, lateAll: s.lateAll,
	}
	l.n = int((s.end - s.t0 + step - 1) / step)
	for l.n > 0 && l.at(l.n-1) >= s.end {
		l.n--
	}
	return l
}

// hash is row i's hash for one field tag.
func (l *logSet) hash(i, tag int) uint64 {
	return mix64(uint64(i)*golden + mix64(l.key^uint64(tag+1)*0xA24BAED4963EE407))
}

// at is row i's time, unix ns: a multiple of unit inside its slot.
func (l *logSet) at(i int) int64 {
	lo := ceilTo(l.t0+int64(i)*l.step, l.unit)
	return lo + int64(l.hash(i, -1)%uint64(l.step/l.unit-1))*l.unit
}

// visibleAt is when row i appears in answers.
func (l *logSet) visibleAt(i int) int64 {
	if l.lateAll || l.hash(i, -2) < l.lateThresh {
		return l.at(i) + l.dLate
	}
	return l.at(i) + l.dNormal
}

// first returns the index of the first row at or after t.
func (l *logSet) first(t int64) int {
	if t <= l.t0 {
		return 0
	}
	i := int(min(floorDiv(t-l.t0, l.step), int64(l.n)))
	if i < l.n && l.at(i) < t {
		i++
	}
	return i
}

// span returns the rows whose time is in [from, to).
func (l *logSet) span(from, to int64) (lo, hi int) {
	lo, hi = l.first(from), l.first(to)
	return lo, max(lo, hi)
}

// visible appends to dst the rows of [from, to) visible at now.
func (l *logSet) visible(dst []int, from, to, now int64) []int {
	lo, hi := l.span(from, to)
	for i := lo; i < hi; i++ {
		if l.visibleAt(i) <= now {
			dst = append(dst, i)
		}
	}
	return dst
}

// renderLog is dataset.render for a log whose row i is printed by row.
func (l *logSet) renderLog(dst []byte, from, to, now int64, skip, size int, row func([]byte, int) []byte) ([]byte, int, int) {
	ip := idxPool.Get().(*[]int)
	defer idxPool.Put(ip)
	idx := l.visible((*ip)[:0], from, to, now)
	*ip = idx
	total := len(idx)
	if skip >= total {
		return dst, 0, total
	}
	page := idx[skip:min(skip+size, total)]
	for k, i := range page {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = row(dst, i)
	}
	return dst, len(page), total
}

// logRows returns the ground truth of [from, to): every row, visible or
// not, in time order, each with its id (id or remediationId).
func (l *logSet) logRows(from, to time.Time, id func(int) string, row func([]byte, int) []byte) []Row {
	lo, hi := l.span(toNs(from), toNs(to))
	out := make([]Row, 0, hi-lo)
	for i := lo; i < hi; i++ {
		js := row(nil, i)
		out = append(out, Row{
			Index:     i,
			ID:        id(i),
			Start:     time.Unix(0, l.at(i)).UTC(),
			VisibleAt: time.Unix(0, l.visibleAt(i)).UTC(),
			JSON:      js,
			BetaJSON:  js,
		})
	}
	return out
}

// appendFixed6 prints an amount in millionths as a JSON number with at
// least two and at most six fractional digits, trailing zeros trimmed
// beyond two, as Graph prints Edm.Decimal charges (0.00, 12.83, 0.0075).
func appendFixed6(dst []byte, micros int64) []byte {
	if micros < 0 {
		dst = append(dst, '-')
		micros = -micros
	}
	dst = strconv.AppendInt(dst, micros/1_000_000, 10)
	f := micros % 1_000_000
	digits := 6
	for digits > 2 && f%10 == 0 {
		f /= 10
		digits--
	}
	return appendFrac(dst, f, digits)
}
