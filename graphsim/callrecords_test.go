package graphsim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/callstream/callstream/graphsim"
)

// crDay0 is the call-records data sets' first day.
var crDay0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// crRig is a simulator with a clock the test sets.
type crRig struct {
	sim *graphsim.Server
	ts  *httptest.Server
	now atomic.Int64
}

// newCRRig serves cfg with zero fields filled: one day from crDay0 at 20
// rows an hour, the clock two days after its end (every version visible,
// inside the horizon).
func newCRRig(tb testing.TB, cfg graphsim.Config) *crRig {
	tb.Helper()
	g := &crRig{}
	if cfg.Token == "" {
		cfg.Token = token
	}
	if cfg.Start.IsZero() {
		cfg.Start, cfg.End = crDay0, crDay0.Add(24*time.Hour)
	}
	if cfg.RowsPerHour == 0 && cfg.RowsPerDay == 0 {
		cfg.RowsPerHour = 20
	}
	if cfg.Seed == 0 {
		cfg.Seed = 7
	}
	g.now.Store(cfg.End.Add(48 * time.Hour).UnixNano())
	cfg.Now = func() time.Time { return time.Unix(0, g.now.Load()).UTC() }
	sim, err := graphsim.New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	g.sim = sim
	g.ts = httptest.NewServer(sim)
	tb.Cleanup(g.ts.Close)
	return g
}

func (g *crRig) setNow(t time.Time) { g.now.Store(t.UnixNano()) }
func (g *crRig) clock() time.Time   { return time.Unix(0, g.now.Load()).UTC() }

// do GETs u with the test token and the given header pairs.
func (g *crRig) do(tb testing.TB, u string, hdr ...string) (int, http.Header, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := g.ts.Client().Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func listURL(base, filter string) string {
	u := base + "/v1.0/communications/callRecords"
	if filter != "" {
		u += "?$filter=" + url.QueryEscape(filter)
	}
	return u
}

func rangeFilter(from, to time.Time) string {
	return "startDateTime ge " + from.Format(time.RFC3339Nano) + " and startDateTime lt " + to.Format(time.RFC3339Nano)
}

type listPage struct {
	Value    []map[string]any `json:"value"`
	NextLink string           `json:"@odata.nextLink"`
}

// list follows a listing's nextLinks and returns every record and the
// number of pages.
func (g *crRig) list(tb testing.TB, filter string, maxPage int) (recs []map[string]any, pages int) {
	tb.Helper()
	u := listURL(g.ts.URL, filter)
	for u != "" {
		var hdr []string
		if maxPage > 0 {
			hdr = []string{"Prefer", "odata.maxpagesize=" + strconv.Itoa(maxPage)}
		}
		st, h, body := g.do(tb, u, hdr...)
		if st != http.StatusOK {
			tb.Fatalf("GET %s: %d %s", u, st, body)
		}
		if maxPage > 0 && h.Get("Preference-Applied") != "odata.maxpagesize="+strconv.Itoa(min(maxPage, graphsim.MaxRecordsPageSize)) {
			tb.Errorf("Preference-Applied = %q", h.Get("Preference-Applied"))
		}
		var p listPage
		if err := json.Unmarshal(body, &p); err != nil {
			tb.Fatalf("page: %v", err)
		}
		if lim := cmp(maxPage, graphsim.DefaultRecordsPageSize); len(p.Value) > lim {
			tb.Fatalf("page of %d records, over %d", len(p.Value), lim)
		}
		recs = append(recs, p.Value...)
		pages++
		u = p.NextLink
	}
	return recs, pages
}

func cmp(v, def int) int {
	if v > 0 {
		return min(v, graphsim.MaxRecordsPageSize)
	}
	return def
}

// getMerged GETs record id with $expand=sessions($expand=segments),
// follows every sessions@odata.nextLink and merges the pages as a client
// does. It returns the merged record and the number of requests.
func (g *crRig) getMerged(tb testing.TB, id string) (map[string]any, int) {
	tb.Helper()
	st, _, body := g.do(tb, g.ts.URL+"/v1.0/communications/callRecords/"+id+"?$expand=sessions($expand=segments)")
	if st != http.StatusOK {
		tb.Fatalf("get %s: %d %s", id, st, body)
	}
	var rec map[string]any
	if err := json.Unmarshal(body, &rec); err != nil {
		tb.Fatal(err)
	}
	sessions, _ := rec["sessions"].([]any)
	if len(sessions) > graphsim.SessionsPageSize {
		tb.Fatalf("%d sessions in the get, over %d", len(sessions), graphsim.SessionsPageSize)
	}
	reqs := 1
	next, _ := rec["sessions@odata.nextLink"].(string)
	delete(rec, "sessions@odata.nextLink")
	for next != "" {
		if !strings.HasPrefix(next, g.ts.URL+"/v1.0/communications/callRecords/"+id+"/sessions?$expand=segments&$skiptoken=") {
			tb.Fatalf("sessions nextLink %s", next)
		}
		st, _, body := g.do(tb, next)
		reqs++
		if st != http.StatusOK {
			tb.Fatalf("sessions page: %d %s", st, body)
		}
		var p struct {
			Context  string `json:"@odata.context"`
			Value    []any  `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			tb.Fatal(err)
		}
		if len(p.Value) == 0 || len(p.Value) > graphsim.SessionsPageSize {
			tb.Fatalf("sessions page of %d", len(p.Value))
		}
		if !strings.HasSuffix(p.Context, "/sessions(segments())") {
			tb.Errorf("sessions page context %q", p.Context)
		}
		sessions = append(sessions, p.Value...)
		next = p.NextLink
	}
	rec["sessions"] = sessions
	return rec, reqs
}

func decode(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("%v: %s", err, b)
	}
	return m
}

func ids(recs []map[string]any) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i], _ = r["id"].(string)
	}
	return out
}

func truthIDs(vs []graphsim.CallRecordVersion) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

// TestCallRecords_ListCoversRangeOnce: following the nextLinks of a
// listing returns every record of the half-open range once, in the
// truth's order, whatever the page size, and the listed records carry
// the record's own properties and no sessions.
func TestCallRecords_ListCoversRangeOnce(t *testing.T) {
	g := newCRRig(t, graphsim.Config{})
	from, to := crDay0.Add(2*time.Hour), crDay0.Add(9*time.Hour)
	truth := g.sim.CallRecordsAt(from, to, g.clock())
	if len(truth) < 200 {
		t.Fatalf("only %d records in the range", len(truth))
	}
	for _, size := range []int{0, 1, 7, 60, 5000} {
		t.Run(fmt.Sprint("maxpagesize=", size), func(t *testing.T) {
			if size == 1 {
				truth := truth[:40]
				recs, pages := g.list(t, rangeFilter(from, truth[39].StartDateTime.Add(100*time.Nanosecond)), 1)
				if !slices.Equal(ids(recs), truthIDs(truth)) || pages != 40 {
					t.Fatalf("%d pages, ids differ from the truth", pages)
				}
				return
			}
			recs, pages := g.list(t, rangeFilter(from, to), size)
			if !slices.Equal(ids(recs), truthIDs(truth)) {
				t.Fatalf("listed %d records, truth %d; ids differ", len(recs), len(truth))
			}
			if want := (len(truth) + cmp(size, graphsim.DefaultRecordsPageSize) - 1) / cmp(size, graphsim.DefaultRecordsPageSize); pages != want {
				t.Errorf("%d pages, want %d", pages, want)
			}
		})
	}
	recs, _ := g.list(t, rangeFilter(from, to), 1000)
	for k, r := range recs {
		full := decode(t, truth[k].JSON)
		for _, p := range []string{"sessions", "sessions@odata.context", "participants_v2"} {
			if _, ok := r[p]; ok {
				t.Fatalf("listed record carries %s", p)
			}
		}
		for p, v := range full {
			if p == "sessions" || p == "sessions@odata.context" || p == "@odata.context" {
				continue
			}
			if !reflect.DeepEqual(r[p], v) {
				t.Fatalf("listed %s = %v, the record has %v", p, r[p], v)
			}
		}
	}
}

// TestCallRecords_FilterBounds: ge/gt/le/lt select exactly the records
// the comparison names, on a record that starts exactly at the bound.
func TestCallRecords_FilterBounds(t *testing.T) {
	g := newCRRig(t, graphsim.Config{})
	all := g.sim.CallRecordsAt(crDay0, crDay0.Add(24*time.Hour), g.clock())
	a, b := all[10], all[20]
	lit := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.0000000Z07:00") }
	for _, tc := range []struct {
		filter string
		lo, hi int // all[lo:hi]
	}{
		{"startDateTime ge " + lit(a.StartDateTime) + " and startDateTime lt " + lit(b.StartDateTime), 10, 20},
		{"startDateTime gt " + lit(a.StartDateTime) + " and startDateTime le " + lit(b.StartDateTime), 11, 21},
		{"startDateTime ge " + lit(a.StartDateTime) + " and startDateTime le " + lit(b.StartDateTime), 10, 21},
		{"startDateTime   GE " + lit(a.StartDateTime) + " and StartDateTime lt " + lit(b.StartDateTime), 10, 20},
		{"startDateTime ge " + a.StartDateTime.In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05.9999999-07:00") + " and startDateTime lt " + lit(b.StartDateTime), 10, 20},
		{"startDateTime lt " + lit(b.StartDateTime) + " and startDateTime ge " + lit(a.StartDateTime) + " and startDateTime lt " + lit(all[15].StartDateTime), 10, 15},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			recs, _ := g.list(t, tc.filter, 1000)
			if got, want := ids(recs), truthIDs(all[tc.lo:tc.hi]); !slices.Equal(got, want) {
				t.Fatalf("got %d records, want all[%d:%d]", len(got), tc.lo, tc.hi)
			}
		})
	}
}

// TestCallRecords_BadRequests: a $filter the simulator (and Graph) cannot
// use, and other unusable queries, are answered 400 with Graph's error
// body.
func TestCallRecords_BadRequests(t *testing.T) {
	g := newCRRig(t, graphsim.Config{})
	rec := g.sim.CallRecordsAt(crDay0, crDay0.Add(time.Hour), g.clock())[0]
	for _, u := range []string{
		listURL(g.ts.URL, "startDateTime ge 2026-03-01"+"T00:00:00Z and"),
		listURL(g.ts.URL, "endDateTime ge 2026-03-01T00:00:00Z"),
		listURL(g.ts.URL, "startDateTime eq 2026-03-01T00:00:00Z"),
		listURL(g.ts.URL, "startDateTime ge '2026-03-01T00:00:00Z'"),
		listURL(g.ts.URL, "startDateTime ge 2026-03-01T00:00:00"),
		listURL(g.ts.URL, "startDateTime ge 2026-03-01T00:00:00Z or startDateTime lt 2026-03-02T00:00:00Z"),
		listURL(g.ts.URL, "startDateTime ge 2026-03-01T00:00:00Z") + "&$skiptoken=garbage",
		listURL(g.ts.URL, "startDateTime ge 2026-03-01T00:00:00Z") + "&$top=5",
		g.ts.URL + "/v1.0/communications/callRecords/" + rec.ID + "?$expand=participants",
		g.ts.URL + "/v1.0/communications/callRecords/" + rec.ID + "/sessions?$skiptoken=czkuMA",
	} {
		st, h, body := g.do(t, u)
		if st != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", u, st)
			continue
		}
		var e struct {
			Error struct {
				Code, Message string
				InnerError    map[string]any
			}
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != graphsim.CodeBadRequest || e.Error.Message == "" || e.Error.InnerError["request-id"] == nil {
			t.Errorf("%s: body %s", u, body)
		}
		if h.Get("Content-Type") != graphsim.ErrorContentType {
			t.Errorf("%s: Content-Type %q", u, h.Get("Content-Type"))
		}
	}
}

// TestCallRecords_GetMatchesTruth: every record read with $expand (all its
// sessions pages followed and merged) equals CallRecordsAt's JSON; a get
// without $expand has no sessions and the same properties.
func TestCallRecords_GetMatchesTruth(t *testing.T) {
	g := newCRRig(t, graphsim.Config{})
	truth := g.sim.CallRecordsAt(crDay0, crDay0.Add(3*time.Hour), g.clock())
	for _, v := range truth {
		got, _ := g.getMerged(t, v.ID)
		if want := decode(t, v.JSON); !reflect.DeepEqual(got, want) {
			t.Fatalf("record %s differs from the truth", v.ID)
		}
		st, _, body := g.do(t, g.ts.URL+"/v1.0/communications/callRecords/"+strings.ToUpper(v.ID))
		if st != http.StatusOK {
			t.Fatalf("plain get: %d %s", st, body)
		}
		plain := decode(t, body)
		if _, ok := plain["sessions"]; ok {
			t.Fatal("a get without $expand carries sessions")
		}
		if plain["@odata.context"] != "https://graph.microsoft.com/v1.0/$metadata#communications/callRecords/$entity" {
			t.Errorf("context %v", plain["@odata.context"])
		}
		if plain["version"] != float64(v.Version) || plain["id"] != v.ID {
			t.Fatalf("plain get: version %v id %v", plain["version"], plain["id"])
		}
	}
	st, _, body := g.do(t, g.ts.URL+"/v1.0/communications/callRecords/00000000-0000-4000-8000-000000000000")
	if st != http.StatusNotFound || !bytes.Contains(body, []byte(`"code":"NotFound"`)) {
		t.Errorf("unknown id: %d %s", st, body)
	}
}

// TestCallRecords_SessionsPaging: a record with more than 60 sessions
// answers its get with 60 and a sessions@odata.nextLink; every page
// followed equals the truth.
func TestCallRecords_SessionsPaging(t *testing.T) {
	g := newCRRig(t, graphsim.Config{})
	var big []graphsim.CallRecordVersion
	for _, v := range g.sim.CallRecordsAt(crDay0, crDay0.Add(24*time.Hour), g.clock()) {
		if v.Sessions > graphsim.SessionsPageSize {
			big = append(big, v)
		}
	}
	if len(big) < 3 {
		t.Fatalf("only %d records over 60 sessions in a day", len(big))
	}
	pagesSeen := map[int]bool{}
	for _, v := range big {
		got, reqs := g.getMerged(t, v.ID)
		if want := (v.Sessions + 59) / 60; reqs != want {
			t.Errorf("%d sessions in %d requests, want %d", v.Sessions, reqs, want)
		}
		pagesSeen[reqs] = true
		if !reflect.DeepEqual(got, decode(t, v.JSON)) {
			t.Fatalf("record %s (%d sessions) differs from the truth", v.ID, v.Sessions)
		}
		if n := len(got["sessions"].([]any)); n != v.Sessions {
			t.Fatalf("%d sessions merged, truth says %d", n, v.Sessions)
		}
	}
	if !pagesSeen[2] || !pagesSeen[3] {
		t.Errorf("records needing 2 and 3 pages: %v", pagesSeen)
	}
}

// TestCallRecords_LateAndVersions: a record is neither listed nor gettable
// before its first version's VisibleAt (15–60 min after the call ends),
// and each later version replaces the previous one at its own VisibleAt
// with a higher version, a later lastModifiedDateTime and other content.
func TestCallRecords_LateAndVersions(t *testing.T) {
	g := newCRRig(t, graphsim.Config{})
	var multi []graphsim.CallRecordVersion
	counts := map[int]int{}
	for _, v := range g.sim.CallRecordsAt(crDay0, crDay0.Add(24*time.Hour), g.clock()) {
		vs := g.sim.CallRecordVersions(v.ID)
		counts[len(vs)]++
		if len(vs) != int(v.Version) {
			t.Fatalf("%s: served version %d of %d", v.ID, v.Version, len(vs))
		}
		d := vs[0].VisibleAt.Sub(v.EndDateTime)
		if d < 15*time.Minute || d > time.Hour {
			t.Fatalf("%s visible %v after its end", v.ID, d)
		}
		if len(vs) > 1 && len(multi) < 12 {
			multi = append(multi, vs...)
		}
	}
	if counts[2] == 0 || counts[3] == 0 || counts[1] < counts[2] {
		t.Fatalf("versions per record: %v", counts)
	}
	filter := func(v graphsim.CallRecordVersion) string {
		return rangeFilter(v.StartDateTime, v.StartDateTime.Add(100*time.Nanosecond))
	}
	for _, v := range multi {
		vs := g.sim.CallRecordVersions(v.ID)
		if v.Version == 1 {
			g.setNow(v.VisibleAt.Add(-time.Nanosecond))
			if st, _, _ := g.do(t, g.ts.URL+"/v1.0/communications/callRecords/"+v.ID); st != http.StatusNotFound {
				t.Fatalf("%s gettable before it appears: %d", v.ID, st)
			}
			if recs, _ := g.list(t, filter(v), 0); len(recs) != 0 {
				t.Fatalf("%s listed before it appears", v.ID)
			}
		}
		g.setNow(v.VisibleAt)
		got, _ := g.getMerged(t, v.ID)
		if !reflect.DeepEqual(got, decode(t, v.JSON)) {
			t.Fatalf("%s version %d at its VisibleAt differs from the truth", v.ID, v.Version)
		}
		if recs, _ := g.list(t, filter(v), 0); len(recs) != 1 || recs[0]["version"] != float64(v.Version) {
			t.Fatalf("%s listed at version %d: %v", v.ID, v.Version, recs)
		}
		if !v.LastModifiedDateTime.Before(v.VisibleAt) || !v.LastModifiedDateTime.After(v.EndDateTime) {
			t.Errorf("lastModifiedDateTime %v, end %v, visible %v", v.LastModifiedDateTime, v.EndDateTime, v.VisibleAt)
		}
		if v.Version > 1 {
			prev := vs[v.Version-2]
			if !v.LastModifiedDateTime.After(prev.LastModifiedDateTime) || bytes.Equal(v.JSON, prev.JSON) {
				t.Errorf("%s version %d: lastModified not later or content unchanged", v.ID, v.Version)
			}
			g.setNow(v.VisibleAt.Add(-time.Nanosecond))
			if recs, _ := g.list(t, filter(v), 0); len(recs) != 1 || recs[0]["version"] != float64(v.Version-1) {
				t.Fatalf("%s just before version %d: %v", v.ID, v.Version, recs)
			}
		}
	}
}

// TestCallRecords_Horizon: a record whose start is more than 30 days
// before the request's instant is neither listed nor gettable (404
// NotFound); at exactly 30 days it still is.
func TestCallRecords_Horizon(t *testing.T) {
	g := newCRRig(t, graphsim.Config{})
	v := g.sim.CallRecordsAt(crDay0, crDay0.Add(24*time.Hour), g.clock())[100]
	f := rangeFilter(v.StartDateTime, v.StartDateTime.Add(100*time.Nanosecond))
	u := g.ts.URL + "/v1.0/communications/callRecords/" + v.ID
	g.setNow(v.StartDateTime.Add(graphsim.CallRecordRetention))
	if recs, _ := g.list(t, f, 0); len(recs) != 1 {
		t.Fatalf("at 30 days: %d listed", len(recs))
	}
	if st, _, _ := g.do(t, u); st != http.StatusOK {
		t.Fatalf("at 30 days: get %d", st)
	}
	g.setNow(v.StartDateTime.Add(graphsim.CallRecordRetention + time.Nanosecond))
	if recs, _ := g.list(t, f, 0); len(recs) != 0 {
		t.Fatalf("past 30 days: %d listed", len(recs))
	}
	st, _, body := g.do(t, u)
	if st != http.StatusNotFound || !bytes.Contains(body, []byte(`"code":"NotFound"`)) {
		t.Fatalf("past 30 days: %d %s", st, body)
	}
	if got := g.sim.CallRecordsAt(crDay0, crDay0.Add(24*time.Hour), g.clock()); slices.Contains(truthIDs(got), v.ID) {
		t.Error("CallRecordsAt lists a record past the horizon")
	}
}

// TestCallRecords_Determinism: the same seed gives the same bytes, another
// seed other records.
func TestCallRecords_Determinism(t *testing.T) {
	a, b := newCRRig(t, graphsim.Config{}), newCRRig(t, graphsim.Config{})
	c := newCRRig(t, graphsim.Config{Seed: 8})
	from, to := crDay0, crDay0.Add(6*time.Hour)
	ta, tb := a.sim.CallRecordsAt(from, to, a.clock()), b.sim.CallRecordsAt(from, to, b.clock())
	if !reflect.DeepEqual(ta, tb) {
		t.Fatal("same seed, different records")
	}
	_, _, pa := a.do(t, listURL(a.ts.URL, rangeFilter(from, to)))
	_, _, pb := b.do(t, listURL(b.ts.URL, rangeFilter(from, to)))
	if !bytes.Equal(bytes.ReplaceAll(pa, []byte(a.ts.URL), nil), bytes.ReplaceAll(pb, []byte(b.ts.URL), nil)) {
		t.Fatal("same seed, different list pages")
	}
	if tc := c.sim.CallRecordsAt(from, to, c.clock()); len(tc) > 0 && slices.Contains(truthIDs(ta), tc[0].ID) {
		t.Fatal("another seed, same ids")
	}
}

// TestCallRecords_DirectRoutingCalls: every Direct Routing call (one per
// distinct correlationId) has a record whose id is that correlationId,
// starting with its first row and ending with its last leg, with a
// gateway on the PSTN side; the Teams-only records are at least as many
// as the Direct Routing rows' slots make them.
func TestCallRecords_DirectRoutingCalls(t *testing.T) {
	g := newCRRig(t, graphsim.Config{})
	from, to := crDay0, crDay0.Add(24*time.Hour)
	recs := g.sim.CallRecordsAt(from, to, g.clock())
	byID := map[string]graphsim.CallRecordVersion{}
	teams := 0
	for _, v := range recs {
		if v.DirectRoutingRow < 0 {
			teams++
		}
	}
	// A leg at the window's start belongs to a call that began before it.
	for _, v := range g.sim.CallRecordsAt(from.Add(-time.Hour), to, g.clock()) {
		byID[v.ID] = v
	}
	calls := map[string]bool{}
	for _, row := range g.sim.Rows(from, to) {
		v, ok := byID[row.CorrelationID]
		if !ok {
			t.Fatalf("row %d: no call record with id %s", row.Index, row.CorrelationID)
		}
		if v.DirectRoutingRow == row.Index {
			calls[row.CorrelationID] = true
		}
		var js struct {
			EndDateTime     *time.Time
			FailureDateTime time.Time
			SuccessfulCall  bool
		}
		if err := json.Unmarshal(row.JSON, &js); err != nil {
			t.Fatal(err)
		}
		end := js.FailureDateTime
		if js.SuccessfulCall {
			end = *js.EndDateTime
		}
		if v.DirectRoutingRow == row.Index {
			if !v.StartDateTime.Equal(row.Start) {
				t.Fatalf("record start %v, row start %v", v.StartDateTime, row.Start)
			}
		} else if v.DirectRoutingRow != row.Index-1 {
			t.Fatalf("row %d in the record of row %d", row.Index, v.DirectRoutingRow)
		}
		if end.After(v.EndDateTime) || (v.DirectRoutingRow == row.Index && v.EndDateTime.Before(end)) {
			t.Fatalf("row %d ends %v, its record %v", row.Index, end, v.EndDateTime)
		}
		if !bytes.Contains(v.JSON, []byte(`"role":"skypeForBusinessMicrosoftTeamsGateway"`)) || !bytes.Contains(v.JSON, []byte(`"modalities":["audio"]`)) {
			t.Fatalf("record of row %d has no gateway endpoint or not audio only", row.Index)
		}
	}
	if len(calls) != len(recs)-teams {
		t.Fatalf("%d Direct Routing calls, %d Direct Routing records", len(calls), len(recs)-teams)
	}
	if teams < len(calls) {
		t.Errorf("%d Teams-only records for %d calls", teams, len(calls))
	}
	if n := g.sim.CallRecordsCount(from, to); n != len(recs) {
		t.Errorf("CallRecordsCount %d, CallRecordsAt %d", n, len(recs))
	}
}

// TestCallRecords_Density: TeamsRecordsPerDay sets the Teams-only
// records' density (a tenant of 5,000 records a day), a negative value
// leaves only the Direct Routing calls' records.
func TestCallRecords_Density(t *testing.T) {
	day := 24 * time.Hour
	g := newCRRig(t, graphsim.Config{RowsPerDay: 2600, TeamsRecordsPerDay: 2650})
	if n := g.sim.CallRecordsCount(crDay0, crDay0.Add(day)); n < 4800 || n > 5200 {
		t.Errorf("%d records a day, want about 5,000", n)
	}
	none := newCRRig(t, graphsim.Config{TeamsRecordsPerDay: -1})
	for _, v := range none.sim.CallRecordsAt(crDay0, crDay0.Add(day), none.clock()) {
		if v.DirectRoutingRow < 0 {
			t.Fatal("a Teams-only record with TeamsRecordsPerDay -1")
		}
	}
}

// TestCallRecords_Content: the records carry what a client and a schema
// must handle: both endpoint kinds and user agents, guests and phones,
// durations with 7 fractional digits and over a minute, feedback, failure
// information, video and screen sharing, nulls, unicode names and
// properties the v1.0 schema does not define at several levels.
func TestCallRecords_Content(t *testing.T) {
	g := newCRRig(t, graphsim.Config{})
	var all bytes.Buffer
	for _, v := range g.sim.CallRecordsAt(crDay0, crDay0.Add(24*time.Hour), g.clock()) {
		all.Write(v.JSON)
	}
	for _, want := range []string{
		`"@odata.type":"#microsoft.graph.callRecords.participantEndpoint"`,
		`"@odata.type":"#microsoft.graph.callRecords.serviceEndpoint"`,
		`"@odata.type":"#microsoft.graph.callRecords.clientUserAgent"`,
		`"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent"`,
		`"guest":{"id":`, `"phone":{"id":`, `"type":"groupCall"`, `"type":"peerToPeer"`,
		`"joinWebUrl":"https://teams.microsoft.com/l/meetup-join/`,
		`"feedback":{"rating":`, `"failureInfo":{"stage":"callSetup"`, `"failureInfo":{"stage":"midcall"`,
		`"label":"main-video"`, `"label":"applicationsharing-video"`, `"screenSharing"`,
		`"wasMediaBypassed":true`, `"wasMediaBypassed":false`, `"averageAudioDegradation":null`,
		`"maxRoundTripTime":"PT1M`, `"averageJitter":"PT0.0`, `"packetUtilization":`,
		`"tenantRegion":`, `"joinMethod":`, `"averageJitterBufferSize":`, `"vpnDetected":true`,
		"Søndergaard", "访客",
	} {
		if !bytes.Contains(all.Bytes(), []byte(want)) {
			t.Errorf("no %s in a day of records", want)
		}
	}
	// Some durations carry 7 fractional digits.
	if !containsMatch(all.String(), `"averageJitter":"PT0.`, 7) {
		t.Error("no averageJitter with 7 fractional digits")
	}
}

// containsMatch reports whether s has prefix followed by exactly n digits
// and an S.
func containsMatch(s, prefix string, n int) bool {
	for rest := s; ; {
		i := strings.Index(rest, prefix)
		if i < 0 {
			return false
		}
		rest = rest[i+len(prefix):]
		k := 0
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		if k == n && k < len(rest) && rest[k] == 'S' {
			return true
		}
	}
}

// TestCallRecords_Faults: the simulator's faults apply to the call records
// too.
func TestCallRecords_Faults(t *testing.T) {
	g := newCRRig(t, graphsim.Config{Faults: []graphsim.Fault{{Every: 2, Offset: 1, Status: http.StatusServiceUnavailable, RetryAfter: "3", Limit: 2}}})
	rec := g.sim.CallRecordsAt(crDay0, crDay0.Add(time.Hour), g.clock())[0]
	for _, u := range []string{listURL(g.ts.URL, ""), g.ts.URL + "/v1.0/communications/callRecords/" + rec.ID} {
		st, h, _ := g.do(t, u)
		if st != http.StatusServiceUnavailable || h.Get("Retry-After") != "3" {
			t.Fatalf("%s: %d, Retry-After %q", u, st, h.Get("Retry-After"))
		}
		if st, _, body := g.do(t, u); st != http.StatusOK {
			t.Fatalf("%s: %d %s", u, st, body)
		}
	}
}

// BenchmarkCallRecordGet100Sessions is one get, with $expand, of a record
// of about 100 sessions (its first page of 60).
func BenchmarkCallRecordGet100Sessions(b *testing.B) {
	g := newCRRig(b, graphsim.Config{})
	var id string
	for _, v := range g.sim.CallRecordsAt(crDay0, crDay0.Add(24*time.Hour), g.clock()) {
		if v.Sessions >= 90 && v.Sessions <= 110 {
			id = v.ID
			break
		}
	}
	if id == "" {
		b.Skip("no record of about 100 sessions")
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "https://"+simHost+"/v1.0/communications/callRecords/"+id+"?$expand=sessions($expand=segments)", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	b.ReportAllocs()
	for b.Loop() {
		rec.Body.Reset()
		g.sim.ServeHTTP(rec, req)
	}
	b.SetBytes(int64(rec.Body.Len()))
}

// recordsCall GETs path (below /v1.0/) on a netSim simulator.
func recordsCall(t *testing.T, c *http.Client, path string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+simHost+"/v1.0/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), body
}

// TestLimits_CallRecords: the call-records family's documented limits —
// 40 list requests, 40 per record and 1,500 per app, each per 20 s — are
// enforced with 429 and Retry-After on their own counters: hitting one
// leaves the other scopes and the PSTN family's functions alone, and the
// window slides.
func TestLimits_CallRecords(t *testing.T) {
	const list = "communications/callRecords?$filter=startDateTime%20ge%201999-12-30T00:00:00Z"
	for _, tc := range []struct {
		name  string
		limit int
		// path of request k of the burst, given records' ids
		path func(ids []string, k int) string
		// a request of another scope, still accepted after the burst
		other func(ids []string) string
	}{
		{"list", 40,
			func([]string, int) string { return list },
			func(ids []string) string { return "communications/callRecords/" + ids[0] }},
		{"record", 40,
			func(ids []string, k int) string {
				if k%2 == 0 {
					return "communications/callRecords/" + ids[0]
				}
				return "communications/callRecords/" + strings.ToUpper(ids[0]) + "/sessions?$expand=segments"
			},
			func(ids []string) string { return "communications/callRecords/" + ids[1] }},
		{"app", 1500,
			func(ids []string, k int) string { return "communications/callRecords/" + ids[k%len(ids)] },
			func([]string) string {
				return "communications/callRecords/getDirectRoutingCalls(fromDateTime=1999-12-30,toDateTime=1999-12-31)"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				day := time.Date(1999, 12, 30, 0, 0, 0, 0, time.UTC)
				sim, c := netSim(t, graphsim.Config{Start: day, End: day.Add(24 * time.Hour), RowsPerHour: 20, Limits: graphsim.DocumentedLimits, Now: time.Now})
				var ids []string
				for _, v := range sim.CallRecordsAt(day, day.Add(24*time.Hour), time.Now()) {
					ids = append(ids, v.ID)
				}
				ids = ids[:min(len(ids), 60)] // 1,500 requests spread: 25 per record
				for k := range tc.limit {
					if st, _, body := recordsCall(t, c, tc.path(ids, k)); st != http.StatusOK {
						t.Fatalf("request %d: %d %s", k+1, st, body)
					}
					if k%100 == 99 {
						time.Sleep(100 * time.Millisecond)
					}
				}
				st, ra, body := recordsCall(t, c, tc.path(ids, tc.limit))
				if st != http.StatusTooManyRequests || ra == "" {
					t.Fatalf("request %d: %d Retry-After %q", tc.limit+1, st, ra)
				}
				if e := decodeErr(t, body); e.Error.Code != graphsim.CodeTooManyRequests || e.Error.InnerError.Code != "activityLimitReached" {
					t.Fatalf("error body %s", body)
				}
				if st, _, body := recordsCall(t, c, tc.other(ids)); st != http.StatusOK {
					t.Fatalf("another scope: %d %s", st, body)
				}
				secs, _ := strconv.Atoi(ra)
				if secs < 1 || secs > 20 {
					t.Fatalf("Retry-After %q", ra)
				}
				time.Sleep(time.Duration(secs) * time.Second)
				if st, _, body := recordsCall(t, c, tc.path(ids, tc.limit+1)); st != http.StatusOK {
					t.Fatalf("after Retry-After: %d %s", st, body)
				}
			})
		})
	}
}

// TestLimits_CallRecordsApart: exhausting the PSTN family's limits leaves
// the call records readable, and the call-records limits are enforced
// only when set.
func TestLimits_CallRecordsApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		day := time.Date(1999, 12, 30, 0, 0, 0, 0, time.UTC)
		l := graphsim.DocumentedLimits
		l.RecordsList, l.RecordsPerRecord, l.RecordsPerApp, l.RecordsPerTenant = 0, 0, 0, 0
		_, c := netSim(t, graphsim.Config{Start: day, End: day.Add(24 * time.Hour), RowsPerHour: 20, Limits: l, Now: time.Now})
		for range 50 {
			call(t, c, dr, token)
		}
		if st, _, _, _ := call(t, c, dr, token); st != http.StatusTooManyRequests {
			t.Fatalf("51st function call: %d", st)
		}
		for k := range 100 {
			if st, _, body := recordsCall(t, c, "communications/callRecords"); st != http.StatusOK {
				t.Fatalf("list %d: %d %s", k+1, st, body)
			}
		}
	})
}

// TestLimits_ScaledCallRecords: Scaled multiplies the call-records
// family's counts too, over the same 20-second window.
func TestLimits_ScaledCallRecords(t *testing.T) {
	l := graphsim.DocumentedLimits.Scaled(3)
	if l.RecordsList != 120 || l.RecordsPerRecord != 120 || l.RecordsPerApp != 4500 || l.RecordsPerTenant != 30000 || l.RecordsWindow != 20*time.Second {
		t.Fatalf("Scaled(3) = %+v", l)
	}
}

// TestCallRecords_ForeignNextLink: Config.ForeignNextLink points the
// list's and the sessions' nextLinks at another host too.
func TestCallRecords_ForeignNextLink(t *testing.T) {
	g := newCRRig(t, graphsim.Config{ForeignNextLink: "https://evil.example"})
	var big string
	for _, v := range g.sim.CallRecordsAt(crDay0, crDay0.Add(24*time.Hour), g.clock()) {
		if v.Sessions > graphsim.SessionsPageSize {
			big = v.ID
			break
		}
	}
	_, _, body := g.do(t, listURL(g.ts.URL, rangeFilter(crDay0, crDay0.Add(24*time.Hour))), "Prefer", "odata.maxpagesize=2")
	var p listPage
	if err := json.Unmarshal(body, &p); err != nil || !strings.HasPrefix(p.NextLink, "https://evil.example/v1.0/communications/callRecords?") {
		t.Fatalf("list nextLink %q (%v)", p.NextLink, err)
	}
	_, _, body = g.do(t, g.ts.URL+"/v1.0/communications/callRecords/"+big+"?$expand=sessions($expand=segments)")
	if link := decode(t, body)["sessions@odata.nextLink"]; !strings.HasPrefix(fmt.Sprint(link), "https://evil.example/v1.0/communications/callRecords/"+big+"/sessions?") {
		t.Fatalf("sessions nextLink %v", link)
	}
}

// TestCallRecords_Truncate: a Truncate fault cuts a record's body short,
// and the client sees an unexpected EOF.
func TestCallRecords_Truncate(t *testing.T) {
	g := newCRRig(t, graphsim.Config{Faults: []graphsim.Fault{{Every: 1, Truncate: true, Limit: 1}}})
	rec := g.sim.CallRecordsAt(crDay0, crDay0.Add(time.Hour), g.clock())[0]
	req, err := http.NewRequest(http.MethodGet, g.ts.URL+"/v1.0/communications/callRecords/"+rec.ID+"?$expand=sessions($expand=segments)", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := g.ts.Client().Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a truncated record read without error")
	}
	if st, _, _ := g.do(t, req.URL.String()); st != http.StatusOK {
		t.Fatalf("after the fault: %d", st)
	}
}
