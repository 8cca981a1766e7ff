package schemas

// hamba's own encoder, through the generated mirror structs (the rows'
// hamba methods), is the oracle the generated writers are held to.

import (
	"fmt"
	"sync"

	"github.com/hamba/avro/v2"
)

// maxPooledBuffer keeps one giant row from pinning a large writer buffer in
// the pool for the life of the process.
const maxPooledBuffer = 64 << 10

var writerPool = sync.Pool{New: func() any {
	return avro.NewWriter(nil, 1024, avro.WithWriterConfig(avroAPI))
}}

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
