package pipeline

import (
	"context"

	"github.com/sethvargo/go-envconfig"

	"github.com/callstream/callstream/sources"
)

// loadConfig reads a configuration from l as cmd/callstream reads it from
// the environment (this package reads none), for the tests of parsing and
// of what is built from it.
func loadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var raw RawConfig
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &raw, Lookuper: l}); err != nil {
		return Config{}, &ConfigError{Problems: []string{err.Error()}}
	}
	raw.Kafka.Topics = SourceTopics{}
	for _, s := range sources.All() {
		if v, ok := l.Lookup(s.TopicSetting); ok {
			raw.Kafka.Topics[s.TopicSetting] = v
		}
	}
	if _, ok := l.Lookup("SOURCES"); !ok {
		raw.Walk.Sources = sources.Default().Name
	}
	return raw.Parse()
}
