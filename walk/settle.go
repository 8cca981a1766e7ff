package walk

import (
	"context"
	"errors"
	"time"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/producer"
)

// settler is how a read window's rows, and the checkpoint that claims
// them, become durable. New picks one of two once, from the checkpoint
// store it is given, so that the read path never asks again:
//   - txnSettle (a checkpoint.Stager, the Kafka store): exactly-once; the
//     rows and the checkpoint records commit in one transaction, or
//     neither does;
//   - ackSettle (a checkpoint.Saver, the file store): at-least-once; Kafka
//     acknowledges every row, and only then is the checkpoint saved.
//
// A read calls begin, then exactly one of settle or fail with the batch
// begin returned.
type settler interface {
	// begin returns the batch that window [from, to)'s records go into and
	// the context to produce them with, which outlives a stop by stopGrace.
	begin(ctx context.Context, from, to time.Time) (*producer.Batch, context.Context, error)
	// settle makes r, a whole read whose new ids are ids, durable and then
	// counts it (Walker.settled). With more, the strategy may leave it for
	// a later settle to make durable together with the windows after it.
	settle(ctx context.Context, batch *producer.Batch, r windowRead, ids []string, more bool) error
	// fail ends r, a read whose fetch failed with ferr after the rows
	// with ids were handed to batch, and returns the error to report.
	fail(ctx context.Context, batch *producer.Batch, r windowRead, ids []string, ferr error) error
	// canGroup reports whether the next window read may pass more.
	canGroup() bool
	// drop abandons, after a failure, whatever settle left open.
	drop(ctx context.Context)
}

// newSettler chooses the strategy by the interface s offers. A Stager
// needs a transactional publisher: its records are only ever written in
// a transaction.
func (w *Walker) newSettler(s checkpoint.Loader) (settler, error) {
	switch s := s.(type) {
	case checkpoint.Stager:
		if !w.pub.Transactional() {
			return nil, errors.New("the Kafka checkpoint store needs a transactional producer")
		}
		return &txnSettle{w: w, store: s}, nil
	case checkpoint.Saver:
		return &ackSettle{w: w, store: s}, nil
	}
	return nil, errors.New("the checkpoint store can neither save nor stage a checkpoint")
}

// produceContext returns the context a window's records are handed to
// Kafka with, and its release. It outlives a stop of ctx by stopGrace: a
// SIGTERM must not fail records the client still buffers while others of
// the window are acknowledged, or the acknowledged ones could not be
// remembered and would be published again.
func produceContext(ctx context.Context) (context.Context, func()) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })
	return c, func() { stopAfter(); cancel() }
}
