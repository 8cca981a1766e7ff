package pipeline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/walk"
)

func TestProgressFigures(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Progress{From: from, To: from.Add(240 * time.Hour), Window: time.Hour}
	cases := []struct {
		name string
		snap ProgressSnapshot
		want string
	}{
		{"before the checkpoint is loaded", ProgressSnapshot{},
			"[------------------------]   0%  0 rows  0 requests  0 full pages  unpaced  0 throttled  ETA --"},
		{"fresh, 40% in 4 minutes", ProgressSnapshot{Mark: from.Add(96 * time.Hour), Resumed: from, Elapsed: 4 * time.Minute,
			Stats: walk.Stats{Fetched: 1_234_567, Pages: 1300, Requests: 1310, FullPages: 1230, Throttled: 2}},
			"[#########---------------]  40%  1.2M rows  1310 requests  1230 full pages  unpaced  2 throttled  ETA 6m0s"},
		{"resumed at 50%, now 75% after 1 minute", ProgressSnapshot{Mark: from.Add(180 * time.Hour), Resumed: from.Add(120 * time.Hour), Elapsed: time.Minute,
			Stats: walk.Stats{Fetched: 600, Pages: 61, Requests: 61}},
			"[##################------]  75%  600 rows  61 requests  0 full pages  unpaced  0 throttled  ETA 1m0s"},
		{"done", ProgressSnapshot{Mark: from.Add(240 * time.Hour), Resumed: from, Elapsed: 2 * time.Hour, Stats: walk.Stats{Fetched: 12_000_000, Pages: 12_000, Requests: 12_000, FullPages: 12_000}},
			"[########################] 100%  12.0M rows  12.0k requests  12.0k full pages  unpaced  0 throttled  ETA 0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.BarLine(tc.snap); got != tc.want {
				t.Errorf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestProgressETAFromBudget: with a budget, the ETA is the requests still
// to send at the budget's rate — the requests so far in proportion to the
// range left — whatever the clock of the last minutes says; the bar shows
// the share of the budget used.
func TestProgressETAFromBudget(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Progress{From: from, To: from.Add(90 * 24 * time.Hour), Window: time.Hour, Limit: 50}
	// A third of the range in 40 requests, sent in one minute (the
	// budget's burst): 80 left at 50 a minute is 1m36s, not the clock's 2m.
	s := ProgressSnapshot{Mark: from.Add(30 * 24 * time.Hour), Resumed: from, Elapsed: time.Minute,
		Stats: walk.Stats{Fetched: 39_500, Requests: 40, FullPages: 39}}
	want := "[########----------------]  33%  39.5k rows  40 requests  39 full pages  80% of 50/min  0 throttled  ETA 1m36s"
	if got := p.BarLine(s); got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}

// TestProgressETAPerRecord: a records source's ETA counts the records
// left, each at the requests a record cost so far, at the call-records
// budget; when Graph's answers, not the budget, held the reads back, the
// clock's longer estimate wins.
func TestProgressETAPerRecord(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{Walk: WalkConfig{Window: time.Hour, Sources: []string{"call-records"}},
		Graph: GraphConfig{BudgetPerFunction: 50, CallRecordsBudget: 1500}}
	p := cfg.BackfillProgress(from, from.Add(30*24*time.Hour))
	if !p.Records || p.Limit != 1500*60/21 {
		// 1,500 per sliding 21 s window: the budget's steady state is
		// 4,285 a minute (the benchmark's backfill sends at that rate),
		// not two whole windows' 3,000.
		t.Fatalf("BackfillProgress(call-records) = %+v, want records at 4285/min", p)
	}
	// A tenth of the range: 15,000 records at 1.1 requests each in 8
	// minutes. Left: 135,000 records × 1.1 = 148,500 requests at 4,285 a
	// minute = 34m39s; the clock says 72 minutes: the clock wins.
	s := ProgressSnapshot{Mark: from.Add(3 * 24 * time.Hour), Resumed: from, Elapsed: 8 * time.Minute,
		Stats: walk.Stats{Fetched: 15_000, Requests: 16_500, Pages: 16}}
	if got, want := p.figures(s).eta, 72*time.Minute; got != want {
		t.Errorf("latency-bound: ETA %s, want the clock's %s", got, want)
	}
	// The same in 3 minutes: the clock says 27m, the budget 34m39s.
	s.Elapsed = 3 * time.Minute
	left := 148_500.0
	if got, want := p.figures(s).eta, time.Duration(left/4285*float64(time.Minute)); (got - want).Abs() > time.Millisecond {
		t.Errorf("budget-bound: ETA %s, want %s", got, want)
	}
	if line := p.BarLine(s); !strings.Contains(line, "15.0k records") {
		t.Errorf("bar %q does not count records", line)
	}
	if d := (Config{Walk: WalkConfig{Window: time.Hour, Sources: []string{"direct-routing"}}, Graph: GraphConfig{BudgetPerFunction: 50}}).BackfillProgress(from, from.Add(time.Hour)); d.Records || d.Limit != 50 {
		t.Errorf("BackfillProgress(direct-routing) = %+v", d)
	}
}

// TestProgressLogLine: off a terminal, the same figures go to a
// "backfill progress" log line.
func TestProgressLogLine(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Progress{From: from, To: from.Add(90 * 24 * time.Hour), Window: time.Hour, Limit: 50}
	s := ProgressSnapshot{Mark: from.Add(30 * 24 * time.Hour), Resumed: from, Elapsed: time.Minute,
		Stats: walk.Stats{Fetched: 39_500, Published: 39_000, Pages: 40, Requests: 40, FullPages: 39}}
	var out bytes.Buffer
	p.LogLine(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})), s)
	want := `level=INFO msg="backfill progress" percent=33.3 windows=720 windows_total=2160 rows=39500 published=39000 pages=40 ` +
		`requests=40 full_pages=39 throttled=0 budget_per_minute=50 budget_share=80% rows_per_second=658 eta=1m36s`
	if got := strings.TrimSpace(out.String()); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

// TestProgressETAFromResumed: the first report can come after windows
// were published (the walk started before the first tick); the ETA counts
// the records, requests and time from the report that took Resumed, not
// those spent before it on the range up to Resumed.
func TestProgressETAFromResumed(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Resumed a day in, after a minute, 10 requests and 1,000 rows; now
	// four days in after 4 minutes, 40 requests and 4,000 rows: three days
	// took 3 minutes and 30 requests, so the six days left take 6 minutes
	// at 10 requests a minute (not the 8 minutes counting the first day's
	// minute and requests against the three days after it).
	s := ProgressSnapshot{Mark: from.Add(4 * 24 * time.Hour), Resumed: from.Add(24 * time.Hour), Elapsed: 4 * time.Minute,
		Stats: walk.Stats{Fetched: 4000, Requests: 40}, Base: walk.Stats{Fetched: 1000, Requests: 10}, BaseElapsed: time.Minute}
	for _, limit := range []int{0, 10} {
		p := Progress{From: from, To: from.Add(10 * 24 * time.Hour), Window: time.Hour, Limit: limit}
		if got, want := p.figures(s).eta, 6*time.Minute; got != want {
			t.Errorf("limit %d/min: ETA %s, want %s", limit, got, want)
		}
	}
	// A records source: 6,000 records left at the 0.01 request a record
	// of the three days (30 for 3,000) is 60 requests, 6 minutes at 10 a
	// minute (counting from From: 8,000 records, 80 requests, 8 minutes).
	p := Progress{From: from, To: from.Add(10 * 24 * time.Hour), Window: time.Hour, Limit: 10, Records: true}
	if got, want := p.figures(s).eta, 6*time.Minute; got != want {
		t.Errorf("records: ETA %s, want %s", got, want)
	}
}
