package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/hamba/avro/v2"
	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/walk"
)

// runHelp is run's --help.
var runHelp = helpDoc{
	usage:       "callstream run [--once] [--start TIME] [--end TIME]",
	summary:     "Walk time windows of Teams Direct Routing call logs from Microsoft Graph into Kafka, re-reading\nrecent windows for late rows, and keep going (or stop when caught up with --once).\nServes /metrics, /healthz and /readyz on METRICS_ADDR.",
	sections:    allSections,
	credentials: true,
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	once := fs.Bool("once", false, "walk until caught up (or END_TIME), then exit")
	start := fs.String("start", "", "overrides START_TIME with an RFC 3339 `TIME`")
	end := fs.String("end", "", "overrides END_TIME with an RFC 3339 `TIME`")
	if err := parseFlags(fs, runHelp, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &configError{problems: []string{fmt.Sprintf("run takes no arguments, got %q", fs.Args())}}
	}
	overrides := map[string]string{}
	if *start != "" {
		overrides["START_TIME"] = *start
	}
	if *end != "" {
		overrides["END_TIME"] = *end
	}
	cfg, err := loadConfig(ctx, envconfig.MultiLookuper(envconfig.MapLookuper(overrides), env))
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	_, err = runWith(ctx, cfg, log, runOptions{once: *once, serve: true})
	return err
}

// run wires the pieces and walks. extraKafka adds client options (the demo
// and tests use it); a stop by ctx is a clean exit.
func run(ctx context.Context, cfg Config, once bool, log *slog.Logger, extraKafka []kgo.Opt) (walk.Stats, error) {
	return runWith(ctx, cfg, log, runOptions{once: once, extraKafka: extraKafka})
}

// runOptions adapt a run to a subcommand.
type runOptions struct {
	once       bool
	extraKafka []kgo.Opt
	// serve starts the metrics and health server on cfg.Ops.MetricsAddr.
	serve bool
	// watch, when set, runs beside the walk (backfill's progress report)
	// until the walk ends; it must return when ctx ends.
	watch func(ctx context.Context, w *walk.Walker)
}

// runWith is run with every option.
func runWith(ctx context.Context, cfg Config, log *slog.Logger, opts runOptions) (walk.Stats, error) {
	var none walk.Stats
	m := newMetrics(nil)
	ready := newReadiness(cfg, log)
	if opts.serve && cfg.Ops.MetricsAddr != "" {
		ops, err := startOps(cfg.Ops.MetricsAddr, m, ready, log)
		if err != nil {
			return none, err
		}
		defer ops.close()
	}
	tokens, err := tokenSource(cfg)
	if err != nil {
		return none, &configError{problems: []string{err.Error()}}
	}
	ready.setTokens(tokens)
	fc, err := fetch.New(fetch.Config{
		BaseURL:     cfg.Graph.BaseURL,
		APIVersion:  cfg.Graph.APIVersion,
		Tokens:      tokens,
		MaxAttempts: cfg.Graph.MaxAttempts,
		Logger:      log,
		Observe:     m.observeGraph,
	})
	if err != nil {
		return none, &configError{problems: []string{err.Error()}}
	}
	store, err := checkpoint.NewFileStore(cfg.Checkpoint.Path)
	if err != nil {
		return none, &configError{problems: []string{"CHECKPOINT_PATH: " + err.Error()}}
	}
	fp, err := schemaFingerprint(schemas.DirectRoutingSchema())
	if err != nil {
		return none, err
	}
	prod, err := producer.New(ctx, producer.Config{
		Brokers:           cfg.Kafka.Brokers,
		Topic:             cfg.Kafka.Topic,
		ClientID:          cfg.Kafka.ClientID,
		SchemaRegistryURL: cfg.Kafka.SchemaRegistryURL,
		Schema: producer.Schema{
			Name:        schemas.DirectRoutingSchemaName,
			Text:        schemas.DirectRoutingSchemaText(),
			Fingerprint: fp,
		},
		Logger: log,
		Opts:   append(slices.Clone(opts.extraKafka), m.kafkaOpts()...),
	})
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped before connecting to kafka")
			return none, nil
		}
		return none, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := prod.Close(cctx); err != nil {
			log.Warn("kafka producer closed with records unflushed; they are not checkpointed and will be re-read", "error", err.Error())
		}
	}()
	ready.setKafka(prod.Client())

	start := cfg.Walk.Start
	if start.IsZero() {
		start = time.Now().UTC().Add(-24 * time.Hour).Truncate(cfg.Walk.Window)
		log.Info("START_TIME not set; starting one day back", "start", start)
	}
	source := walk.DirectRouting()
	view := m.addWalk(source.Name, start)
	walker, err := walk.New(walk.Config{
		Source:       source,
		Start:        start,
		End:          cfg.Walk.End,
		Window:       cfg.Walk.Window,
		SettleDelay:  cfg.Walk.SettleDelay,
		RescanAfter:  cfg.Walk.RescanAfter,
		PollInterval: cfg.Walk.PollInterval,
		Logger:       log,
	}, view.fetcher(m, fc), prod, view.store(m, store))
	if err != nil {
		return none, &configError{problems: []string{err.Error()}}
	}
	view.walker.Store(walker)
	ready.setWalk(view)
	log.Info("walking", "once", opts.once, "graph", cfg.Graph.BaseURL+"/"+cfg.Graph.APIVersion, "topic", cfg.Kafka.Topic,
		"window", cfg.Walk.Window, "settle_delay", cfg.Walk.SettleDelay, "rescan_after", fmt.Sprint(cfg.Walk.RescanAfter))
	stopWatch := func() {}
	if opts.watch != nil {
		wctx, cancel := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() { defer close(watched); opts.watch(wctx, walker) }()
		stopWatch = func() { cancel(); <-watched }
	}
	err = walker.Run(ctx, opts.once)
	stopWatch()
	st := walker.Stats()
	attrs := []any{"watermark", walker.Watermark(), "windows", st.Windows, "rescans", st.Rescans,
		"pages", st.Pages, "fetched", st.Fetched, "published", st.Published,
		"duplicates", st.Duplicates, "late", st.Late}
	switch {
	case err == nil, errors.Is(err, walk.ErrDone):
		log.Info("caught up", attrs...)
		return st, nil
	case ctx.Err() != nil:
		log.Info("stopped by signal; the window in flight was abandoned and will be read again", attrs...)
		return st, nil
	default:
		return none, err
	}
}

func tokenSource(cfg Config) (fetch.TokenSource, error) {
	if cfg.Graph.AccessToken != "" {
		return fetch.StaticToken(cfg.Graph.AccessToken), nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cfg.Graph.Cloud.Authority},
	})
	if err != nil {
		return nil, fmt.Errorf("graph credential: %w (set AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret, certificate or federated token file, or GRAPH_ACCESS_TOKEN)", err)
	}
	return fetch.AzureTokens{Cred: cred, Scope: fetch.ScopeFor(cfg.Graph.BaseURL)}, nil
}

func schemaFingerprint(s avro.Schema) (string, error) {
	fp, err := s.FingerprintUsing(avro.CRC64Avro)
	if err != nil {
		return "", fmt.Errorf("schema fingerprint: %w", err)
	}
	return hex.EncodeToString(fp), nil
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
