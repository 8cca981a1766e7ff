package bench

// The request-budget benchmark of issue 14 (make bench-budget): how close a
// 90-day backfill runs to Graph's own limit, ceil(rows / 1000) requests at
// the per-function rate.
//
// The simulator enforces Graph's documented limits at 12× speed
// (graphsim.DocumentedLimits.Scaled: 600 requests a minute per function,
// 2,400 per app) and callstream's budget is matched to them
// (GRAPH_BUDGET_PER_MINUTE=600, GRAPH_APP_BUDGET_PER_MINUTE=2400). The real
// binary backfills 90 days, all of it history (it ends before the largest
// RESCAN_AFTER), for tenants of 100, 2,000 and 50,000 calls a day, and each
// sub-benchmark reports:
//
//	requests   requests Graph received
//	min-req    ceil(rows / 1000), the fewest that can read every row
//	ratio      requests / min-req (target: requests ≤ 1.1 × min-req + 20)
//	429s       requests answered 429 (target: ≤ 1% of requests)
//	wall-s     the binary's run, start to exit
//	graph-s    first request to last
//	limit-s    requests / limit, the time Graph's limit alone imposes
//	           (target: wall ≤ 1.15 × limit-s; for a run of a few requests
//	           the process's start-up dominates wall, see graph-s)
//
// CALLSTREAM_BENCH_BINARY measures another build (e.g. main's) with the
// same harness; BUDGET_BENCH_TENANTS (e.g. "100,2000") picks tenants.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/internal/testkit"
)

// budgetSpeed is how much faster than Graph the benchmark runs its limits.
const budgetSpeed = 12

// requestClock wraps the simulator to time the first and last request.
type requestClock struct {
	h           http.Handler
	mu          sync.Mutex
	first, last time.Time
}

func (c *requestClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	c.mu.Lock()
	if c.first.IsZero() {
		c.first = now
	}
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
	c.mu.Lock()
	c.last = time.Now()
	c.mu.Unlock()
}

func BenchmarkBudget(b *testing.B) {
	tenants := []int{100, 2000, 50_000}
	if s := os.Getenv("BUDGET_BENCH_TENANTS"); s != "" {
		tenants = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("BUDGET_BENCH_TENANTS: %v", err)
			}
			tenants = append(tenants, n)
		}
	}
	for _, perDay := range tenants {
		b.Run(fmt.Sprintf("calls-per-day=%d", perDay), func(b *testing.B) {
			for range b.N {
				budgetBackfill(b, perDay)
			}
		})
	}
}

func budgetBackfill(b *testing.B, perDay int) {
	limits := graphsim.DocumentedLimits.Scaled(budgetSpeed)
	// Ninety days that end before the rescan horizon (72 h by default)
	// and the settle delay: all history.
	end := time.Now().UTC().Truncate(24 * time.Hour).Add(-4 * 24 * time.Hour)
	start := end.Add(-90 * 24 * time.Hour)
	sim, err := graphsim.New(graphsim.Config{Seed: 14, Start: start, End: end, RowsPerDay: perDay,
		Token: perfToken, Limits: limits})
	if err != nil {
		b.Fatal(err)
	}
	rows := sim.Count(start, end)
	rc := &requestClock{h: sim}
	url := testkit.Serve(b, rc)
	topic := "rows"
	kc := kafkatest.NewFake(b, kfake.SeedTopics(6, topic))
	out, wall := runBackfill(b, start, end, testkit.Env{
		"GRAPH_BASE_URL":              url,
		"GRAPH_ACCESS_TOKEN":          perfToken,
		"GRAPH_BUDGET_PER_MINUTE":     strconv.Itoa(limits.PerFunction),
		"GRAPH_APP_BUDGET_PER_MINUTE": strconv.Itoa(limits.PerApp),
		"KAFKA_BROKERS":               strings.Join(kc.Brokers, ","),
		"KAFKA_TOPIC":                 topic,
	})
	published := -1
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			Published *int   `json:"published"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "backfill complete" && line.Published != nil {
			published = *line.Published
		}
	}
	if published != rows {
		b.Errorf("published %d rows of %d", published, rows)
	}
	st := sim.Stats()
	reqs, throttled := st.Requests, st.ByStatus[http.StatusTooManyRequests]
	minReq := int(math.Ceil(float64(rows) / 1000))
	limitS := float64(reqs) / float64(limits.PerFunction) * 60
	graphS := rc.last.Sub(rc.first).Seconds()
	b.ReportMetric(float64(rows), "rows")
	b.ReportMetric(float64(reqs), "requests")
	b.ReportMetric(float64(minReq), "min-req")
	b.ReportMetric(float64(reqs)/float64(minReq), "ratio")
	b.ReportMetric(float64(throttled), "429s")
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.ReportMetric(graphS, "graph-s")
	b.ReportMetric(limitS, "limit-s")
	b.ReportMetric(0, "ns/op")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	b.Logf("%d calls/day: %d rows, %d requests (min %d, ratio %.2f; ≤ 1.1×min+20 = %.0f: %s), %d 429s (%s), wall %.1fs, graph %.1fs, requests/limit %.1fs (wall ≤ 1.15×: %s)",
		perDay, rows, reqs, minReq, float64(reqs)/float64(minReq), 1.1*float64(minReq)+20, verdict(float64(reqs) <= 1.1*float64(minReq)+20),
		throttled, verdict(float64(throttled) <= 0.01*float64(reqs)), wall.Seconds(), graphS, limitS, verdict(wall.Seconds() <= 1.15*limitS))
}

// runBackfill runs the binary's backfill of [from, to) with env (and JSON
// info logs, a checkpoint file of its own, and args after them), the
// build CALLSTREAM_BENCH_BINARY names when set, and returns its output and
// wall time.
func runBackfill(b *testing.B, from, to time.Time, env testkit.Env, args ...string) ([]byte, time.Duration) {
	bin := testkit.Binary(b, "./cmd/callstream")
	if alt := os.Getenv("CALLSTREAM_BENCH_BINARY"); alt != "" {
		bin = alt
	}
	cp := filepath.Join(b.TempDir(), "cp.json")
	cmd := exec.Command(bin, append([]string{"backfill", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
		"--checkpoint", cp}, args...)...)
	env["LOG_LEVEL"], env["LOG_FORMAT"] = "info", "json"
	cmd.Env = env.List()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("callstream backfill: %v\n%s", err, tail(out.String(), 4000))
	}
	return out.Bytes(), time.Since(t0)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
