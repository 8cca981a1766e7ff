package fetch

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
)

func TestQueryEnd(t *testing.T) {
	at := time.Date(2019, 11, 1, 0, 2, 0, 0, time.UTC)
	for _, tc := range []struct {
		fn   Function
		to   time.Time
		want string
	}{
		{DirectRoutingCalls, at, "2019-11-01T00:02:00Z"},
		{DirectRoutingCalls, at.Add(1), "2019-11-01T00:02:00.0000001Z"},
		{DirectRoutingCalls, at.Add(Tick), "2019-11-01T00:02:00.0000001Z"},
		{PstnCalls, at, "2019-11-01T00:01:59.9999999Z"},
		{PstnCalls, at.Add(1), "2019-11-01T00:02:00Z"},
		{PstnCalls, at.Add(Tick - 1), "2019-11-01T00:02:00Z"},
		{PstnCalls, at.Add(Tick), "2019-11-01T00:02:00Z"},
		{PstnCalls, at.In(time.FixedZone("CET", 3600)), "2019-11-01T00:01:59.9999999Z"},
	} {
		if got := FormatTime(QueryEnd(tc.fn, tc.to)); got != tc.want {
			t.Errorf("QueryEnd(%s, %s) = %s, want %s", tc.fn, tc.to.Format(time.RFC3339Nano), got, tc.want)
		}
	}
	if !PstnCalls.InclusiveEnd() || DirectRoutingCalls.InclusiveEnd() {
		t.Error("InclusiveEnd")
	}
	c, _ := newClient(t, "https://graph.microsoft.com")
	want := "https://graph.microsoft.com/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2019-11-01T00:01:00.0000001Z,toDateTime=2019-11-01T00:01:59.9999999Z)"
	if got := c.URL(PstnCalls, at.Add(-time.Minute+1), at); got != want {
		t.Errorf("URL:\n got %s\nwant %s", got, want)
	}
}

// TestAdjacentWindowsReadEachRowOnce walks adjacent windows through the
// simulator, whose PSTN endpoint includes rows starting exactly at
// toDateTime. Boundaries sit exactly on rows, one tick after a row, between
// ticks and on whole minutes (where the simulator always puts a row). Every
// row of the range must arrive exactly once, in the window that holds its
// start, for both functions.
func TestAdjacentWindowsReadEachRowOnce(t *testing.T) {
	day0 := time.Date(2019, 11, 1, 0, 0, 0, 0, time.UTC)
	sim, err := graphsim.New(graphsim.Config{
		Token: "tok", Seed: 4, Start: day0, End: day0.Add(2 * time.Hour), RowsPerHour: 36000, PageSize: 100,
		Now: func() time.Time { return day0.Add(48 * time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	c, _ := newClient(t, ts.URL)

	start, end := day0.Add(10*time.Minute), day0.Add(20*time.Minute)
	rows := sim.PstnRows(start, end)
	bounds := []time.Time{start, end, day0.Add(15 * time.Minute)} // whole minutes: rows on them
	for k := 7; k < len(rows); k += 97 {
		switch s := rows[k].Start; k % 4 {
		case 0:
			bounds = append(bounds, s) // a row on the boundary
		case 1:
			bounds = append(bounds, s.Add(Tick)) // a row one tick before it
		case 2:
			bounds = append(bounds, s.Add(1)) // between ticks, just after a row
		default:
			bounds = append(bounds, s.Add(-1)) // between ticks, just before a row
		}
	}
	slices.SortFunc(bounds, func(a, b time.Time) int { return a.Compare(b) })
	bounds = slices.CompactFunc(bounds, func(a, b time.Time) bool { return a.Equal(b) })
	if len(bounds) < 60 {
		t.Fatalf("only %d boundaries", len(bounds))
	}

	for _, tc := range []struct {
		fn    Function
		truth func(from, to time.Time) []graphsim.Row
	}{{PstnCalls, sim.PstnRows}, {DirectRoutingCalls, sim.Rows}} {
		t.Run(string(tc.fn), func(t *testing.T) {
			seen := map[string]int{}
			for k := 0; k+1 < len(bounds); k++ {
				var ids []string
				_, err := c.Calls(context.Background(), tc.fn, bounds[k], bounds[k+1], func(p Page) error {
					for _, raw := range p.Rows {
						var r struct{ ID string }
						if err := json.Unmarshal(raw, &r); err != nil {
							return err
						}
						ids = append(ids, r.ID)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for _, r := range tc.truth(bounds[k], bounds[k+1]) {
					want = append(want, r.ID)
				}
				if !slices.Equal(ids, want) {
					t.Fatalf("window [%s, %s): got %d rows, want %d", bounds[k].Format(time.RFC3339Nano), bounds[k+1].Format(time.RFC3339Nano), len(ids), len(want))
				}
				for _, id := range ids {
					seen[id]++
				}
			}
			all := tc.truth(start, end)
			if len(seen) != len(all) {
				t.Fatalf("%d distinct rows over the windows, want %d", len(seen), len(all))
			}
			for _, r := range all {
				if seen[r.ID] != 1 {
					t.Fatalf("row %d at %s read %d times", r.Index, r.Start.Format(time.RFC3339Nano), seen[r.ID])
				}
			}
			t.Logf("%d adjacent windows, %d rows, each read once", len(bounds)-1, len(all))
		})
	}

	// The test has teeth: sending the window's own end as an inclusive
	// toDateTime reads the row on a shared boundary twice.
	mid := day0.Add(15 * time.Minute)
	naive := func(from, to time.Time) int {
		u := ts.URL + "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=" + FormatTime(from) + ",toDateTime=" + FormatTime(to) + ")"
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p struct {
			Count int `json:"@odata.count"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
		return p.Count
	}
	if got, want := naive(mid.Add(-time.Second), mid)+naive(mid, mid.Add(time.Second)), len(sim.PstnRows(mid.Add(-time.Second), mid.Add(time.Second))); got != want+1 {
		t.Fatalf("naive inclusive windows read %d rows around %s, want %d (one twice)", got, mid, want+1)
	}
}

// TestSubTickWindowMakesNoRequest: a range holding no whole tick holds no
// row; asking getPstnCalls for it would send toDateTime < fromDateTime.
func TestSubTickWindowMakesNoRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.URL)
	}))
	t.Cleanup(srv.Close)
	c, _ := newClient(t, srv.URL)
	at := time.Date(2019, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, fn := range []Function{PstnCalls, DirectRoutingCalls} {
		st, err := c.Calls(context.Background(), fn, at.Add(10), at.Add(90), func(Page) error {
			t.Error("onPage called")
			return nil
		})
		if err != nil || st.Requests != 0 {
			t.Errorf("%s: %+v, %v", fn, st, err)
		}
	}
}
