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

// parseFlagTime reads an RFC 3339 time or a plain date (midnight UTC). It
// is the one parser of times: START_TIME, END_TIME and every time flag.
func parseFlagTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time such as 2026-01-01T00:00:00Z or a date such as 2026-01-01", s)
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
		p = append(p, withSettingNotes(ce, unknownSettings(env)).(*configError).problems...)
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
		return &configError{problems: p}
	}
	cfg.Walk.Start, cfg.Walk.End = from, to
	if *cpPath == "" {
		*cpPath = fmt.Sprintf("%s.backfill-%s-%s", cfg.Checkpoint.Path, from.Format("20060102T150405Z"), to.Format("20060102T150405Z"))
	}
	cfg.Checkpoint.Path = *cpPath
	// A backfill keeps its progress in a file of its own: sharing the Kafka
	// checkpoint (and so the transactional id) of the live run would fence
	// it. Rows are published at-least-once; see docs/operations.md.
	cfg.Checkpoint.Store = "file"

	pr := &progress{from: from, to: to, window: cfg.Walk.Window, limit: cfg.Graph.BudgetPerFunction, every: *every, now: time.Now}
	var log *slog.Logger
	if isTerminal(stderr) {
		// The bar replaces the per-window lines; warnings still show.
		pr.bar = &termWriter{w: stderr}
		level := cfg.Log.Level
		if level == "debug" || level == "info" {
			level = "warn"
		}
		log = newLogger(level, "text", pr.bar)
	} else {
		log = newLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	}
	pr.log = log
	if horizon := slices.Max(append([]time.Duration{0}, cfg.Walk.RescanAfter...)); to.After(time.Now().Add(-horizon)) {
		log.Warn("the range ends inside the rescan horizon: late rows for its last windows are found only by a run whose range covers them",
			"to", to, "horizon", horizon)
	}
	log.Info("backfill", "from", from, "to", to, "checkpoint", cfg.Checkpoint.Path)

	st, err := runWith(ctx, cfg, log, runOptions{once: true, watch: pr.watch})
	if err != nil {
		return err
	}
	attrs := []any{"from", from, "to", to, "windows", st.Windows, "rows", st.Fetched, "published", st.Published, "duplicates", st.Duplicates,
		"requests", st.Requests, "full_pages", st.FullPages, "throttled", st.Throttled}
	if ctx.Err() != nil {
		log.Warn("backfill interrupted; run the same command again to resume", attrs...)
		return nil
	}
	if pr.bar != nil {
		// Info lines are hidden behind the bar; the summary is for the
		// person watching.
		fmt.Fprintf(stderr, "backfill complete: [%s, %s) %d windows, %d rows: %d published, %d duplicates; %d requests (%d full pages), %d throttled\n",
			fmtTime(from), fmtTime(to), st.Windows, st.Fetched, st.Published, st.Duplicates, st.Requests, st.FullPages, st.Throttled)
		return nil
	}
	log.Info("backfill complete", attrs...)
	return nil
}

// backfillRange validates --from and --to: both given, in order, and
// settled (windows closer to now than SETTLE_DELAY are not readable yet,
// and a once walk would stop short of them).
func backfillRange(p *problems, fromS, toS string, wc WalkConfig) (from, to time.Time) {
	var err error
	if strings.TrimSpace(fromS) == "" {
		p.add("--from is required")
	} else if from, err = parseFlagTime(fromS); err != nil {
		p.add("--from %v", err)
	}
	if strings.TrimSpace(toS) == "" {
		p.add("--to is required")
	} else if to, err = parseFlagTime(toS); err != nil {
		p.add("--to %v", err)
	}
	if from.IsZero() || to.IsZero() {
		return from, to
	}
	if from.Before(earliestStart) {
		p.add("--from %s: before %s, earlier than any call log Graph holds (Graph keeps these logs for a limited time)", fmtTime(from), earliestStart.Format(time.DateOnly))
	}
	if !to.After(from) {
		p.add("--to %s is not after --from %s", fmtTime(to), fmtTime(from))
	}
	if settled := time.Now().Add(-wc.SettleDelay); to.After(settled) {
		p.add("--to %s is later than now minus SETTLE_DELAY (%s): those calls are not settled yet; backfill up to %s and let run walk the rest",
			fmtTime(to), wc.SettleDelay, fmtTime(settled.Truncate(time.Minute)))
	}
	return from, to
}
