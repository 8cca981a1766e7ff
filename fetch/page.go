package fetch

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strconv"
)

// pageBuffer reads a page body into one reused buffer and splits it into
// the raw JSON of its rows, which alias that buffer. The split is
// hand-written rather than done with encoding/json's Decoder because it
// runs over every byte Graph sends, and the Decoder's token API costs more
// than the rest of the row path together. It still checks the whole page
// against the JSON grammar, so a body garbled in transit is a decode error
// (and the page is fetched again) exactly as with the Decoder; the rows'
// meaning is left to the schema layer.
type pageBuffer struct {
	body []byte
	rows []json.RawMessage
}

// maxPageBuffer bounds the body buffer kept between pages: an unusually
// large page is read, but its buffer is not held on to afterwards.
const maxPageBuffer = 16 << 20

// read fills p.body with all of r, reusing the buffer; sizeHint is the
// Content-Length or -1.
func (p *pageBuffer) read(r io.Reader, sizeHint int64) error {
	if cap(p.body) > maxPageBuffer {
		p.body = nil
	}
	b := p.body[:0]
	if sizeHint > 0 && sizeHint < 1<<30 && int64(cap(b)) < sizeHint+1 {
		b = make([]byte, 0, sizeHint+1) // +1 so the final Read sees EOF without growing
	}
	if cap(b) == 0 {
		b = make([]byte, 0, 64<<10)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			p.body = b
			return nil
		}
		if err != nil {
			p.body = b
			return err
		}
	}
}

// decode reads one page from r and returns its nextLink ("" on the last
// page); the rows are left in p.rows.
func (p *pageBuffer) decode(r io.Reader, sizeHint int64) (string, error) {
	p.rows = p.rows[:0]
	if err := p.read(r, sizeHint); err != nil {
		return "", err
	}
	next, err := p.split(p.body)
	if err != nil {
		p.rows = p.rows[:0]
	}
	return next, err
}

// split walks the page object {"value":[...], "@odata.nextLink":"...", ...}.
func (p *pageBuffer) split(s []byte) (string, error) {
	i := skipWS(s, 0)
	if i == len(s) {
		return "", io.ErrUnexpectedEOF
	}
	if s[i] != '{' {
		return "", fmt.Errorf("want '{' at byte %d, got %q", i, s[i])
	}
	i = skipWS(s, i+1)
	var next string
	sawValue := false
	if i < len(s) && s[i] == '}' {
		i++
	} else {
		for {
			if i == len(s) {
				return "", io.ErrUnexpectedEOF
			}
			if s[i] != '"' {
				return "", fmt.Errorf("want property name at byte %d", i)
			}
			end, err := scanJSONString(s, i)
			if err != nil {
				return "", err
			}
			key := s[i:end]
			i = skipWS(s, end)
			if i == len(s) {
				return "", io.ErrUnexpectedEOF
			}
			if s[i] != ':' {
				return "", fmt.Errorf("want ':' at byte %d", i)
			}
			i = skipWS(s, i+1)
			name, err := propertyName(key)
			if err != nil {
				return "", err
			}
			switch name {
			case "value":
				sawValue = true
				if i, err = p.splitRows(s, i); err != nil {
					return "", fmt.Errorf("value: %w", err)
				}
			case "@odata.nextLink":
				end, err := scanJSONValue(s, i)
				if err != nil {
					return "", fmt.Errorf("@odata.nextLink: %w", err)
				}
				if err := json.Unmarshal(s[i:end], &next); err != nil {
					return "", fmt.Errorf("@odata.nextLink: %w", err)
				}
				i = end
			default:
				end, err := scanJSONValue(s, i)
				if err != nil {
					return "", fmt.Errorf("%s: %w", name, err)
				}
				i = end
			}
			i = skipWS(s, i)
			if i == len(s) {
				return "", io.ErrUnexpectedEOF
			}
			if s[i] == ',' {
				i = skipWS(s, i+1)
				continue
			}
			if s[i] == '}' {
				i++
				break
			}
			return "", fmt.Errorf("want ',' or '}' at byte %d", i)
		}
	}
	// Anything but whitespace after the object means the body is not what
	// Graph sends.
	if skipWS(s, i) != len(s) {
		return "", errors.New("trailing data after page object")
	}
	if !sawValue {
		return "", errors.New(`page has no "value" array`)
	}
	return next, nil
}

// propertyName decodes a property name token (quotes included); names
// without escapes, which is every name Graph sends, cost no allocation.
func propertyName(tok []byte) (string, error) {
	body := tok[1 : len(tok)-1]
	for _, c := range body {
		if c == '\\' {
			var name string
			if err := json.Unmarshal(tok, &name); err != nil {
				return "", err
			}
			return name, nil
		}
	}
	switch string(body) { // no allocation: the compiler compares in place
	case "value":
		return "value", nil
	case "@odata.nextLink":
		return "@odata.nextLink", nil
	}
	return "", nil // a property skipped whatever its name
}

// splitRows splits the array starting at s[i] into p.rows and returns the
// index just past it.
func (p *pageBuffer) splitRows(s []byte, i int) (int, error) {
	if i == len(s) {
		return 0, io.ErrUnexpectedEOF
	}
	if s[i] != '[' {
		return 0, fmt.Errorf("want '[' at byte %d, got %q", i, s[i])
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := scanJSONValue(s, i)
		if err != nil {
			return 0, fmt.Errorf("value[%d]: %w", len(p.rows), err)
		}
		p.rows = append(p.rows, json.RawMessage(s[i:end:end]))
		i = skipWS(s, end)
		if i == len(s) {
			return 0, io.ErrUnexpectedEOF
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, fmt.Errorf("want ',' or ']' at byte %d", i)
		}
	}
}

func skipWS(s []byte, i int) int {
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

// maxDepth is encoding/json's nesting limit, kept so a page the Decoder
// refused is still refused.
const maxDepth = 10000

// syntaxError is a page that breaks the JSON grammar.
type syntaxError struct {
	msg string
	off int
}

func (e *syntaxError) Error() string { return e.msg + " at byte " + strconv.Itoa(e.off) }

// scanJSONValue checks the JSON value starting at s[i] against the grammar
// and returns the index just past it. A value cut off by the end of s is
// io.ErrUnexpectedEOF.
func scanJSONValue(s []byte, i int) (int, error) {
	// stack holds the open containers: '{' or '['. Rows nest two or three
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
			end, err := scanJSONString(s, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c == '-' || (c >= '0' && c <= '9'):
			end, err := scanJSONNumber(s, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c == 't':
			end, err := scanLit(s, i, "true")
			if err != nil {
				return 0, err
			}
			i = end
		case c == 'f':
			end, err := scanLit(s, i, "false")
			if err != nil {
				return 0, err
			}
			i = end
		case c == 'n':
			end, err := scanLit(s, i, "null")
			if err != nil {
				return 0, err
			}
			i = end
		case c == '{' || c == '[':
			if len(stack) >= maxDepth {
				return 0, &syntaxError{"exceeded max depth", i}
			}
			stack = append(stack, c)
			i = skipWS(s, i+1)
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
				if i, err = scanMemberName(s, i); err != nil {
					return 0, err
				}
			}
			continue // the first element or member value
		default:
			return 0, &syntaxError{fmt.Sprintf("invalid character %q looking for beginning of value", c), i}
		}
		// A value ended at s[i]: close containers or move to the next
		// element.
		for {
			if len(stack) == 0 {
				return i, nil
			}
			i = skipWS(s, i)
			if i == len(s) {
				return 0, io.ErrUnexpectedEOF
			}
			top := stack[len(stack)-1]
			c := s[i]
			if c == ',' {
				i = skipWS(s, i+1)
				if top == '{' {
					var err error
					if i, err = scanMemberName(s, i); err != nil {
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
			return 0, &syntaxError{fmt.Sprintf("invalid character %q after %s element", c, containerName(top)), i}
		}
	}
}

func containerName(c byte) string {
	if c == '{' {
		return "object"
	}
	return "array"
}

// scanMemberName checks `"name" :` at s[i] and returns the index of the
// member's value.
func scanMemberName(s []byte, i int) (int, error) {
	if i == len(s) {
		return 0, io.ErrUnexpectedEOF
	}
	if s[i] != '"' {
		return 0, &syntaxError{fmt.Sprintf("invalid character %q looking for object key", s[i]), i}
	}
	end, err := scanJSONString(s, i)
	if err != nil {
		return 0, err
	}
	i = skipWS(s, end)
	if i == len(s) {
		return 0, io.ErrUnexpectedEOF
	}
	if s[i] != ':' {
		return 0, &syntaxError{fmt.Sprintf("invalid character %q after object key", s[i]), i}
	}
	return skipWS(s, i+1), nil
}

// scanJSONString checks the string whose opening quote is s[i] and returns
// the index just past its closing quote.
func scanJSONString(s []byte, i int) (int, error) {
	for i++; ; {
		i = plainRun(s, i)
		if i == len(s) {
			return 0, io.ErrUnexpectedEOF
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 == len(s) {
				return 0, io.ErrUnexpectedEOF
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) {
					return 0, io.ErrUnexpectedEOF
				}
				for _, h := range s[i+2 : i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, &syntaxError{"invalid \\u escape in string", i}
					}
				}
				i += 6
			default:
				return 0, &syntaxError{"invalid escape in string", i}
			}
		default:
			return 0, &syntaxError{"control character in string", i}
		}
	}
}

// plainRun returns the index of the first byte at or after s[i] that ends
// a run of plain string content — '"', '\\' or a control character — or
// len(s). Every byte of every page is in some string, so it tests eight
// bytes at a time: in each of the three masks below, a byte's high bit is
// set where the byte matches, and possibly in bytes above a match (a
// borrow), never below one, so the lowest bit set marks the first match.
func plainRun(s []byte, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		q := x ^ ('"' * ones)
		b := x ^ ('\\' * ones)
		if m := ((q-ones)&^q | (b-ones)&^b | (x-0x20*ones)&^x) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

func scanJSONNumber(s []byte, i int) (int, error) {
	start := i
	bad := func() (int, error) { return 0, &syntaxError{"invalid number", start} }
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

func digitsEnd(s []byte, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func scanLit(s []byte, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k == len(s) {
			return 0, io.ErrUnexpectedEOF
		}
		if s[i+k] != lit[k] {
			return 0, &syntaxError{"invalid literal", i}
		}
	}
	return i + len(lit), nil
}
