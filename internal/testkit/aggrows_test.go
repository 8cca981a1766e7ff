package testkit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/sources"
)

// TestAggregateRowsEveryAggregateSource: every Aggregate source of the
// registry has ground truth per UTC day, every row keyed by its day and
// grouping, no key twice, and the rows of a day total its calls; any
// other kind is refused.
func TestAggregateRowsEveryAggregateSource(t *testing.T) {
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	sim, err := graphsim.New(graphsim.Config{Token: "x", Seed: 3, Start: from, End: from.Add(48 * time.Hour), RowsPerHour: 240})
	if err != nil {
		t.Fatal(err)
	}
	now := from.Add(30 * 24 * time.Hour) // every call visible
	n := 0
	for _, src := range sources.All() {
		// A range inside the first day and part of the second: both days are read whole.
		rows, err := AggregateRows(sim, src, from.Add(5*time.Hour), from.Add(25*time.Hour), now)
		if src.Kind != sources.Aggregate {
			if err == nil {
				t.Errorf("%s (%s): AggregateRows answers for a source that is not an aggregate", src.Name, src.Kind)
			}
			continue
		}
		n++
		if err != nil {
			t.Fatalf("%s: %v", src.Name, err)
		}
		keys := map[string]bool{}
		calls := map[time.Time]int64{}
		for i, r := range rows {
			var parts []any
			if err := json.Unmarshal([]byte(r.Key), &parts); err != nil || len(parts) < 2 || parts[0] != r.Day.Format(time.DateOnly) || parts[1] != r.Row.UserID {
				t.Fatalf("%s: row %d: key %s for the day %s and user %s (%v)", src.Name, i, r.Key, r.Day, r.Row.UserID, err)
			}
			if keys[r.Key] {
				t.Fatalf("%s: key %s twice", src.Name, r.Key)
			}
			keys[r.Key] = true
			calls[r.Day] += r.Row.TotalCalls
		}
		for _, d := range []time.Time{from, from.Add(24 * time.Hour)} {
			if want := sim.DialoutCallCount(d, d.Add(24*time.Hour)); want == 0 || calls[d] != int64(want) {
				t.Fatalf("%s: the rows of %s total %d calls, the simulator holds %d", src.Name, d.Format(time.DateOnly), calls[d], want)
			}
		}
		if len(calls) != 2 {
			t.Fatalf("%s: rows of %d days, want the 2 the range touches", src.Name, len(calls))
		}
	}
	if n == 0 {
		t.Fatal("no Aggregate source in the registry")
	}
}
