package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/schemas"
)

// Tests of issue 12 against the real binary: a hostile or broken world
// (Graph, Kafka, registry, settings, signals) must end in a clear, bounded
// answer that never prints a secret.

// hostilePipeline is newPipeline over a settled range of two hours.
func hostilePipeline(t *testing.T) *pipeline {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Hour)
	return newPipeline(t, graphsim.Config{Seed: 12, Start: now.Add(-3 * time.Hour), End: now.Add(-time.Hour), RowsPerHour: 60})
}

// with returns a copy of e with the changes applied; an empty value
// removes the variable.
func with(e env, changes env) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

// topicNames lists the cluster's topics.
func topicNames(t *testing.T, p *pipeline) []string {
	t.Helper()
	adm := kadm.NewClient(p.kafka.Client(t))
	tds, err := adm.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := tds.Names()
	slices.Sort(names)
	return names
}

// TestCheckVerifiesEverySourcesTopic: with SOURCES=pstn, check looks at
// the PSTN topic (not KAFKA_TOPIC) and at the dead-letter topic, as run
// does, and names the missing one and its setting.
func TestCheckVerifiesEverySourcesTopic(t *testing.T) {
	p := hostilePipeline(t)
	t.Run("missing pstn topic", func(t *testing.T) {
		e := p.env.With(env{"SOURCES": "pstn", "KAFKA_PSTN_TOPIC": "no-such-pstn-topic"})
		proc := launch(t, e, nil, "check", "--timeout", "5s")
		if code := proc.Wait(t, time.Minute); code != 1 {
			t.Fatalf("exit %d, want 1; output:\n%s", code, proc.Out)
		}
		out := proc.Out.String()
		if !strings.Contains(out, "FAIL  kafka topic       KAFKA_PSTN_TOPIC: data topic no-such-pstn-topic") {
			t.Errorf("the missing PSTN topic is not named:\n%s", out)
		}
		if !strings.Contains(out, "getPstnCalls") {
			t.Errorf("check did not query the PSTN function:\n%s", out)
		}
	})
	t.Run("missing dead-letter topic", func(t *testing.T) {
		e := p.env.With(env{"KAFKA_DLQ_TOPIC": "no-such-dlq"})
		proc := launch(t, e, nil, "check", "--timeout", "5s")
		if code := proc.Wait(t, time.Minute); code != 1 {
			t.Fatalf("exit %d, want 1; output:\n%s", code, proc.Out)
		}
		if out := proc.Out.String(); !strings.Contains(out, "FAIL  kafka topic       KAFKA_DLQ_TOPIC: dead-letter topic no-such-dlq") {
			t.Errorf("the missing dead-letter topic is not named:\n%s", out)
		}
	})
}

// TestCheckKafkaStoreIsReadOnly: under the default Kafka store, check
// neither reads the file checkpoint (a corrupt one is there) nor creates
// the checkpoint topic, and a checkpoint topic that is not compacted
// fails, naming CHECKPOINT_TOPIC.
func TestCheckKafkaStoreIsReadOnly(t *testing.T) {
	p := hostilePipeline(t)
	if err := os.WriteFile(p.cpPath, []byte("{not a checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := topicNames(t, p)
	proc := launch(t, p.env, nil, "check", "--timeout", "5s")
	if code := proc.Wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d, want 0 (the file checkpoint is not used); output:\n%s", code, proc.Out)
	}
	if out := proc.Out.String(); !strings.Contains(out, "ok    checkpoint        checkpoint topic "+p.topic+".checkpoint does not exist yet") {
		t.Errorf("check does not report the Kafka checkpoint:\n%s", out)
	}
	if after := topicNames(t, p); !slices.Equal(before, after) {
		t.Errorf("check changed the topics: before %v, after %v", before, after)
	}

	deleting := p.kafka.Topic(t, 1, nil)
	proc = launch(t, p.env.With(env{"CHECKPOINT_TOPIC": deleting}), nil, "check", "--timeout", "5s")
	if code := proc.Wait(t, time.Minute); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, proc.Out)
	}
	if out := proc.Out.String(); !strings.Contains(out, "FAIL  checkpoint        CHECKPOINT_TOPIC: ") || !strings.Contains(out, "not compacted") {
		t.Errorf("a delete-policy checkpoint topic is not refused:\n%s", out)
	}
}

// hostileGraphs are Graph servers that never give a window: each must end
// a bounded run.
func hostileGraphs(t *testing.T) map[string]string {
	t.Helper()
	serve := func(h http.HandlerFunc) string {
		graphURL := testkit.Serve(t, h)
		return graphURL
	}
	slow := make(chan struct{})
	t.Cleanup(func() { close(slow) })
	return map[string]string{
		"connection refused": "http://" + closedAddr(t),
		"html 200": serve(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body>Sign in to continue</body></html>")
		}),
		"500s": serve(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":{"code":"InternalServerError"}}`, http.StatusInternalServerError)
		}),
		"slowloris": serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"value":[`)
			for {
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-slow:
					return
				case <-time.After(200 * time.Millisecond):
					fmt.Fprint(w, " ")
				}
			}
		}),
	}
}

// TestBoundedRunGivesUp: run --once and backfill against a Graph that
// never answers a window end with exit 1 and the cause after
// MAX_WINDOW_FAILURES windows failed in a row, instead of retrying until
// killed.
func TestBoundedRunGivesUp(t *testing.T) {
	p := hostilePipeline(t)
	for name, graph := range hostileGraphs(t) {
		for _, cmd := range [][]string{{"run", "--once"}, {"backfill", "--from", p.start.Format(time.RFC3339), "--to", p.end.Format(time.RFC3339)}} {
			t.Run(name+"/"+cmd[0], func(t *testing.T) {
				e := p.env.With(env{"GRAPH_BASE_URL": graph, "GRAPH_MAX_ATTEMPTS": "1", "MAX_WINDOW_FAILURES": "2",
					"GRAPH_REQUEST_TIMEOUT": "1s", "CHECKPOINT_STORE": "file"})
				began := time.Now()
				proc := launch(t, e, nil, cmd...)
				if code := proc.Wait(t, 20*time.Second); code != 1 {
					t.Fatalf("exit %d, want 1; output:\n%s", code, proc.Out)
				}
				out := proc.Out.String()
				if !strings.Contains(out, "gave up after 2 consecutive window failures") {
					t.Errorf("the cause is not printed:\n%s", out)
				}
				t.Logf("%s gave up after %s", name, time.Since(began).Round(time.Millisecond))
			})
		}
	}
}

// TestBoundedRunGivesUpOnKafka: with the file store and a broker that is
// not there, run --once gives up as the Kafka store does, instead of
// retrying the connection for ever.
func TestBoundedRunGivesUpOnKafka(t *testing.T) {
	p := hostilePipeline(t)
	e := p.env.With(env{"KAFKA_BROKERS": closedAddr(t), "CHECKPOINT_STORE": "file", "MAX_WINDOW_FAILURES": "2"})
	proc := launch(t, e, nil, "run", "--once")
	if code := proc.Wait(t, 20*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, proc.Out)
	}
	if out := proc.Out.String(); !strings.Contains(out, "connect to kafka: gave up after 2 attempts") {
		t.Errorf("the cause is not printed:\n%s", out)
	}
}

// TestContinuousRunNotReadyWhileFailing: a continuous run keeps retrying
// a failing Graph, and /readyz says it is not ready and why, without the
// token Graph's error body echoes.
func TestContinuousRunNotReadyWhileFailing(t *testing.T) {
	p := hostilePipeline(t)
	token := p.env["GRAPH_ACCESS_TOKEN"]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"code":"InternalServerError","message":"request with `+r.Header.Get("Authorization")+` failed"}}`, http.StatusInternalServerError)
	}))
	srv.Config.ErrorLog = nil
	t.Cleanup(srv.Close)
	e := p.env.With(env{"GRAPH_BASE_URL": srv.URL, "GRAPH_MAX_ATTEMPTS": "1", "MAX_WINDOW_FAILURES": "1",
		"CHECKPOINT_STORE": "file", "METRICS_ADDR": "127.0.0.1:0"})
	proc := launch(t, e, nil, "run")
	addr := opsAddr(t, proc)
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := get(t, addr, "/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "windows failed in a row") {
			if !strings.Contains(body, "500") {
				t.Errorf("/readyz does not give the cause:\n%s", body)
			}
			if strings.Contains(body, token) {
				t.Errorf("/readyz prints the token:\n%s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never reported the failing walk; last %d:\n%s\noutput:\n%s", code, body, proc.Out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-proc.Done():
		t.Fatalf("a continuous run gave up; output:\n%s", proc.Out)
	default:
	}
	proc.Stop(t)
}

// TestSecretsInURLsAreNeverPrinted: URL settings with a password in them
// are refused, naming the setting, and the password appears nowhere in the
// output, also when the URL does not parse.
func TestSecretsInURLsAreNeverPrinted(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	cases := map[string]env{
		"graph userinfo":            {"GRAPH_BASE_URL": "http://user:" + secret + "@127.0.0.1:1"},
		"graph malformed":           {"GRAPH_BASE_URL": "http://user:" + secret + "%zz@127.0.0.1:1"},
		"registry userinfo":         {"SCHEMA_REGISTRY_URL": "https://key:" + secret + "@registry.example.com"},
		"registry malformed":        {"SCHEMA_REGISTRY_URL": "https://key:" + secret + "%zz@registry.example.com"},
		"registry malformed no '@'": {"SCHEMA_REGISTRY_URL": "https://registry.example.com/?x=" + secret + "%zz"},
	}
	setting := func(e env) string {
		for k := range e {
			return k
		}
		return ""
	}
	for name, change := range cases {
		for _, cmd := range [][]string{{"run", "--once"}, {"check"}} {
			t.Run(name+"/"+cmd[0], func(t *testing.T) {
				e := with(env{"GRAPH_ACCESS_TOKEN": "t", "KAFKA_BROKERS": "127.0.0.1:1", "LOG_FORMAT": "json"}, change)
				proc := launch(t, e, nil, cmd...)
				if code := proc.Wait(t, 20*time.Second); code != 2 {
					t.Fatalf("exit %d, want 2; output:\n%s", code, proc.Out)
				}
				out := proc.Out.String()
				if !strings.Contains(out, setting(change)) {
					t.Errorf("the setting is not named:\n%s", out)
				}
				if strings.Contains(out, secret) {
					t.Errorf("the secret is printed:\n%s", out)
				}
			})
		}
	}
}

// changingIDs fronts a registry and answers each registration and lookup
// with a new schema id that the registry does not know.
func changingIDs(t *testing.T, upstream string) string {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	var next atomic.Int64
	next.Store(5000)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodPost || !strings.HasPrefix(resp.Request.URL.Path, "/subjects/") || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			if _, ok := m["id"]; ok {
				m["id"] = next.Add(1)
				body, _ = json.Marshal(m)
			}
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRegistryWithChangingIDs: a registry whose ids do not resolve to the
// schema gets no record written under them (run exits 2 before the first
// record), and check reports it.
func TestRegistryWithChangingIDs(t *testing.T) {
	p := hostilePipeline(t)
	e := p.env.With(env{"SCHEMA_REGISTRY_URL": changingIDs(t, p.registry.URL()), "CHECKPOINT_STORE": "file"})
	proc := launch(t, e, nil, "run", "--once")
	if code := proc.Wait(t, time.Minute); code != 2 {
		t.Fatalf("exit %d, want 2; output:\n%s", code, proc.Out)
	}
	if out := proc.Out.String(); !strings.Contains(out, "schema id does not resolve to the schema") {
		t.Errorf("the cause is not printed:\n%s", out)
	}
	if recs := p.kafka.ReadAll(t, p.topic, false); len(recs) != 0 {
		t.Errorf("%d records written under an unresolved id", len(recs))
	}

	rc, err := sr.NewClient(sr.URLs(p.registry.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.CreateSchema(context.Background(), p.topic+"-value", sr.Schema{Schema: schemas.DirectRoutingSchemaText(), Type: sr.TypeAvro}); err != nil {
		t.Fatal(err)
	}
	proc = launch(t, e, nil, "check", "--timeout", "5s")
	if code := proc.Wait(t, time.Minute); code != 1 {
		t.Fatalf("check exit %d, want 1; output:\n%s", code, proc.Out)
	}
	if out := proc.Out.String(); !strings.Contains(out, "FAIL  schema registry") || !strings.Contains(out, "does not resolve it") {
		t.Errorf("check does not report the unresolved id:\n%s", out)
	}
}

// TestSecondSignalExitsAtOnce: a second SIGINT during the clean stop ends
// the process at once with exit 130 and says so, never by the default
// signal action. The clean stop is held up by a /readyz request that never
// finishes its headers: the ops server waits for it (up to 3 s) on close.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	p := hostilePipeline(t)
	proc := launch(t, p.env.With(env{"METRICS_ADDR": "127.0.0.1:0", "CHECKPOINT_STORE": "file", "END_TIME": ""}), nil, "run")
	addr := opsAddr(t, proc)
	proc.LogLine(t, "walking", 30*time.Second)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /readyz HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := proc.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	proc.LogLine(t, "stopped by signal; the window in flight was abandoned and will be read again", 10*time.Second) // the clean stop has begun
	// Signals of one kind do not queue: the second must come after the
	// first was taken.
	time.Sleep(200 * time.Millisecond)
	if err := proc.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if code := proc.Wait(t, 10*time.Second); code != 130 {
		t.Fatalf("exit %d (%v), want %d; output:\n%s", code, proc.Cmd.ProcessState, 130, proc.Out)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("the second signal took %s to end the process", took)
	}
	if out := proc.Out.String(); !strings.Contains(out, "second signal") {
		t.Errorf("the early exit is not explained:\n%s", out)
	}
}

// TestStartTimeEdges: a START_TIME before any call log is refused naming
// it; one in the future, and SETTLE_DELAY=0s without rescans, are allowed
// with a warning that says what will happen.
func TestStartTimeEdges(t *testing.T) {
	p := hostilePipeline(t)
	t.Run("year one", func(t *testing.T) {
		proc := launch(t, p.env.With(env{"START_TIME": "0001-01-01T00:00:00Z", "END_TIME": ""}), nil, "run", "--once")
		if code := proc.Wait(t, 20*time.Second); code != 2 {
			t.Fatalf("exit %d, want 2; output:\n%s", code, proc.Out)
		}
		if out := proc.Out.String(); !strings.Contains(out, "START_TIME 0001-01-01T00:00:00Z: before 2018-01-01") {
			t.Errorf("START_TIME is not named:\n%s", out)
		}
	})
	t.Run("future", func(t *testing.T) {
		future := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
		e := p.env.With(env{"START_TIME": future, "END_TIME": "", "CHECKPOINT_STORE": "file"})
		proc := launch(t, e, nil, "run", "--once")
		if code := proc.Wait(t, 30*time.Second); code != 0 {
			t.Fatalf("exit %d, want 0; output:\n%s", code, proc.Out)
		}
		if msg := findLog(proc.Out.String(), "START_TIME "+future+" is in the future"); msg == "" {
			t.Errorf("no warning about the future START_TIME:\n%s", proc.Out)
		}
	})
	t.Run("no settle delay nor rescans", func(t *testing.T) {
		e := p.env.With(env{"SETTLE_DELAY": "0s", "RESCAN_AFTER": ",", "CHECKPOINT_STORE": "file"})
		proc := launch(t, e, nil, "run", "--once")
		if code := proc.Wait(t, 30*time.Second); code != 0 {
			t.Fatalf("exit %d, want 0; output:\n%s", code, proc.Out)
		}
		if msg := findLog(proc.Out.String(), "SETTLE_DELAY=0s with an empty RESCAN_AFTER"); msg == "" {
			t.Errorf("no warning about late rows:\n%s", proc.Out)
		}
	})
}

// findLog returns the first WARN log line whose message starts with
// prefix.
func findLog(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["level"] == "WARN" {
			if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, prefix) {
				return msg
			}
		}
	}
	return ""
}
