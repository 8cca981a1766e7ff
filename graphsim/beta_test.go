package graphsim_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
)

// tickTime prints t as Graph's finest DateTimeOffset, 7 fractional digits.
func tickTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func betaCall(base, version string, fn graphsim.Function, from, to time.Time) string {
	return base + "/" + version + "/communications/callRecords/" + string(fn) + "(" + fromTo(tickTime(from), tickTime(to)) + ")"
}

// betaLog describes one of the beta log data sets for the shared tests.
type betaLog struct {
	fn     graphsim.Function
	source string
	rows   func(s *graphsim.Server, from, to time.Time) []graphsim.Row
	count  func(s *graphsim.Server, from, to time.Time) int
	typ    string
}

var betaLogs = []betaLog{
	{graphsim.SmsLog, "sms", (*graphsim.Server).SmsRows, (*graphsim.Server).SmsCount, "smsLogRow"},
	{graphsim.PstnBlockedUsersLog, "pstn-blocked-users", (*graphsim.Server).BlockedUsersRows, (*graphsim.Server).BlockedUsersCount, "pstnBlockedUsersLogRow"},
}

// TestBetaLogs_PagingAndEnds pages through each beta log, wants exactly the
// ground truth, and pins the inclusive toDateTime on a row sitting exactly
// on the boundary (and its exclusion one tick earlier).
func TestBetaLogs_PagingAndEnds(t *testing.T) {
	// 96,000 call rows an hour: 12,000 SMS an hour, 9,600 blocks a day.
	sim, ts := start(t, graphsim.Config{RowsPerHour: 96_000, End: day0.Add(6 * time.Hour)})
	for _, bl := range betaLogs {
		t.Run(string(bl.fn), func(t *testing.T) {
			from, to := day0.Add(time.Hour), day0.Add(5*time.Hour)
			truth := bl.rows(sim, from, to)
			if len(truth) < 1500 || bl.count(sim, from, to) != len(truth) {
				t.Fatalf("%d rows in [%v, %v), count %d: want more than a page", len(truth), from, to, bl.count(sim, from, to))
			}
			// Move to onto a row: it must be served, and not one tick earlier.
			last := truth[len(truth)-1]
			pages := fetchAll(t, betaCall(ts.URL, "beta", bl.fn, from, last.Start))
			if len(pages) < 2 || !strings.Contains(pages[0].NextLink, "/"+string(bl.fn)+"(") || !strings.HasSuffix(pages[0].NextLink, "?$skip=1000") {
				t.Fatalf("%d pages, first nextLink %q", len(pages), pages[0].NextLink)
			}
			if !strings.HasSuffix(pages[0].Context, "#Collection(microsoft.graph.callRecords."+bl.typ+")") {
				t.Errorf("@odata.context %q", pages[0].Context)
			}
			wantJSON(t, allRows(pages), truth, true)
			pages = fetchAll(t, betaCall(ts.URL, "beta", bl.fn, from, last.Start.Add(-100*time.Nanosecond)))
			wantJSON(t, allRows(pages), truth[:len(truth)-1], true)
			if !bl.fn.InclusiveEnd() {
				t.Error("InclusiveEnd disagrees with the served behaviour")
			}
		})
	}
}

// TestBetaFunctions_RangeAndVersion: the three functions exist only on
// beta and refuse a range over 90 days.
func TestBetaFunctions_RangeAndVersion(t *testing.T) {
	_, ts := start(t, graphsim.Config{RowsPerHour: 60})
	for _, fn := range []graphsim.Function{graphsim.SmsLog, graphsim.PstnBlockedUsersLog, graphsim.PstnOnlineMeetingDialout} {
		for _, tc := range []struct {
			version string
			to      time.Time
			status  int
		}{
			{"beta", day0.Add(graphsim.MaxBetaRange), 200},
			{"beta", day0.Add(graphsim.MaxBetaRange + 100*time.Nanosecond), 406},
			{"v1.0", day0.Add(time.Hour), 404},
		} {
			resp, body := get(t, betaCall(ts.URL, tc.version, fn, day0, tc.to))
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s to %v: status %d, want %d: %s", fn, tc.version, tc.to, resp.StatusCode, tc.status, body)
			}
		}
	}
}

// TestBetaLogs_Deterministic: the same seed gives the same bytes, another
// seed other ids.
func TestBetaLogs_Deterministic(t *testing.T) {
	mk := func(seed int64) *graphsim.Server {
		s, err := graphsim.New(graphsim.Config{Seed: seed, Token: token, Start: day0, End: day0.Add(24 * time.Hour), RowsPerHour: 600})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, c := mk(7), mk(7), mk(8)
	for _, bl := range betaLogs {
		ra, rb, rc := bl.rows(a, day0, day0.Add(24*time.Hour)), bl.rows(b, day0, day0.Add(24*time.Hour)), bl.rows(c, day0, day0.Add(24*time.Hour))
		if len(ra) == 0 || len(ra) != len(rb) {
			t.Fatalf("%s: %d and %d rows", bl.fn, len(ra), len(rb))
		}
		for k := range ra {
			if !bytes.Equal(ra[k].JSON, rb[k].JSON) {
				t.Fatalf("%s row %d differs between two servers of one seed", bl.fn, k)
			}
		}
		if len(rc) > 0 && rc[0].ID == ra[0].ID {
			t.Errorf("%s: another seed gives the same first id", bl.fn)
		}
	}
	ra, rb := a.DialoutReport(day0, day0.Add(24*time.Hour), farFuture()), b.DialoutReport(day0, day0.Add(24*time.Hour), farFuture())
	if len(ra) == 0 || len(ra) != len(rb) || !bytes.Equal(ra[0].JSON, rb[0].JSON) {
		t.Errorf("dial-out report differs between two servers of one seed")
	}
}

// TestBetaRowsMatchSchemas runs every simulated beta row through the
// codec the walker uses: each encodes, with the ground truth's id and the
// registry's key, and the id is unique.
func TestBetaRowsMatchSchemas(t *testing.T) {
	sim, _ := start(t, graphsim.Config{RowsPerHour: 6000, End: day0.Add(24 * time.Hour)})
	for _, bl := range betaLogs {
		codec, err := schemas.For(bl.source, schemas.VersionBeta)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		var noUser int
		for _, r := range bl.rows(sim, day0, day0.Add(24*time.Hour)) {
			id, key, _, err := codec.Encode(r.BetaJSON, nil)
			if err != nil {
				t.Fatalf("%s row %d: %v\n%s", bl.fn, r.Index, err, r.BetaJSON)
			}
			if id != r.ID || seen[id] {
				t.Fatalf("%s row %d: id %q, truth %q, seen before %v", bl.fn, r.Index, id, r.ID, seen[id])
			}
			seen[id] = true
			var m struct{ UserID *string }
			if err := json.Unmarshal(r.BetaJSON, &m); err != nil {
				t.Fatal(err)
			}
			switch {
			case m.UserID == nil && key != id:
				t.Errorf("%s row %d: no userId, key %q, want the id", bl.fn, r.Index, key)
			case m.UserID != nil && key != *m.UserID:
				t.Errorf("%s row %d: key %q, want userId %q", bl.fn, r.Index, key, *m.UserID)
			}
			if m.UserID == nil {
				noUser++
			}
		}
		if bl.fn == graphsim.SmsLog && noUser == 0 {
			t.Error("no SMS row without a user: the null-safe key is untested")
		}
	}
	codec, err := schemas.For("pstn-dialout", schemas.VersionBeta)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, r := range sim.DialoutReport(day0, day0.Add(24*time.Hour), farFuture()) {
		id, key, _, err := codec.Encode(r.JSON, nil)
		if err != nil || id != "" {
			t.Fatalf("dial-out row: id %q, %v\n%s", id, err, r.JSON)
		}
		if keys[key] {
			t.Fatalf("dial-out key %s twice in one day", key)
		}
		keys[key] = true
	}
	if len(keys) < 50 {
		t.Errorf("only %d dial-out rows in a day", len(keys))
	}
}

// TestDialout_AggregatesAndLateCalls: the report served for one UTC day
// (toDateTime just below the next midnight) is the ground truth's, its
// totals add up to the visible calls, and re-reading the day after a late
// call has appeared changes that row's figures and only that row's.
func TestDialout_AggregatesAndLateCalls(t *testing.T) {
	var now atomic.Int64
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	sim, ts := start(t, graphsim.Config{RowsPerHour: 240, End: day0.Add(48 * time.Hour),
		LateFraction: 0.05, LateDelay: 30 * time.Hour, Now: clock})
	dayEnd := day0.Add(24 * time.Hour)
	url := betaCall(ts.URL, "beta", graphsim.PstnOnlineMeetingDialout, day0, dayEnd.Add(-100*time.Nanosecond))

	read := func(at time.Time) map[string]string {
		t.Helper()
		now.Store(at.UnixNano())
		truth := sim.DialoutReport(day0, dayEnd, at)
		got := allRows(fetchAll(t, url))
		if len(got) != len(truth) {
			t.Fatalf("at %v: served %d rows, truth %d", at, len(got), len(truth))
		}
		var calls int64
		out := map[string]string{}
		for k, r := range truth {
			if !bytes.Equal(got[k], r.JSON) {
				t.Fatalf("at %v row %d:\n got %s\nwant %s", at, k, got[k], r.JSON)
			}
			calls += r.TotalCalls
			out[r.UserID+"|"+r.UsageLocation+"|"+r.DestinationContext+"|"+r.Currency] = string(r.JSON)
		}
		starts, visible := sim.DialoutCallTimes(day0, dayEnd)
		var want int64
		for k := range starts {
			if !visible[k].After(at) {
				want++
			}
		}
		if calls != want {
			t.Fatalf("at %v: totalCalls add up to %d, %d calls visible", at, calls, want)
		}
		return out
	}
	early := read(dayEnd.Add(time.Hour)) // before the late calls (30 h)
	late := read(day0.Add(60 * time.Hour))
	changed := 0
	for k, v := range late {
		if early[k] != v {
			changed++
		}
	}
	if changed == 0 || changed == len(late) {
		t.Errorf("%d of %d rows changed after the late calls: want some, not all", changed, len(late))
	}
	if again := read(day0.Add(60 * time.Hour)); len(again) != len(late) {
		t.Error("a re-read without new calls changed the report")
	} else {
		for k, v := range again {
			if late[k] != v {
				t.Errorf("unchanged day, row %s changed", k)
			}
		}
	}
	// The boundary: a call starting exactly at toDateTime is counted.
	starts, _ := sim.DialoutCallTimes(day0, dayEnd)
	at := starts[len(starts)-1]
	now.Store(farFuture().UnixNano())
	with := allRows(fetchAll(t, betaCall(ts.URL, "beta", graphsim.PstnOnlineMeetingDialout, day0, at)))
	without := allRows(fetchAll(t, betaCall(ts.URL, "beta", graphsim.PstnOnlineMeetingDialout, day0, at.Add(-100*time.Nanosecond))))
	if total(t, with) != total(t, without)+1 {
		t.Errorf("a call at exactly toDateTime: %d calls with it, %d without", total(t, with), total(t, without))
	}
}

func total(t *testing.T, rows []json.RawMessage) int {
	n := 0
	for _, r := range rows {
		var m struct{ TotalCalls int }
		if err := json.Unmarshal(r, &m); err != nil {
			t.Fatal(err)
		}
		n += m.TotalCalls
	}
	return n
}
