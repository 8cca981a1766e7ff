package walk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callstream/callstream/producer"
)

// partial handles a failed fetch without transactions. It waits for what
// was handed to Kafka (a stop waits a bounded grace period): acknowledged
// ids are worth remembering, since a retry or a restart then skips them,
// and nothing may still be in flight when the window is tried again.
func (w *Walker) partial(ctx context.Context, batch *producer.Batch, from, to time.Time, newIDs []string, ferr error) error {
	werr := batch.Wait(ctx)
	if ctx.Err() != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
		werr = batch.Wait(wctx)
		cancel()
	}
	ferr = fmt.Errorf("read window [%s, %s): %w", fmtT(from), fmtT(to), ferr)
	if werr != nil || len(newIDs) == 0 {
		return ferr
	}
	// Every row handed over is acknowledged: remember the ids, though not
	// the window as read (a partial read is not a read).
	w.remember(from, to, time.Time{}, newIDs)
	if err := w.save(ctx); err != nil {
		return errors.Join(ferr, err)
	}
	return ferr
}

func (w *Walker) save(ctx context.Context) error {
	// The save must not be cut short by a cancelled walk: the rows are
	// acknowledged, and recording that is what avoids duplicates.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.store.Save(sctx, w.cfg.Source.Name, w.state); err != nil {
		return &permanentError{fmt.Errorf("save checkpoint: %w", err)}
	}
	return nil
}
