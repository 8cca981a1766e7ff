package graphsim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
)

const token = "test-token"

var day0 = time.Date(2019, 11, 1, 0, 0, 0, 0, time.UTC)

// farFuture is a clock at which every row is visible.
func farFuture() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }

// start returns a simulator and an httptest server for it. Zero fields get
// a small data set: two days at 60 rows an hour, all visible.
func start(tb testing.TB, cfg graphsim.Config) (*graphsim.Server, *httptest.Server) {
	tb.Helper()
	if cfg.Token == "" {
		cfg.Token = token
	}
	if cfg.Start.IsZero() {
		cfg.Start = day0
	}
	if cfg.End.IsZero() {
		cfg.End = cfg.Start.Add(48 * time.Hour)
	}
	if cfg.RowsPerHour == 0 {
		cfg.RowsPerHour = 60
	}
	if cfg.Now == nil {
		cfg.Now = farFuture
	}
	sim, err := graphsim.New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(sim)
	tb.Cleanup(ts.Close)
	return sim, ts
}

// callURL builds a function-call URL; args is the text between the
// parentheses, already in the form it goes on the wire.
func callURL(ts *httptest.Server, version, args string) string {
	return ts.URL + "/" + version + "/communications/callRecords/getDirectRoutingCalls(" + args + ")"
}

func fromTo(from, to string) string { return "fromDateTime=" + from + ",toDateTime=" + to }

func get(tb testing.TB, rawURL string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: read body: %v", rawURL, err)
	}
	return resp, body
}

type page struct {
	Context  string            `json:"@odata.context"`
	Count    int               `json:"@odata.count"`
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

func getPage(tb testing.TB, rawURL string) page {
	tb.Helper()
	resp, body := get(tb, rawURL)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: status %d: %s", rawURL, resp.StatusCode, body)
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Fatalf("GET %s: decode: %v", rawURL, err)
	}
	if p.Count != len(p.Value) {
		tb.Fatalf("GET %s: @odata.count=%d but %d rows", rawURL, p.Count, len(p.Value))
	}
	return p
}

// fetchAll follows nextLinks from first and returns every page.
func fetchAll(tb testing.TB, first string) []page {
	tb.Helper()
	var pages []page
	for u := first; u != ""; {
		p := getPage(tb, u)
		pages = append(pages, p)
		if p.NextLink == u {
			tb.Fatalf("nextLink %s points at the page itself", u)
		}
		u = p.NextLink
	}
	return pages
}

func allRows(pages []page) []json.RawMessage {
	var out []json.RawMessage
	for _, p := range pages {
		out = append(out, p.Value...)
	}
	return out
}

// wantRows compares served rows with ground truth byte for byte.
func wantRows(tb testing.TB, got []json.RawMessage, want []graphsim.Row) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i].JSON) {
			tb.Fatalf("row %d (index %d) differs:\n got %s\nwant %s", i, want[i].Index, got[i], want[i].JSON)
		}
	}
}

type graphErr struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Code      string `json:"code"`
			Date      string `json:"date"`
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

func decodeErr(tb testing.TB, body []byte) graphErr {
	tb.Helper()
	var e graphErr
	if err := json.Unmarshal(body, &e); err != nil {
		tb.Fatalf("error body %q: %v", body, err)
	}
	if e.Error.Code == "" || e.Error.Message == "" || e.Error.InnerError.RequestID == "" {
		tb.Fatalf("error body %s lacks code, message or request-id", body)
	}
	return e
}

func TestNew_Validation(t *testing.T) {
	ok := graphsim.Config{Token: "t", Start: day0, End: day0.Add(time.Hour), RowsPerHour: 10}
	tests := []struct {
		name string
		edit func(*graphsim.Config)
		want string
	}{
		{"NoToken", func(c *graphsim.Config) { c.Token = "" }, "Token"},
		{"NoStart", func(c *graphsim.Config) { c.Start = time.Time{} }, "Start and End"},
		{"EndBeforeStart", func(c *graphsim.Config) { c.End = day0.Add(-time.Hour) }, "not after"},
		{"ZeroRows", func(c *graphsim.Config) { c.RowsPerHour = 0 }, "RowsPerHour"},
		{"TooDense", func(c *graphsim.Config) { c.RowsPerHour = 1 << 40 }, "closer than"},
		{"NegativePage", func(c *graphsim.Config) { c.PageSize = -1 }, "PageSize"},
		{"Overlap", func(c *graphsim.Config) { c.PageSize = 10; c.PageOverlap = 10 }, "PageOverlap"},
		{"LateFraction", func(c *graphsim.Config) { c.LateFraction = 1.5 }, "LateFraction"},
		{"BadVersion", func(c *graphsim.Config) { c.APIVersions = []string{"v1.0/x"} }, "version"},
		{"FaultEvery", func(c *graphsim.Config) { c.Faults = []graphsim.Fault{{Status: 429}} }, "Every"},
		{"FaultStatus", func(c *graphsim.Config) { c.Faults = []graphsim.Fault{{Every: 1}} }, "Status"},
		{"FaultTruncateStatus", func(c *graphsim.Config) { c.Faults = []graphsim.Fault{{Every: 1, Truncate: true, Status: 500}} }, "Truncate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := graphsim.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New() error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("AllAtOnce", func(t *testing.T) {
		_, err := graphsim.New(graphsim.Config{PageSize: -1, LateFraction: -1})
		if err == nil || strings.Count(err.Error(), "\n") < 3 {
			t.Fatalf("New() error = %v, want every problem listed", err)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		sim, err := graphsim.New(ok)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sim.Len(), 10; got != want {
			t.Fatalf("Len()=%d, want %d", got, want)
		}
	})
}

func TestServe_DateOnly(t *testing.T) {
	sim, ts := start(t, graphsim.Config{})
	pages := fetchAll(t, callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-02")))
	if len(pages) != 2 || pages[0].Count != 1000 || pages[1].Count != 440 {
		t.Fatalf("got %d pages, want 1000 + 440 rows", len(pages))
	}
	wantRows(t, allRows(pages), sim.Rows(day0, day0.Add(24*time.Hour)))
}

func TestServe_ParameterForms(t *testing.T) {
	sim, ts := start(t, graphsim.Config{PageSize: 5000})
	h := func(d time.Duration) time.Time { return day0.Add(d) }
	tests := []struct {
		name     string
		version  string
		url      string // relative to the server; args only unless name says
		from, to time.Time
	}{
		{"Z", "v1.0", fromTo("2019-11-01T06:00:00Z", "2019-11-01T18:00:00Z"), h(6 * time.Hour), h(18 * time.Hour)},
		{"NoSeconds", "v1.0", fromTo("2019-11-01T06:00Z", "2019-11-01T18:00Z"), h(6 * time.Hour), h(18 * time.Hour)},
		{"Millis", "v1.0", fromTo("2019-11-01T06:00:00.500Z", "2019-11-01T18:00:00.250Z"), h(6*time.Hour + 500*time.Millisecond), h(18*time.Hour + 250*time.Millisecond)},
		{"SevenDigits", "v1.0", fromTo("2019-11-01T06:00:00.0000001Z", "2019-11-01T18:00:00.9999999Z"), h(6*time.Hour + 100), h(18*time.Hour + time.Second - 100)},
		{"PlusZeroRaw", "v1.0", fromTo("2019-11-01T06:00:00+00:00", "2019-11-01T18:00:00+00:00"), h(6 * time.Hour), h(18 * time.Hour)},
		{"PlusZeroEncoded", "v1.0", fromTo("2019-11-01T06:00:00%2B00:00", "2019-11-01T18:00:00%2b00:00"), h(6 * time.Hour), h(18 * time.Hour)},
		{"PlusOffset", "v1.0", fromTo("2019-11-01T07:30:00%2B01:30", "2019-11-01T18:00:00Z"), h(6 * time.Hour), h(18 * time.Hour)},
		{"MinusOffset", "v1.0", fromTo("2019-11-01T01:00:00-05:00", "2019-11-01T13:00:00-05:00"), h(6 * time.Hour), h(18 * time.Hour)},
		{"ColonsEncoded", "v1.0", fromTo("2019-11-01T06%3A00%3A00Z", "2019-11-01T18%3A00%3A00Z"), h(6 * time.Hour), h(18 * time.Hour)},
		{"Reversed", "v1.0", "toDateTime=2019-11-02,fromDateTime=2019-11-01", h(0), h(24 * time.Hour)},
		{"LowerCaseNames", "v1.0", "fromdatetime=2019-11-01,todatetime=2019-11-02", h(0), h(24 * time.Hour)},
		{"Beta", "beta", fromTo("2019-11-01", "2019-11-02"), h(0), h(24 * time.Hour)},
		{"Empty", "v1.0", fromTo("2019-11-01T06:00:00Z", "2019-11-01T06:00:00Z"), h(6 * time.Hour), h(6 * time.Hour)},
		{"OutsideData", "v1.0", fromTo("2018-01-01", "2018-02-01"), time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2018, 2, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := getPage(t, callURL(ts, tc.version, tc.url))
			want := sim.Rows(tc.from, tc.to)
			if p.NextLink != "" {
				t.Fatalf("unexpected nextLink %s", p.NextLink)
			}
			if tc.version == "beta" {
				if len(p.Value) != len(want) {
					t.Fatalf("got %d rows, want %d", len(p.Value), len(want))
				}
				for i := range want {
					if !bytes.Equal(p.Value[i], want[i].BetaJSON) {
						t.Fatalf("beta row %d differs", i)
					}
				}
				return
			}
			wantRows(t, p.Value, want)
		})
	}
	t.Run("NamespaceQualified", func(t *testing.T) {
		u := ts.URL + "/v1.0/communications/callRecords/microsoft.graph.callRecords.getDirectRoutingCalls(" + fromTo("2019-11-01", "2019-11-02") + ")"
		wantRows(t, getPage(t, u).Value, sim.Rows(day0, day0.Add(24*time.Hour)))
	})
	t.Run("CaseInsensitiveSegments", func(t *testing.T) {
		u := ts.URL + "/v1.0/Communications/callrecords/GetDirectRoutingCalls(" + fromTo("2019-11-01", "2019-11-02") + ")"
		if got := getPage(t, u).Count; got != 1440 {
			t.Fatalf("count %d, want 1440", got)
		}
	})
}

func TestServe_Errors(t *testing.T) {
	_, ts := start(t, graphsim.Config{})
	base := ts.URL + "/v1.0/communications/callRecords/"
	tests := []struct {
		name   string
		url    string
		status int
		code   string
	}{
		{"MissingArgs", base + "getDirectRoutingCalls", 400, "BadRequest"},
		{"EmptyArgs", base + "getDirectRoutingCalls()", 400, "BadRequest"},
		{"EmptyValues", base + "getDirectRoutingCalls(fromDateTime=,toDateTime=)", 400, "BadRequest"},
		{"MissingTo", base + "getDirectRoutingCalls(fromDateTime=2019-11-01)", 400, "BadRequest"},
		{"Unclosed", base + "getDirectRoutingCalls(" + fromTo("2019-11-01", "2019-11-02"), 400, "BadRequest"},
		{"UnknownParam", base + "getDirectRoutingCalls(" + fromTo("2019-11-01", "2019-11-02") + ",top=5)", 400, "BadRequest"},
		{"DuplicateParam", base + "getDirectRoutingCalls(fromDateTime=2019-11-01,fromDateTime=2019-11-01)", 400, "BadRequest"},
		{"Unpadded", base + "getDirectRoutingCalls(" + fromTo("2019-11-1", "2019-11-02") + ")", 400, "BadRequest"},
		{"NoZone", base + "getDirectRoutingCalls(" + fromTo("2019-11-01T00:00:00", "2019-11-02T00:00:00") + ")", 400, "BadRequest"},
		{"NineDigits", base + "getDirectRoutingCalls(" + fromTo("2019-11-01T00:00:00.123456789Z", "2019-11-02") + ")", 400, "BadRequest"},
		{"PlusDecodedAsSpace", base + "getDirectRoutingCalls(" + fromTo("2019-11-01T00:00:00%2000:00", "2019-11-02") + ")", 400, "BadRequest"},
		{"Quoted", base + "getDirectRoutingCalls(" + fromTo("'2019-11-01'", "'2019-11-02'") + ")", 400, "BadRequest"},
		{"FromAfterTo", base + "getDirectRoutingCalls(" + fromTo("2019-11-02", "2019-11-01") + ")", 400, "BadRequest"},
		{"BadSkip", base + "getDirectRoutingCalls(" + fromTo("2019-11-01", "2019-11-02") + ")?$skip=ten", 400, "BadRequest"},
		{"NegativeSkip", base + "getDirectRoutingCalls(" + fromTo("2019-11-01", "2019-11-02") + ")?$skip=-1", 400, "BadRequest"},
		{"UnknownVersion", ts.URL + "/v2.0/communications/callRecords/getDirectRoutingCalls(" + fromTo("2019-11-01", "2019-11-02") + ")", 404, "ResourceNotFound"},
		{"NoVersion", ts.URL + "/communications/callRecords/getDirectRoutingCalls(" + fromTo("2019-11-01", "2019-11-02") + ")", 404, "ResourceNotFound"},
		{"OtherFunction", base + "getSmsLog(" + fromTo("2019-11-01", "2019-11-02") + ")", 404, "ResourceNotFound"},
		{"TrailingSegment", base + "getDirectRoutingCalls(" + fromTo("2019-11-01", "2019-11-02") + ")/value", 404, "ResourceNotFound"},
		{"Root", ts.URL + "/", 404, "ResourceNotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.url)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if e := decodeErr(t, body); e.Error.Code != tc.code {
				t.Fatalf("code %q, want %q", e.Error.Code, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
	t.Run("Post", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, base+"getDirectRoutingCalls("+fromTo("2019-11-01", "2019-11-02")+")", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
			t.Fatalf("status %d Allow %q, want 405 GET", resp.StatusCode, resp.Header.Get("Allow"))
		}
		decodeErr(t, body)
	})
}

func TestServe_Auth(t *testing.T) {
	_, ts := start(t, graphsim.Config{})
	u := callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-02"))
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"Missing", "", 401},
		{"WrongToken", "Bearer nope", 401},
		{"NoScheme", token, 401},
		{"Basic", "Basic " + token, 401},
		{"LowerCaseScheme", "bearer " + token, 200},
		{"Good", "Bearer " + token, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 401 {
				return
			}
			if e := decodeErr(t, body); e.Error.Code != "InvalidAuthenticationToken" {
				t.Fatalf("code %q", e.Error.Code)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestServe_Boundaries pins fromDateTime inclusive and toDateTime exclusive
// on rows sitting exactly on the boundary.
func TestServe_Boundaries(t *testing.T) {
	sim, ts := start(t, graphsim.Config{RowsPerHour: 3600, End: day0.Add(time.Hour)})
	at1, at2 := day0.Add(time.Minute), day0.Add(2*time.Minute)
	for _, at := range []time.Time{at1, at2} {
		rs := sim.Rows(at, at.Add(time.Second))
		if len(rs) != 1 || !rs[0].Start.Equal(at) {
			t.Fatalf("no row sits exactly on %v: %v", at, rs)
		}
	}
	p := getPage(t, callURL(ts, "v1.0", fromTo("2019-11-01T00:01:00Z", "2019-11-01T00:02:00Z")))
	want := sim.Rows(at1, at2)
	wantRows(t, p.Value, want)
	if len(want) != 60 || !want[0].Start.Equal(at1) || !want[59].Start.Before(at2) {
		t.Fatalf("window [%v, %v) holds %d rows, first at %v", at1, at2, len(want), want[0].Start)
	}
	var first struct {
		Start string `json:"startDateTime"`
	}
	if err := json.Unmarshal(p.Value[0], &first); err != nil {
		t.Fatal(err)
	}
	if got, err := time.Parse(time.RFC3339Nano, first.Start); err != nil || !got.Equal(at1) {
		t.Fatalf("first row starts at %q, want %v", first.Start, at1)
	}
	// One tick past the boundary excludes the row on it.
	p = getPage(t, callURL(ts, "v1.0", fromTo("2019-11-01T00:01:00.0000001Z", "2019-11-01T00:02:00.0000001Z")))
	if p.Count != 60 || bytes.Equal(p.Value[0], want[0].JSON) || !bytes.Equal(p.Value[0], want[1].JSON) {
		t.Fatalf("shifted window: count %d, want 60 starting at the second row", p.Count)
	}
	if !bytes.Equal(p.Value[59], sim.Rows(at2, at2.Add(time.Second))[0].JSON) {
		t.Fatal("shifted window does not end with the row on its old toDateTime")
	}
}

func TestServe_Paging(t *testing.T) {
	sim, ts := start(t, graphsim.Config{RowsPerHour: 100, End: day0.Add(30 * time.Hour)})
	first := callURL(ts, "v1.0", fromTo("2019-11-01T00:00:00Z", "2019-11-02T01:00:00Z"))
	pages := fetchAll(t, first)
	want := sim.Rows(day0, day0.Add(25*time.Hour))
	if len(want) != 2500 || len(pages) != 3 {
		t.Fatalf("%d rows in %d pages, want 2500 in 3", len(want), len(pages))
	}
	wantRows(t, allRows(pages), want)
	host := strings.TrimPrefix(ts.URL, "http://")
	for i, p := range pages {
		if wantCount := []int{1000, 1000, 500}[i]; p.Count != wantCount {
			t.Fatalf("page %d: @odata.count=%d, want %d", i, p.Count, wantCount)
		}
		if want := ts.URL + "/v1.0/$metadata#Collection(microsoft.graph.callRecords.directRoutingLogRow)"; p.Context != want {
			t.Fatalf("page %d: @odata.context %q, want %q", i, p.Context, want)
		}
		if i == len(pages)-1 {
			if p.NextLink != "" {
				t.Fatalf("last page has nextLink %q", p.NextLink)
			}
			continue
		}
		u, err := url.Parse(p.NextLink)
		if err != nil {
			t.Fatal(err)
		}
		if !u.IsAbs() || u.Scheme != "http" || u.Host != host {
			t.Fatalf("page %d: nextLink %q is not absolute on %s", i, p.NextLink, host)
		}
		if want := first + fmt.Sprintf("?$skip=%d", 1000*(i+1)); p.NextLink != want {
			t.Fatalf("page %d: nextLink %q, want %q", i, p.NextLink, want)
		}
	}
	t.Run("PercentEncodedSkip", func(t *testing.T) {
		p := getPage(t, first+"?%24skip=2000")
		wantRows(t, p.Value, want[2000:])
	})
	t.Run("SkipPastEnd", func(t *testing.T) {
		p := getPage(t, first+"?$skip=5000")
		if p.Count != 0 || p.NextLink != "" || p.Value == nil {
			t.Fatalf("got %+v, want an empty page", p)
		}
	})
	t.Run("OtherQueryOptionsIgnored", func(t *testing.T) {
		p := getPage(t, first+"?$top=5&$filter=userId%20eq%20'x'&$skip=1000")
		wantRows(t, p.Value, want[1000:2000])
	})
	t.Run("Headers", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, first, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("client-request-id", "abc")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" || params["charset"] != "utf-8" {
			t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("client-request-id") != "abc" || resp.Header.Get("request-id") == "" {
			t.Fatalf("request ids %q %q", resp.Header.Get("client-request-id"), resp.Header.Get("request-id"))
		}
	})
}

func TestServe_PageOverlap(t *testing.T) {
	const size, overlap = 100, 10
	sim, ts := start(t, graphsim.Config{PageSize: size, PageOverlap: overlap})
	pages := fetchAll(t, callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-01T06:00:00Z")))
	want := sim.Rows(day0, day0.Add(6*time.Hour)) // 360 rows
	// Each page after the first advances by size-overlap rows.
	if wantPages := 1 + (len(want)-size+size-overlap-1)/(size-overlap); len(pages) != wantPages {
		t.Fatalf("%d pages, want %d", len(pages), wantPages)
	}
	for i := 1; i < len(pages); i++ {
		prev, cur := pages[i-1].Value, pages[i].Value
		for k := range overlap {
			if !bytes.Equal(cur[k], prev[len(prev)-overlap+k]) {
				t.Fatalf("page %d row %d does not repeat the previous page's tail", i, k)
			}
		}
	}
	// Served rows minus the documented duplicates are exactly the ground truth.
	var dedup []json.RawMessage
	for i, p := range pages {
		if i == 0 {
			dedup = append(dedup, p.Value...)
		} else {
			dedup = append(dedup, p.Value[overlap:]...)
		}
	}
	wantRows(t, dedup, want)
	if got := sim.Stats().Rows; got != len(want)+overlap*(len(pages)-1) {
		t.Fatalf("Stats.Rows=%d, want %d", got, len(want)+overlap*(len(pages)-1))
	}
}

func TestServe_TrailingEmptyPage(t *testing.T) {
	sim, ts := start(t, graphsim.Config{PageSize: 60, TrailingEmptyPage: true})
	pages := fetchAll(t, callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-01T02:00:00Z")))
	if len(pages) != 3 || pages[2].Count != 0 || len(pages[2].Value) != 0 {
		t.Fatalf("got %d pages, want 60 + 60 + an empty one", len(pages))
	}
	wantRows(t, allRows(pages), sim.Rows(day0, day0.Add(2*time.Hour)))
}

func TestServe_Faults(t *testing.T) {
	sim, ts := start(t, graphsim.Config{Faults: []graphsim.Fault{
		{Every: 3, Offset: 1, Status: 429, RetryAfter: "1", Limit: 2},
		{Every: 5, Status: 503, RetryAfter: "Fri, 01 Nov 2019 00:00:00 GMT"},
		{Every: 4, Offset: 2, Status: 504},
		{Every: 11, Status: 500, Limit: 1},
	}})
	u := callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-01T01:00:00Z"))
	// Request numbers and the status each must get.
	want := map[int]int{1: 429, 2: 504, 4: 429, 5: 503, 6: 504, 10: 503, 11: 500, 14: 504, 15: 503, 18: 504, 20: 503, 22: 504}
	codes := map[int]string{429: "TooManyRequests", 503: "serviceNotAvailable", 504: "gatewayTimeout", 500: "generalException"}
	for n := 1; n <= 22; n++ {
		resp, body := get(t, u)
		w := want[n]
		if w == 0 {
			w = 200
		}
		if resp.StatusCode != w {
			t.Fatalf("request %d: status %d, want %d", n, resp.StatusCode, w)
		}
		if w == 200 {
			continue
		}
		e := decodeErr(t, body)
		if e.Error.Code != codes[w] {
			t.Fatalf("request %d: code %q, want %q", n, e.Error.Code, codes[w])
		}
		ra := resp.Header.Get("Retry-After")
		switch w {
		case 429:
			if ra != "1" || e.Error.InnerError.Code != "activityLimitReached" {
				t.Fatalf("request %d: Retry-After %q inner code %q", n, ra, e.Error.InnerError.Code)
			}
		case 503:
			if _, err := http.ParseTime(ra); err != nil {
				t.Fatalf("request %d: Retry-After %q: %v", n, ra, err)
			}
		default:
			if ra != "" {
				t.Fatalf("request %d: unexpected Retry-After %q", n, ra)
			}
		}
	}
	st := sim.Stats()
	if st.Requests != 22 || st.ByStatus[429] != 2 || st.ByStatus[503] != 4 || st.ByStatus[504] != 5 || st.ByStatus[500] != 1 || st.ByStatus[200] != 10 || st.Pages != 10 || st.Rows != 10*60 {
		t.Fatalf("Stats = %+v", st)
	}

	// SetFaults replaces the list and its limits; numbering carries on (23, 24, ...).
	sim.SetFaults([]graphsim.Fault{{Every: 1, Status: 504, Limit: 1}})
	if resp, _ := get(t, u); resp.StatusCode != 504 {
		t.Fatalf("after SetFaults: status %d, want 504", resp.StatusCode)
	}
	if resp, _ := get(t, u); resp.StatusCode != 200 {
		t.Fatalf("after limit: status %d, want 200", resp.StatusCode)
	}
	sim.SetFaults(nil)
	if resp, _ := get(t, u); resp.StatusCode != 200 {
		t.Fatalf("no faults: status %d, want 200", resp.StatusCode)
	}
}

func TestServe_Truncate(t *testing.T) {
	sim, ts := start(t, graphsim.Config{Faults: []graphsim.Fault{{Every: 2, Truncate: true, Limit: 1}}})
	u := callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-02"))
	getPage(t, u) // request 1 is fine
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("headers should arrive intact: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("status %d, read error %v, want 200 and unexpected EOF", resp.StatusCode, err)
	}
	if resp.ContentLength <= int64(len(body)) || len(body) == 0 {
		t.Fatalf("Content-Length %d, got %d bytes", resp.ContentLength, len(body))
	}
	if json.Valid(body) {
		t.Fatal("truncated body is valid JSON")
	}
	// The fault is spent: the retry gets the whole page.
	wantRows(t, getPage(t, u).Value, sim.Rows(day0, day0.Add(24*time.Hour))[:1000])
	if st := sim.Stats(); st.Truncated != 1 || st.Pages != 2 || st.ByStatus[200] != 3 {
		t.Fatalf("Stats = %+v", st)
	}
}

// clock is a settable time source safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

func visibleAt(rows []graphsim.Row, now time.Time) []graphsim.Row {
	var out []graphsim.Row
	for _, r := range rows {
		if !r.VisibleAt.After(now) {
			out = append(out, r)
		}
	}
	return out
}

func TestServe_LateRows(t *testing.T) {
	for _, tc := range []struct {
		name              string
		visible, late     time.Duration
		lateFrac          float64
		wantLateAtLeast   int
		wantHiddenAtLeast int
	}{
		{"LateAfterNormal", 10 * time.Minute, 3 * time.Hour, 0.2, 100, 100},
		{"LateBeforeNormal", 2 * time.Hour, 30 * time.Minute, 0.3, 100, 100},
		{"AllLate", 0, time.Hour, 1, 500, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clk clock
			clk.Set(day0.Add(12 * time.Hour))
			sim, ts := start(t, graphsim.Config{
				RowsPerHour: 240, End: day0.Add(24 * time.Hour), PageSize: 250, Now: clk.Now,
				VisibleDelay: tc.visible, LateDelay: tc.late, LateFraction: tc.lateFrac,
			})
			u := callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-02"))
			truth := sim.Rows(day0, day0.Add(24*time.Hour))
			late := 0
			for _, r := range truth {
				if d := r.VisibleAt.Sub(r.Start); d == tc.late && d != tc.visible {
					late++
				}
			}
			if late < tc.wantLateAtLeast {
				t.Fatalf("only %d late rows", late)
			}
			var hiddenBefore []graphsim.Row
			for step := 0; step < 4; step++ {
				now := clk.Now()
				want := visibleAt(truth, now)
				wantRows(t, allRows(fetchAll(t, u)), want)
				if got := sim.CountVisible(day0, day0.Add(24*time.Hour), now); got != len(want) {
					t.Fatalf("CountVisible=%d, want %d", got, len(want))
				}
				// Rows hidden in the middle of the visible range are the late ones.
				if step == 0 {
					last := want[len(want)-1]
					for _, r := range truth {
						if r.Start.Before(last.Start) && r.VisibleAt.After(now) {
							hiddenBefore = append(hiddenBefore, r)
						}
					}
					if tc.late > tc.visible && len(hiddenBefore) < tc.wantHiddenAtLeast {
						t.Fatalf("only %d rows hidden behind visible ones", len(hiddenBefore))
					}
				}
				clk.Add(90 * time.Minute)
			}
			for _, r := range hiddenBefore {
				if r.VisibleAt.After(clk.Now()) {
					t.Fatalf("row %d still hidden after the clock moved on", r.Index)
				}
			}
		})
	}
}

func TestServe_ConcurrentClients(t *testing.T) {
	sim, ts := start(t, graphsim.Config{PageSize: 200, LateFraction: 0.1, PageOverlap: 5})
	u := callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-02"))
	ref := allRows(fetchAll(t, u))
	const clients = 8
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			var got []json.RawMessage
			for next := u; next != ""; {
				req, _ := http.NewRequest(http.MethodGet, next, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var p page
				err = json.NewDecoder(resp.Body).Decode(&p)
				resp.Body.Close()
				if err != nil {
					errs <- err
					return
				}
				got = append(got, p.Value...)
				next = p.NextLink
				_ = sim.Stats()
			}
			if len(got) != len(ref) {
				errs <- fmt.Errorf("got %d rows, want %d", len(got), len(ref))
				return
			}
			for i := range got {
				if !bytes.Equal(got[i], ref[i]) {
					errs <- fmt.Errorf("row %d differs", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := sim.Stats(); st.Requests != st.Pages || st.Rows != len(ref)*(clients+1) {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestServe_Latency(t *testing.T) {
	_, ts := start(t, graphsim.Config{Latency: 50 * time.Millisecond})
	t0 := time.Now()
	getPage(t, callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-01T01:00:00Z")))
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Fatalf("response after %v, want at least 50ms", d)
	}
}

func TestDeterminism(t *testing.T) {
	cfg := graphsim.Config{Token: token, Start: day0, End: day0.Add(24 * time.Hour), RowsPerHour: 500, Seed: 42, ExtraProperty: true, LateFraction: 0.1}
	a, _ := graphsim.New(cfg)
	b, _ := graphsim.New(cfg)
	cfg.Seed = 43
	c, _ := graphsim.New(cfg)
	ra, rb, rc := a.Rows(cfg.Start, cfg.End), b.Rows(cfg.Start, cfg.End), c.Rows(cfg.Start, cfg.End)
	ids := make(map[string]bool, len(ra))
	for i := range ra {
		if !bytes.Equal(ra[i].JSON, rb[i].JSON) || !bytes.Equal(ra[i].BetaJSON, rb[i].BetaJSON) || !ra[i].VisibleAt.Equal(rb[i].VisibleAt) {
			t.Fatalf("row %d differs between two servers with the same seed", i)
		}
		ids[ra[i].ID] = true
	}
	for i := range rc {
		if ids[rc[i].ID] {
			t.Fatalf("seed 43 row %d reuses id %s from seed 42", i, rc[i].ID)
		}
	}
}

// TestLarge serves pages from the middle of a ten-million-row data set; the
// work must not grow with the data set. Times are compared with the same
// work on a data set a thousand times smaller, measured in the same run, so
// a loaded machine slows both alike: a simulator that generated or scanned
// the rows before a page would be hundreds of times slower on the large one.
func TestLarge(t *testing.T) {
	const n = 10_000_000
	var clk clock
	clk.Set(day0.Add(8 * time.Hour))
	cfg := func(rowsPerHour int) graphsim.Config {
		return graphsim.Config{RowsPerHour: rowsPerHour, End: day0.Add(10 * time.Hour), Now: clk.Now, LateFraction: 0.05}
	}
	t0 := time.Now()
	small, smallTS := start(t, cfg(n/10_000))
	newSmall := time.Since(t0)
	t0 = time.Now()
	sim, ts := start(t, cfg(n/10))
	newLarge := time.Since(t0)
	if sim.Len() != n || small.Len() != n/1000 {
		t.Fatalf("Len()=%d and %d, want %d and %d", sim.Len(), small.Len(), n, n/1000)
	}
	notScaling(t, "New", newSmall, newLarge)
	u := callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-02"))
	smallURL := callURL(smallTS, "v1.0", fromTo("2019-11-01", "2019-11-02"))
	t.Run("FullyVisibleMiddle", func(t *testing.T) {
		// At 08:00 with 3h late delay, the first 5h are fully visible.
		t0 := time.Now()
		getPage(t, smallURL+"?$skip=4500")
		ref := time.Since(t0)
		t0 = time.Now()
		p := getPage(t, u+"?$skip=4500000")
		notScaling(t, "page", ref, time.Since(t0))
		if p.Count != 1000 || !strings.HasSuffix(p.NextLink, "?$skip=4501000") {
			t.Fatalf("count %d nextLink %q", p.Count, p.NextLink)
		}
		wantRows(t, p.Value[:1], []graphsim.Row{sim.RowAt(4_500_000)})
		wantRows(t, p.Value[999:], []graphsim.Row{sim.RowAt(4_500_999)})
	})
	t.Run("LateZone", func(t *testing.T) {
		// 06:00 lies in the zone where late rows are still hidden.
		want := visibleAt(sim.Rows(day0.Add(6*time.Hour), day0.Add(6*time.Hour+10*time.Second)), clk.Now())
		skip := sim.CountVisible(day0, day0.Add(6*time.Hour), clk.Now())
		smallSkip := small.CountVisible(day0, day0.Add(6*time.Hour), clk.Now())
		for range 2 { // the second request reuses the memoised block counts
			t0 := time.Now()
			getPage(t, smallURL+fmt.Sprintf("?$skip=%d", smallSkip))
			ref := time.Since(t0)
			t0 = time.Now()
			p := getPage(t, u+fmt.Sprintf("?$skip=%d", skip))
			notScaling(t, "late-zone page", ref, time.Since(t0))
			wantRows(t, p.Value, want[:1000])
		}
	})
}

// notScaling fails when work on the data set a thousand times larger took
// more than 20 times as long as on the small one (plus a floor for timer
// and scheduling noise): constant work stays well inside it, work linear in
// the rows is far outside.
func notScaling(t *testing.T, what string, small, large time.Duration) {
	t.Helper()
	if limit := 20*small + 250*time.Millisecond; large > limit {
		t.Fatalf("%s took %v on 10M rows against %v on 10k rows (limit %v): the work grows with the data set", what, large, small, limit)
	}
}

func TestRows_Content(t *testing.T) {
	sim, err := graphsim.New(graphsim.Config{Token: token, Seed: 7, Start: day0, End: day0.Add(10 * time.Hour), RowsPerHour: 1000, ExtraProperty: true})
	if err != nil {
		t.Fatal(err)
	}
	rows := sim.Rows(day0, day0.Add(10*time.Hour))
	if len(rows) != 10000 || sim.Count(day0, day0.Add(10*time.Hour)) != 10000 {
		t.Fatalf("%d rows", len(rows))
	}
	v1 := []string{"id", "correlationId", "userId", "userPrincipalName", "userDisplayName", "startDateTime",
		"inviteDateTime", "failureDateTime", "endDateTime", "duration", "callType", "successfulCall", "callerNumber",
		"calleeNumber", "mediaPathLocation", "signalingLocation", "finalSipCode", "callEndSubReason",
		"finalSipCodePhrase", "trunkFullyQualifiedDomainName", "mediaBypassEnabled"}
	beta := append(append([]string(nil), v1...), "userCountryCode", "otherPartyCountryCode", "transferorCorrelationId", "administrativeUnitInfos")
	extras := map[string]bool{"callQualityScore": true, "callQualityDetails": true}

	seen := map[string]int{}
	ids := map[string]bool{}
	var prev map[string]any
	for k, r := range rows {
		for _, js := range []struct {
			b    []byte
			keys []string
		}{{r.JSON, v1}, {r.BetaJSON, beta}} {
			keys, extra := objectKeys(t, js.b, extras)
			if strings.Join(keys, ",") != strings.Join(js.keys, ",") {
				t.Fatalf("row %d keys %v", r.Index, keys)
			}
			if extra {
				seen["extra"]++
			}
		}
		var m map[string]any
		if err := json.Unmarshal(r.JSON, &m); err != nil {
			t.Fatal(err)
		}
		checkRow(t, r, m, prev, seen)
		if ids[r.ID] {
			t.Fatalf("duplicate id %s", r.ID)
		}
		ids[r.ID] = true
		if k > 0 && !r.Start.After(rows[k-1].Start) {
			t.Fatalf("row %d does not start after row %d", r.Index, rows[k-1].Index)
		}
		prev = m
	}
	for _, want := range []string{"ByotIn", "ByotOut", "ByotInUcap", "ByotOutUserTransfer", "ByotOutUserForwarding",
		"digits0", "digits3", "digits7", "plus", "failed", "endNull", "endSentinel", "botNullUser", "botEmptyUser",
		"nonASCII", "quote", "nonE164", "mediaNull", "inviteNull", "minute", "extra"} {
		if seen[want] == 0 {
			t.Errorf("no row shows %s", want)
		}
	}
	if f := float64(seen["failed"]) / float64(len(rows)); f < 0.10 || f > 0.20 {
		t.Errorf("failed fraction %.3f", f)
	}
	if f := float64(seen["ByotOutUserTransfer"]+seen["ByotOutUserForwarding"]) / float64(len(rows)); f < 0.07 || f > 0.13 {
		t.Errorf("transfer fraction %.3f", f)
	}
}

// objectKeys returns the top-level keys of a JSON object in order, leaving
// out extras and reporting whether any was present.
func objectKeys(tb testing.TB, b []byte, extras map[string]bool) ([]string, bool) {
	tb.Helper()
	if !json.Valid(b) {
		tb.Fatalf("invalid JSON %s", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		tb.Fatalf("not an object: %s", b)
	}
	var keys []string
	extra := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatal(err)
		}
		k := tok.(string)
		if extras[k] {
			extra = true
		} else {
			keys = append(keys, k)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			tb.Fatal(err)
		}
	}
	return keys, extra
}

const sentinel = "0001-01-01T00:00:00Z"

func parseGraphTime(tb testing.TB, v any) time.Time {
	tb.Helper()
	s, ok := v.(string)
	if !ok {
		tb.Fatalf("timestamp %v is not a string", v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("timestamp %q: %v", s, err)
	}
	return t
}

// checkRow checks one row's invariants and tallies which variants appear.
func checkRow(tb testing.TB, r graphsim.Row, m, prev map[string]any, seen map[string]int) {
	tb.Helper()
	fail := func(format string, args ...any) {
		tb.Helper()
		tb.Fatalf("row %d: %s\n%s", r.Index, fmt.Sprintf(format, args...), r.JSON)
	}
	if m["id"] != r.ID || m["correlationId"] != r.CorrelationID {
		fail("id/correlationId differ from Row")
	}
	startStr := m["startDateTime"].(string)
	start := parseGraphTime(tb, startStr)
	if !start.Equal(r.Start) {
		fail("startDateTime %s, Row.Start %v", startStr, r.Start)
	}
	switch {
	case strings.HasSuffix(startStr, "+00:00"):
		seen["plus"]++
	case !strings.HasSuffix(startStr, "Z"):
		fail("startDateTime %s has neither Z nor +00:00", startStr)
	}
	_, fracPart, _ := strings.Cut(strings.TrimSuffix(strings.TrimSuffix(startStr, "Z"), "+00:00"), ".")
	seen[fmt.Sprintf("digits%d", len(fracPart))]++
	if start.Truncate(time.Minute).Equal(start) {
		seen["minute"]++
	}
	if inv := m["inviteDateTime"]; inv == nil {
		seen["inviteNull"]++
	} else if it := parseGraphTime(tb, inv); !it.Before(start) || start.Sub(it) > 10*time.Second {
		fail("inviteDateTime %v not a few seconds before start", it)
	}

	ct := m["callType"].(string)
	seen[ct]++
	dur := int(m["duration"].(float64))
	switch m["successfulCall"] {
	case true:
		if m["failureDateTime"] != sentinel || m["finalSipCode"].(float64) != 0 || m["finalSipCodePhrase"] != "BYE" {
			fail("successful call with failure fields")
		}
		if end := parseGraphTime(tb, m["endDateTime"]); !end.Equal(start.Add(time.Duration(dur) * time.Second)) {
			fail("endDateTime %v != start + %ds", end, dur)
		}
	case false:
		seen["failed"]++
		code := m["finalSipCode"].(float64)
		if dur != 0 || code < 400 || m["callEndSubReason"].(float64) != 560000+code {
			fail("failed call with duration %d code %v", dur, code)
		}
		if ft := parseGraphTime(tb, m["failureDateTime"]); ft.Before(start) {
			fail("failureDateTime before start")
		}
		switch m["endDateTime"] {
		case nil:
			seen["endNull"]++
		case sentinel:
			seen["endSentinel"]++
		default:
			fail("failed call with endDateTime %v", m["endDateTime"])
		}
	default:
		fail("successfulCall %v", m["successfulCall"])
	}
	if ct == "ByotInUcap" {
		if m["userPrincipalName"] != nil || m["userDisplayName"] == nil {
			fail("bot row with a UPN or without a name")
		}
		switch m["userId"] {
		case nil:
			seen["botNullUser"]++
		case "":
			seen["botEmptyUser"]++
		default:
			fail("bot row with userId %v", m["userId"])
		}
	} else {
		upn, _ := m["userPrincipalName"].(string)
		if !strings.HasSuffix(upn, "@contoso.com") || strings.ContainsFunc(upn, func(c rune) bool { return c > 127 }) {
			fail("UPN %q", upn)
		}
	}
	if name, _ := m["userDisplayName"].(string); strings.ContainsFunc(name, func(c rune) bool { return c > 127 }) {
		seen["nonASCII"]++
	} else if strings.Contains(name, `"`) {
		seen["quote"]++
	}
	for _, f := range []string{"callerNumber", "calleeNumber"} {
		if num, _ := m[f].(string); !strings.HasPrefix(num, "+") || !strings.HasSuffix(num, "***") {
			seen["nonE164"]++
		}
	}
	if m["mediaPathLocation"] == nil {
		seen["mediaNull"]++
		if m["mediaBypassEnabled"] != true {
			fail("null mediaPathLocation without media bypass")
		}
	}
	if ct == "ByotOutUserTransfer" || ct == "ByotOutUserForwarding" {
		if prev == nil || prev["correlationId"] != m["correlationId"] || prev["callType"] != "ByotIn" || prev["userId"] != m["userId"] || prev["callerNumber"] != m["callerNumber"] {
			fail("transfer leg does not continue the previous inbound call")
		}
	} else if prev != nil && prev["correlationId"] == m["correlationId"] {
		fail("shares correlationId with the previous row but is a %s", ct)
	}
}
