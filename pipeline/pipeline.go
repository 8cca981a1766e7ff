// Package pipeline is the application: it wires fetch, walk, schemas,
// producer and checkpoint for each source from typed configuration, and
// offers what the commands do with them — run the walks (run, backfill,
// demo), check every connection read-only (check), read the checkpoints
// (plan) and read or move one (checkpoint show, reset).
//
// Every command derives its clients, transactional ids, registry subjects,
// topics and checkpoint stores with the same functions, so that check
// checks, and plan plans, what run will do.
//
// The unit of work is a lane: one source of one tenant, with its own topic,
// producer (and so transactional id), schema and checkpoint scope. Today
// there is one tenant, the configuration's (AZURE_TENANT_ID); its Graph
// credential and request budget are shared by its lanes.
//
// The package reads no environment and never exits the process:
// cmd/callstream turns the environment into a RawConfig, parses it into a
// Config, and maps the errors returned here (a *ConfigError is exit code
// 2) to exit codes.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options are what a Pipeline takes besides the configuration.
type Options struct {
	// Logger receives the pipeline's logs; nil discards them.
	Logger *slog.Logger
	// ExtraKafka are added to the options of the Kafka clients Run
	// creates (producers, the checkpoint reader): the demo and tests use
	// them.
	ExtraKafka []kgo.Opt
	// Version labels the callstream_build_info metric.
	Version string
}

// Pipeline is the application for one configuration. New connects to
// nothing: each method opens what it needs and closes it before it
// returns, so that a command that only reads (check, plan, checkpoint
// show) never creates a topic, registers a schema or claims a
// transactional id.
type Pipeline struct {
	cfg        Config
	log        *slog.Logger
	extraKafka []kgo.Opt
	metrics    *metrics
	ready      *readiness
}

// New returns the pipeline of cfg, a configuration from RawConfig.Parse
// (or built by hand, as the demo and tests do). It logs cfg's warnings:
// valid settings that are probably not meant. It refuses a source that is
// not in the sources registry.
func New(_ context.Context, cfg Config, opts Options) (*Pipeline, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, source := range cfg.Walk.Sources {
		if !isSource(source) {
			return nil, &ConfigError{Problems: []string{fmt.Sprintf("SOURCES: unknown source %q", source)}}
		}
	}
	for _, w := range cfg.Walk.Warnings {
		log.Warn(w)
	}
	return &Pipeline{
		cfg:        cfg,
		log:        log,
		extraKafka: opts.ExtraKafka,
		metrics:    newMetrics(nil, opts.Version),
		ready:      newReadiness(cfg, log),
	}, nil
}

// Registry holds the metrics /metrics serves: callstream's, the Go
// runtime's, the process's and the Kafka client's.
func (p *Pipeline) Registry() *prometheus.Registry { return p.metrics.reg }

// Ready runs the readiness checks (a Graph token can be had, Kafka
// answers, no walk is stuck or failing) and returns one line per check and
// whether all passed. A change of verdict is logged once. Before Run has
// wired a piece, its check fails saying so.
func (p *Pipeline) Ready(ctx context.Context) (lines []string, ok bool) {
	return p.ready.report(ctx)
}
