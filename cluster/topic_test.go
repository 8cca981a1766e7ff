package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/internal/kafkatest"
)

// testCtx is a context for one test's Kafka operations.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// uniqueName is a topic or group name no other test (or earlier run on the
// same broker) uses.
func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// newTopicName returns a fresh topic name that is deleted, if it was
// created, when the test ends.
func newTopicName(t *testing.T, c *kafkatest.Cluster) string {
	t.Helper()
	name := uniqueName("cluster-test")
	adm := kadm.NewClient(c.Client(t))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopic(ctx, name); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Logf("deleting topic %s: %v", name, err)
		}
	})
	return name
}

// freshClient has short-lived metadata, so a just-created topic shows soon.
func freshClient(t *testing.T, c *kafkatest.Cluster) *kgo.Client {
	t.Helper()
	return c.Client(t, kgo.MetadataMinAge(50*time.Millisecond))
}

func TestEnsureTopicCreates(t *testing.T) {
	c := kafkatest.New(t)
	ctx := testCtx(t)
	topic := newTopicName(t, c)
	cl := freshClient(t, c)

	if err := EnsureTopic(ctx, cl, topic, 12); err != nil {
		t.Fatalf("EnsureTopic on a missing topic: %v", err)
	}
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tds[topic].Partitions); got != 12 {
		t.Fatalf("created topic has %d partitions, want 12", got)
	}
	// Again, as a restarted replica does: the existing topic is accepted.
	if err := EnsureTopic(ctx, cl, topic, 12); err != nil {
		t.Fatalf("EnsureTopic on the existing topic: %v", err)
	}
}

func TestEnsureTopicMismatch(t *testing.T) {
	c := kafkatest.New(t)
	ctx := testCtx(t)
	topic := c.Topic(t, 8, nil)

	err := EnsureTopic(ctx, freshClient(t, c), topic, 12)
	var mm *BucketsMismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("EnsureTopic(12 buckets) on an 8-partition topic = %v, want a *BucketsMismatchError", err)
	}
	if mm.Topic != topic || mm.Buckets != 12 || mm.Partitions != 8 {
		t.Errorf("error fields = %+v, want topic %s, 12 buckets, 8 partitions", *mm, topic)
	}
	// The operator reads this message: it must name the settings, both
	// counts, and the way out.
	for _, want := range []string{"CLUSTER_BUCKETS is 12", "CLUSTER_TOPIC=\"" + topic + "\"", "8 partitions", "new CLUSTER_TOPIC and CLUSTER_GROUP"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestEnsureTopicRace starts several replicas at once on a missing topic:
// all succeed, whichever of them created it.
func TestEnsureTopicRace(t *testing.T) {
	c := kafkatest.New(t)
	ctx := testCtx(t)
	topic := newTopicName(t, c)

	const replicas = 4
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		cl := freshClient(t, c)
		wg.Go(func() { errs[i] = EnsureTopic(ctx, cl, topic, 6) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

func TestEnsureTopicRejectsNoBuckets(t *testing.T) {
	if err := EnsureTopic(context.Background(), nil, "t", 0); err == nil {
		t.Fatal("EnsureTopic with 0 buckets succeeded")
	}
}
