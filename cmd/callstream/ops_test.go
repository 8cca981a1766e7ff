package main

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/internal/testkit"
)

// TestBinaryMetricsAddUp scrapes /metrics over and over while the real
// binary walks a faulty simulated Graph, with malformed rows, into Kafka,
// and checks that every scrape adds up and that the final one matches what
// the simulator served and what landed on the topic and the dead-letter
// topic. It guards DESIGN.md invariant 5 (a row is published, skipped as
// a duplicate, or dead-lettered — and each is counted) and README "Nothing
// dropped silently".
func TestBinaryMetricsAddUp(t *testing.T) {
	now := time.Now().UTC()
	simStart := now.Add(-6 * time.Hour).Truncate(time.Hour)
	simEnd := now.Add(-time.Hour).Truncate(time.Hour)
	p := newPipeline(t, graphsim.Config{
		Seed: 11, Start: simStart, End: simEnd, RowsPerHour: 1100, PageSize: 100, PageOverlap: 3,
		Latency: 20 * time.Millisecond,
		Faults: []graphsim.Fault{
			{Every: 13, Offset: 3, Status: http.StatusTooManyRequests, RetryAfter: "1", Limit: 2},
			{Every: 17, Offset: 5, Status: http.StatusTooManyRequests, RetryAfter: "0"},
			{Every: 23, Offset: 7, Status: http.StatusServiceUnavailable, RetryAfter: "0"},
			{Every: 31, Offset: 11, Truncate: true},
		},
		Malformed: []graphsim.Malformation{
			{Function: graphsim.DirectRoutingCalls, Kind: graphsim.MalformNoID, Every: 397, Offset: 13},
			{Function: graphsim.DirectRoutingCalls, Kind: graphsim.MalformOutOfRange, Every: 409, Offset: 29},
		},
	})
	dlqTopic := p.kafka.Topic(t, 1, nil)
	p.env["KAFKA_DLQ_TOPIC"] = dlqTopic
	// Continuous mode with no END_TIME: the process walks up to now and
	// then idles, still serving /metrics for the final scrape.
	delete(p.env, "END_TIME")
	p.env["METRICS_ADDR"] = "127.0.0.1:0"
	p.env["METRICS_PPROF"] = "true"
	proc := launch(t, p.env, nil, "run")
	addr := opsAddr(t, proc)
	if code, body := get(t, addr, "/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("METRICS_PPROF=true: /debug/pprof/goroutine answered %d:\n%.200s", code, body)
	}

	want, malformed := 0, 0 // good rows, to be published; malformed ones, to be dead-lettered
	for _, r := range p.sim.Rows(simStart, simEnd) {
		if r.Malformed == graphsim.MalformNone {
			want++
		} else {
			malformed++
		}
	}
	if malformed < 5 {
		t.Fatalf("only %d malformed rows: the dead-letter count would prove little", malformed)
	}
	var last scrape
	midRun := 0
	deadline := time.Now().Add(3 * time.Minute)
	for {
		s := scrapeMetrics(t, addr)
		last = s
		if _, ok := s["callstream_rows_fetched_total"]; ok {
			fetched := s.value(t, "callstream_rows_fetched_total", "source", "direct-routing")
			published := s.value(t, "callstream_rows_published_total", "source", "direct-routing")
			dups := s.value(t, "callstream_rows_duplicate_total", "source", "direct-routing")
			dlq := s.value(t, "callstream_rows_dead_lettered_total", "source", "direct-routing")
			if fetched != published+dups+dlq {
				t.Fatalf("fetched %v != published %v + duplicates %v + dead-lettered %v", fetched, published, dups, dlq)
			}
			if published > 0 && int(published) < want {
				midRun++
			}
			if int(published) == want {
				break
			}
		}
		select {
		case <-proc.Done():
			t.Fatalf("callstream exited; output:\n%s", proc.Out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every row published in time; last scrape:\n%s", last)
		}
		time.Sleep(30 * time.Millisecond)
	}
	if midRun < 3 {
		t.Errorf("only %d scrapes happened mid-run; the test did not watch the counters move", midRun)
	}

	// The walk is caught up: the topic holds every good row once, the
	// dead-letter topic every malformed one.
	if dups := p.check(t); dups != 0 {
		t.Fatalf("%d duplicate records", dups)
	}
	dead := len(p.kafka.ReadAll(t, dlqTopic, true))
	if dead != malformed {
		t.Fatalf("%d dead letters, want the %d malformed rows", dead, malformed)
	}
	s := scrapeMetrics(t, addr)
	ss := p.sim.Stats()
	src := []string{"source", "direct-routing"}
	checks := []struct {
		name   string
		got    float64
		want   float64
		reason string
	}{
		{"rows published", s.value(t, "callstream_rows_published_total", src...), float64(want), "simulated rows"},
		{"rows fetched", s.value(t, "callstream_rows_fetched_total", src...), float64(ss.Rows), "rows the simulator served in complete pages"},
		{"duplicates", s.value(t, "callstream_rows_duplicate_total", src...), float64(ss.Rows - want - dead), "rows served twice by overlapping pages"},
		{"dead-lettered", s.value(t, "callstream_rows_dead_lettered_total", src...), float64(dead), "records on the dead-letter topic"},
		{"late", s.value(t, "callstream_rows_late_total", src...), 0, "no late rows"},
		{"pages", s.value(t, "callstream_pages_total", src...), float64(ss.Pages), "complete pages served"},
		{"graph 200", s.value(t, "callstream_graph_requests_total", "status", "200"), float64(ss.ByStatus[200] - ss.Truncated), "complete 200 answers"},
		{"graph 429", s.value(t, "callstream_graph_requests_total", "status", "429"), float64(ss.ByStatus[429]), "429 answers"},
		{"graph 503", s.value(t, "callstream_graph_requests_total", "status", "503"), float64(ss.ByStatus[503]), "503 answers"},
		{"graph none", s.value(t, "callstream_graph_requests_total", "status", "none"), float64(ss.Truncated), "truncated answers"},
		{"retries", s.value(t, "callstream_graph_retries_total"), float64(ss.Requests - ss.Pages), "every failed request retried"},
		{"throttle wait", s.value(t, "callstream_graph_throttle_wait_seconds_total"),
			2 + float64(ss.ByStatus[429]-2)*fetch.DefaultBaseBackoff.Seconds(),
			"two Retry-After: 1 answers, and the least backoff after each Retry-After: 0 one"},
		{"window durations", s.value(t, "callstream_window_duration_seconds", "kind", "new"), s.value(t, "callstream_windows_total", "kind", "new"), "one duration per new window"},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s: metric %v, want %v (%s)", c.name, c.got, c.want, c.reason)
		}
	}
	if ss.ByStatus[429] == 0 || ss.ByStatus[503] == 0 || ss.Truncated == 0 {
		t.Errorf("faults not exercised: %+v", ss)
	}
	// Caught up: the watermark is the current hour (the previous one if an
	// hour began just now).
	mark := time.Unix(int64(s.value(t, "callstream_watermark_timestamp_seconds", src...)), 0).UTC()
	if hour := time.Now().UTC().Truncate(time.Hour); !mark.Equal(hour) && !mark.Equal(hour.Add(-time.Hour)) {
		t.Errorf("watermark %s, want %s", mark, hour)
	}
	if lag := s.value(t, "callstream_watermark_lag_seconds", src...); lag < 0 || lag > 3600+60 {
		t.Errorf("watermark lag %vs, want within an hour of now", lag)
	}
	if age := s.value(t, "callstream_checkpoint_age_seconds", src...); age < 0 || age > 120 {
		t.Errorf("checkpoint age %vs", age)
	}
	if n := s.value(t, "callstream_kafka_produce_bytes_total"); n <= 0 {
		t.Errorf("kprom: callstream_kafka_produce_bytes_total = %v", n)
	}
	checkDashboard(t, s)
	if code, body := get(t, addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d: %s", code, body)
	}
	if code, body := get(t, addr, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d: %s", code, body)
	}
	proc.Stop(t)
}

// gate stands in front of the simulator: while closed, requests wait.
type gate struct {
	next http.Handler
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGate(next http.Handler) *gate {
	g := &gate{next: next, open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		g.next.ServeHTTP(w, r)
	case <-r.Context().Done():
	}
}

func (g *gate) stall() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
}

// TestBinaryReadyzFollowsAStalledGraph stalls the simulated Graph under a
// live walker and sees /readyz turn not-ready within the configured limit,
// then ready again once Graph answers (README settings READY_STALL_FACTOR;
// docs/operations.md probes). Its waits follow the walker's progress and
// have generous deadlines, so a loaded machine slows it down rather than
// failing it: the stall limit is 5 polls, and "ready while keeping up" is
// checked over three windows published, not a fixed span of time.
func TestBinaryReadyzFollowsAStalledGraph(t *testing.T) {
	now := time.Now().UTC()
	p := newPipeline(t, graphsim.Config{
		Seed: 5, Start: now.Add(-time.Hour), End: now.Add(time.Hour), RowsPerHour: 3600,
	})
	// Put a gate between the walker and the simulator.
	g := newGate(p.sim)
	graphURL := testkit.Serve(t, g)
	t.Cleanup(func() { defer func() { _ = recover() }(); g.release() }) // never leave requests parked
	const window, poll, factor = 2 * time.Second, time.Second, 5
	limit := factor * poll
	delete(p.env, "END_TIME")
	p.env["GRAPH_BASE_URL"] = graphURL
	p.env["START_TIME"] = now.Add(-20 * time.Second).Truncate(window).Format(time.RFC3339)
	p.env["WINDOW"] = window.String()
	p.env["POLL_INTERVAL"] = poll.String()
	p.env["READY_STALL_FACTOR"] = strconv.Itoa(factor)
	p.env["RESCAN_AFTER"] = "1h"
	p.env["METRICS_ADDR"] = "127.0.0.1:0"
	proc := launch(t, p.env, nil, "run")
	addr := opsAddr(t, proc)
	if code, _ := get(t, addr, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("profiles served (%d) without METRICS_PPROF", code)
	}

	waitReady := func(want int, within time.Duration) (time.Duration, string) {
		t.Helper()
		began := time.Now()
		for {
			code, body := get(t, addr, "/readyz")
			if code == want {
				return time.Since(began), body
			}
			if time.Since(began) > within {
				t.Fatalf("/readyz still %d after %s, want %d:\n%s\noutput:\n%s", code, within, want, body, proc.Out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitReady(http.StatusOK, time.Minute)
	// Stay ready while the walker keeps up with windows coming due: every
	// probe answers 200 until three more windows are published.
	published := func() int { return strings.Count(proc.Out.String(), `"msg":"window published"`) }
	before := published()
	waitUntil(t, "three more windows published", proc.Done(), proc.Out, func() bool {
		if code, body := get(t, addr, "/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz %d while Graph answers:\n%s", code, body)
		}
		return published() >= before+3
	})

	g.stall()
	// The next window is due at most one window after the stall; from
	// then the limit runs. (It may also have been due up to one poll
	// before the stall, so the limit can run out a little sooner.) A
	// little slack covers the probe's own period; the wait itself is
	// generous, and the bound is checked after it with room for a slow
	// machine's probes.
	took, body := waitReady(http.StatusServiceUnavailable, time.Minute)
	if bound := window + limit + 10*time.Second; took > bound {
		t.Errorf("not ready only %s after Graph stalled, want within %s (window %s + limit %s + slack)", took, bound, window, limit)
	}
	t.Logf("not ready %s after Graph stalled (window %s, limit %s):\n%s", took.Round(time.Millisecond), window, limit, body)
	if !strings.Contains(body, "FAIL walk") || !strings.Contains(body, "READY_STALL_FACTOR") {
		t.Errorf("/readyz does not say the walk is stuck:\n%s", body)
	}
	if !strings.Contains(body, "ok   kafka") || !strings.Contains(body, "ok   graph token") {
		t.Errorf("/readyz blames more than the walk:\n%s", body)
	}
	if code, _ := get(t, addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d while stalled: liveness must not fail for a stalled Graph", code)
	}

	g.release()
	took, _ = waitReady(http.StatusOK, time.Minute)
	t.Logf("ready again %s after Graph answered", took.Round(time.Millisecond))
	proc.Stop(t)

	// The transitions are logged, once each.
	var notReady, ready int
	for _, line := range strings.Split(proc.Out.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec["msg"] {
		case "not ready":
			notReady++
		case "ready":
			ready++
		}
	}
	if notReady == 0 || ready < 2 {
		t.Errorf("logged %d not-ready and %d ready transitions", notReady, ready)
	}
}

// personalFields are the row properties that name or reach a person.
var personalFields = []string{"userId", "userPrincipalName", "userDisplayName", "callerNumber", "calleeNumber"}

// TestBinaryLogsHoldNoPersonalData guards the rule that logs carry no
// personal data (docs/operations.md, README "Rows": dead letters keep the
// raw row in Kafka, not in the log). It runs a full simulated walk of both
// sources at debug level, with throttling, failures, truncated pages and
// malformed rows that are dead-lettered (each logged with its reason), and
// looks for every simulated name, UPN, user id and phone number — of Direct
// Routing and PSTN rows, good and malformed — in its logs.
func TestBinaryLogsHoldNoPersonalData(t *testing.T) {
	sc := faultyGraph(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), 1)
	sc.RowsPerHour = 300
	sc.Malformed = []graphsim.Malformation{
		{Function: graphsim.DirectRoutingCalls, Kind: graphsim.MalformWrongType, Every: 97, Offset: 5},
		{Function: graphsim.DirectRoutingCalls, Kind: graphsim.MalformOutOfRange, Every: 101, Offset: 9},
		{Function: graphsim.PstnCalls, Kind: graphsim.MalformWrongType, Every: 89, Offset: 3},
		{Function: graphsim.PstnCalls, Kind: graphsim.MalformOutOfRange, Every: 103, Offset: 7},
	}
	p := newPipeline(t, sc)
	p.env["SOURCES"] = "direct-routing,pstn"
	p.env["KAFKA_PSTN_TOPIC"] = p.kafka.Topic(t, 3, nil)
	dlq := p.kafka.Topic(t, 1, nil)
	p.env["KAFKA_DLQ_TOPIC"] = dlq
	p.env["LOG_LEVEL"] = "debug"
	p.env["METRICS_ADDR"] = "127.0.0.1:0"
	proc := launch(t, p.env, nil, "run", "--once")
	if code := proc.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}
	logs := proc.Out.String()
	// One line per window and source: WINDOW-wide, or sized by rows for
	// history ("history window published").
	if n := strings.Count(logs, `window published"`); n < 2 || n > 48 {
		t.Fatalf("%d window lines, want one per window and source (2 to 48); output:\n%s", n, logs)
	}
	rows := append(p.sim.Rows(p.start, p.end), p.sim.PstnRows(p.start, p.end)...)
	malformed := 0
	for _, r := range rows {
		if r.Malformed != graphsim.MalformNone {
			malformed++
		}
	}
	if dead := len(p.kafka.ReadAll(t, dlq, true)); dead != malformed || malformed < 20 {
		t.Fatalf("%d dead letters of %d malformed rows: the dead-letter path was not exercised as planned", dead, malformed)
	}
	if n := strings.Count(logs, `"msg":"row sent to the dead-letter topic"`); n != malformed {
		t.Fatalf("%d dead-letter log lines, want %d", n, malformed)
	}

	// Every personal value the simulator served, raw and JSON-escaped.
	values := map[string]bool{}
	for _, r := range rows {
		var row map[string]any
		if err := json.Unmarshal(r.JSON, &row); err != nil {
			t.Fatal(err)
		}
		for _, f := range personalFields {
			if s, _ := row[f].(string); s != "" {
				values[s] = true
				b, _ := json.Marshal(s)
				values[string(b[1:len(b)-1])] = true
			}
		}
	}
	if len(values) < 1000 {
		t.Fatalf("only %d personal values found in the simulated rows", len(values))
	}
	for v := range values {
		if i := tokenIndex(logs, v); i >= 0 {
			t.Errorf("the logs contain the personal value %q: ...%s...", v, logs[max(0, i-200):min(len(logs), i+len(v)+50)])
		}
	}
	if strings.Contains(logs, "s3cret-token") {
		t.Error("the logs contain the bearer token")
	}
}

// TestBinaryLogsHoldNoSecrets guards the rule that secrets are never
// logged: run --once (at debug level) and check, against a Kafka that
// requires SASL/PLAIN and a registry behind basic auth, with every secret
// setting given a distinctive value — none of them may appear in the
// output. The run must succeed, so the Kafka and registry secrets were
// really used.
func TestBinaryLogsHoldNoSecrets(t *testing.T) {
	from := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	_, srvURL := testkit.Graph(t, graphsim.Config{Seed: 21, Start: from, End: from.Add(3 * time.Hour), RowsPerHour: 100, Token: "s3cret-token-7f3a"})
	secrets := map[string]string{
		"KAFKA_SASL_PASSWORD":               "kafka-pw-5e1d7c9b",
		"SCHEMA_REGISTRY_PASSWORD":          "registry-pw-0a2f44e1",
		"GRAPH_ACCESS_TOKEN":                "s3cret-token-7f3a",
		"AZURE_CLIENT_SECRET":               "client-secret-93bd1e",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD": "cert-pw-6c0f2a",
	}
	kc := kafkatest.NewFake(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "svc", secrets["KAFKA_SASL_PASSWORD"]))
	reg := srfake.New(srfake.WithAuth("Basic " + base64.StdEncoding.EncodeToString([]byte("sr-key:"+secrets["SCHEMA_REGISTRY_PASSWORD"]))))
	t.Cleanup(reg.Close)
	e := env{
		"GRAPH_BASE_URL": srvURL, "GRAPH_AUTH": "token", "GRAPH_BUDGET_PER_MINUTE": "0",
		"KAFKA_BROKERS": strings.Join(kc.Brokers, ","), "KAFKA_TOPIC": "secrets.calls", "KAFKA_CREATE_TOPICS": "true",
		"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "svc",
		"SCHEMA_REGISTRY_URL": reg.URL(), "SCHEMA_REGISTRY_USERNAME": "sr-key",
		"START_TIME": from.Format(time.RFC3339), "END_TIME": from.Add(3 * time.Hour).Format(time.RFC3339),
		"SETTLE_DELAY": "0s", "LOG_LEVEL": "debug", "LOG_FORMAT": "json",
		"CHECKPOINT_STORE": "file", "CHECKPOINT_PATH": filepath.Join(t.TempDir(), "cp.json"),
	}
	for k, v := range secrets {
		e[k] = v
	}
	var out strings.Builder
	for _, args := range [][]string{{"run", "--once"}, {"check"}} {
		proc := launch(t, e, nil, args...)
		code := proc.Wait(t, 2*time.Minute)
		out.WriteString(proc.Out.String())
		if code != 0 {
			t.Fatalf("%s exit %d; output:\n%s", args[0], code, proc.Out)
		}
		if args[0] == "run" && !strings.Contains(proc.Out.String(), `"msg":"caught up"`) {
			t.Fatalf("the run did not finish its walk:\n%s", proc.Out)
		}
	}
	logs := out.String()
	for name, v := range secrets {
		if strings.Contains(logs, v) {
			i := strings.Index(logs, v)
			t.Errorf("the output contains %s: ...%s...", name, logs[max(0, i-200):min(len(logs), i+len(v)+50)])
		}
	}
}

// tokenIndex finds v in s where it stands on its own: not inside a longer
// run of letters and digits. A short extension such as "4711" also occurs
// inside nanosecond timestamps; that is not the value leaking, while
// "callerNumber":"4711" or "from 4711" would be.
func tokenIndex(s, v string) int {
	alnum := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for off := 0; ; {
		i := strings.Index(s[off:], v)
		if i < 0 {
			return -1
		}
		i += off
		before := i == 0 || !alnum(s[i-1]) || !alnum(v[0])
		end := i + len(v)
		after := end == len(s) || !alnum(s[end]) || !alnum(v[len(v)-1])
		if before && after {
			return i
		}
		off = i + 1
	}
}

func TestTokenIndex(t *testing.T) {
	cases := []struct {
		s, v string
		want int
	}{
		{`"took":"05:18:38.551471191"`, "4711", -1},
		{`"callerNumber":"4711"`, "4711", 16},
		{`caller 4711 rang`, "4711", 7},
		{`name Zoë Ångström here`, "Zoë Ångström", 5},
		{`+12345678***`, "+12345678***", 0},
	}
	for _, tc := range cases {
		if got := tokenIndex(tc.s, tc.v); got != tc.want {
			t.Errorf("tokenIndex(%q, %q) = %d, want %d", tc.s, tc.v, got, tc.want)
		}
	}
}

// checkDashboard makes sure every series the Grafana dashboard queries is
// served by a real scrape.
func checkDashboard(t *testing.T, s scrape) {
	t.Helper()
	b, err := os.ReadFile("../../deploy/grafana/callstream-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	// kprom creates these on the first event, which a healthy run lacks.
	eventOnly := map[string]bool{"callstream_kafka_connect_errors_total": true}
	names := regexp.MustCompile(`callstream_[a-z_]+`).FindAllString(string(b), -1)
	if len(names) < 15 {
		t.Fatalf("the dashboard queries only %v", names)
	}
	for _, n := range names {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := s[strings.TrimSuffix(n, suffix)]; ok && strings.HasSuffix(n, suffix) && f.GetType() == dto.MetricType_HISTOGRAM {
				base = strings.TrimSuffix(n, suffix)
			}
		}
		if _, ok := s[base]; !ok && !eventOnly[n] {
			t.Errorf("the dashboard queries %s, which /metrics does not serve", n)
		}
	}
}
