package testkit

import (
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/sources"
)

// TestLogRowsEveryLogSource: every Log source of the registry has ground
// truth, of its own rows (its id property is each row's ID, in time
// order), counted the same by LogCount; any other kind is refused.
func TestLogRowsEveryLogSource(t *testing.T) {
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	sim, err := graphsim.New(graphsim.Config{Token: "x", Seed: 3, Start: from, End: from.Add(24 * time.Hour), RowsPerHour: 240})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range sources.All() {
		rows, err := LogRows(sim, src, from.Add(time.Hour), from.Add(23*time.Hour))
		n, cerr := LogCount(sim, src, from.Add(time.Hour), from.Add(23*time.Hour))
		if src.Kind != sources.Log {
			if err == nil || cerr == nil {
				t.Errorf("%s (%s): LogRows and LogCount answer for a source that is not a log", src.Name, src.Kind)
			}
			continue
		}
		if err != nil || cerr != nil {
			t.Fatalf("%s: %v, %v", src.Name, err, cerr)
		}
		if len(rows) == 0 || n != len(rows) {
			t.Fatalf("%s: %d rows, LogCount %d", src.Name, len(rows), n)
		}
		for i, r := range rows {
			if r.ID == "" || string(Served(r, src.Versions[0])) == "" || (i > 0 && r.Start.Before(rows[i-1].Start)) {
				t.Fatalf("%s: row %d: id %q at %s", src.Name, i, r.ID, r.Start)
			}
			if !strings.Contains(string(Served(r, src.Versions[0])), `"`+src.IDProperty+`":"`+r.ID+`"`) {
				t.Fatalf("%s: row %d's JSON does not carry %s %q: %s", src.Name, i, src.IDProperty, r.ID, Served(r, src.Versions[0]))
			}
		}
	}
}
