package walk

import (
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/schemas"
)

// DirectRouting is the getDirectRoutingCalls source, encoded with
// schemas.DirectRoutingLogRow.
func DirectRouting() Source {
	var row schemas.DirectRoutingLogRow // reused: a Walker encodes one row at a time
	return Source{
		Name:     "direct-routing",
		Function: fetch.DirectRoutingCalls,
		Encode: func(raw, dst []byte) (Encoded, error) {
			if err := schemas.ParseDirectRoutingRow(raw, &row); err != nil {
				return Encoded{}, err
			}
			v, err := row.AppendAvro(dst)
			if err != nil {
				return Encoded{}, err
			}
			return Encoded{ID: row.ID, Key: []byte(row.CorrelationID), Value: v}, nil
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
			return Encoded{ID: id, Key: []byte(key), Value: out}, nil
		},
	}
}
