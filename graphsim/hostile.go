package graphsim

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Behaviour is one way a Hostile server answers.
type Behaviour int

const (
	// HostileEmpty answers a last page without rows, {"value":[]}: what
	// a foreign host answered when a redirect was followed.
	HostileEmpty Behaviour = iota
	// HostileRedirect answers 302 (or Status, if it is a 3xx) with
	// Location.
	HostileRedirect
	// HostileHugeBody answers 200 with a page of Size bytes whose one row
	// holds a string that runs almost to the end: valid JSON, if read to
	// the end. DeclareLength sends its Content-Length.
	HostileHugeBody
	// HostileGzipBomb is HostileHugeBody compressed, with
	// Content-Encoding: gzip: about a kilobyte on the wire per megabyte
	// inflated (one gzip member, compressed once, sent over and over).
	HostileGzipBomb
	// HostileSelfLink answers a page of Rows whose @odata.nextLink is the
	// request's own URL, or with NewLinks a new link on each request, so
	// that the chain never ends.
	HostileSelfLink
	// HostileError answers Status (default 500) with a Graph error body
	// whose message echoes the request's Authorization header, as a
	// careless or hostile server might.
	HostileError
	// HostileDeepRow answers a last page of Rows with one more row in the
	// middle, an object nested Depth levels deep.
	HostileDeepRow
	// HostileHTML200 answers 200 with an HTML page, as a proxy's login
	// page does.
	HostileHTML200
	// HostileSlowloris answers 200 and then trickles a byte of whitespace
	// every Interval (default 100ms) until the client goes away.
	HostileSlowloris
)

// Hostile is an http.Handler that answers every request as a broken or
// hostile Graph might, for tests of what the fetch client and the binary
// do then (issue 12). It records each request it receives, so that a test
// can assert which host saw which request and whether it carried a token.
// Set the fields before serving; it is safe for concurrent requests.
type Hostile struct {
	Behaviour Behaviour
	// Status overrides the status of HostileRedirect and HostileError.
	Status int
	// Location is HostileRedirect's target.
	Location string
	// Size is the inflated size of HostileHugeBody and HostileGzipBomb's
	// body; default 512 MiB.
	Size int64
	// DeclareLength makes HostileHugeBody send a Content-Length.
	DeclareLength bool
	// NewLinks makes HostileSelfLink hand out a new nextLink on each page.
	NewLinks bool
	// Rows are the rows of HostileSelfLink and HostileDeepRow pages;
	// default one row {"id":"hostile"}.
	Rows []json.RawMessage
	// Depth is HostileDeepRow's nesting; default 10,001, one beyond
	// encoding/json's limit.
	Depth int
	// Interval is HostileSlowloris's pace.
	Interval time.Duration

	mu       sync.Mutex
	requests []HostileRequest
}

// HostileRequest is what a Hostile server saw of one request.
type HostileRequest struct {
	Host string
	// URI is the request's path and query as sent.
	URI string
	// Authorization is the Authorization header, "" if none was sent.
	Authorization string
}

// Requests returns the requests received so far, in arrival order.
func (h *Hostile) Requests() []HostileRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HostileRequest(nil), h.requests...)
}

// ServeHTTP answers r as h.Behaviour says.
func (h *Hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests = append(h.requests, HostileRequest{Host: r.Host, URI: r.URL.RequestURI(), Authorization: r.Header.Get("Authorization")})
	n := len(h.requests)
	h.mu.Unlock()
	switch h.Behaviour {
	case HostileEmpty:
		writeJSON(w, `{"value":[]}`)
	case HostileRedirect:
		status := h.Status
		if status < 300 || status > 399 {
			status = http.StatusFound
		}
		if h.Location != "" {
			w.Header().Set("Location", h.Location)
		}
		w.WriteHeader(status)
	case HostileHugeBody:
		w.Header().Set("Content-Type", "application/json")
		if h.DeclareLength {
			w.Header().Set("Content-Length", strconv.FormatInt(h.size(), 10))
		}
		_ = writeHuge(w, h.size())
	case HostileGzipBomb:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_ = writeBomb(w, h.size())
	case HostileSelfLink:
		link := "http://" + r.Host + r.URL.RequestURI()
		if h.NewLinks {
			link = fmt.Sprintf("http://%s%s?$skiptoken=%d", r.Host, r.URL.Path, n)
		}
		l, _ := json.Marshal(link)
		writeJSON(w, `{"value":[`+h.rows(nil)+`],"@odata.nextLink":`+string(l)+`}`)
	case HostileError:
		status := h.Status
		if status < 400 {
			status = http.StatusInternalServerError
		}
		msg, _ := json.Marshal("could not serve the request with " + r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":{"code":"`+http.StatusText(status)+`","message":`+string(msg)+`}}`)
	case HostileDeepRow:
		depth := h.Depth
		if depth <= 0 {
			depth = 10001
		}
		deep := strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
		writeJSON(w, `{"value":[`+h.rows(json.RawMessage(deep))+`]}`)
	case HostileHTML200:
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><head><title>Sign in</title></head><body>proxy</body></html>")
	case HostileSlowloris:
		every := h.Interval
		if every <= 0 {
			every = 100 * time.Millisecond
		}
		w.Header().Set("Content-Type", "application/json")
		f, _ := w.(http.Flusher)
		for {
			if _, err := io.WriteString(w, " "); err != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(every):
			}
		}
	default:
		http.Error(w, "unknown behaviour", http.StatusInternalServerError)
	}
}

func (h *Hostile) size() int64 {
	if h.Size > 0 {
		return h.Size
	}
	return 512 << 20
}

// rows joins h.Rows with extra, if any, in the middle.
func (h *Hostile) rows(extra json.RawMessage) string {
	rows := h.Rows
	if len(rows) == 0 {
		rows = []json.RawMessage{json.RawMessage(`{"id":"hostile"}`)}
	}
	parts := make([]string, 0, len(rows)+1)
	for i, r := range rows {
		if extra != nil && i == len(rows)/2 {
			parts = append(parts, string(extra))
		}
		parts = append(parts, string(r))
	}
	return strings.Join(parts, ",")
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

// writeHuge writes a page of exactly size bytes (at least its frame) whose
// one row's string fills it, stopping at the first failed write (the
// client hung up).
func writeHuge(w io.Writer, size int64) error {
	const head, tail = `{"value":[{"id":"`, `"}]}`
	if _, err := io.WriteString(w, head); err != nil {
		return err
	}
	chunk := []byte(strings.Repeat("a", 32<<10))
	for left := size - int64(len(head)+len(tail)); left > 0; {
		n := min(left, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			return err
		}
		left -= n
	}
	_, err := io.WriteString(w, tail)
	return err
}

// bombChunk is 1 MiB of the huge row's string as one gzip member.
var bombChunk = sync.OnceValue(func() []byte { return gzipMember(strings.Repeat("a", 1<<20)) })

func gzipMember(s string) []byte {
	var b strings.Builder
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = io.WriteString(zw, s)
	_ = zw.Close()
	return []byte(b.String())
}

// writeBomb writes writeHuge's page of size bytes gzip-compressed, as
// concatenated gzip members (which gzip readers, Go's included, read as
// one stream), stopping at the first failed write.
func writeBomb(w io.Writer, size int64) error {
	const head, tail = `{"value":[{"id":"`, `"}]}`
	if _, err := w.Write(gzipMember(head)); err != nil {
		return err
	}
	left := size - int64(len(head)+len(tail))
	for ; left >= 1<<20; left -= 1 << 20 {
		if _, err := w.Write(bombChunk()); err != nil {
			return err
		}
	}
	_, err := w.Write(gzipMember(strings.Repeat("a", int(max(left, 0))) + tail))
	return err
}
