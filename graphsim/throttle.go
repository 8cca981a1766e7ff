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
}

// DocumentedLimits are Graph's documented limits for the call-log functions
// (getDirectRoutingCalls, getPstnCalls and their siblings): per tenant
// 1,000 requests, per application per tenant 200, per collection 50, each
// per 60 seconds.
var DocumentedLimits = Limits{PerFunction: 50, PerApp: 200, PerTenant: 1000, Window: time.Minute}

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
	return l
}

func (l Limits) validate() error {
	var errs []error
	if l.PerFunction < 0 || l.PerApp < 0 || l.PerTenant < 0 {
		errs = append(errs, errors.New("graphsim: Limits must not be negative"))
	}
	if l.Window < 0 {
		errs = append(errs, errors.New("graphsim: Limits.Window must not be negative"))
	}
	return errors.Join(errs...)
}

func (l Limits) enabled() bool { return l.PerFunction > 0 || l.PerApp > 0 || l.PerTenant > 0 }

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
	t := now.UnixNano()
	fn := functionOf(path)
	scopes := [...]struct {
		key   string
		limit int
	}{
		{"tenant", l.PerTenant},
		{"app\x00" + app, l.PerApp},
		{"fn\x00" + app + "\x00" + fn, l.PerFunction},
	}
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
