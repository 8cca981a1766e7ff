// Package bench measures what the compression codecs cost and save on
// callstream's own records: the simulator's Direct Routing rows, Avro-encoded
// and Confluent-framed exactly as the pipeline writes them, produced one
// window at a time (a batch, then a wait for every acknowledgement) as the
// walker does.
//
//	go test -run '^$' -bench Compression -benchtime 3x ./tests/bench/
//
// Against kfake by default; against a real broker with KAFKA_TEST_BROKERS
// (scripts/kafka-test.sh go test -run '^$' -bench Compression ./tests/bench/).
// Metrics: wire-B/row is what the client wrote in produce requests per row
// (compressed batches plus protocol overhead), raw-B/row the framed Avro
// value plus key before compression, rows/s the produce rate.
package bench

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
)

// wireCounter counts the bytes the client writes in Produce requests.
type wireCounter struct{ n atomic.Int64 }

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (w *wireCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, bytesWritten int, _, _ time.Duration, err error) {
	if key == 0 && err == nil { // 0 = Produce
		w.n.Add(int64(bytesWritten))
	}
}

var _ kgo.HookBrokerWrite = (*wireCounter)(nil)

type window struct {
	from, to time.Time
	keys     [][]byte
	bodies   [][]byte // Avro bodies, unframed
}

// simulatedWindows encodes 24 hourly windows of simulated calls (1,100 an
// hour, so every window pages) with the pipeline's own parser and encoder.
func simulatedWindows(b *testing.B) (ws []window, rows int, rawBytes int) {
	b.Helper()
	start := time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)
	sim, err := graphsim.New(graphsim.Config{Seed: 5, Start: start, End: start.Add(24 * time.Hour), RowsPerHour: 1100, Token: "t", ExtraProperty: true})
	if err != nil {
		b.Fatal(err)
	}
	var row schemas.DirectRoutingLogRow
	for h := range 24 {
		from := start.Add(time.Duration(h) * time.Hour)
		w := window{from: from, to: from.Add(time.Hour)}
		for _, r := range sim.Rows(w.from, w.to) {
			if err := schemas.ParseDirectRoutingRow(r.JSON, &row); err != nil {
				b.Fatal(err)
			}
			body, err := row.AppendAvro(nil)
			if err != nil {
				b.Fatal(err)
			}
			w.keys = append(w.keys, []byte(row.CorrelationID))
			w.bodies = append(w.bodies, body)
			rows++
			rawBytes += len(row.CorrelationID) + 5 + len(body)
		}
		ws = append(ws, w)
	}
	return ws, rows, rawBytes
}

func BenchmarkCompression(b *testing.B) {
	ws, rows, raw := simulatedWindows(b)
	kc := kafkatest.New(b)
	codecs := []producer.Compression{producer.CompressionNone, producer.CompressionGzip, producer.CompressionSnappy, producer.CompressionLZ4, producer.CompressionZstd}
	for _, c := range codecs {
		b.Run(string(c), func(b *testing.B) {
			topic := kc.Topic(b, 3, nil)
			wc := &wireCounter{}
			ctx := context.Background()
			p, err := producer.New(ctx, producer.Config{
				Brokers: kc.Brokers, Topic: topic, Compression: c, ConnectTimeout: 30 * time.Second,
				Schema: producer.Schema{Name: schemas.DirectRoutingSchemaName, Text: schemas.DirectRoutingSchemaText(), Fingerprint: "0"},
				Opts:   []kgo.Opt{kgo.WithHooks(wc)},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = p.Close(ctx) }()
			frame := binary.BigEndian.AppendUint32([]byte{0}, 1) // Confluent header, schema id 1
			b.ResetTimer()
			began := time.Now()
			for range b.N {
				for _, w := range ws {
					batch, err := p.Begin("direct-routing", w.from, w.to)
					if err != nil {
						b.Fatal(err)
					}
					for i, body := range w.bodies {
						v := append(append(make([]byte, 0, len(frame)+len(body)), frame...), body...)
						batch.Add(ctx, w.keys[i], v)
					}
					if err := batch.Commit(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			elapsed := time.Since(began)
			b.StopTimer()
			n := float64(b.N * rows)
			b.ReportMetric(float64(wc.n.Load())/n, "wire-B/row")
			b.ReportMetric(float64(raw)/float64(rows), "raw-B/row")
			b.ReportMetric(n/elapsed.Seconds(), "rows/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
