package walk

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/graphsim"
)

// year2099 is a watermark no walker can have written: far beyond any clock.
var year2099 = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)

// assertFutureRefused checks what Run returned for a checkpoint ahead of
// time: a permanent *checkpoint.FutureError that says how to repair it.
func assertFutureRefused(t *testing.T, err error) {
	t.Helper()
	var fe *checkpoint.FutureError
	if !errors.As(err, &fe) {
		t.Fatalf("Run returned %v, want a *checkpoint.FutureError (a checkpoint in the future must not read as caught up)", err)
	}
	if retryable(err) {
		t.Fatal("a checkpoint in the future is retried; no retry can make it right")
	}
	if msg := err.Error(); !strings.Contains(msg, "callstream checkpoint reset --source direct-routing --to") {
		t.Fatalf("the error does not say how to repair: %s", msg)
	}
}

// TestFutureCheckpointIsRefusedAtLoad: Invariant 1, the checkpoint never
// runs ahead of Kafka — nor of time. A watermark, or a remembered window's
// end, beyond now is refused before anything is read or published; it
// would otherwise skip every call up to it silently. Either store: saved to
// the file, or read back from the compacted checkpoint topic, committed in a
// transaction as a reset would commit it.
func TestFutureCheckpointIsRefusedAtLoad(t *testing.T) {
	now := day0.Add(6 * time.Hour)
	states := map[string]checkpoint.State{
		"watermark": {Watermark: year2099},
		"window": {Watermark: day0.Add(time.Hour),
			Windows: []checkpoint.Window{{From: day0, To: day0.Add(time.Hour)}, {From: day0.Add(time.Hour), To: year2099}}},
	}
	forModes(t, func(t *testing.T, m mode) {
		for name, st := range states {
			t.Run(name, func(t *testing.T) {
				r := newRig(t, m, graphsim.Config{Seed: 3, Start: day0, End: now, RowsPerHour: 60})
				r.save(t, st)
				w := r.walker(t, Config{Start: day0, Now: func() time.Time { return now }})
				assertFutureRefused(t, w.Run(context.Background(), true))
				if n := len(r.topicIDs(t)); n != 0 {
					t.Fatalf("%d rows published from a refused checkpoint", n)
				}
			})
		}
	})
}

// TestFutureCheckpointWithinClockSkewIsAccepted: a watermark a little
// ahead of this machine's clock (another machine saved it) is not refused.
func TestFutureCheckpointWithinClockSkewIsAccepted(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		now := day0.Add(6 * time.Hour)
		r := newRig(t, m, graphsim.Config{Seed: 3, Start: day0, End: now, RowsPerHour: 60})
		r.save(t, checkpoint.State{Watermark: now.Add(checkpoint.ClockSkew)})
		w := r.walker(t, Config{Start: day0, Now: func() time.Time { return now }})
		if err := w.Run(context.Background(), true); err != nil {
			t.Fatalf("a watermark within the clock skew allowance was refused: %v", err)
		}
	})
}
