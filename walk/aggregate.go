package walk

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/callstream/callstream/schemas"
)

// This file is the aggregate walk (sources.Aggregate, Source.Aggregate):
// a report whose rows are figures per grouping over the range asked, not
// a log of events with ids. It rides on the log walk — the same Run loop,
// rescan ages, settlers (exactly-once or at-least-once), dead-letter
// topic and checkpoint records — and differs in three things:
//
//   - time: windows are UTC days, [d, d+24h), whatever WINDOW says (a
//     report row covers the whole range asked, so only a fixed day gives
//     a row a stable identity); see aggregateConfig;
//   - identity: a row's record key is schemas.DayKey, the day and the
//     row's grouping properties;
//   - dedup: a row is new when its key is new in the day or its content
//     differs from the version last published for that key (an upsert
//     stream for a compacted topic); a row as published before is
//     skipped and counted as a duplicate.
//
// What is remembered per day is, for every version published, an entry
// "agg:<key hash><content hash>" in the day's checkpoint.Window.IDs, in
// publishing order; the last entry of a key is its latest version. The
// entries are committed with the rows (exactly-once) or saved after their
// acknowledgement (at-least-once) exactly as a log's ids are, and
// forgotten with the day when it leaves the rescan horizon. A day's list
// only grows (by the rows that changed), which is what the Kafka store's
// append-only id chunks need. Entries are hashes rather than the keys
// themselves so that one stays ~50 bytes: a 10,000-entry chunk record
// stays far below Kafka's 1 MB max.message.bytes, which JSON-escaped
// keys of ~100 bytes would not. The key hash is 128 bits of SHA-256 (two
// groupings of one day never share one in practice); the content hash is
// 64-bit FNV-1a of the Avro body (without the registry framing, so a
// re-registered schema does not republish every row).

// aggDay is the width of an aggregate window.
const aggDay = 24 * time.Hour

// aggEntryPrefix marks an aggregate entry among a window's ids (dead
// letters share the list with their "dlq:" ids).
const aggEntryPrefix = "agg:"

// aggEntryLen is the length of an entry: prefix, 32 hex digits of key
// hash, 16 of content hash.
const aggEntryLen = len(aggEntryPrefix) + 2*16 + 2*8

// aggregateConfig returns cfg for an aggregate source: windows of one UTC
// day, starting at the midnight at or before Start, and ending at the
// midnight at or after End, so that every day the range touches is read
// whole, and never sized by rows (history) or merged (rescans). A log
// source's cfg is returned as it is.
func aggregateConfig(cfg Config) Config {
	if !cfg.Source.Aggregate {
		return cfg
	}
	cfg.Window = aggDay
	// A report aggregates over the range asked: a window wider than a day
	// would sum days into one row. Days are never sized by rows.
	cfg.History = HistoryConfig{}
	if !cfg.Start.IsZero() {
		cfg.Start = cfg.Start.UTC().Truncate(aggDay)
	}
	if !cfg.End.IsZero() {
		if end := cfg.End.UTC().Truncate(aggDay); end.Before(cfg.End) {
			cfg.End = end.Add(aggDay)
		} else {
			cfg.End = end
		}
	}
	return cfg
}

// aggIndex is the aggregate walk's dedup state: the content hash of the
// latest version published of every (day, grouping) in the horizon.
type aggIndex struct {
	latest map[[16]byte]uint64
	// pending is the versions published by the read in progress, which
	// are not in latest until the read settles.
	pending map[[16]byte]uint64
	// prefix is the length of the registry framing in front of every
	// value, left out of the content hash.
	prefix int
	// suffix is the length of the tenantId field that ends every value
	// (schemas.TenantSuffix), left out too: the hash is of the figures, so
	// the records of a checkpoint written before values named their
	// tenant still match, and an upgrade publishes no day again.
	suffix int
}

func newAggIndex(prefix, suffix int) *aggIndex {
	return &aggIndex{latest: map[[16]byte]uint64{}, pending: map[[16]byte]uint64{}, prefix: prefix, suffix: suffix}
}

// beginRead forgets the pending versions of the previous read.
func (a *aggIndex) beginRead() { clear(a.pending) }

// fresh turns enc, a row of the day starting at day as Source.Encode made
// it (its Key the grouping's JSON array), into its record: keyed by
// schemas.DayKey, its ID the entry that remembers this version. It
// reports whether the version differs from the latest one published for
// the key (or the key is new), and if so counts it as pending.
func (a *aggIndex) fresh(day time.Time, enc Encoded) (Encoded, bool) {
	key := schemas.DayKey(day, string(enc.Key))
	kh := keyHash(key)
	body := enc.Value[min(a.prefix, len(enc.Value)):]
	ch := contentHash(body[:len(body)-min(a.suffix, len(body))])
	enc.Key = []byte(key)
	enc.ID = aggEntry(kh, ch)
	if h, ok := a.pending[kh]; ok {
		if h == ch {
			return enc, false
		}
	} else if h, ok := a.latest[kh]; ok && h == ch {
		return enc, false
	}
	a.pending[kh] = ch
	return enc, true
}

// add records entry as the latest version of its key; false for an id
// that is not an aggregate entry.
func (a *aggIndex) add(entry string) bool {
	kh, ch, ok := parseAggEntry(entry)
	if ok {
		a.latest[kh] = ch
	}
	return ok
}

// remove forgets entry's key; false for an id that is not an aggregate
// entry. Only whole days are forgotten (evict), so every version of the
// key goes with it.
func (a *aggIndex) remove(entry string) bool {
	kh, _, ok := parseAggEntry(entry)
	if ok {
		delete(a.latest, kh)
	}
	return ok
}

// rememberedIDs counts the ids, and the (day, grouping)s of an aggregate,
// remembered for deduplication.
func (w *Walker) rememberedIDs() int {
	n := w.seen.len()
	if w.agg != nil {
		n += len(w.agg.latest)
	}
	return n
}

func keyHash(key string) (k [16]byte) {
	sum := sha256.Sum256([]byte(key))
	copy(k[:], sum[:16])
	return k
}

// contentHash is 64-bit FNV-1a: stable across processes and versions,
// which a checkpoint read by the next process needs.
func contentHash(b []byte) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, c := range b {
		h ^= uint64(c)
		h *= prime
	}
	return h
}

func aggEntry(kh [16]byte, ch uint64) string {
	var b [aggEntryLen]byte
	n := copy(b[:], aggEntryPrefix)
	n += hex.Encode(b[n:], kh[:])
	var c [8]byte
	for i := range c {
		c[i] = byte(ch >> (56 - 8*i))
	}
	hex.Encode(b[n:], c[:])
	return string(b[:])
}

func parseAggEntry(s string) (kh [16]byte, ch uint64, ok bool) {
	if len(s) != aggEntryLen || !strings.HasPrefix(s, aggEntryPrefix) {
		return kh, 0, false
	}
	s = s[len(aggEntryPrefix):]
	if _, err := hex.Decode(kh[:], []byte(s[:32])); err != nil {
		return kh, 0, false
	}
	var c [8]byte
	if _, err := hex.Decode(c[:], []byte(s[32:])); err != nil {
		return kh, 0, false
	}
	for _, b := range c {
		ch = ch<<8 | uint64(b)
	}
	return kh, ch, true
}

// addSeen remembers id, a published row's id or aggregate entry, for
// deduplication.
func (w *Walker) addSeen(id string) {
	if w.agg != nil && w.agg.add(id) {
		return
	}
	w.seen.add(id)
}

// forgetSeen forgets id, of a window leaving the horizon.
func (w *Walker) forgetSeen(id string) {
	if w.agg != nil && w.agg.remove(id) {
		return
	}
	w.seen.remove(id)
}

// alignDay moves a watermark that is not at a UTC midnight (a checkpoint
// reset to any time) back to the midnight before it: the day it cuts is
// read again whole, and what of it is remembered is not published again.
func (w *Walker) alignDay(wm time.Time) time.Time {
	if day := wm.Truncate(aggDay); !day.Equal(wm) {
		w.log.Warn("checkpoint watermark is not at a UTC midnight; the aggregate walk reads from the midnight before it",
			"watermark", fmtT(wm), "from", fmtT(day))
		return day
	}
	return wm
}
