package pipeline

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/callstream/callstream/checkpoint"
)

// preflightCheckpoints loads each source's checkpoint before any producer
// connects, so that a store run cannot use (a corrupt file, an unreadable
// topic) stops it before it creates a topic or registers a schema. The
// walkers load it again when they start.
//
// startSetting names where an explicit start came from (START_TIME or
// --start), or is empty when none was given or when resuming is expected
// (backfill). A source that resumes from its checkpoint ignores that
// start, which is said at WARN with the way to move the checkpoint.
func preflightCheckpoints(ctx context.Context, cfg Config, stores func(topic string) checkpoint.Loader, startSetting string, log *slog.Logger) error {
	for _, source := range cfg.Walk.Sources {
		st, err := stores(cfg.Kafka.TopicFor(source)).Load(ctx, source)
		if err != nil {
			return fmt.Errorf("%s: load checkpoint: %w", source, err)
		}
		start := cfg.Walk.Start
		if startSetting == "" || start.IsZero() || st.Watermark.IsZero() || st.Watermark.Equal(start) {
			continue
		}
		log.Warn(fmt.Sprintf("%s %s is ignored for %s: its checkpoint wins and the walk resumes from %s; "+
			"to start from %s instead, stop run and move the checkpoint: callstream checkpoint reset --source %s --to %s",
			startSetting, fmtTime(start), source, fmtTime(st.Watermark), fmtTime(start), source, fmtTime(start)),
			"source", source, "watermark", st.Watermark, "start", start)
	}
	return nil
}
