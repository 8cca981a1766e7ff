package schemas

import (
	"testing"
	"time"
)

func TestParseDateTimeOffset(t *testing.T) {
	tests := []struct {
		in       string
		want     time.Time
		minValue bool
		ok       bool
	}{
		{"2019-11-01T00:00:25Z", time.Date(2019, 11, 1, 0, 0, 25, 0, time.UTC), false, true},
		{"2019-11-01T00:00:25.105Z", time.Date(2019, 11, 1, 0, 0, 25, 105e6, time.UTC), false, true},
		{"2021-05-06T01:48:48.7950838Z", time.Date(2021, 5, 6, 1, 48, 48, 795083800, time.UTC), false, true},
		{"2021-05-06T01:48:48.12345678912Z", time.Date(2021, 5, 6, 1, 48, 48, 123456789, time.UTC), false, true},
		{"2019-11-01T02:00:25+02:00", time.Date(2019, 11, 1, 0, 0, 25, 0, time.UTC), false, true},
		{"2019-11-01T00:00:25-00:00", time.Date(2019, 11, 1, 0, 0, 25, 0, time.UTC), false, true},
		{"2019-12-31T23:30:00-23:59", time.Date(2020, 1, 1, 23, 29, 0, 0, time.UTC), false, true},
		{"2000-02-29T00:00:00Z", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), false, true},
		{"0000-01-01T00:00:00Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), false, true},
		{"0001-01-01T00:00:00Z", time.Time{}, true, true},
		{"0001-01-01T00:00:00.0000000+00:00", time.Time{}, true, true},
		{"0001-01-01T00:00:00+05:00", time.Date(0, 12, 31, 19, 0, 0, 0, time.UTC), true, true},
		{"", time.Time{}, false, false},
		{"2019-11-01T00:00:25", time.Time{}, false, false},
		{"2019-11-01T00:00:25.Z", time.Time{}, false, false},
		{"2019-11-01T00:00:25,1Z", time.Time{}, false, false},
		{"2019-11-01T00:00:25z", time.Time{}, false, false},
		{"2019-11-01t00:00:25Z", time.Time{}, false, false},
		{"2019-11-01T00:00:25+02", time.Time{}, false, false},
		{"2019-11-01T00:00:25+2:00", time.Time{}, false, false},
		{"2019-11-01T00:00:25+02:60", time.Time{}, false, false},
		{"2019-11-01T00:00:25+24:00", time.Time{}, false, false},
		{"2019-11-01T00:00:25ZZ", time.Time{}, false, false},
		{"1900-02-29T00:00:00Z", time.Time{}, false, false},
		{"2019-04-31T00:00:00Z", time.Time{}, false, false},
		{"2019-13-01T00:00:00Z", time.Time{}, false, false},
		{"2019-00-01T00:00:00Z", time.Time{}, false, false},
		{"2019-11-00T00:00:00Z", time.Time{}, false, false},
		{"2019-11-01T00:60:00Z", time.Time{}, false, false},
		{"2019-11-01T00:00:60Z", time.Time{}, false, false},
		{"+019-11-01T00:00:00Z", time.Time{}, false, false},
		{"2019-1a-01T00:00:00Z", time.Time{}, false, false},
		{"２019-11-01T00:00:00Z", time.Time{}, false, false},
	}
	for _, tc := range tests {
		got, minValue, ok := parseDateTimeOffset(tc.in)
		if ok != tc.ok || minValue != tc.minValue || (ok && !tc.minValue && (!got.Equal(tc.want) || got.Location() != time.UTC)) {
			t.Errorf("parseDateTimeOffset(%q) = %v, %v, %v; want %v, %v, %v", tc.in, got, minValue, ok, tc.want, tc.minValue, tc.ok)
		}
		if ok && !got.Equal(tc.want) {
			t.Errorf("parseDateTimeOffset(%q) instant = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseDateTimeOffset checks the hand-written parser against the
// stdlib: whatever it accepts, time.Parse accepts as the same instant.
func FuzzParseDateTimeOffset(f *testing.F) {
	for _, s := range []string{
		"2019-11-01T00:00:25.105Z", "2021-05-06T01:48:48.7950838Z", "2019-11-01T00:00:25.105+02:00",
		"0001-01-01T00:00:00Z", "2024-02-29T23:59:59-23:59", "2019-11-01T00:00:25", "9999-12-31T23:59:59.999999999Z",
		"0000-02-29T00:00:00Z", "0000-03-01T00:00:00+01:00", "1969-12-31T23:59:59.9Z", "2000-02-29T12:00:00Z", "2100-03-01T00:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, minValue, ok := parseDateTimeOffset(s)
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("parseDateTimeOffset(%q) accepted what time.Parse rejects: %v", s, err)
		}
		// == as well as Equal: the same instant in the same representation
		// as the stdlib's, so rows compare equal with reflect.DeepEqual.
		if !got.Equal(want) || got != want.UTC() || got.Location() != time.UTC {
			t.Fatalf("parseDateTimeOffset(%q) = %v, time.Parse = %v", s, got, want)
		}
		// time.Parse keeps the written offset, so its wall clock is the
		// one the placeholder check looks at.
		y, mo, d := want.Date()
		h, mi, sec := want.Clock()
		wantMin := y == 1 && mo == 1 && d == 1 && h == 0 && mi == 0 && sec == 0 && want.Nanosecond() == 0
		if minValue != wantMin {
			t.Fatalf("parseDateTimeOffset(%q) minValue = %v, want %v", s, minValue, wantMin)
		}
	})
}
