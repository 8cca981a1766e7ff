package testkit

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callstream/callstream/graphsim"
)

// Serve serves h over HTTP until the end of the test and returns its base
// URL. The server's own error log is discarded: the handlers tests serve
// cut connections and send hostile bodies on purpose.
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// Graph starts the Graph simulator with cfg and serves it until the end of
// the test; it returns the simulator (to change its data, inject faults and
// read its statistics) and its base URL (GRAPH_BASE_URL).
func Graph(t testing.TB, cfg graphsim.Config) (*graphsim.Server, string) {
	t.Helper()
	sim, err := graphsim.New(cfg)
	if err != nil {
		t.Fatalf("graphsim: %v", err)
	}
	return sim, Serve(t, sim)
}
