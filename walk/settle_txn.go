package walk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/producer"
)

// txnSettle is exactly-once: a window's rows and the checkpoint records
// that claim them (checkpoint.Stager.Stage) are committed in one Kafka
// transaction, or neither is. The walker's in-memory state is applied
// before the commit; after a failed commit it is re-read from the store.
// A backfill may keep one transaction open across consecutive windows
// that are already fetched (see openTxn).
type txnSettle struct {
	w     *Walker
	store checkpoint.Stager
	open  *openTxn // the transaction being written, nil between commits
}

// openTxn is an exactly-once transaction a backfill keeps open across
// consecutive windows that are already fetched: the last window's batch
// (chained to the others' with producer.Batch.Next) and what each window
// read. One commit then settles them all, with the checkpoint of the last;
// the windows' in-memory state is applied as they are read, and re-read
// from the store if the commit fails.
type openTxn struct {
	batch   *producer.Batch
	windows []windowRead
	rows    int
	// pctx is the context the transaction's records are produced with;
	// release ends it once the transaction is settled.
	pctx    context.Context
	release func()
}

// Bounds of one open transaction: the work redone after a failure, and the
// time records wait to become visible.
const (
	maxTxnWindows = 8
	maxTxnRows    = 50_000
)

// begin continues the open transaction with the window's batch, or begins
// one.
func (s *txnSettle) begin(ctx context.Context, from, to time.Time) (*producer.Batch, context.Context, error) {
	name := s.w.cfg.Source.Name
	if s.open != nil {
		batch, err := s.open.batch.Next(name, from, to)
		if err != nil {
			s.drop(ctx)
			return nil, nil, s.w.publishErr(from, to, err)
		}
		s.open.batch = batch
		return batch, s.open.pctx, nil
	}
	batch, err := s.w.pub.Begin(name, from, to)
	if err != nil {
		return nil, nil, s.w.publishErr(from, to, err)
	}
	pctx, release := produceContext(ctx)
	s.open = &openTxn{batch: batch, pctx: pctx, release: release}
	return batch, pctx, nil
}

// settle applies r to the in-memory state and, unless more, stages that
// state and commits it with the rows of every window in the transaction.
func (s *txnSettle) settle(ctx context.Context, batch *producer.Batch, r windowRead, ids []string, more bool) error {
	w := s.w
	w.apply(r, ids)
	s.open.windows = append(s.open.windows, r)
	s.open.rows += r.fetched
	if more {
		return nil
	}
	open := s.open
	s.open = nil
	defer open.release()
	recs, err := s.store.Stage(w.cfg.Source.Name, w.state)
	if err == nil {
		err = batch.Commit(ctx, recs...)
	} else {
		err = errors.Join(err, batch.Abort(ctx))
	}
	if err != nil {
		w.count(func(s *Stats) { s.Failures++ })
		// The in-memory state ran ahead of what is committed: re-read
		// the truth before the next window.
		w.loaded = false
		return w.publishErr(open.windows[0].from, r.to, err)
	}
	s.store.Committed(w.cfg.Source.Name)
	for _, g := range open.windows {
		w.settled(g)
	}
	return nil
}

// fail aborts the transaction: nothing of the window (nor of the windows
// before it in the same transaction) becomes visible, and the next try
// starts clean.
func (s *txnSettle) fail(ctx context.Context, batch *producer.Batch, r windowRead, _ []string, ferr error) error {
	err := errors.Join(fmt.Errorf("read window [%s, %s): %w", fmtT(r.from), fmtT(r.to), ferr), s.w.abort(ctx, batch))
	s.drop(ctx)
	return err
}

// canGroup reports whether the open transaction, if any, has room for
// one more window.
func (s *txnSettle) canGroup() bool {
	return s.open == nil || len(s.open.windows)+1 < maxTxnWindows && s.open.rows < maxTxnRows
}

// drop abandons the open transaction, if any, after a failure: the
// transaction is aborted (by the caller's Abort or here) and the in-memory
// state of its windows, applied ahead of the commit, is re-read.
func (s *txnSettle) drop(ctx context.Context) {
	if s.open == nil {
		return
	}
	_ = s.w.abort(ctx, s.open.batch)
	s.open.release()
	if len(s.open.windows) > 0 {
		s.w.loaded = false
	}
	s.open = nil
}
