package testkit

import (
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/sources"
)

// TestRecordsAt: the call-records truth is the simulator's, every record
// has its versions, and a source of another kind is refused.
func TestRecordsAt(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	sim, err := graphsim.New(graphsim.Config{Seed: 3, Start: start, End: start.Add(2 * time.Hour), RowsPerHour: 10, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	src := sources.MustLookup("call-records")
	now := start.Add(24 * time.Hour)
	recs, err := RecordsAt(sim, src, start, start.Add(2*time.Hour), now)
	if err != nil || len(recs) == 0 {
		t.Fatalf("RecordsAt: %d records, %v", len(recs), err)
	}
	for _, r := range recs {
		vs, err := RecordVersions(sim, src, r.ID)
		if err != nil || len(vs) < int(r.Version) || vs[r.Version-1].VisibleAt.After(now) {
			t.Fatalf("RecordVersions(%s): %d versions, %v", r.ID, len(vs), err)
		}
	}
	if _, err := RecordsAt(sim, sources.MustLookup("direct-routing"), start, start, now); err == nil {
		t.Error("RecordsAt accepted a Log source")
	}
	if _, err := RecordVersions(sim, sources.MustLookup("direct-routing"), recs[0].ID); err == nil {
		t.Error("RecordVersions accepted a Log source")
	}
}
