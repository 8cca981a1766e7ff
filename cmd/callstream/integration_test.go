package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/walk"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// callstreamBinary builds the real callstream command once per test run.
func callstreamBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "callstream-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "callstream")
		// go test puts its own toolchain's bin first on PATH, so "go" is
		// the go running this test.
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// env is a process environment for the binary.
type env map[string]string

func (e env) list() []string {
	l := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range e {
		l = append(l, k+"="+v)
	}
	return l
}

// proc is a running callstream process.
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
	err    error
}

func start(t *testing.T, e env, args ...string) *proc {
	t.Helper()
	p := &proc{stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(callstreamBinary(t), args...)
	p.cmd.Env = e.list()
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done })
	return p
}

func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("callstream did not finish within %s; output:\n%s", timeout, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

type pipeline struct {
	sim      *graphsim.Server
	kafka    *kafkatest.Cluster
	topic    string
	registry *srfake.Registry
	env      env
	start    time.Time
	end      time.Time
	cpPath   string
}

func newPipeline(t *testing.T, sc graphsim.Config) *pipeline {
	t.Helper()
	sc.Token = "s3cret-token"
	sim, err := graphsim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	srv.Config.ErrorLog = nil
	t.Cleanup(srv.Close)
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 3, nil)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cp := filepath.Join(t.TempDir(), "checkpoint.json")
	return &pipeline{
		sim: sim, kafka: kc, topic: topic, registry: reg, start: sc.Start, end: sc.End, cpPath: cp,
		env: env{
			"GRAPH_BASE_URL":      srv.URL,
			"GRAPH_ACCESS_TOKEN":  sc.Token,
			"KAFKA_BROKERS":       strings.Join(kc.Brokers, ","),
			"KAFKA_TOPIC":         topic,
			"SCHEMA_REGISTRY_URL": reg.URL(),
			"CHECKPOINT_PATH":     cp,
			"START_TIME":          sc.Start.Format(time.RFC3339),
			"END_TIME":            sc.End.Format(time.RFC3339),
			"WINDOW":              "1h",
			"SETTLE_DELAY":        "0s",
			"LOG_FORMAT":          "json",

			// The simulator enforces no limits here; pacing to Graph's
			// would only make the tests slow.
			"GRAPH_BUDGET_PER_MINUTE": "0",
		},
	}
}

// check reads the topic back and compares every record with the
// simulator: decoded with the .avsc file through a generic decoder (not
// the package's own row type), keyed by correlationId, Confluent-framed.
// It returns the number of duplicate records.
func (p *pipeline) check(t *testing.T) (dups int) {
	t.Helper()
	avsc, err := os.ReadFile("../../schemas/DirectRoutingLogRow.avsc")
	if err != nil {
		t.Fatal(err)
	}
	schema := avro.MustParse(string(avsc))
	want := map[string]graphsim.Row{}
	for _, r := range p.sim.Rows(p.start, p.end) {
		if r.Malformed == graphsim.MalformNone { // a malformed row is dead-lettered, never published
			want[r.ID] = r
		}
	}
	rc, err := sr.NewClient(sr.URLs(p.registry.URL()))
	if err != nil {
		t.Fatal(err)
	}
	registered, err := rc.SchemaByVersion(context.Background(), p.topic+"-value", -1)
	if err != nil {
		t.Fatalf("no schema under %s-value: %v", p.topic, err)
	}
	if registered.Schema.Schema != string(avsc) {
		t.Fatalf("the registered schema is not schemas/DirectRoutingLogRow.avsc")
	}
	seen := map[string]int{}
	for _, rec := range p.kafka.ReadAll(t, p.topic, true) {
		if len(rec.Value) < 5 || rec.Value[0] != 0 {
			t.Fatalf("offset %d: value lacks the Confluent header", rec.Offset)
		}
		if id := binary.BigEndian.Uint32(rec.Value[1:5]); int(id) != registered.ID {
			t.Fatalf("offset %d: schema id %d, want %d (%s-value)", rec.Offset, id, registered.ID, p.topic)
		}
		var got map[string]any
		if err := avro.Unmarshal(schema, rec.Value[5:], &got); err != nil {
			t.Fatalf("offset %d: %v", rec.Offset, err)
		}
		rowID, _ := got["id"].(string)
		sr, ok := want[rowID]
		if !ok {
			t.Fatalf("record %q is not a simulated row", rowID)
		}
		if string(rec.Key) != sr.CorrelationID {
			t.Fatalf("record %s keyed %q, want %q", rowID, rec.Key, sr.CorrelationID)
		}
		seen[rowID]++
		if seen[rowID] == 1 {
			compareRow(t, sr.JSON, got)
		}
	}
	lost := 0
	for id := range want {
		switch n := seen[id]; {
		case n == 0:
			lost++
		case n > 1:
			dups += n - 1
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d simulated rows are not on the topic", lost, len(want))
	}
	return dups
}

// compareRow checks a decoded record against the simulator's JSON, field
// by field, with Graph's conventions applied independently of the schemas
// package: timestamps at millisecond precision in UTC, the year-1 sentinel
// as null, unknown properties as raw JSON text.
func compareRow(t *testing.T, raw []byte, got map[string]any) {
	t.Helper()
	var src map[string]json.RawMessage
	if err := json.Unmarshal(raw, &src); err != nil {
		t.Fatal(err)
	}
	timeFields := map[string]bool{"startDateTime": true, "inviteDateTime": true, "failureDateTime": true, "endDateTime": true}
	extra := map[string]string{}
	for k, v := range src {
		g, known := got[k]
		if !known {
			extra[k] = string(v)
			continue
		}
		if string(v) == "null" {
			if g != nil {
				t.Fatalf("%s: got %v, want null", k, g)
			}
			continue
		}
		var want any
		switch {
		case timeFields[k]:
			var s string
			_ = json.Unmarshal(v, &s)
			ts, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatalf("%s: simulator sent %s: %v", k, s, err)
			}
			if ts.Year() == 1 {
				want = nil
			} else {
				want = ts.UTC().Truncate(time.Millisecond)
			}
			if gt, ok := g.(time.Time); ok {
				g = gt.UTC()
			}
		case k == "duration" || k == "finalSipCode" || k == "callEndSubReason":
			var n int
			_ = json.Unmarshal(v, &n)
			want = n
		default:
			_ = json.Unmarshal(v, &want)
		}
		if fmt.Sprint(g) != fmt.Sprint(want) {
			t.Fatalf("%s: got %v (%T), want %v", k, g, g, want)
		}
	}
	// A generic decoder names the union branch it took.
	union, _ := got["additionalProperties"].(map[string]any)
	ap, _ := union["map"].(map[string]any)
	if len(ap) != len(extra) {
		t.Fatalf("additionalProperties %v, want %v", ap, extra)
	}
	for k, v := range extra {
		var a, b any
		_ = json.Unmarshal([]byte(v), &a)
		s, _ := ap[k].(string)
		if err := json.Unmarshal([]byte(s), &b); err != nil || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("additionalProperties[%s] = %q, want %s", k, s, v)
		}
	}
}

// watermark reads the checkpoint the binary wrote, from the file or the
// Kafka store as configured.
func (p *pipeline) watermark(t *testing.T) time.Time {
	t.Helper()
	var store checkpoint.Loader
	if p.env["CHECKPOINT_STORE"] == "file" {
		fs, err := checkpoint.NewFileStore(p.cpPath)
		if err != nil {
			t.Fatal(err)
		}
		store = fs
	} else {
		store = checkpoint.NewKafkaStore(p.kafka.Client(t), p.topic+".checkpoint", p.topic)
	}
	st, err := store.Load(context.Background(), "direct-routing")
	if err != nil {
		t.Fatalf("load checkpoint: %v", err)
	}
	return st.Watermark
}

func faultyGraph(start time.Time, days int) graphsim.Config {
	return graphsim.Config{
		Seed: 42, Start: start, End: start.Add(time.Duration(days) * 24 * time.Hour),
		RowsPerHour: 1100, PageOverlap: 3, ExtraProperty: true,
		Faults: []graphsim.Fault{
			{Every: 17, Offset: 3, Status: http.StatusTooManyRequests, RetryAfter: "0"},
			{Every: 23, Offset: 5, Status: http.StatusServiceUnavailable, RetryAfter: "0"},
			{Every: 31, Offset: 7, Truncate: true},
		},
	}
}

func TestBinaryDeliversEveryRowExactlyOnce(t *testing.T) {
	p := newPipeline(t, faultyGraph(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 3))
	proc := start(t, p.env, "run", "--once")
	if code := proc.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.stderr)
	}
	if dups := p.check(t); dups != 0 {
		t.Fatalf("%d duplicate records without any crash", dups)
	}
	st := p.sim.Stats()
	if st.ByStatus[429] == 0 || st.ByStatus[503] == 0 || st.Truncated == 0 {
		t.Fatalf("faults not exercised: %+v", st)
	}
	if wm := p.watermark(t); !wm.Equal(p.end) {
		t.Fatalf("checkpoint watermark %s, want %s", wm, p.end)
	}
	// The token must not leak into logs.
	if strings.Contains(proc.stderr.String(), "s3cret-token") {
		t.Fatal("the bearer token appears in the logs")
	}
}

// TestBinarySurvivesSIGKILL guards README "What is guaranteed" (nothing
// lost: a kill -9 at any moment leads to the window being read again;
// nothing doubled with the Kafka checkpoint; the file checkpoint may
// republish the window in flight) and DESIGN.md invariant 1. The first of
// the 20 kills lands deterministically in the middle of a window, with
// rows of it already on the topic, so the test could fail: with the Kafka
// store those rows stay in the log aborted (read_uncommitted sees more
// records than read_committed, which shows every row once); with the file
// store they are published again after the restart (duplicates > 0).
func TestBinarySurvivesSIGKILL(t *testing.T) {
	for _, store := range []string{"kafka", "file"} {
		t.Run(store, func(t *testing.T) {
			p := newPipeline(t, faultyGraph(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 3))
			p.env["CHECKPOINT_STORE"] = store
			const kills = 20
			// The window after the history planner's one-hour probe: a
			// large history window (eight hours, nine pages), killed with
			// its first page's rows in Kafka.
			mid := p.start.Add(time.Hour)
			g := newWindowGate(t, p, mid, false, gateHold)
			first := p.stopMidWindow(t, g, mid, syscall.SIGKILL)
			<-first.done
			g.set(gatePass)
			dups := p.killAndRestart(t, kills-1, 3*24*2)
			if wm := p.watermark(t); !wm.Equal(p.end) {
				t.Fatalf("checkpoint watermark %s, want %s", wm, p.end)
			}
			switch store {
			case "kafka":
				// Rows and checkpoint commit together: a kill loses the
				// open transaction whole, and nothing is doubled.
				if dups != 0 {
					t.Fatalf("%d duplicates with the transactional Kafka checkpoint", dups)
				}
				// ... though the killed transactions' rows are in the log.
				all, committed := len(p.kafka.ReadAll(t, p.topic, false)), len(p.kafka.ReadAll(t, p.topic, true))
				if all <= committed {
					t.Fatalf("read_uncommitted sees %d records, read_committed %d: no aborted record, so the kills tested nothing", all, committed)
				}
				t.Logf("%d aborted records hidden from read_committed", all-committed)
			case "file":
				// Duplicates can only come from the window in flight at
				// each kill — a history window of up to
				// HISTORY_WINDOW_PAGES pages — and the first kill left one.
				if max := kills * (walk.DefaultHistoryPages + 1) * 1000; dups > max || dups == 0 {
					t.Fatalf("%d duplicates after %d kills, want at least one (the first kill was mid-window) and at most what the windows in flight could hold (%d)", dups, kills, max)
				}
			}
			t.Logf("%s checkpoint, after %d SIGKILLs: 0 lost, %d duplicate records", store, kills, dups)
		})
	}
}

// killAndRestart starts the walk, SIGKILLs it after a random number of
// further pages, kills times, then lets a last run finish, and checks the
// topic. It returns the number of duplicate records.
func (p *pipeline) killAndRestart(t *testing.T, kills, totalPages int) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range kills {
		target := p.sim.Stats().Pages + 2 + rng.IntN(max(totalPages/(kills+1), 1))
		proc := start(t, p.env, "run", "--once")
		deadline := time.Now().Add(2 * time.Minute)
		for p.sim.Stats().Pages < target {
			select {
			case <-proc.done:
				t.Fatalf("kill %d: the walk ended before the kill; output:\n%s", i, proc.stderr)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: no progress; output:\n%s", i, proc.stderr)
			}
			time.Sleep(time.Millisecond)
		}
		if err := proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-proc.done
	}
	proc := start(t, p.env, "run", "--once")
	if code := proc.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d after restart; output:\n%s", code, proc.stderr)
	}
	return p.check(t)
}

// TestBinaryFencedInstanceStops guards README "What is guaranteed" (a
// second instance with the same transactional id fences the first, which
// exits 3; nothing it wrote after that is visible) and DESIGN.md invariant
// 8. The older instance is held deterministically in the middle of a window
// with rows of it in an open transaction when the newer one starts, so the
// fencing has something to hide: read_uncommitted sees those rows twice,
// read_committed once.
func TestBinaryFencedInstanceStops(t *testing.T) {
	p := newPipeline(t, faultyGraph(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), 2))
	mid := p.start.Add(time.Hour) // the first history window after the planner's probe
	g := newWindowGate(t, p, mid, false, gateHold)
	adm := kadm.NewClient(p.kafka.Client(t))
	wm := p.liveWatermark(t)
	older := launch(t, with(p.env, env{"BACKFILL_CONCURRENCY": "1"}), nil, "run", "--once")
	waitUntil(t, "the older instance held in the window at "+mid.Format(time.RFC3339)+" with an open transaction", older.done, older.out,
		func() bool { return wm().Equal(mid) && p.offsets(t, adm).open() })
	// Same environment, so the same transactional id: the newer instance
	// fences the older one when it starts, before it asks Graph for the
	// window at mid; only then may the older one go on.
	newer := launch(t, p.env, nil, "run", "--once")
	waitUntil(t, "the newer instance asked for the window at "+mid.Format(time.RFC3339), newer.done, newer.out,
		func() bool { return g.firstPages.Load() >= 2 })
	g.set(gatePass)
	if code := older.wait(t, 2*time.Minute); code != exitFenced {
		t.Fatalf("older instance exited %d, want %d (fenced); output:\n%s", code, exitFenced, older.out)
	}
	if !strings.Contains(older.out.String(), "fenced") {
		t.Fatalf("the older instance does not say it was fenced:\n%s", older.out)
	}
	if code := newer.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("newer instance exited %d; output:\n%s", code, newer.out)
	}
	// Whatever the older instance wrote after it was fenced was aborted:
	// read_committed readers see every row exactly once ...
	if dups := p.check(t); dups != 0 {
		t.Fatalf("%d duplicates: writes of the fenced instance became visible", dups)
	}
	if wm := p.watermark(t); !wm.Equal(p.end) {
		t.Fatalf("checkpoint watermark %s, want %s", wm, p.end)
	}
	// ... while its aborted rows of the window at mid are still in the log.
	all := p.topicIDs(t, false)
	twice := 0
	for _, r := range p.sim.Rows(mid, mid.Add(time.Hour)) {
		if all[r.ID] > 1 {
			twice++
		}
	}
	if twice == 0 {
		t.Fatal("read_uncommitted shows no row of the window at mid twice: the fenced instance had nothing in flight, the test proved nothing")
	}
	t.Logf("%d rows of the fenced instance's open transaction hidden from read_committed", twice)
}

// TestBinarySIGTERMStopsCleanly guards README "What is guaranteed /
// SIGTERM" (finishes or abandons the window in flight, exits 0; an
// abandoned window is read again) and DESIGN.md invariants 1 and 6, with
// both stores. SIGTERM arrives deterministically in the middle of a window
// — page 1 of the window at 01:00 (the history window after the planner's
// probe) on the topic, page 2 held back — so the watermark must lie
// strictly inside the range, at 01:00; every row below
// it is on the topic; the Kafka store leaves the in-flight rows aborted
// (read_uncommitted sees them, read_committed does not) and the file store
// leaves them published and remembers their ids; a restart then
// completes the walk with nothing lost and nothing doubled.
func TestBinarySIGTERMStopsCleanly(t *testing.T) {
	for _, store := range []string{"kafka", "file"} {
		t.Run(store, func(t *testing.T) {
			p := newPipeline(t, faultyGraph(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), 1))
			p.env["CHECKPOINT_STORE"] = store
			mid := p.start.Add(time.Hour)
			g := newWindowGate(t, p, mid, false, gateHold)
			proc := p.stopMidWindow(t, g, mid, syscall.SIGTERM)
			if code := proc.wait(t, time.Minute); code != 0 {
				t.Fatalf("exit %d after SIGTERM, want 0; output:\n%s", code, proc.out)
			}
			wm := p.watermark(t)
			if !wm.Equal(mid) || !wm.After(p.start) || !wm.Before(p.end) {
				t.Fatalf("watermark %s after SIGTERM in the window at %s, want exactly its start (strictly inside [%s, %s))", wm, mid, p.start, p.end)
			}
			// The checkpoint never runs ahead of Kafka: every row below the
			// watermark is on the topic.
			p.belowWatermarkPublished(t, wm)
			inFlight := p.sim.Rows(mid, mid.Add(time.Hour))
			committed, all := p.topicIDs(t, true), p.topicIDs(t, false)
			seen := 0
			for _, r := range inFlight {
				if all[r.ID] > 0 {
					seen++
				}
				if store == "kafka" && committed[r.ID] > 0 {
					t.Fatalf("row %s of the abandoned window is visible read_committed", r.ID)
				}
			}
			if seen == 0 {
				t.Fatalf("no row of the window in flight reached the topic: the stop was not mid-window")
			}

			// A restart reads the abandoned window again: nothing lost.
			g.set(gatePass)
			again := start(t, p.env, "run", "--once")
			if code := again.wait(t, 5*time.Minute); code != 0 {
				t.Fatalf("exit %d; output:\n%s", code, again.stderr)
			}
			// The file store remembers the acknowledged ids of the
			// abandoned window on a clean stop (walk's partial read), so
			// neither store doubles a row here.
			if dups := p.check(t); dups != 0 {
				t.Fatalf("%d duplicates after a clean stop with the %s checkpoint", dups, store)
			}
			t.Logf("%s: %d rows of the window in flight were on the topic at the stop", store, seen)
		})
	}
}

// stopMidWindow runs the walk page by page (BACKFILL_CONCURRENCY=1) with
// page 2 of the window at mid held by g, waits until every window before it
// is checkpointed and rows of its first page are on the topic, and sends
// sig. The process is stopped at that point in the middle of a window.
func (p *pipeline) stopMidWindow(t *testing.T, g *windowGate, mid time.Time, sig syscall.Signal) *liveProc {
	t.Helper()
	adm := kadm.NewClient(p.kafka.Client(t))
	wm := p.liveWatermark(t)
	proc := launch(t, with(p.env, env{"BACKFILL_CONCURRENCY": "1"}), nil, "run", "--once")
	waitUntil(t, "the walk held in the window at "+mid.Format(time.RFC3339)+" with rows of it on the topic", proc.done, proc.out,
		func() bool { return wm().Equal(mid) && p.inFlight(t, adm, wm) })
	if err := proc.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return proc
}

func TestBinaryBadConfigExits2WithEveryProblem(t *testing.T) {
	proc := start(t, env{
		"GRAPH_CLOUD":       "china",
		"GRAPH_API_VERSION": "v2",
		"WINDOW":            "soon",
		"START_TIME":        "yesterday",
		"RESCAN_AFTER":      "1h,-5m",
		"CHECKPOINT_STORE":  "s3",
	}, "run", "--once")
	if code := proc.wait(t, 30*time.Second); code != 2 {
		t.Fatalf("exit %d, want 2; output:\n%s", code, proc.stderr)
	}
	out := proc.stderr.String()
	for _, name := range []string{"GRAPH_CLOUD", "GRAPH_API_VERSION", "WINDOW", "START_TIME", "RESCAN_AFTER", "CHECKPOINT_STORE", "KAFKA_BROKERS"} {
		if !strings.Contains(out, name) {
			t.Errorf("the error does not name %s:\n%s", name, out)
		}
	}
}
