package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kgo"

	app "github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/walk"
)

// runHelp is run's --help.
var runHelp = helpDoc{
	usage:    "callstream run [--once] [--start TIME] [--end TIME]",
	summary:  "Walk time windows of Teams Direct Routing call logs from Microsoft Graph into Kafka, re-reading\nrecent windows for late rows, and keep going (or stop when caught up with --once).\nServes /metrics, /healthz and /readyz on METRICS_ADDR.",
	sections: allSections,
	exits:    []int{exitOK, exitFailure, exitConfig, exitFenced, exitInterrupted},
	exitNotes: map[int]string{
		exitOK:      "done (--once: caught up, or at END_TIME), or stopped cleanly by SIGTERM/SIGINT (--help too)",
		exitFailure: "runtime failure, the cause printed on stderr (--once: MAX_WINDOW_FAILURES windows failed in a row)",
		exitConfig:  "invalid configuration or usage (every problem listed at once, each naming its setting), or a schema or topic the cluster refuses",
	},
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	once := fs.Bool("once", false, "walk until caught up (or END_TIME), then exit")
	start := fs.String("start", "", "overrides START_TIME with a `TIME`: RFC 3339 or a date")
	end := fs.String("end", "", "overrides END_TIME with a `TIME`: RFC 3339 or a date")
	if err := parseFlags(fs, runHelp, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &configError{Problems: []string{fmt.Sprintf("run takes no arguments, got %q", fs.Args())}}
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
		return withSettingNotes(err, unknownSettings(env))
	}
	cfg.Walk.Warnings = append(cfg.Walk.Warnings, unknownSettings(env)...)
	log := app.NewLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	startSetting := "START_TIME"
	if *start != "" {
		startSetting = "--start"
	}
	_, err = runPipeline(ctx, cfg, log, runOptions{RunOptions: app.RunOptions{Once: *once, StartSetting: startSetting}, serve: true})
	return err
}

// runOptions adapt a run to a subcommand.
type runOptions struct {
	app.RunOptions
	// extraKafka adds Kafka client options (the demo and tests use it).
	extraKafka []kgo.Opt
	// serve starts the metrics and health server on cfg.Ops.MetricsAddr.
	serve bool
}

// runPipeline builds the pipeline of cfg, serves its metrics and health
// while it runs when asked, and walks. A stop by ctx is a clean exit.
func runPipeline(ctx context.Context, cfg app.Config, log *slog.Logger, opts runOptions) (walk.Stats, error) {
	p, err := app.New(ctx, cfg, app.Options{Logger: log, ExtraKafka: opts.extraKafka, Version: version})
	if err != nil {
		return walk.Stats{}, err
	}
	if opts.serve && cfg.Ops.MetricsAddr != "" {
		ops, err := startOps(cfg.Ops.MetricsAddr, cfg.Ops.Pprof, p, log)
		if err != nil {
			return walk.Stats{}, err
		}
		defer ops.close()
	}
	return p.Run(ctx, opts.RunOptions)
}
