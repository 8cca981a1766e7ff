package graphsim

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Limits are request limits, each counted over a sliding Window and answered
// with 429 and a Retry-After once reached. A zero count is not enforced.
//
// Requests count against a limit whether or not they are throttled, because
// Graph's throttling guidance says usage is still counted while throttled:
// a client that retries before Retry-After only digs itself deeper. The
// Retry-After sent is the time until the request would be accepted if the
// client sent nothing else, rounded up to whole seconds as Graph sends it.
type Limits struct {
	// PerFunction limits the requests of one application to one function
	// ("per collection" in Graph's table).
	PerFunction int
	// PerApp limits the requests of one application to all the functions.
	PerApp int
	// PerTenant limits the requests of all applications together.
	PerTenant int
	// Window is the width of the sliding window; one minute if zero.
	Window time.Duration

	// The call-records family (list and get of
	// /communications/callRecords), counted apart from the limits above,
	// as Graph's throttling-call-records table is separate from the PSTN
	// functions': a call-records request counts only against these.

	// RecordsList limits one application's list requests.
	RecordsList int
	// RecordsPerRecord limits one application's requests for one call
	// record: its get and its sessions pages.
	RecordsPerRecord int
	// RecordsPerApp limits one application's call-records requests.
	RecordsPerApp int
	// RecordsPerTenant limits the call-records requests of all
	// applications together.
	RecordsPerTenant int
	// RecordsWindow is the width of the call-records family's sliding
	// window; 20 seconds if zero.
	RecordsWindow time.Duration
}

// DefaultRecordsWindow is the call-records family's window when
// Limits.RecordsWindow is zero: Graph counts that family per 20 seconds.
const DefaultRecordsWindow = 20 * time.Second

// DocumentedLimits are Graph's documented limits for the call-log functions
// (getDirectRoutingCalls, getPstnCalls and their siblings): per tenant
// 1,000 requests, per application per tenant 200, per collection 50, each
// per 60 seconds; and for call records (includes/throttling-call-records.md):
// per application per tenant 1,500 requests, 40 for the list, 40 per call
// record, per tenant 10,000, each per 20 seconds. Graph's 15,000 per 20 s
// per application across tenants is not simulated: each Server is one
// tenant.
var DocumentedLimits = Limits{
	PerFunction: 50, PerApp: 200, PerTenant: 1000, Window: time.Minute,
	RecordsList: 40, RecordsPerRecord: 40, RecordsPerApp: 1500, RecordsPerTenant: 10000, RecordsWindow: DefaultRecordsWindow,
}

// Scaled returns l running speed times faster than Graph: every count is
// multiplied by speed over the same sliding window, so that a test or a
// benchmark moves speed times as many requests a minute through the same
// throttling behaviour — the same 60-second window, the same Retry-After
// arithmetic. DocumentedLimits.Scaled(12) allows 600 requests a minute per
// function, which callstream matches with GRAPH_BUDGET_PER_MINUTE=600 and
// GRAPH_APP_BUDGET_PER_MINUTE=2400 (its budget counts over the same kind
// of window). The counts are scaled rather than the window shrunk because
// callstream's budget, like Graph, counts over a minute: a window of 5 s
// with 50 requests would refuse the bursts a 600-a-minute budget sends.
// It panics on a speed below 1, a bug in the calling test.
func (l Limits) Scaled(speed int) Limits {
	if speed < 1 {
		panic(fmt.Sprintf("graphsim: Limits.Scaled(%d): speed must be at least 1", speed))
	}
	l.PerFunction *= speed
	l.PerApp *= speed
	l.PerTenant *= speed
	l.RecordsList *= speed
	l.RecordsPerRecord *= speed
	l.RecordsPerApp *= speed
	l.RecordsPerTenant *= speed
	return l
}

func (l Limits) validate() error {
	var errs []error
	if l.PerFunction < 0 || l.PerApp < 0 || l.PerTenant < 0 ||
		l.RecordsList < 0 || l.RecordsPerRecord < 0 || l.RecordsPerApp < 0 || l.RecordsPerTenant < 0 {
		errs = append(errs, errors.New("graphsim: Limits must not be negative"))
	}
	if l.Window < 0 || l.RecordsWindow < 0 {
		errs = append(errs, errors.New("graphsim: Limits.Window and Limits.RecordsWindow must not be negative"))
	}
	return errors.Join(errs...)
}

func (l Limits) enabled() bool { return l.PerFunction > 0 || l.PerApp > 0 || l.PerTenant > 0 }

func (l Limits) recordsEnabled() bool {
	return l.RecordsList > 0 || l.RecordsPerRecord > 0 || l.RecordsPerApp > 0 || l.RecordsPerTenant > 0
}

// throttleScope is one limited scope: its key in throttleState.logs and
// its limit (0: not enforced).
type throttleScope struct {
	key   string
	limit int
}

// throttleState holds the arrival times inside the current window for each
// limited scope. Guarded by Server.mu.
type throttleState struct {
	limits Limits
	logs   map[string][]int64 // scope key → ascending arrival times, unix ns
}

// SetLimits replaces the enforced limits, keeping the requests already
// counted, as when Graph tightens a limit while a client is running. It
// panics on invalid limits, which is a bug in the calling test.
func (s *Server) SetLimits(l Limits) {
	if err := l.validate(); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle.limits = l
}

// throttleCheck counts a request of app to the function named in path at
// now and returns the 429 to answer when it is over a limit.
func (s *Server) throttleCheck(hdr http.Header, app, path string, now time.Time) *graphError {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.throttle.limits
	if !l.enabled() {
		return nil
	}
	w := int64(l.Window)
	if w <= 0 {
		w = int64(time.Minute)
	}
	if s.throttle.logs == nil {
		s.throttle.logs = map[string][]int64{}
	}
	fn := functionOf(path)
	return s.throttleScopes(hdr, w, now, []throttleScope{
		{"tenant", l.PerTenant},
		{"app\x00" + app, l.PerApp},
		{"fn\x00" + app + "\x00" + fn, l.PerFunction},
	})
}

// throttleRecordsCheck counts a call-records request of app at now against
// the call-records family's limits and returns the 429 to answer when it
// is over one. record is the call record's id (lower-cased) for a get or
// a sessions page, "" for the list.
func (s *Server) throttleRecordsCheck(hdr http.Header, app, record string, now time.Time) *graphError {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.throttle.limits
	if !l.recordsEnabled() {
		return nil
	}
	w := int64(l.RecordsWindow)
	if w <= 0 {
		w = int64(DefaultRecordsWindow)
	}
	scopes := []throttleScope{
		{"cr\x00tenant", l.RecordsPerTenant},
		{"cr\x00app\x00" + app, l.RecordsPerApp},
	}
	if record == "" {
		scopes = append(scopes, throttleScope{"cr\x00list\x00" + app, l.RecordsList})
	} else {
		scopes = append(scopes, throttleScope{"cr\x00record\x00" + app + "\x00" + record, l.RecordsPerRecord})
	}
	return s.throttleScopes(hdr, w, now, scopes)
}

// throttleScopes counts a request at now in every scope over a sliding
// window of w ns and returns the 429 to answer when any is over its
// limit. The caller holds s.mu.
func (s *Server) throttleScopes(hdr http.Header, w int64, now time.Time, scopes []throttleScope) *graphError {
	if s.throttle.logs == nil {
		s.throttle.logs = map[string][]int64{}
	}
	t := now.UnixNano()
	var wait int64
	for _, sc := range scopes {
		if sc.limit <= 0 {
			continue
		}
		log := s.throttle.logs[sc.key]
		// Drop arrivals that have left the window (t-w, t].
		drop := 0
		for drop < len(log) && log[drop] <= t-w {
			drop++
		}
		log = insertSorted(log[drop:], t)
		s.throttle.logs[sc.key] = log
		if n := len(log); n > sc.limit {
			// Accepted once the arrivals before index n-limit+1 are out of
			// the window, with this request still counted.
			wait = max(wait, log[n-sc.limit]+w-t)
		}
	}
	if wait <= 0 {
		return nil
	}
	secs := (wait + int64(time.Second) - 1) / int64(time.Second)
	hdr.Set("Retry-After", strconv.FormatInt(secs, 10))
	return &graphError{http.StatusTooManyRequests, CodeTooManyRequests, "Please retry again later."}
}

// innerCode is the innerError code Graph sends with an error code.
func innerCode(code string) string {
	if code == CodeTooManyRequests {
		return "activityLimitReached"
	}
	return ""
}

// insertSorted appends t to an ascending log, keeping it ascending when
// concurrent requests read the clock out of order.
func insertSorted(log []int64, t int64) []int64 {
	log = append(log, t)
	for i := len(log) - 1; i > 0 && log[i-1] > log[i]; i-- {
		log[i-1], log[i] = log[i], log[i-1]
	}
	return log
}

// functionOf names the function a request path calls, lower-cased and
// without its namespace, so that both spellings of a function share a
// limit; a path that calls no function counts as "other".
func functionOf(path string) string {
	lower := strings.ToLower(path)
	_, seg, ok := strings.Cut(lower, "/"+strings.ToLower(pathPrefix))
	if !ok {
		return "other"
	}
	name, _, _ := strings.Cut(seg, "(")
	name = strings.TrimPrefix(name, "microsoft.graph.callrecords.")
	if name == "" || strings.Contains(name, "/") {
		return "other"
	}
	return name
}
