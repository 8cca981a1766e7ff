package main

import (
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/sources"
)

// TestBinaryBetaLogSources walks every Log source of the registry offered
// in Graph beta (logSources) in one run with GRAPH_API_VERSION=beta — the
// beta-only sms (getSmsLog) and pstn-blocked-users
// (getPstnBlockedUsersLog) as well as the beta forms of direct-routing and
// pstn — each to its own topic, exactly-once through the built binary:
// every simulated row of the range is on its source's topic once, decoded
// with its beta .avsc, keyed by its source's key property (an SMS without a
// user by its id), and its properties as the simulator served them, field
// by field (checkLane).
func TestBinaryBetaLogSources(t *testing.T) {
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	p := newPipeline(t, graphsim.Config{Seed: 44, Start: from, End: from.Add(12 * time.Hour), RowsPerHour: 600})
	lanes := p.lanes(t, sources.Beta)
	for _, want := range []string{"sms", "pstn-blocked-users"} {
		if !containsSource(lanes, want) {
			t.Fatalf("the beta run does not walk %s; it walks %s", want, p.env["SOURCES"])
		}
	}
	proc := start(t, p.env, "run", "--once")
	if code := proc.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}
	for _, l := range lanes {
		t.Run(l.src.Name, func(t *testing.T) {
			if dups := p.checkLane(t, l); dups != 0 {
				t.Fatalf("%d duplicate records in a run without a crash", dups)
			}
		})
	}
}

// containsSource reports whether one of lanes is the source named name.
func containsSource(lanes []srcLane, name string) bool {
	for _, l := range lanes {
		if l.src.Name == name {
			return true
		}
	}
	return false
}
