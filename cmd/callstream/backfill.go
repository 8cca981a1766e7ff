package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	app "github.com/callstream/callstream/pipeline"
)

var backfillHelp = helpDoc{
	usage: "callstream backfill --from TIME --to TIME [--checkpoint PATH] [--progress-every DURATION]",
	summary: `Walk a historical range of call start times [from, to) into Kafka once, then exit. On a terminal a
progress bar shows rows, the Graph requests spent (full pages among them, share of
GRAPH_BUDGET_PER_MINUTE, 429s) and an ETA from the budget (warnings still print above it); otherwise
a "backfill progress" log line is written every --progress-every.

Resumable: progress is kept in its own checkpoint file, one per range, so running the same command
again after an interruption continues where it stopped, and a backfill never moves the live
run's checkpoint. Rows are deduplicated within the backfill, not against the live run: backfill
ranges the live run has not covered (before its START_TIME), or expect duplicates where they overlap.`,
	sections: []string{"Graph", "Kafka", "Checkpoint", "Walk", "Log"},
	note: `START_TIME and END_TIME are ignored: --from and --to replace them. A range ending inside the
rescan horizon (the largest RESCAN_AFTER) is read once: late rows for it are found only by a run
whose range covers it.`,
	// No 3: a backfill keeps a file checkpoint and no transactional id.
	exits: []int{exitOK, exitFailure, exitConfig, exitInterrupted},
	exitNotes: map[int]string{
		exitFailure: "runtime failure, the cause printed on stderr (MAX_WINDOW_FAILURES windows failed in a row)",
	},
}

func cmdBackfill(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fromS := fs.String("from", "", "first call start `TIME` to read, inclusive (RFC 3339 or a date)")
	toS := fs.String("to", "", "call start `TIME` to stop at, exclusive (RFC 3339 or a date)")
	cpPath := fs.String("checkpoint", "", "progress file `PATH` (default: CHECKPOINT_PATH + .backfill-FROM-TO)")
	every := fs.Duration("progress-every", 30*time.Second, "interval of progress log lines when not on a terminal")
	if err := parseFlags(fs, backfillHelp, args, stdout); err != nil {
		return err
	}
	// START_TIME and END_TIME from the environment do not apply.
	cfg, err := loadConfig(ctx, envconfig.MultiLookuper(envconfig.MapLookuper(map[string]string{"START_TIME": "", "END_TIME": ""}), env))
	var p problems
	var ce *configError
	if errors.As(err, &ce) {
		p = append(p, withSettingNotes(ce, unknownSettings(env)).(*configError).Problems...)
	} else if err != nil {
		return err
	}
	cfg.Walk.Warnings = append(cfg.Walk.Warnings, unknownSettings(env)...)
	if fs.NArg() > 0 {
		p.add("backfill takes no arguments, got %q", fs.Args())
	}
	from, to := backfillRange(&p, *fromS, *toS, cfg.Walk)
	if *every <= 0 {
		p.add("--progress-every %s: must be positive", *every)
	}
	if len(p) > 0 {
		return &configError{Problems: p}
	}
	cfg = cfg.Backfill(from, to, *cpPath)

	pr := cfg.BackfillProgress(from, to)
	var log *slog.Logger
	var bar *termWriter
	if isTerminal(stderr) {
		// The bar replaces the per-window lines; warnings still show.
		bar = &termWriter{w: stderr}
		level := cfg.Log.Level
		if level == "debug" || level == "info" {
			level = "warn"
		}
		log = app.NewLogger(level, "text", bar)
	} else {
		log = app.NewLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	}
	if horizon := slices.Max(append([]time.Duration{0}, cfg.Walk.RescanAfter...)); to.After(time.Now().Add(-horizon)) {
		log.Warn("the range ends inside the rescan horizon: late rows for its last windows are found only by a run whose range covers them",
			"to", to, "horizon", horizon)
	}
	log.Info("backfill", "from", from, "to", to, "checkpoint", cfg.Checkpoint.Path)

	st, err := runPipeline(ctx, cfg, log, runOptions{RunOptions: app.RunOptions{Once: true, Watch: watchProgress(pr, bar, *every, log)}})
	if err != nil {
		return err
	}
	attrs := []any{"from", from, "to", to, "windows", st.Windows, "rows", st.Fetched, "published", st.Published, "duplicates", st.Duplicates,
		"requests", st.Requests, "full_pages", st.FullPages, "throttled", st.Throttled}
	if ctx.Err() != nil {
		log.Warn("backfill interrupted; run the same command again to resume", attrs...)
		return nil
	}
	if bar != nil {
		// Info lines are hidden behind the bar; the summary is for the
		// person watching.
		fmt.Fprintf(stderr, "backfill complete: [%s, %s) %d windows, %d rows: %d published, %d duplicates; %d requests (%d full pages), %d throttled\n",
			fmtTime(from), fmtTime(to), st.Windows, st.Fetched, st.Published, st.Duplicates, st.Requests, st.FullPages, st.Throttled)
		return nil
	}
	log.Info("backfill complete", attrs...)
	return nil
}

// backfillRange reads --from and --to, both required, and checks the range
// they make (WalkConfig.CheckBackfill).
func backfillRange(p *problems, fromS, toS string, wc app.WalkConfig) (from, to time.Time) {
	var err error
	if strings.TrimSpace(fromS) == "" {
		p.add("--from is required")
	} else if from, err = app.ParseTime(fromS); err != nil {
		p.add("--from %v", err)
	}
	if strings.TrimSpace(toS) == "" {
		p.add("--to is required")
	} else if to, err = app.ParseTime(toS); err != nil {
		p.add("--to %v", err)
	}
	if !from.IsZero() && !to.IsZero() {
		*p = append(*p, wc.CheckBackfill(from, to, time.Now())...)
	}
	return from, to
}
