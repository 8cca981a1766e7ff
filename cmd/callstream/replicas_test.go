package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/cluster"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/sources"
)

// The tests of this file run the binary as a fleet: many simulated tenants
// (testkit.Cloud: a simulated Entra issuing per-tenant tokens and refusing
// tenants without consent, a simulated Graph serving each tenant its own
// data) and, with CLUSTER_GROUP, several replicas sharing them.

// fleetTenants returns n tenant ids, GUIDs as Entra's are.
func fleetTenants(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-7e4a-4c1b-9a2d-%012x", 0x5eed0000+i, 0xc0ffee000+i)
	}
	return ids
}

// fleet is a multi-tenant run's world: the cloud, the cluster, the two
// data topics and the environment every replica shares.
type fleet struct {
	cloud      *testkit.Cloud
	kafka      *kafkatest.Cluster
	topics     map[string]string // by source name
	env        env
	start, end time.Time
	group      string
	assign     string
}

// newFleet builds a fleet of the tenants reading direct-routing and pstn
// over the data set's [Start, End).
func newFleet(t *testing.T, tenantIDs []string, gc graphsim.Config) *fleet {
	t.Helper()
	kc := kafkatest.New(t)
	cloud := testkit.NewCloud(t, testkit.CloudConfig{Tenants: tenantIDs, Graph: gc})
	f := &fleet{cloud: cloud, kafka: kc, start: gc.Start, end: gc.End, topics: map[string]string{}}
	dr, pstn := kc.Topic(t, 6, nil), kc.Topic(t, 6, nil)
	f.topics["direct-routing"], f.topics["pstn"] = dr, pstn
	f.group, f.assign = dr+"-replicas", dr+".assignments"
	f.env = cloud.Env().With(env{
		"KAFKA_BROKERS":    strings.Join(kc.Brokers, ","),
		"KAFKA_TOPIC":      dr,
		"KAFKA_PSTN_TOPIC": pstn,
		"SOURCES":          "direct-routing,pstn",
		"CHECKPOINT_STORE": "kafka",
		"START_TIME":       f.start.Format(time.RFC3339),
		"END_TIME":         f.end.Format(time.RFC3339),
		"WINDOW":           "1h",
		"SETTLE_DELAY":     "0s",
		"POLL_INTERVAL":    "2s",
		"LOG_FORMAT":       "json",
		// Fixed windows: the churn must find work in flight.
		"HISTORY_WINDOW_PAGES":    "0",
		"GRAPH_BUDGET_PER_MINUTE": "0",
	})
	return f
}

// replicated adds the replica group settings to the fleet's environment.
func (f *fleet) replicated() {
	f.env = f.env.With(env{"CLUSTER_GROUP": f.group, "CLUSTER_TOPIC": f.assign})
}

// truthIDs is each (tenant, source)'s good row ids.
func (f *fleet) truthIDs(t *testing.T) map[string]map[string]bool {
	t.Helper()
	want := map[string]map[string]bool{}
	for _, tenant := range f.cloud.Tenants() {
		for name := range f.topics {
			src, _ := sources.Lookup(name)
			ids := map[string]bool{}
			for _, r := range simRows(t, f.cloud.Truth(tenant), src, f.start, f.end) {
				if r.Malformed == graphsim.MalformNone {
					ids[r.ID] = true
				}
			}
			if len(ids) == 0 {
				t.Fatalf("tenant %s has no %s rows: the check would prove nothing", tenant, name)
			}
			want[tenant+"/"+name] = ids
		}
	}
	return want
}

// checkExactlyOnce reads both topics read_committed and requires every good
// row of every tenant exactly once, each naming its tenant in the tenantId
// header and field, and nothing else.
func (f *fleet) checkExactlyOnce(t *testing.T) (rows int) {
	t.Helper()
	want := f.truthIDs(t)
	seen := map[string]int{}
	for name, topic := range f.topics {
		src, _ := sources.Lookup(name)
		avsc, err := os.ReadFile(avscPath(src, sources.V1))
		if err != nil {
			t.Fatal(err)
		}
		schema := avro.MustParse(string(avsc))
		for _, rec := range f.kafka.ReadAll(t, topic, true) {
			var got map[string]any
			// No registry here: values are plain Avro, the schema named in
			// headers.
			if err := avro.Unmarshal(schema, rec.Value, &got); err != nil {
				t.Fatalf("%s offset %d: %v", topic, rec.Offset, err)
			}
			tenant := headers(rec)["tenantId"]
			if field, _ := got["tenantId"].(string); field != tenant || tenant == "" {
				t.Fatalf("%s offset %d: tenantId header %q, field %v", topic, rec.Offset, tenant, got["tenantId"])
			}
			id, _ := got[src.IDProperty].(string)
			lane := tenant + "/" + name
			if !want[lane][id] {
				t.Fatalf("%s offset %d: %s %q is not a row of tenant %s", topic, rec.Offset, src.IDProperty, id, tenant)
			}
			seen[lane+"/"+id]++
			rows++
		}
	}
	lost, doubled := 0, 0
	for lane, ids := range want {
		for id := range ids {
			switch n := seen[lane+"/"+id]; {
			case n == 0:
				lost++
			case n > 1:
				doubled += n - 1
			}
		}
	}
	if lost != 0 || doubled != 0 {
		t.Fatalf("%d rows lost, %d duplicated over %d tenants × %d sources", lost, doubled, len(f.cloud.Tenants()), len(f.topics))
	}
	return rows
}

// arrivals follows both topics read_committed and records, per tenant,
// when its rows last arrived and how many did.
type arrivals struct {
	mu    sync.Mutex
	last  map[string]time.Time
	count map[string]int
}

func (f *fleet) follow(t *testing.T) *arrivals {
	t.Helper()
	a := &arrivals{last: map[string]time.Time{}, count: map[string]int{}}
	cl := f.kafka.Client(t, kgo.ConsumeTopics(f.topics["direct-routing"], f.topics["pstn"]),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			a.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				tenant := headers(r)["tenantId"]
				a.last[tenant] = now
				a.count[tenant]++
			})
			a.mu.Unlock()
		}
	}()
	return a
}

// since reports whether a row of tenant arrived after t0.
func (a *arrivals) since(tenant string, t0 time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last[tenant].After(t0)
}

// lastOf is the latest arrival of any of tenants.
func (a *arrivals) lastOf(tenants []string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var last time.Time
	for _, id := range tenants {
		if a.last[id].After(last) {
			last = a.last[id]
		}
	}
	return last
}

func (a *arrivals) of(tenant string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count[tenant]
}

// TestBinaryReplicasChurn is issue 13's crash and churn test: the binary
// as three replicas of one group serving 30 tenants × two sources, while
// the test SIGKILLs a random replica every ~10 s and restarts it, scales
// 3 → 1 → 4 and restarts every replica in turn. Afterwards read_committed
// holds every row of every tenant exactly once, each naming its tenant,
// and every lane's checkpoint reached END_TIME. It reports, for each kill,
// the time from the replica's death to every bucket it owned (with work
// left) progressing again — on another replica, or on itself restarted
// with its static identity.
func TestBinaryReplicasChurn(t *testing.T) {
	if kafkatest.New(t).Fake != nil {
		t.Skip("the replica churn test runs once, on the real broker (make test-kafka): three replicas, their rebalances and a minute of kills")
	}
	ids := fleetTenants(30)
	from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	// Twelve days of hourly windows read one at a time at 150–450 ms a
	// request: work in flight through every kill, scale and restart.
	f := newFleet(t, ids, graphsim.Config{Seed: 13, Start: from, End: from.AddDate(0, 0, 12),
		RowsPerHour: 4, Latency: 150 * time.Millisecond, LatencyMax: 450 * time.Millisecond})
	f.replicated()
	f.env = f.env.With(env{"BACKFILL_CONCURRENCY": "1"})
	want := f.truthIDs(t)
	total := map[string]int{}
	for lane, ids := range want {
		total[strings.SplitN(lane, "/", 2)[0]] += len(ids)
	}
	arr := f.follow(t)
	adm := kadm.NewClient(f.kafka.Client(t))

	replicas := map[string]*proc{}
	var all []*proc // every replica process started, for their logs
	var mu sync.Mutex
	startReplica := func(name string) {
		p := start(t, f.env.With(env{"CLUSTER_INSTANCE_ID": name}), "run")
		mu.Lock()
		replicas[name] = p
		all = append(all, p)
		mu.Unlock()
	}
	stopReplica := func(name string) {
		mu.Lock()
		p := replicas[name]
		delete(replicas, name)
		mu.Unlock()
		p.Stop(t) // SIGTERM, exit 0: leaves the group at once
	}
	for _, n := range []string{"r0", "r1", "r2"} {
		startReplica(n)
	}
	finished := func(tenant string) bool { return arr.of(tenant) >= total[tenant] }
	// claimedAt returns when a replica (any, the killed one restarted
	// included) logged that it claimed bucket b after t0.
	claimedAt := func(b int, t0 time.Time) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range all {
			for line := range strings.SplitSeq(p.Out.String(), "\n") {
				if !strings.Contains(line, `"msg":"bucket claimed"`) || !strings.Contains(line, fmt.Sprintf(`"bucket":%d,`, b)) {
					continue
				}
				var rec struct{ Time time.Time }
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Time.After(t0) {
					return rec.Time, true
				}
			}
		}
		return time.Time{}, false
	}
	// handover waits until every bucket owned (with a tenant that has rows
	// left) was claimed again after t0 and a row of one of its tenants
	// arrived after that claim, and returns how long that took: from the
	// death to the bucket's progress.
	handover := func(owned []int, t0 time.Time) time.Duration {
		var worst time.Duration
		for _, b := range owned {
			var open []string
			for _, id := range ids {
				if cluster.Bucket(id, 64) == b && !finished(id) {
					open = append(open, id)
				}
			}
			if len(open) == 0 {
				continue
			}
			for {
				if tc, ok := claimedAt(b, t0); ok && slices.ContainsFunc(open, func(id string) bool { return arr.since(id, tc) }) {
					worst = max(worst, arr.lastOf(open).Sub(t0))
					break
				}
				if !slices.ContainsFunc(open, func(id string) bool { return !finished(id) }) {
					break // finished before it was taken over: nothing to time
				}
				if time.Since(t0) > 2*time.Minute {
					t.Fatalf("bucket %d made no progress for 2 minutes after the kill", b)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		return worst
	}
	ownedBy := func(name string) []int {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		owners, err := cluster.Owners(ctx, adm, f.group, f.assign)
		if err != nil {
			t.Fatal(err)
		}
		var bs []int
		for b, o := range owners {
			if o.InstanceID == name {
				bs = append(bs, b)
			}
		}
		return bs
	}
	// Let the group settle and every replica walk.
	waitFor(t, 60*time.Second, "rows of every tenant", func() bool {
		for _, id := range ids {
			if arr.of(id) == 0 {
				return false
			}
		}
		return true
	})

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	var handovers []time.Duration
	for kill := range 6 {
		victim := []string{"r0", "r1", "r2"}[rng.IntN(3)]
		owned := ownedBy(victim)
		mu.Lock()
		p := replicas[victim]
		mu.Unlock()
		t0 := time.Now()
		p.Kill(t)
		<-p.Done()
		startReplica(victim)
		d := handover(owned, t0)
		handovers = append(handovers, d)
		t.Logf("kill %d: %s owned %d buckets; all progressing again after %s", kill, victim, len(owned), d.Round(10*time.Millisecond))
		time.Sleep(time.Duration(5000+rng.IntN(4000)) * time.Millisecond)
	}
	// 3 → 1 → 4: r2 is lost for good (SIGKILL, no restart), so its
	// buckets move to the others once the group's session timeout expires;
	// r1 stops cleanly and leaves the group.
	owned := ownedBy("r2")
	mu.Lock()
	lost := replicas["r2"]
	delete(replicas, "r2")
	mu.Unlock()
	t0 := time.Now()
	lost.Kill(t)
	stopReplica("r1")
	d := handover(owned, t0)
	handovers = append(handovers, d)
	t.Logf("r2 lost for good with %d buckets: all progressing on r0 after %s", len(owned), d.Round(10*time.Millisecond))
	for _, n := range []string{"r1", "r2", "r3"} {
		startReplica(n)
	}
	time.Sleep(8 * time.Second)
	// A rolling restart, one replica at a time.
	for _, n := range []string{"r0", "r1", "r2", "r3"} {
		stopReplica(n)
		startReplica(n)
		time.Sleep(4 * time.Second)
	}
	waitFor(t, 5*time.Minute, "every tenant's rows", func() bool {
		for _, id := range ids {
			if !finished(id) {
				return false
			}
		}
		return true
	})
	rows := f.checkExactlyOnce(t)
	// Every lane's checkpoint reached END_TIME: `callstream tenants` says so.
	out, errOut, code := testkit.Run(t, callstreamBinary(t), f.env, "tenants", "--json")
	if code != 0 {
		t.Fatalf("tenants exited %d: %s", code, errOut)
	}
	for _, id := range ids {
		if n := strings.Count(out, fmt.Sprintf(`"tenant": %q`, id)); n != len(f.topics) {
			t.Fatalf("tenants lists %s %d times, want once per source:\n%s", id, n, out)
		}
	}
	if n := strings.Count(out, `"watermark": "`+f.end.Format(time.RFC3339)+`"`); n != len(ids)*len(f.topics) {
		t.Fatalf("%d lanes at END_TIME %s, want %d:\n%s", n, f.end.Format(time.RFC3339), len(ids)*len(f.topics), out)
	}
	for _, n := range slices.Sorted(maps.Keys(replicas)) {
		stopReplica(n)
	}
	sort.Slice(handovers, func(i, j int) bool { return handovers[i] < handovers[j] })
	t.Logf("%d tenants × %d sources, %d rows: 0 lost, 0 duplicated; handover after a SIGKILL: median %s, worst %s (%v)",
		len(ids), len(f.topics), rows, handovers[len(handovers)/2].Round(10*time.Millisecond),
		handovers[len(handovers)-1].Round(10*time.Millisecond), handovers)
	if worst := handovers[len(handovers)-1]; worst > 30*time.Second {
		t.Errorf("worst handover %s, want at most 30 s with the default settings", worst)
	}
}

// waitFor polls cond every 200 ms until it holds, failing the test after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBinaryTenantConsentRevoked: one process serving three tenants of
// live data; the admin of one revokes the app's consent mid-run. That
// tenant shows as down (callstream_tenant_up 0, a note on /readyz, one log
// line however often it is retried) within one poll, the other two keep
// their pace, and once consent is back it catches up: every row of every
// tenant exactly once.
func TestBinaryTenantConsentRevoked(t *testing.T) {
	ids := fleetTenants(3)
	now := time.Now().UTC().Truncate(time.Second)
	f := newFleet(t, ids, graphsim.Config{Seed: 65001, Start: now.Add(-20 * time.Second), End: now.Add(40 * time.Second), RowsPerHour: 3600})
	f.env = f.env.With(env{
		"WINDOW":                "1s",
		"POLL_INTERVAL":         "2s",
		"RESCAN_AFTER":          "5s",
		"TENANT_RETRY_INTERVAL": "3s",
		"METRICS_ADDR":          "127.0.0.1:0",
	})
	arr := f.follow(t)
	p := launch(t, f.env, nil, "run")
	addr := opsAddr(t, p)
	waitFor(t, 30*time.Second, "rows of every tenant", func() bool {
		for _, id := range ids {
			if arr.of(id) == 0 {
				return false
			}
		}
		return true
	})
	victim, others := ids[1], []string{ids[0], ids[2]}
	up := func(tenant string) string {
		_, body := get(t, addr, "/metrics")
		for line := range strings.SplitSeq(body, "\n") {
			if strings.HasPrefix(line, `callstream_tenant_up{tenant="`+tenant+`"} `) {
				return strings.TrimPrefix(line, `callstream_tenant_up{tenant="`+tenant+`"} `)
			}
		}
		return ""
	}
	if v := up(victim); v != "1" {
		t.Fatalf("callstream_tenant_up of %s is %q before the revocation, want 1", victim, v)
	}
	revoked := time.Now()
	f.cloud.SetConsent(victim, false)
	waitFor(t, 2*time.Second+3*time.Second, "the tenant to show as down within one poll", func() bool { return up(victim) == "0" })
	t.Logf("down after %s", time.Since(revoked).Round(10*time.Millisecond))
	code, ready := get(t, addr, "/readyz")
	if !strings.Contains(ready, "down tenant "+victim) {
		t.Fatalf("/readyz (%d) does not note the tenant down:\n%s", code, ready)
	}
	if code != 200 {
		t.Fatalf("/readyz answers %d with one tenant down: the others are served, the replica must stay ready:\n%s", code, ready)
	}
	// The others keep their pace while the victim is down.
	before := map[string]int{}
	for _, id := range others {
		before[id] = arr.of(id)
	}
	mark := time.Now()
	time.Sleep(8 * time.Second) // more than two retries of the victim
	for _, id := range others {
		if !arr.since(id, mark) || arr.of(id) <= before[id] {
			t.Fatalf("tenant %s published nothing while %s was down", id, victim)
		}
	}
	if n := strings.Count(p.Out.String(), `"msg":"tenant down`); n != 1 {
		t.Fatalf("%d \"tenant down\" log lines, want one per change of state:\n%s", n, p.Out)
	}
	f.cloud.SetConsent(victim, true)
	waitFor(t, 30*time.Second, "the tenant to come back up", func() bool { return up(victim) == "1" })
	want := f.truthIDs(t)
	waitFor(t, 90*time.Second, "every row of every tenant", func() bool {
		for _, id := range ids {
			if arr.of(id) < len(want[id+"/direct-routing"])+len(want[id+"/pstn"]) {
				return false
			}
		}
		return true
	})
	p.Stop(t)
	t.Logf("%d rows of %d tenants, 0 lost, 0 duplicated", f.checkExactlyOnce(t), len(ids))
}

// TestBinaryTenantsFileWatched: TENANTS_FILE is watched — a tenant added
// to the file starts being read, one removed stops, without a restart.
func TestBinaryTenantsFileWatched(t *testing.T) {
	ids := fleetTenants(2)
	now := time.Now().UTC().Truncate(time.Second)
	f := newFleet(t, ids, graphsim.Config{Seed: 7, Start: now.Add(-20 * time.Second), End: now.Add(2 * time.Minute), RowsPerHour: 3600})
	file := filepath.Join(t.TempDir(), "tenants.yaml")
	write := func(tenants ...string) {
		var b strings.Builder
		b.WriteString("tenants:\n")
		for _, id := range tenants {
			fmt.Fprintf(&b, "  - id: %s\n", id)
		}
		// Written aside and renamed in, as a ConfigMap update swaps files.
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(ids[0])
	f.env = f.env.With(env{"TENANTS": "", "TENANTS_FILE": file, "WINDOW": "1s", "POLL_INTERVAL": "1s", "RESCAN_AFTER": "5s"})
	arr := f.follow(t)
	p := launch(t, f.env, nil, "run")
	waitFor(t, 30*time.Second, "rows of the first tenant", func() bool { return arr.of(ids[0]) > 0 })
	if arr.of(ids[1]) != 0 {
		t.Fatalf("tenant %s is not in the file yet, but %d of its rows arrived", ids[1], arr.of(ids[1]))
	}
	write(ids[0], ids[1])
	waitFor(t, 30*time.Second, "rows of the tenant added to the file", func() bool { return arr.of(ids[1]) > 0 })
	write(ids[1])
	p.LogLine(t, "tenants", 30*time.Second) // the change is applied
	waitFor(t, 30*time.Second, "the removal to apply", func() bool {
		return strings.Contains(p.Out.String(), `"removed":1`)
	})
	time.Sleep(2 * time.Second) // a window in flight may still commit
	stopped, mark := arr.of(ids[0]), time.Now()
	time.Sleep(5 * time.Second)
	if arr.since(ids[0], mark) || arr.of(ids[0]) != stopped {
		t.Fatalf("tenant %s was removed from the file but its rows keep arriving", ids[0])
	}
	if !arr.since(ids[1], mark) {
		t.Fatalf("tenant %s stopped too", ids[1])
	}
	p.Stop(t)
}
