package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sethvargo/go-envconfig"

	app "github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/sources"
)

// configError lists every problem found in the configuration or the
// command line. It maps to exit code 2.
type configError = app.ConfigError

// problems collects the problems of a command line; each names the flag
// or setting to fix.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// loadConfig reads the environment through l and validates it as a whole.
func loadConfig(ctx context.Context, l envconfig.Lookuper) (app.Config, error) {
	var raw app.RawConfig
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &raw, Lookuper: l}); err != nil {
		return app.Config{}, &configError{Problems: []string{err.Error()}}
	}
	raw.Kafka.Topics = readTopics(l)
	if _, ok := l.Lookup("SOURCES"); !ok {
		raw.Walk.Sources = sources.Default().Name
	}
	return raw.Parse()
}

// readTopics reads every source's topic setting from l.
func readTopics(l envconfig.Lookuper) app.SourceTopics {
	t := app.SourceTopics{}
	for _, s := range sources.All() {
		if v, ok := l.Lookup(s.TopicSetting); ok {
			t[s.TopicSetting] = v
		}
	}
	return t
}

// fmtTime is how times are printed: RFC 3339 in UTC.
func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
