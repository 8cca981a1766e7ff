package graphsim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
)

func newTenants(tb testing.TB, base graphsim.Config) (*graphsim.Tenants, *httptest.Server) {
	tb.Helper()
	if base.Start.IsZero() {
		base.Start, base.End, base.RowsPerHour = day0, day0.Add(48*time.Hour), 60
	}
	if base.Now == nil {
		base.Now = farFuture
	}
	f, err := graphsim.NewTenants(graphsim.TenantsConfig{Base: base})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(f)
	tb.Cleanup(ts.Close)
	return f, ts
}

// getWith is get with another bearer token ("" sends no Authorization).
func getWith(tb testing.TB, rawURL, tok string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, body
}

// pageIDs returns the ids of a page's rows, or fails.
func pageIDs(tb testing.TB, body []byte) []string {
	tb.Helper()
	var page struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		tb.Fatalf("page %s: %v", body, err)
	}
	var ids []string
	for _, v := range page.Value {
		ids = append(ids, v.ID)
	}
	return ids
}

func errorCode(tb testing.TB, body []byte) string {
	tb.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		tb.Fatalf("error body %s: %v", body, err)
	}
	return e.Error.Code
}

// TestTenantsServeEachTenantItsOwnRows: a token reads the rows of the
// tenant it was issued in — that tenant's ground truth — and the tenants'
// rows differ.
func TestTenantsServeEachTenantItsOwnRows(t *testing.T) {
	f, ts := newTenants(t, graphsim.Config{})
	exp := farFuture().Add(time.Hour)
	for _, tn := range []string{"tenant-a", "tenant-b"} {
		if err := f.AcceptToken("tok-"+tn, graphsim.TokenInfo{App: "app", Tenant: tn, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	url := callURL(ts, "v1.0", fromTo("2019-11-01T10:00:00Z", "2019-11-01T11:00:00Z"))
	got := map[string][]string{}
	for _, tn := range []string{"tenant-a", "tenant-b"} {
		resp, body := getWith(t, url, "tok-"+tn)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tn, resp.StatusCode, body)
		}
		got[tn] = pageIDs(t, body)
		var want []string
		for _, r := range f.Tenant(tn).Rows(day0.Add(10*time.Hour), day0.Add(11*time.Hour)) {
			want = append(want, r.ID)
		}
		if len(want) != 60 || !slices.Equal(got[tn], want) {
			t.Fatalf("%s read %d rows %v, its truth is %d rows %v", tn, len(got[tn]), got[tn], len(want), want)
		}
		if st := f.Tenant(tn).Stats(); st.Requests != 1 || st.Rows != 60 {
			t.Fatalf("%s stats %+v", tn, st)
		}
	}
	for _, id := range got["tenant-a"] {
		if slices.Contains(got["tenant-b"], id) {
			t.Fatalf("row %s in both tenants", id)
		}
	}
	if got := f.Tenants(); !slices.Equal(got, []string{"tenant-a", "tenant-b"}) {
		t.Fatalf("tenants %v", got)
	}
}

// TestTenantSeedReproducible: a tenant's data set depends only on the base
// seed and the tenant id (in any case), not on the front or the order in
// which tenants appeared.
func TestTenantSeedReproducible(t *testing.T) {
	f1, _ := newTenants(t, graphsim.Config{Seed: 7})
	f2, _ := newTenants(t, graphsim.Config{Seed: 7})
	f3, _ := newTenants(t, graphsim.Config{Seed: 8})
	f2.Tenant("other")
	a1, a2, a3 := f1.Tenant("Tenant-A").RowAt(5), f2.Tenant("tenant-a").RowAt(5), f3.Tenant("tenant-a").RowAt(5)
	if string(a1.JSON) != string(a2.JSON) {
		t.Fatalf("same seed and tenant, different rows:\n%s\n%s", a1.JSON, a2.JSON)
	}
	if a1.ID == a3.ID {
		t.Fatal("another base seed gave the same row")
	}
	if graphsim.TenantSeed(7, "A") != graphsim.TenantSeed(7, "a") || graphsim.TenantSeed(7, "a") == graphsim.TenantSeed(7, "b") {
		t.Fatal("TenantSeed is not a case-insensitive function of the tenant")
	}
	if f1.Tenant("TENANT-A") != f1.Tenant("tenant-a") {
		t.Fatal("tenant ids are not matched case-insensitively")
	}
}

// TestTenantsRefuse: a token no tenant issued gets Graph's 401; a denied
// tenant's valid tokens get 403 Authorization_RequestDenied while its
// expired ones still get 401 (Graph authenticates before it authorizes),
// other tenants read on, and lifting the denial restores reading.
func TestTenantsRefuse(t *testing.T) {
	f, ts := newTenants(t, graphsim.Config{})
	exp := farFuture().Add(time.Hour)
	mustAccept := func(tok string, info graphsim.TokenInfo) {
		t.Helper()
		if err := f.AcceptToken(tok, info); err != nil {
			t.Fatal(err)
		}
	}
	mustAccept("a", graphsim.TokenInfo{App: "app", Tenant: "tenant-a", ExpiresAt: exp})
	mustAccept("a-old", graphsim.TokenInfo{App: "app", Tenant: "tenant-a", ExpiresAt: day0})
	mustAccept("b", graphsim.TokenInfo{App: "app", Tenant: "tenant-b", ExpiresAt: exp})
	if err := f.AcceptToken("none", graphsim.TokenInfo{App: "app", ExpiresAt: exp}); !errors.Is(err, graphsim.ErrNoTenant) {
		t.Fatalf("a token without a tenant: %v", err)
	}
	url := callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-02"))
	status := func(tok string) (int, string) {
		t.Helper()
		resp, body := getWith(t, url, tok)
		if resp.StatusCode == 200 {
			return 200, ""
		}
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
		return resp.StatusCode, errorCode(t, body)
	}
	for _, tc := range []struct {
		tok    string
		status int
		code   string
	}{{"a", 200, ""}, {"none", 401, graphsim.CodeInvalidToken}, {"", 401, graphsim.CodeInvalidToken}, {"a-old", 401, graphsim.CodeInvalidToken}} {
		if st, code := status(tc.tok); st != tc.status || code != tc.code {
			t.Errorf("token %q: %d %s, want %d %s", tc.tok, st, code, tc.status, tc.code)
		}
	}
	if f.Refused() != 2 {
		t.Errorf("refused %d, want 2", f.Refused())
	}

	f.Deny("TENANT-A", true)
	if st, code := status("a"); st != 403 || code != graphsim.CodeRequestDenied {
		t.Errorf("denied tenant: %d %s", st, code)
	}
	if st, code := status("a-old"); st != 401 || code != graphsim.CodeInvalidToken {
		t.Errorf("denied tenant, expired token: %d %s", st, code)
	}
	if st, _ := status("b"); st != 200 {
		t.Errorf("other tenant while one is denied: %d", st)
	}
	f.Deny("tenant-a", false)
	if st, _ := status("a"); st != 200 {
		t.Errorf("denial lifted: %d", st)
	}
}

func TestLatencyRange(t *testing.T) {
	if _, err := graphsim.New(graphsim.Config{Token: "t", Start: day0, End: day0.Add(time.Hour), RowsPerHour: 1,
		Latency: 2 * time.Millisecond, LatencyMax: time.Millisecond}); err == nil || !strings.Contains(err.Error(), "LatencyMax") {
		t.Fatalf("LatencyMax below Latency: %v", err)
	}
	_, ts := start(t, graphsim.Config{Latency: 20 * time.Millisecond, LatencyMax: 60 * time.Millisecond})
	for range 3 {
		t0 := time.Now()
		if resp, body := get(t, callURL(ts, "v1.0", fromTo("2019-11-01", "2019-11-02"))); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if d := time.Since(t0); d < 20*time.Millisecond {
			t.Fatalf("answered in %v, under Latency", d)
		}
	}
}

// TestTenantsMemory: a thousand tenants, each read once over a window of
// tens of rows, cost a few megabytes: a tenant's Server holds no rows.
func TestTenantsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a thousand tenants")
	}
	const n = 1000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	f, ts := newTenants(t, graphsim.Config{Start: day0, End: day0.AddDate(0, 0, 30), RowsPerHour: 30})
	before := heap()
	exp := farFuture().Add(time.Hour)
	url := callURL(ts, "v1.0", fromTo("2019-11-05T10:00:00Z", "2019-11-05T11:00:00Z"))
	client := ts.Client()
	for i := range n {
		tn := fmt.Sprintf("tenant-%04d", i)
		tok := "tok-" + tn
		if err := f.AcceptToken(tok, graphsim.TokenInfo{App: "app", Tenant: tn, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", tn, resp.StatusCode)
		}
	}
	per := (int64(heap()) - int64(before)) / n
	t.Logf("%d tenants: %d bytes of heap each", n, per)
	if per > 32<<10 {
		t.Fatalf("a tenant costs %d bytes of heap", per)
	}
	runtime.KeepAlive(f)
}
