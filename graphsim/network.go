package graphsim

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Network is an in-memory stand-in for the internet: a request to a host
// registered with Handle is served by that host's handler in the calling
// goroutine, with no sockets. Tests use it where httptest servers cannot go:
// inside a testing/synctest bubble (whose fake clock then drives the
// simulators too), and at the real hostnames of national clouds, so that a
// client is checked against https://graph.microsoft.us and
// https://login.microsoftonline.us themselves.
//
// It is an http.RoundTripper for an *http.Client and has the Do method of
// azcore's policy.Transporter, so the same Network serves Graph requests and
// the token requests of an azidentity credential. It is safe for concurrent
// use.
type Network struct {
	mu       sync.Mutex
	hosts    map[string]http.Handler
	requests map[string]int
}

// NewNetwork returns a Network with no hosts.
func NewNetwork() *Network {
	return &Network{hosts: map[string]http.Handler{}, requests: map[string]int{}}
}

// Handle serves requests for host ("name" or "name:port") with h.
func (n *Network) Handle(host string, h http.Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hosts[strings.ToLower(host)] = h
}

// Requests returns how many requests were addressed to host, including
// requests to a host nobody serves.
func (n *Network) Requests(host string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.requests[strings.ToLower(host)]
}

// Client returns an *http.Client that uses n.
func (n *Network) Client() *http.Client { return &http.Client{Transport: n} }

// Do serves r; it makes a Network an azcore policy.Transporter.
func (n *Network) Do(r *http.Request) (*http.Response, error) { return n.RoundTrip(r) }

// RoundTrip serves r with the handler of its host. A host with no handler
// fails as an unresolvable name would.
func (n *Network) RoundTrip(r *http.Request) (*http.Response, error) {
	host := strings.ToLower(r.URL.Host)
	n.mu.Lock()
	n.requests[host]++
	h := n.hosts[host]
	n.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("dial tcp: lookup %s: no such host", r.URL.Hostname())
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}

	// Give the handler the request as a server would see it.
	sr := r.Clone(r.Context())
	sr.Host = r.URL.Host
	sr.RequestURI = r.URL.RequestURI()
	sr.RemoteAddr = "192.0.2.1:49152"
	if r.URL.Scheme == "https" {
		sr.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: r.URL.Hostname()}
	}
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		sr.Body = io.NopCloser(bytes.NewReader(body))
		sr.ContentLength = int64(len(body))
	}

	rec := httptest.NewRecorder()
	aborted := serve(h, rec, sr)
	resp := rec.Result()
	resp.Request = r
	if aborted {
		// The handler cut the connection: deliver what it wrote, then the
		// error a client reading a closed connection would get.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(rec.Body.Bytes()), errReader{io.ErrUnexpectedEOF}))
	}
	return resp, nil
}

// serve runs h, reporting whether it aborted with http.ErrAbortHandler as
// a handler does to cut a connection short.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				aborted = true
				return
			}
			panic(v)
		}
	}()
	h.ServeHTTP(w, r)
	return false
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
