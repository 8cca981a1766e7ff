package producer

import (
	"bytes"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

// zstdCompressor is franz-go's zstd compressor less the frame checksum.
//
// A record batch carries a CRC-32C over its compressed records, which the
// broker and every consumer check; the xxhash64 that zstd can add over the
// uncompressed content checks the same bytes a second time, and cost ≈ 2%
// of callstream's CPU per row (docs/performance.md). Kafka's Java producer
// leaves it out too (zstd's default). Everything else — one frame per
// batch, a 64 KiB window, no goroutines of the encoder's own, callstream's
// level — is what kgo.ZstdCompression would do.
type zstdCompressor struct {
	encs sync.Pool // *zstd.Encoder
}

func newZstdCompressor(level zstd.EncoderLevel) *zstdCompressor {
	c := &zstdCompressor{}
	c.encs.New = func() any {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithWindowSize(64<<10),
			zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false))
		if err != nil {
			panic("producer: zstd options: " + err.Error()) // constants: cannot fail
		}
		return enc
	}
	return c
}

// Compress implements kgo.Compressor. dst is franz-go's pooled buffer; the
// result aliases it. A batch bound for a broker older than Kafka 2.1,
// which cannot read zstd, goes uncompressed.
func (c *zstdCompressor) Compress(dst *bytes.Buffer, src []byte, flags ...kgo.CompressFlag) ([]byte, kgo.CompressionCodecType) {
	for _, f := range flags {
		if f == kgo.CompressDisableZstd {
			return src, kgo.CodecNone
		}
	}
	enc := c.encs.Get().(*zstd.Encoder)
	defer c.encs.Put(enc)
	dst.Reset()
	dst.Grow(enc.MaxEncodedSize(len(src)))
	return enc.EncodeAll(src, dst.AvailableBuffer()), kgo.CodecZstd
}

var _ kgo.Compressor = (*zstdCompressor)(nil)
