package main

// rawCheckpoint holds the checkpoint settings.
type rawCheckpoint struct {
	Store string `env:"CHECKPOINT_STORE, default=file"`
	Path  string `env:"CHECKPOINT_PATH, default=callstream-checkpoint.json"`
}

// CheckpointConfig is where progress is kept.
type CheckpointConfig struct {
	Store string // "file"
	Path  string
}

func (r rawCheckpoint) parse(p *problems) CheckpointConfig {
	var c CheckpointConfig
	switch r.Store {
	case "file":
		c.Store = r.Store
	default:
		p.add("CHECKPOINT_STORE %q: want file", r.Store)
	}
	c.Path = r.Path
	if c.Store == "file" && c.Path == "" {
		p.add("CHECKPOINT_PATH is empty")
	}
	return c
}
