package producer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
)

// uniqueTopic names a topic that EnsureTopics will create, deleted when
// the test ends.
func uniqueTopic(t *testing.T, adm *kadm.Client, role string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "callstream-" + role + "-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopic(ctx, name)
	})
	return name
}

func TestEnsureTopicsCreatesWithPartitionsAndConfigs(t *testing.T) {
	kc := kafkatest.New(t)
	cl := kc.Client(t, kgo.MetadataMinAge(20*time.Millisecond))
	adm := kadm.NewClient(cl)
	data, dlq, cp := uniqueTopic(t, adm, "data"), uniqueTopic(t, adm, "dlq"), uniqueTopic(t, adm, "checkpoint")
	specs := []producer.TopicSpec{
		{Name: data, Role: producer.DataTopic, Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "86400000"}, MinMessageBytes: producer.DefaultBatchMaxBytes},
		{Name: dlq, Role: producer.DeadLetterTopic, Partitions: 2, ReplicationFactor: 1},
		{Name: cp, Role: producer.CheckpointTopic, Partitions: 1, ReplicationFactor: 1},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log, lb := testLogger()
	if err := producer.EnsureTopics(ctx, cl, specs, true, log); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	if n := strings.Count(lb.String(), "created topic"); n != 3 {
		t.Fatalf("logged %d creations, want 3:\n%s", n, lb)
	}
	// kadm answers from the client's metadata cache, which may still hold
	// the "unknown topic" EnsureTopics saw before creating: poll.
	var tds kadm.TopicDetails
	for {
		var err error
		if tds, err = adm.ListTopics(ctx, data, dlq, cp); err == nil && tds.Error() == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not listed: %v %v", err, tds.Error())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, want := range map[string]int{data: 3, dlq: 2, cp: 1} {
		if got := len(tds[name].Partitions); got != want {
			t.Errorf("%s has %d partitions, want %d", name, got, want)
		}
	}
	configs := describe(t, adm, data, cp)
	if configs[data]["retention.ms"] != "86400000" {
		t.Errorf("data topic retention.ms %q, want 86400000", configs[data]["retention.ms"])
	}
	if !strings.Contains(configs[cp]["cleanup.policy"], "compact") {
		t.Errorf("checkpoint topic cleanup.policy %q, want compact", configs[cp]["cleanup.policy"])
	}
	// A second call finds them all and is content.
	if err := producer.EnsureTopics(ctx, cl, specs, true, log); err != nil {
		t.Fatalf("second ensure: %v", err)
	}
}

func describe(t *testing.T, adm *kadm.Client, topics ...string) map[string]map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, rc := range rcs {
		m := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				m[c.Key] = *c.Value
			}
		}
		out[rc.Name] = m
	}
	return out
}

func TestEnsureTopicsReportsEveryProblem(t *testing.T) {
	kc := kafkatest.New(t)
	compacted := kc.Topic(t, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	small := kc.Topic(t, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("50000")})
	deleting := kc.Topic(t, 1, nil)
	cl := kc.Client(t)
	missing := uniqueTopic(t, kadm.NewClient(cl), "missing")

	specs := []producer.TopicSpec{
		{Name: compacted, Role: producer.DataTopic, MinMessageBytes: producer.DefaultBatchMaxBytes},
		{Name: small, Role: producer.DeadLetterTopic, MinMessageBytes: producer.DefaultBatchMaxBytes},
		{Name: deleting, Role: producer.CheckpointTopic},
		{Name: missing, Role: producer.DeadLetterTopic},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := producer.EnsureTopics(ctx, cl, specs, false, nil)
	var te *producer.TopicError
	if !errors.As(err, &te) {
		t.Fatalf("err %v, want a TopicError", err)
	}
	for _, want := range []error{producer.ErrCompactedTopic, producer.ErrMessageBytesSmall, producer.ErrNotCompacted, producer.ErrTopicMissing} {
		if !errors.Is(err, want) {
			t.Errorf("the error does not report %v:\n%v", want, err)
		}
	}
	if len(te.Problems) != 4 {
		t.Errorf("%d problems, want 4:\n%v", len(te.Problems), err)
	}
	for _, name := range []string{compacted, small, deleting, missing, "KAFKA_BATCH_MAX_BYTES"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}

	// A smaller producer batch fits the small topic.
	specs[1].MinMessageBytes = 50000
	err = producer.EnsureTopics(ctx, cl, specs[1:2], false, nil)
	if err != nil {
		t.Errorf("batch of 50000 bytes into max.message.bytes=50000: %v", err)
	}
}

func TestNewRefusesACompactedDataTopic(t *testing.T) {
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	_, _, err := newSecured(t, kc.Brokers, topic, producer.Security{}, 10*time.Second)
	if !errors.Is(err, producer.ErrCompactedTopic) {
		t.Fatalf("err %v, want ErrCompactedTopic", err)
	}
}

// TestUpsertTopicIsCompacted: the data topic of an aggregate source
// (TopicSettings.Upsert) is created compacted; an existing compacted one
// is fit for it, and an existing one that is not is only warned about —
// it still holds every version in order.
func TestUpsertTopicIsCompacted(t *testing.T) {
	kc := kafkatest.New(t)
	cl := kc.Client(t, kgo.MetadataMinAge(20*time.Millisecond))
	adm := kadm.NewClient(cl)
	created := uniqueTopic(t, adm, "upsert")
	cfg := producer.Config{Topic: created, Topics: producer.TopicSettings{Upsert: true, Partitions: 2, ReplicationFactor: 1}}
	specs := cfg.TopicSpecs()
	if len(specs) != 1 || specs[0].Role != producer.UpsertTopic {
		t.Fatalf("specs %+v, want the data topic as an upsert topic", specs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log, lb := testLogger()
	if err := producer.EnsureTopics(ctx, cl, specs, true, log); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	for {
		if tds, err := adm.ListTopics(ctx, created); err == nil && tds.Error() == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the topic was not created")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p := describe(t, adm, created)[created]["cleanup.policy"]; !strings.Contains(p, "compact") {
		t.Errorf("created upsert topic has cleanup.policy %q, want compact", p)
	}
	if err := producer.EnsureTopics(ctx, cl, specs, false, log); err != nil {
		t.Errorf("a compacted upsert topic: %v", err)
	}
	if strings.Contains(lb.String(), "not compacted") {
		t.Errorf("warned about a compacted topic:\n%s", lb)
	}

	plain := kc.Topic(t, 1, nil)
	err := producer.EnsureTopics(ctx, cl, []producer.TopicSpec{{Name: plain, Role: producer.UpsertTopic}}, false, log)
	if err != nil {
		t.Errorf("a non-compacted upsert topic is refused: %v", err)
	}
	if !strings.Contains(lb.String(), "not compacted") || !strings.Contains(lb.String(), plain) {
		t.Errorf("no warning about the non-compacted topic %s:\n%s", plain, lb)
	}
}
