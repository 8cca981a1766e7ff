package walk

import (
	"context"
	"fmt"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/schemas"
)

// This file is what a records source (Source.Records, Teams call records)
// changes in the walk. Its windows are cut, read, rescanned and settled as
// a log's are; what differs:
//
//   - the fetcher lists the window's records and reads each whole
//     (Fetcher.CallRecords), so a page's rows are whole records;
//   - a row's ID is its (id, version) (schemas.VersionedID): a record is
//     remembered, and so skipped, per version, and published again when a
//     re-read finds its version grown — the rescan schedule that catches a
//     log's late rows catches a record's updates;
//   - a listed record whose (id, version) is remembered is not read at all
//     (knownRecord): on a rescan, the get of an unchanged record is the
//     request saved;
//   - Graph keeps records for a limited time (Config.Retention): a walk
//     whose next window starts before that is refused (checkRetention).

// fetchPages reads [from, to) of the walker's source with the fetcher:
// pages of rows for a log or an aggregate, pages of whole records for a
// records source, whose listed (id, version) known reports are not read
// (nil reads every one).
func (w *Walker) fetchPages(ctx context.Context, from, to time.Time, known func(id string, version int64) bool, onPage func(fetch.Page) error) (fetch.Stats, error) {
	if !w.cfg.Source.Records {
		return w.fetch.Calls(ctx, w.cfg.Source.Function, from, to, onPage)
	}
	// New checked that the fetcher reads records.
	return w.fetch.(RecordsFetcher).CallRecords(ctx, w.cfg.Source.Function, from, to, known, onPage)
}

// knownRecord reports whether the version of record id was published
// before. It reads the remembered ids, which only the walk's own goroutine
// changes: it must not be handed to a prefetch.
func (w *Walker) knownRecord(id string, version int64) bool {
	return w.seen.hasKey(keyOf(schemas.VersionedID(id, version)))
}

// checkRetention refuses a walk whose next window starts longer ago than
// the source's rows are kept: reading it would find nothing, and saving
// its watermark would say its records were published.
func (w *Walker) checkRetention(st checkpoint.State) error {
	if w.cfg.Retention <= 0 {
		return nil
	}
	next := st.Watermark
	if next.IsZero() {
		next = w.cfg.Start
	}
	horizon := w.cfg.Now().UTC().Add(-w.cfg.Retention)
	if !next.Before(horizon) {
		return nil
	}
	if st.Watermark.IsZero() {
		return fmt.Errorf("source %s: Graph keeps its records %s; the start time %s is before %s, so its oldest records are gone: start at %s or later (a backfill can reach %s back)",
			w.cfg.Source.Name, days(w.cfg.Retention), fmtT(next), fmtT(horizon), fmtT(horizon), days(w.cfg.Retention))
	}
	return fmt.Errorf("source %s: Graph keeps its records %s; the checkpoint's watermark %s is before %s, so the records in between are gone: "+
		"to go on from what Graph still has, stop callstream and run callstream checkpoint reset --source %s --to TIME --yes with TIME at %s or later",
		w.cfg.Source.Name, days(w.cfg.Retention), fmtT(next), fmtT(horizon), w.cfg.Source.Name, fmtT(horizon))
}

// days renders a retention in days when it is a whole number of them.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
