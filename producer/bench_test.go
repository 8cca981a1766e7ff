package producer_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
)

// benchWindowRows is how many rows one window (one batch) publishes.
const benchWindowRows = 1000

// benchRows returns n keys (36-byte UUID strings, like correlationId) and n
// Avro-like bodies of about 300 bytes: length-prefixed strings and
// zig-zag longs shaped like a direct routing log row (ids, a user, phone
// numbers, timestamps, a SIP trunk, status codes), so that compression sees
// what it would see in production rather than repeated or random bytes.
func benchRows(n int) (keys, bodies [][]byte) {
	rnd := rand.New(rand.NewPCG(1, 2))
	uuid := func() string {
		return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", rnd.Uint32(), rnd.Uint32N(1<<16), rnd.Uint32N(1<<12),
			0x8000|rnd.Uint32N(1<<14), rnd.Uint64N(1<<48))
	}
	str := func(b []byte, s string) []byte {
		b = binary.AppendVarint(b, int64(len(s)))
		return append(b, s...)
	}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		corr := uuid()
		keys = append(keys, []byte(corr))
		t0 := start.Add(time.Duration(rnd.Int64N(int64(time.Hour))))
		t1 := t0.Add(time.Duration(rnd.Int64N(int64(20 * time.Minute))))
		b := make([]byte, 0, 320)
		b = str(b, uuid())                                                             // id
		b = str(b, corr)                                                               // correlationId
		b = str(b, fmt.Sprintf("user%04d@contoso.example", rnd.IntN(5000)))            // userPrincipalName
		b = str(b, fmt.Sprintf("User %04d", i%5000))                                   // userDisplayName
		b = str(b, t0.Format("2006-01-02T15:04:05.0000000Z"))                          // startDateTime
		b = str(b, t1.Format("2006-01-02T15:04:05.0000000Z"))                          // endDateTime
		b = binary.AppendVarint(b, t0.UnixMicro())                                     // inviteDateTime
		b = str(b, fmt.Sprintf("+1425%07d", rnd.IntN(10_000_000)))                     // callerNumber
		b = str(b, fmt.Sprintf("+1206%07d", rnd.IntN(10_000_000)))                     // calleeNumber
		b = str(b, "sbc1.contoso.example")                                             // trunkFullyQualifiedDomainName
		b = str(b, "Outbound")                                                         // callType
		b = binary.AppendVarint(b, int64([]int{200, 200, 200, 487, 404}[rnd.IntN(5)])) // finalSipCode
		b = str(b, "BYE")                                                              // finalSipCodePhrase
		b = binary.AppendVarint(b, int64(rnd.IntN(560000)))                            // successfulCall, duration …
		b = str(b, "72f988bf-86f1-41af-91ab-2d7cd011db47")                             // tenantId
		b = str(b, "mediaPathLocation=USWE")                                           // otherProperties
		bodies = append(bodies, b)
	}
	return keys, bodies
}

// BenchmarkPublish publishes windows of benchWindowRows rows, one batch
// each (Begin, Add per row, Commit), plainly (acknowledged) or as Kafka
// transactions, and reports rows per second. It runs against kfake, or the
// real broker when KAFKA_TEST_BROKERS is set.
func BenchmarkPublish(b *testing.B) {
	keys, bodies := benchRows(benchWindowRows)
	size := 0
	for i := range keys {
		size += len(keys[i]) + len(bodies[i])
	}
	for _, mode := range []struct {
		name string
		txn  bool
	}{
		{"plain", false},
		{"transactional", true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			kc := kafkatest.New(b)
			topic := kc.Topic(b, 3, nil)
			cfg := producer.Config{Topic: topic}
			if mode.txn {
				cfg.TransactionalID = uniqueName("bench")
			}
			p := newProducer(b, kc, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()

			b.SetBytes(int64(size))
			from := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			rows, batches := 0, 0
			for b.Loop() {
				batch, err := p.Begin("bench", from, from.Add(time.Hour))
				if err != nil {
					b.Fatal(err)
				}
				for i := range keys {
					v := p.ValueBuffer(len(bodies[i]))
					batch.Add(ctx, keys[i], append(v, bodies[i]...))
				}
				if err := batch.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				rows += benchWindowRows
				batches++
				from = from.Add(time.Hour)
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")

			// Every row is in the topic: the end offsets add up to the rows,
			// plus one commit marker per partition and transaction.
			ends, err := kadm.NewClient(kc.Client(b)).ListEndOffsets(ctx, topic)
			if err == nil {
				err = ends.Error()
			}
			if err != nil {
				b.Fatal(err)
			}
			var total int64
			ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
			if mode.txn {
				if total < int64(rows) || total > int64(rows+3*batches) {
					b.Fatalf("end offsets add up to %d, want %d rows plus at most %d markers", total, rows, 3*batches)
				}
			} else if total != int64(rows) {
				b.Fatalf("end offsets add up to %d, want %d rows", total, rows)
			}
		})
	}
}
