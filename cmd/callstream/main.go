// Command callstream streams Microsoft Teams telephony logs from Microsoft
// Graph into Kafka.
//
// Usage:
//
//	callstream run [--once]                      walk windows from Graph into Kafka
//	callstream backfill --from TIME --to TIME    walk a historical range once, resumably
//	callstream check                             validate configuration and connectivity
//	callstream checkpoint show|reset             inspect or move the saved progress
//	callstream demo                              the same against a simulated Graph and an in-process Kafka
//	callstream schema [register]                 print or register a source's Avro schema
//	callstream plan [--limit N]                  the windows and rescans the next walk would read
//	callstream config                            print the effective configuration, secrets redacted
//	callstream version                           print the version, commit and build date
//	callstream completion bash|zsh|fish          print a shell completion script
//
// Exit codes: 0 done or stopped by SIGTERM/SIGINT, 1 runtime failure (or
// check found a problem, or a reset was not confirmed), 2 invalid
// configuration or usage, 3 fenced by another instance with the same
// transactional id, 130 a second SIGTERM/SIGINT ended the clean stop early.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/sources"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitConfig  = 2
	// exitFenced means another instance took over the transactional id.
	exitFenced = 3
	// exitInterrupted is a second SIGTERM/SIGINT during a clean stop: the
	// process left without waiting (128 + SIGINT, as shells report it).
	exitInterrupted = 130
)

func main() {
	exportEnvFile = true
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr, processEnv()))
}

// usage is the top-level help; the --source choices come from the
// sources registry.
var usage = strings.Replace(usageText, "{sources}", strings.Join(sources.Names(), "|"), 1)

const usageText = `callstream streams Microsoft Teams call logs from Microsoft Graph into Kafka.

Usage:
  callstream run [--once]                     walk time windows from Graph into Kafka (configured by environment)
  callstream backfill --from TIME --to TIME   walk a historical range once, with progress; resumable
  callstream check                            validate configuration and connectivity, name what to fix
  callstream checkpoint show                  print the saved progress
  callstream checkpoint reset --to TIME       move the saved progress (asks for confirmation)
  callstream demo                             run against a simulated Graph and an in-process Kafka, print a summary
  callstream schema [register] [--source {sources}] [--version v1.0|beta]
                                              print a source's Avro schema, or register it with SCHEMA_REGISTRY_URL
  callstream plan [--limit N] [--json]        dry run: the windows and rescans the next walk would read, from the checkpoint
  callstream tenants [--json]                 each tenant's sources: watermark, lag, state, owning replica
  callstream config [--json]                  print the effective configuration, secrets redacted
  callstream version [--json]                 print the version, commit and build date (also --version)
  callstream completion bash|zsh|fish         print a shell completion script

Global flag (before or after the command): --env-file FILE reads KEY=VALUE
settings from FILE; the real environment wins over it.

"callstream COMMAND --help" lists a command's flags and settings with their defaults.

Exit codes: 0 done or stopped cleanly, 1 runtime failure (check: a problem was found;
checkpoint reset: not confirmed), 2 invalid configuration or usage,
3 fenced by another instance with the same transactional id, 130 a second
SIGTERM/SIGINT ended a clean stop early (the window in flight is read again).
`

func realMain(args []string, stdout, stderr io.Writer, env envconfig.Lookuper) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Both signals go to one buffered channel registered before anything
	// runs, so that a second signal is never lost nor left to the default
	// action, however soon after the first it comes.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		// The first signal stops cleanly: the window in flight is
		// abandoned and read again, and the exit code is 0.
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		// A second one is an operator who will not wait for producers to
		// flush: exit at once. Nothing unsettled was checkpointed, so the
		// next run reads the window in flight again.
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "callstream: second signal: exiting now without a clean stop; the window in flight is read again by the next run")
			os.Exit(exitInterrupted)
		case <-done:
		}
	}()
	args, envFile, err := takeEnvFile(args)
	if err == nil && envFile != "" {
		env, err = withEnvFile(env, envFile)
	}
	if err != nil {
		return exitCode(err, stderr)
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "--version", "-version":
		cmd = "version"
	}
	c, ok := lookupCommand(cmd)
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return exitConfig
	}
	return exitCode(c.run(ctx, rest, stdout, stderr, env), stderr)
}

// command is one subcommand. This table is the one list of commands:
// dispatch, shell completion and commandDocs read it, and TestCommandTable
// checks its flags against each command's --help.
type command struct {
	name string
	// doc is its --help.
	doc *helpDoc
	// sub are its own subcommands (checkpoint show|reset).
	sub []string
	// flags are its flags, without dashes.
	flags []string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error
}

// commands is filled in init: cmdCompletion reads it, so a literal here
// would refer to itself.
var commands []command

func init() {
	commands = []command{
		{name: "run", doc: &runHelp, flags: []string{"once", "start", "end"}, run: cmdRun},
		{name: "backfill", doc: &backfillHelp, flags: []string{"from", "to", "checkpoint", "progress-every"}, run: cmdBackfill},
		{name: "check", doc: &checkHelp, flags: []string{"timeout"}, run: cmdCheck},
		{name: "checkpoint", doc: &checkpointHelp, sub: []string{"show", "reset"}, flags: []string{"source", "json", "to", "forward", "yes"},
			run: func(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
				return cmdCheckpoint(ctx, args, os.Stdin, stdout, stderr, env)
			}},
		{name: "plan", doc: &planHelp, flags: []string{"limit", "json"}, run: cmdPlan},
		{name: "tenants", doc: &tenantsHelp, flags: []string{"json"}, run: cmdTenants},
		{name: "config", doc: &configHelp, flags: []string{"json"}, run: cmdConfig},
		{name: "demo", doc: &demoHelp, flags: []string{"days", "rows-per-hour", "v", "serve"},
			run: func(ctx context.Context, args []string, stdout, stderr io.Writer, _ envconfig.Lookuper) error {
				return cmdDemo(ctx, args, stdout, stderr)
			}},
		{name: "schema", doc: &schemaHelp, sub: []string{"register"}, flags: []string{"source", "version"}, run: cmdSchema},
		{name: "version", doc: &versionHelp, flags: []string{"json"},
			run: func(_ context.Context, args []string, stdout, _ io.Writer, _ envconfig.Lookuper) error {
				return cmdVersion(args, stdout)
			}},
		{name: "completion", doc: &completionHelp, sub: []string{"bash", "zsh", "fish"},
			run: func(_ context.Context, args []string, stdout, _ io.Writer, _ envconfig.Lookuper) error {
				return cmdCompletion(args, stdout)
			}},
	}
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func exitCode(err error, stderr io.Writer) int {
	var ce *configError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, "callstream:", err)
		return exitConfig
	case errors.Is(err, producer.ErrFenced):
		fmt.Fprintln(stderr, "callstream:", err)
		return exitFenced
	default:
		fmt.Fprintln(stderr, "callstream:", err)
		return exitFailure
	}
}
