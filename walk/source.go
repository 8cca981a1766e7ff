package walk

import (
	"unsafe"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/schemas"
)

// DirectRouting is the getDirectRoutingCalls source, encoded with
// schemas.DirectRoutingLogRow.
func DirectRouting() Source {
	return Source{
		Name:     "direct-routing",
		Function: fetch.DirectRoutingCalls,
		Encode: func(raw, dst []byte) (Encoded, error) {
			// One row per call: backfills encode windows concurrently.
			var row schemas.DirectRoutingLogRow
			if err := schemas.ParseDirectRoutingRow(raw, &row); err != nil {
				return Encoded{}, err
			}
			v, err := row.AppendAvro(dst)
			if err != nil {
				return Encoded{}, err
			}
			return Encoded{ID: row.ID, Key: keyBytes(row.CorrelationID), Value: v}, nil
		},
	}
}

// CodecSource adapts a schemas.Codec (any source, any API version) to a
// Source reading fn.
func CodecSource(fn fetch.Function, c *schemas.Codec) Source {
	return Source{
		Name:     c.Source(),
		Function: fn,
		Encode: func(raw, dst []byte) (Encoded, error) {
			id, key, out, err := c.Encode(raw, dst)
			if err != nil {
				return Encoded{}, err
			}
			return Encoded{ID: id, Key: keyBytes(key), Value: out}, nil
		},
	}
}

// keyBytes views the record key without copying it: the key is a string
// of its own (schemas does not let it alias the page buffer), strings are
// immutable, and the Kafka client only reads record keys. An empty key
// stays a non-nil empty slice, which Kafka tells apart from a null key.
func keyBytes(key string) []byte {
	if key == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(key), len(key))
}
