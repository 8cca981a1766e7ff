package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sethvargo/go-envconfig"

	app "github.com/callstream/callstream/pipeline"
)

var checkHelp = helpDoc{
	usage: "callstream check [--timeout DURATION]",
	summary: `Validate the configuration and every connection run needs, as run will use them, and print
each problem with the setting to fix: a Graph token and a one-minute query of each source's function
(SOURCES), Kafka (with run's TLS and SASL) and every topic run writes (each source's, the dead-letter
topic), each source's Schema Registry subject (SCHEMA_SUBJECT_STRATEGY) and that its id resolves to
this build's schema, and each source's checkpoint in the configured store (CHECKPOINT_STORE). It
changes nothing: no topic created, no schema registered, no record written, no checkpoint saved.
Exit 0 only when all is well.`,
	// check validates every setting run reads, the windows included.
	sections: allSections,
	exits:    []int{exitOK, exitFailure, exitConfig},
	exitNotes: map[int]string{
		exitOK:      "all is well (--help too)",
		exitFailure: "a problem was found: each is printed with the setting to fix",
	},
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
		return &configError{Problems: []string{fmt.Sprintf("check takes no arguments, got %q", fs.Args())}}
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		// Nothing can be reached with settings that do not parse; the
		// caller prints every problem and exits 2.
		fmt.Fprintln(stdout, "FAIL  configuration")
		return withSettingNotes(err, unknownSettings(env))
	}
	cfg.Walk.Warnings = append(cfg.Walk.Warnings, unknownSettings(env)...)
	fmt.Fprintln(stdout, "ok    configuration")
	for _, w := range cfg.Walk.Warnings {
		fmt.Fprintf(stdout, "warn  %-17s %s\n", "configuration", w)
	}

	// A quiet pipeline: the warnings are printed above, and check reports
	// in its own lines.
	p, err := app.New(ctx, cfg, app.Options{Version: version})
	if err != nil {
		return err
	}
	results := p.Check(ctx, *timeout)
	failed := 0
	for _, r := range results {
		mark := "ok  "
		switch {
		case r.Skipped:
			mark = "skip"
		case !r.OK:
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(stdout, "%s  %-17s %s\n", mark, r.Name, r.Detail)
	}
	if failed > 0 {
		return &checkFailed{n: failed}
	}
	fmt.Fprintln(stdout, "all checks passed")
	return nil
}
