package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/walk"
)

// injectRows serves sim, adding rows at the front of the first page of the
// Direct Routing window that starts at from (and of every re-read of it):
// hostile rows the simulator does not make, beside its ordinary ones.
func injectRows(t *testing.T, sim http.Handler, from time.Time, rows [][]byte) *httptest.Server {
	t.Helper()
	target := "getDirectRoutingCalls(fromDateTime=" + from.UTC().Format(time.RFC3339) + ","
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Accept-Encoding") // a plain body, to splice into
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		const open = `"value":[`
		if rec.Code == http.StatusOK && strings.Contains(r.URL.Path, target) && !strings.Contains(r.URL.RawQuery, "skip") {
			if i := bytes.Index(body, []byte(open)); i >= 0 {
				i += len(open)
				extra := bytes.Join(rows, []byte(","))
				if body[i] != ']' {
					extra = append(extra, ',')
				}
				body = append(body[:i:i], append(extra, body[i:]...)...)
			} else {
				t.Errorf("no %s in the simulator's page", open)
			}
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBinaryHostileRowsReachTheDeadLetterTopic runs the built binary over a
// Graph whose first page also carries two rows whose ids differ only in
// invalid UTF-8 ("dup-\xff", "dup-\xfe"), a row with a 10 MB string and
// a row nested 20,000 deep (beyond the JSON scanner's limit).
// Invariant 5 (nothing is dropped silently): both UTF-8 rows are in the
// dead-letter topic with a reason naming the id field — neither is
// published, neither dropped as the other's duplicate — the 10 MB row is
// there truncated under the batch cap with its size and sha256, the deep
// row is there whole with the depth named — a bad row, not a page fetched
// again for ever (issue 12, item 7) — and the walk goes on: every other row is published exactly once.
func TestBinaryHostileRowsReachTheDeadLetterTopic(t *testing.T) {
	from := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	sc := graphsim.Config{Seed: 12, Start: from, End: from.Add(6 * time.Hour), RowsPerHour: 200}
	p := newPipeline(t, sc)
	row := func(id, extra string) []byte {
		return []byte(`{"id":"` + id + `","correlationId":"c-` + strconv.Itoa(len(id)) + `","startDateTime":"2026-07-01T00:10:00Z"` + extra + `}`)
	}
	utf1, utf2 := row("dup-\xff", ""), row("dup-\xfe", "")
	huge := row("huge-row", `,"userDisplayName":"`+strings.Repeat("a", 10<<20)+`"`)
	deep := row("deep-row", `,"nested":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000))
	srv := injectRows(t, p.sim, from, [][]byte{utf1, utf2, huge, deep})
	dlq := p.kafka.Topic(t, 1, nil)
	p.env["GRAPH_BASE_URL"] = srv.URL
	p.env["KAFKA_DLQ_TOPIC"] = dlq
	proc := start(t, p.env, "run", "--once")
	if code := proc.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}

	codec, err := schemas.For("direct-routing", schemas.VersionV1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range p.sim.Rows(p.start, p.end) {
		want[r.ID] = true
	}
	got := map[string]int{}
	for _, rec := range p.kafka.ReadAll(t, p.topic, true) {
		var v map[string]any
		if err := avro.Unmarshal(codec.Schema(), rec.Value[5:], &v); err != nil {
			t.Fatalf("decode: %v", err)
		}
		id, _ := v["id"].(string)
		if !want[id] {
			t.Fatalf("record %q is not a simulated row: a hostile row was published", id)
		}
		got[id]++
	}
	for id := range want {
		if got[id] != 1 {
			t.Fatalf("row %s is on the topic %d times, want once", id, got[id])
		}
	}

	dead := p.kafka.ReadAll(t, dlq, true)
	if len(dead) != 4 {
		t.Fatalf("%d dead letters, want 4 (two invalid UTF-8 ids, one huge row, one deep row)", len(dead))
	}
	seen := map[string]bool{}
	for _, rec := range dead {
		h := headers(rec)
		switch {
		case bytes.Equal(rec.Value, utf1) || bytes.Equal(rec.Value, utf2):
			seen[string(rec.Value)] = true
			if h[walk.HeaderDLQField] != "id" || !strings.Contains(h[walk.HeaderDLQReason], `"id"`) || !strings.Contains(h[walk.HeaderDLQReason], "UTF-8") {
				t.Errorf("invalid UTF-8 dead letter headers %v, want the field id and the problem named", h)
			}
		case bytes.Equal(rec.Value, deep):
			seen["deep"] = true
			if !strings.Contains(h[walk.HeaderDLQReason], "depth") {
				t.Errorf("deep row's dead letter headers %v, want the depth named", h)
			}
		case bytes.HasPrefix(huge, rec.Value) && len(rec.Value) > 0:
			seen["huge"] = true
			sum := sha256.Sum256(huge)
			if h[walk.HeaderDLQTruncated] != "true" || h[walk.HeaderDLQSize] != strconv.Itoa(len(huge)) ||
				h[walk.HeaderDLQSHA256] != hex.EncodeToString(sum[:]) || !strings.Contains(h[walk.HeaderDLQReason], "KAFKA_BATCH_MAX_BYTES") {
				t.Errorf("huge row's dead letter headers %v", h)
			}
			if len(rec.Value) >= 64<<10 {
				t.Errorf("huge row's dead letter is %d bytes, over the 64 KiB batch cap", len(rec.Value))
			}
		default:
			t.Errorf("unexpected dead letter of %d bytes: %.80q", len(rec.Value), rec.Value)
		}
		if h["callstream.source"] == "" || h["callstream.window"] == "" {
			t.Errorf("dead letter without source/window headers: %v", h)
		}
	}
	if len(seen) != 4 {
		t.Fatalf("dead letters found for %d of the 4 hostile rows", len(seen))
	}
	if got := caughtUp(t, proc.Out.String(), "direct-routing")["dead_lettered"]; got != float64(len(dead)) {
		t.Errorf("the run counts %v dead letters, the dead-letter topic holds %d", got, len(dead))
	}
	if strings.Contains(proc.Out.String(), "aaaaaaaaaaaaaaaa") {
		t.Errorf("the log repeats the huge row's value")
	}
}
