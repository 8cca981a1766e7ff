package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/sources"
)

// CheckpointAccess reads and writes one source's saved state, wherever
// CHECKPOINT_STORE keeps it.
type CheckpointAccess struct {
	where string
	load  func(ctx context.Context) (checkpoint.State, error)
	save  func(ctx context.Context, st checkpoint.State) error
	close func()
}

// Where says where the state is kept: the file, or the checkpoint topic
// and the scope in it.
func (a *CheckpointAccess) Where() string { return a.where }

// Load reads the saved state; none is the zero State.
func (a *CheckpointAccess) Load(ctx context.Context) (checkpoint.State, error) { return a.load(ctx) }

// Save replaces the saved state with st.
func (a *CheckpointAccess) Save(ctx context.Context, st checkpoint.State) error {
	return a.save(ctx, st)
}

// Close releases the store's client.
func (a *CheckpointAccess) Close() { a.close() }

// knownSources are the names --source and SOURCES accept, sorted.
func knownSources() []string {
	names := sources.Names()
	slices.Sort(names)
	return names
}

// CheckSource refuses a --source that is no source of ours: a typo must
// not write a checkpoint nobody reads.
func CheckSource(source string) error {
	if isSource(source) {
		return nil
	}
	return &ConfigError{Problems: []string{fmt.Sprintf("--source %q: unknown source; want one of %s", source, strings.Join(knownSources(), ", "))}}
}

// OpenCheckpoint opens source's checkpoint as Run would: the same store,
// topic and scope. Opening and loading write nothing: a missing checkpoint
// topic reads as no progress. For the Kafka store a save creates the
// checkpoint topic if need be (as run would) and is a transaction with the
// source's transactional id: it fences a running instance (which then
// stops with exit code 3) rather than racing it.
//
// With CHECKPOINT_STORE=file only the configuration's Checkpoint part is
// read: the pipeline may be built from it alone.
func (p *Pipeline) OpenCheckpoint(ctx context.Context, source string) (*CheckpointAccess, error) {
	if err := CheckSource(source); err != nil {
		return nil, err
	}
	cfg, log := p.cfg, p.log
	if cc := cfg.Checkpoint; cc.Store == "file" {
		store, err := checkpoint.NewFileStore(cc.Path)
		if err != nil {
			return nil, &ConfigError{Problems: []string{"CHECKPOINT_PATH: " + err.Error()}}
		}
		return &CheckpointAccess{
			where: cc.Path,
			load:  func(ctx context.Context) (checkpoint.State, error) { return store.Load(ctx, source) },
			save:  func(ctx context.Context, st checkpoint.State) error { return store.Save(ctx, source, st) },
			close: func() {},
		}, nil
	}
	if !slices.Contains(cfg.Walk.Sources, source) {
		// A source SOURCES does not walk still gets an id of its own: with
		// KAFKA_TRANSACTIONAL_ID set and one source, the reset would
		// otherwise claim (and fence) the other source's running walker.
		cfg.Walk.Sources = append(slices.Clone(cfg.Walk.Sources), source)
	}
	// Derived from cfg as run derives it, never from a copy adapted to one
	// source: the checkpoint topic follows KAFKA_TOPIC whatever the source.
	ls, err := laneSetup(cfg, source, log, nil)
	if err != nil {
		return nil, err
	}
	conn, err := kafkaConnOpts(cfg, log, nil)
	if err != nil {
		return nil, err
	}
	cl, err := checkpointClient(cfg, conn)
	if err != nil {
		return nil, err
	}
	topic := checkpointTopic(cfg)
	exists, err := checkpointTopicExists(ctx, cl, topic)
	if err != nil {
		cl.Close()
		return nil, err
	}
	store := kafkaCheckpointStore(cl, cfg, source)
	acc := &CheckpointAccess{
		where: fmt.Sprintf("kafka topic %s (scope %s)", topic, ls.topic),
		load: func(ctx context.Context) (checkpoint.State, error) {
			if !exists {
				return checkpoint.State{}, nil
			}
			return store.Load(ctx, source)
		},
		close: cl.Close,
	}
	acc.save = func(ctx context.Context, st checkpoint.State) error {
		if !exists {
			if err := producer.EnsureCheckpointTopic(ctx, cl, topic, cfg.Kafka.Topic); err != nil {
				return StartupError(err)
			}
			exists = true
		}
		pcfg := ls.producer
		pcfg.Logger = slog.New(slog.DiscardHandler)
		prod, err := producer.New(ctx, pcfg)
		if err != nil {
			return StartupError(err)
		}
		defer prod.Close(context.WithoutCancel(ctx))
		// Claiming the id fenced any running instance; read again so the
		// records staged describe what is committed now.
		if _, err := store.Load(ctx, source); err != nil {
			return err
		}
		b, err := prod.Begin(source, st.Watermark, st.Watermark)
		if err != nil {
			return err
		}
		recs, err := store.Stage(source, st)
		if err != nil {
			return fmt.Errorf("%w; also %w", err, b.Abort(ctx))
		}
		if err := b.Commit(ctx, recs...); err != nil {
			return err
		}
		store.Committed(source)
		return nil
	}
	return acc, nil
}

// kafkaCheckpointStore is source's view of the Kafka checkpoint store, as
// every command derives it: the topic from KAFKA_TOPIC (or
// CHECKPOINT_TOPIC), scoped by the source's data topic.
func kafkaCheckpointStore(cl *kgo.Client, cfg Config, source string) *checkpoint.KafkaStore {
	return checkpoint.NewKafkaStore(cl, checkpointTopic(cfg), cfg.Kafka.TopicFor(source))
}

// checkpointTopicExists says whether the checkpoint topic is there, and
// fit to be used, without creating it.
func checkpointTopicExists(ctx context.Context, cl *kgo.Client, topic string) (bool, error) {
	spec := producer.TopicSpec{Name: topic, Role: producer.CheckpointTopic, Partitions: 1}
	err := producer.EnsureTopics(ctx, cl, []producer.TopicSpec{spec}, false, slog.New(slog.DiscardHandler))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, producer.ErrTopicMissing):
		return false, nil
	case errors.Is(err, producer.ErrNotCompacted):
		return false, &ConfigError{Problems: []string{"CHECKPOINT_TOPIC: " + err.Error()}}
	default:
		return false, fmt.Errorf("checkpoint topic %s: %w", topic, err)
	}
}
