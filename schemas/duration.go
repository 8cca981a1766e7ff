package schemas

import "math"

// durationFit says how an ISO 8601 duration fits a count of microseconds.
type durationFit uint8

const (
	durationExact    durationFit = iota // the count is the duration
	durationLossy                       // truncated: non-zero digits past the microsecond
	durationNotFixed                    // years or months: no fixed number of seconds
)

// parseDuration reads an Edm.Duration as Graph writes it, ISO 8601's
// -?PnYnMnWnDTnHnMn.nS with at least one component and, after a T, at
// least one time component; only the seconds may have a fraction, of any
// length. It returns the duration in microseconds, truncated toward zero
// (fit says whether digits were lost). Weeks and days are fixed (7 and 1
// times 86,400 s, as Edm.Duration's dayTimeDuration has it); a duration
// with years or months is durationNotFixed and its count is 0. ok is
// false for text that is not such a duration or whose count overflows a
// long.
func parseDuration(s string) (micros int64, fit durationFit, ok bool) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg, i = true, i+1
	}
	if i >= len(s) || s[i] != 'P' {
		return 0, 0, false
	}
	i++
	var total uint64 // microseconds
	const maxTotal = math.MaxInt64
	add := func(n, unit uint64) bool {
		if n != 0 && unit > maxTotal/n {
			return false
		}
		if total > maxTotal-n*unit {
			return false
		}
		total += n * unit
		return true
	}
	const second = 1_000_000
	dateUnits := "YMWD"
	timeUnits := "HMS"
	units, inTime, components, timeComponents := dateUnits, false, 0, 0
	notFixed, lossy := false, false
	for i < len(s) {
		if s[i] == 'T' {
			if inTime {
				return 0, 0, false
			}
			inTime, units = true, timeUnits
			i++
			continue
		}
		start := i
		var n uint64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n > (math.MaxUint64-9)/10 {
				return 0, 0, false
			}
			n = n*10 + uint64(s[i]-'0')
			i++
		}
		if i == start || i >= len(s) {
			return 0, 0, false
		}
		var frac uint64 // the fraction's first six digits, in microseconds
		hasFrac := false
		if s[i] == '.' {
			i++
			fs := i
			scale := uint64(100_000)
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				if i-fs < 6 {
					frac += uint64(s[i]-'0') * scale
					scale /= 10
				} else if s[i] != '0' {
					lossy = true
				}
				i++
			}
			if i == fs || i >= len(s) {
				return 0, 0, false
			}
			hasFrac = true
		}
		// The designator must come later in its part than the last one.
		u := s[i]
		k := -1
		for j := 0; j < len(units); j++ {
			if units[j] == u {
				k = j
				break
			}
		}
		if k < 0 || (hasFrac && !(inTime && u == 'S')) {
			return 0, 0, false
		}
		units = units[k+1:]
		i++
		components++
		if inTime {
			timeComponents++
		}
		var unit uint64
		switch {
		case !inTime && (u == 'Y' || u == 'M'):
			notFixed = true
			continue
		case !inTime && u == 'W':
			unit = 7 * 86400 * second
		case !inTime && u == 'D':
			unit = 86400 * second
		case u == 'H':
			unit = 3600 * second
		case u == 'M':
			unit = 60 * second
		default: // S
			unit = second
		}
		if !add(n, unit) || !add(frac, 1) {
			return 0, 0, false
		}
	}
	if components == 0 || (inTime && timeComponents == 0) {
		return 0, 0, false
	}
	if notFixed {
		return 0, durationNotFixed, true
	}
	micros = int64(total)
	if neg {
		micros = -micros
	}
	if lossy {
		return micros, durationLossy, true
	}
	return micros, durationExact, true
}
