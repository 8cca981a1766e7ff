package kafkatest_test

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/internal/kafkatest"
)

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func values(recs []*kgo.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	return out
}

func TestNew(t *testing.T) {
	c := kafkatest.New(t)
	if len(c.Brokers) == 0 {
		t.Fatal("no brokers")
	}
	if c.Real != (c.Fake == nil) {
		t.Fatalf("Real=%v but Fake=%v", c.Real, c.Fake)
	}
	t.Logf("brokers %v, real %v", c.Brokers, c.Real)
	if err := c.Client(t).Ping(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestNewFake(t *testing.T) {
	t.Setenv(kafkatest.EnvBrokers, "127.0.0.1:1")
	c := kafkatest.NewFake(t)
	if c.Real || c.Fake == nil || len(c.Brokers) != 1 {
		t.Fatalf("NewFake: %+v", c)
	}
}

func TestNewFromEnv(t *testing.T) {
	t.Setenv(kafkatest.EnvBrokers, " 127.0.0.1:1, 127.0.0.1:2 ,")
	c := kafkatest.New(t)
	if !c.Real || c.Fake != nil || !slices.Equal(c.Brokers, []string{"127.0.0.1:1", "127.0.0.1:2"}) {
		t.Fatalf("New with %s set: %+v", kafkatest.EnvBrokers, c)
	}
}

func TestTopic(t *testing.T) {
	c := kafkatest.New(t)
	// A short metadata min age: kadm answers from the client's metadata cache.
	adm := kadm.NewClient(c.Client(t, kgo.MetadataMinAge(20*time.Millisecond)))
	valid := regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

	var names []string
	for _, sub := range []string{"plain", "with space/and:colon", "compact"} {
		t.Run(sub, func(t *testing.T) {
			var configs map[string]*string
			if sub == "compact" {
				configs = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
			}
			name := c.Topic(t, 2, configs)
			if !valid.MatchString(name) {
				t.Fatalf("invalid topic name %q", name)
			}
			names = append(names, name)

			tds, err := adm.ListTopics(ctx(t), name)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(tds[name].Partitions); n != 2 {
				t.Fatalf("%d partitions, want 2", n)
			}
			rcs, err := adm.DescribeTopicConfigs(ctx(t), name)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := rcs.On(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := "delete"
			if configs != nil {
				want = "compact"
			}
			for _, cfg := range rc.Configs {
				if cfg.Key == "cleanup.policy" && cfg.MaybeValue() != want {
					t.Fatalf("cleanup.policy = %q, want %q", cfg.MaybeValue(), want)
				}
			}
		})
	}
	if len(names) != 3 || names[0] == names[1] || names[1] == names[2] {
		t.Fatalf("names not unique: %q", names)
	}

	// The subtests' topics are deleted when they end.
	deadline := time.Now().Add(30 * time.Second)
	for {
		tds, err := adm.ListTopics(ctx(t)) // all topics
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, n := range names {
			if tds.Has(n) {
				left = append(left, n)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topics not deleted: %q", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReadAll(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 3, nil)
	if recs := c.ReadAll(t, topic, false); len(recs) != 0 {
		t.Fatalf("empty topic: got %d records", len(recs))
	}

	cl := c.Client(t, kgo.DefaultProduceTopic(topic))
	var want []string
	var recs []*kgo.Record
	for i := range 30 {
		v := string(rune('a'+i%26)) + string(rune('0'+i/26))
		want = append(want, v)
		recs = append(recs, kgo.KeyStringRecord(v, v))
	}
	if err := cl.ProduceSync(ctx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)

	for _, committed := range []bool{false, true} {
		got := c.ReadAll(t, topic, committed)
		if len(got) != len(want) {
			t.Fatalf("committedOnly=%v: got %d records, want %d", committed, len(got), len(want))
		}
		// Partition then offset order, every record from its topic.
		for i, r := range got {
			if r.Topic != topic || string(r.Key) != string(r.Value) {
				t.Fatalf("record %d: %+v", i, r)
			}
			if i > 0 {
				prev := got[i-1]
				if r.Partition < prev.Partition || r.Partition == prev.Partition && r.Offset <= prev.Offset {
					t.Fatalf("records out of order at %d: %d/%d after %d/%d",
						i, r.Partition, r.Offset, prev.Partition, prev.Offset)
				}
			}
		}
		gotValues := values(got)
		slices.Sort(gotValues)
		if !slices.Equal(gotValues, want) {
			t.Fatalf("committedOnly=%v: got %q, want %q", committed, gotValues, want)
		}
	}
}

func TestReadAllTransactions(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 2, nil)
	p := c.Client(t,
		kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID(topic+"-txn"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)

	txn := func(commit bool, vals ...string) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			r := kgo.StringRecord(v)
			r.Partition = int32(i % 2)
			if err := p.ProduceSync(ctx(t), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.EndTransaction(ctx(t), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn(true, "c1", "c2")
	txn(false, "a1", "a2", "a3")
	txn(true, "c3", "c4")

	// A non-transactional record, then a transaction left open: read_committed
	// stops at the open transaction's first record (the last stable offset).
	plain := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r := kgo.StringRecord("n1")
	r.Partition = 1
	if err := plain.ProduceSync(ctx(t), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	open := kgo.StringRecord("o1")
	open.Partition = 0
	if err := p.ProduceSync(ctx(t), open).FirstErr(); err != nil {
		t.Fatal(err)
	}

	check := func(committed bool, want ...string) {
		t.Helper()
		got := values(c.ReadAll(t, topic, committed))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("ReadAll(committedOnly=%v) = %q, want %q", committed, got, want)
		}
	}
	check(true, "c1", "c2", "c3", "c4", "n1")
	check(false, "c1", "c2", "a1", "a2", "a3", "c3", "c4", "n1", "o1")

	if err := p.EndTransaction(ctx(t), kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	check(true, "c1", "c2", "c3", "c4", "n1")
	check(false, "c1", "c2", "a1", "a2", "a3", "c3", "c4", "n1", "o1")
}
