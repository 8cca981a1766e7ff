package graphsim

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// MalformKind is a way a simulated row is unusable, for dead-letter tests.
// Each kind names one property the client's schema check must reject.
type MalformKind int

const (
	// MalformNone means the row is well formed.
	MalformNone MalformKind = iota
	// MalformNoID leaves the row without a usable id: the property is
	// absent, null or "" (chosen per row).
	MalformNoID
	// MalformNoCorrelationID does the same to correlationId. Direct
	// Routing only: PSTN rows have no correlationId.
	MalformNoCorrelationID
	// MalformWrongType gives one property a value of the wrong JSON type
	// (chosen per row): for Direct Routing duration or successfulCall as a
	// string, or startDateTime as a number; for PSTN charge or duration as a
	// string, or startDateTime as a number.
	MalformWrongType
	// MalformOutOfRange gives one property a value of the right JSON type
	// that the schema cannot hold: a Direct Routing duration beyond int32,
	// a PSTN charge with nine fractional digits.
	MalformOutOfRange
)

// String names the kind as its constant does, without the prefix.
func (k MalformKind) String() string {
	switch k {
	case MalformNone:
		return "None"
	case MalformNoID:
		return "NoID"
	case MalformNoCorrelationID:
		return "NoCorrelationID"
	case MalformWrongType:
		return "WrongType"
	case MalformOutOfRange:
		return "OutOfRange"
	}
	return "MalformKind(" + strconv.Itoa(int(k)) + ")"
}

// Malformation makes chosen rows of one function malformed. Row i of the
// function's data set (Row.Index, the same whatever window or page serves
// it) matches when i % Every == Offset % Every; the first matching
// Malformation in Config.Malformed applies. A malformed row is malformed in
// its v1.0 and beta forms alike, and in the ground truth (Row.JSON,
// Row.Malformed, Row.MalformedField).
type Malformation struct {
	// Function is DirectRoutingCalls or PstnCalls.
	Function Function
	Kind     MalformKind
	// Every is the period of the rows this applies to; >= 1.
	Every int
	// Offset selects the residue: Every 100, Offset 7 matches rows 7, 107, ...
	Offset int
}

func validateMalformed(ms []Malformation) error {
	var errs []error
	for k, m := range ms {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("graphsim: Malformed[%d]: "+format, append([]any{k}, args...)...))
		}
		if m.Function != DirectRoutingCalls && m.Function != PstnCalls {
			bad("unknown Function %q", m.Function)
		}
		if m.Every < 1 {
			bad("Every must be >= 1, got %d", m.Every)
		}
		switch m.Kind {
		case MalformNoID, MalformWrongType, MalformOutOfRange:
		case MalformNoCorrelationID:
			if m.Function == PstnCalls {
				bad("PSTN rows have no correlationId")
			}
		default:
			bad("Kind %v is not a malformation", m.Kind)
		}
	}
	return errors.Join(errs...)
}

// malformation returns the Malformation applying to row i of fn, if any.
func (s *Server) malformation(fn Function, i int) *Malformation {
	for k := range s.cfg.Malformed {
		m := &s.cfg.Malformed[k]
		if m.Function == fn && mod(i, m.Every) == mod(m.Offset, m.Every) {
			return m
		}
	}
	return nil
}

// appendServed appends row i of fn exactly as the endpoint serves it,
// malformation included.
func (s *Server) appendServed(dst []byte, fn Function, i int, beta bool) []byte {
	if s.ends != nil && fn == DirectRoutingCalls && !beta {
		start := 0
		if i > 0 {
			start = s.ends[i-1]
		}
		return append(dst, s.rendered[start:s.ends[i]]...)
	}
	ds := s.dataset(fn)
	start := len(dst)
	if fn == PstnCalls {
		dst = ds.appendPstnRow(dst, i, beta)
	} else {
		dst = ds.appendRow(dst, i, beta)
	}
	if m := s.malformation(fn, i); m != nil {
		row, _ := ds.malform(dst[start:], fn, i, m.Kind)
		dst = append(dst[:start], row...)
	}
	return dst
}

// markMalformed fills r's malformation fields from the configuration.
func (s *Server) markMalformed(r *Row, fn Function) {
	if m := s.malformation(fn, r.Index); m != nil {
		ds := s.dataset(fn)
		var row []byte
		if fn == PstnCalls {
			row = ds.appendPstnRow(nil, r.Index, false)
		} else {
			row = ds.appendRow(nil, r.Index, false)
		}
		_, r.MalformedField = ds.malform(row, fn, r.Index, m.Kind)
		r.Malformed = m.Kind
	}
}

// malformSalt separates the choice of malformation variant from every
// other hash of the row.
const malformSalt = 0x94D049BB133111EB

// malform returns a malformed copy of the well-formed row i of fn and the
// name of the property it broke. The row's property order is fixed by the
// generators, so plain byte surgery on known keys is enough.
func (s *Server) malform(row []byte, fn Function, i int, kind MalformKind) ([]byte, string) {
	variant := mix64(s.h(i, tagID2)^malformSalt) % 3
	startMillis := floorDiv(s.slotStart(i).ns, nsMilli)
	pstn := fn == PstnCalls
	switch kind {
	case MalformNoID, MalformNoCorrelationID:
		key := "id"
		if kind == MalformNoCorrelationID {
			key = "correlationId"
		}
		switch variant {
		case 0:
			return removeProperty(row, key), key
		case 1:
			return replaceValue(row, key, []byte("null")), key
		}
		return replaceValue(row, key, []byte(`""`)), key
	case MalformWrongType:
		key := [...]string{"duration", "successfulCall", "startDateTime"}[variant]
		if pstn {
			key = [...]string{"charge", "duration", "startDateTime"}[variant]
		}
		if key == "startDateTime" {
			return replaceValue(row, key, strconv.AppendInt(nil, startMillis, 10)), key
		}
		// The value's own text, quoted: "219", "true", "0.0760", "null".
		v := valueOf(row, key)
		return replaceValue(row, key, append(append([]byte{'"'}, v...), '"')), key
	case MalformOutOfRange:
		if pstn {
			return replaceValue(row, "charge", []byte("0.123456789")), "charge"
		}
		return replaceValue(row, "duration", strconv.AppendInt(nil, 3_000_000_000+int64(i%1000), 10)), "duration"
	}
	panic(fmt.Sprintf("graphsim: malform kind %v", kind))
}

// propertyAt returns the bounds of key's property in a row the generators
// wrote: [start, end) covers `"key":value` and vstart where the value
// begins. Only top-level scalar values are ever looked up.
func propertyAt(row []byte, key string) (start, vstart, end int) {
	pat := []byte(`"` + key + `":`)
	for off := 0; ; {
		k := bytes.Index(row[off:], pat)
		if k < 0 {
			panic(fmt.Sprintf("graphsim: property %q not in generated row %s", key, row))
		}
		k += off
		// A key follows '{' or ','; anything else is inside a string.
		if k > 0 && (row[k-1] == '{' || row[k-1] == ',') {
			start, vstart = k, k+len(pat)
			break
		}
		off = k + 1
	}
	end = vstart
	if row[end] == '"' {
		end++
		for row[end] != '"' {
			if row[end] == '\\' {
				end++
			}
			end++
		}
		end++
	} else {
		for row[end] != ',' && row[end] != '}' {
			end++
		}
	}
	return start, vstart, end
}

func valueOf(row []byte, key string) []byte {
	_, v, end := propertyAt(row, key)
	return row[v:end]
}

// replaceValue returns a copy of row with key's value replaced by val.
func replaceValue(row []byte, key string, val []byte) []byte {
	_, v, end := propertyAt(row, key)
	out := make([]byte, 0, len(row)+len(val))
	out = append(out, row[:v]...)
	out = append(out, val...)
	return append(out, row[end:]...)
}

// removeProperty returns a copy of row without key, and the comma that
// separated it from its neighbour.
func removeProperty(row []byte, key string) []byte {
	start, _, end := propertyAt(row, key)
	if row[end] == ',' {
		end++
	} else if row[start-1] == ',' {
		start--
	}
	out := make([]byte, 0, len(row))
	out = append(out, row[:start]...)
	return append(out, row[end:]...)
}
