// Package graphsim is an in-process simulator of Microsoft Graph's
// callRecords getDirectRoutingCalls and getPstnCalls functions, of the
// beta-only getSmsLog, getPstnBlockedUsersLog and
// getPstnOnlineMeetingDialoutReport (dataset.go; each in its own file),
// and of the Teams call records themselves (callrecords.go), shared by
// tests, the demo command and benchmarks.
//
// It aims to be faithful where a client can get things wrong: the OData
// function-call path with its date-only or timestamp arguments, fromDateTime
// inclusive and toDateTime exclusive on the call start time (inclusive for
// getPstnCalls, as documented, which also refuses ranges over 90 days with
// 406), $skip paging
// with an absolute @odata.nextLink, a per-page @odata.count, bearer-token
// checks, throttling and gateway errors with Retry-After, truncated bodies,
// rows that become visible late, duplicate rows across pages, and row content
// with the quirks real payloads have (the 0001-01-01 sentinel, varying
// fractional-second precision, +00:00 offsets, unicode names, masked and
// non-E.164 numbers, shared correlation ids, unknown extra properties,
// decimal charges, beta-only properties on /beta), and malformed rows on
// request (see Malformation).
//
// It also enforces Graph's documented request limits over sliding windows
// (Limits, DocumentedLimits; Limits.Scaled runs them faster for benchmarks
// against a budget matched to them), accepts the tokens a simulated Entra issues
// until they expire or are revoked with a claims challenge (AcceptToken,
// RevokeTokens), refuses tokens issued for another cloud's Graph
// (Config.Audience), answers with a proxy's HTML page (Fault.HTML) and can
// hand out nextLinks to a foreign host (Config.ForeignNextLink).
//
// The data set is never materialised: row i is a pure function of the seed
// and i, and its start time lies inside its own time slot, so the rows of any
// query window are found by arithmetic. A data set of ten million rows costs
// nothing to construct and a page from its middle costs the same as the first.
//
// The call records (GET /v1.0/communications/callRecords?$filter=startDateTime
// ge X and startDateTime lt Y, paged by Prefer: odata.maxpagesize and
// $skiptoken; GET …/callRecords/{id} with or without
// $expand=sessions($expand=segments), sessions paged at 60 through
// sessions@odata.nextLink to …/callRecords/{id}/sessions) follow the same
// rule: one record per Direct Routing call, its id the call's
// correlationId, and Teams-only calls and meetings on a grid of their own
// (Config.TeamsRecordsPerDay), a record of version v and its session j
// being pure functions of the seed, the record's index, v and j. Records
// appear 15–60 minutes after their call ends, some are updated later
// (version 2, sometimes 3, at instants CallRecordVersions gives), and
// those that started more than 30 days before the request's instant are
// gone (404 NotFound). They count against their own throttling family
// (Limits.Records*), apart from the call-log functions'. CallRecordsAt
// gives the records a reader must end up with, merged as a client merges
// the sessions pages.
//
// Tenants is a front serving many tenants, each its own data set, chosen
// by the tenant whose Entra issued the request's token (TokenInfo.Tenant);
// Server.SetDenied and Tenants.Deny answer 403 as Graph does once a
// tenant's admin withdraws the app's consent.
//
// Point a client at an httptest.Server's URL, or serve the simulator at a
// real Graph hostname on a Network, an in-memory transport that also works
// inside a testing/synctest bubble. Truncate faults abort the connection
// with panic(http.ErrAbortHandler), so they need a real net/http server or
// a Network rather than a bare ServeHTTP call with a ResponseRecorder.
package graphsim

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/callstream/callstream/sources"
)

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultPageSize is Graph's documented page size for this function.
	DefaultPageSize = 1000
	// DefaultLateDelay is how long after its start a late row appears.
	DefaultLateDelay = 3 * time.Hour
)

// DefaultAPIVersions are the version path segments served when
// Config.APIVersions is empty.
var DefaultAPIVersions = []string{"v1.0", "beta"}

// minStep is the smallest row spacing New accepts: Graph timestamps carry at
// most 7 fractional digits, so rows closer than 100ns could not be told apart
// by a client.
const minStep = 100 * time.Nanosecond

// Config describes a simulated data set and how the endpoint misbehaves.
// The zero value of every optional field is usable; New fills defaults.
type Config struct {
	// Seed makes the data set reproducible: the same seed gives the same
	// bytes for every row, a different seed different ids and content.
	Seed int64

	// Start and End bound the data set: it holds calls whose startDateTime
	// is in [Start, End).
	Start, End time.Time

	// RowsPerHour is the average density. Row i's nominal slot is
	// [Start+i*step, Start+(i+1)*step) with step = time.Hour/RowsPerHour,
	// and its start time lies inside that slot. A slot that contains a whole
	// minute puts its row exactly on it, so at 60 rows an hour or fewer every
	// row starts on a whole minute.
	RowsPerHour int

	// RowsPerDay, when set instead of RowsPerHour, is the density for
	// tenants quieter than a call an hour or between whole numbers of calls
	// an hour (100 a day, 2,000 a day): step = 24h/RowsPerDay. The
	// beta data sets, which scale with RowsPerHour, take RowsPerDay/24
	// (at least 1).
	RowsPerDay int

	// TeamsRecordsPerDay is the density of the Teams-only call records
	// (calls and meetings without a Direct Routing leg) interleaved with
	// the records of the Direct Routing calls: zero gives one per Direct
	// Routing row slot (as many Teams-only records as Direct Routing rows,
	// so about 1.9 records per Direct Routing call), a negative value none.
	// A tenant of 5,000 call records a day is RowsPerDay 2600 and
	// TeamsRecordsPerDay 2650 (CallRecordsCount gives the exact figure).
	TeamsRecordsPerDay int

	// PageSize is the number of rows per page; DefaultPageSize if zero.
	PageSize int

	// Token is the required bearer token. A request without
	// "Authorization: Bearer <Token>" (or a token accepted with
	// Server.AcceptToken) gets 401 InvalidAuthenticationToken.
	Token string

	// Audience, when set, is the only audience accepted on tokens from
	// Server.AcceptToken, such as https://graph.microsoft.us: a token
	// issued for another cloud's Graph is refused with 401.
	Audience string

	// Limits are the request limits enforced with 429 and Retry-After;
	// the zero value enforces none. DocumentedLimits are Graph's.
	Limits Limits

	// ForeignNextLink, when set to a scheme and host such as
	// https://evil.example, makes every @odata.nextLink point there
	// instead of back at this server. A client must refuse to follow it,
	// or it sends its bearer token to that host.
	ForeignNextLink string

	// APIVersions lists the accepted version path segments;
	// DefaultAPIVersions if empty. "beta" serves the beta row shape, which
	// adds properties to the 21 of v1.0.
	APIVersions []string

	// Now is the clock deciding which rows are visible; time.Now if nil.
	// It is called once per request and must be safe for concurrent use.
	Now func() time.Time

	// VisibleDelay is how long after its start a normal row becomes
	// visible.
	VisibleDelay time.Duration

	// LateFraction is the fraction of rows, chosen by a hash of the seed and
	// the row index, that become visible only at start+LateDelay.
	LateFraction float64

	// LateDelay is how long after its start a late row becomes visible;
	// DefaultLateDelay if zero.
	LateDelay time.Duration

	// PageOverlap, when positive, makes every page after the first start
	// with the last PageOverlap rows of the previous page, as $skip paging
	// over a data set that shifts between requests does. The nextLink
	// offsets follow the shifted pages, so a client following nextLinks
	// still sees every row, some of them twice. Must be below PageSize.
	PageOverlap int

	// TrailingEmptyPage makes a full page carry a nextLink even when no
	// rows remain, so the client's last request returns an empty page, as
	// Graph's paging guidance warns can happen.
	TrailingEmptyPage bool

	// ExtraProperty makes about one row in 50 carry a property that is not
	// in the v1.0 schema (a number or an object), as Graph adds fields over
	// time without a version change.
	ExtraProperty bool

	// Latency is added to every response.
	Latency time.Duration

	// LatencyMax, when above Latency, makes the added latency uniformly
	// random in [Latency, LatencyMax] for each request, as a real
	// service's is (50–200 ms for Graph from a nearby region).
	LatencyMax time.Duration

	// Faults are injected deterministically by request number; see Fault.
	Faults []Fault

	// Malformed makes chosen rows unusable, deterministically by row
	// index; see Malformation.
	Malformed []Malformation

	// PreRender renders every v1.0 Direct Routing row once, in New, and
	// serves pages by copying those bytes, so that a benchmark of a client
	// measures the client rather than the rendering. The bytes served are
	// the same; the cost is memory, about 750 bytes a row held for the
	// Server's life, so it suits data sets of a few million rows.
	PreRender bool
}

// Fault makes chosen requests fail. Requests are numbered from 1 in the
// order they reach the handler, across all clients; request n matches when
// n % Every == Offset % Every. The first matching fault that has not reached
// its Limit applies.
type Fault struct {
	// Every is the period of the requests this fault applies to; >= 1.
	Every int
	// Offset selects the residue; Every 3 and Offset 1 matches requests
	// 1, 4, 7, ...
	Offset int
	// Status is the HTTP status to answer with, such as 429, 500, 503 or
	// 504, with a Graph error body. It must be 0 or 200 when Truncate is set.
	Status int
	// RetryAfter is sent verbatim as the Retry-After header ("1", "0" or an
	// HTTP date); empty sends none.
	RetryAfter string
	// HTML answers Status with an HTML page and a text/html Content-Type,
	// as a proxy or gateway in front of Graph does, instead of Graph's
	// JSON error body.
	HTML bool
	// Truncate answers 200 with the Content-Length of the full body, sends
	// about half of it (cutting a row) and then aborts the connection, so
	// the client sees an unexpected EOF.
	Truncate bool
	// Limit caps how many times the fault fires; 0 means unlimited.
	Limit int
}

// Row is the ground truth for one row of the data set.
type Row struct {
	// Index is the row's position in the whole data set; start times grow
	// with it.
	Index int
	// ID and CorrelationID are the row's id and correlationId properties
	// (CorrelationID is empty for PSTN rows, which have none). A malformed
	// row keeps here the id it would have had.
	ID, CorrelationID string
	// CallID is a PSTN row's callId (empty for Direct Routing rows). It is
	// not unique: a transfer leg repeats the callId of the call before it.
	CallID string
	// Start is the row's startDateTime, exactly as printed in JSON.
	Start time.Time
	// VisibleAt is when the endpoint starts returning the row.
	VisibleAt time.Time
	// JSON is the exact bytes served for the row by v1.0.
	JSON []byte
	// BetaJSON is the exact bytes served for the row by beta.
	BetaJSON []byte
	// Malformed is how the row is broken (MalformNone for a good row), and
	// MalformedField the property a schema check must reject it for.
	Malformed      MalformKind
	MalformedField string
}

// Stats counts what the handler has done. Server.Stats returns a copy.
type Stats struct {
	// Requests counts every request that reached the handler.
	Requests int
	// Pages counts 200 responses that delivered a complete page.
	Pages int
	// Rows counts rows in those complete pages, duplicates included.
	Rows int
	// Truncated counts 200 responses cut short by a Truncate fault.
	Truncated int
	// ByStatus counts responses by HTTP status, truncated ones included.
	ByStatus map[int]int
}

// Server serves a simulated data set over HTTP. It is safe for concurrent
// use.
type Server struct {
	cfg      Config
	versions map[string]bool
	now      func() time.Time

	t0, end, step int64 // unix ns
	n             int   // number of rows

	keys [numTags]uint64

	// lateThresh is compared with a row's lateness hash; lateAll covers a
	// fraction of 1, which no uint64 threshold can express.
	lateThresh uint64
	lateAll    bool
	dNormal    int64
	dLate      int64

	users []person
	bots  []person

	// pstn holds the getPstnCalls data set (nil inside it).
	pstn *Server
	// cr holds the call-records data set (nil inside pstn).
	cr *crSet
	// The beta-only data sets (nil inside pstn).
	sms     *smsSet
	blocked *blockedSet
	dialout *dialoutSet

	// rendered holds the served v1.0 Direct Routing bytes of every row
	// when Config.PreRender is set: row i is rendered[ends[i-1]:ends[i]].
	rendered []byte
	ends     []int

	blockMu    sync.Mutex
	lateBlocks map[int]int

	mu       sync.Mutex
	reqs     int
	faults   []faultState
	stats    Stats
	tokens   tokenState
	throttle throttleState
	// denied answers every authorized request with 403, as Graph does
	// once the app's permission is withdrawn in the tenant.
	denied bool
}

type faultState struct {
	Fault
	fired int
}

// New validates cfg, fills in defaults and returns a Server. It reports all
// problems at once.
func New(cfg Config) (*Server, error) { return newServer(cfg, nil) }

// newServer is New; with people set, the Server's users and resource
// accounts are people's instead of its own, which saves a Tenants front
// the 130 kB a directory of them costs per tenant.
func newServer(cfg Config, people *Server) (*Server, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.LateDelay == 0 {
		cfg.LateDelay = DefaultLateDelay
	}
	if len(cfg.APIVersions) == 0 {
		cfg.APIVersions = DefaultAPIVersions
	}
	cfg.APIVersions = append([]string(nil), cfg.APIVersions...)
	cfg.Faults = append([]Fault(nil), cfg.Faults...)
	cfg.Malformed = append([]Malformation(nil), cfg.Malformed...)

	if cfg.Start.IsZero() || cfg.End.IsZero() {
		bad("graphsim: Start and End are required")
	} else if !cfg.End.After(cfg.Start) {
		bad("graphsim: End %v is not after Start %v", cfg.End, cfg.Start)
	} else if !inNanoRange(cfg.Start) || !inNanoRange(cfg.End) {
		bad("graphsim: Start and End must lie between years 1678 and 2262")
	}
	step := time.Duration(0)
	switch {
	case cfg.RowsPerDay != 0 && cfg.RowsPerHour != 0:
		bad("graphsim: set RowsPerHour or RowsPerDay, not both")
	case cfg.RowsPerDay < 0:
		bad("graphsim: RowsPerDay must be positive, got %d", cfg.RowsPerDay)
	case cfg.RowsPerDay > 0:
		step = 24 * time.Hour / time.Duration(cfg.RowsPerDay)
		cfg.RowsPerHour = max(cfg.RowsPerDay/24, 1)
	case cfg.RowsPerHour <= 0:
		bad("graphsim: RowsPerHour must be positive, got %d", cfg.RowsPerHour)
	default:
		step = time.Hour / time.Duration(cfg.RowsPerHour)
	}
	if step > 0 && step < minStep {
		bad("graphsim: a density of %d rows an hour (%d a day) spaces rows closer than %v", cfg.RowsPerHour, cfg.RowsPerDay, minStep)
	}
	if cfg.TeamsRecordsPerDay > 0 && 24*time.Hour/time.Duration(cfg.TeamsRecordsPerDay) < minStep {
		bad("graphsim: a TeamsRecordsPerDay of %d spaces records closer than %v", cfg.TeamsRecordsPerDay, minStep)
	}
	if cfg.PageSize < 0 {
		bad("graphsim: PageSize must be positive, got %d", cfg.PageSize)
	}
	if cfg.Token == "" {
		bad("graphsim: Token is required")
	}
	for _, v := range cfg.APIVersions {
		if v == "" || strings.Contains(v, "/") {
			bad("graphsim: bad API version %q", v)
		}
	}
	if cfg.VisibleDelay < 0 || cfg.LateDelay < 0 {
		bad("graphsim: VisibleDelay and LateDelay must not be negative")
	}
	if math.IsNaN(cfg.LateFraction) || cfg.LateFraction < 0 || cfg.LateFraction > 1 {
		bad("graphsim: LateFraction must be in [0, 1], got %v", cfg.LateFraction)
	}
	if cfg.PageOverlap < 0 || (cfg.PageSize > 0 && cfg.PageOverlap >= cfg.PageSize) {
		bad("graphsim: PageOverlap must be in [0, PageSize), got %d", cfg.PageOverlap)
	}
	if cfg.Latency < 0 {
		bad("graphsim: Latency must not be negative")
	}
	if cfg.LatencyMax != 0 && cfg.LatencyMax < cfg.Latency {
		bad("graphsim: LatencyMax %v is below Latency %v", cfg.LatencyMax, cfg.Latency)
	}
	if err := cfg.Limits.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := validateLinkBase(cfg.ForeignNextLink); err != nil {
		errs = append(errs, err)
	}
	if err := validateFaults(cfg.Faults); err != nil {
		errs = append(errs, err)
	}
	if err := validateMalformed(cfg.Malformed); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	s := &Server{
		cfg:        cfg,
		versions:   make(map[string]bool, len(cfg.APIVersions)),
		now:        cfg.Now,
		t0:         cfg.Start.UnixNano(),
		end:        cfg.End.UnixNano(),
		step:       int64(step),
		dNormal:    int64(cfg.VisibleDelay),
		dLate:      int64(cfg.LateDelay),
		lateBlocks: make(map[int]int),
		stats:      Stats{ByStatus: make(map[int]int)},
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, v := range cfg.APIVersions {
		s.versions[v] = true
	}
	switch {
	case cfg.LateFraction >= 1:
		s.lateAll = true
	case cfg.LateFraction > 0:
		s.lateThresh = uint64(cfg.LateFraction * (1 << 63) * 2)
	}
	s.initKeys()
	if people != nil {
		s.users, s.bots = people.users, people.bots
	} else {
		s.users, s.bots = s.makePeople()
	}
	s.n = s.countRows()
	s.pstn = s.newPstnSet()
	s.sms, s.blocked, s.dialout = s.newSmsSet(), s.newBlockedSet(), s.newDialoutSet()
	s.cr = s.newCallRecordSet()
	for _, src := range sources.All() {
		if s.dataSet(src.DataSet) == nil && s.betaSet(Function(src.Function)) == nil && !(src.DataSet == callRecordsDataSet && s.cr != nil) {
			return nil, fmt.Errorf("graphsim: no data set %q for source %s", src.DataSet, src.Name)
		}
	}
	s.faults = makeFaultStates(cfg.Faults)
	s.throttle.limits = cfg.Limits
	if cfg.PreRender {
		s.preRender()
	}
	return s, nil
}

// preRender fills s.rendered with every row as appendServed writes it.
func (s *Server) preRender() {
	ends := make([]int, s.n)
	var buf []byte
	for i := range s.n {
		buf = s.appendServed(buf, DirectRoutingCalls, i, false)
		ends[i] = len(buf)
	}
	// Set only now: appendServed serves from them once they are.
	s.rendered, s.ends = buf, ends
}

func validateFaults(fs []Fault) error {
	var errs []error
	for i, f := range fs {
		if f.Every < 1 {
			errs = append(errs, fmt.Errorf("graphsim: Faults[%d]: Every must be >= 1, got %d", i, f.Every))
		}
		if f.Limit < 0 {
			errs = append(errs, fmt.Errorf("graphsim: Faults[%d]: Limit must not be negative", i))
		}
		switch {
		case f.Truncate && f.HTML:
			errs = append(errs, fmt.Errorf("graphsim: Faults[%d]: Truncate and HTML exclude each other", i))
		case f.Truncate && f.Status != 0 && f.Status != http.StatusOK:
			errs = append(errs, fmt.Errorf("graphsim: Faults[%d]: Truncate needs Status 0 or 200, got %d", i, f.Status))
		case !f.Truncate && (f.Status < 100 || f.Status > 599 || f.Status == http.StatusOK):
			errs = append(errs, fmt.Errorf("graphsim: Faults[%d]: Status %d is not a failure status", i, f.Status))
		}
	}
	return errors.Join(errs...)
}

func makeFaultStates(fs []Fault) []faultState {
	out := make([]faultState, len(fs))
	for i, f := range fs {
		out[i] = faultState{Fault: f}
	}
	return out
}

// SetFaults replaces the fault list and resets how often each fault has
// fired. Request numbering is not reset: it keeps counting every request the
// server has seen (see Stats.Requests). It panics on an invalid fault, which
// is a bug in the calling test.
func (s *Server) SetFaults(faults []Fault) {
	if err := validateFaults(faults); err != nil {
		panic(err)
	}
	states := makeFaultStates(faults)
	s.mu.Lock()
	s.faults = states
	s.mu.Unlock()
}

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByStatus = make(map[int]int, len(s.stats.ByStatus))
	for k, v := range s.stats.ByStatus {
		st.ByStatus[k] = v
	}
	return st
}

// Len returns the number of rows in the whole Direct Routing data set.
func (s *Server) Len() int { return s.n }

// Count returns the number of Direct Routing rows, visible or not, whose start is in
// [from, to). It does constant work.
func (s *Server) Count(from, to time.Time) int {
	lo, hi := s.indexRange(toNs(from), toNs(to))
	return hi - lo
}

// CountVisible returns the number of rows whose start is in [from, to) that
// are visible at now, which is the total a client paging through that window
// at now should see (before PageOverlap duplicates).
func (s *Server) CountVisible(from, to, now time.Time) int {
	lo, hi := s.indexRange(toNs(from), toNs(to))
	return s.plan(lo, hi, toNs(now)).total(s)
}

// Rows returns the Direct Routing ground truth: every row whose start is in [from, to),
// visible or not, in start order. It materialises them, so keep the window
// small.
func (s *Server) Rows(from, to time.Time) []Row {
	lo, hi := s.indexRange(toNs(from), toNs(to))
	out := make([]Row, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, s.RowAt(i))
	}
	return out
}

// RowAt returns row i of the Direct Routing data set. It panics unless
// 0 <= i < Len().
func (s *Server) RowAt(i int) Row {
	if i < 0 || i >= s.n {
		panic(fmt.Sprintf("graphsim: row index %d out of range [0, %d)", i, s.n))
	}
	st := s.slotStart(i)
	vis := st.ns + s.delay(i)
	r := Row{
		Index:         i,
		ID:            string(appendUUID(nil, s.idBits(i))),
		CorrelationID: string(appendUUID(nil, s.corrBits(i))),
		Start:         time.Unix(0, st.ns).UTC(),
		VisibleAt:     time.Unix(0, vis).UTC(),
		JSON:          s.appendServed(nil, DirectRoutingCalls, i, false),
		BetaJSON:      s.appendServed(nil, DirectRoutingCalls, i, true),
	}
	s.markMalformed(&r, DirectRoutingCalls)
	return r
}

// inNanoRange reports whether t can be held as int64 Unix nanoseconds.
func inNanoRange(t time.Time) bool {
	return t.Year() >= 1678 && t.Year() <= 2261
}

// toNs converts t to Unix nanoseconds, saturating outside the int64 range
// so that far-away query bounds still compare correctly.
func toNs(t time.Time) int64 {
	switch {
	case t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// satAdd adds without wrapping around.
func satAdd(a, b int64) int64 {
	c := a + b
	if b > 0 && c < a {
		return math.MaxInt64
	}
	if b < 0 && c > a {
		return math.MinInt64
	}
	return c
}
