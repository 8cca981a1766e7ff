package pipeline

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/walk"
)

// metricsNamespace prefixes every metric name.
const metricsNamespace = "callstream"

// metrics is what /metrics serves. The walk's counters are read from the
// walker at scrape time, in one snapshot, so that a scrape never sees rows
// counted as fetched but not yet as published; Graph answers come from
// fetch's Observe hook; the Kafka client's own metrics come from kprom.
//
// Each metrics has its own registry (never the global one), so tests and
// subcommands can build as many as they like.
type metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	graphRequests *prometheus.CounterVec
	graphRetries  *prometheus.CounterVec
	throttleWait  prometheus.Counter
	windowSeconds *prometheus.HistogramVec
	kafka         *kprom.Metrics

	mu    sync.Mutex
	walks []*walkView
}

// walkView is one source's walk as the metrics and health checks see it.
type walkView struct {
	source string
	// start is where the walk begins when there is no checkpoint; lag is
	// measured from it until a watermark exists.
	start  time.Time
	began  time.Time // when this process started walking
	walker atomic.Pointer[walk.Walker]
}

// newMetrics registers callstream's metrics, the Go runtime's and the
// process's in a new registry; version labels callstream_build_info.
func newMetrics(now func() time.Time, version string) *metrics {
	if now == nil {
		now = time.Now
	}
	m := &metrics{reg: prometheus.NewRegistry(), now: now}
	m.graphRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "graph_requests_total",
		Help: `Requests to Microsoft Graph by HTTP status; status "none" when no complete answer arrived (connection failure, body cut short, no token).`,
	}, []string{"status"})
	m.graphRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "graph_retries_total",
		Help: "Graph requests that were tried again, by the status that caused the retry.",
	}, []string{"status"})
	m.throttleWait = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "graph_throttle_wait_seconds_total",
		Help: "Time spent waiting before retrying requests Graph throttled (429).",
	})
	m.windowSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "window_duration_seconds",
		Help:    "Time from the start of a window's read until its checkpoint was saved (every row acknowledged by Kafka), by kind: new or rescan.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
	}, []string{"source", "kind"})
	m.kafka = kprom.NewMetrics(metricsNamespace, kprom.Subsystem("kafka"), kprom.Registry(m.reg))
	m.reg.MustRegister(
		m.graphRequests, m.graphRetries, m.throttleWait, m.windowSeconds,
		walkCollector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "build_info",
			Help:        "Always 1; the version label names the build.",
			ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }),
	)
	return m
}

// observeGraph is fetch's Observe hook.
func (m *metrics) observeGraph(a fetch.Attempt) {
	status := "none"
	if a.Status != 0 {
		status = strconv.Itoa(a.Status)
	}
	m.graphRequests.WithLabelValues(status).Inc()
	if !a.Retry {
		return
	}
	m.graphRetries.WithLabelValues(status).Inc()
	if a.Status == 429 {
		m.throttleWait.Add(a.Wait.Seconds())
	}
}

// kafkaOpts hooks kprom into a Kafka client. Only one client may use them:
// kprom registers its collectors when the client is created.
func (m *metrics) kafkaOpts() []kgo.Opt { return []kgo.Opt{kgo.WithHooks(m.kafka)} }

// addWalk starts watching a source's walk. The returned view times reads
// once it is given the walker (view.walker.Store) and the walker is built
// on view.fetcher and view.store.
func (m *metrics) addWalk(source string, start time.Time) *walkView {
	v := &walkView{source: source, start: start, began: m.now()}
	m.mu.Lock()
	m.walks = append(m.walks, v)
	m.mu.Unlock()
	return v
}

// observeRead is the walker's OnRead hook: it times each completed read.
func (v *walkView) observeRead(m *metrics) func(rescan bool, took time.Duration) {
	return func(rescan bool, took time.Duration) {
		kind := "new"
		if rescan {
			kind = "rescan"
		}
		m.windowSeconds.WithLabelValues(v.source, kind).Observe(took.Seconds())
	}
}

// walkCollector reads every walk's counters at scrape time.
type walkCollector struct{ m *metrics }

func walkDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", name), help, append([]string{"source"}, labels...), nil)
}

var (
	descFetched = walkDesc("rows_fetched_total",
		"Rows received from Graph in windows and rescans that completed. Equals published + duplicate + dead_lettered.")
	descPublished = walkDesc("rows_published_total",
		"Rows acknowledged by Kafka.")
	descDuplicate = walkDesc("rows_duplicate_total",
		"Rows skipped because their id was already published (repeated across pages, or seen again by a rescan).")
	descLate = walkDesc("rows_late_total",
		"Rows first published by a rescan: Graph made them visible after their window was first read. Included in published.")
	descDeadLettered = walkDesc("rows_dead_lettered_total",
		"Rows sent to the dead-letter topic instead of the data topic.")
	descWindows = walkDesc("windows_total",
		"Reads completed and checkpointed, by kind: new (a window read for the first time) or rescan.", "kind")
	descFailures = walkDesc("window_failures_total",
		"Window reads that failed and will be tried again.")
	descPages = walkDesc("pages_total",
		"Graph pages received.")
	descWatermark = walkDesc("watermark_timestamp_seconds",
		"The watermark: every call that started before it was published. Unix time; the configured start while there is none.")
	descLag = walkDesc("watermark_lag_seconds",
		"Now minus the watermark. Never below SETTLE_DELAY plus up to one WINDOW when caught up.")
	descFullPages = walkDesc("pages_full_total",
		"Graph pages that came back full (1,000 rows): graph requests over full pages is what the request budget spends on partial pages and retries.")
	descHistoryWindows = walkDesc("history_windows_total",
		"New windows of history (past their last RESCAN_AFTER age) read in windows sized by rows; among windows_total{kind=\"new\"}.")
	descHistoryWidth = walkDesc("history_window_seconds",
		"Width of the next history window as the planner sized it from the rows the last one held (WINDOW before the first).")
	descCheckpointAge = walkDesc("checkpoint_age_seconds",
		"Time since this process last saved the checkpoint (since it started walking, before the first save).")
)

func (c walkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFetched, descPublished, descDuplicate, descLate, descDeadLettered,
		descWindows, descFailures, descPages, descWatermark, descLag, descCheckpointAge, descHistoryWindows, descHistoryWidth, descFullPages} {
		ch <- d
	}
}

func (c walkCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	walks := append([]*walkView(nil), c.m.walks...)
	c.m.mu.Unlock()
	now := c.m.now()
	for _, v := range walks {
		w := v.walker.Load()
		if w == nil {
			continue
		}
		st := w.Stats()
		counter := func(d *prometheus.Desc, n int, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), append([]string{v.source}, labels...)...)
		}
		gauge := func(d *prometheus.Desc, x float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, x, v.source)
		}
		counter(descFetched, st.Fetched)
		counter(descPublished, st.Published)
		counter(descDuplicate, st.Duplicates)
		counter(descLate, st.Late)
		counter(descDeadLettered, st.DeadLettered)
		counter(descWindows, st.Windows, "new")
		counter(descWindows, st.Rescans, "rescan")
		counter(descFailures, st.Failures)
		counter(descPages, st.Pages)
		counter(descFullPages, st.FullPages)
		counter(descHistoryWindows, st.HistoryWindows)
		gauge(descHistoryWidth, w.HistoryWidth().Seconds())
		mark := w.Watermark()
		if mark.IsZero() {
			mark = v.start
		}
		gauge(descWatermark, float64(mark.UnixNano())/1e9)
		gauge(descLag, now.Sub(mark).Seconds())
		saved := w.LastProgress()
		if saved.IsZero() {
			saved = v.began
		}
		gauge(descCheckpointAge, now.Sub(saved).Seconds())
	}
}
