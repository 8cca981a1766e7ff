package graphsim_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
)

func TestMalformed_Validation(t *testing.T) {
	ok := graphsim.Config{Token: "t", Start: day0, End: day0.Add(time.Hour), RowsPerHour: 10}
	for _, tc := range []struct {
		name string
		m    graphsim.Malformation
		want string
	}{
		{"NoEvery", graphsim.Malformation{Function: graphsim.PstnCalls, Kind: graphsim.MalformNoID}, "Every"},
		{"UnknownFunction", graphsim.Malformation{Function: "getSmsLog", Kind: graphsim.MalformNoID, Every: 1}, "Function"},
		{"NoKind", graphsim.Malformation{Function: graphsim.PstnCalls, Every: 1}, "not a malformation"},
		{"PstnCorrelationID", graphsim.Malformation{Function: graphsim.PstnCalls, Kind: graphsim.MalformNoCorrelationID, Every: 1}, "no correlationId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			cfg.Malformed = []graphsim.Malformation{tc.m}
			if _, err := graphsim.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New() error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// malformedConfig breaks rows at known indexes: for Direct Routing every
// tenth row from index 1 to 4, one kind each; for PSTN the same from 5 to 7.
func malformedConfig() graphsim.Config {
	dr, pstn := graphsim.DirectRoutingCalls, graphsim.PstnCalls
	return graphsim.Config{
		RowsPerHour: 600, End: day0.Add(4 * time.Hour), PageSize: 250,
		Malformed: []graphsim.Malformation{
			{Function: dr, Kind: graphsim.MalformNoID, Every: 10, Offset: 1},
			{Function: dr, Kind: graphsim.MalformNoCorrelationID, Every: 10, Offset: 2},
			{Function: dr, Kind: graphsim.MalformWrongType, Every: 10, Offset: 3},
			{Function: dr, Kind: graphsim.MalformOutOfRange, Every: 10, Offset: 4},
			{Function: pstn, Kind: graphsim.MalformNoID, Every: 10, Offset: 5},
			{Function: pstn, Kind: graphsim.MalformWrongType, Every: 10, Offset: 6},
			{Function: pstn, Kind: graphsim.MalformOutOfRange, Every: 10, Offset: 7},
		},
	}
}

func TestMalformed_Rows(t *testing.T) {
	sim, ts := start(t, malformedConfig())
	clean, err := graphsim.New(graphsim.Config{Token: token, Start: day0, End: day0.Add(4 * time.Hour), RowsPerHour: 600})
	if err != nil {
		t.Fatal(err)
	}
	from, to := day0, day0.Add(4*time.Hour)
	wantKind := map[graphsim.Function]map[int]graphsim.MalformKind{
		graphsim.DirectRoutingCalls: {1: graphsim.MalformNoID, 2: graphsim.MalformNoCorrelationID, 3: graphsim.MalformWrongType, 4: graphsim.MalformOutOfRange},
		graphsim.PstnCalls:          {5: graphsim.MalformNoID, 6: graphsim.MalformWrongType, 7: graphsim.MalformOutOfRange},
	}
	seen := map[string]int{}
	for _, fn := range []graphsim.Function{graphsim.DirectRoutingCalls, graphsim.PstnCalls} {
		rows, good := sim.Rows(from, to), clean.Rows(from, to)
		if fn == graphsim.PstnCalls {
			rows, good = sim.PstnRows(from, to), clean.PstnRows(from, to)
		}
		for k, r := range rows {
			if want := wantKind[fn][r.Index%10]; r.Malformed != want {
				t.Fatalf("%s row %d: Malformed %v, want %v", fn, r.Index, r.Malformed, want)
			}
			if r.Malformed == graphsim.MalformNone {
				if !bytes.Equal(r.JSON, good[k].JSON) || !bytes.Equal(r.BetaJSON, good[k].BetaJSON) || r.MalformedField != "" {
					t.Fatalf("%s row %d: a good row changed", fn, r.Index)
				}
				continue
			}
			if r.ID != good[k].ID {
				t.Fatalf("%s row %d: ground-truth id changed", fn, r.Index)
			}
			for _, pair := range [][2][]byte{{r.JSON, good[k].JSON}, {r.BetaJSON, good[k].BetaJSON}} {
				bad, ok := decodeObject(t, pair[0]), decodeObject(t, pair[1])
				variant := checkOnlyFieldBroken(t, fn, r, bad, ok)
				seen[string(fn)+" "+r.Malformed.String()+" "+variant]++
			}
		}

		// The endpoint serves the malformed bytes, v1.0 and beta.
		u := ts.URL + "/v1.0/communications/callRecords/" + string(fn) + "(" + fromTo("2019-11-01T00:00:00Z", "2019-11-01T03:59:59.9999999Z") + ")"
		if fn == graphsim.DirectRoutingCalls {
			u = callURL(ts, "v1.0", fromTo("2019-11-01T00:00:00Z", "2019-11-01T04:00:00Z"))
		}
		wantJSON(t, allRows(fetchAll(t, u)), rows, false)
		wantJSON(t, allRows(fetchAll(t, strings.Replace(u, "/v1.0/", "/beta/", 1))), rows, true)
	}
	for _, want := range []string{
		"getDirectRoutingCalls NoID absent", "getDirectRoutingCalls NoID null", "getDirectRoutingCalls NoID empty",
		"getDirectRoutingCalls NoCorrelationID absent", "getDirectRoutingCalls NoCorrelationID null", "getDirectRoutingCalls NoCorrelationID empty",
		"getDirectRoutingCalls WrongType duration", "getDirectRoutingCalls WrongType successfulCall", "getDirectRoutingCalls WrongType startDateTime",
		"getDirectRoutingCalls OutOfRange duration",
		"getPstnCalls NoID absent", "getPstnCalls NoID null", "getPstnCalls NoID empty",
		"getPstnCalls WrongType charge", "getPstnCalls WrongType duration", "getPstnCalls WrongType startDateTime",
		"getPstnCalls OutOfRange charge",
	} {
		if seen[want] == 0 {
			t.Errorf("no row shows %s", want)
		}
	}
}

func decodeObject(tb testing.TB, b []byte) map[string]json.RawMessage {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("malformed rows must still be JSON objects: %v\n%s", err, b)
	}
	return m
}

// checkOnlyFieldBroken checks that bad differs from the good row only in
// r.MalformedField, in the way r.Malformed says, and names the variant.
func checkOnlyFieldBroken(tb testing.TB, fn graphsim.Function, r graphsim.Row, bad, good map[string]json.RawMessage) string {
	tb.Helper()
	f := r.MalformedField
	for k, v := range good {
		if k != f && !bytes.Equal(bad[k], v) {
			tb.Fatalf("%s row %d: %s changed too", fn, r.Index, k)
		}
	}
	v, present := bad[f]
	switch r.Malformed {
	case graphsim.MalformNoID, graphsim.MalformNoCorrelationID:
		if want := map[graphsim.MalformKind]string{graphsim.MalformNoID: "id", graphsim.MalformNoCorrelationID: "correlationId"}[r.Malformed]; f != want {
			tb.Fatalf("%s row %d: field %q for %v", fn, r.Index, f, r.Malformed)
		}
		switch {
		case !present:
			return "absent"
		case string(v) == "null":
			return "null"
		case string(v) == `""`:
			return "empty"
		}
	case graphsim.MalformWrongType:
		if f == "startDateTime" && v[0] >= '0' && v[0] <= '9' {
			return f
		}
		if v[0] == '"' && string(v[1:len(v)-1]) == string(good[f]) {
			return f
		}
	case graphsim.MalformOutOfRange:
		if (f == "duration" && len(v) == 10 && v[0] == '3') || (f == "charge" && string(v) == "0.123456789") {
			return f
		}
	}
	tb.Fatalf("%s row %d: %v on %s: %s (was %s)", fn, r.Index, r.Malformed, f, v, good[f])
	return ""
}
