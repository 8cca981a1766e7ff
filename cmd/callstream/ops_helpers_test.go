package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/testkit"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// liveProc is a callstream process whose output can be read while it
// runs (the shared test kit's).
type liveProc = testkit.Proc

// launch starts the binary with e and args; stdin, when not nil, feeds it.
func launch(t *testing.T, e env, stdin io.Reader, args ...string) *liveProc {
	t.Helper()
	return testkit.Start(t, callstreamBinary(t), e, stdin, args...)
}

// opsAddr waits for p's metrics server and returns its address.
func opsAddr(t *testing.T, p *liveProc) string {
	t.Helper()
	addr, _ := p.LogLine(t, "serving metrics and health", 30*time.Second)["addr"].(string)
	if addr == "" {
		t.Fatal("the metrics log line has no address")
	}
	return addr
}

// get fetches a path of the ops server and returns status and body.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// scrape is one parsed /metrics answer.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, addr string) scrape {
	t.Helper()
	code, body := get(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d:\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	return fams
}

// value sums the samples of a counter or gauge family whose labels include
// every name=value pair given. It fails the test when the family is absent
// or no sample has those labels: a missing series must not read as 0, or a
// check that it is 0 could never fail.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, n := s.sum(t, name, labels)
	if n == 0 {
		t.Fatalf("/metrics has no %s sample with labels %v:\n%s", name, labels, s)
	}
	return v
}

// sum adds the samples of name with labels and counts them.
func (s scrape) sum(t *testing.T, name string, labels []string) (float64, int) {
	t.Helper()
	f, ok := s[name]
	if !ok {
		return 0, 0
	}
	sum, n := 0.0, 0
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		n++
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		default:
			t.Fatalf("%s: unexpected metric type", name)
		}
	}
	return sum, n
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (s scrape) String() string {
	var b strings.Builder
	for name, f := range s {
		if strings.HasPrefix(name, "callstream_") {
			for _, m := range f.GetMetric() {
				fmt.Fprintf(&b, "%s %v\n", name, m)
			}
		}
	}
	return b.String()
}
