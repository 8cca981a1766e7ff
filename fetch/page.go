package fetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"unsafe"

	"github.com/callstream/callstream/internal/jsonscan"
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
	// scans holds, per row, the members jsonscan recorded for it (nil for
	// a row that is not an object), cut from members.
	scans   [][]jsonscan.Member
	members []jsonscan.Member
	spans   [][2]int // per row, its members' extent in members
}

// pageBuffers keeps page buffers from one Calls to the next: a backfill
// calls once per window, and growing a page's body, rows and scans from
// nothing each time cost more than the page's own scan.
var pageBuffers = sync.Pool{New: func() any { return new(pageBuffer) }}

// maxPageBuffer bounds the body buffer kept between pages: an unusually
// large page is read, but its buffer is not held on to afterwards.
const maxPageBuffer = 16 << 20

// read fills p.body with all of r, reusing the buffer; sizeHint is the
// Content-Length or -1. r is already decompressed (net/http undoes the
// gzip it asked for), so limit bounds the page as decoded: reading stops
// at limit+1 bytes, which cuts a gzip bomb off without inflating the rest.
func (p *pageBuffer) read(r io.Reader, sizeHint, limit int64) error {
	if sizeHint > limit {
		// Refused before a byte is read: the server says it is too big.
		return &PageTooLargeError{Limit: limit, ContentLength: sizeHint}
	}
	if cap(p.body) > maxPageBuffer {
		p.body = nil
	}
	b := p.body[:0]
	if sizeHint > 0 && int64(cap(b)) < sizeHint+1 {
		b = make([]byte, 0, sizeHint+1) // +1 so the final Read sees EOF without growing
	}
	if cap(b) == 0 {
		b = make([]byte, 0, min(64<<10, limit+1))
	}
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				p.body = b[:0]
				return &PageTooLargeError{Limit: limit, ContentLength: sizeHint}
			}
			// Grow as append does, but never past limit+1: a page one byte
			// over the cap is refused without a buffer twice its size.
			grown := append(b, 0)[:len(b)]
			if int64(cap(grown)) > limit+1 {
				grown = make([]byte, len(b), limit+1)
				copy(grown, b)
			}
			b = grown
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			if int64(len(b)) > limit {
				p.body = b[:0]
				return &PageTooLargeError{Limit: limit, ContentLength: sizeHint}
			}
			p.body = b
			return nil
		}
		if err != nil {
			p.body = b
			return err
		}
	}
}

// PageTooLargeError is a page whose decoded body is larger than
// Config.MaxPageBytes. It is permanent: Graph sends the same page again,
// and reading it again costs the same without changing the answer.
type PageTooLargeError struct {
	// Limit is Config.MaxPageBytes.
	Limit int64
	// ContentLength is the size the server declared, or -1 (or 0) if it
	// declared none and the excess was found while reading.
	ContentLength int64
}

func (e *PageTooLargeError) Error() string {
	declared := ""
	if e.ContentLength > e.Limit {
		declared = fmt.Sprintf(" (Content-Length %d)", e.ContentLength)
	}
	return fmt.Sprintf("page body is larger than %d bytes%s, the cap set by GRAPH_MAX_PAGE_BYTES; a Graph page of 1,000 rows is about 1 MB, so this is not Graph's answer or its rows are unusually large (raise the setting only if so)",
		e.Limit, declared)
}

// decode reads one page from r and returns its nextLink ("" on the last
// page); the rows are left in p.rows.
func (p *pageBuffer) decode(r io.Reader, sizeHint, limit int64) (string, error) {
	if cap(p.members) > maxPageBuffer/int(unsafe.Sizeof(jsonscan.Member{})) {
		p.members = nil // as for the body: an unusual page's scan is not kept
	}
	p.rows, p.scans, p.members, p.spans = p.rows[:0], p.scans[:0], p.members[:0], p.spans[:0]
	if err := p.read(r, sizeHint, limit); err != nil {
		return "", err
	}
	next, err := p.split(p.body)
	if err != nil {
		p.rows = p.rows[:0]
		return next, err
	}
	// Cut the scans only now: members may have moved while it grew.
	for _, sp := range p.spans {
		var scan []jsonscan.Member
		if sp[0] >= 0 {
			scan = p.members[sp[0]:sp[1]:sp[1]]
		}
		p.scans = append(p.scans, scan)
	}
	return next, nil
}

// split walks the page object {"value":[...], "@odata.nextLink":"...", ...}.
func (p *pageBuffer) split(s []byte) (string, error) {
	i := jsonscan.SkipSpace(s, 0)
	if i == len(s) {
		return "", io.ErrUnexpectedEOF
	}
	if s[i] != '{' {
		return "", fmt.Errorf("want '{' at byte %d, got %q", i, s[i])
	}
	i = jsonscan.SkipSpace(s, i+1)
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
			end, _, err := jsonscan.String(s, i)
			if err != nil {
				return "", err
			}
			key := s[i:end]
			i = jsonscan.SkipSpace(s, end)
			if i == len(s) {
				return "", io.ErrUnexpectedEOF
			}
			if s[i] != ':' {
				return "", fmt.Errorf("want ':' at byte %d", i)
			}
			i = jsonscan.SkipSpace(s, i+1)
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
				end, err := jsonscan.Value(s, i, 0)
				if err != nil {
					return "", fmt.Errorf("@odata.nextLink: %w", err)
				}
				if err := json.Unmarshal(s[i:end], &next); err != nil {
					return "", fmt.Errorf("@odata.nextLink: %w", err)
				}
				i = end
			default:
				end, err := jsonscan.Value(s, i, 0)
				if err != nil {
					return "", fmt.Errorf("%s: %w", name, err)
				}
				i = end
			}
			i = jsonscan.SkipSpace(s, i)
			if i == len(s) {
				return "", io.ErrUnexpectedEOF
			}
			if s[i] == ',' {
				i = jsonscan.SkipSpace(s, i+1)
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
	if jsonscan.SkipSpace(s, i) != len(s) {
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
	i = jsonscan.SkipSpace(s, i+1)
	if i < len(s) && s[i] == ']' {
		return i + 1, nil
	}
	for {
		// A row's depth counts from the row itself, as when it is read on
		// its own.
		var end int
		var err error
		span := [2]int{-1, -1}
		if i < len(s) && s[i] == '{' {
			span[0] = len(p.members)
			end, p.members, err = jsonscan.Object(s, i, 0, p.members)
			span[1] = len(p.members)
		} else {
			end, err = jsonscan.Value(s, i, 0)
		}
		if jsonscan.TooDeep(err) {
			// One row nested beyond the limit no decoder accepts: hand it
			// on whole and unscanned, so that the schema layer rejects it
			// as a bad row (dead letter) with its reason, instead of the
			// page failing to decode on every try. The rest of it must
			// still be JSON, or the page is garbled after all.
			p.members = p.members[:max(span[0], 0)]
			span = [2]int{-1, -1}
			end, err = jsonscan.SkipDeep(s, i)
		}
		if err != nil {
			return 0, fmt.Errorf("value[%d]: %w", len(p.rows), err)
		}
		p.rows = append(p.rows, json.RawMessage(s[i:end:end]))
		p.spans = append(p.spans, span)
		i = jsonscan.SkipSpace(s, end)
		if i == len(s) {
			return 0, io.ErrUnexpectedEOF
		}
		switch s[i] {
		case ',':
			i = jsonscan.SkipSpace(s, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, fmt.Errorf("want ',' or ']' at byte %d", i)
		}
	}
}
