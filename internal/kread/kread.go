// Package kread reads a topic from its start up to its end offsets with
// plain Fetch requests, stopping exactly at the end even when the log ends
// in transaction markers or aborted batches, which a consumer group or a
// regular kgo consumer cannot tell from "no data yet". Tests and the Kafka
// checkpoint store use it to read a topic whole.
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
		recs         []*kgo.Record
		offset       = start
		leader       = td.Partitions[p].Leader
		decompressor = kgo.DefaultDecompressor()
		iso          = kgo.ReadUncommitted()
		isoLevel     int8 // the Fetch request's isolation level: 0 read_uncommitted, 1 read_committed
	)
	if committed {
		iso, isoLevel = kgo.ReadCommitted(), 1
	}
	for offset < end {
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

		kresp, err := cl.Broker(int(leader)).RetriableRequest(ctx, req)
		if err != nil {
			return recs, err
		}
		resp := kresp.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return recs, fmt.Errorf("fetch: %w", err)
		}
		var got *kmsg.FetchResponseTopicPartition
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].Partition == p {
					got = &resp.Topics[i].Partitions[j]
				}
			}
		}
		next := offset
		if got != nil {
			var fp kgo.FetchPartition
			fp, next = kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
				Offset:         offset,
				IsolationLevel: iso,
				Topic:          td.Topic,
				Partition:      p,
			}, got, decompressor, nil)
			if fp.Err != nil && !kerr.IsRetriable(fp.Err) {
				return recs, fmt.Errorf("fetch at offset %d: %w", offset, fp.Err)
			}
			for _, r := range fp.Records {
				if r.Offset < end {
					recs = append(recs, r)
				}
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
