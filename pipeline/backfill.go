package pipeline

import (
	"fmt"
	"time"

	"github.com/callstream/callstream/sources"
)

// Backfill adapts c to a backfill of [from, to): the walk is bounded by
// them (START_TIME and END_TIME do not apply) and keeps its progress in a
// file of its own, path, or when path is empty one per range beside
// CHECKPOINT_PATH, so that running the same backfill again resumes it.
func (c Config) Backfill(from, to time.Time, path string) Config {
	c.Walk.Start, c.Walk.End = from, to
	if path == "" {
		path = fmt.Sprintf("%s.backfill-%s-%s", c.Checkpoint.Path, from.Format("20060102T150405Z"), to.Format("20060102T150405Z"))
	}
	c.Checkpoint.Path = path
	// A backfill keeps its progress in a file of its own: sharing the Kafka
	// checkpoint (and so the transactional id) of the live run would fence
	// it. Rows are published at-least-once; see docs/operations.md.
	c.Checkpoint.Store = "file"
	return c
}

// CheckBackfill lists what is wrong with a backfill of [from, to) at now,
// naming the flags --from and --to: the range must be in order, within
// what Graph holds, and settled (windows closer to now than SETTLE_DELAY
// are not readable yet, and a bounded walk would stop short of them).
func (c WalkConfig) CheckBackfill(from, to, now time.Time) []string {
	var p problems
	if from.Before(EarliestStart) {
		p.add("--from %s: before %s, earlier than any call log Graph holds (Graph keeps these logs for a limited time)", fmtTime(from), EarliestStart.Format(time.DateOnly))
	}
	for _, name := range c.Sources {
		if src, ok := sources.Lookup(name); ok {
			if msg := beyondRetention(src, from, now); msg != "" {
				p.add("--from %s: %s", fmtTime(from), msg)
			}
		}
	}
	if !to.After(from) {
		p.add("--to %s is not after --from %s", fmtTime(to), fmtTime(from))
	}
	if settled := now.Add(-c.SettleDelay); to.After(settled) {
		p.add("--to %s is later than now minus SETTLE_DELAY (%s): those calls are not settled yet; backfill up to %s and let run walk the rest",
			fmtTime(to), c.SettleDelay, fmtTime(settled.Truncate(time.Minute)))
	}
	return p
}
