package walk

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/schemas"
)

// Dead-letter headers, beside the source and window headers every record
// of a batch carries. The size and sha256 of the whole raw row let a
// truncated dead letter be identified and matched with Graph's copy.
const (
	HeaderDLQReason    = "callstream.dlq.reason"
	HeaderDLQField     = "callstream.dlq.field"
	HeaderDLQSize      = "callstream.dlq.size"
	HeaderDLQSHA256    = "callstream.dlq.sha256"
	HeaderDLQTruncated = "callstream.dlq.truncated"
)

// deadLetter builds the dead-letter record of raw, a bad row, with the
// reason err. A dead letter always fits in a record batch (Invariant 5:
// nothing is dropped silently — a row too large for Kafka must still be
// accounted for): a raw row larger than the room left by its headers is
// cut to fit, with HeaderDLQTruncated set; HeaderDLQSize and
// HeaderDLQSHA256 always describe the whole row.
func (w *Walker) deadLetter(raw []byte, err error) *kgo.Record {
	field := ""
	var re *schemas.RowError
	if errors.As(err, &re) {
		field = re.Field
	}
	sum := sha256.Sum256(raw)
	headers := []kgo.RecordHeader{
		{Key: HeaderDLQReason, Value: []byte(err.Error())},
		{Key: HeaderDLQField, Value: []byte(field)},
		{Key: HeaderDLQSize, Value: strconv.AppendInt(nil, int64(len(raw)), 10)},
		{Key: HeaderDLQSHA256, Value: hex.AppendEncode(nil, sum[:])},
		{Key: HeaderDLQTruncated, Value: []byte("true")},
	}
	// The room is measured with the truncation header, so the record fits
	// whichever way it goes; the header is dropped when nothing is cut.
	value := raw // a copy of the row, made by encode
	if room := w.pub.MaxValueBytes(w.cfg.Source.Name, headers); len(raw) > room {
		value = raw[:max(room, 0)]
	} else {
		headers = headers[:len(headers)-1]
	}
	return &kgo.Record{Topic: w.cfg.DeadLetterTopic, Value: value, Headers: headers}
}

// deadLetterID identifies a bad row by a hash of its bytes, so that
// rescans do not dead-letter it again.
func deadLetterID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "dlq:" + hex.EncodeToString(sum[:16])
}
