package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/sources"
)

// CheckResult is the outcome of one check: ok with a detail, or a
// problem that names the setting to fix.
type CheckResult struct {
	// Name is what was checked: "graph token", "kafka topic", ...
	Name string
	OK   bool
	// Skipped is a check that could not run for a failure reported by
	// another (no token: no query); it counts as OK.
	Skipped bool
	Detail  string
}

// Check validates every connection Run needs, as Run will use them, and
// changes nothing: no topic created, no schema registered, no record
// written, no checkpoint saved. The independent checks run side by side,
// each connection bounded by timeout; their results come back in a fixed
// order.
func (p *Pipeline) Check(ctx context.Context, timeout time.Duration) []CheckResult {
	cfg := p.cfg
	groups := []func(context.Context) []CheckResult{
		func(ctx context.Context) []CheckResult { return checkGraph(ctx, cfg, timeout) },
		func(ctx context.Context) []CheckResult { return checkKafka(ctx, cfg, timeout) },
		func(ctx context.Context) []CheckResult { return checkRegistry(ctx, cfg, timeout) },
		func(ctx context.Context) []CheckResult { return checkCheckpoint(ctx, cfg, timeout) },
	}
	out := make([][]CheckResult, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { out[i] = g(ctx) })
	}
	wg.Wait()
	var all []CheckResult
	for _, rs := range out {
		all = append(all, rs...)
	}
	return all
}

func ok(name, format string, args ...any) CheckResult {
	return CheckResult{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)}
}

func fail(name, format string, args ...any) CheckResult {
	return CheckResult{Name: name, Detail: fmt.Sprintf(format, args...)}
}

func skip(name, format string, args ...any) CheckResult {
	return CheckResult{Name: name, OK: true, Skipped: true, Detail: fmt.Sprintf(format, args...)}
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
func checkGraph(ctx context.Context, cfg Config, timeout time.Duration) []CheckResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tokens, err := tokenSource(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return []CheckResult{
			fail("graph token", "%s: %v", credentialHint(cfg), err),
			skip("graph query", "no token"),
		}
	}
	if _, err := tokens.Token(ctx); err != nil {
		return []CheckResult{
			fail("graph token", "cannot get a token for %s: %s", fetch.ScopeFor(cfg.Graph.BaseURL), oneLine(tokenError(cfg, err))),
			skip("graph query", "no token"),
		}
	}
	var results []CheckResult
	if cfg.Graph.AccessToken != "" {
		results = append(results, ok("graph token", "GRAPH_ACCESS_TOKEN is set (used as is; it is checked by the query below)"))
	} else {
		results = append(results, ok("graph token", "obtained for %s", fetch.ScopeFor(cfg.Graph.BaseURL)))
	}
	client := graphHTTPClient(cfg)
	client.Timeout = min(client.Timeout, timeout)
	fc, err := fetch.New(fetch.Config{
		BaseURL:    cfg.Graph.BaseURL,
		APIVersion: cfg.Graph.APIVersion,
		Tokens:     tokens,
		// One retry: a check is a question, not a walk.
		MaxAttempts:     2,
		MaxThrottleWait: timeout / 2,
		HTTPClient:      client,
		Logger:          slog.New(slog.DiscardHandler),
		MaxPageBytes:    cfg.Graph.MaxPageBytes,
	})
	if err != nil {
		return append(results, fail("graph query", "GRAPH_BASE_URL: %s", redactError(err.Error())))
	}
	to := time.Now().UTC().Add(-cfg.Walk.SettleDelay).Truncate(time.Minute)
	from := to.Add(-time.Minute)
	// Each source's own function: a tenant may be licensed for one only.
	for _, source := range cfg.Walk.Sources {
		src, known := sources.Lookup(source)
		if !known {
			results = append(results, fail("graph query", "SOURCES: unknown source %q", source))
			continue
		}
		fn := fetch.FunctionOf(src)
		rows, what := 0, "rows"
		count := func(p fetch.Page) error {
			rows += len(p.Rows)
			return nil
		}
		if src.Kind == sources.Records {
			// The list alone answers the question; reading each record
			// would spend the check's time on records.
			what = "records listed"
			_, err = fc.CallRecords(ctx, fn, from, to, func(string, int64) bool { rows++; return true }, count)
		} else {
			_, err = fc.Calls(ctx, fn, from, to, count)
		}
		if err != nil {
			results = append(results, fail("graph query", "%s", explainGraphError(cfg, fn, err)))
			continue
		}
		results = append(results, ok("graph query", "%s/%s answered %s for [%s, %s): %d %s",
			cfg.Graph.BaseURL, cfg.Graph.APIVersion, fn, fmtTime(from), fmtTime(to), rows, what))
	}
	return results
}

// explainGraphError turns a failed query into the setting to fix.
func explainGraphError(cfg Config, fn fetch.Function, err error) string {
	return redactError(explainGraph(cfg, fn, err))
}

func explainGraph(cfg Config, fn fetch.Function, err error) string {
	var ge *fetch.Error
	switch {
	case errors.As(err, &ge):
		switch ge.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Sprintf("%s: Graph refused the token (%v); check the token is for %s (GRAPH_CLOUD) and not expired", credentialHint(cfg), ge, cfg.Graph.BaseURL)
		case http.StatusForbidden:
			return fmt.Sprintf("AZURE_CLIENT_ID: the app may not read call records (%v); grant the CallRecords.Read.All application permission with admin consent", ge)
		case http.StatusNotFound, http.StatusBadRequest:
			return fmt.Sprintf("GRAPH_BASE_URL / GRAPH_API_VERSION: %s/%s does not serve %s (%v)", cfg.Graph.BaseURL, cfg.Graph.APIVersion, fn, ge)
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

// checkKafka connects as run does (the same TLS, SASL and preset options)
// and checks every topic run will write, with the producer's own topic
// checks, without creating any: each source's data topic and the
// dead-letter topic.
func checkKafka(ctx context.Context, cfg Config, timeout time.Duration) []CheckResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	var lanes []laneConfig
	for _, source := range cfg.Walk.Sources {
		ls, err := laneSetup(cfg, source, quiet, nil)
		if err != nil {
			return []CheckResult{fail("kafka brokers", "%s", redactError(err.Error())), skip("kafka topic", "no connection")}
		}
		lanes = append(lanes, ls)
	}
	pcfg := lanes[0].producer
	conn, err := producer.ClientOpts(pcfg, quiet)
	if err != nil {
		return []CheckResult{fail("kafka brokers", "KAFKA_*: %s", redactError(err.Error())), skip("kafka topic", "no connection")}
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(pcfg.Brokers...), kgo.ClientID(pcfg.ClientID)}, conn...)...)
	if err != nil {
		return []CheckResult{fail("kafka brokers", "KAFKA_BROKERS: %v", err), skip("kafka topic", "no connection")}
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return []CheckResult{
			fail("kafka brokers", "KAFKA_BROKERS: no broker of %s answered (%v)", strings.Join(pcfg.Brokers, ","), err),
			skip("kafka topic", "no connection"),
		}
	}
	adm := kadm.NewClient(cl)
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return []CheckResult{fail("kafka brokers", "KAFKA_BROKERS: metadata request failed (%v)", err), skip("kafka topic", "no metadata")}
	}
	results := []CheckResult{ok("kafka brokers", "%d broker(s) in the cluster", len(brokers))}
	seen := map[string]bool{}
	for _, ls := range lanes {
		for _, spec := range ls.producer.TopicSpecs() {
			if seen[spec.Name] {
				continue
			}
			seen[spec.Name] = true
			setting := ls.setting
			if spec.Role == producer.DeadLetterTopic {
				setting = "KAFKA_DLQ_TOPIC"
			}
			results = append(results, checkTopic(ctx, cl, spec, setting, cfg.Kafka.Topics.Create))
		}
	}
	return results
}

// checkTopic runs the producer's topic check on one topic, never creating
// it: a missing topic fails unless run would create it.
func checkTopic(ctx context.Context, cl *kgo.Client, spec producer.TopicSpec, setting string, create bool) CheckResult {
	const name = "kafka topic"
	err := producer.EnsureTopics(ctx, cl, []producer.TopicSpec{spec}, false, slog.New(slog.DiscardHandler))
	switch {
	case errors.Is(err, producer.ErrTopicMissing) && create:
		return ok(name, "%s topic %s does not exist; run creates it (KAFKA_CREATE_TOPICS=true)", spec.Role, spec.Name)
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return fail(name, "%s: not authorised to describe %s; grant DESCRIBE and WRITE on it", setting, spec.Name)
	case err != nil:
		var te *producer.TopicError
		if errors.As(err, &te) {
			msgs := make([]string, 0, len(te.Problems))
			for _, p := range te.Problems {
				msgs = append(msgs, p.Error())
			}
			return fail(name, "%s: %s", setting, strings.Join(msgs, "; "))
		}
		return fail(name, "%s: %s: %v", setting, spec.Name, err)
	}
	detail := fmt.Sprintf("%s topic %s", spec.Role, spec.Name)
	if tds, err := kadm.NewClient(cl).ListTopics(ctx, spec.Name); err == nil {
		if td, found := tds[spec.Name]; found && td.Err == nil {
			detail += fmt.Sprintf(": %d partitions, replication %d", len(td.Partitions), td.Partitions.NumReplicas())
		}
	}
	return ok(name, "%s", detail)
}

// checkRegistry looks each source's schema up under the subject run uses
// (SCHEMA_SUBJECT_STRATEGY) without registering anything: absent is fine
// when run registers it, present must be compatible, and the id the
// registry gives must resolve to this build's schema.
func checkRegistry(ctx context.Context, cfg Config, timeout time.Duration) []CheckResult {
	const name = "schema registry"
	if cfg.Kafka.Registry.URL == "" {
		return []CheckResult{skip(name, "SCHEMA_REGISTRY_URL is not set: values are plain Avro, the schema named in headers")}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc, err := cfg.Kafka.Registry.Client()
	if err != nil {
		return []CheckResult{fail(name, "SCHEMA_REGISTRY_URL: %s", redactError(err.Error()))}
	}
	var results []CheckResult
	for _, source := range cfg.Walk.Sources {
		ls, err := laneSetup(cfg, source, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			results = append(results, fail(name, "%s", redactError(err.Error())))
			continue
		}
		results = append(results, checkSubject(ctx, cfg, rc, ls))
	}
	return results
}

func checkSubject(ctx context.Context, cfg Config, rc *sr.Client, ls laneConfig) CheckResult {
	const name = "schema registry"
	reg := cfg.Kafka.Registry
	url := RedactURL(reg.URL)
	subject := reg.Subject.Subject(ls.topic, ls.codec.Name())
	text := ls.codec.Text()
	s := sr.Schema{Schema: text, Type: sr.TypeAvro}
	found, err := rc.LookupSchema(ctx, subject, s)
	var re *sr.ResponseError
	switch {
	case errors.As(err, &re) && (re.ErrorCode == sr.ErrSubjectNotFound.Code || re.ErrorCode == sr.ErrSchemaNotFound.Code):
		if reg.LookupOnly {
			return fail(name, "SCHEMA_AUTO_REGISTER=false: this build's schema is not registered under %s; register it (callstream schema register) or set SCHEMA_AUTO_REGISTER=true", subject)
		}
		return checkCompatible(ctx, rc, subject, s, url)
	case errors.As(err, &re):
		return fail(name, "SCHEMA_REGISTRY_URL: %s answered %d for subject %s: %s", url, re.StatusCode, subject, redactError(re.Message))
	case err != nil:
		return fail(name, "SCHEMA_REGISTRY_URL: cannot reach %s (%s)", url, redactError(err.Error()))
	}
	// Records carry the id: it must resolve to this very schema, or
	// consumers would decode them with another.
	if err := producer.VerifySchemaID(ctx, rc, found.ID, text); err != nil {
		return fail(name, "SCHEMA_REGISTRY_URL: subject %s: %s", subject, redactError(err.Error()))
	}
	return ok(name, "subject %s version %d is this build's schema (id %d)", subject, found.Version, found.ID)
}

func checkCompatible(ctx context.Context, rc *sr.Client, subject string, s sr.Schema, url string) CheckResult {
	const name = "schema registry"
	latest, err := rc.SchemaByVersion(ctx, subject, -1)
	var re *sr.ResponseError
	switch {
	case errors.As(err, &re) && re.ErrorCode == sr.ErrSubjectNotFound.Code:
		return ok(name, "%s answers; subject %s is not registered yet (run registers it)", url, subject)
	case errors.As(err, &re):
		return fail(name, "SCHEMA_REGISTRY_URL: %s answered %d for subject %s: %s", url, re.StatusCode, subject, redactError(re.Message))
	case err != nil:
		return fail(name, "SCHEMA_REGISTRY_URL: cannot reach %s (%s)", url, redactError(err.Error()))
	}
	res, err := rc.CheckCompatibility(ctx, subject, -1, s)
	if err != nil {
		return fail(name, "SCHEMA_REGISTRY_URL: compatibility check for %s failed: %s", subject, redactError(err.Error()))
	}
	if !res.Is {
		return fail(name, "KAFKA_TOPIC / SCHEMA_REGISTRY_URL: this build's schema is not compatible with %s version %d: %s",
			subject, latest.Version, strings.Join(res.Messages, "; "))
	}
	return ok(name, "this build's schema is compatible with %s version %d (run registers it)", subject, latest.Version)
}

// checkCheckpoint reads each source's checkpoint through the store run
// uses, changing nothing. The Kafka store: the checkpoint topic must be
// compacted if it exists (run creates it otherwise). The file store: the
// file must load and its directory be writable.
func checkCheckpoint(ctx context.Context, cfg Config, timeout time.Duration) []CheckResult {
	const name = "checkpoint"
	if cfg.Checkpoint.Store == "file" {
		return []CheckResult{checkFileCheckpoint(ctx, cfg)}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	conn, err := kafkaConnOpts(cfg, quiet, nil)
	if err != nil {
		return []CheckResult{fail(name, "%s", redactError(err.Error()))}
	}
	cl, err := checkpointClient(cfg, conn)
	if err != nil {
		return []CheckResult{fail(name, "KAFKA_BROKERS: %v", err)}
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		// Reported once, under kafka brokers.
		return []CheckResult{skip(name, "kafka does not answer: the checkpoint topic cannot be read")}
	}
	topic := checkpointTopic(cfg)
	spec := producer.TopicSpec{Name: topic, Role: producer.CheckpointTopic, Partitions: 1}
	err = producer.EnsureTopics(ctx, cl, []producer.TopicSpec{spec}, false, quiet)
	switch {
	case errors.Is(err, producer.ErrTopicMissing):
		return []CheckResult{ok(name, "checkpoint topic %s does not exist yet; run creates it (compacted) and starts at START_TIME", topic)}
	case errors.Is(err, producer.ErrNotCompacted):
		return []CheckResult{fail(name, "CHECKPOINT_TOPIC: %v", err)}
	case err != nil:
		if ctx.Err() != nil {
			return []CheckResult{skip(name, "kafka did not answer (see kafka brokers)")}
		}
		return []CheckResult{fail(name, "CHECKPOINT_TOPIC: %s: %v", topic, err)}
	}
	var results []CheckResult
	for _, source := range cfg.Walk.Sources {
		store := kafkaCheckpointStore(cl, cfg, source)
		results = append(results, loadedCheckpoint(ctx, store, source, "CHECKPOINT_TOPIC", "checkpoint topic "+topic))
	}
	return results
}

// checkFileCheckpoint reads the file store's checkpoint of each source and
// makes sure a new one can be written beside it (NewFileStore probes the
// directory), without touching it.
func checkFileCheckpoint(ctx context.Context, cfg Config) CheckResult {
	const name = "checkpoint"
	store, err := checkpoint.NewFileStore(cfg.Checkpoint.Path)
	if err != nil {
		return fail(name, "CHECKPOINT_PATH: %v", err)
	}
	var details []string
	for _, source := range cfg.Walk.Sources {
		r := loadedCheckpoint(ctx, store, source, "CHECKPOINT_PATH", cfg.Checkpoint.Path)
		if !r.OK {
			return r
		}
		details = append(details, r.Detail)
	}
	return ok(name, "%s", strings.Join(details, "; "))
}

// loadedCheckpoint loads one source's checkpoint from store as the walker
// does at start.
func loadedCheckpoint(ctx context.Context, store checkpoint.Loader, source, setting, where string) CheckResult {
	const name = "checkpoint"
	st, err := store.Load(ctx, source)
	if err != nil {
		return fail(name, "%s: %s: %v", setting, source, err)
	}
	if err := st.CheckTime(time.Now()); err != nil {
		return fail(name, "%s: %s: %v; repair with callstream checkpoint reset --source %s --to TIME --yes",
			where, source, err, source)
	}
	if st.Watermark.IsZero() {
		return ok(name, "%s: %s: no progress saved yet; the walk starts at START_TIME", where, source)
	}
	return ok(name, "%s: %s: watermark %s", where, source, fmtTime(st.Watermark))
}
