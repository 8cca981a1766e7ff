package fetch_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

// fuzzCap is the page cap of the fuzzed client: small, so that a body
// over it costs the fuzzer little and memory growth stands out.
const fuzzCap = 256 << 10

// hostileAnswer is one answer the fuzzed server gives to every request.
type hostileAnswer struct {
	status     int
	location   string
	encoding   string
	length     string // Content-Length, "" for none
	retryAfter string
	body       []byte // as sent, compressed if encoding says so
}

// FuzzHostileGraph guards DESIGN.md invariant 4, "the bearer token is sent
// only to the configured Graph host", and invariant 9, "every input is
// bounded". A server answers every request with a fuzzed status, Location
// (none, a foreign server, the same host, or fuzzed text), Content-Encoding,
// Content-Length, Retry-After and body (in which $F, $S, $L and $A stand
// for the foreign server's URL, a link on the configured host, the foreign
// server under another name, and the request's Authorization header;
// repeated to reach past the page cap). Whatever it answers: no request
// reaching the foreign server carries the token, no error text carries it,
// a read delivers pages or fails with an error (a non-200 answer is never
// data), allocation while reading stays under the page cap plus a
// constant, and Calls returns by its context's deadline.
func FuzzHostileGraph(f *testing.F) {
	foreign := &graphsim.Hostile{Behaviour: graphsim.HostileEmpty}
	fsrv := httptest.NewServer(foreign)
	f.Cleanup(fsrv.Close)
	fu, _ := url.Parse(fsrv.URL)

	var mu sync.Mutex
	var answer hostileAnswer
	var selfURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := answer
		mu.Unlock()
		body := a.body
		if bytes.Contains(body, []byte("$A")) {
			body = bytes.ReplaceAll(body, []byte("$A"), []byte(r.Header.Get("Authorization")))
		}
		h := w.Header()
		for k, v := range map[string]string{"Location": a.location, "Content-Encoding": a.encoding, "Content-Length": a.length, "Retry-After": a.retryAfter} {
			if v != "" {
				h.Set(k, v)
			}
		}
		h.Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(body)
	}))
	f.Cleanup(srv.Close)
	selfURL = srv.URL

	// status, location choice, location text, encoding choice, length
	// choice, Retry-After, body, repeat.
	f.Add(uint16(200), uint8(0), "", uint8(0), uint8(0), "", []byte(`{"value":[{"id":"a"}],"@odata.nextLink":"$F/next"}`), uint16(0))
	f.Add(uint16(200), uint8(0), "", uint8(0), uint8(1), "", []byte(`{"value":[{"id":"a"}],"@odata.nextLink":"$L/next"}`), uint16(0))
	f.Add(uint16(302), uint8(1), "", uint8(0), uint8(0), "", []byte(`{"value":[]}`), uint16(0))
	f.Add(uint16(307), uint8(2), "", uint8(0), uint8(0), "", []byte(``), uint16(0))
	f.Add(uint16(301), uint8(3), "http://u:p@127.0.0.1:1/x?sig=1", uint8(0), uint8(0), "", []byte(``), uint16(0))
	f.Add(uint16(200), uint8(0), "", uint8(1), uint8(0), "", []byte(`aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`), uint16(65535))
	f.Add(uint16(200), uint8(0), "", uint8(0), uint8(0), "", []byte(`                                `), uint16(65535))
	f.Add(uint16(200), uint8(0), "", uint8(0), uint8(2), "", []byte(`{"value":[]}`), uint16(0))
	f.Add(uint16(200), uint8(0), "", uint8(0), uint8(3), "", []byte(`{"value":[{"id":"a"}]}`), uint16(0))
	f.Add(uint16(200), uint8(0), "", uint8(2), uint8(0), "", []byte(`{"value":[]}`), uint16(0))
	f.Add(uint16(429), uint8(0), "", uint8(0), uint8(0), "0", []byte(`{"error":{"code":"TooManyRequests","message":"$A"}}`), uint16(0))
	f.Add(uint16(503), uint8(0), "", uint8(0), uint8(0), "86400", []byte(`{"error":{"code":"x","message":"token $A"}}`), uint16(0))
	f.Add(uint16(403), uint8(0), "", uint8(0), uint8(0), "", []byte(`<html><title>$A</title></html>`), uint16(0))
	f.Add(uint16(200), uint8(0), "", uint8(0), uint8(0), "", []byte(`{"value":[],"@odata.nextLink":"$S"}`), uint16(0))
	f.Add(uint16(200), uint8(0), "", uint8(0), uint8(0), "", []byte(`{"value":[{"a":[[[[[[[[[[1]]]]]]]]]]}]}`), uint16(0))

	f.Fuzz(func(t *testing.T, status uint16, locSel uint8, locText string, encSel uint8, lenSel uint8, retryAfter string, body []byte, repeat uint16) {
		a := hostileAnswer{status: 200 + int(status)%400, retryAfter: retryAfter}
		if !validHeader(retryAfter) || !validHeader(locText) {
			return // net/http refuses to send them
		}
		switch locSel % 4 {
		case 1:
			a.location = fsrv.URL + "/v1.0/x"
		case 2:
			a.location = selfURL + "/v1.0/elsewhere"
		case 3:
			a.location = locText
		}
		body = bytes.ReplaceAll(body, []byte("$F"), []byte(fsrv.URL))
		body = bytes.ReplaceAll(body, []byte("$L"), []byte("http://localhost:"+fu.Port()))
		body = bytes.ReplaceAll(body, []byte("$S"), []byte(selfURL+"/v1.0/next"))
		if n := 1 + int(repeat)%1024; n > 1 && len(body) > 0 {
			body = bytes.Repeat(body, min(n, (32<<20)/len(body)+1))
		}
		switch encSel % 4 {
		case 1:
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
			_, _ = zw.Write(body)
			_ = zw.Close()
			a.encoding, body = "gzip", b.Bytes()
		case 2:
			a.encoding = "gzip" // and a body that is not
		case 3:
			a.encoding = "br"
		}
		switch lenSel % 4 {
		case 1:
			a.length = strconv.Itoa(len(body))
		case 2:
			a.length = strconv.Itoa(4 * fuzzCap)
		case 3:
			if len(body) > 0 {
				a.length = strconv.Itoa(len(body) - 1)
			}
		}
		a.body = body
		mu.Lock()
		answer = a
		mu.Unlock()

		c, err := fetch.New(fetch.Config{
			BaseURL:         selfURL,
			Tokens:          fetch.StaticToken(hostileToken),
			MaxAttempts:     3,
			BaseBackoff:     time.Millisecond,
			MaxThrottleWait: 50 * time.Millisecond,
			MaxPageBytes:    fuzzCap,
			MaxPages:        20,
			Sleep:           func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		})
		if err != nil {
			t.Fatal(err)
		}
		const deadline = 5 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		before := len(foreign.Requests())
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		start := time.Now()
		st, err := c.Calls(ctx, fetch.DirectRoutingCalls, h0, h1, func(fetch.Page) error { return nil })
		took := time.Since(start)
		runtime.ReadMemStats(&ms1)

		for _, r := range foreign.Requests()[before:] {
			if r.Authorization != "" {
				t.Fatalf("the foreign host received the token: %+v", r)
			}
		}
		if err != nil && strings.Contains(err.Error(), hostileToken) {
			t.Fatalf("error carries the token: %v", err)
		}
		if err == nil && (a.status != http.StatusOK || st.Pages == 0) {
			t.Fatalf("status %d read as %d pages without an error", a.status, st.Pages)
		}
		if took > deadline+time.Second {
			t.Fatalf("Calls took %s past a %s deadline", took, deadline)
		}
		// Each try may hold a page of up to the cap while growing it, and
		// the pages a read delivers are reused; the rest is per-request
		// overhead, a few tens of kilobytes.
		if grew := ms1.TotalAlloc - ms0.TotalAlloc; grew > uint64(4*fuzzCap*3+int(st.Requests)*(256<<10)+(4<<20)) {
			t.Fatalf("reading allocated %d bytes in %d requests for a page cap of %d", grew, st.Requests, fuzzCap)
		}
	})
}

// validHeader reports whether net/http sends v as a header value.
func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
