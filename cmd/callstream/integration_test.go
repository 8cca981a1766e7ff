package main

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
)

// callstreamBinary is the real callstream command, built once per test
// run by the shared test kit.
func callstreamBinary(t testing.TB) string { return testkit.Binary(t, "./cmd/callstream") }

// env is a process environment for the binary.
type env = testkit.Env

// proc is a running callstream process (the shared test kit's).
type proc = testkit.Proc

// start starts the binary with e and args.
func start(t *testing.T, e env, args ...string) *proc {
	t.Helper()
	return testkit.Start(t, callstreamBinary(t), e, nil, args...)
}

type pipeline struct {
	sim      *graphsim.Server
	kafka    *kafkatest.Cluster
	topic    string
	registry *srfake.Registry
	env      env
	start    time.Time
	end      time.Time
	cpPath   string
	// lane is the source the single-source helpers (check, watermark,
	// liveWatermark, offsets, inFlight, topicIDs, belowWatermarkPublished,
	// newWindowGate) look at: direct-routing in v1.0 on topic unless only
	// picked another.
	lane srcLane
}

func newPipeline(t *testing.T, sc graphsim.Config) *pipeline {
	t.Helper()
	sc.Token = "s3cret-token"
	sim, srvURL := testkit.Graph(t, sc)
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 3, nil)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cp := filepath.Join(t.TempDir(), "checkpoint.json")
	return &pipeline{
		sim: sim, kafka: kc, topic: topic, registry: reg, start: sc.Start, end: sc.End, cpPath: cp,
		lane: srcLane{src: sources.Default(), version: sources.V1, topic: topic},
		env: env{
			"GRAPH_BASE_URL":      srvURL,
			"GRAPH_ACCESS_TOKEN":  sc.Token,
			"KAFKA_BROKERS":       strings.Join(kc.Brokers, ","),
			"KAFKA_TOPIC":         topic,
			"SCHEMA_REGISTRY_URL": reg.URL(),
			"CHECKPOINT_PATH":     cp,
			"START_TIME":          sc.Start.Format(time.RFC3339),
			"END_TIME":            sc.End.Format(time.RFC3339),
			"WINDOW":              "1h",
			"SETTLE_DELAY":        "0s",
			"LOG_FORMAT":          "json",

			// The simulator enforces no limits here; pacing to Graph's
			// would only make the tests slow.
			"GRAPH_BUDGET_PER_MINUTE": "0",
		},
	}
}

// check reads the lane's topic (direct-routing's, unless only picked
// another source) back and compares every record with the simulator, field
// by field (see checkLane). It returns the number of duplicate records.
func (p *pipeline) check(t *testing.T) (dups int) {
	t.Helper()
	return p.checkLane(t, p.lane)
}

// watermark reads the checkpoint the binary wrote for the lane's source,
// from the file or the Kafka store as configured.
func (p *pipeline) watermark(t *testing.T) time.Time {
	t.Helper()
	var store checkpoint.Loader
	if p.env["CHECKPOINT_STORE"] == "file" {
		fs, err := checkpoint.NewFileStore(p.cpPath)
		if err != nil {
			t.Fatal(err)
		}
		store = fs
	} else {
		store = checkpoint.NewKafkaStore(p.kafka.Client(t), p.topic+".checkpoint", p.lane.topic)
	}
	st, err := store.Load(context.Background(), p.lane.src.Name)
	if err != nil {
		t.Fatalf("load checkpoint: %v", err)
	}
	return st.Watermark
}

func faultyGraph(start time.Time, days int) graphsim.Config {
	return graphsim.Config{
		Seed: 42, Start: start, End: start.Add(time.Duration(days) * 24 * time.Hour),
		RowsPerHour: 1100, PageOverlap: 3, ExtraProperty: true,
		Faults: []graphsim.Fault{
			{Every: 17, Offset: 3, Status: http.StatusTooManyRequests, RetryAfter: "0"},
			{Every: 23, Offset: 5, Status: http.StatusServiceUnavailable, RetryAfter: "0"},
			{Every: 31, Offset: 7, Truncate: true},
		},
	}
}

func TestBinaryDeliversEveryRowExactlyOnce(t *testing.T) {
	p := newPipeline(t, faultyGraph(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 3))
	proc := start(t, p.env, "run", "--once")
	if code := proc.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}
	if dups := p.check(t); dups != 0 {
		t.Fatalf("%d duplicate records without any crash", dups)
	}
	st := p.sim.Stats()
	if st.ByStatus[429] == 0 || st.ByStatus[503] == 0 || st.Truncated == 0 {
		t.Fatalf("faults not exercised: %+v", st)
	}
	if wm := p.watermark(t); !wm.Equal(p.end) {
		t.Fatalf("checkpoint watermark %s, want %s", wm, p.end)
	}
	// The token must not leak into logs.
	if strings.Contains(proc.Out.String(), "s3cret-token") {
		t.Fatal("the bearer token appears in the logs")
	}
}

// TestBinarySurvivesSIGKILL guards README "What is guaranteed" (nothing
// lost: a kill -9 at any moment leads to the window being read again;
// nothing doubled with the Kafka checkpoint; the file checkpoint may
// republish the window in flight) and DESIGN.md invariant 1, for every Log
// source of the registry (logSources), each walked alone in the first
// Graph API version it is offered in: direct-routing, the default, over a
// 3-day backfill of 79,200 rows killed 20 times, with both stores; every
// other source with the Kafka store (the exactly-once one), killed 5 times
// over two days of about 100 rows an hour read in 3 pages a window
// (killGraph). The first kill of each lands deterministically in the
// middle of a window, with rows of it already on the topic, so the test
// could fail: with the Kafka store those rows stay in the log aborted
// (read_uncommitted sees more records than read_committed, which shows
// every row once); with the file store they are published again after the
// restart (duplicates > 0). Each source's topic is checked row by row and
// field by field against the simulator's data set for it (checkLane).
func TestBinarySurvivesSIGKILL(t *testing.T) {
	type killCase struct {
		src   sources.Source
		store string
		kills int
		days  int
	}
	var cases []killCase
	for _, src := range logSources("") {
		if src.Name == sources.Default().Name {
			cases = append(cases, killCase{src, "kafka", 20, 3}, killCase{src, "file", 20, 3})
			continue
		}
		cases = append(cases, killCase{src, "kafka", 5, 2})
	}
	for _, c := range cases {
		t.Run(c.src.Name+"/"+c.store, func(t *testing.T) {
			sc := killGraph(t, c.src, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), c.days)
			p := newPipeline(t, sc)
			p.only(t, c.src, c.src.Versions[0])
			p.env["CHECKPOINT_STORE"] = c.store
			pageSize := cmp.Or(sc.PageSize, graphsim.DefaultPageSize)
			// The history planner fills pages: at least this many reads.
			totalPages := (len(p.truth(t, p.lane, p.start, p.end)) + pageSize - 1) / pageSize
			// The window after the history planner's one-hour probe: a
			// large history window, killed with its first page's rows in
			// Kafka.
			mid := p.start.Add(time.Hour)
			if n := len(p.truth(t, p.lane, mid, mid.Add(time.Hour))); n <= pageSize {
				t.Fatalf("the window at %s holds %d rows, one page of %d: no kill could land between its pages", mid, n, pageSize)
			}
			g := newWindowGate(t, p, mid, false, gateHold)
			first := p.stopMidWindow(t, g, mid, syscall.SIGKILL)
			<-first.Done()
			g.set(gatePass)
			dups := p.killAndRestart(t, c.kills-1, totalPages)
			if wm := p.watermark(t); !wm.Equal(p.end) {
				t.Fatalf("checkpoint watermark %s, want %s", wm, p.end)
			}
			switch c.store {
			case "kafka":
				// Rows and checkpoint commit together: a kill loses the
				// open transaction whole, and nothing is doubled.
				if dups != 0 {
					t.Fatalf("%d duplicates with the transactional Kafka checkpoint", dups)
				}
				// ... though the killed transactions' rows are in the log.
				all, committed := len(p.kafka.ReadAll(t, p.lane.topic, false)), len(p.kafka.ReadAll(t, p.lane.topic, true))
				if all <= committed {
					t.Fatalf("read_uncommitted sees %d records, read_committed %d: no aborted record, so the kills tested nothing", all, committed)
				}
				t.Logf("%d aborted records hidden from read_committed", all-committed)
			case "file":
				// Duplicates can only come from the window in flight at
				// each kill — a history window of up to
				// HISTORY_WINDOW_PAGES pages — and the first kill left one.
				if max := c.kills * (walk.DefaultHistoryPages + 1) * pageSize; dups > max || dups == 0 {
					t.Fatalf("%d duplicates after %d kills, want at least one (the first kill was mid-window) and at most what the windows in flight could hold (%d)", dups, c.kills, max)
				}
			}
			t.Logf("%s, %s checkpoint, after %d SIGKILLs: %d rows, 0 lost, %d duplicate records", c.src.Name, c.store, c.kills, len(p.truth(t, p.lane, p.start, p.end)), dups)
		})
	}
}

// killGraph is the simulated Graph TestBinarySurvivesSIGKILL walks src
// over: faultyGraph's faults and paging quirks over days from start, as is
// for direct-routing (1,100 rows an hour, 2 pages a window); for any other
// source with the density scaled so that src's own data set has about 100
// rows an hour, read in pages of 34, whatever its rate relative to the call
// rows (SMS are rarer, blocks rarer still).
func killGraph(t *testing.T, src sources.Source, start time.Time, days int) graphsim.Config {
	t.Helper()
	sc := faultyGraph(start, days)
	if src.Name == sources.Default().Name {
		return sc
	}
	const perHour, pageSize = 100, 34
	probe := sc
	probe.Token = "probe"
	sim, err := graphsim.New(probe)
	if err != nil {
		t.Fatal(err)
	}
	rate := float64(len(simRows(t, sim, src, sc.Start, sc.End))) / float64(days*24)
	if rate == 0 {
		t.Fatalf("the simulator holds no %s row at %d call rows an hour", src.Name, sc.RowsPerHour)
	}
	sc.RowsPerHour = max(1, int(math.Round(float64(sc.RowsPerHour)*perHour/rate)))
	sc.PageSize = pageSize
	return sc
}

// killRuns starts `run --once` kills times and SIGKILLs each run once the
// simulator has served at least step and at most step plus a random share
// of totalPages further pages (pages reads its count), so that the kills
// land all over the walk.
func killRuns(t *testing.T, e env, pages func() int, kills, totalPages, step int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range kills {
		target := pages() + step + rng.IntN(max(totalPages/(kills+1), 1))
		proc := start(t, e, "run", "--once")
		deadline := time.Now().Add(2 * time.Minute)
		for pages() < target {
			select {
			case <-proc.Done():
				t.Fatalf("kill %d: the walk ended before the kill; output:\n%s", i, proc.Out)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: no progress; output:\n%s", i, proc.Out)
			}
			time.Sleep(time.Millisecond)
		}
		proc.Kill(t)
	}
}

// killAndRestart starts the walk, SIGKILLs it after a random number of
// further pages, kills times, then lets a last run finish, and checks the
// lane's topic. It returns the number of duplicate records.
func (p *pipeline) killAndRestart(t *testing.T, kills, totalPages int) int {
	t.Helper()
	killRuns(t, p.env, func() int { return p.sim.Stats().Pages }, kills, totalPages, 2)
	proc := start(t, p.env, "run", "--once")
	if code := proc.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d after restart; output:\n%s", code, proc.Out)
	}
	return p.check(t)
}

// TestBinaryFencedInstanceStops guards README "What is guaranteed" (a
// second instance with the same transactional id fences the first, which
// exits 3; nothing it wrote after that is visible) and DESIGN.md invariant
// 8. The older instance is held deterministically in the middle of a window
// with rows of it in an open transaction when the newer one starts, so the
// fencing has something to hide: read_uncommitted sees those rows twice,
// read_committed once.
func TestBinaryFencedInstanceStops(t *testing.T) {
	p := newPipeline(t, faultyGraph(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), 2))
	mid := p.start.Add(time.Hour) // the first history window after the planner's probe
	g := newWindowGate(t, p, mid, false, gateHold)
	adm := kadm.NewClient(p.kafka.Client(t))
	wm := p.liveWatermark(t)
	older := launch(t, p.env.With(env{"BACKFILL_CONCURRENCY": "1"}), nil, "run", "--once")
	waitUntil(t, "the older instance held in the window at "+mid.Format(time.RFC3339)+" with an open transaction", older.Done(), older.Out,
		func() bool { return wm().Equal(mid) && p.offsets(t, adm).open() })
	// Same environment, so the same transactional id: the newer instance
	// fences the older one when it starts, before it asks Graph for the
	// window at mid; only then may the older one go on.
	newer := launch(t, p.env, nil, "run", "--once")
	waitUntil(t, "the newer instance asked for the window at "+mid.Format(time.RFC3339), newer.Done(), newer.Out,
		func() bool { return g.firstPages.Load() >= 2 })
	g.set(gatePass)
	if code := older.Wait(t, 2*time.Minute); code != exitFenced {
		t.Fatalf("older instance exited %d, want %d (fenced); output:\n%s", code, exitFenced, older.Out)
	}
	if !strings.Contains(older.Out.String(), "fenced") {
		t.Fatalf("the older instance does not say it was fenced:\n%s", older.Out)
	}
	if code := newer.Wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("newer instance exited %d; output:\n%s", code, newer.Out)
	}
	// Whatever the older instance wrote after it was fenced was aborted:
	// read_committed readers see every row exactly once ...
	if dups := p.check(t); dups != 0 {
		t.Fatalf("%d duplicates: writes of the fenced instance became visible", dups)
	}
	if wm := p.watermark(t); !wm.Equal(p.end) {
		t.Fatalf("checkpoint watermark %s, want %s", wm, p.end)
	}
	// ... while its aborted rows of the window at mid are still in the log.
	all := p.topicIDs(t, false)
	twice := 0
	for _, r := range p.sim.Rows(mid, mid.Add(time.Hour)) {
		if all[r.ID] > 1 {
			twice++
		}
	}
	if twice == 0 {
		t.Fatal("read_uncommitted shows no row of the window at mid twice: the fenced instance had nothing in flight, the test proved nothing")
	}
	t.Logf("%d rows of the fenced instance's open transaction hidden from read_committed", twice)
}

// TestBinarySIGTERMStopsCleanly guards README "What is guaranteed /
// SIGTERM" (finishes or abandons the window in flight, exits 0; an
// abandoned window is read again) and DESIGN.md invariants 1 and 6, with
// both stores. SIGTERM arrives deterministically in the middle of a window
// — page 1 of the window at 01:00 (the history window after the planner's
// probe) on the topic, page 2 held back — so the watermark must lie
// strictly inside the range, at 01:00; every row below
// it is on the topic; the Kafka store leaves the in-flight rows aborted
// (read_uncommitted sees them, read_committed does not) and the file store
// leaves them published and remembers their ids; a restart then
// completes the walk with nothing lost and nothing doubled.
func TestBinarySIGTERMStopsCleanly(t *testing.T) {
	for _, store := range []string{"kafka", "file"} {
		t.Run(store, func(t *testing.T) {
			p := newPipeline(t, faultyGraph(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), 1))
			p.env["CHECKPOINT_STORE"] = store
			mid := p.start.Add(time.Hour)
			g := newWindowGate(t, p, mid, false, gateHold)
			proc := p.stopMidWindow(t, g, mid, syscall.SIGTERM)
			if code := proc.Wait(t, time.Minute); code != 0 {
				t.Fatalf("exit %d after SIGTERM, want 0; output:\n%s", code, proc.Out)
			}
			wm := p.watermark(t)
			if !wm.Equal(mid) || !wm.After(p.start) || !wm.Before(p.end) {
				t.Fatalf("watermark %s after SIGTERM in the window at %s, want exactly its start (strictly inside [%s, %s))", wm, mid, p.start, p.end)
			}
			// The checkpoint never runs ahead of Kafka: every row below the
			// watermark is on the topic.
			p.belowWatermarkPublished(t, wm)
			inFlight := p.sim.Rows(mid, mid.Add(time.Hour))
			committed, all := p.topicIDs(t, true), p.topicIDs(t, false)
			seen := 0
			for _, r := range inFlight {
				if all[r.ID] > 0 {
					seen++
				}
				if store == "kafka" && committed[r.ID] > 0 {
					t.Fatalf("row %s of the abandoned window is visible read_committed", r.ID)
				}
			}
			if seen == 0 {
				t.Fatalf("no row of the window in flight reached the topic: the stop was not mid-window")
			}

			// A restart reads the abandoned window again: nothing lost.
			g.set(gatePass)
			again := start(t, p.env, "run", "--once")
			if code := again.Wait(t, 5*time.Minute); code != 0 {
				t.Fatalf("exit %d; output:\n%s", code, again.Out)
			}
			// The file store remembers the acknowledged ids of the
			// abandoned window on a clean stop (walk's partial read), so
			// neither store doubles a row here.
			if dups := p.check(t); dups != 0 {
				t.Fatalf("%d duplicates after a clean stop with the %s checkpoint", dups, store)
			}
			t.Logf("%s: %d rows of the window in flight were on the topic at the stop", store, seen)
		})
	}
}

// stopMidWindow runs the walk page by page (BACKFILL_CONCURRENCY=1) with
// page 2 of the window at mid held by g, waits until every window before it
// is checkpointed and rows of its first page are on the topic, and sends
// sig. The process is stopped at that point in the middle of a window.
func (p *pipeline) stopMidWindow(t *testing.T, g *windowGate, mid time.Time, sig syscall.Signal) *liveProc {
	t.Helper()
	adm := kadm.NewClient(p.kafka.Client(t))
	wm := p.liveWatermark(t)
	proc := launch(t, p.env.With(env{"BACKFILL_CONCURRENCY": "1"}), nil, "run", "--once")
	waitUntil(t, "the walk held in the window at "+mid.Format(time.RFC3339)+" with rows of it on the topic", proc.Done(), proc.Out,
		func() bool { return wm().Equal(mid) && p.inFlight(t, adm, wm) })
	if err := proc.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return proc
}

func TestBinaryBadConfigExits2WithEveryProblem(t *testing.T) {
	proc := start(t, env{
		"GRAPH_CLOUD":       "china",
		"GRAPH_API_VERSION": "v2",
		"WINDOW":            "soon",
		"START_TIME":        "yesterday",
		"RESCAN_AFTER":      "1h,-5m",
		"CHECKPOINT_STORE":  "s3",
	}, "run", "--once")
	if code := proc.Wait(t, 30*time.Second); code != 2 {
		t.Fatalf("exit %d, want 2; output:\n%s", code, proc.Out)
	}
	out := proc.Out.String()
	for _, name := range []string{"GRAPH_CLOUD", "GRAPH_API_VERSION", "WINDOW", "START_TIME", "RESCAN_AFTER", "CHECKPOINT_STORE", "KAFKA_BROKERS"} {
		if !strings.Contains(out, name) {
			t.Errorf("the error does not name %s:\n%s", name, out)
		}
	}
}
