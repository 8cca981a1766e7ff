package main

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
)

// TestBinaryBadRowWithoutDeadLetterTopicStops guards README "Rows" (a row
// that cannot be encoded goes to KAFKA_DLQ_TOPIC, or stops the walk if no
// DLQ is set) and DESIGN.md invariants 5 and 1: with no KAFKA_DLQ_TOPIC, a
// malformed row in the window at 02:00 makes run --once exit 1 with an
// error naming the row's bad field and KAFKA_DLQ_TOPIC; the watermark stays
// at or before 02:00, every row below it is published, and (Kafka store)
// nothing of the bad row's window is visible read_committed.
func TestBinaryBadRowWithoutDeadLetterTopicStops(t *testing.T) {
	for _, store := range []string{"kafka", "file"} {
		t.Run(store, func(t *testing.T) {
			from := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
			const perHour, badIndex = 200, 2*200 + 37 // a row of the window at 02:00
			p := newPipeline(t, graphsim.Config{Seed: 15, Start: from, End: from.Add(6 * time.Hour), RowsPerHour: perHour,
				Malformed: []graphsim.Malformation{{Function: graphsim.DirectRoutingCalls, Kind: graphsim.MalformWrongType, Every: 1 << 20, Offset: badIndex}}})
			p.env["CHECKPOINT_STORE"] = store
			bad := p.sim.RowAt(badIndex)
			badFrom := from.Add(2 * time.Hour)
			if bad.Malformed == graphsim.MalformNone || bad.MalformedField == "" || bad.Start.Before(badFrom) || !bad.Start.Before(badFrom.Add(time.Hour)) {
				t.Fatalf("row %d is not a malformed row of the window at %s: %+v", badIndex, badFrom, bad)
			}
			proc := launch(t, p.env, nil, "run", "--once")
			if code := proc.Wait(t, 2*time.Minute); code != 1 {
				t.Fatalf("exit %d, want 1; output:\n%s", code, proc.Out)
			}
			out := proc.Out.String()
			if !strings.Contains(out, bad.MalformedField) || !strings.Contains(out, "KAFKA_DLQ_TOPIC") {
				t.Errorf("the error names neither the bad field %q nor KAFKA_DLQ_TOPIC:\n%s", bad.MalformedField, out)
			}
			wm := p.watermark(t)
			if wm.After(badFrom) {
				t.Fatalf("watermark %s is past the start of the bad row's window %s", wm, badFrom)
			}
			p.belowWatermarkPublished(t, wm)
			if store == "kafka" {
				visible := p.topicIDs(t, true)
				for _, r := range p.sim.Rows(badFrom, badFrom.Add(time.Hour)) {
					if visible[r.ID] > 0 {
						t.Fatalf("row %s of the bad row's window is visible read_committed", r.ID)
					}
				}
			}
		})
	}
}

// TestBinaryFileStoreFetchFailsMidWindow guards README "What is
// guaranteed / Nothing lost" with CHECKPOINT_STORE=file (at-least-once)
// and DESIGN.md invariant 1: page 2 of the window at 01:00 fails until the
// retries are exhausted (after page 1's rows were published), the bounded
// run gives up with exit 1, the checkpoint stays at 01:00 — not past the
// failed window — and a rerun delivers every row, none doubled (the
// acknowledged ids of the partial read are remembered).
func TestBinaryFileStoreFetchFailsMidWindow(t *testing.T) {
	from := time.Date(2026, 8, 2, 0, 0, 0, 0, time.UTC)
	p := newPipeline(t, graphsim.Config{Seed: 16, Start: from, End: from.Add(6 * time.Hour), RowsPerHour: 300, PageSize: 100})
	p.env["CHECKPOINT_STORE"] = "file"
	mid := from.Add(time.Hour) // the history window after the planner's probe
	g := newWindowGate(t, p, mid, false, gateFail)
	proc := launch(t, p.env.With(env{"BACKFILL_CONCURRENCY": "1", "GRAPH_MAX_ATTEMPTS": "2", "MAX_WINDOW_FAILURES": "1"}), nil, "run", "--once")
	if code := proc.Wait(t, 2*time.Minute); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, proc.Out)
	}
	if !strings.Contains(proc.Out.String(), "500") {
		t.Errorf("the cause is not printed:\n%s", proc.Out)
	}
	if wm := p.watermark(t); !wm.Equal(mid) {
		t.Fatalf("watermark %s after page 2 of the window at %s failed, want %s", wm, mid, mid)
	}
	p.belowWatermarkPublished(t, mid)
	onTopic := p.topicIDs(t, true)
	published := 0
	for _, r := range p.sim.Rows(mid, mid.Add(time.Hour)) {
		published += min(onTopic[r.ID], 1)
	}
	if published == 0 {
		t.Fatal("no row of the failed window's first page was published: the failure was not mid-window")
	}

	g.set(gatePass)
	again := start(t, p.env, "run", "--once")
	if code := again.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("rerun exit %d; output:\n%s", code, again.Out)
	}
	if dups := p.check(t); dups != 0 {
		t.Fatalf("%d duplicates: the acknowledged rows of the partial read were published again", dups)
	}
	if wm := p.watermark(t); !wm.Equal(p.end) {
		t.Fatalf("watermark %s after the rerun, want %s", wm, p.end)
	}
}

// fakePipeline is newPipeline on an in-process kfake cluster, whatever
// KAFKA_TEST_BROKERS says: the test needs kfake's control hooks.
func fakePipeline(t *testing.T, sc graphsim.Config) *pipeline {
	t.Helper()
	p := newPipeline(t, sc)
	if p.kafka.Fake == nil {
		p.kafka = kafkatest.NewFake(t)
		p.topic = p.kafka.Topic(t, 3, nil)
		p.lane.topic = p.topic
		p.env["KAFKA_BROKERS"] = strings.Join(p.kafka.Brokers, ",")
		p.env["KAFKA_TOPIC"] = p.topic
	}
	return p
}

// rejectProduce makes the kfake broker answer every ProduceRequest with
// InvalidRecord while *on holds: the broker refuses the records.
func rejectProduce(kc *kafkatest.Cluster, on *atomic.Bool) {
	kc.Fake.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		if !on.Load() {
			return nil, nil, false
		}
		kc.Fake.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Version = req.Version
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.InvalidRecord.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// TestBinaryFileStoreProduceFails guards README "What is guaranteed /
// Nothing lost" (a window counts as done only when every row of it is
// acknowledged) with CHECKPOINT_STORE=file, and DESIGN.md invariant 1:
// once every window before 01:00 is checkpointed, the broker rejects every
// record; the bounded run gives up with exit 1, the checkpoint stays at
// 01:00 and every row below it is on the topic; a rerun with the broker
// accepting again delivers every row.
func TestBinaryFileStoreProduceFails(t *testing.T) {
	from := time.Date(2026, 8, 3, 0, 0, 0, 0, time.UTC)
	p := fakePipeline(t, graphsim.Config{Seed: 17, Start: from, End: from.Add(6 * time.Hour), RowsPerHour: 300, PageSize: 100})
	p.env["CHECKPOINT_STORE"] = "file"
	var reject atomic.Bool
	rejectProduce(p.kafka, &reject)
	mid := from.Add(time.Hour) // the history window after the planner's probe
	g := newWindowGate(t, p, mid, true, gateHold)
	wm := p.liveWatermark(t)
	proc := launch(t, p.env.With(env{"MAX_WINDOW_FAILURES": "1"}), nil, "run", "--once")
	waitUntil(t, "the walk held at "+mid.Format(time.RFC3339), proc.Done(), proc.Out, func() bool { return wm().Equal(mid) })
	reject.Store(true)
	g.set(gatePass)
	if code := proc.Wait(t, 2*time.Minute); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, proc.Out)
	}
	if !strings.Contains(proc.Out.String(), "INVALID_RECORD") {
		t.Errorf("the broker's refusal is not printed:\n%s", proc.Out)
	}
	if got := p.watermark(t); !got.Equal(mid) {
		t.Fatalf("watermark %s after the broker refused the window at %s, want %s", got, mid, mid)
	}
	p.belowWatermarkPublished(t, mid)

	reject.Store(false)
	again := start(t, p.env, "run", "--once")
	if code := again.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("rerun exit %d; output:\n%s", code, again.Out)
	}
	dups := p.check(t)
	if got := p.watermark(t); !got.Equal(p.end) {
		t.Fatalf("watermark %s after the rerun, want %s", got, p.end)
	}
	t.Logf("every row delivered after the broker refused a window; %d duplicates", dups)
}

// TestBinaryProducesWithAcksAll guards README "What is guaranteed /
// Nothing lost" (acknowledged by all in-sync replicas: acks=all,
// idempotent producer) through the real configuration path: with either
// checkpoint store, every ProduceRequest the binary sends asks for acks=-1
// and every record batch carries a producer id; the Kafka store's are
// transactional. (producer.TestProducerUsesAcksAllAndIdempotence checks
// the producer package alone.)
func TestBinaryProducesWithAcksAll(t *testing.T) {
	for _, store := range []string{"kafka", "file"} {
		t.Run(store, func(t *testing.T) {
			from := time.Date(2026, 8, 4, 0, 0, 0, 0, time.UTC)
			p := fakePipeline(t, graphsim.Config{Seed: 18, Start: from, End: from.Add(3 * time.Hour), RowsPerHour: 300})
			p.env["CHECKPOINT_STORE"] = store
			var requests, notAll, noPID, txn atomic.Int64
			p.kafka.Fake.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				req := kreq.(*kmsg.ProduceRequest)
				requests.Add(1)
				if req.Acks != -1 {
					notAll.Add(1)
				}
				if req.TransactionID != nil {
					txn.Add(1)
				}
				for _, tp := range req.Topics {
					for _, pp := range tp.Partitions {
						var rb kmsg.RecordBatch
						if rb.ReadFrom(pp.Records) != nil || rb.ProducerID < 0 {
							noPID.Add(1)
						}
					}
				}
				return nil, nil, false
			})
			proc := start(t, p.env, "run", "--once")
			if code := proc.Wait(t, 2*time.Minute); code != 0 {
				t.Fatalf("exit %d; output:\n%s", code, proc.Out)
			}
			n := requests.Load()
			if n == 0 {
				t.Fatal("no produce request reached the broker")
			}
			if notAll.Load() != 0 || noPID.Load() != 0 {
				t.Errorf("%d of %d produce requests without acks=-1, %d record batches without a producer id", notAll.Load(), n, noPID.Load())
			}
			if wantTxn := map[string]int64{"kafka": n, "file": 0}[store]; txn.Load() != wantTxn {
				t.Errorf("%d of %d produce requests transactional, want %d", txn.Load(), n, wantTxn)
			}
		})
	}
}
