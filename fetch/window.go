package fetch

import (
	"time"

	"github.com/callstream/callstream/sources"
)

// Tick is the resolution of Graph's Edm.DateTimeOffset: seven fractional
// digits of a second. Call start times and function arguments are whole
// ticks.
const Tick = 100 * time.Nanosecond

// InclusiveEnd reports whether fn returns the rows that start exactly at
// its toDateTime, as its sources entry says (false for a function not in
// the registry).
func (fn Function) InclusiveEnd() bool { return sources.InclusiveEnd(string(fn)) }

// QueryEnd returns the toDateTime that makes fn select call start times
// below to, and not at it: for an exclusive function, to rounded up to a
// tick (to itself when it is on one); for an inclusive one,
// the last tick before to. With fromDateTime rounded up to a tick too, as
// Client.URL does, adjacent ranges [a, b) and [b, c) then read every row
// once: none twice at b, none lost next to it.
//
// Client.URL and Client.Calls already apply it: pass them the half-open
// range, never a QueryEnd result, or the last tick before the end is lost.
func QueryEnd(fn Function, to time.Time) time.Time {
	end := ceilTick(to)
	if fn.InclusiveEnd() {
		end = end.Add(-Tick)
	}
	return end
}

// ceilTick rounds t up to a whole Tick. Graph cannot express the time in
// between, and a row at tick k lies at or after t exactly when it lies at or
// after the tick ceilTick(t).
func ceilTick(t time.Time) time.Time {
	if f := t.Truncate(Tick); !f.Equal(t) {
		return f.Add(Tick)
	}
	return t
}
