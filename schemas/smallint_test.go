package schemas

import (
	"strconv"
	"testing"
)

// FuzzSmallInt holds smallInt to strconv.ParseInt: whatever it accepts it
// reads as ParseInt does, and it accepts every int32 of up to nine digits
// written the way JSON writes it.
func FuzzSmallInt(f *testing.F) {
	for _, s := range []string{"0", "-0", "7", "-7", "480", "999999999", "-999999999", "1000000000", "01", "-", "", "1.5", "1e3", "+1", "2147483648", "12a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := smallInt(s)
		want, err := strconv.ParseInt(s, 10, 32)
		if ok && (err != nil || int64(n) != want) {
			t.Fatalf("smallInt(%q) = %d, ParseInt = %d, %v", s, n, want, err)
		}
		if !ok && err == nil && want > -1e9 && want < 1e9 && strconv.FormatInt(want, 10) == s {
			t.Fatalf("smallInt(%q) refused a nine-digit integer", s)
		}
	})
}
