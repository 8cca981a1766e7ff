package graphsim_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
)

// discardWriter is a ResponseWriter that keeps only the status, so the
// benchmark measures the simulator rather than a recorder's buffering.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

func benchServer(b *testing.B) *graphsim.Server {
	sim, err := graphsim.New(graphsim.Config{
		Token: token, Seed: 1, Start: day0, End: day0.Add(10 * time.Hour), RowsPerHour: 1_000_000,
		Now: farFuture,
	})
	if err != nil {
		b.Fatal(err)
	}
	return sim
}

// BenchmarkServePage serves one 1000-row page from the middle of a
// ten-million-row data set, calling the handler directly.
func BenchmarkServePage(b *testing.B) {
	sim := benchServer(b)
	req := httptest.NewRequest(http.MethodGet,
		"http://graph.test/v1.0/communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-11-02)?$skip=5000000", nil)
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

// BenchmarkServePageHTTP is the same page over a loopback connection, as a
// client sees it.
func BenchmarkServePageHTTP(b *testing.B) {
	ts := httptest.NewServer(benchServer(b))
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodGet,
		ts.URL+"/v1.0/communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-11-02)?$skip=5000000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	var n int64
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %v", resp.StatusCode, err)
		}
	}
	b.SetBytes(n)
}
