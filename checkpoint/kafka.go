package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// MaxIDsPerRecord bounds the ids of one id chunk record. Builds before
// 2026-12 wrote chunks of up to this many (about 400 KB of GUIDs); Load
// still reads them.
const MaxIDsPerRecord = 10000

// MaxChunkBytes bounds one id chunk record as written: the records of the
// checkpoint go through the data producer, whose batches are 64 KiB by
// default (KAFKA_BATCH_MAX_BYTES), and a record larger than a batch is
// refused. A chunk of 10,000 GUIDs was, once a remembered window held
// more than about 1,600 ids (a busy hour, or adjacent windows coalesced
// into one).
const MaxChunkBytes = 48 << 10

// chunkEnd returns where the id chunk starting at ids[start] ends: as many
// ids as fit MaxChunkBytes of JSON, at most MaxIDsPerRecord, at least one.
func chunkEnd(ids []string, start int) int {
	size := 2 // []
	end := start
	for end < len(ids) && end-start < MaxIDsPerRecord {
		size += len(ids[end]) + 3 // quotes and comma; ids need no escaping in practice
		if size > MaxChunkBytes && end > start {
			break
		}
		end++
	}
	return end
}

// KafkaStore keeps state in a compacted Kafka topic, written inside the
// caller's transaction together with the rows it describes, so that rows
// and checkpoint commit together or not at all (exactly-once).
//
// Records, all keyed under a prefix naming the scope and source:
//
//	callstream/<scope>/<source>/head            {"watermark": …}
//	callstream/<scope>/<source>/w/<from>        {"from","to","readAt","chunks"}     one per remembered window
//	callstream/<scope>/<source>/w/<from>/<n>    ["id", …]                           that window's ids, ≤ MaxChunkBytes each
//
// The scope separates lanes that share the topic. A single-tenant lane's
// scope is its data topic's name; a tenant's lane's scope is
// "<dataTopic>@<tenantId>" (TenantScope; SplitScope takes it apart), so
// that tenants writing to one data topic keep separate checkpoints and a
// single-tenant deployment's keys stay where they always were.
//
// A window leaving the rescan horizon is deleted with tombstones, which
// compaction then removes, so the topic stays bounded by the horizon.
// Adjacent windows the walker coalesces (a rescan read them as one span)
// become the first of them with a later "to": its chunks keep their ids,
// the others' ids follow in new chunks, and the others' records are
// deleted. A build that predates coalescing reads such a window as any
// other, so the records keep version 1.
//
// The store does not dial Kafka: it loads through a KafkaReader, which may
// serve many stores, and writes by returning records for the caller's
// transaction (it is a Stager, and has no Save). What a store has loaded,
// staged and committed is its own: stores sharing a reader share nothing
// mutable.
type KafkaStore struct {
	r     *KafkaReader
	scope string

	mu        sync.Mutex
	persisted map[string]*kafkaView // by source: what the committed records say
	staged    map[string]*kafkaView
}

type kafkaView struct {
	head    bool
	windows map[int64]windowView // by From in unix ns
}

type windowView struct {
	to, readAt time.Time
	chunks     int
	ids        int // ids written in chunks
}

type kafkaHead struct {
	Version   int        `json:"version"`
	Watermark *time.Time `json:"watermark,omitempty"`
}

type kafkaWindow struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	ReadAt time.Time `json:"readAt"`
	Chunks int       `json:"chunks"`
	IDs    int       `json:"ids"`
}

// NewKafkaStore returns a store on topic with a reader of its own.
// scope separates lanes that share the topic (see KafkaStore); cl is used
// only to read. Many stores on one topic should share a KafkaReader
// instead (NewKafkaReader, then Store), so that their loads share reads.
func NewKafkaStore(cl *kgo.Client, topic, scope string) *KafkaStore {
	return NewKafkaReader(cl, topic).Store(scope)
}

// Topic is the checkpoint topic.
func (k *KafkaStore) Topic() string { return k.r.topic }

// Scope is the store's scope.
func (k *KafkaStore) Scope() string { return k.scope }

func (k *KafkaStore) prefix(source string) string {
	return keyRoot + k.scope + "/" + source
}

// Load rebuilds the state of source from the topic's committed records.
// It returns a state that includes every transaction committed before Load
// was called: it waits for the reader's next pass over the topic, which
// lists the high watermarks after the call and reads until they are
// passed and the transactions of source below them have ended. Records of
// aborted transactions, and of transactions still open after
// DefaultOpenTxnWait, are left out, so a crash mid-transaction leaves the
// previous state. Transactions of other scopes, open or not, do not hold
// it back. ctx bounds the wait.
func (k *KafkaStore) Load(ctx context.Context, source string) (State, error) {
	prefix := k.prefix(source) + "/"
	res, err := k.r.read(ctx, prefix)
	if err != nil {
		return State{}, err
	}
	st, view, err := buildState(k.r.topic, prefix, res[prefix])
	if err != nil {
		return State{}, err
	}
	k.mu.Lock()
	k.persisted[source] = view
	delete(k.staged, source)
	k.mu.Unlock()
	return st, nil
}

// buildState rebuilds the state under prefix from the latest value of each
// of its keys (tombstoned keys absent), which it does not modify.
func buildState(topic, prefix string, latest map[string][]byte) (State, *kafkaView, error) {
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Path: topic + ":" + prefix, Reason: fmt.Sprintf(format, args...)}
	}
	var st State
	view := &kafkaView{windows: map[int64]windowView{}}
	if b, ok := latest[prefix+"head"]; ok {
		var h kafkaHead
		if err := json.Unmarshal(b, &h); err != nil {
			return State{}, nil, corrupt("head: %v", err)
		}
		if h.Version != FileVersion {
			return State{}, nil, corrupt("head version %d, this build reads %d", h.Version, FileVersion)
		}
		if h.Watermark != nil {
			st.Watermark = h.Watermark.UTC()
		}
		view.head = true
	}
	for key, b := range latest {
		rest := strings.TrimPrefix(key, prefix)
		if !strings.HasPrefix(rest, "w/") || strings.Count(rest, "/") != 1 {
			continue
		}
		var w kafkaWindow
		if err := json.Unmarshal(b, &w); err != nil {
			return State{}, nil, corrupt("%s: %v", key, err)
		}
		if w.Chunks < 0 || w.IDs < 0 || w.IDs > w.Chunks*MaxIDsPerRecord {
			return State{}, nil, corrupt("%s: %d ids in %d chunks is impossible", key, w.IDs, w.Chunks)
		}
		win := Window{From: w.From.UTC(), To: w.To.UTC(), ReadAt: w.ReadAt.UTC(), IDs: make([]string, 0, w.IDs)}
		for n := range w.Chunks {
			cb, ok := latest[key+"/"+strconv.Itoa(n)]
			if !ok {
				return State{}, nil, corrupt("%s: id chunk %d of %d is missing", key, n, w.Chunks)
			}
			var ids []string
			if err := json.Unmarshal(cb, &ids); err != nil {
				return State{}, nil, corrupt("%s/%d: %v", key, n, err)
			}
			win.IDs = append(win.IDs, ids...)
		}
		if len(win.IDs) != w.IDs {
			return State{}, nil, corrupt("%s: %d ids in chunks, header says %d", key, len(win.IDs), w.IDs)
		}
		st.Windows = append(st.Windows, win)
		view.windows[win.From.UnixNano()] = windowView{to: win.To, readAt: win.ReadAt, chunks: w.Chunks, ids: w.IDs}
	}
	slices.SortFunc(st.Windows, func(a, b Window) int { return a.From.Compare(b.From) })
	if err := st.Validate(); err != nil {
		return State{}, nil, corrupt("%v", err)
	}
	return st, view, nil
}

// Stage returns the records that turn the persisted state of source into
// st, to be produced in the transaction that also carries the rows st
// describes. Windows only ever gain ids (the walker appends), so only new
// id chunks are written. Call Committed once the transaction commits.
func (k *KafkaStore) Stage(source string, st State) ([]*kgo.Record, error) {
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("stage checkpoint of %s: %w", source, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.persisted[source]
	if old == nil {
		return nil, errors.New("checkpoint: Stage before Load")
	}
	prefix := k.prefix(source)
	next := &kafkaView{head: true, windows: make(map[int64]windowView, len(st.Windows))}
	var recs []*kgo.Record
	put := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Topic: k.r.topic, Key: []byte(key), Value: b})
		return nil
	}
	head := kafkaHead{Version: FileVersion}
	if !st.Watermark.IsZero() {
		wm := st.Watermark.UTC()
		head.Watermark = &wm
	}
	if err := put(prefix+"/head", head); err != nil {
		return nil, err
	}
	for _, w := range st.Windows {
		fromKey := w.From.UnixNano()
		key := prefix + "/w/" + strconv.FormatInt(fromKey, 10)
		ov, had := old.windows[fromKey]
		// A window's end only grows: when the walker coalesces adjacent
		// windows into one (a rescan read them as one span), the first
		// keeps its key and its ids as a prefix, the others' ids follow in
		// new chunks, and the others' records are deleted below.
		if had && w.To.Before(ov.to) {
			return nil, fmt.Errorf("checkpoint: window at %s moved its end back from %s to %s", w.From, ov.to, w.To)
		}
		if had && ov.ids > len(w.IDs) {
			return nil, fmt.Errorf("checkpoint: window at %s lost ids (%d → %d)", w.From, ov.ids, len(w.IDs))
		}
		nv := windowView{to: w.To, readAt: w.ReadAt, chunks: ov.chunks, ids: ov.ids}
		for start, end := ov.ids, 0; start < len(w.IDs); start = end {
			end = chunkEnd(w.IDs, start)
			if err := put(key+"/"+strconv.Itoa(nv.chunks), w.IDs[start:end]); err != nil {
				return nil, err
			}
			nv.chunks++
			nv.ids = end
		}
		if !had || nv != ov {
			if err := put(key, kafkaWindow{From: w.From.UTC(), To: w.To.UTC(), ReadAt: w.ReadAt.UTC(), Chunks: nv.chunks, IDs: nv.ids}); err != nil {
				return nil, err
			}
		}
		next.windows[fromKey] = nv
	}
	for fromKey, ov := range old.windows {
		if _, kept := next.windows[fromKey]; kept {
			continue
		}
		key := prefix + "/w/" + strconv.FormatInt(fromKey, 10)
		for n := range ov.chunks {
			recs = append(recs, &kgo.Record{Topic: k.r.topic, Key: []byte(key + "/" + strconv.Itoa(n))})
		}
		recs = append(recs, &kgo.Record{Topic: k.r.topic, Key: []byte(key)})
	}
	k.staged[source] = next
	return recs, nil
}

// Committed records that the last Stage of source is committed. After a
// failed transaction call Load instead, to re-read the truth.
func (k *KafkaStore) Committed(source string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if v, ok := k.staged[source]; ok {
		k.persisted[source] = v
		delete(k.staged, source)
	}
}

var _ Stager = (*KafkaStore)(nil)
