package schemas

import "time"

// DayKey returns the record key of an aggregate row (Codec.Aggregate) that
// covers the UTC day of day: groupKey, the JSON array Encode returns as
// the key, with the day as its first element, e.g.
// ["2026-12-01","<userId>","US","International","USD"]. A JSON array keeps
// the parts apart whatever they contain, and consumers can parse it.
func DayKey(day time.Time, groupKey string) string {
	var buf [48]byte
	b := append(buf[:0], `["`...)
	b = day.UTC().AppendFormat(b, time.DateOnly)
	b = append(b, '"')
	if len(groupKey) > 2 && groupKey[0] == '[' {
		b = append(b, ',')
		return string(b) + groupKey[1:]
	}
	return string(append(b, ']')) // no grouping parts: the day alone
}

// appendKeyPart appends s as a JSON string, or null when s is nil, for an
// aggregate's key. The parts are identity strings, so they are valid UTF-8
// (the parser refuses them otherwise); only quotes, backslashes and
// control characters need escaping.
func appendKeyPart(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(*s); i++ {
		c := (*s)[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
