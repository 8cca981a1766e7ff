package walk

import (
	"context"

	"github.com/callstream/callstream/producer"
)

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

// dropOpen abandons the open transaction, if any, after a failure: the
// transaction is aborted (by the caller's Abort or here) and the in-memory
// state of its windows, applied ahead of the commit, is re-read.
func (w *Walker) dropOpen(ctx context.Context) {
	if w.open == nil {
		return
	}
	_ = w.abort(ctx, w.open.batch)
	w.open.release()
	w.open = nil
	w.loaded = false
}
