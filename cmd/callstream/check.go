package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/walk"
)

var checkHelp = helpDoc{
	usage: "callstream check [--timeout DURATION]",
	summary: `Validate the configuration and every connection run needs, and print each problem with the
setting to fix: a Graph token, a one-minute getDirectRoutingCalls query, Kafka metadata and the
topic's configuration, the Schema Registry subject, and the checkpoint. It changes nothing: no
schema is registered, no record written, no checkpoint saved. Exit 0 only when all is well.`,
	sections: []string{"Graph", "Kafka", "Checkpoint"},
}

// checkResult is the outcome of one check: ok with a detail, or a
// problem that names the setting to fix.
type checkResult struct {
	name    string
	ok      bool
	skipped bool
	detail  string
}

// checkFailed is check's error when a problem was found; the problems are
// already printed. It maps to exit code 1.
type checkFailed struct{ n int }

func (e *checkFailed) Error() string {
	if e.n == 1 {
		return "check: 1 problem found"
	}
	return fmt.Sprintf("check: %d problems found", e.n)
}

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 20*time.Second, "how long each connection may take to answer")
	if err := parseFlags(fs, checkHelp, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &configError{problems: []string{fmt.Sprintf("check takes no arguments, got %q", fs.Args())}}
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		// Nothing can be reached with settings that do not parse; the
		// caller prints every problem and exits 2.
		fmt.Fprintln(stdout, "FAIL  configuration")
		return err
	}
	fmt.Fprintln(stdout, "ok    configuration")

	results := runChecks(ctx, cfg, *timeout)
	failed := 0
	for _, r := range results {
		mark := "ok  "
		switch {
		case r.skipped:
			mark = "skip"
		case !r.ok:
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(stdout, "%s  %-17s %s\n", mark, r.name, r.detail)
	}
	if failed > 0 {
		return &checkFailed{n: failed}
	}
	fmt.Fprintln(stdout, "all checks passed")
	return nil
}

// runChecks runs the independent checks side by side; their results come
// back in a fixed order.
func runChecks(ctx context.Context, cfg Config, timeout time.Duration) []checkResult {
	groups := []func(context.Context) []checkResult{
		func(ctx context.Context) []checkResult { return checkGraph(ctx, cfg, timeout) },
		func(ctx context.Context) []checkResult { return checkKafka(ctx, cfg, timeout) },
		func(ctx context.Context) []checkResult { return []checkResult{checkRegistry(ctx, cfg, timeout)} },
		func(ctx context.Context) []checkResult { return []checkResult{checkCheckpoint(ctx, cfg)} },
	}
	out := make([][]checkResult, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { out[i] = g(ctx) })
	}
	wg.Wait()
	var all []checkResult
	for _, rs := range out {
		all = append(all, rs...)
	}
	return all
}

func ok(name, format string, args ...any) checkResult {
	return checkResult{name: name, ok: true, detail: fmt.Sprintf(format, args...)}
}

func fail(name, format string, args ...any) checkResult {
	return checkResult{name: name, detail: fmt.Sprintf(format, args...)}
}

func skip(name, format string, args ...any) checkResult {
	return checkResult{name: name, ok: true, skipped: true, detail: fmt.Sprintf(format, args...)}
}

// credentialHint names what to fix when no token can be had or Graph
// refuses it.
func credentialHint(cfg Config) string {
	if cfg.Graph.AccessToken != "" {
		return "GRAPH_ACCESS_TOKEN"
	}
	return "AZURE_TENANT_ID / AZURE_CLIENT_ID and a secret, certificate or federated token (or GRAPH_ACCESS_TOKEN)"
}

// checkGraph gets a token, then asks Graph for one settled minute of calls.
func checkGraph(ctx context.Context, cfg Config, timeout time.Duration) []checkResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tokens, err := tokenSource(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return []checkResult{
			fail("graph token", "%s: %v", credentialHint(cfg), err),
			skip("graph query", "no token"),
		}
	}
	if _, err := tokens.Token(ctx); err != nil {
		return []checkResult{
			fail("graph token", "%s: cannot get a token for %s: %v", credentialHint(cfg), fetch.ScopeFor(cfg.Graph.BaseURL), err),
			skip("graph query", "no token"),
		}
	}
	var results []checkResult
	if cfg.Graph.AccessToken != "" {
		results = append(results, ok("graph token", "GRAPH_ACCESS_TOKEN is set (used as is; it is checked by the query below)"))
	} else {
		results = append(results, ok("graph token", "obtained for %s", fetch.ScopeFor(cfg.Graph.BaseURL)))
	}
	fc, err := fetch.New(fetch.Config{
		BaseURL:    cfg.Graph.BaseURL,
		APIVersion: cfg.Graph.APIVersion,
		Tokens:     tokens,
		// One retry: a check is a question, not a walk.
		MaxAttempts:     2,
		MaxThrottleWait: timeout / 2,
		HTTPClient:      &http.Client{Timeout: timeout},
		Logger:          slog.New(slog.DiscardHandler),
		MaxPageBytes:    cfg.Graph.MaxPageBytes,
	})
	if err != nil {
		return append(results, fail("graph query", "GRAPH_BASE_URL: %v", err))
	}
	to := time.Now().UTC().Add(-cfg.Walk.SettleDelay).Truncate(time.Minute)
	from := to.Add(-time.Minute)
	rows := 0
	_, err = fc.Calls(ctx, walk.DirectRouting().Function, from, to, func(p fetch.Page) error {
		rows += len(p.Rows)
		return nil
	})
	if err != nil {
		return append(results, fail("graph query", "%s", explainGraphError(cfg, err)))
	}
	return append(results, ok("graph query", "%s/%s answered %s for [%s, %s): %d rows",
		cfg.Graph.BaseURL, cfg.Graph.APIVersion, walk.DirectRouting().Function, fmtTime(from), fmtTime(to), rows))
}

// explainGraphError turns a failed query into the setting to fix.
func explainGraphError(cfg Config, err error) string {
	var ge *fetch.Error
	switch {
	case errors.As(err, &ge):
		switch ge.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Sprintf("%s: Graph refused the token (%v); check the token is for %s (GRAPH_CLOUD) and not expired", credentialHint(cfg), ge, cfg.Graph.BaseURL)
		case http.StatusForbidden:
			return fmt.Sprintf("AZURE_CLIENT_ID: the app may not read call records (%v); grant the CallRecords.Read.All application permission with admin consent", ge)
		case http.StatusNotFound, http.StatusBadRequest:
			return fmt.Sprintf("GRAPH_BASE_URL / GRAPH_API_VERSION: %s/%s does not serve getDirectRoutingCalls (%v)", cfg.Graph.BaseURL, cfg.Graph.APIVersion, ge)
		case http.StatusTooManyRequests:
			return fmt.Sprintf("Graph throttled the check (%v); nothing to fix in the settings, try again in a minute", ge)
		default:
			return fmt.Sprintf("GRAPH_BASE_URL: Graph failed (%v)", ge)
		}
	case errors.Is(err, fetch.ErrForeignHost):
		return fmt.Sprintf("GRAPH_BASE_URL: %v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("GRAPH_BASE_URL / GRAPH_CLOUD: %s did not answer in time (%v)", cfg.Graph.BaseURL, err)
	default:
		return fmt.Sprintf("GRAPH_BASE_URL / GRAPH_CLOUD: cannot reach %s (%v)", cfg.Graph.BaseURL, err)
	}
}

// checkKafka asks for metadata and the topic's configuration, as run
// does before publishing.
func checkKafka(ctx context.Context, cfg Config, timeout time.Duration) []checkResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ClientID(cfg.Kafka.ClientID))
	if err != nil {
		return []checkResult{fail("kafka brokers", "KAFKA_BROKERS: %v", err), skip("kafka topic", "no connection")}
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return []checkResult{
			fail("kafka brokers", "KAFKA_BROKERS: no broker of %s answered (%v)", strings.Join(cfg.Kafka.Brokers, ","), err),
			skip("kafka topic", "no connection"),
		}
	}
	adm := kadm.NewClient(cl)
	var results []checkResult
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return []checkResult{fail("kafka brokers", "KAFKA_BROKERS: metadata request failed (%v)", err), skip("kafka topic", "no metadata")}
	}
	results = append(results, ok("kafka brokers", "%d broker(s) in the cluster", len(brokers)))
	topics, err := adm.ListTopics(ctx, cfg.Kafka.Topic)
	if err != nil {
		return append(results, fail("kafka topic", "KAFKA_TOPIC: describe %s: %v", cfg.Kafka.Topic, err))
	}
	td, found := topics[cfg.Kafka.Topic]
	switch {
	case !found || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
		return append(results, fail("kafka topic", "KAFKA_TOPIC: topic %s does not exist; create it (not compacted) or fix KAFKA_TOPIC", cfg.Kafka.Topic))
	case errors.Is(td.Err, kerr.TopicAuthorizationFailed):
		return append(results, fail("kafka topic", "KAFKA_TOPIC: not authorised to describe %s; grant DESCRIBE and WRITE on it", cfg.Kafka.Topic))
	case td.Err != nil:
		return append(results, fail("kafka topic", "KAFKA_TOPIC: describe %s: %v", cfg.Kafka.Topic, td.Err))
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, cfg.Kafka.Topic)
	if err != nil {
		return append(results, fail("kafka topic", "KAFKA_TOPIC: describe the configs of %s: %v", cfg.Kafka.Topic, err))
	}
	conf := map[string]string{}
	for _, rc := range rcs {
		if rc.Err != nil {
			return append(results, fail("kafka topic", "KAFKA_TOPIC: describe the configs of %s: %v", cfg.Kafka.Topic, rc.Err))
		}
		for _, c := range rc.Configs {
			if c.Value != nil {
				conf[c.Key] = *c.Value
			}
		}
	}
	if strings.Contains(conf["cleanup.policy"], "compact") {
		return append(results, fail("kafka topic", "KAFKA_TOPIC: %s has cleanup.policy=%s; rows of one call share a key and compaction would erase all but the last: use a delete-policy topic",
			cfg.Kafka.Topic, conf["cleanup.policy"]))
	}
	rf := td.Partitions.NumReplicas()
	detail := fmt.Sprintf("%s: %d partitions, replication %d, cleanup.policy=%s, retention.ms=%s",
		cfg.Kafka.Topic, len(td.Partitions), rf, conf["cleanup.policy"], conf["retention.ms"])
	if rf < 3 {
		detail += " (replication below 3: one broker loss can lose acknowledged rows)"
	}
	return append(results, ok("kafka topic", "%s", detail))
}

// checkRegistry reads the topic's value subject without registering
// anything: absent is fine (run registers it), present must be compatible.
func checkRegistry(ctx context.Context, cfg Config, timeout time.Duration) checkResult {
	const name = "schema registry"
	if cfg.Kafka.Registry.URL == "" {
		return skip(name, "SCHEMA_REGISTRY_URL is not set: values are plain Avro, the schema named in headers")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc, err := cfg.Kafka.Registry.Client()
	if err != nil {
		return fail(name, "SCHEMA_REGISTRY_URL: %v", err)
	}
	subject := cfg.Kafka.Topic + "-value"
	latest, err := rc.SchemaByVersion(ctx, subject, -1)
	var re *sr.ResponseError
	switch {
	case errors.As(err, &re) && re.ErrorCode == sr.ErrSubjectNotFound.Code:
		return ok(name, "%s answers; subject %s is not registered yet (run registers it)", cfg.Kafka.Registry.URL, subject)
	case errors.As(err, &re):
		return fail(name, "SCHEMA_REGISTRY_URL: %s answered %d for subject %s: %s", cfg.Kafka.Registry.URL, re.StatusCode, subject, re.Message)
	case err != nil:
		return fail(name, "SCHEMA_REGISTRY_URL: cannot reach %s (%v)", cfg.Kafka.Registry.URL, err)
	}
	if latest.Schema.Schema == schemas.DirectRoutingSchemaText() {
		return ok(name, "subject %s version %d is this build's schema (id %d)", subject, latest.Version, latest.ID)
	}
	res, err := rc.CheckCompatibility(ctx, subject, -1, sr.Schema{Schema: schemas.DirectRoutingSchemaText(), Type: sr.TypeAvro})
	if err != nil {
		return fail(name, "SCHEMA_REGISTRY_URL: compatibility check for %s failed: %v", subject, err)
	}
	if !res.Is {
		return fail(name, "KAFKA_TOPIC / SCHEMA_REGISTRY_URL: this build's schema is not compatible with %s version %d: %s",
			subject, latest.Version, strings.Join(res.Messages, "; "))
	}
	return ok(name, "this build's schema is compatible with %s version %d (run registers it)", subject, latest.Version)
}

// checkCheckpoint reads the checkpoint and makes sure a new one can be
// written beside it, without touching it.
func checkCheckpoint(ctx context.Context, cfg Config) checkResult {
	const name = "checkpoint"
	store, err := checkpoint.NewFileStore(cfg.Checkpoint.Path)
	if err != nil {
		return fail(name, "CHECKPOINT_PATH: %v", err)
	}
	st, err := store.Load(ctx, walk.DirectRouting().Name)
	if err != nil {
		return fail(name, "CHECKPOINT_PATH: %v", err)
	}
	if err := st.CheckTime(time.Now()); err != nil {
		return fail(name, "CHECKPOINT_PATH: %v; repair with callstream checkpoint reset --source %s --to TIME --yes",
			err, walk.DirectRouting().Name)
	}
	probe, err := os.CreateTemp(filepath.Dir(cfg.Checkpoint.Path), ".callstream-check-*")
	if err != nil {
		return fail(name, "CHECKPOINT_PATH: the directory is not writable: %v", err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if st.Watermark.IsZero() {
		return ok(name, "%s: no progress saved yet; the walk starts at START_TIME", cfg.Checkpoint.Path)
	}
	return ok(name, "%s: watermark %s", cfg.Checkpoint.Path, fmtTime(st.Watermark))
}
