// Package kafkatest gives tests a Kafka cluster: a real broker when the
// KAFKA_TEST_BROKERS environment variable names one, otherwise an in-process
// kfake cluster.
//
// By default `go test ./...` runs everything against kfake. To run the same
// tests against a real single-node Apache Kafka 4.x broker:
//
//	export "$(scripts/kafka.sh up)"   # sets KAFKA_TEST_BROKERS=127.0.0.1:<port>
//	go test ./...
//	scripts/kafka.sh down
//
// Tests should create their topics with [Cluster.Topic] (unique names, deleted
// on cleanup), so that tests sharing one real broker do not see each other's
// records.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/internal/kread"
)

// EnvBrokers is the environment variable naming the real broker(s) to test
// against, as a comma-separated host:port list. scripts/kafka.sh up prints it.
const EnvBrokers = "KAFKA_TEST_BROKERS"

// opTimeout bounds each helper operation (topic creation, ReadAll, ...).
const opTimeout = 60 * time.Second

// Cluster is a Kafka cluster for a test: the real broker named by
// KAFKA_TEST_BROKERS, or an in-process kfake cluster.
type Cluster struct {
	// Brokers are the seed broker addresses (host:port).
	Brokers []string
	// Real reports whether Brokers is a real Kafka broker rather than kfake.
	Real bool
	// Fake is the in-process cluster; nil when Real.
	Fake *kfake.Cluster
}

// New returns the real cluster named by KAFKA_TEST_BROKERS when that is set
// (opts are then ignored), or else starts a single-broker kfake cluster with
// opts that is closed when the test ends.
func New(tb testing.TB, opts ...kfake.Opt) *Cluster {
	tb.Helper()
	if v := os.Getenv(EnvBrokers); strings.TrimSpace(v) != "" {
		var brokers []string
		for b := range strings.SplitSeq(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				brokers = append(brokers, b)
			}
		}
		return &Cluster{Brokers: brokers, Real: true}
	}
	return NewFake(tb, opts...)
}

// NewFake always starts an in-process kfake cluster (one broker unless opts
// say otherwise), closed when the test ends. Use it for tests that need
// kfake's controls, such as fault injection.
func NewFake(tb testing.TB, opts ...kfake.Opt) *Cluster {
	tb.Helper()
	fc, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		tb.Fatalf("kafkatest: starting kfake: %v", err)
	}
	tb.Cleanup(fc.Close)
	return &Cluster{Brokers: fc.ListenAddrs(), Fake: fc}
}

// Client returns a client seeded with the cluster's brokers plus opts,
// closed when the test ends.
func (c *Cluster) Client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, opts...)...)
	if err != nil {
		tb.Fatalf("kafkatest: new client: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// adminClient returns a client for the helpers' own admin requests. kadm
// answers from the client's metadata cache for up to MetadataMinAge (5 s by
// default), which would make waiting for a new topic slow, so it is short.
func (c *Cluster) adminClient(tb testing.TB) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.MetadataMinAge(20*time.Millisecond))
	if err != nil {
		tb.Fatalf("kafkatest: new client: %v", err)
	}
	return cl
}

// Topic creates a topic with a unique name derived from the test name, the
// given number of partitions (-1 for the broker default), replication factor 1
// and the given configs (nil for broker defaults; for example
// {"cleanup.policy": kadm.StringPtr("compact")}). It waits until the topic's partitions are usable, returns the name, and
// deletes the topic when the test ends.
func (c *Cluster) Topic(tb testing.TB, partitions int32, configs map[string]*string) string {
	tb.Helper()
	name := topicName(tb.Name())

	cl := c.adminClient(tb)
	adm := kadm.NewClient(cl)
	// Cleanups run last-in first-out: delete the topic, then close the client.
	tb.Cleanup(cl.Close)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if _, err := adm.DeleteTopic(ctx, name); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			tb.Logf("kafkatest: deleting topic %s: %v", name, err)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, 1, configs, name); err != nil {
		tb.Fatalf("kafkatest: creating topic %s: %v", name, err)
	}
	var lastErr error
	for {
		if lastErr = topicReady(ctx, adm, name, partitions); lastErr == nil {
			return name
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("kafkatest: topic %s not ready after %v: %v", name, opTimeout, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// topicReady reports (as a nil error) whether the metadata shows the topic
// with all partitions led and the leaders answer offset requests for them.
func topicReady(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return err
	}
	td, ok := tds[topic]
	if !ok {
		return errors.New("not in metadata")
	}
	if td.Err != nil {
		return td.Err
	}
	if n := int32(len(td.Partitions)); n == 0 || partitions > 0 && n != partitions {
		return fmt.Errorf("metadata shows %d partitions, want %d", n, partitions)
	}
	partitions = int32(len(td.Partitions))
	for _, p := range td.Partitions {
		if p.Err != nil {
			return fmt.Errorf("partition %d: %w", p.Partition, p.Err)
		}
		if p.Leader < 0 {
			return fmt.Errorf("partition %d has no leader", p.Partition)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	if err := ends.Error(); err != nil {
		return err
	}
	if n := int32(len(ends[topic])); n != partitions {
		return fmt.Errorf("end offsets listed for %d partitions, want %d", n, partitions)
	}
	return nil
}

// topicName turns a test name into a unique legal topic name: characters
// other than [a-zA-Z0-9._-] become '_', and a random suffix is appended.
func topicName(testName string) string {
	var b strings.Builder
	for _, r := range testName {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	base := strings.Trim(b.String(), "_.")
	if base == "" {
		base = "kafkatest"
	}
	// Kafka allows 249 characters; keep room for the suffix.
	if len(base) > 200 {
		base = base[:200]
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	return base + "-" + hex.EncodeToString(suffix[:])
}

// ReadAll returns every record of every partition of topic, from the log
// start offset up to the end offset at the time of the call, in partition
// then offset order; control records (transaction markers) are never
// included. With committedOnly it reads read_committed up to the last stable
// offsets, so records of aborted and still open transactions are left out;
// otherwise it reads read_uncommitted up to the high watermarks. It fails the
// test on error or if the records cannot be read within a minute.
func (c *Cluster) ReadAll(tb testing.TB, topic string, committedOnly bool) []*kgo.Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cl := c.adminClient(tb)
	defer cl.Close()
	recs, err := kread.All(ctx, cl, topic, committedOnly)
	if err != nil {
		tb.Fatalf("kafkatest: ReadAll(%s): %v", topic, err)
	}
	return recs
}
