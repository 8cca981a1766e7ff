// Package demo runs the pipeline against the simulators — a simulated
// Graph, an in-process Kafka and Schema Registry — for `callstream demo`: a
// first run, or a world to point the real commands at, with nothing to set
// up. It is kept out of package pipeline so that the application itself
// links no simulator.
package demo

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
)

// Run runs the real pipeline exactly-once over days simulated days of
// perHour calls an hour, against a simulated Graph (with paging,
// throttling, faults and duplicate rows), an in-process Kafka and an
// in-process Schema Registry, then reads the topic back, checks that it
// holds every simulated row once, and prints a summary and one decoded
// record to stdout. verbose shows the pipeline's logs on stderr.
func Run(ctx context.Context, days, perHour int, verbose bool, stdout, stderr io.Writer) error {
	start, end := span(days)
	// The demo walks the default source, whose rows are the simulator's
	// default data set (sim.Count), to its default topic.
	const token = "demo-token"
	src := sources.Default()
	topic := src.DefaultTopic

	sim, err := graphsim.New(graphsim.Config{
		Seed: 1, Start: start, End: end, RowsPerHour: perHour, Token: token,
		PageOverlap: 3, ExtraProperty: true,
		Faults: []graphsim.Fault{
			{Every: 29, Offset: 5, Status: http.StatusTooManyRequests, RetryAfter: "0"},
			{Every: 41, Offset: 11, Status: http.StatusServiceUnavailable, RetryAfter: "0"},
			{Every: 53, Offset: 17, Truncate: true},
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the simulated graph: %w", err)
	}
	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, topic))
	if err != nil {
		return fmt.Errorf("start in-process kafka: %w", err)
	}
	defer kc.Close()
	reg := srfake.New()
	defer reg.Close()

	level := slog.LevelError
	if verbose {
		level = slog.LevelInfo
	}
	cfg := pipeline.Config{
		Graph:      pipeline.GraphConfig{BaseURL: "http://" + ln.Addr().String(), APIVersion: "v1.0", AccessToken: token, MaxAttempts: 8},
		Kafka:      pipeline.KafkaConfig{Brokers: kc.ListenAddrs(), Topic: topic, ClientID: "callstream-demo", Registry: producer.Registry{URL: reg.URL()}},
		Checkpoint: pipeline.CheckpointConfig{Store: "kafka"},
		Walk: pipeline.WalkConfig{
			Start: start, End: end, Window: time.Hour, PollInterval: time.Minute, Concurrency: 4,
			Sources:     []string{src.Name},
			RescanAfter: []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour},
		},
		Log: pipeline.LogConfig{Level: strings.ToLower(level.String()), Format: "text"},
	}
	fmt.Fprintf(stdout, "callstream demo: %d simulated days of %s calls (%d rows, %d per hour), 1-hour windows\n",
		days, src.Title, sim.Count(start, end), perHour)
	fmt.Fprintln(stdout, "simulated Graph injects 429s, 503s, truncated bodies and rows repeated across pages")
	fmt.Fprintln(stdout, "exactly-once: each window's rows and its checkpoint commit in one Kafka transaction")

	began := time.Now()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	p, err := pipeline.New(ctx, cfg, pipeline.Options{Logger: log})
	if err != nil {
		return err
	}
	stats, err := p.Run(ctx, pipeline.RunOptions{Once: true})
	took := time.Since(began)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}

	// Read the topic back, as a consumer would, and check it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	want := stats.Published
	ids := make(map[string]int, want)
	var sample []byte
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var row schemas.DirectRoutingLogRow
	for len(ids) < want && rctx.Err() == nil {
		fetches := cl.PollFetches(rctx)
		if err := fetches.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("read back: %w", err)
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			if len(r.Value) < 5 || r.Value[0] != 0 {
				return fmt.Errorf("record at offset %d lacks the Confluent header", r.Offset)
			}
			if err := schemas.DecodeDirectRoutingRow(r.Value[5:], &row); err != nil {
				return fmt.Errorf("decode record at offset %d: %w", r.Offset, err)
			}
			if string(r.Key) != row.CorrelationID {
				return fmt.Errorf("record %s keyed %q, want its correlationId", row.ID, r.Key)
			}
			ids[row.ID]++
			if sample == nil && row.AdditionalProperties == nil && row.UserID != nil {
				sample = r.Value
			}
		}
	}
	dups := 0
	for _, n := range ids {
		dups += n - 1
	}
	ss := sim.Stats()
	fmt.Fprintf(stdout, "\nwalked %d windows in %s (%.0f rows/s)\n", stats.Windows, took.Round(time.Millisecond), float64(stats.Fetched)/took.Seconds())
	fmt.Fprintf(stdout, "  graph requests     %d (pages %d, retried %d: %d × 429, %d × 503, %d truncated)\n",
		ss.Requests, stats.Pages, stats.Retries, ss.ByStatus[429], ss.ByStatus[503], ss.Truncated)
	fmt.Fprintf(stdout, "  rows fetched       %d\n", stats.Fetched)
	fmt.Fprintf(stdout, "  rows published     %d\n", stats.Published)
	fmt.Fprintf(stdout, "  rows deduplicated  %d (repeated across pages)\n", stats.Duplicates)
	fmt.Fprintf(stdout, "  on the topic       %d records, %d distinct ids, %d duplicates; simulated Graph holds %d\n",
		len(ids)+dups, len(ids), dups, sim.Count(start, end))
	if len(ids) != sim.Count(start, end) || dups != 0 {
		return errors.New("demo: the topic does not hold every simulated row exactly once")
	}
	if sample != nil {
		id := binary.BigEndian.Uint32(sample[1:5])
		var generic map[string]any
		if err := avro.Unmarshal(schemas.DirectRoutingSchema(), sample[5:], &generic); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(generic, "  ", "  ")
		fmt.Fprintf(stdout, "\none record (Confluent framing, schema id %d), decoded with schemas/DirectRoutingLogRow.avsc:\n  %s\n", id, b)
	}
	return nil
}

// Serve runs the demo's simulated Graph over days simulated days of
// perHour calls an hour, an in-process Kafka and Schema Registry, and
// writes the settings that reach them to path, so that a new user can try
// the real `run` (or check, plan, checkpoint) from another shell before
// any Entra app or cluster exists. It serves until ctx ends.
func Serve(ctx context.Context, path string, days, perHour int, stdout io.Writer) error {
	start, end := span(days)
	const token = "demo-token"
	// Every source the simulator serves on v1.0, each to its default topic
	// — but those Graph keeps for less time than has passed since the
	// demo's fixed days (call records: 30 days), which Graph, and so the
	// simulator and run, would refuse.
	var names, topics []string
	for _, src := range sources.All() {
		if slices.Contains(src.Versions, "v1.0") && (src.Retention == 0 || time.Since(start) < src.Retention) {
			names, topics = append(names, src.Name), append(topics, src.DefaultTopic)
		}
	}
	sim, err := graphsim.New(graphsim.Config{
		Seed: 1, Start: start, End: end, RowsPerHour: perHour, Token: token, PageOverlap: 3,
		Faults: []graphsim.Fault{{Every: 29, Offset: 5, Status: http.StatusTooManyRequests, RetryAfter: "0"}},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the simulated graph: %w", err)
	}
	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, topics...))
	if err != nil {
		return fmt.Errorf("start in-process kafka: %w", err)
	}
	defer kc.Close()
	reg := srfake.New()
	defer reg.Close()

	settings := []string{
		"# written by callstream demo --serve: the simulated Graph, Kafka and Schema Registry it runs",
		"GRAPH_BASE_URL=http://" + ln.Addr().String(),
		"GRAPH_AUTH=token",
		"GRAPH_ACCESS_TOKEN=" + token,
		"KAFKA_BROKERS=" + strings.Join(kc.ListenAddrs(), ","),
		"SCHEMA_REGISTRY_URL=" + reg.URL(),
		"SOURCES=" + strings.Join(names, ","),
		"# Graph allows 50 requests a minute per function; the simulator is not that strict, and a demo should be quick",
		"GRAPH_BUDGET_PER_MINUTE=3000",
		"GRAPH_APP_BUDGET_PER_MINUTE=6000",
		"START_TIME=" + start.Format(time.RFC3339),
		"END_TIME=" + end.Format(time.RFC3339),
	}
	// Written whole under another name and renamed, so that a reader never
	// sees half of it.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(settings, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("--serve: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--serve: %w", err)
	}
	fmt.Fprintf(stdout, "callstream demo: simulated Graph (%d Direct Routing and %d PSTN calls from %s to %s), Kafka and Schema Registry are up\n",
		sim.Count(start, end), sim.PstnCount(start, end), start.Format(time.DateOnly), end.Format(time.DateOnly))
	fmt.Fprintf(stdout, "their settings are in %s; from another shell:\n  callstream run --once --env-file %s\nstop with Ctrl-C\n", path, path)
	<-ctx.Done()
	return nil
}

// span is the simulated range: days from a fixed Monday, so that every
// demo shows the same figures.
func span(days int) (start, end time.Time) {
	start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	return start, start.Add(time.Duration(days) * 24 * time.Hour)
}
