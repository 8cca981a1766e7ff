package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
)

// abortedID marks the row written in an aborted transaction: a
// read_committed consumer must never see it.
const abortedID = "00000000-0000-0000-0000-0000aborted0"

// writeAborted produces, inside a transaction that is then aborted, one
// record shaped exactly like callstream's for source in Graph API version
// version (Confluent framing with the id of the schema registered under
// <topic>-value, the Avro body of the first row of the source's truth file
// with abortedID as its id property — an aggregate's, which has no id, as
// its key property —, its key (for an aggregate schemas.DayKey of the
// row's day and grouping, abortedID among it) and callstream.source
// header), so that the consumer's isolation level is put to the test:
// read_uncommitted would deliver it and the checker would reject it as not
// simulated. The registry is the one named in dir's env file.
func writeAborted(brokers []string, topic, dir, source, version string) error {
	src, ok := sources.Lookup(source)
	if !ok {
		return fmt.Errorf("unknown source %q", source)
	}
	codec, err := schemas.For(source, version)
	if err != nil {
		return err
	}
	raw, err := firstLine(filepath.Join(dir, truthFile(source, version)))
	if err != nil {
		return err
	}
	// A log row is marked by its id; an aggregate row, which has none, by
	// its key property (a grouping property, so part of its record key).
	var day time.Time
	mark := src.IDProperty
	if src.Kind == sources.Aggregate {
		var line aggregateTruth
		if err := json.Unmarshal(raw, &line); err != nil {
			return err
		}
		if day, err = time.Parse(time.DateOnly, line.Day); err != nil {
			return err
		}
		raw, mark = line.Row, src.KeyProperty
	}
	var row map[string]json.RawMessage
	if err := json.Unmarshal(raw, &row); err != nil {
		return err
	}
	row[mark] = json.RawMessage(`"` + abortedID + `"`)
	if raw, err = json.Marshal(row); err != nil {
		return err
	}
	_, key, body, err := codec.Encode(raw, nil)
	if err != nil {
		return fmt.Errorf("encoding the aborted row: %w", err)
	}
	if src.Kind == sources.Aggregate {
		key = schemas.DayKey(day, key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	schemaID, err := registeredID(ctx, dir, topic+"-value")
	if err != nil {
		return err
	}
	value := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(schemaID)), body...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID(fmt.Sprintf("callstream-interop-aborter-%d", time.Now().UnixNano())))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: value,
		Headers: []kgo.RecordHeader{{Key: "callstream.source", Value: []byte(source)}}}).FirstErr(); err != nil {
		return fmt.Errorf("produce in the transaction: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	return nil
}

// firstLine returns the first line of the file at path.
func firstLine(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20) // a meeting's call record is megabytes of JSON
	if !sc.Scan() {
		return nil, errors.Join(fmt.Errorf("%s is empty", path), sc.Err())
	}
	return sc.Bytes(), nil
}

// registeredID returns the id of the latest schema under subject in the
// registry the harness wrote into dir's env file.
func registeredID(ctx context.Context, dir, subject string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		return 0, err
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	rc, err := sr.NewClient(sr.URLs(env["SCHEMA_REGISTRY_URL"]),
		sr.BasicAuth(env["SCHEMA_REGISTRY_USERNAME"], env["SCHEMA_REGISTRY_PASSWORD"]))
	if err != nil {
		return 0, err
	}
	s, err := rc.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		return 0, fmt.Errorf("schema of %s: %w", subject, err)
	}
	return s.ID, nil
}
