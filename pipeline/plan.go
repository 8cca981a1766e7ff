package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
)

// SourcePlan is what the next walk of one source would read: its part of
// `callstream plan --json`.
type SourcePlan struct {
	Source     string         `json:"source"`
	Topic      string         `json:"topic"`
	Checkpoint string         `json:"checkpoint"`
	Watermark  *time.Time     `json:"watermark"`
	Cursor     time.Time      `json:"cursor"`
	Rescans    []PlannedScan  `json:"rescans"`
	Windows    []PlannedRange `json:"windows"`
	// TotalWindows counts every due window; Windows lists --limit of them.
	TotalWindows int        `json:"total_windows"`
	NextDue      *time.Time `json:"next_due,omitempty"`
}

// PlannedRange is a new window due.
type PlannedRange struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// PlannedScan is a rescan due: a window read again for late rows.
type PlannedScan struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	ReadAt time.Time `json:"read_at"`
	Age    string    `json:"age"`
	Step   string    `json:"rescan_after"`
}

// Plan computes, by the walker's own scheduling, the rescans and new
// windows the next walk of each source would read at now, listing at most
// limit new windows per source (all are counted). It reads the checkpoints
// without writing anything (a missing checkpoint topic is not created) and
// fetches nothing from Graph.
func (p *Pipeline) Plan(ctx context.Context, now time.Time, limit int) (*PlanReport, error) {
	cfg, log := p.cfg, p.log
	load, where, closeLoad, err := readOnlyCheckpoint(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer closeLoad()
	start := cfg.Walk.Start
	if start.IsZero() {
		start = defaultStart(now, cfg.Walk.Window)
	}
	var plans []SourcePlan
	for _, source := range cfg.Walk.Sources {
		topic := cfg.Kafka.TopicFor(source)
		st, err := load(ctx, source, topic)
		if err != nil {
			return nil, fmt.Errorf("%s: load checkpoint: %w", source, err)
		}
		// An aggregate is planned in UTC days, as it is walked; a log's
		// function tells whether its rescans fold into live windows.
		src := sources.MustLookup(source)
		ws := walk.Source{Function: fetch.FunctionOf(src), Aggregate: src.Kind == sources.Aggregate, Records: src.Kind == sources.Records}
		wp, err := walk.PlanFor(walk.Config{Source: ws, Start: start, End: cfg.Walk.End, Window: cfg.Walk.Window,
			SettleDelay: cfg.Walk.SettleDelay, RescanAfter: cfg.Walk.RescanAfter}, st, now, limit)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		sp := SourcePlan{Source: source, Topic: topic, Checkpoint: where(topic), Cursor: wp.Cursor,
			TotalWindows: wp.TotalWindows, Rescans: []PlannedScan{}, Windows: []PlannedRange{}}
		if !wp.Watermark.IsZero() {
			sp.Watermark = &wp.Watermark
		}
		if !wp.Next.IsZero() {
			sp.NextDue = &wp.Next
		}
		for _, r := range wp.Rescans {
			sp.Rescans = append(sp.Rescans, PlannedScan{From: r.From, To: r.To, ReadAt: r.ReadAt, Age: r.Age.String(), Step: r.Step.String()})
		}
		for _, w := range wp.Windows {
			sp.Windows = append(sp.Windows, PlannedRange{From: w.From, To: w.To})
		}
		plans = append(plans, sp)
	}
	r := &PlanReport{Now: now, Sources: plans}
	for _, p := range plans {
		r.Windows += p.TotalWindows
		r.Rescans += len(p.Rescans)
	}
	return r, nil
}

// PlanReport is the plan of every source: `callstream plan --json`.
type PlanReport struct {
	Now     time.Time    `json:"now"`
	Sources []SourcePlan `json:"sources"`
	// Windows and Rescans are the totals due over every source.
	Windows int `json:"windows"`
	Rescans int `json:"rescans"`
}

// WriteText writes the report as `callstream plan` prints it.
func (r *PlanReport) WriteText(w io.Writer) error {
	for _, p := range r.Sources {
		fmt.Fprintf(w, "%s → %s (checkpoint: %s)\n", p.Source, p.Topic, p.Checkpoint)
		if p.Watermark != nil {
			fmt.Fprintf(w, "  watermark     %s\n", fmtTime(*p.Watermark))
		} else {
			fmt.Fprintf(w, "  watermark     none yet: the walk starts at %s\n", fmtTime(p.Cursor))
		}
		fmt.Fprintf(w, "  rescans due   %d\n", len(p.Rescans))
		for _, r := range p.Rescans {
			fmt.Fprintf(w, "    %s – %s  ended %s ago, last read %s (RESCAN_AFTER %s reached)\n",
				fmtTime(r.From), fmtTime(r.To), r.Age, fmtTime(r.ReadAt), r.Step)
		}
		fmt.Fprintf(w, "  windows due   %d", p.TotalWindows)
		if len(p.Windows) < p.TotalWindows {
			fmt.Fprintf(w, " (the first %d)", len(p.Windows))
		}
		fmt.Fprintln(w)
		for _, win := range p.Windows {
			fmt.Fprintf(w, "    %s – %s\n", fmtTime(win.From), fmtTime(win.To))
		}
		if p.NextDue != nil {
			fmt.Fprintf(w, "  next window   due at %s\n", fmtTime(*p.NextDue))
		} else {
			fmt.Fprintln(w, "  next window   none: END_TIME reached")
		}
	}
	_, err := fmt.Fprintf(w, "plan: %d new windows and %d rescans due over %d source(s) at %s; nothing was fetched or written\n",
		r.Windows, r.Rescans, len(r.Sources), fmtTime(r.Now))
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
		var ce *ConfigError
		if errors.As(err, &ce) {
			return nil, nil, nil, err
		}
		return nil, nil, nil, StartupError(err)
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
