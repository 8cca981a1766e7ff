package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Owner is the group member that owns a bucket, as the group coordinator
// knows it.
type Owner struct {
	// InstanceID is the static member's CLUSTER_INSTANCE_ID; empty for a
	// dynamic member.
	InstanceID string
	// MemberID is the id the coordinator gave the member.
	MemberID string
	// ClientID is the member's Kafka client id.
	ClientID string
	// Host is the address the coordinator sees the member connect from.
	Host string
}

// Owners returns the owner of each bucket of the group's assignment topic,
// from the group coordinator (DescribeGroups), not from any replica's
// memory: what `callstream tenants` shows. A bucket missing from the map has
// no owner, as while a group rebalances or has no members; a group that does
// not exist yields an empty map.
func Owners(ctx context.Context, adm *kadm.Client, group, topic string) (map[int]Owner, error) {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("cluster: describing group %s: %w", group, err)
	}
	g, ok := described[group]
	if !ok {
		return nil, fmt.Errorf("cluster: describing group %s: not in the response", group)
	}
	if errors.Is(g.Err, kerr.GroupIDNotFound) {
		return map[int]Owner{}, nil
	}
	if g.Err != nil {
		return nil, fmt.Errorf("cluster: describing group %s: %w", group, g.Err)
	}
	owners := map[int]Owner{}
	if len(g.Members) == 0 {
		return owners, nil
	}
	if g.ProtocolType != "consumer" {
		return nil, fmt.Errorf("cluster: group %s has protocol type %q, not a consumer group of replicas", group, g.ProtocolType)
	}
	for _, m := range g.Members {
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			continue // joined but not yet synced: no assignment
		}
		o := Owner{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			o.InstanceID = *m.InstanceID
		}
		for _, t := range a.Topics {
			if t.Topic != topic {
				continue
			}
			for _, p := range t.Partitions {
				owners[int(p)] = o
			}
		}
	}
	return owners, nil
}
