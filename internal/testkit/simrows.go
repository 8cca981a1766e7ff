package testkit

import (
	"fmt"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/sources"
)

// simTruth is the simulator's ground truth of each Log data set
// (sources.Source.DataSet), by name.
var simTruth = map[string]func(sim *graphsim.Server, from, to time.Time) []graphsim.Row{
	"direct-routing":     (*graphsim.Server).Rows,
	"pstn":               (*graphsim.Server).PstnRows,
	"sms":                (*graphsim.Server).SmsRows,
	"pstn-blocked-users": (*graphsim.Server).BlockedUsersRows,
}

// simCount counts what simTruth returns, without rendering the rows.
var simCount = map[string]func(sim *graphsim.Server, from, to time.Time) int{
	"direct-routing":     (*graphsim.Server).Count,
	"pstn":               (*graphsim.Server).PstnCount,
	"sms":                (*graphsim.Server).SmsCount,
	"pstn-blocked-users": (*graphsim.Server).BlockedUsersCount,
}

// LogRows returns the simulator's ground truth for the Log source src:
// every row whose time is in [from, to), good or malformed, visible or
// not, in time order. It is what the end-to-end tests and the interop
// harness compare the topics with; a new Log source's data set is added
// to simTruth and simCount.
func LogRows(sim *graphsim.Server, src sources.Source, from, to time.Time) ([]graphsim.Row, error) {
	if src.Kind != sources.Log {
		return nil, fmt.Errorf("testkit: %s is a source of kind %s, not a log", src.Name, src.Kind)
	}
	rows, ok := simTruth[src.DataSet]
	if !ok {
		return nil, fmt.Errorf("testkit: no ground truth for the data set %q of source %s: add its graphsim accessor to simTruth", src.DataSet, src.Name)
	}
	return rows(sim, from, to), nil
}

// Served returns the JSON the simulator serves for r in Graph API version
// version (sources.V1 or sources.Beta).
func Served(r graphsim.Row, version string) []byte {
	if version == sources.Beta {
		return r.BetaJSON
	}
	return r.JSON
}

// LogCount returns len(LogRows(sim, src, from, to)) without rendering the
// rows, for a caller that polls it.
func LogCount(sim *graphsim.Server, src sources.Source, from, to time.Time) (int, error) {
	count, ok := simCount[src.DataSet]
	if !ok || src.Kind != sources.Log {
		_, err := LogRows(sim, src, from, to) // says why
		return 0, err
	}
	return count(sim, from, to), nil
}
