package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/callstream/callstream/checkpoint"
	app "github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/sources"
)

var checkpointHelp = helpDoc{
	usage: `callstream checkpoint show [--source NAME] [--json]
       callstream checkpoint reset --to TIME [--source NAME] [--forward] [--yes]`,
	summary: `show prints how far each source has got: the watermark (every call that started before it is in
Kafka), the windows still remembered for rescans and their row ids, and any window in flight.

reset moves the watermark to TIME, so that the next run walks on from there. Stop run first (scale
the Deployment to 0): a running walker keeps its own copy and would overwrite the reset.
  Back (TIME before the watermark): calls from TIME on are read again. Remembered windows from
  TIME on are forgotten, so their rows are published again: duplicates, never loss. Windows before
  TIME keep their ids and their rescans.
  Forward (TIME after the watermark, or no watermark yet): calls that started between the
  watermark (or START_TIME) and TIME are never read. This loses rows, so it needs --forward.
A TIME inside a remembered window is moved back to that window's start, so no window loses the
rescans that find its late rows. reset asks for confirmation unless --yes is given.`,
	sections: []string{"Checkpoint", "Kafka"},
	names:    []string{"GRAPH_CLOUD", "GRAPH_API_VERSION"},
	note: `With CHECKPOINT_STORE=file only the checkpoint settings are read. With kafka (the default) the
checkpoint is in the checkpoint topic, reached with run's Kafka settings (GRAPH_CLOUD: the Entra
authority of OAUTHBEARER tokens; GRAPH_API_VERSION: the source's schema, as run uses it).`,
	exits: []int{exitOK, exitFailure, exitConfig, exitFenced},
	exitNotes: map[int]string{
		exitFailure: "runtime failure, the cause printed on stderr; reset: not confirmed, nothing changed",
		exitFenced:  "reset with CHECKPOINT_STORE=kafka: another instance took the source's transactional id during the reset",
	},
}

// loadCheckpointConfig reads only the checkpoint settings: showing or
// resetting progress must not require Graph or Kafka settings.
func loadCheckpointConfig(ctx context.Context, env envconfig.Lookuper) (app.CheckpointConfig, error) {
	var raw app.RawCheckpoint
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &raw, Lookuper: env}); err != nil {
		return app.CheckpointConfig{}, &configError{Problems: []string{err.Error()}}
	}
	return raw.Parse()
}

// openCheckpoint opens source's checkpoint as `run` would (see
// Pipeline.OpenCheckpoint). With CHECKPOINT_STORE=file only the checkpoint
// settings are read; with kafka the whole configuration, as run reads it.
func openCheckpoint(ctx context.Context, env envconfig.Lookuper, source string, stderr io.Writer) (*app.CheckpointAccess, error) {
	if err := app.CheckSource(source); err != nil {
		return nil, err
	}
	cc, err := loadCheckpointConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	cfg := app.Config{Checkpoint: cc}
	if cc.Store != "file" {
		if cfg, err = loadConfig(ctx, env); err != nil {
			return nil, err
		}
	}
	p, err := app.New(ctx, cfg, app.Options{Logger: app.NewLogger("warn", "", stderr), Version: version})
	if err != nil {
		return nil, err
	}
	return p.OpenCheckpoint(ctx, source)
}

func cmdCheckpoint(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		// Both subcommands' flags, for the help only.
		fs := flag.NewFlagSet("checkpoint", flag.ContinueOnError)
		fs.String("source", sources.Default().Name, "show, reset: the source, "+sources.NameList("or"))
		fs.Bool("json", false, "show: print JSON instead of text")
		fs.String("to", "", "reset: the new watermark, an RFC 3339 `TIME` or a date")
		fs.Bool("forward", false, "reset: allow moving the watermark forward, which skips calls for good")
		fs.Bool("yes", false, "reset: do not ask for confirmation")
		if len(args) == 0 {
			printHelp(stderr, checkpointHelp, fs)
			return &configError{Problems: []string{"checkpoint needs show or reset"}}
		}
		printHelp(stdout, checkpointHelp, fs)
		return flag.ErrHelp
	}
	switch args[0] {
	case "show":
		return cmdCheckpointShow(ctx, args[1:], stdout, env)
	case "reset":
		return cmdCheckpointReset(ctx, args[1:], stdin, stdout, env)
	default:
		return &configError{Problems: []string{fmt.Sprintf("checkpoint %q: want show or reset (see callstream checkpoint --help)", args[0])}}
	}
}

func cmdCheckpointShow(ctx context.Context, args []string, stdout io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("checkpoint show", flag.ContinueOnError)
	source := fs.String("source", sources.Default().Name, "the source to show: "+sources.NameList("or"))
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := parseFlags(fs, checkpointHelp, args, stdout); err != nil {
		return err
	}
	acc, err := openCheckpoint(ctx, env, *source, io.Discard)
	if err != nil {
		return err
	}
	defer acc.Close()
	st, err := acc.Load(ctx)
	if err != nil {
		return err
	}
	s := app.Summarize(*source, st, time.Now())
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Path string `json:"path"`
			app.CheckpointSummary
		}{acc.Where(), s})
	}
	return s.WriteText(stdout, acc.Where(), time.Now())
}

// describeReset says what p will do to source's checkpoint.
func describeReset(w io.Writer, p app.ResetPlan, source string) {
	if p.Snapped {
		fmt.Fprintf(w, "%s is inside a remembered window; resetting to its start, %s, so the window keeps its rescans.\n", fmtTime(p.Asked), fmtTime(p.To))
	}
	old := "none"
	if !p.From.IsZero() {
		old = fmtTime(p.From)
	}
	fmt.Fprintf(w, "source %s: watermark %s -> %s\n", source, old, fmtTime(p.To))
	switch {
	case p.Forward && p.From.IsZero():
		fmt.Fprintf(w, "  Calls that started before %s and after START_TIME will NOT be read: those rows are lost.\n", fmtTime(p.To))
	case p.Forward:
		fmt.Fprintf(w, "  Calls that started in [%s, %s) will NOT be read: those rows are lost.\n", fmtTime(p.From), fmtTime(p.To))
	default:
		fmt.Fprintf(w, "  Calls that started from %s on are read again.\n", fmtTime(p.To))
	}
	if p.Forgotten > 0 {
		fmt.Fprintf(w, "  %d remembered windows are forgotten: their %d rows will be published again if read again (duplicates, not loss).\n", p.Forgotten, p.IDs)
	}
	fmt.Fprintln(w, "  Stop callstream run first: with the file store a running walker would overwrite this; with the")
	fmt.Fprintln(w, "  Kafka store the reset fences it (it stops with exit code 3).")
}

func cmdCheckpointReset(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("checkpoint reset", flag.ContinueOnError)
	toS := fs.String("to", "", "the new watermark, an RFC 3339 `TIME` or a date")
	source := fs.String("source", sources.Default().Name, "the source to reset: "+sources.NameList("or"))
	forward := fs.Bool("forward", false, "allow moving the watermark forward, which skips calls for good")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := parseFlags(fs, checkpointHelp, args, stdout); err != nil {
		return err
	}
	var p problems
	var to time.Time
	if *toS == "" {
		p.add("--to is required")
	} else if t, err := app.ParseTime(*toS); err != nil {
		p.add("--to %v", err)
	} else if err := (checkpoint.State{Watermark: t}).CheckTime(time.Now()); err != nil {
		// Invariant 1: the checkpoint never runs ahead of Kafka — nor of
		// time; even --forward cannot skip calls that have not happened.
		p.add("--to %v", err)
	} else {
		to = t
	}
	if len(p) > 0 {
		return &configError{Problems: p}
	}
	acc, err := openCheckpoint(ctx, env, *source, io.Discard)
	if err != nil {
		return err
	}
	defer acc.Close()
	st, err := acc.Load(ctx)
	if err != nil {
		return err
	}
	plan := app.PlanReset(st, to)
	if plan.To.Equal(st.Watermark) && plan.Forgotten == 0 {
		fmt.Fprintf(stdout, "source %s is already at %s; nothing to do\n", *source, fmtTime(plan.To))
		return nil
	}
	describeReset(stdout, plan, *source)
	if plan.Forward && !*forward {
		return &configError{Problems: []string{"--to moves the watermark forward, which skips calls for good; add --forward if that is intended"}}
	}
	if !*yes {
		fmt.Fprint(stdout, "Type yes to reset: ")
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(stdout)
			return errNotConfirmed
		}
	}
	if err := acc.Save(ctx, plan.Next); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "source %s reset to %s\n", *source, fmtTime(plan.To))
	return nil
}

// errNotConfirmed ends a reset the operator did not confirm (exit 1).
var errNotConfirmed = errors.New("not confirmed; nothing changed")
