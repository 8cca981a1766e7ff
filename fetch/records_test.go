package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/jsonscan"
	"github.com/callstream/callstream/sources"
)

// The call records of testdata/callrecords: A has three pages of
// sessions, B one, C is listed but known.
const (
	recA = "e523d2ed-2966-4b6b-925b-754a88034cc5"
	recB = "4b1a9f3c-0d5e-4a8e-9b7f-2c6d8e1f0a3b"
	recC = "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
)

var callRecordsFn = FunctionOf(sources.MustLookup("call-records"))

// The request URIs the client must send, as Graph documents them.
const (
	listURI  = "/v1.0/communications/callRecords?$filter=startDateTime%20ge%202026-01-02T03:00:00Z%20and%20startDateTime%20lt%202026-01-02T04:00:00Z"
	expandQ  = "?$expand=sessions($expand%3Dsegments)"
	sessionQ = "/sessions?$expand=segments&$skiptoken="
)

// crServer serves the fixtures of testdata/callrecords by request URI:
// routes maps a URI to a fixture file, whose {{base}} is the server's
// URL. A URI it does not know is 404. hook, when set, may answer a
// request first (returning true). It records every request URI.
type crServer struct {
	*httptest.Server
	routes map[string]string
	hook   func(w http.ResponseWriter, r *http.Request) bool

	mu   sync.Mutex
	uris []string
	hdrs []http.Header
}

func defaultRoutes() map[string]string {
	return map[string]string{
		listURI:                    "list-1.json",
		listURI + "&$skiptoken=L2": "list-2.json",
		"/v1.0/communications/callRecords/" + recA + expandQ:         "record-a.json",
		"/v1.0/communications/callRecords/" + recA + sessionQ + "S2": "record-a.sessions-S2.json",
		"/v1.0/communications/callRecords/" + recA + sessionQ + "S3": "record-a.sessions-S3.json",
		"/v1.0/communications/callRecords/" + recB + expandQ:         "record-b.json",
	}
}

func newCRServer(t *testing.T, routes map[string]string, hook func(w http.ResponseWriter, r *http.Request) bool) *crServer {
	t.Helper()
	s := &crServer{routes: routes, hook: hook}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.uris = append(s.uris, r.RequestURI)
		s.hdrs = append(s.hdrs, r.Header.Clone())
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("authorization header %q", r.Header.Get("Authorization"))
		}
		if s.hook != nil && s.hook(w, r) {
			return
		}
		name, ok := s.routes[r.RequestURI]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"NotFound","message":"no such call record"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.fixture(t, name))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *crServer) fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "callrecords", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte("{{base}}"), []byte(s.URL))
}

func (s *crServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.uris...)
}

// readRecords runs one CallRecords over [t0, t1) and returns the rows
// delivered, by page, copied.
func readRecords(ctx context.Context, c *Client, known func(string, int64) bool) ([][]string, Stats, error) {
	var pages [][]string
	st, err := c.CallRecords(ctx, callRecordsFn, t0, t1, known, func(p Page) error {
		var rows []string
		for i, r := range p.Rows {
			if p.Scans[i] == nil {
				return fmt.Errorf("row %d of page %d delivered without its scan", i, p.Number)
			}
			rows = append(rows, string(r))
		}
		pages = append(pages, rows)
		return nil
	})
	return pages, st, err
}

func knownC(id string, v int64) bool { return id == recC && v == 1 }

// flat is the records of every page delivered, in order.
func flat(pages [][]string) []string {
	var out []string
	for _, p := range pages {
		out = append(out, p...)
	}
	return out
}

// jsonEqual reports whether a and b are the same JSON value, arrays in
// order.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

// TestCallRecordsReadsAndMerges: the list is read page by page with the
// documented $filter and a page-size preference; a known record is not
// read; a record's three pages of sessions are merged into one
// "sessions", its nextLink dropped and every other member kept; a record
// with one page of sessions is delivered exactly as Graph sent it.
func TestCallRecordsReadsAndMerges(t *testing.T) {
	srv := newCRServer(t, defaultRoutes(), nil)
	c, _ := newClient(t, srv.URL)
	pages, st, err := readRecords(context.Background(), c, knownC)
	if err != nil {
		t.Fatal(err)
	}
	recs := flat(pages)
	if len(recs) != 2 {
		t.Fatalf("pages %v", pages)
	}
	if !jsonEqual(t, []byte(recs[0]), srv.fixture(t, "record-a.merged.json")) {
		t.Fatalf("record A merged:\n%s", recs[0])
	}
	if strings.Contains(recs[0], "sessions@odata.nextLink") {
		t.Fatal("the merged record keeps its sessions nextLink")
	}
	if want := strings.TrimSpace(string(srv.fixture(t, "record-b.json"))); recs[1] != want {
		t.Fatalf("record B changed:\n got %s\nwant %s", recs[1], want)
	}
	want := []string{
		listURI,
		"/v1.0/communications/callRecords/" + recA + expandQ,
		"/v1.0/communications/callRecords/" + recA + sessionQ + "S2",
		"/v1.0/communications/callRecords/" + recA + sessionQ + "S3",
		listURI + "&$skiptoken=L2",
		"/v1.0/communications/callRecords/" + recB + expandQ,
	}
	if got := srv.requests(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requests (known record C must not be read):\n got %q\nwant %q", got, want)
	}
	for i, h := range srv.hdrs {
		wantPrefer := ""
		if strings.HasPrefix(srv.uris[i], listURI) {
			wantPrefer = fmt.Sprintf("odata.maxpagesize=%d", DefaultRecordsPageSize)
		}
		if got := h.Get("Prefer"); got != wantPrefer {
			t.Fatalf("request %s: Prefer %q, want %q", srv.uris[i], got, wantPrefer)
		}
	}
	wantSt := Stats{Pages: 2, Rows: 2, Requests: 6, Records: 2, Skipped: 1, SessionPages: 2}
	if st != wantSt {
		t.Fatalf("stats %+v, want %+v", st, wantSt)
	}
}

// TestCallRecordsScans: a delivered row's scan is its top-level members,
// offsets into the row, for merged and unmerged records alike.
func TestCallRecordsScans(t *testing.T) {
	srv := newCRServer(t, defaultRoutes(), nil)
	c, _ := newClient(t, srv.URL)
	_, err := c.CallRecords(context.Background(), callRecordsFn, t0, t1, nil, func(p Page) error {
		for i, r := range p.Rows {
			_, want, err := jsonscan.Object(r, 0, 0, nil)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(p.Scans[i], want) {
				return fmt.Errorf("row %d of page %d: scan %v, want %v", i, p.Number, p.Scans[i], want)
			}
		}
		return nil
	})
	// Without known, C is read too, and the fixture server has no C: 404.
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecordsURL(t *testing.T) {
	c, _ := newClient(t, "https://graph.microsoft.com/")
	from := time.Date(2026, 3, 1, 2, 0, 0, 50, time.FixedZone("CET", 3600)) // 50 ns: rounded up to a tick
	got, err := c.RecordsURL(callRecordsFn, from, from.Add(90*time.Minute+500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	want := "https://graph.microsoft.com/v1.0/communications/callRecords?$filter=startDateTime%20ge%202026-03-01T01:00:00.0000001Z%20and%20startDateTime%20lt%202026-03-01T02:30:00.5000001Z"
	if got != want {
		t.Fatalf("URL:\n got %s\nwant %s", got, want)
	}
	got, err = c.RecordURL(callRecordsFn, "a/b?c d")
	if want := "https://graph.microsoft.com/v1.0/communications/callRecords/a%2Fb%3Fc%20d?$expand=sessions($expand%3Dsegments)"; err != nil || got != want {
		t.Fatalf("record URL %s (%v), want %s", got, err, want)
	}
	if _, err := c.RecordsURL(DirectRoutingCalls, from, from.Add(time.Hour)); err == nil {
		t.Fatal("a call-log function was taken for a source of records")
	}
	if _, err := c.CallRecords(context.Background(), PstnCalls, t0, t1, nil, func(Page) error { return nil }); err == nil {
		t.Fatal("CallRecords read a call-log function")
	}
}

// TestCallRecordsGoneIsSkipped: a listed record answered 404 (aged out
// after the list) is skipped and counted, and the rest is delivered.
func TestCallRecordsGoneIsSkipped(t *testing.T) {
	routes := defaultRoutes()
	delete(routes, "/v1.0/communications/callRecords/"+recB+expandQ)
	srv := newCRServer(t, routes, nil)
	c, _ := newClient(t, srv.URL)
	pages, st, err := readRecords(context.Background(), c, knownC)
	if err != nil {
		t.Fatal(err)
	}
	if recs := flat(pages); len(recs) != 1 || !strings.Contains(recs[0], recA) || st.Gone != 1 || st.Records != 1 {
		t.Fatalf("records %d, stats %+v; want B gone", len(recs), st)
	}
	// A record whose sessions page is gone is gone too.
	routes = defaultRoutes()
	delete(routes, "/v1.0/communications/callRecords/"+recA+sessionQ+"S3")
	srv = newCRServer(t, routes, nil)
	c, _ = newClient(t, srv.URL)
	pages, st, err = readRecords(context.Background(), c, knownC)
	if recs := flat(pages); err != nil || len(recs) != 1 || !strings.Contains(recs[0], recB) || st.Gone != 1 || st.Records != 1 {
		t.Fatalf("stats %+v, err %v; want A gone", st, err)
	}
}

// TestCallRecordsThrottledGetRetried: a 429 with Retry-After on a
// record's GET is waited out and the GET tried again.
func TestCallRecordsThrottledGetRetried(t *testing.T) {
	var n atomic.Int32
	srv := newCRServer(t, defaultRoutes(), func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.RequestURI, recB) && n.Add(1) == 1 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	c, sl := newClient(t, srv.URL)
	pages, st, err := readRecords(context.Background(), c, knownC)
	if err != nil {
		t.Fatal(err)
	}
	if len(flat(pages)) != 2 || st.Throttled != 1 || st.Retries != 1 || st.Requests != 7 || st.ThrottleWait != 7*time.Second {
		t.Fatalf("stats %+v", st)
	}
	if fmt.Sprint(sl.d) != "[7s]" {
		t.Fatalf("waits %v, want [7s]", sl.d)
	}
}

// TestCallRecordsTruncatedBodyRetried: a record's body cut short is read
// again, and what is delivered is the whole record.
func TestCallRecordsTruncatedBodyRetried(t *testing.T) {
	var n atomic.Int32
	srv := newCRServer(t, defaultRoutes(), func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.RequestURI, recB) && n.Add(1) == 1 {
			w.Header().Set("Content-Length", "4096")
			_, _ = w.Write([]byte(`{"version":1,"id":"` + recB + `","sessions":[`))
			return true // the server closes the connection short of 4096 bytes
		}
		return false
	})
	c, _ := newClient(t, srv.URL)
	pages, st, err := readRecords(context.Background(), c, knownC)
	if err != nil {
		t.Fatal(err)
	}
	if want, recs := strings.TrimSpace(string(srv.fixture(t, "record-b.json"))), flat(pages); len(recs) != 2 || recs[1] != want || st.Retries != 1 {
		t.Fatalf("records %q after %d retries", recs, st.Retries)
	}
}

// TestCallRecordsSessionsLinkRules: a sessions nextLink to another host
// is refused before any request goes there (the token never reaches it),
// and one that repeats an earlier link is refused; both permanent, and
// nothing of the list page is delivered.
func TestCallRecordsSessionsLinkRules(t *testing.T) {
	var foreignHits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		fmt.Fprint(w, `{"value":[]}`)
	}))
	t.Cleanup(foreign.Close)
	for _, tc := range []struct {
		name string
		link func(base string) string
		want error
	}{
		{"foreign host", func(string) string { return foreign.URL + "/v1.0/communications/callRecords/" + recA + sessionQ + "S3" }, ErrForeignHost},
		{"repeated", func(base string) string { return base + "/v1.0/communications/callRecords/" + recA + sessionQ + "S2" }, ErrRepeatedLink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *crServer
			srv = newCRServer(t, defaultRoutes(), func(w http.ResponseWriter, r *http.Request) bool {
				if r.RequestURI != "/v1.0/communications/callRecords/"+recA+sessionQ+"S2" {
					return false
				}
				link, _ := json.Marshal(tc.link(srv.URL))
				fmt.Fprintf(w, `{"value":[{"id":"s3"}],"@odata.nextLink":%s}`, link)
				return true
			})
			c, _ := newClient(t, srv.URL)
			pages, _, err := readRecords(context.Background(), c, knownC)
			if !errors.Is(err, tc.want) || !IsPermanent(err) || len(pages) != 0 {
				t.Fatalf("err %v, %d pages; want %v, permanent, nothing delivered", err, len(pages), tc.want)
			}
			if foreignHits.Load() != 0 {
				t.Fatal("a request was sent to the foreign host")
			}
		})
	}
}

// TestCallRecordsSizeCaps: a record's GET over MaxPageBytes is a
// *PageTooLargeError, a record whose merged sessions go over it a
// *RecordTooLargeError, both naming GRAPH_MAX_PAGE_BYTES, permanent; and
// a chain of sessions pages longer than MaxPages is ErrTooManyPages.
func TestCallRecordsSizeCaps(t *testing.T) {
	srv := newCRServer(t, defaultRoutes(), nil)
	a := int64(len(srv.fixture(t, "record-a.json")))
	merged := int64(len(srv.fixture(t, "record-a.merged.json")))
	for _, tc := range []struct {
		name  string
		limit int64
		as    any
	}{
		{"body", a - 1, new(*PageTooLargeError)},
		{"merged", a + (merged-a)/4, new(*RecordTooLargeError)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newClient(t, srv.URL, func(c *Config) { c.MaxPageBytes = tc.limit })
			_, _, err := readRecords(context.Background(), c, knownC)
			if !errors.As(err, tc.as) || !IsPermanent(err) || !strings.Contains(err.Error(), "GRAPH_MAX_PAGE_BYTES") {
				t.Fatalf("err %v", err)
			}
		})
	}
	c, _ := newClient(t, srv.URL, func(c *Config) { c.MaxPages = 2 })
	_, _, err := readRecords(context.Background(), c, knownC)
	if !errors.Is(err, ErrTooManyPages) || !IsPermanent(err) || !strings.Contains(err.Error(), "sessions") {
		t.Fatalf("err %v", err)
	}
}

// TestCallRecordsUnreadableRows: a listed row without a usable id is
// handed on as listed (for the schema layer to reject), not dropped; one
// without a usable version is read, known not asked about it.
func TestCallRecordsUnreadableRows(t *testing.T) {
	routes := defaultRoutes()
	delete(routes, listURI+"&$skiptoken=L2")
	srv := newCRServer(t, routes, func(w http.ResponseWriter, r *http.Request) bool {
		if r.RequestURI != listURI {
			return false
		}
		fmt.Fprintf(w, `{"value":[{"version":3},{"id":7,"version":1},{"id":"%s","version":"2"}]}`, recB)
		return true
	})
	c, _ := newClient(t, srv.URL)
	var asked []string
	pages, st, err := readRecords(context.Background(), c, func(id string, v int64) bool {
		asked = append(asked, fmt.Sprint(id, v))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"version":3}`, `{"id":7,"version":1}`, strings.TrimSpace(string(srv.fixture(t, "record-b.json")))}
	if !reflect.DeepEqual(flat(pages), want) || len(asked) != 0 || st.Records != 1 {
		t.Fatalf("rows %q, known asked %v, stats %+v", pages, asked, st)
	}
}

// TestCallRecordsOrderUnderConcurrency: records are read several at once
// (never more than RecordConcurrency) and answered in any order, yet
// delivered in the list's order.
func TestCallRecordsOrderUnderConcurrency(t *testing.T) {
	const n, conc = 24, 4
	var ids, rows []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("rec-%02d", i))
		rows = append(rows, fmt.Sprintf(`{"id":"%s","version":1}`, ids[i]))
	}
	var inFlight, peak atomic.Int32
	srv := newCRServer(t, map[string]string{}, func(w http.ResponseWriter, r *http.Request) bool {
		if r.RequestURI == listURI {
			fmt.Fprintf(w, `{"value":[%s]}`, strings.Join(rows, ","))
			return true
		}
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.RequestURI, "/v1.0/communications/callRecords/"), expandQ)
		var i int
		fmt.Sscanf(id, "rec-%d", &i)
		time.Sleep(time.Duration(i%conc) * 5 * time.Millisecond) // later ones first
		fmt.Fprintf(w, `{"id":"%s","version":1,"sessions":[]}`, id)
		return true
	})
	c, _ := newClient(t, srv.URL, func(c *Config) { c.RecordConcurrency = conc })
	pages, st, err := readRecords(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Delivered in runs of two rounds of reads: a list page of meetings
	// is never held whole.
	if len(pages) != n/(2*conc) || len(flat(pages)) != n || st.Records != n {
		t.Fatalf("%d pages, stats %+v", len(pages), st)
	}
	for _, p := range pages {
		if len(p) > 2*conc {
			t.Fatalf("a page of %d records, want at most %d", len(p), 2*conc)
		}
	}
	for i, r := range flat(pages) {
		if !strings.Contains(r, `"`+ids[i]+`"`) {
			t.Fatalf("row %d is %s, want %s", i, r, ids[i])
		}
	}
	if p := peak.Load(); p < 2 || p > conc {
		t.Fatalf("%d records read at once, want 2..%d", p, conc)
	}
}

// TestCallRecordsCancelStopsInFlight: when ctx ends while records are
// being read, every GET in flight is cancelled, CallRecords returns
// ctx's error without delivering the page, and no goroutine is left.
func TestCallRecordsCancelStopsInFlight(t *testing.T) {
	const conc = 4
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var started, stopped atomic.Int32
	srv := newCRServer(t, map[string]string{}, func(w http.ResponseWriter, r *http.Request) bool {
		if r.RequestURI == listURI {
			fmt.Fprint(w, `{"value":[{"id":"a","version":1},{"id":"b","version":1},{"id":"c","version":1},{"id":"d","version":1},{"id":"e","version":1}]}`)
			return true
		}
		if started.Add(1) == conc {
			cancel()
		}
		select {
		case <-r.Context().Done():
			stopped.Add(1)
		case <-time.After(10 * time.Second):
		}
		return true
	})
	c, _ := newClient(t, srv.URL, func(c *Config) { c.RecordConcurrency = conc })
	start := time.Now()
	pages, _, err := readRecords(ctx, c, nil)
	if !errors.Is(err, context.Canceled) || len(pages) != 0 {
		t.Fatalf("err %v, %d pages", err, len(pages))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s: the GETs in flight were not cancelled", d)
	}
	srv.Close()
	if s := started.Load(); s != conc || stopped.Load() != s {
		t.Fatalf("%d GETs started, %d saw the cancellation; want %d, all", s, stopped.Load(), conc)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("%d goroutines after, %d before", after, before)
	}
}

// TestCallRecordsBudgetKeyedByRecord: a record's GET and its sessions
// pages count against that record's bucket (here one request per 50 ms),
// the list's pages against the list's.
func TestCallRecordsBudgetKeyedByRecord(t *testing.T) {
	const window = 50 * time.Millisecond
	b, err := NewBudget(BudgetConfig{PerRecord: 1, RecordsWindow: window})
	if err != nil {
		t.Fatal(err)
	}
	srv := newCRServer(t, defaultRoutes(), nil)
	c, _ := newClient(t, srv.URL, func(c *Config) { c.Budget = b })
	start := time.Now()
	_, st, err := readRecords(context.Background(), c, knownC)
	if err != nil {
		t.Fatal(err)
	}
	// Record A's three requests are paced a window apart; the rest is not.
	if took := time.Since(start); took < 2*window || st.BudgetWait < window {
		t.Fatalf("took %s, budget wait %s; want record A's requests a window apart", took, st.BudgetWait)
	}
	if st.BudgetWait > 4*window {
		t.Fatalf("budget wait %s: more than record A's own pacing", st.BudgetWait)
	}
}
