// Package jsonscan checks JSON text against the grammar, accepting exactly
// what encoding/json accepts, in one pass over the bytes, and records where
// the members of an object are. It exists so that every byte Graph sends is
// scanned once: fetch checks each page and splits it into rows with it,
// recording each row's members, and schemas reads the rows' fields from
// those records instead of scanning the rows again.
//
// The functions take a string or a byte slice alike. Offsets are byte
// indexes; a text cut off before its end is io.ErrUnexpectedEOF, any other
// violation a *SyntaxError.
package jsonscan

import (
	"fmt"
	"io"
	"math/bits"
	"strconv"
)

// Text is JSON text in either form.
type Text interface{ ~string | ~[]byte }

// MaxDepth is encoding/json's nesting limit, kept so that text it refuses
// is refused here too.
const MaxDepth = 10000

// errTooDeep is the message of the SyntaxError for nesting beyond MaxDepth,
// encoding/json's own wording.
const errTooDeep = "exceeded max depth"

// TooDeep reports whether err is the SyntaxError for nesting beyond
// MaxDepth, as opposed to text that breaks the grammar: a caller that
// splits a page into rows can then treat the row as a bad row rather than
// the page as garbled.
func TooDeep(err error) bool {
	se, ok := err.(*SyntaxError)
	return ok && se.Msg == errTooDeep
}

// SyntaxError is text that breaks the JSON grammar.
type SyntaxError struct {
	Msg    string
	Offset int
}

func (e *SyntaxError) Error() string { return e.Msg + " at byte " + strconv.Itoa(e.Offset) }

// Member is one property of an object, as offsets from the object's
// opening brace: the name's text between its quotes and the value's JSON
// text. Plain marks a string (name or value) that is ASCII without escapes,
// so that its text between the quotes is its value.
type Member struct {
	NameStart, NameEnd   int32
	ValueStart, ValueEnd int32
	PlainName            bool
	PlainValue           bool
}

// SkipSpace returns the index of the first non-whitespace byte at or after
// s[i], or len(s).
func SkipSpace[T Text](s T, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Object checks the object whose opening brace is s[i] and returns the
// index just past its closing brace, with its members appended to members.
// depth is the number of containers around the object; the object's own
// nested values count from it towards MaxDepth.
func Object[T Text](s T, i, depth int, members []Member) (end int, out []Member, err error) {
	if depth+1 > MaxDepth {
		return 0, members, &SyntaxError{errTooDeep, i}
	}
	start := i
	i = SkipSpace(s, i+1)
	if i == len(s) {
		return 0, members, io.ErrUnexpectedEOF
	}
	if s[i] == '}' {
		return i + 1, members, nil
	}
	for {
		if i == len(s) {
			return 0, members, io.ErrUnexpectedEOF
		}
		if s[i] != '"' {
			return 0, members, &SyntaxError{fmt.Sprintf("invalid character %q looking for object key", s[i]), i}
		}
		nameEnd, plainName, err := String(s, i)
		if err != nil {
			return 0, members, err
		}
		m := Member{NameStart: int32(i + 1 - start), NameEnd: int32(nameEnd - 1 - start), PlainName: plainName}
		i = SkipSpace(s, nameEnd)
		if i == len(s) {
			return 0, members, io.ErrUnexpectedEOF
		}
		if s[i] != ':' {
			return 0, members, &SyntaxError{fmt.Sprintf("invalid character %q after object key", s[i]), i}
		}
		i = SkipSpace(s, i+1)
		if i == len(s) {
			return 0, members, io.ErrUnexpectedEOF
		}
		valueStart := i
		// Scalars, which are nearly all of a row, are checked here; only
		// nested values go through Value and its stack.
		switch c := s[i]; {
		case c == '"':
			i, m.PlainValue, err = String(s, i)
		case c == '-' || (c >= '0' && c <= '9'):
			i, err = Number(s, i)
		case c == 'n':
			i, err = literal(s, i, "null")
		case c == 't':
			i, err = literal(s, i, "true")
		case c == 'f':
			i, err = literal(s, i, "false")
		default:
			i, err = Value(s, i, depth+1)
		}
		if err != nil {
			return 0, members, err
		}
		m.ValueStart, m.ValueEnd = int32(valueStart-start), int32(i-start)
		members = append(members, m)
		i = SkipSpace(s, i)
		if i == len(s) {
			return 0, members, io.ErrUnexpectedEOF
		}
		switch s[i] {
		case ',':
			i = SkipSpace(s, i+1)
		case '}':
			return i + 1, members, nil
		default:
			return 0, members, &SyntaxError{fmt.Sprintf("invalid character %q after object element", s[i]), i}
		}
	}
}

// Value checks the JSON value starting at s[i] and returns the index just
// past it. depth is the number of containers around the value.
func Value[T Text](s T, i, depth int) (int, error) {
	return value(s, i, depth, MaxDepth)
}

// SkipDeep is Value without the nesting limit: it finds the end of a value
// nested beyond MaxDepth, still checking the grammar, so that such a value
// can be set aside whole. Its stack takes a byte per level, so its memory
// is bounded by the text's length.
func SkipDeep[T Text](s T, i int) (int, error) {
	return value(s, i, 0, -1)
}

// value is Value with limit as the nesting limit, or none if negative.
func value[T Text](s T, i, depth, limit int) (int, error) {
	// stack holds the open containers, '{' or '['. Rows nest two or three
	// levels, so the fixed array keeps this allocation-free.
	var fixed [32]byte
	stack := fixed[:0]
	for {
		// A value starts at s[i].
		if i == len(s) {
			return 0, io.ErrUnexpectedEOF
		}
		switch c := s[i]; {
		case c == '"':
			end, _, err := String(s, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c == '-' || (c >= '0' && c <= '9'):
			end, err := Number(s, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c == 't':
			end, err := literal(s, i, "true")
			if err != nil {
				return 0, err
			}
			i = end
		case c == 'f':
			end, err := literal(s, i, "false")
			if err != nil {
				return 0, err
			}
			i = end
		case c == 'n':
			end, err := literal(s, i, "null")
			if err != nil {
				return 0, err
			}
			i = end
		case c == '{' || c == '[':
			if limit >= 0 && depth+len(stack) >= limit {
				return 0, &SyntaxError{errTooDeep, i}
			}
			stack = append(stack, c)
			i = SkipSpace(s, i+1)
			if i == len(s) {
				return 0, io.ErrUnexpectedEOF
			}
			if (c == '{' && s[i] == '}') || (c == '[' && s[i] == ']') {
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				var err error
				if i, err = memberName(s, i); err != nil {
					return 0, err
				}
			}
			continue // the first element or member value
		default:
			return 0, &SyntaxError{fmt.Sprintf("invalid character %q looking for beginning of value", c), i}
		}
		// A value ended at s[i]: close containers or move to the next
		// element.
		for {
			if len(stack) == 0 {
				return i, nil
			}
			i = SkipSpace(s, i)
			if i == len(s) {
				return 0, io.ErrUnexpectedEOF
			}
			top := stack[len(stack)-1]
			c := s[i]
			if c == ',' {
				i = SkipSpace(s, i+1)
				if top == '{' {
					var err error
					if i, err = memberName(s, i); err != nil {
						return 0, err
					}
				}
				break
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return 0, &SyntaxError{fmt.Sprintf("invalid character %q after %s element", c, containerName(top)), i}
		}
	}
}

func containerName(c byte) string {
	if c == '{' {
		return "object"
	}
	return "array"
}

// memberName checks `"name" :` at s[i] and returns the index of the
// member's value.
func memberName[T Text](s T, i int) (int, error) {
	if i == len(s) {
		return 0, io.ErrUnexpectedEOF
	}
	if s[i] != '"' {
		return 0, &SyntaxError{fmt.Sprintf("invalid character %q looking for object key", s[i]), i}
	}
	end, _, err := String(s, i)
	if err != nil {
		return 0, err
	}
	i = SkipSpace(s, end)
	if i == len(s) {
		return 0, io.ErrUnexpectedEOF
	}
	if s[i] != ':' {
		return 0, &SyntaxError{fmt.Sprintf("invalid character %q after object key", s[i]), i}
	}
	return SkipSpace(s, i+1), nil
}

// String checks the string whose opening quote is s[i] and returns the
// index just past its closing quote, and whether it is plain: ASCII
// without escapes. Like encoding/json it lets invalid UTF-8 through.
func String[T Text](s T, i int) (end int, plain bool, err error) {
	plain = true
	for i++; ; {
		var ascii bool
		i, ascii = PlainRun(s, i)
		plain = plain && ascii
		if i == len(s) {
			return 0, false, io.ErrUnexpectedEOF
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1, plain, nil
		case c == '\\':
			plain = false
			if i+1 == len(s) {
				return 0, false, io.ErrUnexpectedEOF
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) {
					return 0, false, io.ErrUnexpectedEOF
				}
				for k := i + 2; k < i+6; k++ {
					if h := s[k]; !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, false, &SyntaxError{"invalid \\u escape in string", i}
					}
				}
				i += 6
			default:
				return 0, false, &SyntaxError{"invalid escape in string", i}
			}
		default:
			return 0, false, &SyntaxError{"control character in string", i}
		}
	}
}

// PlainRun returns the index of the first byte at or after s[i] that ends
// a run of plain string content — '"', '\\' or a control character — or
// len(s), and whether the run is ASCII. Every byte of a page is in some
// string, so it tests eight bytes at a time: in each of the three masks
// below, a byte's high bit is set where the byte matches, and possibly in
// bytes above a match (a borrow), never below one, so the lowest bit set
// marks the first match.
func PlainRun[T Text](s T, i int) (int, bool) {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	var seen uint64 // the bytes of the run, ORed
	for ; i+8 <= len(s); i += 8 {
		x := load64(s, i)
		q := x ^ ('"' * ones)
		b := x ^ ('\\' * ones)
		if m := ((q-ones)&^q | (b-ones)&^b | (x-0x20*ones)&^x) & highs; m != 0 {
			n := bits.TrailingZeros64(m) / 8
			seen |= x & (1<<(8*n) - 1) // the bytes below the match
			return i + n, seen&highs == 0
		}
		seen |= x
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 {
			break
		}
		seen |= uint64(c)
	}
	return i, seen&highs == 0
}

// load64 reads s[i:i+8] as a little-endian word; the compiler merges the
// byte loads into one.
func load64[T Text](s T, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// Number checks the number starting at s[i] and returns the index just
// past it. What follows it is the caller's to check (the "1" of "01").
func Number[T Text](s T, i int) (int, error) {
	start := i
	bad := func() (int, error) { return 0, &SyntaxError{"invalid number", start} }
	if s[i] == '-' {
		i++
	}
	switch {
	case i == len(s):
		return 0, io.ErrUnexpectedEOF
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		i = digitsEnd(s, i)
	default:
		return bad()
	}
	if i < len(s) && s[i] == '.' {
		j := digitsEnd(s, i+1)
		if j == i+1 {
			if j == len(s) {
				return 0, io.ErrUnexpectedEOF
			}
			return bad()
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digitsEnd(s, i)
		if j == i {
			if j == len(s) {
				return 0, io.ErrUnexpectedEOF
			}
			return bad()
		}
		i = j
	}
	return i, nil
}

func digitsEnd[T Text](s T, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func literal[T Text](s T, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k == len(s) {
			return 0, io.ErrUnexpectedEOF
		}
		if s[i+k] != lit[k] {
			return 0, &SyntaxError{"invalid literal", i}
		}
	}
	return i + len(lit), nil
}
