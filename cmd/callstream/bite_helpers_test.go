package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/schemas"
)

// gateMode is what a windowGate does with the requests it holds back.
type gateMode int32

const (
	gatePass gateMode = iota // serve them
	gateHold                 // park them until the mode changes or the client gives up
	gateFail                 // answer 500 with a Graph error body
)

// windowGate stands between the binary and the simulator and controls the
// requests for one window of the pipeline's lane (direct-routing unless
// pipeline.only picked another source): its first page too when whole is
// set, else only the pages after the first ($skip). Holding page 2 of a
// window read page by page (BACKFILL_CONCURRENCY=1) leaves the process with
// page 1's rows produced and the window unfinished: a point in the middle
// of a window that a test can reach deterministically.
type windowGate struct {
	next   http.Handler
	target string
	whole  bool

	mu      sync.Mutex
	mode    gateMode
	changed chan struct{} // closed and replaced on every mode change

	firstPages atomic.Int32 // requests for the window's first page seen
}

// newWindowGate serves p's simulator through a gate on the window starting
// at from, initially in mode, and points the pipeline's GRAPH_BASE_URL at it.
func newWindowGate(t *testing.T, p *pipeline, from time.Time, whole bool, mode gateMode) *windowGate {
	t.Helper()
	g := &windowGate{next: p.sim, target: p.lane.src.Function + "(fromDateTime=" + from.UTC().Format(time.RFC3339) + ",",
		whole: whole, mode: mode, changed: make(chan struct{})}
	graphURL := testkit.Serve(t, g)
	t.Cleanup(func() { g.set(gatePass) }) // never leave requests parked
	p.env["GRAPH_BASE_URL"] = graphURL
	return g
}

func (g *windowGate) set(m gateMode) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mode != m {
		g.mode = m
		close(g.changed)
		g.changed = make(chan struct{})
	}
}

func (g *windowGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, g.target) {
		first := !strings.Contains(r.URL.RawQuery, "skip")
		if first {
			g.firstPages.Add(1)
		}
		for g.whole || !first {
			g.mu.Lock()
			mode, changed := g.mode, g.changed
			g.mu.Unlock()
			if mode == gatePass {
				break
			}
			if mode == gateFail {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"error":{"code":"InternalServerError","message":"the gate fails this page"}}`))
				return
			}
			select {
			case <-changed:
			case <-r.Context().Done():
				return
			}
		}
	}
	g.next.ServeHTTP(w, r)
}

// waitUntil polls cond until it holds, failing the test after a generous
// deadline or when the process ends first (done, when not nil).
func waitUntil(t *testing.T, what string, done <-chan struct{}, output fmt.Stringer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		select {
		case <-done:
			t.Fatalf("callstream exited before %s; output:\n%s", what, output)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 2 minutes; output:\n%s", what, output)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// liveWatermark reads the watermark while the binary runs, without
// touching the store the way a second writer would: the file store's file
// is read as JSON (checkpoint.NewFileStore would sweep the binary's
// temporary files), the Kafka store through one client read_committed.
// Before any checkpoint it returns the pipeline's start.
func (p *pipeline) liveWatermark(t *testing.T) func() time.Time {
	t.Helper()
	if p.env["CHECKPOINT_STORE"] == "file" {
		return func() time.Time {
			b, err := os.ReadFile(p.cpPath)
			if errors.Is(err, os.ErrNotExist) {
				return p.start
			}
			if err != nil {
				t.Fatal(err)
			}
			var f struct {
				Sources map[string]struct {
					Watermark *time.Time `json:"watermark"`
				} `json:"sources"`
			}
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("checkpoint file: %v", err)
			}
			if wm := f.Sources[p.lane.src.Name].Watermark; wm != nil {
				return *wm
			}
			return p.start
		}
	}
	store := checkpoint.NewKafkaStore(p.kafka.Client(t), p.topic+".checkpoint", p.lane.topic)
	return func() time.Time {
		st, err := store.Load(context.Background(), p.lane.src.Name)
		if err != nil || st.Watermark.IsZero() {
			return p.start // the checkpoint topic may not exist yet
		}
		return st.Watermark
	}
}

// offsets are the data topic's end offsets: high watermarks (every record
// written, committed or not) and last stable offsets (what read_committed
// readers may see).
type offsets struct{ hwm, lso int64 }

// open reports whether some partition holds records of a transaction not
// yet committed or aborted.
func (o offsets) open() bool { return o.hwm > o.lso }

func (p *pipeline) offsets(t *testing.T, adm *kadm.Client) offsets {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, p.lane.topic)
	if err != nil {
		t.Fatal(err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, p.lane.topic)
	if err != nil {
		t.Fatal(err)
	}
	var o offsets
	ends.Each(func(l kadm.ListedOffset) { o.hwm += l.Offset })
	stable.Each(func(l kadm.ListedOffset) { o.lso += l.Offset })
	return o
}

// inFlight reports whether rows of an unfinished window are already on the
// topic: an open transaction (Kafka store), or more records than the rows
// below the checkpoint's watermark (file store; valid while nothing was
// duplicated before).
func (p *pipeline) inFlight(t *testing.T, adm *kadm.Client, watermark func() time.Time) bool {
	t.Helper()
	o := p.offsets(t, adm)
	if p.env["CHECKPOINT_STORE"] == "file" {
		n, err := testkit.LogCount(p.sim, p.lane.src, p.start, watermark())
		if err != nil {
			t.Fatal(err)
		}
		return o.hwm > int64(n)
	}
	return o.open()
}

// topicIDs reads the lane's topic, read_committed or not, and counts each
// row id (the source's IDProperty).
func (p *pipeline) topicIDs(t *testing.T, committed bool) map[string]int {
	t.Helper()
	codec, err := schemas.For(p.lane.src.Name, p.lane.version)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, rec := range p.kafka.ReadAll(t, p.lane.topic, committed) {
		var v map[string]any
		if err := avro.Unmarshal(codec.Schema(), rec.Value[5:], &v); err != nil {
			t.Fatalf("offset %d: %v", rec.Offset, err)
		}
		id, _ := v[p.lane.src.IDProperty].(string)
		ids[id]++
	}
	return ids
}

// belowWatermarkPublished checks invariant 1 after a stop: every simulated
// row below the watermark is on the topic.
func (p *pipeline) belowWatermarkPublished(t *testing.T, watermark time.Time) {
	t.Helper()
	onTopic := p.topicIDs(t, true)
	for _, r := range p.truth(t, p.lane, p.start, watermark) {
		if onTopic[r.ID] == 0 {
			t.Fatalf("row %s below the watermark %s is not on the topic", r.ID, watermark)
		}
	}
}
