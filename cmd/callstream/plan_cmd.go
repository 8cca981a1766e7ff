package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sethvargo/go-envconfig"

	app "github.com/callstream/callstream/pipeline"
)

var planHelp = helpDoc{
	usage: "callstream plan [--limit N] [--json]",
	summary: "A dry run: for each source in SOURCES, print the checkpoint's watermark, the rescans and the new\n" +
		"windows the next walk (run --once, or run's next poll) would read now, and a summary. Reads the\n" +
		"checkpoint from CHECKPOINT_STORE without writing anything (a missing checkpoint topic is not\n" +
		"created); fetches nothing from Graph. The whole configuration is validated, as run does.",
	// The whole configuration is validated, as run does: a plan for a
	// configuration run would refuse would be a false promise.
	sections: allSections,
	note: "The plan is computed by the walker's own scheduling, for the instant plan runs. It exits 1\n" +
		"when the checkpoint cannot be read or would be refused by run (a checkpoint from the future).",
}

func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	limit := fs.Int("limit", 20, "list the first `N` new windows of each source (all are counted)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, planHelp, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &configError{Problems: []string{fmt.Sprintf("plan takes no arguments, got %q", fs.Args())}}
	}
	if *limit < 0 {
		return &configError{Problems: []string{"plan: --limit must not be negative"}}
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	now := time.Now().UTC()
	p, err := app.New(ctx, cfg, app.Options{Logger: log, Version: version})
	if err != nil {
		return err
	}
	plans, err := p.Plan(ctx, now, *limit)
	if err != nil {
		return err
	}
	windows, rescans := 0, 0
	for _, p := range plans {
		windows += p.TotalWindows
		rescans += len(p.Rescans)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Now     time.Time        `json:"now"`
			Sources []app.SourcePlan `json:"sources"`
			Windows int              `json:"windows"`
			Rescans int              `json:"rescans"`
		}{now, plans, windows, rescans})
	}
	for _, p := range plans {
		fmt.Fprintf(stdout, "%s → %s (checkpoint: %s)\n", p.Source, p.Topic, p.Checkpoint)
		if p.Watermark != nil {
			fmt.Fprintf(stdout, "  watermark     %s\n", fmtTime(*p.Watermark))
		} else {
			fmt.Fprintf(stdout, "  watermark     none yet: the walk starts at %s\n", fmtTime(p.Cursor))
		}
		fmt.Fprintf(stdout, "  rescans due   %d\n", len(p.Rescans))
		for _, r := range p.Rescans {
			fmt.Fprintf(stdout, "    %s – %s  ended %s ago, last read %s (RESCAN_AFTER %s reached)\n",
				fmtTime(r.From), fmtTime(r.To), r.Age, fmtTime(r.ReadAt), r.Step)
		}
		fmt.Fprintf(stdout, "  windows due   %d", p.TotalWindows)
		if len(p.Windows) < p.TotalWindows {
			fmt.Fprintf(stdout, " (the first %d)", len(p.Windows))
		}
		fmt.Fprintln(stdout)
		for _, w := range p.Windows {
			fmt.Fprintf(stdout, "    %s – %s\n", fmtTime(w.From), fmtTime(w.To))
		}
		if p.NextDue != nil {
			fmt.Fprintf(stdout, "  next window   due at %s\n", fmtTime(*p.NextDue))
		} else {
			fmt.Fprintln(stdout, "  next window   none: END_TIME reached")
		}
	}
	_, err = fmt.Fprintf(stdout, "plan: %d new windows and %d rescans due over %d source(s) at %s; nothing was fetched or written\n",
		windows, rescans, len(plans), fmtTime(now))
	return err
}
