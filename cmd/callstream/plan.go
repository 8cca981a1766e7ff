package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
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

// sourcePlan is one source's part of `callstream plan --json`.
type sourcePlan struct {
	Source     string         `json:"source"`
	Topic      string         `json:"topic"`
	Checkpoint string         `json:"checkpoint"`
	Watermark  *time.Time     `json:"watermark"`
	Cursor     time.Time      `json:"cursor"`
	Rescans    []plannedScan  `json:"rescans"`
	Windows    []plannedRange `json:"windows"`
	// TotalWindows counts every due window; Windows lists --limit of them.
	TotalWindows int        `json:"total_windows"`
	NextDue      *time.Time `json:"next_due,omitempty"`
}

type plannedRange struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

type plannedScan struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	ReadAt time.Time `json:"read_at"`
	Age    string    `json:"age"`
	Step   string    `json:"rescan_after"`
}

func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	limit := fs.Int("limit", 20, "list the first `N` new windows of each source (all are counted)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, planHelp, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &configError{problems: []string{fmt.Sprintf("plan takes no arguments, got %q", fs.Args())}}
	}
	if *limit < 0 {
		return &configError{problems: []string{"plan: --limit must not be negative"}}
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	for _, w := range cfg.Walk.Warnings {
		log.Warn(w)
	}
	now := time.Now().UTC()
	load, where, closeLoad, err := readOnlyCheckpoint(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeLoad()
	start := cfg.Walk.Start
	if start.IsZero() {
		start = defaultStart(now, cfg.Walk.Window)
	}
	var plans []sourcePlan
	for _, source := range cfg.Walk.Sources {
		topic := cfg.Kafka.TopicFor(source)
		st, err := load(ctx, source, topic)
		if err != nil {
			return fmt.Errorf("%s: load checkpoint: %w", source, err)
		}
		// An aggregate is planned in UTC days, as it is walked.
		agg := walk.Source{Aggregate: sources.MustLookup(source).Kind == sources.Aggregate}
		p, err := walk.PlanFor(walk.Config{Source: agg, Start: start, End: cfg.Walk.End, Window: cfg.Walk.Window,
			SettleDelay: cfg.Walk.SettleDelay, RescanAfter: cfg.Walk.RescanAfter}, st, now, *limit)
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		sp := sourcePlan{Source: source, Topic: topic, Checkpoint: where(topic), Cursor: p.Cursor,
			TotalWindows: p.TotalWindows, Rescans: []plannedScan{}, Windows: []plannedRange{}}
		if !p.Watermark.IsZero() {
			sp.Watermark = &p.Watermark
		}
		if !p.Next.IsZero() {
			sp.NextDue = &p.Next
		}
		for _, r := range p.Rescans {
			sp.Rescans = append(sp.Rescans, plannedScan{From: r.From, To: r.To, ReadAt: r.ReadAt, Age: r.Age.String(), Step: r.Step.String()})
		}
		for _, w := range p.Windows {
			sp.Windows = append(sp.Windows, plannedRange{From: w.From, To: w.To})
		}
		plans = append(plans, sp)
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
			Now     time.Time    `json:"now"`
			Sources []sourcePlan `json:"sources"`
			Windows int          `json:"windows"`
			Rescans int          `json:"rescans"`
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

// defaultStart is where a walk begins without START_TIME and without a
// checkpoint: one day back, aligned to the window.
func defaultStart(now time.Time, window time.Duration) time.Time {
	return now.UTC().Add(-24 * time.Hour).Truncate(window)
}

// readOnlyCheckpoint opens the configured checkpoint store for reading
// only: the file is read without the store's writability probe, and a
// missing Kafka checkpoint topic reads as empty rather than being created.
func readOnlyCheckpoint(ctx context.Context, cfg Config, log *slog.Logger) (
	load func(ctx context.Context, source, topic string) (checkpoint.State, error), where func(topic string) string, closeFn func(), err error) {
	if cfg.Checkpoint.Store == "file" {
		return func(ctx context.Context, source, _ string) (checkpoint.State, error) {
				return checkpoint.ReadFile(ctx, cfg.Checkpoint.Path, source)
			}, func(string) string { return "file " + cfg.Checkpoint.Path },
			func() {}, nil
	}
	conn, err := kafkaConnOpts(cfg, log, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := checkpointClient(cfg, conn)
	if err != nil {
		return nil, nil, nil, err
	}
	topic := checkpointTopic(cfg)
	// The same check checkpoint show makes: it lists, never creates.
	exists, err := checkpointTopicExists(ctx, cl, topic)
	if err != nil {
		cl.Close()
		var ce *configError
		if errors.As(err, &ce) {
			return nil, nil, nil, err
		}
		return nil, nil, nil, startupError(err)
	}
	return func(ctx context.Context, source, _ string) (checkpoint.State, error) {
			if !exists {
				return checkpoint.State{}, nil
			}
			return kafkaCheckpointStore(cl, cfg, source).Load(ctx, source)
		}, func(dataTopic string) string {
			if !exists {
				return "kafka topic " + topic + " (does not exist yet)"
			}
			return "kafka topic " + topic
		}, cl.Close, nil
}
