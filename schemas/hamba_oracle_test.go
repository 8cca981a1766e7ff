package schemas

// hamba's own encoder and decoder, through mirror structs built from the
// row types, are the oracle the table-driven writer and reader are held to.

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"unsafe"

	"github.com/hamba/avro/v2"
)

// maxPooledBuffer keeps one giant row from pinning a large writer buffer in
// the pool for the life of the process.
const maxPooledBuffer = 64 << 10

var writerPool = sync.Pool{New: func() any {
	return avro.NewWriter(nil, 1024, avro.WithWriterConfig(avroAPI))
}}

// avroAPI is the hamba configuration the oracle encodes and decodes with
// (the rows themselves are written and read by record.go). It is private
// so that registrations or cache entries made on avro.DefaultConfig cannot
// change what the oracle writes.
//
// DisableBlockSizeHeader: by default hamba writes every map block as a
// negative count followed by its byte size. That is valid Avro, but not
// every decoder supports it and it makes the bytes depend on a hamba
// default; plain counts are the form every implementation reads.
var avroAPI = avro.Config{DisableBlockSizeHeader: true}.Freeze()

var decodePool = sync.Pool{New: func() any {
	return avro.NewReader(nil, 0, avro.WithReaderConfig(avroAPI))
}}

// decodeExact decodes exactly one record of schema from data into v, a
// pointer to a fresh mirror struct, with a pooled reader: the oracle for
// the table-driven reader.
func decodeExact(data []byte, schema avro.Schema, v any) error {
	rd := decodePool.Get().(*avro.Reader)
	rd.Reset(data)
	rd.Error = nil // Reset leaves the error of an earlier failed decode
	rd.ReadVal(schema, v)
	err := rd.Error
	if err == nil {
		// Peek sets io.EOF exactly when every byte was consumed.
		rd.Peek()
		if !errors.Is(rd.Error, io.EOF) {
			err = errors.New("trailing bytes after record")
		}
	} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// hamba's Unmarshal would report a record cut at a field boundary
		// as success, because it treats io.EOF as a clean end; it is not.
		err = fmt.Errorf("truncated record: %w", err)
	}
	rd.Reset(nil)
	rd.Error = nil
	decodePool.Put(rd)
	if err != nil {
		return fmt.Errorf("decode avro row: %w", err)
	}
	return nil
}

// appendEncoded writes v (a pointer to a mirror struct) with schema and
// appends the bytes to dst, with a pooled writer.
func appendEncoded(dst []byte, schema avro.Schema, v any) ([]byte, error) {
	w := writerPool.Get().(*avro.Writer)
	w.Reset(nil)
	w.Error = nil // Reset leaves the error of an earlier failed encode
	w.WriteVal(schema, v)
	err := w.Error
	if err == nil {
		dst = append(dst, w.Buffer()...)
	}
	if w.Buffered() <= maxPooledBuffer {
		w.Error = nil
		writerPool.Put(w)
	}
	if err != nil {
		return dst, fmt.Errorf("encode avro row: %w", err)
	}
	return dst, nil
}

// The mirrors: hamba v2.31 resolves a nullable union by pointer, so the
// struct it encodes and decodes for a row type has its slices and maps
// behind pointers, and decimals as their raw Avro bytes (its *big.Rat path
// corrupts memory for nullable decimals). Each row type's mirror is built
// by reflection from the row struct and its avro tags, once, here in the
// tests: production code reads and writes rows by their field tables.

var mirrorTypes sync.Map // row type → mirror type

var (
	decimalPtrType = reflect.TypeFor[*Decimal]()
	bytesType      = reflect.TypeFor[[]byte]()
)

// mirrorType returns the mirror of row struct type rt.
func mirrorType(rt reflect.Type) reflect.Type {
	if mt, ok := mirrorTypes.Load(rt); ok {
		return mt.(reflect.Type)
	}
	var fields []reflect.StructField
	for i := range rt.NumField() {
		f := rt.Field(i)
		switch {
		case f.Type == decimalPtrType:
			f.Type = bytesType
		case f.Type.Kind() == reflect.Slice || f.Type.Kind() == reflect.Map:
			f.Type = reflect.PointerTo(f.Type)
		}
		f.Index, f.Offset = nil, 0
		fields = append(fields, f)
	}
	mt, _ := mirrorTypes.LoadOrStore(rt, reflect.StructOf(fields))
	return mt.(reflect.Type)
}

// toMirror returns a pointer to the mirror of row (a pointer to a row),
// for hamba to encode.
func toMirror(row any) any {
	rv := reflect.ValueOf(row).Elem()
	m := reflect.New(mirrorType(rv.Type())).Elem()
	for i := range rv.NumField() {
		f, mf := rv.Field(i), m.Field(i)
		switch {
		case f.Type() == decimalPtrType:
			if !f.IsNil() {
				mf.SetBytes(f.Interface().(*Decimal).appendAvroBytes(nil))
			}
		case f.Kind() == reflect.Slice || f.Kind() == reflect.Map:
			if !f.IsNil() {
				mf.Set(f.Addr())
			}
		default:
			mf.Set(f)
		}
	}
	return m.Addr().Interface()
}

// fromMirror fills row (a pointer to a zero row) from mirror, a pointer to
// the mirror hamba decoded.
func fromMirror(mirror, row any) error {
	m, rv := reflect.ValueOf(mirror).Elem(), reflect.ValueOf(row).Elem()
	for i := range rv.NumField() {
		f, mf := rv.Field(i), m.Field(i)
		switch {
		case f.Type() == decimalPtrType:
			if !mf.IsNil() {
				d, err := decimalFromAvroBytes(mf.Bytes())
				if err != nil {
					return fmt.Errorf("decode avro row: %s: %w", rv.Type().Field(i).Tag.Get("avro"), err)
				}
				f.Set(reflect.ValueOf(&d))
			}
		case f.Kind() == reflect.Slice || f.Kind() == reflect.Map:
			if !mf.IsNil() {
				f.Set(mf.Elem())
				if f.IsNil() {
					// hamba leaves an empty array a nil slice; [] is not null.
					f.Set(reflect.MakeSlice(f.Type(), 0, 0))
				}
			}
		default:
			f.Set(mf)
		}
	}
	return nil
}

// hambaDecode decodes data, one record of sc's version ver, with hamba
// into a new row: the oracle for the table-driven reader.
func (sc *sourceCodec) hambaDecode(data []byte, ver int) (any, error) {
	m := reflect.New(mirrorType(sc.rowType)).Interface()
	if err := decodeExact(data, sc.versions[ver].schema, m); err != nil {
		return nil, err
	}
	row := reflect.New(sc.rowType).Interface()
	return row, fromMirror(m, row)
}

// The hooks below give the table-driven tests a row of any source as an
// any; production code calls the typed rowCodec methods.

// rowPointer returns row, a pointer to a row of sc's type, as a pointer.
func (sc *sourceCodec) rowPointer(row any) unsafe.Pointer {
	rv := reflect.ValueOf(row)
	if rv.Type() != reflect.PointerTo(sc.rowType) {
		panic(fmt.Sprintf("row of type %T given to the %s codec", row, sc.source))
	}
	return rv.UnsafePointer()
}

// appendRow writes row with version ver's schema, as Encode does.
func (sc *sourceCodec) appendRow(row any, ver int, dst []byte) []byte {
	return sc.desc.appendRow(dst, sc.rowPointer(row), ver)
}

// hamba returns row's mirror, which hamba encodes as the oracle.
func (sc *sourceCodec) hamba(row any) any { return toMirror(row) }

// setBeyond names a property row holds that version ver's schema lacks.
func (sc *sourceCodec) setBeyond(row any, ver int) string {
	return sc.desc.setBeyond(sc.rowPointer(row), ver)
}

// unknownOf returns row's unknown-properties map.
func (sc *sourceCodec) unknownOf(row any) map[string]string {
	return *sc.desc.unknownOf(sc.rowPointer(row))
}

// codecOfRow returns the generated codec of a *row type.
func codecOfRow(row any) *sourceCodec {
	for _, sc := range allSourceCodecs() {
		if reflect.TypeOf(row) == reflect.PointerTo(sc.rowType) {
			return sc
		}
	}
	panic(fmt.Sprintf("no codec for %T", row))
}

// idOf returns row's deduplication id, "" for an aggregate.
func (sc *sourceCodec) idOf(row any) string {
	if !sc.desc.hasID {
		return ""
	}
	return *(*string)(unsafe.Add(sc.rowPointer(row), sc.desc.idOff))
}
