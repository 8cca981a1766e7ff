package bench

// The call-records backfill benchmark of issue 17 (make bench-callrecords):
// a backfill of (nearly) 30 days for a tenant of about 5,000 call records
// a day against the call-records family's documented limits, which must
// stay at 0.5% of 429s or fewer.
//
// The simulator enforces that family's limits at crBenchSpeed× speed
// (graphsim.DocumentedLimits.Scaled: 1,500 × speed requests per 20 s per
// app, 40 × speed for the list, 40 × speed per record, over Graph's 20 s
// sliding window) and callstream's budget is matched to them
// (GRAPH_CALLRECORDS_BUDGET_PER_20S, GRAPH_CALLRECORDS_LIST_BUDGET_PER_20S;
// GRAPH_BUDGET_PER_MINUTE stays at its default, which only turns pacing off
// at 0). Its clock is the real one: Graph keeps call records for 30 days
// counted from the request's instant, and the binary refuses a --from
// older than that, so the range starts 15 minutes inside the horizon and
// ends 4 h 15 min ago, when every record of it is visible (records appear
// 15–60 min after the call ends): 29 days and 20 hours, the largest range
// of settled records that fits inside the retention. It reports:
//
//	records     call records in the range (graphsim.CallRecordsCount)
//	requests    requests Graph received; list, gets and sessions pages
//	            apart (list-req, get-req, sess-req)
//	429s        requests answered 429, and 429-pct their share
//	            (target: ≤ 0.5%)
//	peak-20s    the most requests of the family in any 20 s, against the
//	            limit (1,500 × speed)
//	wall-s      the binary's run, start to exit
//	limit-s     requests / the app limit: the time the family's limit
//	            alone imposes (and list-limit-s: list requests / the list
//	            limit)
//	records/s   records / wall
//	eta10-s, eta50-s   the ETA the backfill printed when 10% and 50% of
//	            the range were done, and left10-s, left50-s the time the
//	            run then really had left (the log adds 25%, 75%, 90%)
//
// It checks that the backfill published every record once: the "backfill
// complete" line's published count and the topic's records (one per
// record id, none twice) both equal records.
//
// CALLRECORDS_BENCH_SPEED overrides the speed; CALLRECORDS_BENCH_HOURS
// shortens the range (counted back from its end) for a quick look;
// CALLSTREAM_BENCH_BINARY measures another build.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/internal/kread"
	"github.com/callstream/callstream/internal/testkit"
)

// crBenchSpeed is how much faster than Graph the benchmark runs the
// call-records limits: at 1× the family's 1,500 requests per 20 s make a
// 150,000-record backfill last over half an hour.
const crBenchSpeed = 6

// crRequestLog wraps the simulator and tells the call-records requests
// apart by path: the list, a record's get, a further page of its sessions.
type crRequestLog struct {
	h  http.Handler
	mu sync.Mutex
	// at holds every request's arrival, unix ns; list the list's.
	at, list                 []int64
	lists, gets, sessions    int
	throttled                map[string]int // by kind
	firstAt, lastAt          time.Time
	listPath, recordPathPref string
}

func newCRRequestLog(h http.Handler) *crRequestLog {
	return &crRequestLog{h: h, throttled: map[string]int{}, listPath: "/v1.0/communications/callRecords",
		recordPathPref: "/v1.0/communications/callRecords/"}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (l *crRequestLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	kind := "other"
	switch p := r.URL.Path; {
	case p == l.listPath:
		kind = "list"
	case strings.HasPrefix(p, l.recordPathPref) && strings.HasSuffix(p, "/sessions"):
		kind = "sessions"
	case strings.HasPrefix(p, l.recordPathPref):
		kind = "get"
	}
	l.mu.Lock()
	if l.firstAt.IsZero() {
		l.firstAt = now
	}
	l.at = append(l.at, now.UnixNano())
	switch kind {
	case "list":
		l.lists++
		l.list = append(l.list, now.UnixNano())
	case "get":
		l.gets++
	case "sessions":
		l.sessions++
	}
	l.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	l.h.ServeHTTP(sw, r)
	l.mu.Lock()
	if sw.status == http.StatusTooManyRequests {
		l.throttled[kind]++
	}
	l.lastAt = time.Now()
	l.mu.Unlock()
}

// peak returns the most arrivals in any window of width w.
func peak(at []int64, w time.Duration) int {
	at = slices.Clone(at)
	slices.Sort(at)
	best, lo := 0, 0
	for hi, t := range at {
		for t-at[lo] >= int64(w) {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// crProgress is a "backfill progress" line: when it was written, how much
// of the range was done, and the ETA it printed.
type crProgress struct {
	at      time.Time
	percent float64
	eta     time.Duration
	raw     string
}

func BenchmarkCallRecordsBackfill(b *testing.B) {
	for range b.N {
		callRecordsBackfill(b)
	}
}

func callRecordsBackfill(b *testing.B) {
	speed := crBenchSpeed
	if s := os.Getenv("CALLRECORDS_BENCH_SPEED"); s != "" {
		var err error
		if speed, err = strconv.Atoi(s); err != nil || speed < 1 {
			b.Fatalf("CALLRECORDS_BENCH_SPEED %q: want a whole number ≥ 1", s)
		}
	}
	limits := graphsim.DocumentedLimits.Scaled(speed)
	now := time.Now().UTC().Truncate(time.Minute)
	from := now.Add(-graphsim.CallRecordRetention + 15*time.Minute)
	to := from.Add(29*24*time.Hour + 20*time.Hour)
	if s := os.Getenv("CALLRECORDS_BENCH_HOURS"); s != "" {
		h, err := strconv.Atoi(s)
		if err != nil || h < 1 {
			b.Fatalf("CALLRECORDS_BENCH_HOURS %q: want a whole number ≥ 1", s)
		}
		from = to.Add(-time.Duration(h) * time.Hour)
	}
	// The data set reaches a day either side of the range, as Graph's
	// does; the listing's filter keeps to the range.
	sim, err := graphsim.New(graphsim.Config{Seed: 17, Start: from.Add(-24 * time.Hour), End: to.Add(24 * time.Hour),
		RowsPerDay: 2600, TeamsRecordsPerDay: 2650, Token: perfToken, Limits: limits})
	if err != nil {
		b.Fatal(err)
	}
	records := sim.CallRecordsCount(from, to)
	rl := newCRRequestLog(sim)
	url := testkit.Serve(b, rl)
	topic := "callrecords"
	kc := kafkatest.NewFake(b, kfake.SeedTopics(6, topic))
	out, wall := runBackfill(b, from, to, testkit.Env{
		"GRAPH_BASE_URL":                        url,
		"GRAPH_ACCESS_TOKEN":                    perfToken,
		"GRAPH_CALLRECORDS_BUDGET_PER_20S":      strconv.Itoa(limits.RecordsPerApp),
		"GRAPH_CALLRECORDS_LIST_BUDGET_PER_20S": strconv.Itoa(limits.RecordsList),
		"SOURCES":                               "call-records",
		"KAFKA_BROKERS":                         strings.Join(kc.Brokers, ","),
		"KAFKA_CALLRECORDS_TOPIC":               topic,
	}, "--progress-every", "5s")
	if f := os.Getenv("CALLRECORDS_BENCH_LOG"); f != "" {
		if err := os.WriteFile(f, out, 0o644); err != nil {
			b.Error(err)
		}
	}

	published, completeAt, progress := parseCRLog(b, out)
	if published != records {
		b.Errorf("the backfill published %d records of %d", published, records)
	}
	onTopic, distinct := topicRecords(b, kc, topic)
	if onTopic != records || distinct != records {
		b.Errorf("the topic holds %d records, %d distinct ids, of %d records", onTopic, distinct, records)
	}

	st := sim.Stats()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	reqs, throttled := st.Requests, st.ByStatus[http.StatusTooManyRequests]
	window := limits.RecordsWindow
	limitS := float64(reqs) / float64(limits.RecordsPerApp) * window.Seconds()
	listLimitS := float64(rl.lists) / float64(limits.RecordsList) * window.Seconds()
	peakAll, peakList := peak(rl.at, window), peak(rl.list, window)
	share := 100 * float64(throttled) / float64(reqs)
	b.ReportMetric(float64(records), "records")
	b.ReportMetric(float64(reqs), "requests")
	b.ReportMetric(float64(rl.lists), "list-req")
	b.ReportMetric(float64(rl.gets), "get-req")
	b.ReportMetric(float64(rl.sessions), "sess-req")
	b.ReportMetric(float64(throttled), "429s")
	b.ReportMetric(share, "429-pct")
	b.ReportMetric(float64(peakAll), "peak-20s")
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.ReportMetric(limitS, "limit-s")
	b.ReportMetric(listLimitS, "list-limit-s")
	b.ReportMetric(float64(records)/wall.Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
	// The ETA printed at the first progress line past each share of the
	// range, against the time the run then really had left.
	var etas []string
	for _, pct := range []float64{10, 25, 50, 75, 90} {
		i := slices.IndexFunc(progress, func(p crProgress) bool { return p.percent >= pct && p.eta >= 0 })
		if i < 0 {
			etas = append(etas, fmt.Sprintf("%.0f%%: none", pct))
			continue
		}
		p := progress[i]
		left := completeAt.Sub(p.at)
		if pct == 10 || pct == 50 {
			b.ReportMetric(p.eta.Seconds(), fmt.Sprintf("eta%.0f-s", pct))
			b.ReportMetric(left.Seconds(), fmt.Sprintf("left%.0f-s", pct))
		}
		etas = append(etas, fmt.Sprintf("%.0f%%: %s, really %s left (×%.2f)", pct, p.raw, left.Round(time.Second), p.eta.Seconds()/left.Seconds()))
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	b.Logf("speed %d× (%d requests/20 s per app, %d list): [%s, %s) %s, %d records (%.0f a day), published %d, on the topic %d (%d ids)",
		speed, limits.RecordsPerApp, limits.RecordsList, from.Format(time.RFC3339), to.Format(time.RFC3339), to.Sub(from),
		records, float64(records)/to.Sub(from).Hours()*24, published, onTopic, distinct)
	b.Logf("%d requests (%d list, %d gets, %d sessions pages, %.3f a record), %d 429s (%.3f%%, ≤ 0.5%%: %s; by kind %v), peak %d in 20 s (list %d)",
		reqs, rl.lists, rl.gets, rl.sessions, float64(reqs)/float64(records), throttled, share, verdict(share <= 0.5), rl.throttled, peakAll, peakList)
	b.Logf("wall %.1fs, graph %.1fs, requests/limit %.1fs (list %.1fs), wall/limit %.2f, %.0f records/s",
		wall.Seconds(), rl.lastAt.Sub(rl.firstAt).Seconds(), limitS, listLimitS, wall.Seconds()/limitS, float64(records)/wall.Seconds())
	b.Logf("ETA at %s", strings.Join(etas, "; "))
}

// parseCRLog reads the backfill's JSON log: the published count of its
// "backfill complete" line, when that was written, and its progress lines.
func parseCRLog(b *testing.B, log []byte) (published int, completeAt time.Time, progress []crProgress) {
	published = -1
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Time      time.Time `json:"time"`
			Msg       string    `json:"msg"`
			Published *int      `json:"published"`
			Percent   string    `json:"percent"`
			ETA       string    `json:"eta"`
			Records   int       `json:"rows"`
			Requests  int       `json:"requests"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Msg {
		case "backfill complete":
			if line.Published != nil {
				published, completeAt = *line.Published, line.Time
			}
		case "backfill progress":
			pct, err := strconv.ParseFloat(line.Percent, 64)
			if err != nil {
				b.Fatalf("progress line %s: percent: %v", sc.Bytes(), err)
			}
			eta := time.Duration(-1)
			if line.ETA != "--" {
				if eta, err = time.ParseDuration(line.ETA); err != nil {
					b.Fatalf("progress line %s: eta: %v", sc.Bytes(), err)
				}
			}
			progress = append(progress, crProgress{at: line.Time, percent: pct, eta: eta,
				raw: "eta " + line.ETA + " at " + line.Percent + "% (" + strconv.Itoa(line.Records) + " records, " + strconv.Itoa(line.Requests) + " requests)"})
		}
	}
	if completeAt.IsZero() {
		b.Fatalf("no \"backfill complete\" line:\n%s", tail(string(log), 4000))
	}
	return published, completeAt, progress
}

// topicRecords counts the committed records on topic and their distinct
// keys (record ids).
func topicRecords(b *testing.B, kc *kafkatest.Cluster, topic string) (n, distinct int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	recs, err := kread.All(ctx, cl, topic, true)
	if err != nil {
		b.Fatalf("reading %s: %v", topic, err)
	}
	ids := make(map[string]struct{}, len(recs))
	for _, r := range recs {
		ids[string(r.Key)] = struct{}{}
	}
	return len(recs), len(ids)
}
