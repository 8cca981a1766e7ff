package walk

import (
	"testing"
	"time"
)

// TestAlignedPolls: with AlignPolls the next walk starts on the grid
// PollPhase + k×PollInterval, within one interval; without, one interval
// after the last.
func TestAlignedPolls(t *testing.T) {
	for _, phase := range []time.Duration{0, time.Second, 29 * time.Second, 59*time.Second + 999*time.Millisecond} {
		w := &Walker{cfg: Config{PollInterval: time.Minute, AlignPolls: true, PollPhase: phase}}
		d := w.untilNextPoll()
		at := time.Now().Add(d)
		if d <= 0 || d > time.Minute {
			t.Fatalf("phase %s: next poll in %s, want within (0, 1m]", phase, d)
		}
		// The wake-up instant is on the grid, to the clock's granularity.
		off := time.Duration((at.UnixNano() - int64(phase)) % int64(time.Minute))
		if off > 50*time.Millisecond && off < time.Minute-50*time.Millisecond {
			t.Fatalf("phase %s: next poll at %s, %s off the grid", phase, at.Format(time.RFC3339Nano), off)
		}
	}
	w := &Walker{cfg: Config{PollInterval: time.Minute}}
	if d := w.untilNextPoll(); d != time.Minute {
		t.Fatalf("unaligned: next poll in %s, want the interval", d)
	}
}
