package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BucketsMismatchError is returned by [EnsureTopic] when the assignment topic
// exists with a partition count other than the configured bucket count.
// Replicas that disagree on the bucket count would disagree on which bucket
// a tenant is in, so this is never repaired in place.
type BucketsMismatchError struct {
	Topic      string // the assignment topic (CLUSTER_TOPIC)
	Buckets    int    // the configured bucket count (CLUSTER_BUCKETS)
	Partitions int    // the topic's partition count
}

func (e *BucketsMismatchError) Error() string {
	return fmt.Sprintf("CLUSTER_BUCKETS is %d but the assignment topic CLUSTER_TOPIC=%q has %d partitions: "+
		"the bucket count is fixed for a topic and group; to change it, use a new CLUSTER_TOPIC and CLUSTER_GROUP "+
		"(tenants then move to new buckets and transactional ids), or set CLUSTER_BUCKETS=%d",
		e.Buckets, e.Topic, e.Partitions, e.Partitions)
}

// EnsureTopic makes sure the assignment topic exists with one partition per
// bucket: it creates the topic with buckets partitions and the broker's
// default replication factor when it is missing, and returns a
// *[BucketsMismatchError] when it exists with another partition count.
// Replicas starting at once may race to create the topic; the loser checks
// the winner's topic like any existing one.
func EnsureTopic(ctx context.Context, cl *kgo.Client, topic string, buckets int) error {
	if buckets < 1 {
		return fmt.Errorf("cluster: %d buckets: need at least 1", buckets)
	}
	adm := kadm.NewClient(cl)
	created := false
	for attempt := 0; ; attempt++ {
		n, err := partitionCount(ctx, adm, topic)
		switch {
		case err == nil:
			if n != buckets {
				return &BucketsMismatchError{Topic: topic, Buckets: buckets, Partitions: n}
			}
			return nil
		case errors.Is(err, kerr.UnknownTopicOrPartition) && !created:
			_, err := adm.CreateTopic(ctx, int32(buckets), -1, nil, topic)
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("cluster: creating assignment topic %s with %d partitions: %w", topic, buckets, err)
			}
			// Created by us or by another replica: from here on, wait for
			// the metadata to show it.
			created = true
		case errors.Is(err, kerr.UnknownTopicOrPartition), kerr.IsRetriable(err):
			// The topic exists but the metadata lags (the client caches it
			// for up to MetadataMinAge): retry below.
		default:
			return fmt.Errorf("cluster: describing assignment topic %s: %w", topic, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for assignment topic %s: %w (last: %w)", topic, ctx.Err(), err)
		case <-time.After(min(100*time.Millisecond<<min(attempt, 4), time.Second)):
		}
	}
}

// partitionCount returns how many partitions the topic has, or the topic's
// metadata error (kerr.UnknownTopicOrPartition when it does not exist).
func partitionCount(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	td, ok := tds[topic]
	if !ok {
		return 0, kerr.UnknownTopicOrPartition
	}
	if td.Err != nil {
		return 0, td.Err
	}
	if len(td.Partitions) == 0 {
		// Just created: metadata may list the topic before its partitions.
		return 0, kerr.LeaderNotAvailable
	}
	return len(td.Partitions), nil
}
