package walk

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
)

// BenchmarkRowPath measures the per-row work between a fetched page and
// the producer: parse and validate the Graph JSON, check the id, encode
// Avro into the framed value buffer, the tenant stamped.
func BenchmarkRowPath(b *testing.B) {
	sim, err := graphsim.New(graphsim.Config{Seed: 1, Start: day0, End: day0.Add(time.Hour), RowsPerHour: 1000, ExtraProperty: true, Token: "tok"})
	if err != nil {
		b.Fatal(err)
	}
	rows := sim.Rows(day0, day0.Add(time.Hour))
	src, err := DirectRouting().WithTenant(testTenant) // as a lane stamps it
	if err != nil {
		b.Fatal(err)
	}
	seen := make(map[string]struct{}, len(rows))
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := rows[i%len(rows)].JSON
		enc, err := src.Encode(raw, nil, buf[:5])
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := seen[enc.ID]; !ok && len(seen) < len(rows) {
			seen[enc.ID] = struct{}{}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWalk measures the whole walk, simulator (no latency, no
// throttling) to in-process Kafka, exactly-once and at-least-once. One op
// is one simulated day of 24 one-hour windows.
func BenchmarkWalk(b *testing.B) {
	for _, mode := range []string{"exactly-once", "at-least-once"} {
		b.Run(mode, func(b *testing.B) {
			const perHour = 5000
			end := day0.Add(time.Duration(b.N) * 24 * time.Hour)
			_, srvURL := testkit.Graph(b, graphsim.Config{Seed: 1, Start: day0, End: end, RowsPerHour: perHour, Token: "tok"})
			fc, err := fetch.New(fetch.Config{BaseURL: srvURL, Tokens: fetch.StaticToken("tok")})
			if err != nil {
				b.Fatal(err)
			}
			kc := kafkatest.NewFake(b, kfake.SeedTopics(6, "rows"))
			pcfg := producer.Config{Brokers: kc.Brokers, Topic: "rows",
				Schema: producer.Schema{Name: schemas.DirectRoutingSchemaName, Text: schemas.DirectRoutingSchemaText(), Fingerprint: "x"}}
			var store checkpoint.Loader
			if mode == "exactly-once" {
				pcfg.TransactionalID = "bench"
				cl := kc.Client(b)
				if err := producer.EnsureCheckpointTopic(context.Background(), cl, "rows.checkpoint", "rows"); err != nil {
					b.Fatal(err)
				}
				store = checkpoint.NewKafkaStore(cl, "rows.checkpoint", "rows")
			} else {
				fs, err := checkpoint.NewFileStore(filepath.Join(b.TempDir(), "cp.json"))
				if err != nil {
					b.Fatal(err)
				}
				store = fs
			}
			prod, err := producer.New(context.Background(), pcfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = prod.Close(context.Background()) })
			w, err := New(Config{Source: DirectRouting(), Start: day0, End: end, Window: time.Hour,
				Concurrency: 4, Logger: slog.New(slog.DiscardHandler)}, fc, prod, store)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			if err := w.Run(context.Background(), true); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			st := w.Stats()
			if st.Published != b.N*24*perHour {
				b.Fatalf("published %d, want %d", st.Published, b.N*24*perHour)
			}
			b.ReportMetric(float64(st.Published)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(st.Published), "ns/row")
		})
	}
}
