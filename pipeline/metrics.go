package pipeline

import (
	"slices"
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

	handover *prometheus.HistogramVec

	mu    sync.Mutex
	walks []*walkView
	// fleet, in a multi-tenant or replicated run, labels the walk metrics
	// with the tenant and adds the tenant and bucket metrics.
	fleet *fleet
}

// walkView is one source's walk as the metrics and health checks see it.
type walkView struct {
	source string
	// tenant is the lane's tenant in a fleet, empty otherwise.
	tenant string
	// down, in a fleet, says why the lane's tenant cannot be read ("" when
	// it can): readiness reports such a lane instead of failing it.
	down func() (string, time.Time)
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
	m.handover = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "bucket_claim_seconds",
		Help:    "Time from a bucket's assignment to this replica until its transactional id was claimed (the previous owner fenced, its open transaction aborted) and its lanes could start.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
	}, nil)
	m.kafka = kprom.NewMetrics(metricsNamespace, kprom.Subsystem("kafka"), kprom.Registry(m.reg))
	m.reg.MustRegister(
		m.graphRequests, m.graphRetries, m.throttleWait, m.windowSeconds, m.handover,
		walkCollector{m}, fleetCollector{m},
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

// addTenantWalk is addWalk for a lane of tenant in a fleet.
func (m *metrics) addTenantWalk(source, tenant string, start time.Time) *walkView {
	v := m.addWalk(source, start)
	v.tenant = tenant
	return v
}

// removeWalk stops watching a walk (a fleet's lane that stopped: its
// bucket moved or its tenant left).
func (m *metrics) removeWalk(v *walkView) {
	m.mu.Lock()
	m.walks = slices.DeleteFunc(m.walks, func(w *walkView) bool { return w == v })
	m.mu.Unlock()
}

// setFleet switches the metrics to a fleet's: walk metrics gain a tenant
// label, and the tenant and bucket metrics appear.
func (m *metrics) setFleet(f *fleet) {
	m.mu.Lock()
	m.fleet = f
	m.mu.Unlock()
}

// observeHandover records how long claiming a bucket took.
func (m *metrics) observeHandover(d time.Duration) { m.handover.WithLabelValues().Observe(d.Seconds()) }

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
	fq := prometheus.BuildFQName(metricsNamespace, "", name)
	d := prometheus.NewDesc(fq, help, append([]string{"source"}, labels...), nil)
	tenantDescs[d] = prometheus.NewDesc(fq, help, append([]string{"source", "tenant"}, labels...), nil)
	return d
}

// tenantDescs are the walk metrics as a fleet serves them: labelled by
// tenant too. A process serves one kind or the other, never both.
var tenantDescs = map[*prometheus.Desc]*prometheus.Desc{}

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

// Describe describes nothing: the collector is unchecked, because which
// labels the walk metrics carry (tenant or not) is decided when Run starts.
func (c walkCollector) Describe(chan<- *prometheus.Desc) {}

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
		lv := []string{v.source}
		desc := func(d *prometheus.Desc) *prometheus.Desc { return d }
		if v.tenant != "" {
			lv = append(lv, v.tenant)
			desc = func(d *prometheus.Desc) *prometheus.Desc { return tenantDescs[d] }
		}
		counter := func(d *prometheus.Desc, n int, labels ...string) {
			ch <- prometheus.MustNewConstMetric(desc(d), prometheus.CounterValue, float64(n), append(slices.Clone(lv), labels...)...)
		}
		gauge := func(d *prometheus.Desc, x float64) {
			ch <- prometheus.MustNewConstMetric(desc(d), prometheus.GaugeValue, x, lv...)
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

// fleetCollector serves a fleet's own metrics: each tenant's state and the
// buckets this replica owns.
type fleetCollector struct{ m *metrics }

var (
	descTenantUp = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", "tenant_up"),
		"1 while the tenant can be read; 0 while its consent is missing or revoked (or Entra refuses its credential): its lanes retry every TENANT_RETRY_INTERVAL and the other tenants carry on.",
		[]string{"tenant"}, nil)
	descBucketsOwned = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", "buckets_owned"),
		"Buckets of tenants this replica owns (walks, with their transactional ids claimed or being claimed).", nil, nil)
	descRebalances = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", "bucket_rebalances_total"),
		"Bucket assignments and revocations this replica has seen from the replica group.", nil, nil)
)

// Describe describes nothing: the metrics exist only in a fleet.
func (c fleetCollector) Describe(chan<- *prometheus.Desc) {}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	f := c.m.fleet
	c.m.mu.Unlock()
	if f == nil {
		return
	}
	for id, up := range f.tenantStates() {
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descTenantUp, prometheus.GaugeValue, v, id)
	}
	owned, rebalances := f.ownedCount()
	ch <- prometheus.MustNewConstMetric(descBucketsOwned, prometheus.GaugeValue, float64(owned))
	ch <- prometheus.MustNewConstMetric(descRebalances, prometheus.CounterValue, float64(rebalances))
}
