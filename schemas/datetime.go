package schemas

import "time"

// parseDateTimeOffset parses an Edm.DateTimeOffset as Graph writes it:
// RFC 3339 "YYYY-MM-DDTHH:MM:SS", an optional fraction of one or more digits
// (Graph varies between 0 and 7; digits past nanoseconds are dropped), then
// "Z" or "±HH:MM". It returns the instant in UTC. minValue reports .NET's
// DateTimeOffset.MinValue (0001-01-01T00:00:00 wall clock, any zero fraction,
// any offset), which Graph sends in place of null.
//
// It is hand-written rather than time.Parse(time.RFC3339Nano, ...) because it
// runs four times per row and time.Parse allocates (the string conversion and
// a FixedZone per non-Z offset); it is also stricter than time.Parse, which
// accepts a comma before the fraction and offsets up to +24:60.
func parseDateTimeOffset(s string) (t time.Time, minValue, ok bool) {
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false, false
	}

	i := 19
	nsec := 0
	if s[i] == '.' {
		i++
		start := i
		scale := 100_000_000
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			nsec += int(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return time.Time{}, false, false
		}
	}

	var offset int // seconds east of UTC
	switch rest := s[i:]; {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits(rest[1:3])
		om, okm := digits(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false, false
	}

	minValue = year == 1 && month == 1 && day == 1 && hour == 0 && minute == 0 && sec == 0 && nsec == 0
	// time.Unix on seconds computed here, rather than time.Date, which
	// normalises every field first: this runs four times per row.
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), minValue, true
}

// daysFromCivil returns the days from 1970-01-01 to the proleptic Gregorian
// date (Howard Hinnant's days_from_civil), for valid dates of years 0–9999.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400                  // [0, 399]
	doy := (153*((m+9)%12)+2)/5 + d - 1 // [0, 365], from March 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// digits parses s as an unsigned decimal made only of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days in month of the proleptic Gregorian
// year, which time.Date would otherwise silently normalise (Feb 30 → Mar 2).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}
