package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/sethvargo/go-envconfig"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/producer"
)

// checkpointAccess reads and writes one source's saved state, wherever
// CHECKPOINT_STORE keeps it.
type checkpointAccess struct {
	where string
	load  func(ctx context.Context) (checkpoint.State, error)
	save  func(ctx context.Context, st checkpoint.State) error
	close func()
}

// openCheckpoint opens source's checkpoint as `run` would. For the Kafka
// store a save is a transaction with the source's transactional id: it
// fences a running instance (which then stops with exit code 3) rather
// than racing it.
func openCheckpoint(ctx context.Context, env envconfig.Lookuper, source string, stderr io.Writer) (*checkpointAccess, error) {
	cc, err := loadCheckpointConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	if cc.Store == "file" {
		store, err := checkpoint.NewFileStore(cc.Path)
		if err != nil {
			return nil, &configError{problems: []string{"CHECKPOINT_PATH: " + err.Error()}}
		}
		return &checkpointAccess{
			where: cc.Path,
			load:  func(ctx context.Context) (checkpoint.State, error) { return store.Load(ctx, source) },
			save:  func(ctx context.Context, st checkpoint.State) error { return store.Save(ctx, source, st) },
			close: func() {},
		}, nil
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	log := newLogger("warn", "", stderr)
	topic := cfg.Kafka.TopicFor(source)
	cfg.Kafka.Topic = topic
	codec, err := sourceSchema(source, cfg.Graph.APIVersion)
	if err != nil {
		return nil, err
	}
	pcfg, err := producerConfig(cfg, codec, log, nil)
	if err != nil {
		return nil, err
	}
	conn, err := producer.ClientOpts(pcfg, log)
	if err != nil {
		return nil, err
	}
	stores, closeStores, err := openStores(ctx, cfg, conn)
	if err != nil {
		return nil, err
	}
	store := stores(topic).(*checkpoint.KafkaStore)
	return &checkpointAccess{
		where: fmt.Sprintf("kafka topic %s (scope %s)", checkpointTopic(cfg), topic),
		load:  func(ctx context.Context) (checkpoint.State, error) { return store.Load(ctx, source) },
		save: func(ctx context.Context, st checkpoint.State) error {
			pcfg.TransactionalID = transactionalID(cfg, source, topic)
			pcfg.Logger = slog.New(slog.DiscardHandler)
			prod, err := producer.New(ctx, pcfg)
			if err != nil {
				return startupError(err)
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
		},
		close: closeStores,
	}, nil
}
