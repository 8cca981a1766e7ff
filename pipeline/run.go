package pipeline

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
)

// RunOptions adapt a run to a subcommand.
type RunOptions struct {
	// Once walks until caught up (or END_TIME), then returns: run --once,
	// backfill, demo.
	Once bool
	// StartSetting names the setting an explicit start came from
	// (START_TIME, --start), for the warning that a checkpoint overrides
	// it; empty when resuming is expected.
	StartSetting string
	// Watch, when set, runs beside the walk (backfill's progress report)
	// until the walk ends; it must return when ctx ends.
	Watch func(ctx context.Context, w *walk.Walker)
}

// Run wires every lane and walks them side by side until ctx ends, or with
// Once until each is caught up; a permanent failure of one stops all. A
// stop by ctx is a clean return (nil error). The stats are the lanes'
// totals. Run may be called once.
func (p *Pipeline) Run(ctx context.Context, opts RunOptions) (walk.Stats, error) {
	if p.cfg.Fleet() {
		return p.runFleet(ctx, opts)
	}
	cfg, log, m, ready := p.cfg, p.log, p.metrics, p.ready
	var none walk.Stats
	tokens, err := tokenSource(cfg, log)
	if err != nil {
		return none, &ConfigError{Problems: []string{err.Error()}}
	}
	ready.setTokens(tokens)
	if err := acquireToken(ctx, cfg, tokens, log); err != nil {
		if ctx.Err() != nil {
			log.Info("stopped before getting a graph token")
			return none, nil
		}
		return none, err
	}
	budget, err := graphBudget(cfg, log)
	if err != nil {
		return none, &ConfigError{Problems: []string{err.Error()}}
	}
	fc, err := fetch.New(fetch.Config{
		BaseURL:     cfg.Graph.BaseURL,
		APIVersion:  cfg.Graph.APIVersion,
		Tokens:      tokens,
		Budget:      budget,
		MaxAttempts: cfg.Graph.MaxAttempts,
		Logger:      log,
		Observe:     m.observeGraph,
		// The caps bound what one answer, and one window, can cost.
		MaxPageBytes: cfg.Graph.MaxPageBytes,
		MaxPages:     cfg.Graph.MaxPages,
		HTTPClient:   graphHTTPClient(cfg),
	})
	if err != nil {
		return none, &ConfigError{Problems: []string{err.Error()}}
	}
	// The checkpoint reader connects the way the producers do (TLS, SASL).
	conn, err := kafkaConnOpts(cfg, log, p.extraKafka)
	if err != nil {
		return none, err
	}
	stores, closeStores, err := openStores(ctx, cfg, conn)
	if err != nil {
		return none, StartupError(err)
	}
	defer closeStores()
	if err := preflightCheckpoints(ctx, cfg, stores, opts.StartSetting, log); err != nil {
		if ctx.Err() != nil {
			return none, nil
		}
		return none, err
	}

	start := cfg.Walk.Start
	if start.IsZero() {
		start = defaultStart(time.Now(), cfg.Walk.Window)
		log.Info("START_TIME not set; starting one day back", "start", start)
	}
	var lanes []*lane
	defer func() {
		for _, l := range lanes {
			l.close(ctx, log)
		}
	}()
	for i, source := range cfg.Walk.Sources {
		extra := slices.Clone(p.extraKafka)
		if i == 0 {
			// kprom registers its collectors once, with one client.
			extra = append(extra, m.kafkaOpts()...)
		}
		l, err := openLane(ctx, cfg, source, start, opts.Once, fc, stores, log, extra, m)
		if err != nil {
			if ctx.Err() != nil {
				log.Info("stopped before connecting to kafka")
				return none, nil
			}
			return none, err
		}
		lanes = append(lanes, l)
		ready.addWalk(l.view)
		if i == 0 {
			ready.setKafka(l.prod.Client())
		}
	}
	if opts.Watch != nil && len(lanes) > 0 {
		wctx, cancel := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() { defer close(watched); opts.Watch(wctx, lanes[0].walker) }()
		defer func() { cancel(); <-watched }()
	}

	// Each source walks on its own; a permanent failure of one stops all.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(lanes))
	var wg sync.WaitGroup
	for i, l := range lanes {
		wg.Go(func() {
			err := l.walker.Run(wctx, opts.Once)
			if err != nil && !errors.Is(err, walk.ErrDone) && wctx.Err() == nil {
				cancel(err)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	var total walk.Stats
	var failed error
	for i, l := range lanes {
		st := l.walker.Stats()
		addStats(&total, st)
		attrs := []any{"source", l.source, "topic", l.topic, "watermark", l.walker.Watermark(), "windows", st.Windows,
			"rescans", st.Rescans, "pages", st.Pages, "fetched", st.Fetched, "published", st.Published,
			"duplicates", st.Duplicates, "late", st.Late, "dead_lettered", st.DeadLettered,
			"requests", st.Requests, "full_pages", st.FullPages, "throttled", st.Throttled}
		switch err := errs[i]; {
		case err == nil, errors.Is(err, walk.ErrDone):
			log.Info("caught up", attrs...)
		case ctx.Err() != nil:
			log.Info("stopped by signal; the window in flight was abandoned and will be read again", attrs...)
		case errors.Is(err, context.Canceled) && context.Cause(wctx) != nil:
			log.Info("stopped because another source failed", attrs...)
		default:
			log.Error("walk failed", append(attrs, "error", err.Error())...)
			failed = errors.Join(failed, fmt.Errorf("%s: %w", l.source, err))
		}
	}
	return total, failed
}

// lane is one source's walk: its codec, topic, producer and walker.
type lane struct {
	source string
	topic  string
	prod   *producer.Producer
	walker *walk.Walker
	view   *walkView
}

// openLane connects a producer for source (its own topic, schema and
// transactional id) and builds its walker.
func openLane(ctx context.Context, cfg Config, source string, start time.Time, bounded bool, fc *fetch.Client,
	stores func(topic string) checkpoint.Loader, log *slog.Logger, extraKafka []kgo.Opt, m *metrics) (*lane, error) {
	ls, err := laneSetup(cfg, source, log, extraKafka)
	if err != nil {
		return nil, err
	}
	codec, topic, pcfg := ls.codec, ls.topic, ls.producer
	if bounded {
		// A bounded run gives up on an unreachable cluster as it gives up
		// on failing windows, whichever checkpoint store is used.
		pcfg.ConnectAttempts = cfg.Walk.MaxFailures
	}
	prod, err := producer.New(ctx, pcfg)
	if err != nil {
		return nil, StartupError(fmt.Errorf("%s: %w", source, err))
	}
	view := m.addWalk(source, start)
	maxFailures := 0 // continuous: retry for ever, and say so on /readyz
	if bounded {
		maxFailures = cfg.Walk.MaxFailures
	}
	wcfg := ls.walkConfig(cfg, start, log)
	wcfg.TenantID = cfg.Graph.Auth.TenantID
	wcfg.MaxConsecutiveFailures = maxFailures
	wcfg.OnRead = view.observeRead(m)
	w, err := walk.New(wcfg, fc, prod, stores(topic))
	if err != nil {
		_ = prod.Close(ctx)
		return nil, &ConfigError{Problems: []string{err.Error()}}
	}
	log.Info("walking", "source", source, "topic", topic, "checkpoint", cfg.Checkpoint.Store,
		"transactional_id", pcfg.TransactionalID, "graph", cfg.Graph.BaseURL+"/"+cfg.Graph.APIVersion,
		"schema", codec.Name(), "window", cfg.Walk.Window, "settle_delay", cfg.Walk.SettleDelay,
		"rescan_after", fmt.Sprint(cfg.Walk.RescanAfter))
	view.walker.Store(w)
	return &lane{source: source, topic: topic, prod: prod, walker: w, view: view}, nil
}

func (l *lane) close(ctx context.Context, log *slog.Logger) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.prod.Close(cctx); err != nil {
		log.Warn("kafka producer closed with records unflushed; they are not checkpointed and will be re-read",
			"source", l.source, "error", err.Error())
	}
}

// laneConfig is what run derives for one source before connecting: the
// codec, the topic, and the producer's configuration with its transactional
// id. check derives the same, so that it checks what run will use.
type laneConfig struct {
	codec *schemas.Codec
	topic string
	// walk is how the walker reads the source (walk.For: by its kind).
	walk walk.Source
	// setting is the topic's setting, for messages about it.
	setting  string
	producer producer.Config
	// retention is how long Graph keeps the source's rows (0: no limit).
	retention time.Duration
}

func laneSetup(cfg Config, source string, log *slog.Logger, extraKafka []kgo.Opt) (laneConfig, error) {
	src, ok := sources.Lookup(source)
	if !ok {
		return laneConfig{}, &ConfigError{Problems: []string{fmt.Sprintf("SOURCES: unknown source %q; want %s", source, sources.NameList("and/or"))}}
	}
	codec, err := schemas.For(src.Name, cfg.Graph.APIVersion)
	if err != nil {
		return laneConfig{}, &ConfigError{Problems: []string{"SOURCES: " + err.Error()}}
	}
	schema, err := Schema(codec)
	if err != nil {
		return laneConfig{}, err
	}
	topic := cfg.Kafka.TopicFor(source)
	lcfg := cfg
	lcfg.Kafka.Topic = topic
	pcfg, err := ProducerConfig(lcfg, schema, log, extraKafka)
	if err != nil {
		return laneConfig{}, err
	}
	if cfg.Checkpoint.Store == "kafka" {
		pcfg.TransactionalID = transactionalID(cfg, source, topic)
	}
	pcfg.Topics.Upsert = src.Kind == sources.Aggregate // created compacted
	pcfg.BatchMaxBytes = batchMaxBytes(cfg, []string{source})
	if src.Kind == sources.Records {
		pcfg.TransactionTimeout = recordsTxnTimeout
	}
	if tenant := cfg.Graph.Auth.TenantID; tenant != "" {
		pcfg.Headers = append(pcfg.Headers, kgo.RecordHeader{Key: producer.HeaderTenant, Value: []byte(tenant)})
	}
	ws, err := walk.For(src, cfg.Graph.APIVersion)
	if err != nil {
		return laneConfig{}, &ConfigError{Problems: []string{"SOURCES: " + err.Error()}}
	}
	return laneConfig{codec: codec, topic: topic, walk: ws, setting: src.TopicSetting, producer: pcfg, retention: src.Retention}, nil
}

// walkConfig is the walk of the lane's source from start as cfg says: what
// a single tenant's lane and a fleet's tenant lane share. The caller adds
// the tenant, failure limit, read observer and poll alignment.
func (ls laneConfig) walkConfig(cfg Config, start time.Time, log *slog.Logger) walk.Config {
	return walk.Config{
		Source:          ls.walk,
		DeadLetterTopic: cfg.Kafka.Topics.DeadLetter,
		Start:           start,
		End:             cfg.Walk.End,
		Retention:       ls.retention,
		Window:          cfg.Walk.Window,
		SettleDelay:     cfg.Walk.SettleDelay,
		RescanAfter:     cfg.Walk.RescanAfter,
		PollInterval:    cfg.Walk.PollInterval,
		Concurrency:     cfg.Walk.Concurrency,
		History:         historyConfig(cfg.Walk, ls.walk.Records),
		Logger:          log,
	}
}

// recordsBatchMaxBytes is the smallest batch a records source's lane
// builds: a call record holds every session of its call, and a meeting's
// runs to hundreds of kilobytes, far past KAFKA_BATCH_MAX_BYTES' 64 KiB
// default. 1,000,000 bytes fit the max.message.bytes of every cluster's
// defaults (Apache Kafka's 1,048,588, Event Hubs' 1,000,000); a larger
// record is a bad row, dead-lettered with the reason.
const recordsBatchMaxBytes = 1_000_000

// recordsTxnTimeout is the transaction timeout of a records source's
// producer. A window's records are each a request, and a window read
// whole (a live window, a rescan) is read inside its transaction: at the
// family's 75 requests a second, or slower when Graph's answers are the
// limit, a busy tenant's hour can outlast the one-minute default, and the
// broker would abort it. Brokers allow up to 15 minutes by default
// (transaction.max.timeout.ms); a replacement process fences a dead one's
// transaction at once either way.
const recordsTxnTimeout = 5 * time.Minute

// batchMaxBytes is the batch size of a producer carrying the records of
// the sources names: KAFKA_BATCH_MAX_BYTES, raised to
// recordsBatchMaxBytes when one of them is a records source.
func batchMaxBytes(cfg Config, names []string) int32 {
	b := cfg.Kafka.BatchMaxBytes
	for _, name := range names {
		if src, ok := sources.Lookup(name); ok && src.Kind == sources.Records {
			return max(b, recordsBatchMaxBytes)
		}
	}
	return b
}

// graphHTTPClient bounds each Graph request, body included: a server that
// trickles its answer fails the request after GRAPH_REQUEST_TIMEOUT
// instead of holding the window for ever.
func graphHTTPClient(cfg Config) *http.Client {
	return &http.Client{Timeout: cfg.Graph.RequestTimeout}
}

func addStats(t *walk.Stats, s walk.Stats) {
	t.Windows += s.Windows
	t.Rescans += s.Rescans
	t.Pages += s.Pages
	t.Requests += s.Requests
	t.Retries += s.Retries
	t.Throttled += s.Throttled
	t.Fetched += s.Fetched
	t.Published += s.Published
	t.Duplicates += s.Duplicates
	t.Late += s.Late
	t.Failures += s.Failures
	t.DeadLettered += s.DeadLettered
	t.HistoryWindows += s.HistoryWindows
	t.FullPages += s.FullPages
}

// transactionalID is stable per tenant, source and topic, so a restarted
// instance fences its predecessor and two deployments never collide.
func transactionalID(cfg Config, source, topic string) string {
	if cfg.Kafka.TransactionalID != "" {
		// One override serves several sources by suffixing them: two
		// producers must never share an id.
		if len(cfg.Walk.Sources) > 1 {
			return cfg.Kafka.TransactionalID + "-" + source
		}
		return cfg.Kafka.TransactionalID
	}
	// The tenant keeps two tenants' deployments from fencing each other.
	tenant := cfg.Graph.Auth.TenantID
	if tenant == "" {
		tenant = "default"
	}
	return "callstream-" + tenant + "-" + source + "-" + topic
}

// openStores opens the configured checkpoint store and returns a function
// giving each data topic's store. The Kafka store reads with a client of
// its own (read_committed), shared by all sources, and is written through
// each source's producer transactions. The walker settles by the store's
// kind: a checkpoint.Stager exactly-once, a checkpoint.Saver at-least-once.
func openStores(ctx context.Context, cfg Config, extraKafka []kgo.Opt) (func(topic string) checkpoint.Loader, func(), error) {
	if cfg.Checkpoint.Store == "file" {
		store, err := checkpoint.NewFileStore(cfg.Checkpoint.Path)
		if err != nil {
			return nil, nil, &ConfigError{Problems: []string{"CHECKPOINT_PATH: " + err.Error()}}
		}
		return func(string) checkpoint.Loader { return store }, func() {}, nil
	}
	topic := checkpointTopic(cfg)
	cl, err := checkpointClient(cfg, extraKafka)
	if err != nil {
		return nil, nil, err
	}
	if err := producer.EnsureCheckpointTopic(ctx, cl, topic, cfg.Kafka.Topic); err != nil {
		cl.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	return func(dataTopic string) checkpoint.Loader {
		return checkpoint.NewKafkaStore(cl, topic, dataTopic)
	}, cl.Close, nil
}

// checkpointClient is the Kafka store's reading client. extraKafka carries
// the connection options (TLS, SASL) the producers use.
func checkpointClient(cfg Config, extraKafka []kgo.Opt) (*kgo.Client, error) {
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ClientID(cfg.Kafka.ClientID + "-checkpoint"),
		// Fresh metadata: the checkpoint topic may have just been created.
		kgo.MetadataMinAge(250 * time.Millisecond)}, extraKafka...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for the checkpoint: %w", err)
	}
	return cl, nil
}

// kafkaConnOpts are the client options every Kafka client of run uses to
// connect (TLS, SASL, the preset's tuning), from the configuration.
func kafkaConnOpts(cfg Config, log *slog.Logger, extraKafka []kgo.Opt) ([]kgo.Opt, error) {
	base, err := ProducerConfig(cfg, producer.Schema{}, log, extraKafka)
	if err != nil {
		return nil, err
	}
	conn, err := producer.ClientOpts(base, log)
	if err != nil {
		return nil, err
	}
	return append(conn, extraKafka...), nil
}

func checkpointTopic(cfg Config) string {
	if cfg.Checkpoint.Topic != "" {
		return cfg.Checkpoint.Topic
	}
	return cfg.Kafka.Topic + ".checkpoint"
}

// tokenSource builds the Graph credential GRAPH_AUTH selects, against the
// cloud's authority and for the scope of the Graph host actually called.
func tokenSource(cfg Config, log *slog.Logger) (fetch.TokenSource, error) {
	creds := cfg.Graph.Auth
	if creds.Mode == "" {
		creds.Mode = fetch.AuthDefault
		if cfg.Graph.AccessToken != "" {
			creds.Mode = fetch.AuthToken
		}
	}
	if creds.Mode == fetch.AuthToken && creds.AccessToken == "" {
		creds.AccessToken = cfg.Graph.AccessToken
	}
	scope := fetch.ScopeFor(cfg.Graph.BaseURL)
	ts, err := fetch.NewTokenSource(creds, cfg.Graph.Cloud, scope)
	if err != nil {
		return nil, fmt.Errorf("graph credential (GRAPH_AUTH=%s): %w", creds.Mode, err)
	}
	log.Info("graph credential", "auth", string(creds.Mode), "cloud", cfg.Graph.Cloud.Name,
		"authority", cfg.Graph.Cloud.Authority.ActiveDirectoryAuthorityHost, "scope", scope)
	return ts, nil
}

// historyConfig sizes history windows by rows, at Graph's page size,
// unless HISTORY_WINDOW_PAGES=0. A records source's "page" is a run of
// records read (fetch hands them over two rounds of reads at a time), so
// that a history window of call records is a few hundred of them — a few
// seconds of the budget in one transaction — not the 16,000 a log's
// window holds, each of which would cost a request.
func historyConfig(c WalkConfig, records bool) walk.HistoryConfig {
	if c.HistoryPages == 0 {
		return walk.HistoryConfig{}
	}
	if records {
		return walk.HistoryConfig{PageRows: recordsPageRows, Pages: c.HistoryPages}
	}
	return walk.HistoryConfig{PageRows: graphPageRows, Pages: c.HistoryPages}
}

// recordsPageRows is how many records fetch hands over at a time: two
// rounds of its concurrent reads.
const recordsPageRows = 2 * fetch.DefaultRecordConcurrency

// graphPageRows is how many rows Graph puts in a full page of these
// functions.
const graphPageRows = 1000

// graphBudget is the request budget shared by everything reading this
// tenant, or nil when GRAPH_BUDGET_PER_MINUTE is 0.
func graphBudget(cfg Config, log *slog.Logger) (*fetch.Budget, error) {
	if cfg.Graph.BudgetPerFunction == 0 {
		log.Warn("GRAPH_BUDGET_PER_MINUTE=0: requests to graph are not paced; graph will throttle them")
		return nil, nil
	}
	return fetch.NewBudget(budgetConfig(cfg.Graph, log))
}

// budgetConfig is the request budget of one tenant as the Graph settings
// say.
func budgetConfig(g GraphConfig, log *slog.Logger) fetch.BudgetConfig {
	return fetch.BudgetConfig{
		PerFunction:   g.BudgetPerFunction,
		PerApp:        g.BudgetPerApp,
		RecordsPerApp: g.CallRecordsBudget,
		RecordsList:   g.CallRecordsListBudget,
		Logger:        log,
	}
}

// Schema is the value schema the producer writes and registers for codec:
// its name, text and CRC-64-AVRO fingerprint. Run and schema register use
// it alike.
func Schema(codec *schemas.Codec) (producer.Schema, error) {
	fp, err := schemaFingerprint(codec.Schema())
	return producer.Schema{Name: codec.Name(), Text: codec.Text(), Fingerprint: fp}, err
}

func schemaFingerprint(s avro.Schema) (string, error) {
	fp, err := s.FingerprintUsing(avro.CRC64Avro)
	if err != nil {
		return "", fmt.Errorf("schema fingerprint: %w", err)
	}
	return hex.EncodeToString(fp), nil
}
