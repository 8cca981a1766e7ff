package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults for the zero fields of [Config]. The timeouts are chosen for
// the handover target: a replica killed without leaving is noticed after
// SessionTimeout, and the survivors' rebalance (a heartbeat, a join, a
// sync) takes a few seconds more, well inside 30 s. Apache Kafka refuses
// session timeouts below group.min.session.timeout.ms (6 s by default).
const (
	DefaultTopic             = "callstream.assignments"
	DefaultBuckets           = 64
	DefaultSessionTimeout    = 10 * time.Second
	DefaultRebalanceTimeout  = 30 * time.Second
	DefaultHeartbeatInterval = time.Second
)

// Config configures a [Member]. Zero fields take the Default values.
type Config struct {
	// Group is the consumer group of the replicas (CLUSTER_GROUP); required.
	Group string
	// Topic is the assignment topic (CLUSTER_TOPIC), one partition per
	// bucket. Nothing is ever written to it.
	Topic string
	// Buckets is the bucket count (CLUSTER_BUCKETS): the topic's partition
	// count, fixed for the life of the topic and group.
	Buckets int
	// InstanceID makes the member static (CLUSTER_INSTANCE_ID, e.g. the
	// StatefulSet pod name): a replica restarted with the same id within
	// the session timeout gets its buckets back without a rebalance. Empty
	// means a dynamic member.
	InstanceID string
	// SessionTimeout is how long the group waits for a silent member
	// before giving its buckets to the others: the time a killed replica's
	// buckets stand still. It must lie within the broker's
	// group.min/max.session.timeout.ms.
	SessionTimeout time.Duration
	// RebalanceTimeout bounds how long members may take in a rebalance,
	// including Handler.Revoked releasing buckets; a member slower than
	// that is dropped from the group.
	RebalanceTimeout time.Duration
	// HeartbeatInterval is how often the member heartbeats; it bounds how
	// soon a member notices a rebalance. At most a third of SessionTimeout.
	HeartbeatInterval time.Duration
	// Opts are the connection options: seed brokers, TLS, SASL, client id.
	// They are applied after the group options, so they must not set group
	// or consuming options.
	Opts []kgo.Opt
	// Logger receives membership changes; nil discards them.
	Logger *slog.Logger
}

// legalInstanceID is what Kafka accepts as group.instance.id.
var legalInstanceID = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// withDefaults returns cfg with zero fields defaulted, or an error naming
// the first invalid field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Group == "" {
		return cfg, errors.New("cluster: no consumer group (CLUSTER_GROUP)")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.Buckets == 0 {
		cfg.Buckets = DefaultBuckets
	}
	if cfg.Buckets < 1 {
		return cfg, fmt.Errorf("cluster: CLUSTER_BUCKETS=%d: need at least 1", cfg.Buckets)
	}
	if cfg.InstanceID != "" && !legalInstanceID.MatchString(cfg.InstanceID) {
		return cfg, fmt.Errorf("cluster: CLUSTER_INSTANCE_ID=%q: Kafka accepts 1 to 249 of [a-zA-Z0-9._-]", cfg.InstanceID)
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.RebalanceTimeout == 0 {
		cfg.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = min(DefaultHeartbeatInterval, cfg.SessionTimeout/3)
	}
	if cfg.SessionTimeout < 0 || cfg.RebalanceTimeout < 0 || cfg.HeartbeatInterval <= 0 {
		return cfg, errors.New("cluster: negative timeout")
	}
	if cfg.HeartbeatInterval >= cfg.SessionTimeout {
		return cfg, fmt.Errorf("cluster: heartbeat interval %v is not below the session timeout %v", cfg.HeartbeatInterval, cfg.SessionTimeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// Handler is told which buckets the member gains and loses. Its methods are
// never called concurrently with one another; they are called from the
// group's management goroutine and hold up the rebalance until they return,
// so together they must fit in Config.RebalanceTimeout. The buckets are
// sorted and never empty. ctx is canceled only when the member's client is
// closed.
type Handler interface {
	// Assigned hands the member new buckets. Before reading a bucket's
	// checkpoints the caller must claim the bucket's transactional id,
	// fencing any previous owner that may still be running. Long work
	// (walking the bucket's tenants) belongs in the caller's goroutines,
	// not in Assigned.
	Assigned(ctx context.Context, buckets []int)
	// Revoked takes buckets away in an orderly rebalance or when the
	// member leaves. It must return only once the caller has released them
	// (stopped their work, ended or aborted the open transaction, closed
	// the producer): the group gives them to another member right after.
	Revoked(ctx context.Context, buckets []int)
	// Lost reports buckets the member no longer owns because it fell out
	// of the group (a session timeout, a fatal group error): another
	// member may own them already. The caller stops their work at once;
	// its transactions will be fenced if they are not already.
	Lost(ctx context.Context, buckets []int)
}

// Stats are a member's counters since Join, for metrics.
type Stats struct {
	// Owned is how many buckets the member owns now.
	Owned int
	// Rebalances counts the group sessions the member took part in: every
	// completed join and sync, whether or not its buckets changed (a
	// cooperative rebalance that moves buckets takes two).
	Rebalances uint64
	// Assigns, Revokes and Losses count the Handler calls; the Buckets
	// counters count the buckets they carried.
	Assigns, Revokes, Losses                     uint64
	BucketsAssigned, BucketsRevoked, BucketsLost uint64
	// LastRevoke is how long the last Handler.Revoked took to release its
	// buckets: the member's share of a handover.
	LastRevoke time.Duration
}

// Member is one replica's membership of the group. Create it with [Join],
// then call [Member.Run].
type Member struct {
	cfg Config
	h   Handler
	cl  *kgo.Client
	log *slog.Logger

	// killed (tests only) makes the callbacks ignore the client's last
	// revoke, as if the process had died.
	killed atomic.Bool

	mu    sync.Mutex
	owned map[int]bool
	stats Stats

	closeOnce sync.Once
	leaveErr  error // set once by leave
}

// ErrClosed is returned by [Member.Run] when the member's client was
// closed before Run's context ended.
var ErrClosed = errors.New("cluster: member closed")

// Join makes sure the assignment topic exists ([EnsureTopic]) and joins the
// group. Membership starts at once: h may be called before Join returns
// and until Run returns. The caller must call Run (or Close, if it gives
// up before Run) to leave the group.
func Join(ctx context.Context, cfg Config, h Handler) (*Member, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("cluster: nil handler")
	}
	m := &Member{cfg: cfg, h: h, log: cfg.Logger.With("group", cfg.Group, "topic", cfg.Topic), owned: map[int]bool{}}

	// The topic is checked with a plain client first: a group client would
	// start joining, and be handed buckets, before a mismatch is found.
	admin, err := kgo.NewClient(cfg.Opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: kafka client: %w", err)
	}
	err = EnsureTopic(ctx, admin, cfg.Topic, cfg.Buckets)
	admin.Close()
	if err != nil {
		return nil, err
	}

	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.RebalanceTimeout(cfg.RebalanceTimeout),
		kgo.HeartbeatInterval(cfg.HeartbeatInterval),
		kgo.OnPartitionsAssigned(m.onAssigned),
		kgo.OnPartitionsRevoked(m.onRevoked),
		kgo.OnPartitionsLost(m.onLost),
		// Nothing is ever produced to the topic; keep whatever a stray
		// writer puts there from being buffered in bulk.
		kgo.FetchMaxBytes(64 << 10),
		kgo.FetchMaxPartitionBytes(1 << 10),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	m.cl, err = kgo.NewClient(append(opts, cfg.Opts...)...)
	if err != nil {
		return nil, fmt.Errorf("cluster: kafka group client: %w", err)
	}
	m.log.Info("joining the replicas' group", "buckets", cfg.Buckets, "instance_id", cfg.InstanceID)
	return m, nil
}

// Run services the group until ctx ends, then leaves it: Handler.Revoked
// is called for every owned bucket, and the group is told at once, even
// for a static member, so that the other replicas take the buckets over
// without waiting for the session timeout. It returns nil after a clean
// leave, or [ErrClosed] if Close was called first.
func (m *Member) Run(ctx context.Context) error {
	for {
		fs := m.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		if fs.IsClientClosed() {
			return ErrClosed
		}
		// Nothing is produced to the topic, so a fetch carries only
		// errors, group errors among them; records are dropped.
		failed := false
		fs.EachError(func(_ string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			failed = true
			m.log.Warn("assignment topic poll", "partition", p, "err", err)
		})
		if failed {
			// The client retries on its own; pausing keeps an error that
			// repeats from flooding the log.
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return m.leave()
}

// leave gives up every bucket and leaves the group, then closes the client.
func (m *Member) leave() error {
	m.closeOnce.Do(func() {
		var err error
		defer func() { m.leaveErr = err }()
		defer m.cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RebalanceTimeout+m.cfg.SessionTimeout)
		defer cancel()
		memberID, _ := m.cl.GroupMetadata()
		// Ends the group session: the client calls onRevoked with every
		// owned bucket and waits for it; a dynamic member leaves here.
		if lerr := m.cl.LeaveGroupContext(ctx); lerr != nil && !isGone(lerr) {
			err = fmt.Errorf("cluster: leaving group %s: %w", m.cfg.Group, lerr)
		}
		// A static member is not removed by the client (its restart is
		// meant to reclaim its buckets); leave explicitly so a shut-down
		// replica's buckets move now rather than after the session timeout.
		if m.cfg.InstanceID != "" && memberID != "" && err == nil {
			err = m.leaveStatic(ctx, memberID)
		}
		m.log.Info("left the replicas' group", "instance_id", m.cfg.InstanceID, "err", err)
	})
	return m.leaveErr
}

// leaveStatic removes this static member from the group. The member id is
// sent with the instance id so that a newer incarnation that already took
// the instance id over is not removed (the broker answers
// FENCED_INSTANCE_ID instead).
func (m *Member) leaveStatic(ctx context.Context, memberID string) error {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = m.cfg.Group
	mem := kmsg.NewLeaveGroupRequestMember()
	mem.MemberID = memberID
	mem.InstanceID = kmsg.StringPtr(m.cfg.InstanceID)
	mem.Reason = kmsg.StringPtr("callstream replica shutting down")
	req.Members = append(req.Members, mem)
	resp, err := req.RequestWith(ctx, m.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err == nil && len(resp.Members) > 0 {
		err = kerr.ErrorForCode(resp.Members[0].ErrorCode)
	}
	if err != nil && !isGone(err) {
		return fmt.Errorf("cluster: leaving group %s as static member %s: %w", m.cfg.Group, m.cfg.InstanceID, err)
	}
	return nil
}

// isGone reports whether a leave error only says the member is not in the
// group anymore (or was replaced by a newer incarnation).
func isGone(err error) bool {
	return errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.FencedInstanceID)
}

// Close leaves the group like the end of Run, for a caller that never ran
// the member or wants it gone before Run's context ends (Run then returns
// ErrClosed). It is safe to call more than once, concurrently, and after
// Run; every call returns the one leave's error.
func (m *Member) Close() error {
	return m.leave()
}

// Owned returns the buckets the member owns now, sorted: those assigned and
// not yet revoked or lost. A bucket being revoked stays owned until
// Handler.Revoked returns.
func (m *Member) Owned() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedKeys(m.owned)
}

// Stats returns the member's counters.
func (m *Member) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Owned = len(m.owned)
	return s
}

// Identity returns the member's static instance id, empty for a dynamic
// member, and its current member id in the group (empty before the first
// join): the names [Owners] reports it under.
func (m *Member) Identity() (instanceID, memberID string) {
	memberID, _ = m.cl.GroupMetadata()
	return m.cfg.InstanceID, memberID
}

// buckets turns the client's partitions of the assignment topic into sorted
// buckets: those already owned if owned, else those not owned yet.
func (m *Member) buckets(assigned map[string][]int32, owned bool) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var bs []int
	for _, p := range assigned[m.cfg.Topic] {
		if b := int(p); m.owned[b] == owned {
			bs = append(bs, b)
		}
	}
	slices.Sort(bs)
	return slices.Compact(bs)
}

// onAssigned is the client's OnPartitionsAssigned: it is called after every
// join and sync, with what was added (cooperative), perhaps nothing.
func (m *Member) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	if m.killed.Load() {
		return
	}
	bs := m.buckets(assigned, false)
	m.mu.Lock()
	m.stats.Rebalances++
	if len(bs) > 0 {
		m.stats.Assigns++
		m.stats.BucketsAssigned += uint64(len(bs))
		for _, b := range bs {
			m.owned[b] = true
		}
	}
	owned := len(m.owned)
	m.mu.Unlock()
	if len(bs) == 0 {
		return
	}
	m.log.Info("buckets assigned", "buckets", bs, "owned", owned)
	m.h.Assigned(ctx, bs)
}

// onRevoked is the client's OnPartitionsRevoked: buckets moving to other
// members, or all of them when leaving. It is also called at the end of
// every group session with nothing to revoke.
func (m *Member) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if m.killed.Load() {
		return
	}
	bs := m.buckets(revoked, true)
	if len(bs) == 0 {
		return
	}
	m.log.Info("buckets revoked: releasing them", "buckets", bs)
	start := time.Now()
	m.h.Revoked(ctx, bs)
	took := time.Since(start)
	m.drop(bs, func(s *Stats) {
		s.Revokes++
		s.BucketsRevoked += uint64(len(bs))
		s.LastRevoke = took
	})
	m.log.Info("buckets released", "buckets", bs, "took", took)
}

// onLost is the client's OnPartitionsLost: the member fell out of the group
// and another may own these buckets already.
func (m *Member) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	if m.killed.Load() {
		return
	}
	bs := m.buckets(lost, true)
	if len(bs) == 0 {
		return
	}
	m.log.Warn("buckets lost: the member fell out of the group", "buckets", bs)
	m.h.Lost(ctx, bs)
	m.drop(bs, func(s *Stats) {
		s.Losses++
		s.BucketsLost += uint64(len(bs))
	})
}

// drop removes buckets from the owned set and updates the stats.
func (m *Member) drop(bs []int, count func(*Stats)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range bs {
		delete(m.owned, b)
	}
	count(&m.stats)
}

func sortedKeys(set map[int]bool) []int {
	out := make([]int, 0, len(set))
	for b := range set {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}
