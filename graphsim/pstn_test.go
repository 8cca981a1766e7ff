package graphsim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
)

// pstnCall builds a getPstnCalls URL on the server at base.
func pstnCall(base, version, from, to string) string {
	return base + "/" + version + "/communications/callRecords/getPstnCalls(" + fromTo(from, to) + ")"
}

// wantJSON compares served rows with ground truth byte for byte; beta picks
// the beta form.
func wantJSON(tb testing.TB, got []json.RawMessage, want []graphsim.Row, beta bool) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		w := want[i].JSON
		if beta {
			w = want[i].BetaJSON
		}
		if !bytes.Equal(got[i], w) {
			tb.Fatalf("row %d (index %d) differs:\n got %s\nwant %s", i, want[i].Index, got[i], w)
		}
	}
}

// TestPstn_InclusiveEnd pins getPstnCalls' documented inclusive toDateTime
// on rows sitting exactly on the boundary, next to getDirectRoutingCalls'
// exclusive one.
func TestPstn_InclusiveEnd(t *testing.T) {
	sim, ts := start(t, graphsim.Config{RowsPerHour: 3600, End: day0.Add(time.Hour)})
	at1, at2 := day0.Add(time.Minute), day0.Add(2*time.Minute)
	onBoundary := sim.PstnRows(at2, at2.Add(time.Second))
	if len(onBoundary) != 1 || !onBoundary[0].Start.Equal(at2) {
		t.Fatalf("no PSTN row sits exactly on %v: %v", at2, onBoundary)
	}
	inside := sim.PstnRows(at1, at2)
	if len(inside) != 60 || !inside[0].Start.Equal(at1) {
		t.Fatalf("[%v, %v) holds %d rows", at1, at2, len(inside))
	}

	// PSTN: both ends inclusive, so 61 rows, the last one on toDateTime.
	p := getPage(t, pstnCall(ts.URL, "v1.0", "2019-11-01T00:01:00Z", "2019-11-01T00:02:00Z"))
	wantJSON(t, p.Value, append(inside, onBoundary...), false)
	if !strings.HasSuffix(p.Context, "#Collection(microsoft.graph.callRecords.pstnCallLogRow)") {
		t.Errorf("@odata.context %q", p.Context)
	}
	// One tick before the boundary: exactly the half-open window.
	p = getPage(t, pstnCall(ts.URL, "v1.0", "2019-11-01T00:01:00Z", "2019-11-01T00:01:59.9999999Z"))
	wantJSON(t, p.Value, inside, false)
	// fromDateTime == toDateTime: the rows at that instant.
	p = getPage(t, pstnCall(ts.URL, "v1.0", "2019-11-01T00:02:00Z", "2019-11-01T00:02:00Z"))
	wantJSON(t, p.Value, onBoundary, false)

	// Direct Routing, same server: toDateTime stays exclusive.
	p = getPage(t, callURL(ts, "v1.0", fromTo("2019-11-01T00:01:00Z", "2019-11-01T00:02:00Z")))
	if p.Count != 60 {
		t.Errorf("Direct Routing [00:01, 00:02) served %d rows, want 60", p.Count)
	}
	if !graphsim.PstnCalls.InclusiveEnd() || graphsim.DirectRoutingCalls.InclusiveEnd() {
		t.Error("InclusiveEnd disagrees with the served behaviour")
	}
}

func TestPstn_PagingAndCounts(t *testing.T) {
	sim, ts := start(t, graphsim.Config{RowsPerHour: 100, End: day0.Add(30 * time.Hour), LateFraction: 0.1, LateDelay: 12 * time.Hour, Now: func() time.Time { return day0.Add(40 * time.Hour) }})
	if sim.PstnLen() != sim.Len() {
		t.Fatalf("PstnLen %d, Len %d: the data sets share one grid", sim.PstnLen(), sim.Len())
	}
	from, to := day0, day0.Add(25*time.Hour)
	pages := fetchAll(t, pstnCall(ts.URL, "v1.0", "2019-11-01T00:00:00Z", "2019-11-02T01:00:00Z"))
	if len(pages) != 3 || !strings.Contains(pages[0].NextLink, "/getPstnCalls(") || !strings.HasSuffix(pages[0].NextLink, "?$skip=1000") {
		t.Fatalf("%d pages, first nextLink %q", len(pages), pages[0].NextLink)
	}
	want := append(sim.PstnRows(from, to), sim.PstnRows(to, to.Add(time.Nanosecond))...)
	wantJSON(t, allRows(pages), want, false)
	if got := sim.PstnCount(from, to); got != len(sim.PstnRows(from, to)) || got != 2500 {
		t.Errorf("PstnCount = %d", got)
	}
	if got := sim.PstnCountVisible(from, to, day0.Add(40*time.Hour)); got != 2500 {
		t.Errorf("PstnCountVisible = %d, want 2500", got)
	}

	// Late rows: the PSTN data set has its own, independent of Direct
	// Routing's.
	now := day0.Add(26 * time.Hour)
	var late, shared int
	dr := sim.Rows(from, to)
	for k, r := range sim.PstnRows(from, to) {
		if r.VisibleAt.After(now) {
			late++
			if dr[k].VisibleAt.After(now) {
				shared++
			}
		}
	}
	if late < 60 || shared > late/2 {
		t.Errorf("%d late PSTN rows, %d of them at late Direct Routing indexes", late, shared)
	}
	if got, want := sim.PstnCountVisible(from, to, now), len(visibleAt(sim.PstnRows(from, to), now)); got != want || want == 2500 {
		t.Errorf("PstnCountVisible at %v = %d, want %d (< 2500)", now, got, want)
	}
}

func TestPstn_MaxRange(t *testing.T) {
	_, ts := start(t, graphsim.Config{RowsPerHour: 1})
	for _, tc := range []struct {
		fn, from, to string
		status       int
	}{
		{"getPstnCalls", "2019-11-01T00:00:00Z", "2020-01-30T00:00:00Z", 200},         // exactly 90 days
		{"getPstnCalls", "2019-11-01T00:00:00Z", "2020-01-30T00:00:00.0000001Z", 406}, // one tick more
		{"getPstnCalls", "2019-01-01", "2019-12-31", 406},
		{"getDirectRoutingCalls", "2019-01-01", "2019-12-31", 200}, // no documented limit
	} {
		resp, body := get(t, ts.URL+"/beta/communications/callRecords/"+tc.fn+"("+fromTo(tc.from, tc.to)+")")
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s..%s: status %d, want %d", tc.fn, tc.from, tc.to, resp.StatusCode, tc.status)
			continue
		}
		if tc.status == 406 {
			if e := decodeErr(t, body); e.Error.Code != graphsim.CodeNotAcceptable {
				t.Errorf("code %q", e.Error.Code)
			}
		}
	}
}

func TestPstn_PathForms(t *testing.T) {
	sim, ts := start(t, graphsim.Config{})
	want := sim.PstnRows(day0, day0.Add(6*time.Hour))
	want = append(want, sim.PstnRows(day0.Add(6*time.Hour), day0.Add(6*time.Hour+time.Nanosecond))...)
	for _, name := range []string{"getPstnCalls", "microsoft.graph.callRecords.getPstnCalls", "GETPSTNCALLS"} {
		p := getPage(t, ts.URL+"/v1.0/communications/callRecords/"+name+"("+fromTo("2019-11-01", "2019-11-01T06:00:00Z")+")")
		wantJSON(t, p.Value, want, false)
	}
	resp, body := get(t, ts.URL+"/v1.0/communications/callRecords/getPstnCalls")
	if e := decodeErr(t, body); resp.StatusCode != 400 || !strings.Contains(e.Error.Message, "microsoft.graph.callRecords.getPstnCalls") {
		t.Errorf("no arguments: %d %s", resp.StatusCode, body)
	}
}

var (
	pstnV1Keys = []string{"id", "callId", "userId", "userPrincipalName", "userDisplayName", "startDateTime",
		"endDateTime", "duration", "charge", "callType", "currency", "calleeNumber", "usageCountryCode",
		"tenantCountryCode", "connectionCharge", "callerNumber", "destinationContext", "destinationName",
		"conferenceId", "licenseCapability", "inventoryType", "operator", "callDurationSource"}
	pstnBetaKeys = append(append([]string(nil), pstnV1Keys...), "otherPartyCountryCode", "clientLocalIpV4Address",
		"clientLocalIpV6Address", "clientPublicIpV4Address", "clientPublicIpV6Address", "administrativeUnitInfos")
	moneyRE = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]{2}|\.[0-9]{4})?$`)
)

func TestPstn_Content(t *testing.T) {
	sim, err := graphsim.New(graphsim.Config{Token: token, Seed: 11, Start: day0, End: day0.Add(10 * time.Hour), RowsPerHour: 600, ExtraProperty: true})
	if err != nil {
		t.Fatal(err)
	}
	rows := sim.PstnRows(day0, day0.Add(10*time.Hour))
	if len(rows) != 6000 {
		t.Fatalf("%d rows", len(rows))
	}
	drIDs := map[string]bool{}
	sameStart := 0
	for k, r := range sim.Rows(day0, day0.Add(10*time.Hour)) {
		drIDs[r.ID] = true
		if r.Start.Equal(rows[k].Start) {
			sameStart++
		}
	}
	if sameStart > len(rows)/2 {
		t.Errorf("%d of %d PSTN rows start exactly when the Direct Routing row of the same index does", sameStart, len(rows))
	}
	extras := map[string]bool{"callQualityScore": true, "callQualityDetails": true}
	seen := map[string]int{}
	ids := map[string]bool{}
	var prev map[string]any
	for k, r := range rows {
		for _, js := range []struct {
			b    []byte
			keys []string
		}{{r.JSON, pstnV1Keys}, {r.BetaJSON, pstnBetaKeys}} {
			keys, extra := objectKeys(t, js.b, extras)
			if strings.Join(keys, ",") != strings.Join(js.keys, ",") {
				t.Fatalf("row %d keys %v", r.Index, keys)
			}
			if extra {
				seen["extra"]++
			}
		}
		m, beta := decodeNumbers(t, r.JSON), decodeNumbers(t, r.BetaJSON)
		checkPstnRow(t, r, m, beta, prev, seen)
		if ids[r.ID] || drIDs[r.ID] {
			t.Fatalf("duplicate id %s", r.ID)
		}
		ids[r.ID] = true
		if k > 0 && !r.Start.After(rows[k-1].Start) {
			t.Fatalf("row %d does not start after row %d", r.Index, rows[k-1].Index)
		}
		prev = m
	}
	for _, want := range []string{"user_in", "user_out", "user_out_transfer", "user_out_forwarding", "conf_in", "conf_out",
		"ucap_in", "ucap_out", "oc_user_in", "oc_user_out", "oc_ucap_in",
		"charge 0", "charge 0.00", "charge 0.0000", "charge 2 digits", "charge 4 digits", "charge null", "premium",
		"connectionCharge", "source operator", "source null", "conference", "sharedCallId", "zeroDuration",
		"ipv6 local", "ipv6 public", "au", "digits0", "digits3", "digits7", "plus", "extra"} {
		if seen[want] == 0 {
			t.Errorf("no row shows %s", want)
		}
	}
	t.Logf("variants: %v", seen)
}

// decodeNumbers decodes a JSON object keeping numbers as their text.
func decodeNumbers(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// checkPstnRow checks one PSTN row's invariants and tallies its variants.
func checkPstnRow(tb testing.TB, r graphsim.Row, m, beta, prev map[string]any, seen map[string]int) {
	tb.Helper()
	fail := func(format string, args ...any) {
		tb.Helper()
		tb.Fatalf("row %d: %s\n%s", r.Index, fmt.Sprintf(format, args...), r.JSON)
	}
	if m["id"] != r.ID || m["callId"] != r.CallID || r.CorrelationID != "" || r.Malformed != graphsim.MalformNone {
		fail("id/callId differ from Row")
	}
	startStr := m["startDateTime"].(string)
	start := parseGraphTime(tb, startStr)
	if !start.Equal(r.Start) {
		fail("startDateTime %s, Row.Start %v", startStr, r.Start)
	}
	if strings.HasSuffix(startStr, "+00:00") {
		seen["plus"]++
	}
	_, fracPart, _ := strings.Cut(strings.TrimSuffix(strings.TrimSuffix(startStr, "Z"), "+00:00"), ".")
	seen[fmt.Sprintf("digits%d", len(fracPart))]++
	dur, err := m["duration"].(json.Number).Int64()
	if err != nil {
		fail("duration %v", m["duration"])
	}
	if dur == 0 {
		seen["zeroDuration"]++
	}
	if end := parseGraphTime(tb, m["endDateTime"]); !end.Equal(start.Add(time.Duration(dur) * time.Second)) {
		fail("endDateTime %v != start + %ds", end, dur)
	}

	ct := m["callType"].(string)
	seen[ct]++
	oc := strings.HasPrefix(ct, "oc_")
	inbound := strings.HasSuffix(ct, "_in")
	for _, f := range []string{"charge", "connectionCharge"} {
		switch v := m[f].(type) {
		case nil:
			if !oc {
				fail("%s null on a %s call", f, ct)
			}
			if f == "charge" {
				seen["charge null"]++
			}
		case json.Number:
			if oc || !moneyRE.MatchString(string(v)) {
				fail("%s %s on a %s call", f, v, ct)
			}
			zero := strings.Trim(string(v), "0.") == ""
			if f == "connectionCharge" {
				if !zero {
					seen["connectionCharge"]++
				}
				continue
			}
			switch {
			case zero:
				seen["charge "+string(v)]++
			case inbound:
				fail("inbound call charged %s", v)
			case len(string(v))-strings.IndexByte(string(v), '.') == 3:
				seen["charge 2 digits"]++
			default:
				seen["charge 4 digits"]++
			}
			if f, _ := v.Float64(); f >= 2.5 && dur <= 60 {
				seen["premium"]++
			}
		default:
			fail("%s is %T", f, v)
		}
	}
	if (m["currency"] == nil) != oc || (!oc && m["currency"] != "USD") {
		fail("currency %v on a %s call", m["currency"], ct)
	}
	switch src := m["callDurationSource"]; src {
	case "operator":
		seen["source operator"]++
		if !oc {
			fail("operator-measured duration on a %s call", ct)
		}
	case nil:
		seen["source null"]++
	case "microsoft":
	default:
		fail("callDurationSource %v", src)
	}
	if op := m["operator"]; (op == "Microsoft") == oc {
		fail("operator %v on a %s call", op, ct)
	}
	if strings.HasPrefix(ct, "conf_") {
		seen["conference"]++
		if m["conferenceId"] == nil || m["inventoryType"] != "Service" || m["licenseCapability"] != "MCOMEETADD" {
			fail("conference row without conference fields")
		}
	} else if m["conferenceId"] != nil {
		fail("conferenceId on a %s call", ct)
	}
	if strings.Contains(ct, "ucap") {
		if m["userPrincipalName"] != nil || (m["userId"] != nil && m["userId"] != "") {
			fail("bot row with a user")
		}
	} else if upn, _ := m["userPrincipalName"].(string); !strings.HasSuffix(upn, "@contoso.com") {
		fail("UPN %q", upn)
	}
	if ct == "user_out_transfer" || ct == "user_out_forwarding" {
		if prev == nil || prev["callId"] != m["callId"] || prev["callType"] != "user_in" || prev["userId"] != m["userId"] {
			fail("transfer leg does not continue the previous inbound call")
		}
		seen["sharedCallId"]++
	} else if prev != nil && prev["callId"] == m["callId"] {
		fail("shares callId with the previous row but is a %s", ct)
	}

	// Beta: the v1.0 properties unchanged, then the beta-only ones.
	for k, v := range m {
		if fmt.Sprint(beta[k]) != fmt.Sprint(v) {
			fail("beta %s = %v, v1.0 %v", k, beta[k], v)
		}
	}
	client := beta["clientPublicIpV4Address"]
	if (client == nil) != (strings.Contains(ct, "ucap") || strings.HasPrefix(ct, "conf_")) {
		fail("client address %v on a %s call", client, ct)
	}
	if client != nil {
		for _, f := range []string{"clientLocalIpV4Address", "clientPublicIpV4Address"} {
			if ip := beta[f].(string); !strings.HasPrefix(ip, "10.") && !strings.HasPrefix(ip, "192.168.") &&
				!strings.HasPrefix(ip, "192.0.2.") && !strings.HasPrefix(ip, "198.51.100.") && !strings.HasPrefix(ip, "203.0.113.") {
				fail("%s %s outside the private and documentation ranges", f, ip)
			}
		}
		if v6, _ := beta["clientLocalIpV6Address"].(string); v6 != "" {
			seen["ipv6 local"]++
		}
		if v6, _ := beta["clientPublicIpV6Address"].(string); v6 != "" {
			seen["ipv6 public"]++
			if !strings.HasPrefix(v6, "2001:db8:") {
				fail("public IPv6 %s outside 2001:db8::/32", v6)
			}
		}
	}
	if aus := beta["administrativeUnitInfos"].([]any); len(aus) > 0 {
		seen["au"]++
	}
}

// TestPstn_BetaServed fetches /beta and checks the beta form is served.
func TestPstn_BetaServed(t *testing.T) {
	sim, ts := start(t, graphsim.Config{PageSize: 5000})
	p := getPage(t, pstnCall(ts.URL, "beta", "2019-11-01T00:00:00Z", "2019-11-01T11:59:59.9999999Z"))
	wantJSON(t, p.Value, sim.PstnRows(day0, day0.Add(12*time.Hour)), true)
}

// TestPstn_ConcurrentWithDirectRouting reads both functions at once from
// one server.
func TestPstn_ConcurrentWithDirectRouting(t *testing.T) {
	sim, ts := start(t, graphsim.Config{PageSize: 300})
	done := make(chan error, 2)
	for _, fn := range []string{"getDirectRoutingCalls", "getPstnCalls"} {
		go func() {
			var n int
			for next := ts.URL + "/v1.0/communications/callRecords/" + fn + "(" + fromTo("2019-11-01", "2019-11-01T23:59:59.9999999Z") + ")"; next != ""; {
				req, _ := http.NewRequest(http.MethodGet, next, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- err
					return
				}
				var pg page
				err = json.NewDecoder(resp.Body).Decode(&pg)
				resp.Body.Close()
				if err != nil {
					done <- err
					return
				}
				n += len(pg.Value)
				next = pg.NextLink
			}
			if n != 1440 {
				done <- fmt.Errorf("%s: %d rows, want 1440", fn, n)
				return
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if st := sim.Stats(); st.Rows != 2*1440 {
		t.Errorf("Stats.Rows = %d", st.Rows)
	}
}

// BenchmarkServePstnPage is BenchmarkServePage for getPstnCalls.
func BenchmarkServePstnPage(b *testing.B) {
	sim := benchServer(b)
	req := httptest.NewRequest(http.MethodGet,
		"http://graph.test/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-11-02)?$skip=5000000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		w.n, w.status = 0, 0
		sim.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	b.SetBytes(int64(w.n))
}
