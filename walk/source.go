package walk

import (
	"fmt"
	"unsafe"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/internal/jsonscan"
	"github.com/callstream/callstream/schemas"
)

// DirectRouting is the getDirectRoutingCalls source, encoded with the v1.0
// schema (schemas/DirectRoutingLogRow.avsc).
func DirectRouting() Source {
	codec, err := schemas.For(schemas.SourceDirectRouting, schemas.VersionV1)
	if err != nil {
		// Both names are constants of the schemas package.
		panic(fmt.Sprintf("walk: direct-routing codec: %v", err))
	}
	return CodecSource(fetch.DirectRoutingCalls, codec)
}

// CodecSource adapts a schemas.Codec (any source, any API version) to a
// Source reading fn.
func CodecSource(fn fetch.Function, c *schemas.Codec) Source {
	return Source{
		Name:     c.Source(),
		Function: fn,
		Encode: func(raw []byte, scan []jsonscan.Member, dst []byte) (Encoded, error) {
			id, key, out, err := c.EncodeScanned(raw, scan, dst)
			if err != nil {
				return Encoded{}, err
			}
			return Encoded{ID: id, Key: keyBytes(key), Value: out}, nil
		},
	}
}

// keyBytes views the record key without copying it (the walker copies it
// out of the row before the row's buffer is reused); the Kafka client only
// reads record keys. An empty key stays a non-nil empty slice, which Kafka
// tells apart from a null key.
func keyBytes(key string) []byte {
	if key == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(key), len(key))
}
