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
	log := app.NewLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	now := time.Now().UTC()
	p, err := app.New(ctx, cfg, app.Options{Logger: log, Version: version})
	if err != nil {
		return err
	}
	report, err := p.Plan(ctx, now, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.WriteText(stdout)
}
