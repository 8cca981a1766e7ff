package graphsim

import (
	"testing"
	"time"
)

// TestISODuration: TimeSpans print as Graph prints them: whole units only
// where present, trailing fractional zeros dropped, up to 7 digits.
func TestISODuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, `"PT0S"`},
		{16 * time.Millisecond, `"PT0.016S"`},
		{12*time.Millisecond + 345600*time.Nanosecond, `"PT0.0123456S"`},
		{63500 * time.Millisecond, `"PT1M3.5S"`},
		{time.Hour + 2*time.Second, `"PT1H2S"`},
		{2 * time.Minute, `"PT2M"`},
		{100 * time.Nanosecond, `"PT0.0000001S"`},
	} {
		if got := string(appendISODuration(nil, int64(tc.d))); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.d, got, tc.want)
		}
	}
}

// TestTrimmedTime: call records' DateTimeOffsets carry up to 7 fractional
// digits with trailing zeros dropped.
func TestTrimmedTime(t *testing.T) {
	base := time.Date(2020, 2, 25, 19, 0, 24, 0, time.UTC).UnixNano()
	for _, tc := range []struct {
		ns   int64
		want string
	}{
		{base, `"2020-02-25T19:00:24Z"`},
		{base + 582757000, `"2020-02-25T19:00:24.582757Z"`},
		{base + 216988900, `"2020-02-25T19:00:24.2169889Z"`},
		{base + 500000000, `"2020-02-25T19:00:24.5Z"`},
	} {
		if got := string(appendTrimmedTime(nil, tc.ns)); got != tc.want {
			t.Errorf("%d: %s, want %s", tc.ns, got, tc.want)
		}
	}
}

// TestRecordIDRoundTrip: every record's id maps back to the record, and
// ids no record has (a transfer leg's fresh correlationId, a random one)
// map to none.
func TestRecordIDRoundTrip(t *testing.T) {
	if unmix64(mix64(12345)) != 12345 || modInverse(golden)*golden != 1 {
		t.Fatal("unmix64 or modInverse is wrong")
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := New(Config{Seed: 5, Start: start, End: start.Add(12 * time.Hour), RowsPerHour: 30, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	c := s.cr
	b := c.bounds(s.t0, s.end)
	n := 0
	for cur := (cursor{b.dLo, b.tLo}); ; n++ {
		ref, next, ok := c.next(cur, b)
		if !ok {
			break
		}
		cur = next
		r := c.rec(ref)
		if got, ok := c.parseRecordID(string(appendUUID(nil, r.id))); !ok || got != ref {
			t.Fatalf("%v: parsed back as %v, %v", ref, got, ok)
		}
	}
	if n < 600 {
		t.Fatalf("only %d records", n)
	}
	for i := range s.n {
		if s.isTransfer(i) {
			if _, ok := c.parseRecordID(string(appendUUID(nil, s.freshCorrBits(i)))); ok {
				t.Fatalf("row %d: a transfer leg's own correlation bits name a record", i)
			}
		}
	}
	if _, ok := c.parseRecordID("87fc29dc-6454-4ebe-aa95-914454720208"); ok {
		t.Error("a foreign id names a record")
	}
}
