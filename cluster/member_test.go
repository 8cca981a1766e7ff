package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/callstream/callstream/internal/kafkatest"
)

// ledger is the test's view of which member holds which bucket, kept by the
// members' handlers: a bucket is held from Assigned until Revoked or Lost
// returns. Handing a bucket to a member while another holds it is a
// violation.
type ledger struct {
	mu         sync.Mutex
	holder     map[int]string
	violations []string
}

func newLedger() *ledger { return &ledger{holder: map[int]string{}} }

func (l *ledger) take(name string, bs []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range bs {
		if h, ok := l.holder[b]; ok && h != name {
			l.violations = append(l.violations, fmt.Sprintf("bucket %d assigned to %s while %s holds it", b, name, h))
		}
		l.holder[b] = name
	}
}

func (l *ledger) release(name string, bs []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range bs {
		if l.holder[b] == name {
			delete(l.holder, b)
		}
	}
}

// dropAll forgets a killed member's buckets: its process is gone.
func (l *ledger) dropAll(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	maps.DeleteFunc(l.holder, func(_ int, h string) bool { return h == name })
}

func (l *ledger) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.violations {
		t.Error(v)
	}
}

// event is one Handler call.
type event struct {
	kind    string // "assigned", "revoked", "lost"
	buckets []int
}

// recorder is a Handler that records its calls and keeps the ledger. Its
// Revoked takes releaseTime, like a caller stopping lanes and aborting a
// transaction.
type recorder struct {
	name        string
	ledger      *ledger
	releaseTime time.Duration

	mu     sync.Mutex
	events []event
}

func (r *recorder) add(kind string, bs []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{kind, slices.Clone(bs)})
}

func (r *recorder) Assigned(_ context.Context, bs []int) {
	r.ledger.take(r.name, bs)
	r.add("assigned", bs)
}

func (r *recorder) Revoked(_ context.Context, bs []int) {
	time.Sleep(r.releaseTime)
	r.ledger.release(r.name, bs)
	r.add("revoked", bs)
}

func (r *recorder) Lost(_ context.Context, bs []int) {
	r.ledger.release(r.name, bs)
	r.add("lost", bs)
}

func (r *recorder) Events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// rig is one group of members on one cluster.
type rig struct {
	t       *testing.T
	c       *kafkatest.Cluster
	group   string
	topic   string
	buckets int
	session time.Duration
	ledger  *ledger
}

// newRig prepares a group; session is the session timeout on kfake, raised
// to the broker's minimum (group.min.session.timeout.ms, 6 s by default) on
// a real broker.
func newRig(t *testing.T, buckets int, session time.Duration) *rig {
	return newRigOn(t, kafkatest.New(t, kfake.GroupMinSessionTimeout(100*time.Millisecond)), buckets, session)
}

func newRigOn(t *testing.T, c *kafkatest.Cluster, buckets int, session time.Duration) *rig {
	if c.Real {
		session = max(session, 6*time.Second)
	}
	r := &rig{t: t, c: c, group: uniqueName("cluster-test-group"), buckets: buckets, session: session, ledger: newLedger()}
	r.topic = newTopicName(t, c)
	if c.Real {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = kadm.NewClient(c.Client(t)).DeleteGroup(ctx, r.group)
		})
	}
	return r
}

func (r *rig) heartbeat() time.Duration { return min(250*time.Millisecond, r.session/3) }

// member is a running Member with its recorder.
type member struct {
	*Member
	rec    *recorder
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned runErr
	runErr error
}

// start joins a member named name (static if instanceID is set) and runs
// it until the test ends or stop or kill is called.
func (r *rig) start(name, instanceID string) *member {
	r.t.Helper()
	rec := &recorder{name: name, ledger: r.ledger, releaseTime: 50 * time.Millisecond}
	cfg := Config{
		Group:             r.group,
		Topic:             r.topic,
		Buckets:           r.buckets,
		InstanceID:        instanceID,
		SessionTimeout:    r.session,
		RebalanceTimeout:  10 * time.Second,
		HeartbeatInterval: r.heartbeat(),
		Opts:              []kgo.Opt{kgo.SeedBrokers(r.c.Brokers...), kgo.MetadataMinAge(100 * time.Millisecond), kgo.ClientID(name)},
	}
	m, err := Join(testCtx(r.t), cfg, rec)
	if err != nil {
		r.t.Fatalf("Join %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mm := &member{Member: m, rec: rec, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(mm.done)
		mm.runErr = m.Run(ctx)
	}()
	r.t.Cleanup(func() { cancel(); <-mm.done })
	return mm
}

// stop ends the member's Run, which leaves the group, and returns Run's
// error.
func (m *member) stop() error {
	m.cancel()
	<-m.done
	return m.runErr
}

// kill closes the member's client without leaving the group and without
// its Handler hearing of it, as when the process is killed. Only a static
// member can be killed this way: a dynamic client always leaves on close.
func (r *rig) kill(m *member) {
	r.t.Helper()
	if m.cfg.InstanceID == "" {
		r.t.Fatal("kill: a dynamic member would leave the group on close")
	}
	m.killed.Store(true)
	m.cl.Close()
	r.ledger.dropAll(m.rec.name)
	<-m.done
	if !errors.Is(m.runErr, ErrClosed) {
		r.t.Errorf("Run of a killed member = %v, want ErrClosed", m.runErr)
	}
}

// waitFor polls cond until it is true or the timeout passes; then it fails
// the test with what went wrong.
func waitFor(t *testing.T, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// partition reports whether the members' Owned sets are disjoint, each
// non-empty, and together hold every bucket; else it describes them.
func (r *rig) partition(ms ...*member) (bool, string) {
	seen := map[int]string{}
	var desc []string
	ok := true
	for _, m := range ms {
		owned := m.Owned()
		desc = append(desc, fmt.Sprintf("%s=%v", m.rec.name, owned))
		if len(owned) == 0 {
			ok = false
		}
		for _, b := range owned {
			if _, dup := seen[b]; dup {
				ok = false
			}
			seen[b] = m.rec.name
		}
	}
	return ok && len(seen) == r.buckets, strings.Join(desc, " ")
}

// waitPartition waits until the members share all buckets, and fails the
// test if at any observed moment one bucket was owned twice.
func (r *rig) waitPartition(timeout time.Duration, ms ...*member) {
	r.t.Helper()
	var desc string
	waitFor(r.t, timeout, func() string { return "buckets not shared: " + desc }, func() bool {
		var ok bool
		ok, desc = r.partition(ms...)
		return ok
	})
	r.ledger.check(r.t)
}

// owners returns the group's view of the buckets as member name -> buckets.
func (r *rig) owners(ms ...*member) (map[string][]int, error) {
	byMember := map[string]string{}
	for _, m := range ms {
		_, id := m.Identity()
		byMember[id] = m.rec.name
	}
	adm := kadm.NewClient(r.c.Client(r.t))
	os, err := Owners(testCtx(r.t), adm, r.group, r.topic)
	if err != nil {
		return nil, err
	}
	out := map[string][]int{}
	for b, o := range os {
		name, ok := byMember[o.MemberID]
		if !ok {
			name = "unknown member " + o.MemberID
		}
		out[name] = append(out[name], b)
	}
	for _, bs := range out {
		slices.Sort(bs)
	}
	return out, nil
}

// TestMembersShareBuckets: three members split twelve buckets, each bucket
// owned by exactly one, and the group's view (Owners) agrees with each
// member's (Owned).
func TestMembersShareBuckets(t *testing.T) {
	r := newRig(t, 12, 3*time.Second)
	a, b, c := r.start("a", ""), r.start("b", ""), r.start("c", "")
	r.waitPartition(30*time.Second, a, b, c)

	var got map[string][]int
	waitFor(t, 10*time.Second, func() string { return fmt.Sprintf("Owners %v never matched Owned", got) }, func() bool {
		var err error
		if got, err = r.owners(a, b, c); err != nil {
			t.Fatalf("Owners: %v", err)
		}
		for _, m := range []*member{a, b, c} {
			if !slices.Equal(got[m.rec.name], m.Owned()) {
				return false
			}
		}
		return len(got) == 3
	})
	for _, m := range []*member{a, b, c} {
		if n := len(m.Owned()); n != 4 {
			t.Errorf("%s owns %d buckets, want 4 (12 over 3)", m.rec.name, n)
		}
		if s := m.Stats(); s.Owned != len(m.Owned()) || s.BucketsAssigned < uint64(s.Owned) || s.Rebalances == 0 {
			t.Errorf("%s stats %+v do not match owning %v", m.rec.name, s, m.Owned())
		}
	}
	// Owners names the members as the coordinator knows them.
	os, err := Owners(testCtx(t), kadm.NewClient(r.c.Client(t)), r.group, r.topic)
	if err != nil {
		t.Fatal(err)
	}
	if o := os[a.Owned()[0]]; o.ClientID != "a" || o.InstanceID != "" || o.Host == "" {
		t.Errorf("owner of a's bucket = %+v, want client id a, no instance id, a host", o)
	}
}

// TestLeaveHandsOver: a member that stops releases its buckets (Revoked)
// before the others are assigned them (Assigned), and the handover does
// not wait for the session timeout — also for a static member, which the
// client alone would not take out of the group.
func TestLeaveHandsOver(t *testing.T) {
	for _, static := range []bool{false, true} {
		t.Run(map[bool]string{false: "dynamic", true: "static"}[static], func(t *testing.T) {
			// A long session timeout: a handover faster than it proves the
			// member left rather than timed out.
			r := newRig(t, 12, 30*time.Second)
			id := func(name string) string {
				if static {
					return "replica-" + name
				}
				return ""
			}
			a, b, c := r.start("a", id("a")), r.start("b", id("b")), r.start("c", id("c"))
			r.waitPartition(30*time.Second, a, b, c)
			leaving := c.Owned()
			bBefore, aBefore := b.Owned(), a.Owned()
			aEvents, bEvents := len(a.rec.Events()), len(b.rec.Events())

			start := time.Now()
			if err := c.stop(); err != nil {
				t.Fatalf("Run of the leaving member = %v, want nil", err)
			}
			r.waitPartition(15*time.Second, a, b)
			took := time.Since(start)
			t.Logf("handover of %v took %v", leaving, took)
			if took >= r.session {
				t.Errorf("handover took %v, not shorter than the session timeout %v", took, r.session)
			}

			// c released exactly what it owned, and owns nothing.
			ev := c.rec.Events()
			if last := ev[len(ev)-1]; last.kind != "revoked" || !slices.Equal(last.buckets, leaving) {
				t.Errorf("leaving member's last event = %+v, want revoked %v", last, leaving)
			}
			if len(c.Owned()) != 0 {
				t.Errorf("leaving member still owns %v", c.Owned())
			}
			// Cooperative-sticky: the survivors keep what they had.
			for _, m := range []struct {
				m      *member
				before []int
				events int
			}{{a, aBefore, aEvents}, {b, bBefore, bEvents}} {
				for _, bk := range m.before {
					if !slices.Contains(m.m.Owned(), bk) {
						t.Errorf("%s lost bucket %d in the handover; it should only gain", m.m.rec.name, bk)
					}
				}
				for _, e := range m.m.rec.Events()[m.events:] {
					if e.kind != "assigned" {
						t.Errorf("%s had a %s event %v; survivors should only gain", m.m.rec.name, e.kind, e.buckets)
					}
				}
			}
			// Every bucket it was ever given was handed back: the ones it
			// held when leaving, and any a cooperative rebalance moved
			// away while the group was settling.
			if s := c.Stats(); s.Revokes == 0 || s.BucketsRevoked != s.BucketsAssigned || s.BucketsRevoked < uint64(len(leaving)) || s.Owned != 0 {
				t.Errorf("leaving member's stats %+v, want every assigned bucket revoked, at least the %d it held", s, len(leaving))
			}
		})
	}
}

// TestJoinMovesBuckets: a member joining a running group takes buckets
// from the others, which release them before it is assigned them.
func TestJoinMovesBuckets(t *testing.T) {
	r := newRig(t, 12, 3*time.Second)
	a, b := r.start("a", ""), r.start("b", "")
	r.waitPartition(30*time.Second, a, b)
	before := map[*member]int{a: len(a.rec.Events()), b: len(b.rec.Events())}
	c := r.start("c", "")
	waitFor(t, 30*time.Second, func() string { return "the new member got no buckets: " + fmt.Sprint(c.Owned()) }, func() bool {
		ok, _ := r.partition(a, b, c)
		return ok && len(c.Owned()) == 4
	})
	r.ledger.check(t)
	revoked := 0
	for _, m := range []*member{a, b} {
		for _, e := range m.rec.Events()[before[m]:] {
			if e.kind == "revoked" {
				revoked += len(e.buckets)
			}
		}
	}
	if revoked != 4 {
		t.Errorf("the old members revoked %d buckets, want the 4 the new one took", revoked)
	}
}

// TestKilledMemberBucketsMove: a member that dies without leaving keeps its
// buckets until the session timeout, then the others take them over. Only
// a static member can be closed without a leave request, so this is the
// static case; a dynamic member's death looks the same to the group.
func TestKilledMemberBucketsMove(t *testing.T) {
	r := newRig(t, 12, 2*time.Second)
	a, b, c := r.start("a", "replica-a"), r.start("b", "replica-b"), r.start("c", "replica-c")
	r.waitPartition(30*time.Second, a, b, c)

	start := time.Now()
	r.kill(c)
	// Before the session timeout nothing moves: the group cannot tell a
	// dead member from a slow one.
	time.Sleep(r.session / 2)
	if ok, desc := r.partition(a, b); ok {
		t.Fatalf("buckets moved %v after the kill, before the session timeout %v: %s", time.Since(start), r.session, desc)
	}
	r.waitPartition(r.session+20*time.Second, a, b)
	took := time.Since(start)
	t.Logf("buckets of the killed member moved after %v (session timeout %v)", took, r.session)
	// The session runs from the last heartbeat, up to one heartbeat
	// interval before the kill.
	if early := r.session - r.heartbeat(); took < early {
		t.Errorf("buckets moved after %v, before the session timeout %v (less a heartbeat)", took, r.session)
	}
}

// TestStaticRestartKeepsBuckets: a static member restarted within the
// session timeout gets its own buckets back, and the others are not
// disturbed.
func TestStaticRestartKeepsBuckets(t *testing.T) {
	r := newRig(t, 12, 20*time.Second)
	a, b, c := r.start("a", "replica-a"), r.start("b", "replica-b"), r.start("c", "replica-c")
	r.waitPartition(30*time.Second, a, b, c)
	had := c.Owned()
	aEvents, bEvents := len(a.rec.Events()), len(b.rec.Events())

	r.kill(c)
	c2 := r.start("c2", "replica-c")
	waitFor(t, r.session/2, func() string { return fmt.Sprintf("the restarted member owns %v, not its old %v", c2.Owned(), had) }, func() bool {
		return slices.Equal(c2.Owned(), had)
	})
	r.ledger.check(t)
	// Let a rebalance, if one were coming, happen.
	time.Sleep(time.Second)
	if ok, desc := r.partition(a, b, c2); !ok {
		t.Errorf("after the restart: %s", desc)
	}
	if ev := a.rec.Events()[aEvents:]; len(ev) != 0 {
		t.Errorf("a saw %v during c's restart", ev)
	}
	if ev := b.rec.Events()[bEvents:]; len(ev) != 0 {
		t.Errorf("b saw %v during c's restart", ev)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{Group: "g"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Topic != DefaultTopic || cfg.Buckets != DefaultBuckets || cfg.SessionTimeout != DefaultSessionTimeout ||
		cfg.RebalanceTimeout != DefaultRebalanceTimeout || cfg.HeartbeatInterval != DefaultHeartbeatInterval || cfg.Logger == nil {
		t.Errorf("defaults = %+v", cfg)
	}
	// The handover target: a killed replica's buckets progress
	// elsewhere within 30 s; detection alone takes the session timeout.
	if DefaultSessionTimeout+DefaultHeartbeatInterval > 15*time.Second {
		t.Errorf("default session timeout %v leaves too little of the 30 s handover target", DefaultSessionTimeout)
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no group", Config{}, "CLUSTER_GROUP"},
		{"negative buckets", Config{Group: "g", Buckets: -1}, "CLUSTER_BUCKETS"},
		{"illegal instance id", Config{Group: "g", InstanceID: "pod/0"}, "CLUSTER_INSTANCE_ID"},
		{"heartbeat too slow", Config{Group: "g", SessionTimeout: time.Second, HeartbeatInterval: 2 * time.Second}, "heartbeat"},
		{"negative timeout", Config{Group: "g", RebalanceTimeout: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.withDefaults()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("withDefaults() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestOwnersUnknownGroup: before any replica joined, no bucket has an owner.
func TestOwnersUnknownGroup(t *testing.T) {
	c := kafkatest.New(t)
	os, err := Owners(testCtx(t), kadm.NewClient(c.Client(t)), uniqueName("cluster-test-nogroup"), "t")
	if err != nil || len(os) != 0 {
		t.Fatalf("Owners of an unknown group = %v, %v; want no owners, no error", os, err)
	}
}

// TestLostBuckets: a member the coordinator has forgotten (its heartbeat
// answered UNKNOWN_MEMBER_ID, as after a pause longer than the session
// timeout) reports its buckets Lost, owns nothing, and rejoins. kfake only:
// a real broker cannot be made to forget one member on demand.
func TestLostBuckets(t *testing.T) {
	fc := kafkatest.NewFake(t, kfake.GroupMinSessionTimeout(100*time.Millisecond))
	r := newRigOn(t, fc, 12, 2*time.Second)
	a, b := r.start("a", ""), r.start("b", "")
	r.waitPartition(30*time.Second, a, b)
	had := b.Owned()
	_, bID := b.Identity()

	fc.Fake.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		hb := req.(*kmsg.HeartbeatRequest)
		if hb.MemberID != bID {
			return nil, nil, false // handled as usual; the control stays for b's next heartbeat
		}
		resp := hb.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	lost := func() []int {
		for _, e := range b.rec.Events() {
			if e.kind == "lost" {
				return e.buckets
			}
		}
		return nil
	}
	waitFor(t, 10*time.Second, func() string { return fmt.Sprintf("b's events %v have no loss", b.rec.Events()) }, func() bool {
		return lost() != nil
	})
	if got := lost(); !slices.Equal(got, had) {
		t.Errorf("b lost %v, want what it owned: %v", got, had)
	}
	if s := b.Stats(); s.Losses != 1 || s.BucketsLost != uint64(len(had)) {
		t.Errorf("b's stats %+v, want one loss of %d buckets", s, len(had))
	}
	// b rejoins as a new member; once the coordinator drops the forgotten
	// one, the two share the buckets again.
	r.waitPartition(r.session+20*time.Second, a, b)
}
