package schemas

import (
	"encoding/binary"
	"math"
	"time"
)

// The rows' Avro bodies are written by hand rather than through hamba's
// reflection: every row of every window is encoded, and hamba's generic
// encoder cost several times what the schemas need. The writers below
// follow the .avsc files field by field and write exactly hamba's bytes
// (TestAppendMatchesHamba holds them to it, with hamba as the oracle), so
// readers, the golden files and the registry see no difference.

// avroBlockLength is how many map entries or array items go in one block,
// as hamba writes them (its default block length).
const avroBlockLength = 100

// appendLong appends v as an Avro long (zig-zag varint).
func appendLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// appendString appends an Avro string: its length, then its bytes.
func appendString(dst []byte, s string) []byte {
	return append(appendLong(dst, int64(len(s))), s...)
}

// The nullable fields are unions ["null", T]: branch 0 (byte 0x00) is
// null, branch 1 (byte 0x02) is followed by the value.
const (
	unionNull  = 0x00
	unionValue = 0x02
)

func appendOptString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, unionNull)
	}
	return appendString(append(dst, unionValue), *s)
}

// appendOptTime writes a timestamp-millis, truncated toward the past.
func appendOptTime(dst []byte, t *time.Time) []byte {
	if t == nil {
		return append(dst, unionNull)
	}
	return appendLong(append(dst, unionValue), t.Unix()*1e3+int64(t.Nanosecond()/1e6))
}

func appendOptInt(dst []byte, v *int32) []byte {
	if v == nil {
		return append(dst, unionNull)
	}
	return appendLong(append(dst, unionValue), int64(*v))
}

func appendOptBool(dst []byte, v *bool) []byte {
	switch {
	case v == nil:
		return append(dst, unionNull)
	case *v:
		return append(dst, unionValue, 1)
	}
	return append(dst, unionValue, 0)
}

func appendOptDecimal(dst []byte, d *Decimal) []byte {
	if d == nil {
		return append(dst, unionNull)
	}
	dst = append(dst, unionValue)
	// Avro bytes: the length, then the big-endian two's complement, which
	// is at most 8 bytes long.
	var b [8]byte
	v := d.appendAvroBytes(b[:0])
	return append(appendLong(dst, int64(len(v))), v...)
}

// appendOptMap writes a map<string, string> in blocks, entries in Go map
// iteration order, as hamba does.
func appendOptMap(dst []byte, m map[string]string) []byte {
	if m == nil {
		return append(dst, unionNull)
	}
	dst = append(dst, unionValue)
	left := len(m)
	inBlock := 0
	for k, v := range m {
		if inBlock == 0 {
			dst = appendLong(dst, int64(min(left, avroBlockLength)))
		}
		dst = appendString(appendString(dst, k), v)
		left--
		if inBlock++; inBlock == avroBlockLength {
			inBlock = 0
		}
	}
	return append(dst, 0)
}

// appendOptUnitInfos writes an array of AdministrativeUnitInfo records.
func appendOptUnitInfos(dst []byte, units []AdministrativeUnitInfo) []byte {
	return appendOptArray(dst, units, func(dst []byte, u AdministrativeUnitInfo) []byte { return appendOptString(dst, u.ID) })
}

func appendOptLong(dst []byte, v *int64) []byte {
	if v == nil {
		return append(dst, unionNull)
	}
	return appendLong(append(dst, unionValue), *v)
}

// appendOptDouble writes an Avro double: 8 bytes, little-endian IEEE 754.
func appendOptDouble(dst []byte, v *float64) []byte {
	if v == nil {
		return append(dst, unionNull)
	}
	return binary.LittleEndian.AppendUint64(append(dst, unionValue), math.Float64bits(*v))
}

// appendOptStrings writes an array of strings.
func appendOptStrings(dst []byte, items []string) []byte {
	return appendOptArray(dst, items, appendString)
}

// appendOptArray writes a nullable array, items in blocks as hamba writes
// them, each with appendItem.
func appendOptArray[T any](dst []byte, items []T, appendItem func([]byte, T) []byte) []byte {
	if items == nil {
		return append(dst, unionNull)
	}
	dst = append(dst, unionValue)
	for i := 0; i < len(items); i += avroBlockLength {
		block := items[i:min(i+avroBlockLength, len(items))]
		dst = appendLong(dst, int64(len(block)))
		for _, item := range block {
			dst = appendItem(dst, item)
		}
	}
	return append(dst, 0)
}
