package bench

// The performance suite of issue 7 (make bench; docs/performance.md):
//
//   - BenchmarkHotPath runs callstream's per-row path (the fetch client's
//     page splitter, the schema parser, the dedup set, the Avro encoder, the
//     producer's batches) and a straightforward reference pipeline
//     (encoding/json into a row struct, avro.Marshal, one ProduceSync per
//     page) over the same page bytes in the same process, into kfake, and
//     reports the ratio of their rows/s, ns/row and allocs/row;
//   - BenchmarkRunOnce builds the real binary and times `callstream run
//     --once` over simulated rows into kfake, and reads the child's peak
//     RSS for a 1,000,000- and a 10,000,000-row backfill.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/testkit"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
)

// perfStart is in the past, so that every window is old: a backfill.
var perfStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	perfRowsPerHour = 5000
	perfToken       = "bench-token"
)

// recorded serves page bodies captured from the simulator by URL, so the
// timed runs spend nothing on the simulator.
type recorded struct {
	pages map[string][]byte
}

func (r *recorded) RoundTrip(req *http.Request) (*http.Response, error) {
	body, ok := r.pages[req.URL.String()]
	if !ok {
		return nil, fmt.Errorf("no recorded page for %s", req.URL)
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {graphsim.PageContentType}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// simTransport calls the simulator's handler in memory.
type simTransport struct{ sim *graphsim.Server }

func (t simTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.sim.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// recordPages fetches every page of [start, end) window by window through
// the real fetch client and keeps the bodies, in order.
func recordPages(b *testing.B, sim *graphsim.Server, start, end time.Time) (*recorded, [][]byte) {
	b.Helper()
	rec := &recorded{pages: map[string][]byte{}}
	var order [][]byte
	hc := &http.Client{Transport: simTransport{sim}}
	fc, err := fetch.New(fetch.Config{BaseURL: "http://graph.bench", Tokens: fetch.StaticToken(perfToken), HTTPClient: hc})
	if err != nil {
		b.Fatal(err)
	}
	for from := start; from.Before(end); from = from.Add(time.Hour) {
		next := fc.URL(fetch.FunctionOf(sources.MustLookup("direct-routing")), from, from.Add(time.Hour))
		for next != "" {
			req, _ := http.NewRequest(http.MethodGet, next, nil)
			req.Header.Set("Authorization", "Bearer "+perfToken)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			rec.pages[next] = body
			order = append(order, body)
			var link struct {
				Next string `json:"@odata.nextLink"`
			}
			if err := json.Unmarshal(body, &link); err != nil {
				b.Fatal(err)
			}
			next = link.Next
		}
	}
	return rec, order
}

// refRow is the row struct of the reference pipeline: encoding/json reads
// it by its json tags, hamba's avro.Marshal writes it by its avro tags.
type refRow struct {
	ID                            string             `json:"id" avro:"id"`
	CorrelationID                 string             `json:"correlationId" avro:"correlationId"`
	UserID                        *string            `json:"userId" avro:"userId"`
	UserPrincipalName             *string            `json:"userPrincipalName" avro:"userPrincipalName"`
	UserDisplayName               *string            `json:"userDisplayName" avro:"userDisplayName"`
	StartDateTime                 *time.Time         `json:"startDateTime" avro:"startDateTime"`
	InviteDateTime                *time.Time         `json:"inviteDateTime" avro:"inviteDateTime"`
	FailureDateTime               *time.Time         `json:"failureDateTime" avro:"failureDateTime"`
	EndDateTime                   *time.Time         `json:"endDateTime" avro:"endDateTime"`
	Duration                      *int32             `json:"duration" avro:"duration"`
	CallType                      *string            `json:"callType" avro:"callType"`
	SuccessfulCall                *bool              `json:"successfulCall" avro:"successfulCall"`
	CallerNumber                  *string            `json:"callerNumber" avro:"callerNumber"`
	CalleeNumber                  *string            `json:"calleeNumber" avro:"calleeNumber"`
	MediaPathLocation             *string            `json:"mediaPathLocation" avro:"mediaPathLocation"`
	SignalingLocation             *string            `json:"signalingLocation" avro:"signalingLocation"`
	FinalSipCode                  *int32             `json:"finalSipCode" avro:"finalSipCode"`
	CallEndSubReason              *int32             `json:"callEndSubReason" avro:"callEndSubReason"`
	FinalSipCodePhrase            *string            `json:"finalSipCodePhrase" avro:"finalSipCodePhrase"`
	TrunkFullyQualifiedDomainName *string            `json:"trunkFullyQualifiedDomainName" avro:"trunkFullyQualifiedDomainName"`
	MediaBypassEnabled            *bool              `json:"mediaBypassEnabled" avro:"mediaBypassEnabled"`
	AdditionalProperties          *map[string]string `json:"-" avro:"additionalProperties"`
}

// reference is the straightforward pipeline: decode each page whole with
// encoding/json, skip known ids, avro.Marshal each row, and ProduceSync the
// page's records.
func reference(ctx context.Context, cl *kgo.Client, topic string, pages [][]byte, headers []kgo.RecordHeader) (int, error) {
	schema := schemas.DirectRoutingSchema()
	seen := map[string]struct{}{}
	rows := 0
	for _, body := range pages {
		var page struct {
			Value []refRow `json:"value"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return rows, err
		}
		recs := make([]*kgo.Record, 0, len(page.Value))
		for i := range page.Value {
			r := &page.Value[i]
			if _, ok := seen[r.ID]; ok {
				continue
			}
			seen[r.ID] = struct{}{}
			v, err := avro.Marshal(schema, r)
			if err != nil {
				return rows, err
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(r.CorrelationID), Value: v, Headers: headers})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return rows, err
		}
		rows += len(recs)
	}
	return rows, nil
}

// callstreamWalk runs the walker as `run` wires it by default (exactly-once
// with the Kafka checkpoint store, backfill concurrency 4, one-hour
// windows) over the recorded pages.
func callstreamWalk(b *testing.B, kc *kafkatest.Cluster, rec *recorded, start, end time.Time, n int) *walk.Walker {
	b.Helper()
	ctx := context.Background()
	topic := "callstream-" + strconv.Itoa(n)
	cl := kc.Client(b)
	if err := producer.EnsureCheckpointTopic(ctx, cl, topic+".checkpoint", topic); err != nil {
		b.Fatal(err)
	}
	codec, err := schemas.For("direct-routing", schemas.VersionV1)
	if err != nil {
		b.Fatal(err)
	}
	prod, err := producer.New(ctx, producer.Config{Brokers: kc.Brokers, Topic: topic, TransactionalID: topic,
		Topics: producer.TopicSettings{Create: true},
		Schema: producer.Schema{Name: codec.Name(), Text: codec.Text(), Fingerprint: "bench"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = prod.Close(context.Background()) })
	fc, err := fetch.New(fetch.Config{BaseURL: "http://graph.bench", Tokens: fetch.StaticToken(perfToken),
		HTTPClient: &http.Client{Transport: rec}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	w, err := walk.New(walk.Config{Source: walk.CodecSource(fetch.FunctionOf(sources.MustLookup("direct-routing")), codec), Start: start, End: end,
		Window: time.Hour, Concurrency: 4, RescanAfter: []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour},
		Logger: slog.New(slog.DiscardHandler)}, fc, prod, checkpoint.NewKafkaStore(cl, topic+".checkpoint", topic))
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// BenchmarkHotPath compares callstream's row path with the reference
// pipeline on the same 240,000 rows (48 one-hour windows of 5,000 rows in
// pages of 1,000), on a kfake cluster of one broker and of three (the
// smallest production shape: replication factor 3). Both pipelines
// compress with callstream's default codec, zstd at producer.ZstdLevel.
// Each op runs both once, reference first.
func BenchmarkHotPath(b *testing.B) {
	const hours = 48
	end := perfStart.Add(hours * time.Hour)
	sim, err := graphsim.New(graphsim.Config{Seed: 3, Start: perfStart, End: end, RowsPerHour: perfRowsPerHour,
		Token: perfToken, ExtraProperty: true, PreRender: true})
	if err != nil {
		b.Fatal(err)
	}
	rec, pages := recordPages(b, sim, perfStart, end)
	total := sim.Count(perfStart, end)
	for _, brokers := range []int{1, 3} {
		b.Run(fmt.Sprintf("brokers=%d", brokers), func(b *testing.B) {
			hotPath(b, brokers, rec, pages, total, end)
		})
	}
}

func hotPath(b *testing.B, brokers int, rec *recorded, pages [][]byte, total int, end time.Time) {
	kc := kafkatest.NewFake(b, kfake.SeedTopics(6, "reference"), kfake.NumBrokers(brokers))
	refCl := kc.Client(b, kgo.DefaultProduceTopic("reference"), kgo.ProducerBatchCompression(kgo.ZstdCompression().WithLevel(producer.ZstdLevel)))
	headers := []kgo.RecordHeader{{Key: producer.HeaderSource, Value: []byte("direct-routing")}}
	ctx := context.Background()

	var refTime, ourTime time.Duration
	var ourAllocs uint64
	b.ResetTimer()
	for i := range b.N {
		runtime.GC()
		t0 := time.Now()
		n, err := reference(ctx, refCl, "reference", pages, headers)
		refTime += time.Since(t0)
		if err != nil || n != total {
			b.Fatalf("reference published %d of %d rows: %v", n, total, err)
		}

		b.StopTimer()
		w := callstreamWalk(b, kc, rec, perfStart, end, i)
		runtime.GC()
		b.StartTimer()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		stopProfile := profileCallstream(b)
		t0 = time.Now()
		if err := w.Run(ctx, true); err != nil {
			b.Fatal(err)
		}
		ourTime += time.Since(t0)
		stopProfile()
		runtime.ReadMemStats(&m1)
		ourAllocs += m1.Mallocs - m0.Mallocs
		if st := w.Stats(); st.Published != total {
			b.Fatalf("callstream published %d of %d rows", st.Published, total)
		}
	}
	rows := float64(total * b.N)
	refRate, ourRate := rows/refTime.Seconds(), rows/ourTime.Seconds()
	b.ReportMetric(ourRate/refRate, "ratio")
	b.ReportMetric(ourRate, "rows/s")
	b.ReportMetric(refRate, "ref-rows/s")
	b.ReportMetric(float64(ourTime.Nanoseconds())/rows, "ns/row")
	b.ReportMetric(float64(ourAllocs)/rows, "allocs/row")
	b.ReportMetric(0, "ns/op")
}

// profileCallstream profiles callstream's runs alone (not the
// reference's, nor the recording of the pages): CALLSTREAM_BENCH_CPUPROFILE
// names a CPU profile file, CALLSTREAM_BENCH_TRACE an execution trace
// file (go tool trace), CALLSTREAM_BENCH_MEMPROFILE an allocation
// profile file written as the difference over the run (every allocation
// sampled). The returned func stops them. With several runs the last one's
// profiles are left in the files.
func profileCallstream(b *testing.B) func() {
	var stops []func()
	// A CPU profile and a trace both stream into a file between a start
	// and a stop.
	for env, run := range map[string]struct {
		start func(io.Writer) error
		stop  func()
	}{
		"CALLSTREAM_BENCH_CPUPROFILE": {pprof.StartCPUProfile, pprof.StopCPUProfile},
		"CALLSTREAM_BENCH_TRACE":      {trace.Start, trace.Stop},
	} {
		path := os.Getenv(env)
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := run.start(f); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, func() {
			run.stop()
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
	if path := os.Getenv("CALLSTREAM_BENCH_MEMPROFILE"); path != "" {
		var before bytes.Buffer
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(&before, 0); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, func() {
			runtime.GC()
			var after bytes.Buffer
			if err := pprof.Lookup("allocs").WriteTo(&after, 0); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path+".base", before.Bytes(), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, after.Bytes(), 0o644); err != nil {
				b.Fatal(err)
			}
		})
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

func init() {
	// Every allocation sampled, so the profile's counts are exact.
	if os.Getenv("CALLSTREAM_BENCH_MEMPROFILE") != "" {
		runtime.MemProfileRate = 1
	}
}

// runOnce runs `callstream run --once` with the default configuration
// (exactly-once, Kafka checkpoint, zstd, backfill concurrency 4) over rows
// simulated rows, and returns the wall-clock time and the child's peak RSS.
func runOnce(b *testing.B, rows int, preRender bool, brokers int) (time.Duration, int64) {
	b.Helper()
	hours := rows / perfRowsPerHour
	end := perfStart.Add(time.Duration(hours) * time.Hour)
	sim, err := graphsim.New(graphsim.Config{Seed: 9, Start: perfStart, End: end, RowsPerHour: perfRowsPerHour,
		Token: perfToken, PreRender: preRender})
	if err != nil {
		b.Fatal(err)
	}
	if sim.Count(perfStart, end) != rows {
		b.Fatalf("simulated %d rows, want %d", sim.Count(perfStart, end), rows)
	}
	url := testkit.Serve(b, sim)
	topic := "rows"
	kc := kafkatest.NewFake(b, kfake.SeedTopics(6, topic), kfake.NumBrokers(brokers))
	bin := testkit.Binary(b, "./cmd/callstream")
	if alt := os.Getenv("CALLSTREAM_BENCH_BINARY"); alt != "" {
		bin = alt // compare another build, e.g. main's
	}
	cmd := exec.Command(bin, "run", "--once")
	env := testkit.Env{
		"GRAPH_BASE_URL":          url,
		"GRAPH_ACCESS_TOKEN":      perfToken,
		"GRAPH_BUDGET_PER_MINUTE": "0",
		"KAFKA_BROKERS":           strings.Join(kc.Brokers, ","),
		"KAFKA_TOPIC":             topic,
		"START_TIME":              perfStart.Format(time.RFC3339),
		"END_TIME":                end.Format(time.RFC3339),
		"SETTLE_DELAY":            "0s",
		"LOG_LEVEL":               "warn",
		"GODEBUG":                 os.Getenv("GODEBUG"),
	}
	// CALLSTREAM_BENCH_CHILD_CPUPROFILE names a file for a 5-second CPU
	// profile of the child, taken a second into the run from its
	// METRICS_PPROF endpoint.
	childProfile := os.Getenv("CALLSTREAM_BENCH_CHILD_CPUPROFILE")
	var opsAddr string
	if childProfile != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		opsAddr = ln.Addr().String()
		ln.Close()
		env["METRICS_ADDR"], env["METRICS_PPROF"] = opsAddr, "true"
	}
	cmd.Env = env.List()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if childProfile != "" {
		go func() {
			time.Sleep(time.Second)
			resp, err := http.Get("http://" + opsAddr + "/debug/pprof/profile?seconds=5")
			if err != nil {
				b.Logf("child profile: %v", err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if err := os.WriteFile(childProfile, body, 0o644); err != nil {
				b.Logf("child profile: %v", err)
			}
		}()
	}
	// The peak is read from the child's own VmHWM while it runs (see
	// testkit.WatchPeakRSS for why not from its rusage).
	peak := testkit.WatchPeakRSS(cmd.Process.Pid)
	// The last reading must come before the process is reaped.
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", cmd.Process.Pid)); err != nil || isZombie(cmd.Process.Pid) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	hwm := peak()
	err = cmd.Wait()
	took := time.Since(t0)
	if err != nil {
		b.Fatalf("callstream run --once: %v\n%s", err, out.String())
	}
	if got := sim.Stats().Rows; got < rows {
		b.Fatalf("simulator served %d rows, want %d", got, rows)
	}
	return took, hwm
}

// isZombie reports a process that has exited but is not reaped yet.
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// BenchmarkRunOnce is the end-to-end figure (2,000,000 pre-rendered rows,
// into kfake clusters of one and of three brokers) and the peak RSS of
// 1,000,000- and 10,000,000-row backfills (three brokers). Each op is one
// run of the binary.
func BenchmarkRunOnce(b *testing.B) {
	for _, brokers := range []int{1, 3} {
		b.Run(fmt.Sprintf("rows=2M/brokers=%d", brokers), func(b *testing.B) {
			var took time.Duration
			for range b.N {
				d, rss := runOnce(b, e2eRows, true, brokers)
				took += d
				b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
			}
			b.ReportMetric(float64(e2eRows*b.N)/took.Seconds(), "rows/s")
			b.ReportMetric(0, "ns/op")
		})
	}
	if testing.Short() {
		return
	}
	var rss1 float64
	for _, rows := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("rss-rows=%dM", rows/1_000_000), func(b *testing.B) {
			var peak int64
			for range b.N {
				_, rss := runOnce(b, rows, false, 3)
				peak = max(peak, rss)
			}
			mb := float64(peak) / (1 << 20)
			b.ReportMetric(mb, "peak-RSS-MB")
			if rows == 1_000_000 {
				rss1 = mb
			} else if rss1 > 0 {
				b.ReportMetric(mb/rss1, "RSS-vs-1M")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// e2eRows is the size of the end-to-end run; the issue asks for at least
// two million.
const e2eRows = 2_000_000
