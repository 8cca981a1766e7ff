package schemas

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unsafe"
)

// decode reads one record of version ver's schema, as appendRow writes it,
// from data into row, a zero row. It is appendRow's inverse, driven by the
// same field table; hamba's reader, which it replaces, stays the oracle in
// the tests. data must hold exactly one record: truncated input and
// trailing bytes are errors.
func (d *recordDesc) decode(data []byte, ver int, row unsafe.Pointer) error {
	r := avroReader{data: data}
	// The row's strings are cut from one copy of the record and its
	// pointer fields point into one store: two allocations for the scalar
	// fields of a row, not one per field.
	r.text = string(data)
	st := d.newStore()
	for i := range d.versions[ver] {
		f := &d.versions[ver][i]
		r.field = f.name
		ptr, slot := unsafe.Add(row, f.off), unsafe.Add(st, f.slot)
		if f.kind != kString && !r.union() {
			if r.err != nil {
				break
			}
			continue // null: the zero row's nil
		}
		switch f.kind {
		case kString:
			*(*string)(ptr) = r.string()
		case kOptString, kOptKeyString, kTenant:
			*(*string)(slot) = r.string()
		case kOptTime:
			*(*time.Time)(slot) = time.UnixMilli(r.long()).UTC()
		case kOptInt:
			*(*int32)(slot) = r.int()
		case kOptLong:
			*(*int64)(slot) = r.long()
		case kOptBool:
			*(*bool)(slot) = r.bool()
		case kOptDouble:
			*(*float64)(slot) = r.double()
		case kOptDecimal:
			v, err := decimalFromAvroBytes(r.bytes())
			if err != nil && r.err == nil {
				r.err = err
			}
			*(*Decimal)(slot) = v
		case kOptStrings:
			*(*[]string)(ptr) = r.strings()
		case kOptUnitInfos:
			*(*[]AdministrativeUnitInfo)(ptr) = r.unitInfos()
		case kUnknown:
			*(*map[string]string)(ptr) = r.stringMap()
		}
		if r.err != nil {
			break
		}
		if kindTypes[f.kind].slot != nil {
			*(*unsafe.Pointer)(ptr) = slot
		}
	}
	switch {
	case errors.Is(r.err, io.ErrUnexpectedEOF):
		return fmt.Errorf("decode avro row: truncated record: %s: %w", r.field, r.err)
	case r.err != nil:
		return fmt.Errorf("decode avro row: %s: %w", r.field, r.err)
	case r.pos != len(data):
		return errors.New("decode avro row: trailing bytes after record")
	}
	return nil
}

// avroReader reads Avro binary values from data; after the first error
// (in err) every read returns a zero value.
type avroReader struct {
	data  []byte
	text  string // data as a string, which strings are cut from
	pos   int
	err   error
	field string // the field being read, for errors
}

var errVarint = errors.New("varint longer than a long")

func (r *avroReader) long() int64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.pos >= len(r.data) {
			r.fail(io.ErrUnexpectedEOF)
			return 0
		}
		b := r.data[r.pos]
		r.pos++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return int64(v>>1) ^ -int64(v&1)
		}
	}
	r.fail(errVarint)
	return 0
}

func (r *avroReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.pos = len(r.data) // nothing more is read
}

func (r *avroReader) int() int32 {
	v := r.long()
	if v != int64(int32(v)) {
		r.fail(fmt.Errorf("int %d out of range", v))
		return 0
	}
	return int32(v)
}

// union reads the branch of a ["null", T] union: whether a T follows.
func (r *avroReader) union() bool {
	switch b := r.long(); b {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(fmt.Errorf("union branch %d of 2", b))
		return false
	}
}

func (r *avroReader) bool() bool {
	if r.pos >= len(r.data) {
		r.fail(io.ErrUnexpectedEOF)
		return false
	}
	b := r.data[r.pos]
	r.pos++
	if b > 1 {
		r.fail(fmt.Errorf("boolean byte %d", b))
	}
	return b == 1
}

func (r *avroReader) double() float64 {
	if len(r.data)-r.pos < 8 {
		r.fail(io.ErrUnexpectedEOF)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.data[r.pos:]))
	r.pos += 8
	return v
}

// length reads the length of a string or bytes, which must fit what is
// left of data.
func (r *avroReader) length() int {
	n := r.long()
	switch {
	case n < 0:
		r.fail(fmt.Errorf("negative length %d", n))
		return 0
	case n > int64(len(r.data)-r.pos):
		r.fail(io.ErrUnexpectedEOF)
		return 0
	}
	return int(n)
}

func (r *avroReader) string() string {
	n := r.length()
	s := r.text[r.pos : r.pos+n]
	r.pos += n
	return s
}

func (r *avroReader) bytes() []byte {
	n := r.length()
	b := r.data[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return b
}

// block reads the item count of an array or map block, 0 for the end. A
// negative count (which hamba writes unless told not to) is followed by
// the block's size in bytes, which is not needed. Each item takes at least
// a byte, which bounds what a hostile count can make the reader allocate.
func (r *avroReader) block() int {
	n := r.long()
	if n < 0 {
		n = -n
		r.long()
		if n < 0 { // math.MinInt64
			r.fail(fmt.Errorf("block count out of range"))
			return 0
		}
	}
	if n > int64(len(r.data)-r.pos) {
		r.fail(io.ErrUnexpectedEOF)
		return 0
	}
	return int(n)
}

// strings reads an array of strings; an empty one is non-nil, since []
// is not null.
func (r *avroReader) strings() []string {
	out := []string{}
	for n := r.block(); n > 0; n = r.block() {
		for range n {
			out = append(out, r.string())
		}
	}
	return out
}

// unitInfos reads an array of AdministrativeUnitInfo records.
func (r *avroReader) unitInfos() []AdministrativeUnitInfo {
	out := []AdministrativeUnitInfo{}
	for n := r.block(); n > 0; n = r.block() {
		for range n {
			var u AdministrativeUnitInfo
			if r.union() {
				id := r.string()
				u.ID = &id
			}
			out = append(out, u)
		}
	}
	return out
}

func (r *avroReader) stringMap() map[string]string {
	m := map[string]string{}
	for n := r.block(); n > 0; n = r.block() {
		for range n {
			k := r.string()
			m[k] = r.string()
		}
	}
	return m
}
