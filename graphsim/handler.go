package graphsim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callstream/callstream/sources"
)

const (
	namespace  = "microsoft.graph.callRecords."
	pathPrefix = "communications/callRecords/"

	// PageContentType is the Content-Type of a page. Graph sends OData
	// parameters after the media type, so a client comparing the header
	// with "application/json" for equality would fail against Graph; it
	// fails here too.
	PageContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
	// ErrorContentType is the Content-Type of a Graph error body.
	ErrorContentType = "application/json"
)

// Graph error codes the simulator sends.
const (
	CodeBadRequest      = "BadRequest"
	CodeInvalidToken    = "InvalidAuthenticationToken"
	CodeRequestDenied   = "Authorization_RequestDenied"
	CodeNotFound        = "ResourceNotFound"
	CodeTooManyRequests = "TooManyRequests"
	CodeServiceNotAvail = "serviceNotAvailable"
	CodeGatewayTimeout  = "gatewayTimeout"
	CodeGeneral         = "generalException"
	CodeUnknown         = "UnknownError"
)

// Pools keep a 1000-row page (about a megabyte) from being reallocated on
// every request.
var (
	bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
	idxPool = sync.Pool{New: func() any { b := make([]int, 0, DefaultPageSize); return &b }}
)

// graphError is a failed request's status and Graph error body fields.
type graphError struct {
	status    int
	code, msg string
}

func badRequest(msg string) *graphError {
	return &graphError{http.StatusBadRequest, CodeBadRequest, msg}
}

func notFound(msg string) *graphError {
	return &graphError{http.StatusNotFound, CodeNotFound, msg}
}

// requestIDs are echoed in headers and error bodies, as Graph does, so a
// client's logs can be checked for them.
type requestIDs struct {
	request, client string
}

// ServeHTTP implements http.Handler for
// GET /{version}/communications/callRecords/getDirectRoutingCalls(fromDateTime=X,toDateTime=Y),
// the same for every function of the sources registry, and the
// namespace-qualified function names.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs++
	n := s.reqs
	s.stats.Requests++
	fault := s.pickFault(n)
	s.mu.Unlock()

	if d := s.latency(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	now := s.now()
	rid := s.h(n, tagRequestID)
	ids := requestIDs{request: string(appendUUID(nil, uuidBits{rid, mix64(rid), 4}))}
	ids.client = r.Header.Get("client-request-id")
	if ids.client == "" {
		ids.client = ids.request
	}
	hdr := w.Header()
	hdr.Set("request-id", ids.request)
	hdr.Set("client-request-id", ids.client)

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := (*bp)[:0]

	status, rows := 0, -1
	contentType := ErrorContentType
	if fault != nil && !fault.Truncate {
		status = fault.Status
		if fault.RetryAfter != "" {
			hdr.Set("Retry-After", fault.RetryAfter)
		}
		if fault.HTML {
			buf, contentType = appendProxyPage(buf, status), ProxyContentType
		} else {
			buf = appendFaultError(buf, status, now, ids)
		}
	} else {
		var ge *graphError
		buf, rows, ge = s.respond(buf, hdr, r, now)
		if ge != nil {
			status = ge.status
			buf = appendGraphError(buf, ge.code, ge.msg, innerCode(ge.code), now, ids)
		} else {
			status = http.StatusOK
			contentType = PageContentType
			hdr.Set("OData-Version", "4.0")
		}
	}
	*bp = buf

	hdr.Set("Content-Type", contentType)
	hdr.Set("Content-Length", strconv.Itoa(len(buf)))
	if fault != nil && fault.Truncate {
		s.record(status, rows, true)
		w.WriteHeader(status)
		_, _ = w.Write(buf[:len(buf)/2])
		_ = http.NewResponseController(w).Flush()
		// Aborting after the flush closes the connection short of the
		// declared Content-Length, so the client gets an unexpected EOF
		// instead of a short body it might accept.
		panic(http.ErrAbortHandler)
	}
	s.record(status, rows, false)
	w.WriteHeader(status)
	_, _ = w.Write(buf)
}

// latency is the delay to add to one response.
func (s *Server) latency() time.Duration {
	lo, hi := s.cfg.Latency, s.cfg.LatencyMax
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo+1)
}

// SetDenied makes the server answer every request that carries a valid
// token with 403 Authorization_RequestDenied, as Graph does once an admin
// removes the app's permission (or its service principal) from the
// tenant, or lifts that again. Tokens issued before keep authenticating;
// they are just not allowed to read.
func (s *Server) SetDenied(denied bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied = denied
}

// pickFault returns the fault for request n, if any, and counts its firing.
// The caller holds s.mu.
func (s *Server) pickFault(n int) *Fault {
	for k := range s.faults {
		f := &s.faults[k]
		if f.Limit > 0 && f.fired >= f.Limit {
			continue
		}
		if mod(n, f.Every) != mod(f.Offset, f.Every) {
			continue
		}
		f.fired++
		c := f.Fault
		return &c
	}
	return nil
}

func mod(a, b int) int {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// record counts one response; rows is negative for non-page responses.
func (s *Server) record(status, rows int, truncated bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.ByStatus[status]++
	switch {
	case truncated:
		s.stats.Truncated++
	case rows >= 0:
		s.stats.Pages++
		s.stats.Rows += rows
	}
}

// respond checks the request and appends a page to buf. It returns the number
// of rows in the page, or a Graph error.
func (s *Server) respond(buf []byte, hdr http.Header, r *http.Request, now time.Time) ([]byte, int, *graphError) {
	app, ge := s.authorize(hdr, r.Header.Get("Authorization"), now)
	if ge != nil {
		return buf, -1, ge
	}
	s.mu.Lock()
	denied := s.denied
	s.mu.Unlock()
	if denied {
		// Graph checks the token first (401) and the permission after.
		return buf, -1, &graphError{http.StatusForbidden, CodeRequestDenied, "Insufficient privileges to complete the operation."}
	}
	if rt, ok := parseRecordsPath(r.URL.Path); ok {
		// The call records count against their own throttling family.
		if ge := s.throttleRecordsCheck(hdr, app, rt.throttleKey(), now); ge != nil {
			return buf, -1, ge
		}
		if r.Method != http.MethodGet {
			hdr.Set("Allow", http.MethodGet)
			return buf, -1, &graphError{http.StatusMethodNotAllowed, CodeBadRequest, "Specified HTTP method is not allowed for the request target."}
		}
		return s.respondRecords(buf, hdr, r, rt, now)
	}
	if ge := s.throttleCheck(hdr, app, r.URL.Path, now); ge != nil {
		return buf, -1, ge
	}
	if r.Method != http.MethodGet {
		hdr.Set("Allow", http.MethodGet)
		return buf, -1, &graphError{http.StatusMethodNotAllowed, CodeBadRequest, "Specified HTTP method is not allowed for the request target."}
	}
	// Path is the decoded form, so a '+' sent raw or as %2B parses the
	// same; EscapedPath keeps the client's spelling for the nextLink.
	version, fn, from, to, ge := s.parsePath(r.URL.Path)
	if ge != nil {
		return buf, -1, ge
	}
	skip, ge := parseSkip(r.URL.RawQuery)
	if ge != nil {
		return buf, -1, ge
	}

	if set := s.betaSet(fn); set != nil {
		return s.respondSet(buf, r, fn, set, version, from, to, skip, now)
	}
	// The function's sources entry says which data set answers it, how
	// wide a range it accepts and whether toDateTime is in.
	src, _ := sources.ByFunction(string(fn)) // parsePath found it there
	ds, typ, toQ := s.dataSet(src.DataSet), src.RowType, toNs(to)
	if src.MaxRange > 0 && to.Sub(from) > src.MaxRange {
		return buf, -1, &graphError{http.StatusNotAcceptable, CodeNotAcceptable,
			fmt.Sprintf("The fromDateTime and toDateTime values cannot be more than a date range of %d days.", src.MaxRange/(24*time.Hour))}
	}
	if src.InclusiveEnd {
		// A row starting exactly at toDateTime is in.
		toQ = satAdd(toQ, 1)
	}
	lo, hi := ds.indexRange(toNs(from), toQ)
	p := ds.plan(lo, hi, toNs(now))
	total := p.total(ds)
	if skip > 0 && s.cfg.PageOverlap > 0 {
		// The data set "shifted" by PageOverlap rows since the previous
		// page, so the offset now points that many rows earlier.
		skip = max(skip-s.cfg.PageOverlap, 0)
	}
	ip := idxPool.Get().(*[]int)
	defer idxPool.Put(ip)
	idx := ds.pageIndices((*ip)[:0], p, skip, s.cfg.PageSize)
	*ip = idx
	next := skip + len(idx)
	more := next < total || (s.cfg.TrailingEmptyPage && len(idx) == s.cfg.PageSize)

	base := baseURL(r)
	buf = append(buf, `{"@odata.context":`...)
	buf = appendJSONString(buf, base+"/"+version+"/$metadata#Collection("+typ+")")
	buf = append(buf, `,"@odata.count":`...)
	buf = strconv.AppendInt(buf, int64(len(idx)), 10)
	buf = append(buf, `,"value":[`...)
	beta := version == "beta"
	for k, i := range idx {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = s.appendServed(buf, fn, i, beta)
	}
	buf = append(buf, ']')
	if more {
		buf = append(buf, `,"@odata.nextLink":`...)
		buf = appendJSONString(buf, s.linkBase(base)+r.URL.EscapedPath()+"?$skip="+strconv.Itoa(next))
	}
	buf = append(buf, '}')
	return buf, len(idx), nil
}

// baseURL is the scheme and host the client used, so nextLinks point back at
// whatever port httptest chose.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = "localhost"
	}
	return scheme + "://" + host
}

// parsePath parses /{version}/communications/callRecords/{function}(args).
// Segment and parameter names match case-insensitively, as Graph's do.
func (s *Server) parsePath(path string) (version string, fn Function, from, to time.Time, ge *graphError) {
	rest, _ := strings.CutPrefix(path, "/")
	version, rest, _ = strings.Cut(rest, "/")
	if !s.versions[version] {
		return "", fn, from, to, notFound("Invalid version: " + version)
	}
	if len(rest) < len(pathPrefix) || !strings.EqualFold(rest[:len(pathPrefix)], pathPrefix) {
		seg, _, _ := strings.Cut(rest, "/")
		return "", fn, from, to, notFound("Resource not found for the segment '" + seg + "'.")
	}
	seg := rest[len(pathPrefix):]
	name, args, hasArgs := strings.Cut(seg, "(")
	// The registry's functions answer, by name or namespace-qualified
	// name, case-insensitively as Graph matches them.
	bare := name
	if len(name) > len(namespace) && strings.EqualFold(name[:len(namespace)], namespace) {
		bare = name[len(namespace):]
	}
	if src, ok := sources.ByFunction(bare); ok && strings.EqualFold(src.Namespace, pathPrefix) {
		fn = Function(src.Function)
	}
	if fn == "" {
		// The beta data sets that have no sources entry yet.
		for _, f := range betaFunctions {
			if strings.EqualFold(bare, string(f)) {
				fn = f
			}
		}
	}
	if fn == "" || strings.Contains(name, "/") {
		return "", fn, from, to, notFound("Resource not found for the segment '" + name + "'.")
	}
	qualifiedName := namespace + string(fn)
	if !hasArgs {
		return "", fn, from, to, badRequest("The function '" + qualifiedName + "' requires the parameters fromDateTime and toDateTime.")
	}
	args, after, closed := strings.Cut(args, ")")
	if !closed {
		return "", fn, from, to, badRequest("Bad Request - Error in query syntax.")
	}
	if after != "" {
		return "", fn, from, to, notFound("Resource not found for the segment '" + after + "'.")
	}
	var haveFrom, haveTo bool
	for _, a := range strings.Split(args, ",") {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return "", fn, from, to, badRequest("Bad Request - Error in query syntax.")
		}
		var dst *time.Time
		var have *bool
		switch {
		case strings.EqualFold(k, "fromDateTime"):
			dst, have = &from, &haveFrom
		case strings.EqualFold(k, "toDateTime"):
			dst, have = &to, &haveTo
		default:
			return "", fn, from, to, badRequest("The parameter '" + k + "' is not defined for function '" + qualifiedName + "'.")
		}
		if *have {
			return "", fn, from, to, badRequest("The parameter '" + k + "' is specified more than once.")
		}
		if v == "" {
			return "", fn, from, to, badRequest("Expression expected for parameter '" + k + "'.")
		}
		t, err := parseDateTimeOffset(v)
		if err != nil {
			return "", fn, from, to, badRequest("The parameter '" + k + "' has an invalid DateTimeOffset value '" + v + "': " + err.Error() + ".")
		}
		*dst, *have = t, true
	}
	if !haveFrom || !haveTo {
		return "", fn, from, to, badRequest("The function '" + qualifiedName + "' requires the parameters fromDateTime and toDateTime.")
	}
	if from.After(to) {
		return "", fn, from, to, badRequest("fromDateTime must not be later than toDateTime.")
	}
	return version, fn, from, to, nil
}

// parseSkip reads $skip, which url.ParseQuery also finds when sent as %24skip.
func parseSkip(rawQuery string) (int, *graphError) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, badRequest("Bad Request - Error in query syntax.")
	}
	vs := q["$skip"]
	switch {
	case len(vs) == 0:
		return 0, nil
	case len(vs) > 1:
		return 0, badRequest("Query option '$skip' was specified more than once.")
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 0 {
		return 0, badRequest("Invalid value '" + vs[0] + "' for $skip query option found.")
	}
	return n, nil
}

// appendFaultError renders the error body Graph sends for status.
func appendFaultError(dst []byte, status int, now time.Time, ids requestIDs) []byte {
	code, inner, msg := CodeUnknown, "", http.StatusText(status)
	switch status {
	case http.StatusTooManyRequests:
		code, inner, msg = CodeTooManyRequests, "activityLimitReached", "Please retry again later."
	case http.StatusServiceUnavailable:
		code, msg = CodeServiceNotAvail, "Service unavailable."
	case http.StatusGatewayTimeout:
		code, msg = CodeGatewayTimeout, "The gateway did not receive a response in time."
	case http.StatusInternalServerError:
		code, msg = CodeGeneral, "An internal server error occurred."
	case http.StatusUnauthorized:
		code, msg = CodeInvalidToken, "Access token has expired or is not yet valid."
	case http.StatusBadRequest:
		code = CodeBadRequest
	case http.StatusNotFound:
		code = CodeNotFound
	}
	return appendGraphError(dst, code, msg, inner, now, ids)
}

// appendGraphError renders {"error":{"code","message","innerError":{...}}}.
func appendGraphError(dst []byte, code, msg, innerCode string, now time.Time, ids requestIDs) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = appendJSONString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, msg)
	dst = append(dst, `,"innerError":{`...)
	if innerCode != "" {
		dst = append(dst, `"code":`...)
		dst = appendJSONString(dst, innerCode)
		dst = append(dst, ',')
	}
	dst = append(dst, `"date":"`...)
	dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05")
	dst = append(dst, `","request-id":`...)
	dst = appendJSONString(dst, ids.request)
	dst = append(dst, `,"client-request-id":`...)
	dst = appendJSONString(dst, ids.client)
	return append(dst, `}}}`...)
}
