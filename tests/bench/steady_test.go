package bench

// The steady-state figure of issue 14 (make bench-budget): a tenant of
// about 2,000 calls a day (83 an hour) walked live for seven simulated
// days with callstream's defaults — WINDOW=1h, SETTLE_DELAY=15m,
// RESCAN_AFTER=1h,6h,24h,72h, POLL_INTERVAL=5m, exactly-once with the
// Kafka checkpoint — on a simulated clock. Two percent of the calls become
// visible 70 hours after they start, just inside the 72 hours the last
// rescan covers. It reports the Graph requests per simulated day per
// function once the walk is steady (days 4 to 7, every age of rescan in
// play), and checks that every row, late ones included, is in Kafka
// exactly once after the last rescans.
//
// It uses only walk.Config fields every build has, so that it measures an
// older build's walker too when copied into its tree.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
)

type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *simClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func BenchmarkSteadyState(b *testing.B) {
	for range b.N {
		steadyState(b)
	}
}

func steadyState(b *testing.B) {
	ctx := context.Background()
	day0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	const days = 7
	end := day0.Add(days * 24 * time.Hour)
	clk := &simClock{}
	sim, err := graphsim.New(graphsim.Config{Seed: 71, Start: day0, End: end, RowsPerHour: 83, Token: perfToken,
		LateFraction: 0.02, LateDelay: 70 * time.Hour, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	kc := kafkatest.NewFake(b)
	topic := kc.Topic(b, 3, nil)
	cl := kc.Client(b)
	if err := producer.EnsureCheckpointTopic(ctx, cl, topic+".checkpoint", topic); err != nil {
		b.Fatal(err)
	}
	codec, err := schemas.For("direct-routing", schemas.VersionV1)
	if err != nil {
		b.Fatal(err)
	}
	prod, err := producer.New(ctx, producer.Config{Brokers: kc.Brokers, Topic: topic, TransactionalID: topic,
		Schema: producer.Schema{Name: codec.Name(), Text: codec.Text(), Fingerprint: "bench"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close(ctx)
	fc, err := fetch.New(fetch.Config{BaseURL: srv.URL, Tokens: fetch.StaticToken(perfToken), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	w, err := walk.New(walk.Config{Source: walk.CodecSource(fetch.FunctionOf(sources.MustLookup("direct-routing")), codec),
		Start: day0, Window: time.Hour, SettleDelay: 15 * time.Minute,
		RescanAfter: []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour},
		Concurrency: 4, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)},
		fc, prod, checkpoint.NewKafkaStore(cl, topic+".checkpoint", topic))
	if err != nil {
		b.Fatal(err)
	}
	var atDay3, atDay7 int
	// Poll every 5 minutes through the seven days, then on until the last
	// day's windows have had their last rescan (72 h, and up to half of it
	// more for coalescing).
	for now := day0.Add(5 * time.Minute); !now.After(end.Add(72*time.Hour + 37*time.Hour)); now = now.Add(5 * time.Minute) {
		switch now {
		case day0.Add(3 * 24 * time.Hour):
			atDay3 = sim.Stats().Requests
		case end:
			atDay7 = sim.Stats().Requests
		}
		clk.Set(now)
		if err := w.Run(ctx, true); err != nil {
			b.Fatal(err)
		}
	}
	perDay := float64(atDay7-atDay3) / 4
	st := w.Stats()
	// Exactly once: every simulated row, late ones included, once.
	count := map[string]int{}
	var row schemas.DirectRoutingLogRow
	for _, rec := range kc.ReadAll(b, topic, true) {
		if err := schemas.DecodeDirectRoutingRow(rec.Value, &row); err != nil {
			b.Fatal(err)
		}
		count[row.ID]++
	}
	rows := sim.Rows(day0, end)
	late, missing, dups := 0, 0, 0
	for _, r := range rows {
		if r.VisibleAt.After(r.Start.Add(24 * time.Hour)) {
			late++
		}
		switch n := count[r.ID]; {
		case n == 0:
			missing++
		case n > 1:
			dups += n - 1
		}
	}
	if missing > 0 || dups > 0 || len(count) != len(rows) {
		b.Errorf("%d rows: %d missing, %d duplicated, %d ids on the topic", len(rows), missing, dups, len(count))
	}
	b.ReportMetric(perDay, "requests/day")
	b.ReportMetric(float64(late), "late-rows")
	b.ReportMetric(float64(st.Late), "late-published")
	b.ReportMetric(0, "ns/op")
	b.Logf("steady state, %d calls/day: %.1f requests/day/function (days 4-7); %d windows, %d rescans; %d rows revealed 70 h late, %d published by rescans; %s",
		83*24, perDay, st.Windows, st.Rescans, late, st.Late, fmt.Sprintf("%d missing, %d duplicated", missing, dups))
}
