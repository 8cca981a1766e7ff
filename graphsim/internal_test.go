package graphsim

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"
)

func mustNew(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	if cfg.Token == "" {
		cfg.Token = "tok"
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

func TestParseDateTimeOffset(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	good := []struct {
		in   string
		want time.Time
	}{
		{"2019-11-01", utc("2019-11-01T00:00:00Z")},
		{"2024-02-29", utc("2024-02-29T00:00:00Z")},
		{"2019-11-01T00:00:25Z", utc("2019-11-01T00:00:25Z")},
		{"2019-11-01T00:00Z", utc("2019-11-01T00:00:00Z")},
		{"2019-11-01T00:00:25.105Z", utc("2019-11-01T00:00:25.105Z")},
		{"2021-05-06T01:48:48.7950838Z", utc("2021-05-06T01:48:48.7950838Z")},
		{"2019-11-01T00:00:00+00:00", utc("2019-11-01T00:00:00Z")},
		{"2019-11-01T01:30:00+01:30", utc("2019-11-01T00:00:00Z")},
		{"2019-10-31T19:00:00-05:00", utc("2019-11-01T00:00:00Z")},
		{"2019-11-01T00:00:00.1-00:00", utc("2019-11-01T00:00:00.1Z")},
	}
	for _, tc := range good {
		got, err := parseDateTimeOffset(tc.in)
		if err != nil {
			t.Errorf("parse(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("parse(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	bad := []string{
		"", "2019-11", "2019-1-5", "2019-11-1", "19-11-01", "2019-13-01", "2019-02-29",
		"2019-11-00", "2019-11-01T", "2019-11-01T00:00:00", "2019-11-01T24:00:00Z",
		"2019-11-01T00:60:00Z", "2019-11-01T00:00:60Z", "2019-11-01T00:00:00.Z",
		"2019-11-01T00:00:00.123456789Z", "2019-11-01T00:00:00 00:00", "2019-11-01t00:00:00z",
		"2019-11-01T00:00:00+0000", "2019-11-01T00:00:00+15:00", "2019-11-01T00:00:00ZZ",
		"'2019-11-01'", "2019-11-01Z", "2019-11-01T00:00:00.000+00:00x",
	}
	for _, in := range bad {
		if got, err := parseDateTimeOffset(in); err == nil {
			t.Errorf("parse(%q) = %v, want error", in, got)
		}
	}
}

// TestIndexMath checks the arithmetic index lookups against a linear scan
// for awkward densities, unaligned starts and a short last slot.
func TestIndexMath(t *testing.T) {
	base := time.Date(2019, 11, 1, 0, 0, 0, 0, time.UTC)
	cfgs := []Config{
		{Seed: 1, Start: base, End: base.Add(3 * time.Hour), RowsPerHour: 60},
		{Seed: 2, Start: base, End: base.Add(time.Hour), RowsPerHour: 3600},
		{Seed: 3, Start: base.Add(123456789), End: base.Add(2*time.Hour + 987654321), RowsPerHour: 7},
		{Seed: 4, Start: base.Add(-37 * time.Second), End: base.Add(2*time.Second + 50), RowsPerHour: 36_000_000},
		{Seed: 5, Start: base.Add(150), End: base.Add(30 * time.Minute), RowsPerHour: 7919},
		{Seed: 6, Start: base, End: base.Add(5 * time.Hour), RowsPerHour: 1},
	}
	for _, cfg := range cfgs {
		s := mustNew(t, cfg)
		// The slot count must match the rows a scan would find.
		n := 0
		for i := 0; ; i++ {
			lo, _ := s.slotBounds(i)
			if lo >= s.end {
				break
			}
			if ceilTo(lo, nsTick) < s.end {
				n++
			}
		}
		if s.Len() != n {
			t.Fatalf("seed %d: Len()=%d, want %d", cfg.Seed, s.Len(), n)
		}
		starts := make([]int64, s.n)
		for i := range starts {
			st := s.slotStart(i)
			lo, hi := s.slotBounds(i)
			if st.ns < lo || st.ns >= hi {
				t.Fatalf("seed %d: row %d start %d outside its slot [%d, %d)", cfg.Seed, i, st.ns, lo, hi)
			}
			if st.ns%unitFor(st.digits) != 0 {
				t.Fatalf("seed %d: row %d start %d not exact at %d digits", cfg.Seed, i, st.ns, st.digits)
			}
			if m := ceilTo(lo, nsMinute); m < hi && st.ns != m {
				t.Fatalf("seed %d: row %d slot holds minute %d but start is %d", cfg.Seed, i, m, st.ns)
			}
			starts[i] = st.ns
		}
		probe := func(x int64) {
			want := sort.Search(len(starts), func(i int) bool { return starts[i] >= x })
			if got := s.firstAtOrAfter(x); got != want {
				t.Fatalf("seed %d: firstAtOrAfter(%d)=%d, want %d", cfg.Seed, x, got, want)
			}
		}
		for i, st := range starts {
			if i > 0 && st <= starts[i-1] {
				t.Fatalf("seed %d: starts not increasing at %d", cfg.Seed, i)
			}
			probe(st)
			probe(st - 1)
			probe(st + 1)
		}
		probe(s.t0 - 1)
		probe(s.end)
		probe(s.end + 1)
	}
}

func TestZoneSeek(t *testing.T) {
	base := time.Date(2019, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, lf := range []float64{0.05, 0.5, 0.97} {
		s := mustNew(t, Config{Seed: 9, Start: base, End: base.Add(time.Hour), RowsPerHour: 40000, LateFraction: lf})
		for _, r := range [][2]int{{0, 40000}, {17, 9000}, {4095, 4097}, {4096, 8192}, {123, 123}, {5000, 39999}} {
			for _, lateVisible := range []bool{false, true} {
				a, b := r[0], r[1]
				var vis []int
				for i := a; i < b; i++ {
					if s.isLate(i) == lateVisible {
						vis = append(vis, i)
					}
				}
				if got := s.zoneVisible(a, b, lateVisible); got != len(vis) {
					t.Fatalf("lf %v [%d,%d) lateVisible %v: zoneVisible=%d, want %d", lf, a, b, lateVisible, got, len(vis))
				}
				for _, k := range []int{0, 1, len(vis) / 3, len(vis) - 1, len(vis), len(vis) + 5} {
					want := b
					if k >= 0 && k < len(vis) {
						want = vis[k]
					}
					if k < 0 {
						continue
					}
					if got := s.zoneSeek(a, b, k, lateVisible); got != want {
						t.Fatalf("lf %v [%d,%d) k=%d: zoneSeek=%d, want %d", lf, a, b, k, got, want)
					}
				}
			}
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, in := range []string{
		"", "plain", `quo"te`, `back\slash`, "tab\tnew\nline\r", "\x00\x1f\x7f", "Zoë Ångström",
		"李雷", "محمد علي", "Support 📞 Line", "bad\xffutf8", "\u2028\u2029",
	} {
		b := appendJSONString(nil, in)
		if !json.Valid(b) {
			t.Errorf("%q: invalid JSON %s", in, b)
			continue
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		want := strings.ToValidUTF8(in, "\uFFFD")
		if got != want {
			t.Errorf("round trip %q = %q, want %q", in, got, want)
		}
	}
}

func TestUUIDKeepsUniqueBits(t *testing.T) {
	// Two ids differing in any bit of hi must print differently.
	a := appendUUID(nil, uuidBits{0, 0, 5})
	for bit := range 64 {
		b := appendUUID(nil, uuidBits{1 << bit, 0, 5})
		if string(a) == string(b) {
			t.Fatalf("bit %d of hi is lost by appendUUID", bit)
		}
	}
	if got := string(appendUUID(nil, uuidBits{^uint64(0), ^uint64(0), 5})); got != "ffffffff-ffff-5fff-bfff-ffffffffffff" {
		t.Fatalf("appendUUID all ones = %s", got)
	}
}

func TestAppendTime(t *testing.T) {
	layouts := map[int]string{0: "2006-01-02T15:04:05", 3: "2006-01-02T15:04:05.000", 7: "2006-01-02T15:04:05.0000000"}
	var x uint64 = 1
	for k := range 200000 {
		x = mix64(x + uint64(k))
		// Cover the whole int64 range the simulator accepts, 1678 to 2262.
		ns := int64(x%uint64(1<<63-1)) - 1<<62
		ns -= ns % nsTick
		digits := []int{0, 3, 7}[k%3]
		if digits == 0 {
			ns -= ns % nsSecond
		}
		tm := time.Unix(0, ns).UTC()
		for _, plus := range []bool{false, true} {
			want := `"` + tm.Format(layouts[digits])
			if plus {
				want += `+00:00"`
			} else {
				want += `Z"`
			}
			if got := string(appendTime(nil, ns, digits, plus)); got != want {
				t.Fatalf("appendTime(%d, %d, %v) = %s, want %s", ns, digits, plus, got, want)
			}
		}
	}
	for _, s := range []string{"1678-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2000-02-29T12:00:00Z", "2261-12-31T23:59:59Z"} {
		tm, _ := time.Parse(time.RFC3339, s)
		if got := string(appendTime(nil, tm.UnixNano(), 0, false)); got != `"`+s+`"` {
			t.Errorf("appendTime(%s) = %s", s, got)
		}
	}
}
