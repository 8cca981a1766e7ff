package walk

import (
	"unsafe"
)

// valueArena hands out value buffers carved from large chunks, so that a
// row's Avro value costs no allocation of its own. A chunk is owned by the
// batch its values went to and dropped with it; chunks are not reused, as
// the client may hold the values until the batch is settled.
type valueArena struct {
	prefix []byte // the value framing, copied in front of every value
	buf    []byte
	chunk  int // the size of the last chunk allocated
}

// valueChunk is the size of the largest arena chunk: a few hundred rows.
// A read starts with a chunk of firstChunk and doubles up to it, so a
// window of tens of rows — a steady-state window of a quiet tenant, of
// which a fleet reads thousands at once — costs kilobytes, not a quarter
// of a megabyte.
const (
	valueChunk = 256 << 10
	firstChunk = 16 << 10
)

// grow allocates the arena's next chunk, with room for at least need.
func (a *valueArena) grow(need int) {
	a.chunk = min(max(2*a.chunk, firstChunk), valueChunk)
	a.buf = make([]byte, 0, max(a.chunk, need))
}

// next returns an empty buffer holding the framing, with room for about
// rawLen bytes of Avro (always less than the row's JSON).
func (a *valueArena) next(rawLen int) []byte {
	need := len(a.prefix) + rawLen
	if cap(a.buf)-len(a.buf) < need {
		a.grow(need)
	}
	return append(a.buf[len(a.buf):len(a.buf)], a.prefix...)
}

// keep marks v, the value built in the last buffer from next, as used and
// returns it with its capacity cut, so later values cannot overwrite it. A
// value that outgrew its buffer was reallocated by append and is not in
// the chunk at all.
func (a *valueArena) keep(v []byte) []byte {
	free := a.buf[len(a.buf):cap(a.buf)]
	if len(v) > 0 && len(free) >= len(v) && &free[0] == &v[0] {
		a.buf = a.buf[:len(a.buf)+len(v)]
	}
	return v[:len(v):len(v)]
}

// own keeps enc's value (built in the last buffer from next) and copies its
// id and key, which may alias the row, into the arena behind it. The id is
// a string over arena bytes: a chunk is never written again once carved.
func (a *valueArena) own(enc Encoded) Encoded {
	enc.Value = a.keep(enc.Value)
	n := len(enc.ID) + len(enc.Key)
	if cap(a.buf)-len(a.buf) < n {
		a.grow(n)
	}
	start := len(a.buf)
	a.buf = append(a.buf, enc.ID...)
	a.buf = append(a.buf, enc.Key...)
	b := a.buf[start:len(a.buf):len(a.buf)]
	if len(enc.ID) > 0 {
		enc.ID = unsafe.String(&b[0], len(enc.ID))
	}
	if enc.Key != nil {
		enc.Key = b[len(enc.ID):] // an empty key stays non-nil: Kafka tells it from a null key
	}
	return enc
}
