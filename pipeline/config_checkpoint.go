package pipeline

import "strings"

// RawCheckpoint holds the checkpoint settings.
type RawCheckpoint struct {
	Store string `env:"CHECKPOINT_STORE, default=kafka"`
	Path  string `env:"CHECKPOINT_PATH, default=callstream-checkpoint.json"`
	Topic string `env:"CHECKPOINT_TOPIC"`
}

// CheckpointConfig is where progress is kept.
type CheckpointConfig struct {
	// Store is "kafka" (exactly-once: rows and checkpoint in one
	// transaction) or "file" (at-least-once).
	Store string
	Path  string
	// Topic is the compacted checkpoint topic; "" means "<KAFKA_TOPIC>.checkpoint".
	Topic string
}

func (r RawCheckpoint) parse(p *problems) CheckpointConfig {
	c := CheckpointConfig{Store: r.Store, Path: r.Path, Topic: strings.TrimSpace(r.Topic)}
	switch r.Store {
	case "kafka":
	case "file":
		if c.Path == "" {
			p.add("CHECKPOINT_PATH is empty")
		}
	default:
		p.add("CHECKPOINT_STORE %q: want kafka (exactly-once) or file (at-least-once)", r.Store)
	}
	return c
}

// Parse converts and validates the checkpoint settings alone: showing or
// resetting progress in a file must not require Graph or Kafka settings.
func (r RawCheckpoint) Parse() (CheckpointConfig, error) {
	var p problems
	c := r.parse(&p)
	if len(p) > 0 {
		return c, &ConfigError{Problems: p}
	}
	return c, nil
}
