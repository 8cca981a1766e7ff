package walk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/producer"
)

// ackSettle is at-least-once: a window's rows are published, Kafka
// acknowledges every one, and only then is the checkpoint saved. A crash
// between the acknowledgement and the save publishes the window again; it
// never loses it. One window is in flight at a time.
type ackSettle struct {
	w     *Walker
	store checkpoint.Saver
	// release ends the produce context of the window in flight.
	release func()
}

func (s *ackSettle) begin(ctx context.Context, from, to time.Time) (*producer.Batch, context.Context, error) {
	batch, err := s.w.pub.Begin(s.w.cfg.Source.Name, from, to)
	if err != nil {
		return nil, nil, s.w.publishErr(from, to, err)
	}
	pctx, release := produceContext(ctx)
	s.release = release
	return batch, pctx, nil
}

func (s *ackSettle) settle(ctx context.Context, batch *producer.Batch, r windowRead, ids []string, _ bool) error {
	defer s.release()
	w := s.w
	if err := batch.Commit(ctx); err != nil {
		w.count(func(s *Stats) { s.Failures++ })
		return w.publishErr(r.from, r.to, err)
	}
	w.apply(r, ids)
	if err := s.save(ctx); err != nil {
		return err
	}
	w.settled(r)
	return nil
}

// fail waits for what was handed to Kafka (a stop waits a bounded grace
// period): acknowledged ids are worth remembering, since a retry or a
// restart then skips them, and nothing may still be in flight when the
// window is tried again.
func (s *ackSettle) fail(ctx context.Context, batch *producer.Batch, r windowRead, ids []string, ferr error) error {
	defer s.release()
	werr := batch.Wait(ctx)
	if ctx.Err() != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
		werr = batch.Wait(wctx)
		cancel()
	}
	ferr = fmt.Errorf("read window [%s, %s): %w", fmtT(r.from), fmtT(r.to), ferr)
	if werr != nil || len(ids) == 0 {
		return ferr
	}
	// Every row handed over is acknowledged: remember the ids, though not
	// the window as read (a partial read is not a read). A folded read's
	// are remembered as its two reads' would be: the rescanned windows
	// stay due, the new window is resumed with the same bounds.
	if r.split.IsZero() {
		s.w.remember(r.from, r.to, time.Time{}, ids)
	} else {
		if r.prior > 0 {
			s.w.remember(r.from, r.split, time.Time{}, ids[:r.prior])
		}
		if len(ids) > r.prior {
			s.w.remember(r.split, r.to, time.Time{}, ids[r.prior:])
		}
	}
	if err := s.save(ctx); err != nil {
		return errors.Join(ferr, err)
	}
	return ferr
}

// canGroup is false: each window is acknowledged and saved on its own.
func (s *ackSettle) canGroup() bool { return false }

// drop has nothing to do: settle leaves nothing open.
func (s *ackSettle) drop(context.Context) {}

func (s *ackSettle) save(ctx context.Context) error {
	// The save must not be cut short by a cancelled walk: the rows are
	// acknowledged, and recording that is what avoids duplicates.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.store.Save(sctx, s.w.cfg.Source.Name, s.w.state); err != nil {
		return &permanentError{fmt.Errorf("save checkpoint: %w", err)}
	}
	return nil
}
