package testkit

import (
	"fmt"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
)

// AggregateRow is one row of an Aggregate source's ground truth: what the
// simulator answers for one UTC day and one grouping, and the record key
// callstream publishes it under.
type AggregateRow struct {
	// Day is the midnight (UTC) starting the day the row covers.
	Day time.Time
	// Key is the row's record key: schemas.DayKey(Day, the row's
	// grouping as the source's codec cuts it).
	Key string
	// Row is the simulator's row, its JSON as served.
	Row graphsim.DialoutRow
}

// aggTruth is the simulator's report of each Aggregate data set
// (sources.Source.DataSet), by name: its rows for the calls of [from, to)
// visible at now.
var aggTruth = map[string]func(sim *graphsim.Server, from, to, now time.Time) []graphsim.DialoutRow{
	"pstn-dialout": (*graphsim.Server).DialoutReport,
}

// AggregateRows returns the simulator's ground truth for the Aggregate
// source src as callstream reads it: the report of every whole UTC day
// that [from, to) touches (callstream reads an aggregate per UTC day,
// whatever the window), as the simulator answers it at now, each row with
// its record key. Days are in order, and a day's rows in the order the
// simulator serves them. It is what the end-to-end tests and the interop
// harness compare an aggregate's topic with; a new Aggregate source's
// data set is added to aggTruth.
func AggregateRows(sim *graphsim.Server, src sources.Source, from, to, now time.Time) ([]AggregateRow, error) {
	if src.Kind != sources.Aggregate {
		return nil, fmt.Errorf("testkit: %s is a source of kind %s, not an aggregate", src.Name, src.Kind)
	}
	report, ok := aggTruth[src.DataSet]
	if !ok {
		return nil, fmt.Errorf("testkit: no ground truth for the data set %q of source %s: add its graphsim accessor to aggTruth", src.DataSet, src.Name)
	}
	if len(src.Versions) == 0 {
		return nil, fmt.Errorf("testkit: source %s offers no Graph API version", src.Name)
	}
	// The grouping is the same in every version; the first one's codec
	// cuts it.
	codec, err := schemas.For(src.Name, src.Versions[0])
	if err != nil {
		return nil, err
	}
	const day = 24 * time.Hour
	var out []AggregateRow
	for d := from.UTC().Truncate(day); d.Before(to); d = d.Add(day) {
		for _, row := range report(sim, d, d.Add(day), now) {
			_, group, _, err := codec.Encode(row.JSON, nil)
			if err != nil {
				return nil, fmt.Errorf("testkit: %s row of %s: %w", src.Name, d.Format(time.DateOnly), err)
			}
			out = append(out, AggregateRow{Day: d, Key: schemas.DayKey(d, group), Row: row})
		}
	}
	return out, nil
}
