package bench

// Issue 13's density figure (make bench-density): one replica of the real
// binary serving 1,000 simulated tenants × 2 sources (direct-routing and
// pstn) in steady state — live data of about 30 rows per one-minute
// window, Graph answering in 50–200 ms — with CLUSTER_GROUP set, so that it
// owns every one of the default 64 buckets. Windows are five minutes of 30
// rows each, polled every minute (400 windows a minute in all);
// CALLSTREAM_BENCH_DENSITY_WINDOW=1m makes them one minute of 30 rows,
// five times the load (2,000 windows a minute). After a warm-up it measures,
// over the steady period: the peak RSS, the average CPU (user + system, of
// one core), and the open connections to the Kafka brokers, which must
// stay within (buckets owned + 3) × brokers. On kfake unless
// KAFKA_TEST_BROKERS names a real broker.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/internal/testkit"
)

func BenchmarkDensity(b *testing.B) {
	window := 5 * time.Minute
	if w := os.Getenv("CALLSTREAM_BENCH_DENSITY_WINDOW"); w != "" {
		var err error
		if window, err = time.ParseDuration(w); err != nil || window < time.Minute {
			b.Fatalf("CALLSTREAM_BENCH_DENSITY_WINDOW %q: want a duration of a minute or more", w)
		}
	}
	for range b.N {
		density(b, 1000, window, window)
	}
}

func density(b *testing.B, tenants int, window, measure time.Duration) {
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-d3e5-4a1b-9c2d-%012x", 0xde000000+i, i)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	cloud := testkit.NewCloud(b, testkit.CloudConfig{Tenants: ids, Graph: graphsim.Config{
		Seed: 1000, Start: now.Add(-3 * window), End: now.Add(24 * time.Hour), RowsPerHour: int(30 * time.Hour / window),
		Latency: 50 * time.Millisecond, LatencyMax: 200 * time.Millisecond,
	}})
	kc := kafkatest.New(b)
	dr, pstn := kc.Topic(b, 6, nil), kc.Topic(b, 6, nil)
	const buckets = 64
	env := cloud.Env().With(testkit.Env{
		"KAFKA_BROKERS":           strings.Join(kc.Brokers, ","),
		"KAFKA_TOPIC":             dr,
		"KAFKA_PSTN_TOPIC":        pstn,
		"SOURCES":                 "direct-routing,pstn",
		"START_TIME":              now.Add(-2 * window).Format(time.RFC3339),
		"WINDOW":                  window.String(),
		"SETTLE_DELAY":            "0s",
		"POLL_INTERVAL":           "1m",
		"CLUSTER_GROUP":           dr + "-density",
		"CLUSTER_TOPIC":           dr + ".assignments",
		"CLUSTER_BUCKETS":         strconv.Itoa(buckets),
		"CLUSTER_INSTANCE_ID":     "density-0",
		"GRAPH_BUDGET_PER_MINUTE": "0",
		"LOG_LEVEL":               "warn",
	})
	// CALLSTREAM_BENCH_CHILD_HEAPPROFILE names a file for the replica's
	// heap profile, taken at the end of the warm-up from METRICS_PPROF.
	heapProfile := os.Getenv("CALLSTREAM_BENCH_CHILD_HEAPPROFILE")
	// CALLSTREAM_BENCH_CHILD_CPUPROFILE names a file for a 60-second CPU
	// profile of the replica, taken during the measurement.
	cpuProfile := os.Getenv("CALLSTREAM_BENCH_CHILD_CPUPROFILE")
	var opsAddr string
	if heapProfile != "" || cpuProfile != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		opsAddr = ln.Addr().String()
		ln.Close()
		env = env.With(testkit.Env{"METRICS_ADDR": opsAddr, "METRICS_PPROF": "true"})
	}
	bin := testkit.Binary(b, "./cmd/callstream")
	p := testkit.Start(b, bin, env, nil, "run")
	pid := p.Pid()
	peak := testkit.WatchPeakRSS(pid)
	// Warm-up: every bucket claimed, every lane past its catch-up.
	deadline := time.Now().Add(5 * time.Minute)
	for cloud.Graph.Requests() < 2*tenants*2 {
		if time.Now().After(deadline) || p.Exited() {
			b.Fatalf("the replica did not catch up within 5 minutes (%d requests); output:\n%s", cloud.Graph.Requests(), p.Out)
		}
		time.Sleep(time.Second)
	}
	// Steady: the backlog is read when Graph has been quiet for 10 s (or,
	// when the buckets' spread polls keep it busy, two windows on); the
	// measurement then spans a whole window.
	caughtUp := time.Now()
	for last, quiet := cloud.Graph.Requests(), time.Now(); time.Since(quiet) < 10*time.Second && time.Since(caughtUp) < 2*window; time.Sleep(time.Second) {
		if n := cloud.Graph.Requests(); n != last {
			last, quiet = n, time.Now()
		}
	}
	if heapProfile != "" {
		saveProfile(b, "http://"+opsAddr+"/debug/pprof/heap", heapProfile)
	}
	cpu0, t0, req0 := cpuTime(b, pid), time.Now(), cloud.Graph.Requests()
	if cpuProfile != "" {
		go saveProfile(b, "http://"+opsAddr+"/debug/pprof/profile?seconds=60", cpuProfile)
	}
	maxConns := 0
	for time.Since(t0) < measure {
		if n := brokerConns(b, pid, kc.Brokers); n > maxConns {
			maxConns = n
		}
		time.Sleep(time.Second)
	}
	cpu, wall, reqs := cpuTime(b, pid)-cpu0, time.Since(t0), cloud.Graph.Requests()-req0
	rss := peak()
	p.Stop(b)
	limit := (buckets + 3) * len(kc.Brokers)
	b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "CPU-%-of-core")
	b.ReportMetric(float64(maxConns), "broker-conns")
	b.ReportMetric(float64(reqs)/wall.Minutes(), "graph-requests/min")
	b.Logf("%s windows of 30 rows: %d tenants × 2 sources, %d buckets, %d broker(s) (real: %v): peak RSS %.0f MiB (≤ 512), CPU %.1f%% of a core (≤ 10), "+
		"%d broker connections (≤ %d), %.0f Graph requests/min over %s",
		window, tenants, buckets, len(kc.Brokers), kc.Real, float64(rss)/(1<<20), 100*cpu.Seconds()/wall.Seconds(), maxConns, limit,
		float64(reqs)/wall.Minutes(), wall.Round(time.Second))
	if rss > 512<<20 {
		b.Errorf("peak RSS %d MiB, want at most 512", rss>>20)
	}
	if c := 100 * cpu.Seconds() / wall.Seconds(); c > 10 {
		b.Errorf("CPU %.1f%% of a core, want at most 10%%", c)
	}
	if maxConns > limit {
		b.Errorf("%d broker connections, want at most (buckets owned + 3) × brokers = %d", maxConns, limit)
	}
}

// saveProfile writes the profile at url to path.
func saveProfile(b *testing.B, url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		b.Logf("profile: %v", err)
	}
}

// cpuTime is the user + system time pid has used, from /proc/PID/stat.
func cpuTime(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64) // field 14 of stat
	stime, _ := strconv.ParseInt(fields[12], 10, 64) // field 15
	const ticks = 100                                // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// brokerConns counts pid's established TCP connections to the brokers: its
// socket inodes (/proc/PID/fd) matched with the kernel's connection tables.
func brokerConns(b *testing.B, pid int, brokers []string) int {
	ports := map[string]bool{}
	for _, br := range brokers {
		if i := strings.LastIndexByte(br, ':'); i >= 0 {
			p, _ := strconv.Atoi(br[i+1:])
			ports[fmt.Sprintf("%04X", p)] = true
		}
	}
	inodes := map[string]bool{}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			// sl local rem st ... inode (field 9)
			if len(fs) < 10 || fs[3] != "01" {
				continue
			}
			rem := fs[2]
			if ports[rem[strings.LastIndexByte(rem, ':')+1:]] && inodes[fs[9]] {
				n++
			}
		}
		f.Close()
	}
	if n == 0 && len(inodes) == 0 {
		b.Fatalf("no sockets found for pid %d", pid)
	}
	return n
}
