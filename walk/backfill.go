package walk

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/callstream/callstream/fetch"
)

// backfill reads a run of due windows, fetching up to Concurrency of them
// at once while publishing and checkpointing strictly in window order, so
// the watermark only ever advances over a contiguous prefix. At most
// Concurrency windows are held in memory, fetched but not yet published.
func (w *Walker) backfill(ctx context.Context, due []span) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	results := make([]chan *prefetched, len(due))
	for i := range results {
		results[i] = make(chan *prefetched, 1)
	}
	slots := make(chan struct{}, w.cfg.Concurrency)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, sp := range due {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] <- w.prefetch(ctx, sp.from, sp.to)
			}()
		}
	}()
	// Exactly-once, consecutive windows that are already fetched share one
	// transaction (see openTxn); settle.canGroup says whether there is room.
	defer w.settle.drop(ctx) // only after a failure is a window left open
	var next *prefetched
	for i, sp := range due {
		pre := next
		next = nil
		if pre == nil {
			select {
			case pre = <-results[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		more := false
		if i+1 < len(due) && pre.err == nil && w.settle.canGroup() {
			select {
			case next = <-results[i+1]:
				more = next.err == nil
			default:
			}
		}
		err := w.read(ctx, sp, false, pre, more)
		<-slots
		if err != nil {
			return err
		}
	}
	return nil
}

// prefetched is a window read ahead of its turn, each row already encoded
// (out of the fetch client's reused buffers), so that parsing and encoding
// overlap with the publishing of the windows before it. Which rows are new
// is still decided in window order, by read.
type prefetched struct {
	pages   [][]encoded // per page, per row
	numbers []int       // the pages' numbers
	stats   fetch.Stats
	err     error
}

func (w *Walker) prefetch(ctx context.Context, from, to time.Time) *prefetched {
	pre := &prefetched{}
	var values valueArena
	values.prefix = w.pub.ValueBuffer(0)
	// A prefetch runs beside the walk, which owns the remembered ids: it
	// reads every listed record (nil known); read still publishes only
	// the new versions.
	pre.stats, pre.err = w.fetchPages(ctx, from, to, nil, func(p fetch.Page) error {
		encs := make([]encoded, len(p.Rows))
		for i := range p.Rows {
			encs[i] = w.encode(p, i, &values)
		}
		pre.pages = append(pre.pages, encs)
		pre.numbers = append(pre.numbers, p.Number)
		// A page is a millisecond or two of encoding. Yielding between
		// pages lets the Kafka client's goroutines that became ready
		// meanwhile (responses, the next request) run now rather than at
		// the scheduler's 10 ms preemption; see producer.yieldEvery.
		runtime.Gosched()
		return nil
	})
	return pre
}
