package main

import (
	"context"
	"flag"
	"io"

	"github.com/callstream/callstream/pipeline/demo"
)

// demoHelp is demo's --help. demo reads no setting: everything it talks
// to runs in the process.
var demoHelp = helpDoc{
	usage: "callstream demo [--days N] [--rows-per-hour N] [-v] [--serve FILE]",
	summary: `Run the real pipeline exactly-once against a simulated Graph (paging, 429s, 503s, truncated
bodies, rows repeated across pages), an in-process Kafka and an in-process Schema Registry; read the
topic back, check that every simulated call is there once, and print a summary and one decoded record.

With --serve FILE it runs only the simulated Graph (both sources), the in-process Kafka and the
Schema Registry, writes the settings that reach them to FILE (an --env-file), and serves until
SIGTERM/SIGINT: a "callstream run --once --env-file FILE" from another shell then walks them.`,
	exits: []int{exitOK, exitFailure, exitConfig, exitInterrupted},
	exitNotes: map[int]string{
		exitFailure: "runtime failure, or the topic read back does not hold every simulated row exactly once",
	},
}

// cmdDemo runs the real pipeline against a simulated Graph (with paging,
// throttling, faults and duplicate rows), an in-process Kafka and an
// in-process Schema Registry, then reads the topic back and checks it.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	days := fs.Int("days", 3, "simulated days to walk")
	perHour := fs.Int("rows-per-hour", 1500, "simulated calls per hour")
	verbose := fs.Bool("v", false, "show the pipeline's logs")
	serve := fs.String("serve", "", "serve the simulated Graph, Kafka and registry, writing their settings to `FILE`, until stopped")
	if err := parseFlags(fs, demoHelp, args, stdout); err != nil {
		return err
	}
	if *days < 1 || *perHour < 1 {
		return &configError{Problems: []string{"--days and --rows-per-hour must be positive"}}
	}
	if *serve != "" {
		return demo.Serve(ctx, *serve, *days, *perHour, stdout)
	}
	return demo.Run(ctx, *days, *perHour, *verbose, stdout, stderr)
}
