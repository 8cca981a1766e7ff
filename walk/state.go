package walk

import (
	"time"
	"unsafe"

	"github.com/callstream/callstream/checkpoint"
)

// apply records r, a whole read whose new ids are ids, in the in-memory
// state: the watermark (a new window), the window's ids and read time, and
// what leaves the horizon. The settler calls it once r's rows are durable
// (at-least-once) or are about to commit with the state (exactly-once).
// A folded read is recorded as its rescan and its new window would be,
// in the same state: the rescanned windows read at r.started with their
// late ids, the new window with its own.
func (w *Walker) apply(r windowRead, ids []string) {
	if !r.rescan {
		w.state.Watermark = r.to
	}
	if r.split.IsZero() {
		w.remember(r.from, r.to, r.started, ids)
	} else {
		w.remember(r.from, r.split, r.started, ids[:r.prior])
		w.remember(r.split, r.to, r.started, ids[r.prior:])
	}
	w.evict()
}

// remember merges ids into the window's record; readAt zero keeps the
// window's previous read time (a partial read is not a read).
func (w *Walker) remember(from, to, readAt time.Time, ids []string) {
	// A coalesced rescan read several remembered windows as one span:
	// they become one window, which this read's ids then join.
	w.coalesce(from, to)
	at := readAt
	for _, win := range w.state.Windows {
		if at.IsZero() && win.From.Equal(from) && win.To.Equal(to) {
			at = win.ReadAt
		}
	}
	if w.keeps(to, at) {
		ids = ownIDs(ids)
		for _, id := range ids {
			w.addSeen(id)
		}
	} else {
		// evict drops the window at once (a backfill of windows past
		// their last rescan): its ids would be added only to be removed.
		ids = nil
	}
	for i := range w.state.Windows {
		win := &w.state.Windows[i]
		if win.From.Equal(from) && win.To.Equal(to) {
			win.IDs = append(win.IDs, ids...)
			if !readAt.IsZero() {
				win.ReadAt = readAt
			}
			return
		}
	}
	w.state.Upsert(checkpoint.Window{From: from, To: to, ReadAt: readAt, IDs: ids})
}

// evict forgets windows that will not be read again: their ids cannot come
// back through a rescan, so the dedup state stays bounded by the horizon.
func (w *Walker) evict() {
	kept := w.state.Windows[:0]
	for _, win := range w.state.Windows {
		if w.keeps(win.To, win.ReadAt) {
			kept = append(kept, win)
			continue
		}
		for _, id := range win.IDs {
			w.forgetSeen(id)
		}
	}
	clear(w.state.Windows[len(kept):])
	w.state.Windows = kept
}

// keeps reports whether evict keeps a window ending at to, read at readAt:
// one still in flight (a partial read of a new window), or with a rescan
// ahead.
func (w *Walker) keeps(to, readAt time.Time) bool {
	return to.After(w.state.Watermark) || w.needsRescan(to, readAt)
}

// ownIDs copies ids into one allocation, so that remembering a window's ids
// for the rescan horizon keeps alive neither the value arenas they were cut
// from nor one allocation per id.
func ownIDs(ids []string) []string {
	n := 0
	for _, id := range ids {
		n += len(id)
	}
	all := make([]byte, 0, n)
	for _, id := range ids {
		all = append(all, id...)
	}
	s := unsafe.String(unsafe.SliceData(all), len(all))
	out := make([]string, len(ids))
	off := 0
	for i, id := range ids {
		out[i] = s[off : off+len(id)]
		off += len(id)
	}
	return out
}
