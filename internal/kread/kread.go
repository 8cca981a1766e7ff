// Package kread reads a topic from its start up to its end offsets with
// plain Fetch requests, stopping exactly at the end even when the log ends
// in transaction markers or aborted batches, which a consumer group or a
// regular kgo consumer cannot tell from "no data yet". Tests use it to read
// a topic whole; the Kafka checkpoint store reads with Describe and
// FetchUncommitted, keeping track of transactions itself.
package kread

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrNoTopic is returned by All when the topic does not exist.
var ErrNoTopic = errors.New("topic does not exist")

// All returns every record of every partition of topic from the log start
// offset up to the end offset at the time of the call, in partition then
// offset order, without control records. With committed it reads
// read_committed up to the last stable offsets, leaving out aborted records
// and those of open transactions; otherwise read_uncommitted up to the high
// watermarks.
func All(ctx context.Context, cl *kgo.Client, topic string, committed bool) ([]*kgo.Record, error) {
	adm := kadm.NewClient(cl)
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		if !ok || errorsIsUnknown(td.Err) {
			return nil, fmt.Errorf("%s: %w", topic, ErrNoTopic)
		}
		return nil, fmt.Errorf("metadata of %s: %w", topic, td.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	ends, err := endOffsets(ctx, adm, topic, committed)
	if err != nil {
		return nil, err
	}
	var out []*kgo.Record
	for _, p := range slices.Sorted(maps.Keys(td.Partitions)) {
		start, okStart := starts.Lookup(topic, p)
		end, okEnd := ends.Lookup(topic, p)
		if !okStart || !okEnd {
			return nil, fmt.Errorf("no offsets listed for %s partition %d", topic, p)
		}
		recs, err := readPartition(ctx, cl, td, p, start.Offset, end.Offset, committed)
		if err != nil {
			return nil, fmt.Errorf("%s partition %d, offsets [%d, %d): %w", topic, p, start.Offset, end.Offset, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// settleWait bounds how long endOffsets waits for the last stable offsets
// to reach the high watermarks.
const settleWait = 5 * time.Second

// endOffsets lists where reading topic stops: the high watermarks, or with
// committed the last stable offsets. A transaction's commit returns to the
// producer before the broker has written its markers to every partition,
// and until then the last stable offset stays behind the committed
// records: read at once after a process ended, the topic would look short.
// So while a last stable offset is behind its high watermark, it is listed
// again, for up to settleWait; a transaction really left open (a killed
// producer not yet fenced) keeps it behind, and its records are then left
// out as read_committed consumers leave them out.
func endOffsets(ctx context.Context, adm *kadm.Client, topic string, committed bool) (kadm.ListedOffsets, error) {
	list := func(f func(context.Context, ...string) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
		o, err := f(ctx, topic)
		if err == nil {
			err = o.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
		}
		return o, nil
	}
	if !committed {
		return list(adm.ListEndOffsets)
	}
	deadline := time.Now().Add(settleWait)
	for {
		stable, err := list(adm.ListCommittedOffsets)
		if err != nil {
			return nil, err
		}
		high, err := list(adm.ListEndOffsets)
		if err != nil {
			return nil, err
		}
		behind := false
		stable.Each(func(o kadm.ListedOffset) {
			if h, ok := high.Lookup(o.Topic, o.Partition); ok && o.Offset < h.Offset {
				behind = true
			}
		})
		if !behind || time.Now().After(deadline) {
			return stable, nil
		}
		select {
		case <-ctx.Done():
			return stable, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func errorsIsUnknown(err error) bool { return errors.Is(err, kerr.UnknownTopicOrPartition) }

// readPartition reads the records in [start, end) of one partition with
// plain Fetch requests to its leader. kgo.ProcessFetchPartition reports the
// next offset after every batch, including control batches and aborted
// batches whose records are dropped, so the read stops exactly at end.
func readPartition(ctx context.Context, cl *kgo.Client, td kadm.TopicDetail, p int32, start, end int64, committed bool) ([]*kgo.Record, error) {
	var (
		recs   []*kgo.Record
		offset = start
	)
	for offset < end {
		got, next, err := fetch(ctx, cl, td, p, offset, committed, false)
		if err != nil {
			return recs, err
		}
		for _, r := range got {
			if r.Offset < end {
				recs = append(recs, r)
			}
		}
		if next > offset {
			offset = next
			continue
		}
		// No progress (a retriable error, or nothing returned): back off.
		select {
		case <-ctx.Done():
			return recs, fmt.Errorf("stuck at offset %d: %w", offset, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return recs, nil
}

// Span is one partition of a topic as Describe found it: the offsets of
// its first record and of the next record to be written.
type Span struct {
	Partition int32
	// Start is the log start offset.
	Start int64
	// End is the high watermark when it was listed: records of open and
	// aborted transactions and transaction markers included.
	End int64
}

// Topic is what FetchUncommitted needs to read a topic: its metadata and
// its partitions' spans, in partition order.
type Topic struct {
	Detail kadm.TopicDetail
	Spans  []Span
}

// Describe lists topic's partitions with their log start offsets and high
// watermarks, which it lists after the metadata: every record written
// before Describe was called lies below a span's End.
func Describe(ctx context.Context, cl *kgo.Client, topic string) (Topic, error) {
	adm := kadm.NewClient(cl)
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return Topic{}, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		if !ok || errorsIsUnknown(td.Err) {
			return Topic{}, fmt.Errorf("%s: %w", topic, ErrNoTopic)
		}
		return Topic{}, fmt.Errorf("metadata of %s: %w", topic, td.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return Topic{}, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return Topic{}, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	t := Topic{Detail: td}
	for _, p := range slices.Sorted(maps.Keys(td.Partitions)) {
		start, okStart := starts.Lookup(topic, p)
		end, okEnd := ends.Lookup(topic, p)
		if !okStart || !okEnd {
			return Topic{}, fmt.Errorf("no offsets listed for %s partition %d", topic, p)
		}
		t.Spans = append(t.Spans, Span{Partition: p, Start: start.Offset, End: end.Offset})
	}
	return t, nil
}

// FetchUncommitted sends one Fetch request for partition p of t from
// offset, read_uncommitted, and returns its records, control records (the
// transaction markers) included, and the offset to fetch next, which is
// offset when nothing came. It lets a reader keep track of transactions
// itself, so that an open transaction it does not care about never holds
// it back as it holds back the last stable offset. When nothing is there
// to read the broker waits up to 200 ms for a record.
func FetchUncommitted(ctx context.Context, cl *kgo.Client, t Topic, p int32, offset int64) ([]*kgo.Record, int64, error) {
	recs, next, err := fetch(ctx, cl, t.Detail, p, offset, false, true)
	if err != nil {
		return nil, offset, fmt.Errorf("%s partition %d at offset %d: %w", t.Detail.Topic, p, offset, err)
	}
	return recs, next, nil
}

// decompressor serves every fetch; it is safe for concurrent use.
var decompressor = kgo.DefaultDecompressor()

// fetch sends one Fetch request for partition p from offset to its leader.
// A retriable error comes back as no progress (next == offset).
func fetch(ctx context.Context, cl *kgo.Client, td kadm.TopicDetail, p int32, offset int64, committed, control bool) ([]*kgo.Record, int64, error) {
	iso := kgo.ReadUncommitted()
	var isoLevel int8 // the Fetch request's isolation level: 0 read_uncommitted, 1 read_committed
	if committed {
		iso, isoLevel = kgo.ReadCommitted(), 1
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 200
	req.MinBytes = 1
	req.MaxBytes = 64 << 20
	req.IsolationLevel = isoLevel
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = td.Topic
	rt.TopicID = td.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = p
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 16 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	kresp, err := cl.Broker(int(td.Partitions[p].Leader)).RetriableRequest(ctx, req)
	if err != nil {
		return nil, offset, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, offset, fmt.Errorf("fetch: %w", err)
	}
	var got *kmsg.FetchResponseTopicPartition
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if resp.Topics[i].Partitions[j].Partition == p {
				got = &resp.Topics[i].Partitions[j]
			}
		}
	}
	if got == nil {
		return nil, offset, nil
	}
	fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
		KeepControlRecords: control,
		Offset:             offset,
		IsolationLevel:     iso,
		Topic:              td.Topic,
		Partition:          p,
	}, got, decompressor, nil)
	if fp.Err != nil {
		if !kerr.IsRetriable(fp.Err) {
			return nil, offset, fmt.Errorf("fetch at offset %d: %w", offset, fp.Err)
		}
		// Records before a retriable error are still good.
	}
	return fp.Records, next, nil
}
