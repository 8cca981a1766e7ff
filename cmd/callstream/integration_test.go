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
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
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
		// go test puts its own GOROOT/bin first on PATH.
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
		want[r.ID] = r
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
	cp, err := checkpoint.NewFileStore(p.cpPath)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := cp.Load(context.Background(), "direct-routing")
	if err != nil || !saved.Watermark.Equal(p.end) {
		t.Fatalf("checkpoint watermark %s (%v), want %s", saved.Watermark, err, p.end)
	}
	// The token must not leak into logs.
	if strings.Contains(proc.stderr.String(), "s3cret-token") {
		t.Fatal("the bearer token appears in the logs")
	}
}

func TestBinarySurvivesSIGKILL(t *testing.T) {
	p := newPipeline(t, faultyGraph(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 3))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const kills = 3
	pagesPerWindow := 1100/1000 + 1
	total := 3 * 24 * pagesPerWindow
	for i := range kills {
		// Kill after a random number of further pages, somewhere in the
		// middle of the walk.
		target := p.sim.Stats().Pages + 5 + rng.IntN(total/(kills+1))
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
			time.Sleep(2 * time.Millisecond)
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
	dups := p.check(t)
	// Duplicates can only come from the window in flight at each kill.
	if max := kills * 1100 * 2; dups > max {
		t.Fatalf("%d duplicates after %d kills, more than the windows in flight could hold (%d)", dups, kills, max)
	}
	t.Logf("after %d SIGKILLs: 0 lost, %d duplicate records (windows in flight at the kills)", kills, dups)
}

func TestBinarySIGTERMStopsCleanly(t *testing.T) {
	sc := faultyGraph(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), 3)
	sc.Latency = 20 * time.Millisecond
	p := newPipeline(t, sc)
	proc := start(t, p.env, "run", "--once")
	for p.sim.Stats().Pages < 10 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := proc.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; output:\n%s", code, proc.stderr)
	}
	cp, err := checkpoint.NewFileStore(p.cpPath)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := cp.Load(context.Background(), "direct-routing")
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint never runs ahead of Kafka: every row below the
	// watermark is on the topic.
	onTopic := map[string]bool{}
	for _, rec := range p.kafka.ReadAll(t, p.topic, true) {
		var got map[string]any
		if err := avro.Unmarshal(avro.MustParse(string(mustRead(t, "../../schemas/DirectRoutingLogRow.avsc"))), rec.Value[5:], &got); err != nil {
			t.Fatal(err)
		}
		onTopic[got["id"].(string)] = true
	}
	for _, r := range p.sim.Rows(p.start, saved.Watermark) {
		if !onTopic[r.ID] {
			t.Fatalf("row %s below the watermark %s is not on the topic", r.ID, saved.Watermark)
		}
	}
	// And a restart completes the walk with nothing lost.
	proc = start(t, p.env, "run", "--once")
	if code := proc.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.stderr)
	}
	if dups := p.check(t); dups != 0 {
		t.Fatalf("%d duplicates after a clean stop", dups)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
