package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/cluster"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/tenants"
	"github.com/callstream/callstream/walk"
)

// A fleet is a run serving many tenants (TENANTS, TENANTS_FILE), or one
// tenant with replicas (CLUSTER_GROUP). Tenants are grouped in buckets
// (cluster.Bucket: a hash of the tenant id modulo CLUSTER_BUCKETS); a
// bucket is the unit of ownership and of fencing:
//
//   - The owner of a bucket walks every lane (tenant, source) of the
//     bucket's tenants, all through one transactional producer whose
//     transactional id names the bucket. Broker connections so grow with
//     the buckets a replica owns, not with its tenants.
//   - Before it loads a bucket's checkpoints, a new owner claims the
//     bucket's transactional id (producer.Shared.Claim): the broker fences
//     the previous owner and aborts its open transaction, so the
//     checkpoints read are final and no zombie can commit after them. The
//     group protocol (cluster) only decides who should own a bucket; the
//     fencing makes a second owner harmless (KIP-618's pattern).
//   - A lane's checkpoint scope is its tenant's (checkpoint.TenantScope),
//     not its bucket's, so buckets can move, and their count change,
//     without touching checkpoints.
//   - One tenant's trouble stays its own: a tenant whose consent is missing
//     or revoked is marked down, reported once per change, and its lanes
//     retry after TENANT_RETRY_INTERVAL; a lane that fails otherwise is
//     restarted from its checkpoint; only a fenced producer drops its
//     bucket (another replica owns it now). The process never exits for
//     a tenant.
//
// Without CLUSTER_GROUP the fleet owns every bucket itself.
type fleet struct {
	p       *Pipeline
	cfg     Config
	log     *slog.Logger
	opts    RunOptions
	conn    []kgo.Opt
	reader  *checkpoint.KafkaReader
	start   time.Time
	buckets int

	// ctx is the run's: buckets live under it.
	ctx context.Context

	mu      sync.Mutex
	tenants map[string]*tenantRun // the current tenant set, by id
	owned   map[int]*bucket
	stats   walk.Stats // of lanes that ended
	// rebalances counts assignments and revocations; handovers times
	// claim-to-walking of each bucket taken.
	rebalances int
	bucketsWG  sync.WaitGroup
	// reads bounds the windows read from Graph at once across every lane
	// (see limitedFetcher).
	reads chan struct{}
	// commits bounds the buckets with a transaction open at once.
	commits chan struct{}
	// httpc carries every tenant's Graph requests: one host, one pool of
	// connections kept alive for as many reads as run at once — Go's
	// default keeps two, and every other read would pay a TLS handshake.
	httpc *http.Client
}

// bucketIdleTimeout closes a bucket producer's idle broker connections,
// and fleetCommits bounds the buckets committing at once: together they
// keep a replica's broker connections to the buckets at work — a
// transactional client holds two per broker while it commits (franz-go
// sends produce requests on a connection of their own) — rather than all
// it owns. A commit is tens of milliseconds; 16 at once commit thousands
// of windows a second.
const (
	bucketIdleTimeout = 2 * time.Second
	metadataMaxAge    = 5 * time.Minute // franz-go's default
	fleetCommits      = 16
)

// fleetReads is how many windows a fleet reads from Graph at once, all
// tenants together. Each tenant is paced by its own budget; this bounds
// the replica's memory and sockets when thousands of lanes are due
// together (a start, a poll), at no cost to throughput: Graph's answer
// time, not the replica, is the limit.
const fleetReads = 64

// fleetHTTPClient is graphHTTPClient with a connection pool sized for
// fleetReads concurrent reads of one Graph host.
func fleetHTTPClient(cfg Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxIdleConns = fleetReads, 2*fleetReads
	c := graphHTTPClient(cfg)
	c.Transport = tr
	return c
}

// limitedFetcher reads a window once one of the fleet's read slots is free.
type limitedFetcher struct {
	f     walk.RecordsFetcher
	slots chan struct{}
}

func (l limitedFetcher) Calls(ctx context.Context, fn fetch.Function, from, to time.Time, onPage func(fetch.Page) error) (fetch.Stats, error) {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return fetch.Stats{}, ctx.Err()
	}
	defer func() { <-l.slots }()
	return l.f.Calls(ctx, fn, from, to, onPage)
}

// CallRecords is Calls for a records source: the window's list and gets
// hold one read slot.
func (l limitedFetcher) CallRecords(ctx context.Context, fn fetch.Function, from, to time.Time, known func(id string, version int64) bool, onPage func(fetch.Page) error) (fetch.Stats, error) {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return fetch.Stats{}, ctx.Err()
	}
	defer func() { <-l.slots }()
	return l.f.CallRecords(ctx, fn, from, to, known, onPage)
}

// runFleet is Run for a fleet.
func (p *Pipeline) runFleet(ctx context.Context, opts RunOptions) (walk.Stats, error) {
	cfg, log := p.cfg, p.log
	var none walk.Stats
	if opts.Once && cfg.Cluster.Group != "" {
		return none, &ConfigError{Problems: []string{"CLUSTER_GROUP: replicas share tenants for as long as they run; a bounded run (--once, backfill) reads its tenants alone: unset CLUSTER_GROUP for it"}}
	}
	conn, err := kafkaConnOpts(cfg, log, p.extraKafka)
	if err != nil {
		return none, err
	}
	// The checkpoint reader lives as long as the run: it carries the Kafka
	// client metrics and answers the readiness probe, whichever buckets
	// come and go.
	cl, err := checkpointClient(cfg, append(slices.Clone(conn), p.metrics.kafkaOpts()...))
	if err != nil {
		return none, StartupError(err)
	}
	defer cl.Close()
	p.ready.setKafka(cl)
	topic := checkpointTopic(cfg)
	if err := producer.EnsureCheckpointTopic(ctx, cl, topic, cfg.Kafka.Topic); err != nil {
		if ctx.Err() != nil {
			return none, nil
		}
		return none, StartupError(err)
	}
	start := cfg.Walk.Start
	if start.IsZero() {
		start = defaultStart(time.Now(), cfg.Walk.Window)
		log.Info("START_TIME not set; tenants without a checkpoint start one day back", "start", start)
	}
	f := &fleet{
		p: p, cfg: cfg, log: log, opts: opts, conn: conn, ctx: ctx,
		reader:  checkpoint.NewKafkaReader(cl, topic),
		start:   start,
		buckets: cfg.Cluster.Buckets,
		tenants: map[string]*tenantRun{},
		owned:   map[int]*bucket{},
		reads:   make(chan struct{}, fleetReads),
		commits: make(chan struct{}, fleetCommits),
		httpc:   fleetHTTPClient(cfg),
	}
	if f.buckets <= 0 {
		f.buckets = 1
	}
	p.ready.setFleet(f.readiness)
	p.metrics.setFleet(f)
	if err := f.setTenants(cfg.TenantList()); err != nil {
		return none, err
	}
	if cfg.Tenants.File != "" {
		wctx, cancel := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			tenants.Watch(wctx, cfg.Tenants.File, tenantsFilePoll, func(list []tenants.Tenant) {
				if err := f.setTenants(list); err != nil {
					log.Error("TENANTS_FILE: change not applied", "file", cfg.Tenants.File, "error", err.Error())
				}
			}, func(err error) {
				log.Error("TENANTS_FILE: unreadable; keeping the tenants read before", "file", cfg.Tenants.File, "error", err.Error())
			})
		}()
		defer func() { cancel(); <-watched }()
	}

	if cfg.Cluster.Group == "" {
		all := make([]int, f.buckets)
		for i := range all {
			all[i] = i
		}
		f.Assigned(ctx, all)
		if opts.Once {
			f.waitLanes(ctx)
		} else {
			<-ctx.Done()
		}
		f.Revoked(context.WithoutCancel(ctx), all)
		return f.total(), nil
	}

	member, err := cluster.Join(ctx, cluster.Config{
		Group:      cfg.Cluster.Group,
		Topic:      cfg.Cluster.Topic,
		Buckets:    cfg.Cluster.Buckets,
		InstanceID: cfg.Cluster.InstanceID,
		Opts:       append(slices.Clone(conn), kgo.SeedBrokers(cfg.Kafka.Brokers...)),
		Logger:     log,
	}, f)
	if err != nil {
		return none, StartupError(err)
	}
	log.Info("joined the replica group", "group", cfg.Cluster.Group, "topic", cfg.Cluster.Topic,
		"buckets", cfg.Cluster.Buckets, "instance", cfg.Cluster.InstanceID)
	err = member.Run(ctx)
	// Whatever the group did last, nothing of ours may keep walking.
	f.Revoked(context.WithoutCancel(ctx), f.ownedBuckets())
	if err != nil && ctx.Err() == nil {
		return f.total(), fmt.Errorf("replica group %s: %w", cfg.Cluster.Group, err)
	}
	return f.total(), nil
}

// tenantsFilePoll is how often TENANTS_FILE is checked for changes.
const tenantsFilePoll = 5 * time.Second

// setTenants makes list the tenant set: lanes of tenants that left stop,
// lanes of tenants that arrived (or changed) start in the buckets owned.
func (f *fleet) setTenants(list []tenants.Tenant) error {
	next := map[string]*tenantRun{}
	var problems []string
	f.mu.Lock()
	for _, t := range list {
		if old, ok := f.tenants[t.ID]; ok && sameTenant(old.t, t) {
			next[t.ID] = old
			continue
		}
		tr, err := newTenantRun(f.cfg, t, f.httpc, f.p.metrics.observeGraph, f.log)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		next[t.ID] = tr
	}
	added, removed := 0, 0
	for id, tr := range next {
		if f.tenants[id] != tr {
			added++
		}
	}
	for id, tr := range f.tenants {
		if next[id] != tr {
			removed++
		}
	}
	f.tenants = next
	owned := f.ownedLocked()
	f.mu.Unlock()
	if added+removed > 0 {
		f.log.Info("tenants", "count", len(next), "added", added, "removed", removed)
	}
	for _, b := range owned {
		b.reconcile()
	}
	if len(problems) > 0 {
		return &ConfigError{Problems: problems}
	}
	return nil
}

func sameTenant(a, b tenants.Tenant) bool {
	return a.ID == b.ID && a.Name == b.Name && slices.Equal(a.Sources, b.Sources) && a.Start.Equal(b.Start) &&
		fmt.Sprint(a.Topics) == fmt.Sprint(b.Topics) && a.ClientID == b.ClientID &&
		a.ClientSecretFile == b.ClientSecretFile && a.CertificateFile == b.CertificateFile
}

// Assigned starts walking buckets (cluster.Handler).
func (f *fleet) Assigned(_ context.Context, buckets []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rebalances++
	for _, n := range buckets {
		if _, ok := f.owned[n]; ok {
			continue
		}
		b := newBucket(f, n)
		f.owned[n] = b
		f.bucketsWG.Add(1)
		go func() { defer f.bucketsWG.Done(); b.run() }()
	}
	f.log.Info("buckets assigned", "buckets", fmtBuckets(buckets), "owned", len(f.owned))
}

// Revoked stops walking buckets and returns once each has ended its
// transaction and closed its producer (cluster.Handler).
func (f *fleet) Revoked(_ context.Context, buckets []int) {
	f.mu.Lock()
	f.rebalances++
	var stopping []*bucket
	for _, n := range buckets {
		if b, ok := f.owned[n]; ok {
			stopping = append(stopping, b)
			delete(f.owned, n)
		}
	}
	f.mu.Unlock()
	for _, b := range stopping {
		b.cancel()
	}
	for _, b := range stopping {
		<-b.done
	}
	if len(stopping) > 0 {
		f.log.Info("buckets released", "buckets", fmtBuckets(buckets))
	}
}

// Lost is Revoked for buckets the group already gave away: their producers
// are fenced or about to be, and stopping is all there is to do.
func (f *fleet) Lost(ctx context.Context, buckets []int) { f.Revoked(ctx, buckets) }

func (f *fleet) ownedBuckets() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ns []int
	for n := range f.owned {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	return ns
}

func (f *fleet) ownedLocked() []*bucket {
	bs := make([]*bucket, 0, len(f.owned))
	for _, b := range f.owned {
		bs = append(bs, b)
	}
	return bs
}

// dropFenced forgets bucket b after its producer was fenced: another
// replica claimed it. The group will say so too; until then b stays
// unwalked here.
func (f *fleet) dropFenced(b *bucket) {
	f.mu.Lock()
	if f.owned[b.n] == b {
		delete(f.owned, b.n)
	}
	f.mu.Unlock()
	f.log.Warn("bucket fenced: another replica claimed it; dropped here", "bucket", b.n)
	b.cancel()
}

// waitLanes waits until every lane of a bounded run has ended.
func (f *fleet) waitLanes(ctx context.Context) {
	for _, b := range f.ownedLocked() {
		select {
		case <-b.claimed:
		case <-b.done:
		case <-ctx.Done():
			return
		}
		b.lanesWG.Wait()
	}
}

func (f *fleet) total() walk.Stats {
	f.bucketsWG.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// tenantsOf returns the current tenants of bucket n.
func (f *fleet) tenantsOf(n int) []*tenantRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ts []*tenantRun
	for id, tr := range f.tenants {
		if cluster.Bucket(id, f.buckets) == n {
			ts = append(ts, tr)
		}
	}
	return ts
}

// bucketTransactionalID names bucket n's producer: stable per deployment
// (the replica group, or without one the data topic) and bucket count, so
// that the replicas of one deployment fence each other and two
// deployments never do.
func bucketTransactionalID(cfg Config, n int) string {
	base := cfg.Kafka.TransactionalID
	if base == "" {
		base = "callstream-" + cfg.Kafka.Topic
		if cfg.Cluster.Group != "" {
			base = "callstream-" + cfg.Cluster.Group
		}
	}
	return base + "-b" + strconv.Itoa(cfg.Cluster.Buckets) + "-" + strconv.Itoa(n)
}

func fmtBuckets(ns []int) string {
	if len(ns) > 12 {
		return fmt.Sprintf("%d buckets", len(ns))
	}
	return fmt.Sprint(ns)
}

// bucket is one owned bucket: its producer and its lanes.
type bucket struct {
	f      *fleet
	n      int
	ctx    context.Context
	cancel context.CancelFunc
	// claimed is closed once the transactional id is claimed and the
	// lanes may load their checkpoints; done once the bucket has ended.
	claimed chan struct{}
	done    chan struct{}
	shared  *producer.Shared

	mu      sync.Mutex
	lanes   map[string]*fleetLane // by tenant id + "/" + source
	lanesWG sync.WaitGroup
}

func newBucket(f *fleet, n int) *bucket {
	ctx, cancel := context.WithCancel(f.ctx)
	return &bucket{f: f, n: n, ctx: ctx, cancel: cancel, claimed: make(chan struct{}), done: make(chan struct{}),
		lanes: map[string]*fleetLane{}}
}

// run claims the bucket, walks its lanes until the bucket is released,
// then ends its transaction and closes its producer.
func (b *bucket) run() {
	defer close(b.done)
	f := b.f
	log := f.log.With("bucket", b.n)
	began := time.Now()
	backoff := time.Second
	for {
		err := b.claim()
		if err == nil {
			break
		}
		if b.ctx.Err() != nil {
			return
		}
		log.Warn("claiming the bucket failed; retrying", "wait", backoff, "error", err.Error())
		if !sleepCtx(b.ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	f.p.metrics.observeHandover(time.Since(began))
	log.Info("bucket claimed", "transactional_id", bucketTransactionalID(f.cfg, b.n), "took", time.Since(began).Round(time.Millisecond))
	close(b.claimed)
	b.reconcile()
	<-b.ctx.Done()
	// The lanes abort their transactions as they stop; one still waiting
	// for its turn, or stuck committing to a broker that went away, is
	// woken by Close, which aborts whatever is open.
	stopped := make(chan struct{})
	go func() { b.lanesWG.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(f.ctx), 10*time.Second)
	defer cancel()
	if err := b.shared.Close(cctx); err != nil {
		log.Warn("bucket producer closed with an error; its open transaction, if any, is aborted by the next owner's claim", "error", err.Error())
	}
	<-stopped
}

// claim connects the bucket's producer and claims its transactional id.
func (b *bucket) claim() error {
	f := b.f
	pcfg, err := ProducerConfig(f.cfg, producer.Schema{}, f.log, f.p.extraKafka)
	if err != nil {
		return err
	}
	pcfg.TransactionalID = bucketTransactionalID(f.cfg, b.n)
	// The bucket's lanes share its client, and so its batch size: one
	// that takes a call record whatever sources a tenant is given, now or
	// by a later edit of TENANTS_FILE. A fleet's windows are small, so its
	// batches rarely approach either size.
	pcfg.BatchMaxBytes = batchMaxBytes(f.cfg, sources.Names())
	// And its transaction timeout: a call-records lane's read can outlast
	// the default minute (see recordsTxnTimeout); a new owner fences the
	// bucket's open transaction at its claim whatever the timeout.
	pcfg.TransactionTimeout = recordsTxnTimeout
	// A bucket is busy for moments each poll: an idle one keeps no
	// connection, so a replica's connections follow the buckets at work.
	// Metadata refreshes spread over a second period too: clients made
	// together would otherwise all refresh, and connect, at the same moment.
	refresh := metadataMaxAge + time.Duration(b.n)*metadataMaxAge/time.Duration(f.buckets)
	pcfg.Opts = append(slices.Clone(pcfg.Opts), kgo.ConnIdleTimeout(bucketIdleTimeout), kgo.MetadataMaxAge(refresh))
	pcfg.OpenTransactions = f.commits
	shared, err := producer.NewShared(b.ctx, pcfg)
	if err != nil {
		return err
	}
	if err := shared.Claim(b.ctx); err != nil {
		_ = shared.Close(context.WithoutCancel(b.ctx))
		return err
	}
	b.shared = shared
	return nil
}

// reconcile starts the lanes of the bucket's tenants that are not walking
// and stops those of tenants that left.
func (b *bucket) reconcile() {
	select {
	case <-b.claimed:
	default:
		return // the lanes start once claimed
	}
	want := map[string]*tenantRun{}
	wantSrc := map[string]string{}
	for _, tr := range b.f.tenantsOf(b.n) {
		for _, src := range b.f.cfg.TenantSources(tr.t) {
			key := tr.t.ID + "/" + src
			want[key], wantSrc[key] = tr, src
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx.Err() != nil {
		return
	}
	for key, l := range b.lanes {
		if want[key] != l.tenant {
			l.cancel()
			delete(b.lanes, key)
		}
	}
	for key, tr := range want {
		if _, ok := b.lanes[key]; ok {
			continue
		}
		l := newFleetLane(b, tr, wantSrc[key])
		b.lanes[key] = l
		b.lanesWG.Add(1)
		go func() { defer b.lanesWG.Done(); l.run() }()
	}
}

// fleetLane is one (tenant, source) of an owned bucket.
type fleetLane struct {
	b      *bucket
	tenant *tenantRun
	source string
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
}

func newFleetLane(b *bucket, tr *tenantRun, source string) *fleetLane {
	ctx, cancel := context.WithCancel(b.ctx)
	return &fleetLane{b: b, tenant: tr, source: source, ctx: ctx, cancel: cancel,
		log: tr.log.With("bucket", b.n)}
}

// run walks the lane until it is stopped (or, bounded, caught up),
// starting again from its checkpoint after a failure: after
// TENANT_RETRY_INTERVAL when the tenant is down, sooner otherwise.
func (l *fleetLane) run() {
	f := l.b.f
	m := f.p.metrics
	t := l.tenant.t
	start := f.start
	if !t.Start.IsZero() {
		start = t.Start
	}
	ls, err := tenantLaneSetup(f.cfg, t, l.source, f.log, f.p.extraKafka)
	if err != nil {
		l.log.Error("lane not started", "error", err.Error())
		return
	}
	prod, err := l.b.shared.Lane(l.ctx, ls.producer)
	if err != nil {
		if l.ctx.Err() == nil {
			l.log.Error("lane not started", "error", err.Error())
		}
		return
	}
	view := m.addTenantWalk(l.source, t.ID, start)
	view.down = l.tenant.state
	f.p.ready.addWalk(view)
	defer func() {
		m.removeWalk(view)
		f.p.ready.removeWalk(view)
	}()
	store := f.reader.Store(checkpoint.TenantScope(ls.topic, t.ID))
	backoff := time.Second
	for {
		wcfg := ls.walkConfig(f.cfg, start, l.log)
		wcfg.TenantID = t.ID
		wcfg.OnRead = l.observeRead(view)
		// The buckets' polls spread over the interval, a bucket's lanes
		// together: a replica's buckets take turns at Graph and Kafka.
		wcfg.AlignPolls = true
		wcfg.PollPhase = time.Duration(l.b.n) * f.cfg.Walk.PollInterval / time.Duration(f.buckets)
		w, err := walk.New(wcfg, limitedFetcher{l.tenant.fc, f.reads}, prod, store)
		if err != nil {
			l.log.Error("lane not started", "error", err.Error())
			return
		}
		view.walker.Store(w)
		err = w.Run(l.ctx, f.opts.Once)
		f.addStats(w.Stats())
		switch {
		case l.ctx.Err() != nil:
			return
		case err == nil || errors.Is(err, walk.ErrDone):
			if f.opts.Once || errors.Is(err, walk.ErrDone) {
				l.log.Info("caught up", "watermark", w.Watermark())
				return
			}
			continue
		case errors.Is(err, producer.ErrFenced):
			f.dropFenced(l.b)
			return
		}
		wait := backoff
		if kind, why := tenantTrouble(err); kind != "" {
			l.tenant.setDown(time.Now(), kind, why)
			wait = f.cfg.Tenants.Retry
		} else {
			l.log.Error("lane failed; starting again from its checkpoint", "wait", wait, "error", err.Error())
			backoff = min(2*backoff, 5*time.Minute)
		}
		if !sleepCtx(l.ctx, wait) {
			return
		}
	}
}

// observeRead times reads for the metrics and marks the tenant up: a read
// that completed proves its token and consent.
func (l *fleetLane) observeRead(view *walkView) func(bool, time.Duration) {
	obs := view.observeRead(l.b.f.p.metrics)
	return func(rescan bool, took time.Duration) {
		now := time.Now()
		l.tenant.setUp(now, now.Add(-took))
		obs(rescan, took)
	}
}

func (f *fleet) addStats(s walk.Stats) {
	f.mu.Lock()
	addStats(&f.stats, s)
	f.mu.Unlock()
}

// tenantLaneSetup is laneSetup for a tenant's lane: its topic (the tenant's
// own when TENANTS_FILE names one), its tenantId header, and no
// transactional id of its own (the bucket's producer has it).
func tenantLaneSetup(cfg Config, t tenants.Tenant, source string, log *slog.Logger, extraKafka []kgo.Opt) (laneConfig, error) {
	lcfg := cfg
	lcfg.Graph.Auth.TenantID = t.ID // laneSetup's tenantId header
	if topic := t.Topics[source]; topic != "" {
		lcfg.Kafka = cfg.Kafka.withTopic(source, topic)
	}
	ls, err := laneSetup(lcfg, source, log, extraKafka)
	if err != nil {
		return ls, err
	}
	ls.producer.TransactionalID = ""
	return ls, nil
}

// readiness adds a fleet's notes to /readyz: the tenants down and the
// buckets owned (the checks of Kafka and of each up tenant's lanes are
// readiness's own). A tenant that is down (consent) is noted, not failed:
// it is its own admin's to fix and must not take a replica out of service
// for every other tenant.
func (f *fleet) readiness(_ context.Context, _ *readiness, _ func(string, error), note func(string)) {
	f.mu.Lock()
	ts := make([]*tenantRun, 0, len(f.tenants))
	for _, tr := range f.tenants {
		ts = append(ts, tr)
	}
	owned := len(f.owned)
	f.mu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].t.ID < ts[j].t.ID })
	down := 0
	for _, tr := range ts {
		if why, since := tr.state(); why != "" {
			down++
			note(fmt.Sprintf("down tenant %s since %s: %s", tr.t.ID, fmtTime(since), redactError(why)))
		}
	}
	note(fmt.Sprintf("tenants: %d, %d up, %d down; buckets owned: %d of %d", len(ts), len(ts)-down, down, owned, f.buckets))
}

// tenantStates is whether each tenant is up, for callstream_tenant_up.
func (f *fleet) tenantStates() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	up := make(map[string]bool, len(f.tenants))
	for id, tr := range f.tenants {
		why, _ := tr.state()
		up[id] = why == ""
	}
	return up
}

// ownedCount is how many buckets this replica owns, and how many
// assignments and revocations it has seen.
func (f *fleet) ownedCount() (owned, rebalances int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.owned), f.rebalances
}

var _ cluster.Handler = (*fleet)(nil)
