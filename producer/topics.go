package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicRole is what a topic holds, which decides what its configuration
// must be.
type TopicRole int

// The roles of callstream's topics.
const (
	// DataTopic holds rows: never compacted (rows of one call share a key).
	DataTopic TopicRole = iota
	// DeadLetterTopic holds rows that could not be encoded: never compacted
	// either (dead letters of one call share a key too).
	DeadLetterTopic
	// CheckpointTopic holds checkpoint records: must be compacted, or
	// retention would one day delete the latest checkpoint.
	CheckpointTopic
	// UpsertTopic holds the rows of an aggregate source (pstn-dialout):
	// one record per key and version, the latest the one that counts, so
	// it is created compacted. An existing topic that is not compacted is
	// only warned about: it still holds every version, in order, and
	// compaction is a matter of its size, not of correctness.
	UpsertTopic
)

func (r TopicRole) String() string {
	switch r {
	case DeadLetterTopic:
		return "dead-letter"
	case CheckpointTopic:
		return "checkpoint"
	case UpsertTopic:
		return "upsert data"
	default:
		return "data"
	}
}

// TopicSpec is a topic the producer needs, and how to create it if it is
// missing.
type TopicSpec struct {
	Name string
	Role TopicRole
	// Partitions and ReplicationFactor for creation; -1 (or 0) means the
	// broker's defaults.
	Partitions        int32
	ReplicationFactor int16
	// Configs are topic configs set on creation, e.g. retention.ms. A
	// checkpoint topic always gets cleanup.policy=compact.
	Configs map[string]string
	// MinMessageBytes is the smallest max.message.bytes the topic may have:
	// the producer's largest batch. 0 skips the check.
	MinMessageBytes int32
}

// TopicSettings configures the topics New checks and may create. The data
// topic (Config.Topic) is always checked; the dead-letter and checkpoint
// topics when named.
type TopicSettings struct {
	// Create creates missing topics (with kadm) instead of failing.
	Create bool
	// Partitions and ReplicationFactor for created data and dead-letter
	// topics (a checkpoint topic gets one partition); -1 or 0 means the
	// broker's defaults.
	Partitions        int32
	ReplicationFactor int16
	// Configs are set on created data and dead-letter topics.
	Configs map[string]string
	// DeadLetter and Checkpoint name the other topics, if used.
	DeadLetter, Checkpoint string
	// Upsert makes the data topic an UpsertTopic (an aggregate source's):
	// created compacted, and not refused for being compacted.
	Upsert bool
}

// TopicError lists every problem found with the topics.
type TopicError struct {
	Problems []error
}

// Error lists the problems, one per line.
func (e *TopicError) Error() string {
	var b strings.Builder
	b.WriteString("kafka topics:")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap lets errors.Is find ErrCompactedTopic and the others.
func (e *TopicError) Unwrap() []error { return e.Problems }

// Topic problems callers may branch on.
var (
	ErrTopicMissing      = errors.New("topic does not exist")
	ErrNotCompacted      = errors.New("topic is not compacted")
	ErrMessageBytesSmall = errors.New("topic max.message.bytes is below the producer's batch size")
)

// TopicSpecs are the topics New checks (or creates) for cfg, so that a
// dry run (callstream check) can check the same ones with EnsureTopics
// without creating any.
func (c Config) TopicSpecs() []TopicSpec { return c.topicSpecs() }

// specs are the topics cfg names.
func (c Config) topicSpecs() []TopicSpec {
	batch := c.BatchMaxBytes
	if batch == 0 {
		batch = DefaultBatchMaxBytes
	}
	t := c.Topics
	role := DataTopic
	if t.Upsert {
		role = UpsertTopic
	}
	specs := []TopicSpec{{Name: c.Topic, Role: role, Partitions: t.Partitions,
		ReplicationFactor: t.ReplicationFactor, Configs: t.Configs, MinMessageBytes: batch}}
	if t.DeadLetter != "" {
		specs = append(specs, TopicSpec{Name: t.DeadLetter, Role: DeadLetterTopic, Partitions: t.Partitions,
			ReplicationFactor: t.ReplicationFactor, Configs: t.Configs, MinMessageBytes: batch})
	}
	if t.Checkpoint != "" {
		specs = append(specs, TopicSpec{Name: t.Checkpoint, Role: CheckpointTopic, Partitions: 1,
			ReplicationFactor: t.ReplicationFactor})
	}
	return specs
}

// EnsureTopics checks that every topic exists with a configuration fit for
// its role, creating missing ones first when create is set. It reports all
// problems at once as a *TopicError. A cluster that will not describe topic
// configs (some managed services) gets a warning and no config checks.
func EnsureTopics(ctx context.Context, cl *kgo.Client, specs []TopicSpec, create bool, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	adm := kadm.NewClient(cl)
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Name)
	}
	tds, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	var problems []error
	var present []TopicSpec
	for _, s := range specs {
		td, ok := tds[s.Name]
		exists := ok && td.Err == nil
		if ok && td.Err != nil && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("describe topic %s: %w", s.Name, td.Err)
		}
		if exists {
			present = append(present, s)
			continue
		}
		if !create {
			problems = append(problems, fmt.Errorf("%s topic %s: %w: create it (partitions and replication are yours to choose) or set KAFKA_CREATE_TOPICS=true", s.Role, s.Name, ErrTopicMissing))
			continue
		}
		if err := createTopic(ctx, adm, s); err != nil {
			problems = append(problems, err)
			continue
		}
		log.Info("created topic", "topic", s.Name, "role", s.Role.String(), "partitions", s.Partitions, "replication", s.ReplicationFactor)
		present = append(present, s)
	}
	if len(present) > 0 {
		ps, err := checkTopicConfigs(ctx, adm, present, log)
		if err != nil {
			return err
		}
		problems = append(problems, ps...)
	}
	if len(problems) > 0 {
		return &TopicError{Problems: problems}
	}
	return nil
}

func createTopic(ctx context.Context, adm *kadm.Client, s TopicSpec) error {
	configs := map[string]*string{}
	for k, v := range maps.All(s.Configs) {
		configs[k] = kadm.StringPtr(v)
	}
	if s.Role == CheckpointTopic || s.Role == UpsertTopic {
		configs["cleanup.policy"] = kadm.StringPtr("compact")
	}
	parts, rf := s.Partitions, s.ReplicationFactor
	if parts == 0 {
		parts = -1
	}
	if rf == 0 {
		rf = -1
	}
	resp, err := adm.CreateTopic(ctx, parts, rf, configs, s.Name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		msg := resp.ErrMessage
		if msg != "" {
			return fmt.Errorf("create %s topic %s: %w (%s)", s.Role, s.Name, err, msg)
		}
		return fmt.Errorf("create %s topic %s: %w", s.Role, s.Name, err)
	}
	return nil
}

func checkTopicConfigs(ctx context.Context, adm *kadm.Client, specs []TopicSpec, log *slog.Logger) ([]error, error) {
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Name)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) && !ke.Retriable {
			log.Warn("the cluster does not describe topic configs; they are not checked", "error", err.Error())
			return nil, nil
		}
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	var problems []error
	for _, s := range specs {
		rc, err := rcs.On(s.Name, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			log.Warn("cannot read the topic's configs; they are not checked", "topic", s.Name, "error", err.Error())
			continue
		}
		vals := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				vals[c.Key] = *c.Value
			}
		}
		problems = append(problems, topicProblems(s, vals)...)
		if s.Role == UpsertTopic && !strings.Contains(vals["cleanup.policy"], "compact") {
			log.Warn("the topic of an aggregate source is not compacted: it keeps every version of every row, where a compacted topic keeps the latest per key (set cleanup.policy=compact)",
				"topic", s.Name, "cleanup.policy", vals["cleanup.policy"])
		}
	}
	return problems, nil
}

// topicProblems checks one topic's configuration against its role.
func topicProblems(s TopicSpec, configs map[string]string) []error {
	var problems []error
	policy := configs["cleanup.policy"]
	compacted := strings.Contains(policy, "compact")
	switch s.Role {
	case DataTopic, DeadLetterTopic:
		if compacted {
			problems = append(problems, fmt.Errorf("%s topic %s has cleanup.policy=%s: %w; rows of one call share a key and all but the last would be erased", s.Role, s.Name, policy, ErrCompactedTopic))
		}
	case CheckpointTopic:
		if !compacted {
			problems = append(problems, fmt.Errorf("checkpoint topic %s has cleanup.policy=%s: %w; retention would delete the latest checkpoint (set cleanup.policy=compact)", s.Name, policy, ErrNotCompacted))
		}
	}
	if s.MinMessageBytes > 0 {
		if v, ok := configs["max.message.bytes"]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil && n < int64(s.MinMessageBytes) {
				problems = append(problems, fmt.Errorf("%s topic %s has max.message.bytes=%d: %w (%d): raise it, or lower KAFKA_BATCH_MAX_BYTES to at most %d", s.Role, s.Name, n, ErrMessageBytesSmall, s.MinMessageBytes, n))
			}
		}
	}
	return problems
}
