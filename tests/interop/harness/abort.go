package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/schemas"
)

// abortedID marks the row written in an aborted transaction: a
// read_committed consumer must never see it.
const abortedID = "00000000-0000-0000-0000-0000aborted0"

// writeAborted produces, inside a transaction that is then aborted, one
// record shaped exactly like callstream's (Confluent framing, schema id
// schemaID, a real row's Avro body with abortedID as its id), so that the
// consumer's isolation level is put to the test: read_uncommitted would
// deliver it and the checker would reject it as not simulated.
func writeAborted(brokers []string, topic, dir string, schemaID uint32) error {
	f, err := os.Open(filepath.Join(dir, "truth.jsonl"))
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	ok := sc.Scan()
	_ = f.Close()
	if !ok {
		return errors.New("truth.jsonl is empty")
	}
	var row schemas.DirectRoutingLogRow
	if err := schemas.ParseDirectRoutingRow(sc.Bytes(), &row); err != nil {
		return err
	}
	row.ID = abortedID
	value, err := row.AppendAvro(binary.BigEndian.AppendUint32([]byte{0}, schemaID))
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID(fmt.Sprintf("callstream-interop-aborter-%d", time.Now().UnixNano())))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(row.CorrelationID), Value: value,
		Headers: []kgo.RecordHeader{{Key: "callstream.source", Value: []byte("direct-routing")}}}).FirstErr(); err != nil {
		return fmt.Errorf("produce in the transaction: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	return nil
}
