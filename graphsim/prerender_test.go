package graphsim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestPreRenderServesTheSameBytes compares every page of a data set with
// extra properties and malformed rows, served with and without PreRender.
func TestPreRenderServesTheSameBytes(t *testing.T) {
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{Seed: 7, Start: start, End: start.Add(6 * time.Hour), RowsPerHour: 700, PageSize: 250,
		Token: "tok", ExtraProperty: true, Malformed: []Malformation{{Function: DirectRoutingCalls, Every: 97, Kind: MalformWrongType}}}
	plain, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PreRender = true
	pre, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := func(s *Server, url string) []byte {
		req := httptest.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", url, rec.Code, rec.Body)
		}
		return rec.Body.Bytes()
	}
	pages := 0
	for _, skip := range []string{"", "?$skip=250", "?$skip=1000", "?$skip=4000"} {
		for _, v := range []string{"v1.0", "beta"} {
			url := "http://graph.test/" + v + "/communications/callRecords/getDirectRoutingCalls(fromDateTime=2024-03-01T00:00:00Z,toDateTime=2024-03-01T06:00:00Z)" + skip
			a, b := get(plain, url), get(pre, url)
			if !bytes.Equal(a, b) {
				n := 0
				for n < min(len(a), len(b)) && a[n] == b[n] {
					n++
				}
				t.Fatalf("%s: pre-rendered page differs at byte %d: %.80q vs %.80q", url, n, a[max(n-40, 0):], b[max(n-40, 0):])
			}
			pages++
		}
	}
	if pages != 8 {
		t.Fatalf("compared %d pages", pages)
	}
}
