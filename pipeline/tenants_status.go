package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/cluster"
)

// TenantStatus is one lane (tenant, source) as `callstream tenants` lists
// it: what its checkpoint says and who owns its bucket now. Both come from
// Kafka (the checkpoint topic and the replica group), not from any
// replica's memory, so any host with the configuration can list them.
type TenantStatus struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name,omitempty"`
	Source string `json:"source"`
	Topic  string `json:"topic"`
	Bucket int    `json:"bucket"`
	// Watermark is zero before the lane's first checkpoint.
	Watermark time.Time `json:"watermark,omitzero"`
	// Lag is now minus the watermark (zero without one).
	Lag time.Duration `json:"lagSeconds"`
	// State is "new" (no checkpoint yet), "caught up", "behind" (lag over
	// two windows past SETTLE_DELAY), "unowned" (no replica owns its
	// bucket) or "not configured" (a checkpoint of a tenant no longer in
	// TENANTS/TENANTS_FILE).
	State string `json:"state"`
	// Owner is the owning replica's CLUSTER_INSTANCE_ID (or member id);
	// "this process's configuration" without a replica group.
	Owner string `json:"owner,omitempty"`
}

// Tenants lists every configured tenant's lanes, and the lanes of tenants
// found in the checkpoint topic but no longer configured, with their
// watermark and owner. It needs CHECKPOINT_STORE=kafka.
func (p *Pipeline) Tenants(ctx context.Context) ([]TenantStatus, error) {
	cfg := p.cfg
	if cfg.Checkpoint.Store == "file" {
		return nil, &ConfigError{Problems: []string{"CHECKPOINT_STORE=file: tenants reads the checkpoint topic and the replica group; it needs CHECKPOINT_STORE=kafka"}}
	}
	conn, err := kafkaConnOpts(cfg, p.log, p.extraKafka)
	if err != nil {
		return nil, err
	}
	cl, err := checkpointClient(cfg, conn)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	scopes, err := checkpoint.NewKafkaReader(cl, checkpointTopic(cfg)).Scopes(ctx)
	if err != nil {
		return nil, err
	}
	owners := map[int]string{}
	if cfg.Cluster.Group != "" {
		byBucket, err := cluster.Owners(ctx, kadm.NewClient(cl), cfg.Cluster.Group, cfg.Cluster.Topic)
		if err != nil {
			return nil, fmt.Errorf("replica group %s: %w", cfg.Cluster.Group, err)
		}
		for b, o := range byBucket {
			owners[b] = cmp.Or(o.InstanceID, o.MemberID)
		}
	}
	buckets := max(cfg.Cluster.Buckets, 1)
	now := time.Now()
	type laneKey struct{ tenant, source, topic string }
	marks := map[laneKey]time.Time{}
	for _, s := range scopes {
		topic, tenant := checkpoint.SplitScope(s.Scope)
		if tenant == "" {
			tenant = cfg.Graph.Auth.TenantID
		}
		marks[laneKey{tenant, s.Source, topic}] = s.State.Watermark
	}
	var rows []TenantStatus
	seen := map[laneKey]bool{}
	add := func(k laneKey, name, state string) {
		seen[k] = true
		r := TenantStatus{Tenant: k.tenant, Name: name, Source: k.source, Topic: k.topic,
			Bucket: cluster.Bucket(k.tenant, buckets), Watermark: marks[k], State: state}
		if !r.Watermark.IsZero() {
			r.Lag = now.Sub(r.Watermark).Round(time.Second)
		}
		switch {
		case state != "":
		case r.Watermark.IsZero():
			r.State = "new"
		case r.Lag > 2*cfg.Walk.Window+cfg.Walk.SettleDelay:
			r.State = "behind"
		default:
			r.State = "caught up"
		}
		switch {
		case cfg.Cluster.Group == "":
			r.Owner = "(no replica group)"
		case owners[r.Bucket] != "":
			r.Owner = owners[r.Bucket]
		case r.State != "not configured":
			r.State, r.Owner = "unowned", "-"
		}
		rows = append(rows, r)
	}
	for _, t := range cfg.TenantList() {
		for _, src := range cfg.TenantSources(t) {
			topic := cfg.Kafka.TopicFor(src)
			if t.Topics[src] != "" {
				topic = t.Topics[src]
			}
			add(laneKey{t.ID, src, topic}, t.Name, "")
		}
	}
	for k := range marks {
		if !seen[k] && k.tenant != "" {
			add(k, "", "not configured")
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		return a.Tenant < b.Tenant || a.Tenant == b.Tenant && a.Source < b.Source
	})
	return rows, nil
}

// WriteTenants prints rows as a table, or as JSON.
func WriteTenants(w io.Writer, rows []TenantStatus, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []TenantStatus{}
		}
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tNAME\tSOURCE\tBUCKET\tWATERMARK\tLAG\tSTATE\tOWNER")
	for _, r := range rows {
		mark, lag := "-", "-"
		if !r.Watermark.IsZero() {
			mark, lag = fmtTime(r.Watermark), r.Lag.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Tenant, cmp.Or(r.Name, "-"), r.Source, r.Bucket, mark, lag, r.State, r.Owner)
	}
	return tw.Flush()
}
