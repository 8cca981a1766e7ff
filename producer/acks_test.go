package producer_test

import (
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
)

// produceSeen is what a kfake control hook saw of the ProduceRequests that
// reached the broker.
type produceSeen struct {
	mu       sync.Mutex
	requests int
	acks     map[int16]int
	batches  int
	noPID    int // record batches without a producer id: not idempotent
	txnIDs   map[string]int
	badBatch string // a record batch that did not parse
}

// watchProduce records every ProduceRequest kc's broker receives, without
// handling it.
func watchProduce(t *testing.T, kc *kafkatest.Cluster) *produceSeen {
	t.Helper()
	s := &produceSeen{acks: map[int16]int{}, txnIDs: map[string]int{}}
	kc.Fake.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests++
		s.acks[req.Acks]++
		if req.TransactionID != nil {
			s.txnIDs[*req.TransactionID]++
		}
		for _, tp := range req.Topics {
			for _, p := range tp.Partitions {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(p.Records); err != nil {
					s.badBatch = err.Error()
					continue
				}
				s.batches++
				if rb.ProducerID < 0 {
					s.noPID++
				}
			}
		}
		return nil, nil, false // let the broker answer
	})
	return s
}

// TestProducerUsesAcksAllAndIdempotence guards README "What is guaranteed /
// Nothing lost" (a window counts as done only when every row is
// acknowledged by all in-sync replicas: acks=all, idempotent producer) and
// DESIGN.md invariant 1: every ProduceRequest the plain and the
// transactional producer send carries acks=-1, and every record batch a
// producer id (idempotence). With acks=1 or idempotence off this fails.
func TestProducerUsesAcksAllAndIdempotence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		txnID string
	}{
		{"plain", ""},
		{"transactional", uniqueName("acks")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := kafkatest.NewFake(t)
			topic := kc.Topic(t, 3, nil)
			cfg := producer.Config{Topic: topic, TransactionalID: tc.txnID}
			if tc.txnID != "" {
				cfg.Topics = producer.TopicSettings{Checkpoint: kc.Topic(t, 1, compact)}
			}
			seen := watchProduce(t, kc)
			p := newProducer(t, kc, cfg)
			ctx := testCtx(t)
			b, err := p.Begin("s", winFrom, winTo)
			if err != nil {
				t.Fatal(err)
			}
			addRows(ctx, p, b, rows("r", 50))
			if err := b.Commit(ctx); err != nil {
				t.Fatalf("Commit: %v", err)
			}

			seen.mu.Lock()
			defer seen.mu.Unlock()
			if seen.requests == 0 || seen.batches == 0 {
				t.Fatalf("no produce request reached the broker (%d requests, %d batches)", seen.requests, seen.batches)
			}
			if seen.badBatch != "" {
				t.Fatalf("a record batch did not parse: %s", seen.badBatch)
			}
			if len(seen.acks) != 1 || seen.acks[-1] != seen.requests {
				t.Errorf("produce requests by acks: %v, want all %d with acks=-1 (all in-sync replicas)", seen.acks, seen.requests)
			}
			if seen.noPID != 0 {
				t.Errorf("%d of %d record batches carry no producer id: the producer is not idempotent", seen.noPID, seen.batches)
			}
			if tc.txnID != "" && seen.txnIDs[tc.txnID] != seen.requests {
				t.Errorf("produce requests by transactional id: %v, want all %d under %s", seen.txnIDs, seen.requests, tc.txnID)
			}
			if tc.txnID == "" && len(seen.txnIDs) != 0 {
				t.Errorf("the plain producer sent transactional produce requests: %v", seen.txnIDs)
			}
		})
	}
}
