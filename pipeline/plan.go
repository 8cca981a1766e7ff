package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/callstream/callstream/checkpoint"
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
func (p *Pipeline) Plan(ctx context.Context, now time.Time, limit int) ([]SourcePlan, error) {
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
		wp, err := walk.PlanFor(walk.Config{Start: start, End: cfg.Walk.End, Window: cfg.Walk.Window,
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
	return plans, nil
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
