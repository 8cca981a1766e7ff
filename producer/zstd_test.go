package producer

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestZstdCompressor: a batch becomes one zstd frame at callstream's level,
// without a content checksum, that any zstd reader decodes to the batch;
// for a broker that cannot read zstd the batch goes uncompressed.
func TestZstdCompressor(t *testing.T) {
	c := newZstdCompressor(zstd.EncoderLevel(ZstdLevel))
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dec.Close)
	rng := rand.New(rand.NewPCG(1, 2))
	var dst bytes.Buffer
	for _, size := range []int{0, 1, 100, 64 << 10, 1 << 20} {
		// Record-like: a repeated shape around random identifiers.
		var b []byte
		for len(b) < size {
			b = fmt.Appendf(b, `{"id":"%016x","callType":"ByotIn","successfulCall":true,"duration":%d}`, rng.Uint64(), rng.IntN(5000))
		}
		src := b[:size]
		dst.WriteString("left over from the buffer's last use")
		out, codec := c.Compress(&dst, src)
		if codec != kgo.CodecZstd {
			t.Fatalf("%d bytes: codec %v", size, codec)
		}
		var h zstd.Header
		if err := h.Decode(out); err != nil {
			t.Fatalf("%d bytes: frame header: %v", size, err)
		}
		if h.HasCheckSum {
			t.Errorf("%d bytes: frame carries a content checksum", size)
		}
		if size >= 64<<10 && (!h.HasFCS || h.FrameContentSize != uint64(size)) {
			t.Errorf("%d bytes: frame content size %v %d", size, h.HasFCS, h.FrameContentSize)
		}
		got, err := dec.DecodeAll(out, nil)
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("%d bytes: decoded %d bytes, %v", size, len(got), err)
		}
		if size == 64<<10 && len(out) > size/2 {
			t.Errorf("64 KiB of records compressed to %d bytes", len(out))
		}
	}
	src := []byte("an old broker")
	if out, codec := c.Compress(&dst, src, kgo.CompressDisableZstd); codec != kgo.CodecNone || !bytes.Equal(out, src) {
		t.Errorf("with CompressDisableZstd: codec %v, %q", codec, out)
	}
}
