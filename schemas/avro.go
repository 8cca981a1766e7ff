package schemas

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hamba/avro/v2"
)

// avroAPI is private so that registrations or cache entries made by other
// packages on avro.DefaultConfig cannot change this package's encoding.
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
// pointer to a fresh mirror struct, with a pooled reader.
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
