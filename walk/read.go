package walk

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/internal/jsonscan"
	"github.com/callstream/callstream/producer"
)

// encoded is the outcome of Source.Encode for one row: its value, id and
// key in a valueArena, or the error and a copy of the row for the
// dead-letter topic.
type encoded struct {
	enc Encoded
	err error
	raw []byte
	// prior marks, in a folded read, a row of the rescanned windows
	// rather than of the new window (see fold).
	prior bool
}

// encode runs Source.Encode over row i of p, which aliases the fetch
// client's page buffer, and keeps what the row became in values.
//
// A row whose record would not fit in a record batch is a bad row like one
// that cannot be encoded: the client would refuse it, and the walk would
// stop at it forever. It is decided here, while the row's bytes are still
// at hand for the dead-letter topic, and costs one comparison per row.
func (w *Walker) encode(p fetch.Page, i int, values *valueArena) encoded {
	raw := p.Rows[i]
	var scan []jsonscan.Member
	if p.Scans != nil {
		scan = p.Scans[i]
	}
	enc, err := w.cfg.Source.Encode(raw, scan, values.next(len(raw)+w.tenantLen))
	if err == nil && len(enc.Key)+len(enc.Value) > w.rowRoom {
		err = &producer.RecordTooLargeError{Bytes: len(enc.Key) + len(enc.Value), Max: w.rowRoom}
	}
	if err != nil {
		return encoded{err: err, raw: bytes.Clone(raw)}
	}
	return encoded{enc: values.own(enc)}
}

// calls runs onPage over the span's encoded pages: prefetched ones, or
// fetched and encoded now, into values. A folded span is never
// prefetched; its rows are marked prior by their start time.
func (w *Walker) calls(ctx context.Context, sp span, pre *prefetched, values *valueArena, onPage func(page int, encs []encoded) error) (fetch.Stats, error) {
	if pre == nil {
		var encs []encoded
		return w.fetchPages(ctx, sp.from, sp.to, w.knownRecord, func(p fetch.Page) error {
			encs = encs[:0]
			for i := range p.Rows {
				e := w.encode(p, i, values)
				if !sp.split.IsZero() {
					e.prior = w.rowBefore(p, i, sp.split)
				}
				encs = append(encs, e)
			}
			return onPage(p.Number, encs)
		})
	}
	for i, encs := range pre.pages {
		if err := onPage(pre.numbers[i], encs); err != nil {
			return pre.stats, err
		}
	}
	return pre.stats, pre.err
}

// read fetches [from, to) whole, publishes the rows whose ids are new (and
// dead-letters the ones that cannot be encoded), and settles the window
// with the walker's settler: exactly-once, the rows and the new checkpoint
// commit in one transaction, or neither does; at-least-once, Kafka
// acknowledges every row, and only then is the checkpoint saved.
//
// A folded span (see fold) is read as one request sequence and settled as
// both reads: its new ids before split are late rows of the rescanned
// windows, the others the new window's.
//
// With more, the settler may leave the window open for the next read to
// continue (exactly-once: see openTxn); the window is then settled, and
// counted, when a later read commits.
func (w *Walker) read(ctx context.Context, sp span, rescan bool, pre *prefetched, more bool) error {
	from, to := sp.from, sp.to
	started := w.cfg.Now().UTC()
	batch, pctx, err := w.settle.begin(ctx, from, to)
	if err != nil {
		return err
	}
	// A prefetched window's size is known: size the window's id lists for
	// it rather than growing them row by row.
	rows := 0
	if pre != nil {
		for _, p := range pre.pages {
			rows += len(p)
		}
	}
	newIDs := make([]string, 0, rows)
	// priorIDs are a folded read's new ids before its split, late rows of
	// the windows it rescans; lateDead counts the bad rows among them.
	var priorIDs []string
	lateDead := 0
	keep := func(e *encoded, id string) {
		if e.prior {
			priorIDs = append(priorIDs, id)
		} else {
			newIDs = append(newIDs, id)
		}
	}
	pending := newIDSet(rows)
	if w.agg != nil {
		w.agg.beginRead()
	}
	fetched, dups, dead := 0, 0, 0
	var values valueArena
	values.prefix = w.pub.ValueBuffer(0)
	full := 0
	onPage := func(page int, encs []encoded) error {
		if len(encs) >= w.pageRows() {
			full++
		}
		for i := range encs {
			fetched++
			enc, err := encs[i].enc, encs[i].err
			if err != nil {
				if w.cfg.DeadLetterTopic == "" {
					return &permanentError{fmt.Errorf("row %d of page %d of window [%s, %s) is a bad row and no dead-letter topic is set (KAFKA_DLQ_TOPIC): %w",
						fetched, page, fmtT(from), fmtT(to), err)}
				}
				// A bad row is remembered by a hash of its bytes, so that
				// rescans do not dead-letter it again.
				raw := encs[i].raw
				enc.ID = deadLetterID(raw)
				k := keyOf(enc.ID)
				if w.known(k, pending) {
					dups++
					continue
				}
				pending.addKey(k)
				keep(&encs[i], enc.ID)
				dead++
				if encs[i].prior {
					lateDead++
				}
				batch.AddRecord(pctx, w.deadLetter(raw, err))
				w.log.Warn("row sent to the dead-letter topic", "topic", w.cfg.DeadLetterTopic,
					"window_from", fmtT(from), "page", page, "reason", err.Error())
				continue
			}
			if w.agg != nil {
				// An aggregate row is new by day, grouping and content
				// (aggregate.go).
				var fresh bool
				if enc, fresh = w.agg.fresh(from, enc); !fresh {
					dups++
					continue
				}
			} else {
				k := keyOf(enc.ID)
				if w.known(k, pending) {
					dups++
					continue
				}
				pending.addKey(k)
			}
			keep(&encs[i], enc.ID)
			batch.Add(pctx, enc.Key, enc.Value)
		}
		return nil
	}
	fst, ferr := w.calls(ctx, sp, pre, &values, onPage)
	w.count(func(s *Stats) {
		s.Pages += fst.Pages
		s.Requests += fst.Requests
		s.Retries += fst.Retries
		s.Throttled += fst.Throttled
		s.FullPages += full
	})
	// The settler takes one list: a folded read's prior ids first.
	r := windowRead{from: from, to: to, split: sp.split, started: started, rescan: rescan, history: sp.k > 0,
		prior: len(priorIDs), late: len(priorIDs) - lateDead}
	ids := newIDs
	if len(priorIDs) > 0 {
		ids = append(priorIDs, newIDs...)
	}
	if ferr != nil {
		w.count(func(s *Stats) { s.Failures++ })
		return w.settle.fail(ctx, batch, r, ids, ferr)
	}
	w.learn(sp, fetched, fst.Pages)
	r.pages, r.requests, r.throttled = fst.Pages, fst.Requests, fst.Throttled
	r.fetched, r.published, r.dups, r.dead = fetched, len(ids)-dead, dups, dead
	if rescan {
		r.late = r.published
	}
	return w.settle.settle(ctx, batch, r, ids, more)
}

// windowRead is what one read of a window found, kept until the window is
// settled.
type windowRead struct {
	from, to, started time.Time
	rescan, history   bool
	// late counts the rows a rescan published. split and prior describe
	// a folded read (see fold): its first prior ids are the rescanned
	// windows' [from, split), the rest the new window's [split, to).
	split                    time.Time
	prior, late              int
	pages, requests          int
	throttled                int
	fetched, published, dups int
	dead                     int
}

// settled counts a window whose rows are durable and whose checkpoint says
// so, so that the counters never run ahead of Kafka.
func (w *Walker) settled(r windowRead) {
	w.mu.Lock()
	w.stats.Fetched += r.fetched
	w.stats.Published += r.published
	w.stats.DeadLettered += r.dead
	w.stats.Duplicates += r.dups
	switch {
	case r.rescan:
		w.stats.Rescans++
	case !r.split.IsZero():
		// A folded read is a new window and a rescan.
		w.stats.Windows++
		w.stats.Rescans++
	default:
		w.stats.Windows++
	}
	w.stats.Late += r.late
	w.mark = w.state.Watermark
	w.progress = w.cfg.Now()
	w.mu.Unlock()
	if w.cfg.OnRead != nil {
		w.cfg.OnRead(r.rescan, w.cfg.Now().Sub(r.started))
	}
	kind := "window"
	switch {
	case !r.split.IsZero():
		kind = "window with rescan"
	case r.rescan:
		kind = "rescan"
	case r.history:
		// Sized by the planner: its width is in the from/to and the
		// next width in HistoryWidth (and the metrics).
		kind = "history window"
	}
	w.log.Info(kind+" published", "from", fmtT(r.from), "to", fmtT(r.to), "pages", r.pages,
		"rows", r.fetched, "published", r.published, "late", r.late, "duplicates", r.dups, "dead_lettered", r.dead,
		"requests", r.requests, "throttled", r.throttled, "took", w.cfg.Now().Sub(r.started).Round(time.Millisecond))
}

// known reports whether id was published before or earlier in this read.
func (w *Walker) known(k idKey, pending *idSet) bool {
	return w.seen.hasKey(k) || pending.hasKey(k)
}
