// Command harness stands up the parts of the interop test that are not
// Kafka: the Graph simulator and a Schema Registry (franz-go's srfake, behind
// HTTP basic auth, with Confluent's BACKWARD compatibility check), both on
// 127.0.0.1. It writes the simulator's ground truth and the settings for
// callstream into a directory, then serves until SIGTERM or SIGINT.
//
// The call records are served by a simulator of their own: Graph keeps them
// 30 days, so callstream refuses a range of them older than that, while the
// other sources' range is a fixed day in the past; and a record is a request
// or more (a meeting's sessions page at 60), so their range is an hour of a
// few hundred records, not the others' thousands of rows. Their simulator's
// clock stands still at the harness's start, so the versions it serves are
// the truth's whenever callstream reads.
//
// Files written to -dir:
//
//	truth-<source>-<version>.jsonl
//	             for every source of the registry and every Graph API version it is
//	             offered in. A Log source: every simulated row of that source in the
//	             walked range, one Graph JSON object a line, exactly as the simulator
//	             serves it in that version (the consumer derives the expected Avro values
//	             from it on its own). An Aggregate source (pstn-dialout): one line per
//	             UTC day the range touches and grouping, {"day": "2026-03-02", "key":
//	             <its record key, schemas.DayKey>, "row": <the Graph JSON served>}
//	             (testkit.AggregateRows). A Records source (call-records): every call
//	             record the simulator serves for the range, in the version it serves,
//	             one a line: the record's JSON as the fetch client hands it over
//	             (graphsim.CallRecordVersion.JSON: every sessions page merged)
//	lanes.tsv    one line per truth file: version, source, the source's topic setting, its
//	             id property ("-" for an aggregate), its key property, the truth file's
//	             name, the source's kind (log, aggregate, records), the path of its .avsc
//	             below the repository, and the Graph base URL, START_TIME and END_TIME
//	             callstream reads the lane with, tab-separated
//	env          NAME=value lines for callstream and the consumer (written last, atomically,
//	             so its presence means "ready")
//
// With -abort-into it instead writes one record shaped like callstream's for
// -source in -version to a topic inside an aborted transaction (see
// writeAborted) and exits.
//
// tests/interop/run.sh drives it; see that script.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/srcompat"
	"github.com/callstream/callstream/internal/testkit"
	"github.com/callstream/callstream/sources"
)

func main() {
	dir := flag.String("dir", "", "directory for truth.jsonl and env (required)")
	startS := flag.String("start", "2026-03-02T00:00:00Z", "first call start time simulated (RFC 3339)")
	hours := flag.Int("hours", 12, "hours of calls to simulate")
	perHour := flag.Int("rows-per-hour", 1100, "simulated calls per hour (over 1000 makes Graph page)")
	abortInto := flag.String("abort-into", "", "instead of serving: write one callstream-shaped record to this topic in an aborted transaction, then exit")
	brokers := flag.String("brokers", "", "with -abort-into: the Kafka brokers (comma-separated)")
	source := flag.String("source", sources.Default().Name, "with -abort-into: the source whose record to write (its truth file's first row)")
	version := flag.String("version", sources.V1, "with -abort-into: the Graph API version of that source")
	recHours := flag.Int("records-hours", 1, "hours of call records to simulate, ending two days before now (or up to a day earlier, for meetings of over 60 sessions)")
	recPerHour := flag.Int("records-per-hour", 250, "simulated Teams-only call records per hour (one in 40 a meeting of over 60 sessions), besides those of 60 Direct Routing calls an hour")
	flag.Parse()
	if *abortInto != "" {
		if err := writeAborted(strings.Split(*brokers, ","), *abortInto, *dir, *source, *version); err != nil {
			log.Fatalf("harness: aborted transaction: %v", err)
		}
		log.Printf("harness: wrote one %s (%s) record to %s in an aborted transaction", *source, *version, *abortInto)
		return
	}
	if *dir == "" || *hours < 1 || *perHour < 1 || *recHours < 1 || *recPerHour < 1 {
		flag.Usage()
		os.Exit(2)
	}
	start, err := time.Parse(time.RFC3339, *startS)
	if err != nil {
		log.Fatalf("harness: -start: %v", err)
	}
	if err := run(*dir, start.UTC(), *hours, *perHour, *recHours, *recPerHour); err != nil {
		log.Fatalf("harness: %v", err)
	}
}

// faults are the failures the simulators inject: callstream must retry
// them without losing or repeating a row.
var faults = []graphsim.Fault{
	{Every: 13, Offset: 3, Status: http.StatusTooManyRequests, RetryAfter: "0"},
	{Every: 19, Offset: 5, Status: http.StatusServiceUnavailable, RetryAfter: "0"},
}

// recordsFaults are the call records' simulator's: the same, but a single
// 429. callstream's budget for the call-records family lowers the
// application's allowance by a fifth at each 429 on a record and adds one
// request back per 21-second window (fetch.Budget), so a 429 every 13
// requests starves it to a few requests a window: a few hundred records
// took minutes, and the window's transaction outlived its timeout (the
// producer was fenced). Graph does not throttle an app that far under its
// limits; one 429 still shows the retry.
var recordsFaults = []graphsim.Fault{
	{Every: 13, Offset: 3, Status: http.StatusTooManyRequests, RetryAfter: "0", Limit: 1},
	{Every: 19, Offset: 5, Status: http.StatusServiceUnavailable, RetryAfter: "0"},
}

func run(dir string, start time.Time, hours, perHour, recHours, recPerHour int) error {
	const token = "interop-graph-token"
	const srUser, srPass = "interop-sr-key", "interop-sr-secret"
	end := start.Add(time.Duration(hours) * time.Hour)
	sim, err := graphsim.New(graphsim.Config{
		Seed: 20260302, Start: start, End: end, RowsPerHour: perHour, Token: token,
		PageOverlap: 3, ExtraProperty: true, Faults: faults,
	})
	if err != nil {
		return err
	}
	graphURL, stopGraph, err := serve(sim)
	if err != nil {
		return err
	}
	defer stopGraph()

	// The call records' range ends two days before now or earlier, on the
	// hour: inside Graph's 30 days, and long enough ago that every record
	// has appeared (15–60 minutes after its call) and most updates have too.
	// Which calls fall in it changes with the day, so it is the latest
	// range of the day before that holds some meetings of over 60 sessions
	// (sessions paging at 60): found, not hoped for.
	now := time.Now().UTC()
	span := time.Duration(recHours) * time.Hour
	simEnd := now.Add(-48 * time.Hour).Truncate(time.Hour)
	simStart := simEnd.Add(-24*time.Hour - span)
	crSim, err := graphsim.New(graphsim.Config{
		Seed: 20260302, Start: simStart, End: simEnd, RowsPerHour: 60, TeamsRecordsPerDay: 24 * recPerHour,
		Token: token, ExtraProperty: true, Faults: recordsFaults,
		Now: func() time.Time { return now },
	})
	if err != nil {
		return err
	}
	recStart, recEnd, recs, large, err := recordsRange(crSim, simStart, simEnd, span, now)
	if err != nil {
		return err
	}
	crURL, stopCR, err := serve(crSim)
	if err != nil {
		return err
	}
	defer stopCR()

	reg := srfake.New(srfake.WithAuth("Basic " + base64.StdEncoding.EncodeToString([]byte(srUser+":"+srPass))))
	defer reg.Close()
	srcompat.Enforce(reg)

	// A truth file per source and version, and the list of them.
	var lanes strings.Builder
	total := 0
	for _, src := range sources.All() {
		var n int
		var write func(path, version string) error
		idProp := src.IDProperty
		laneURL, from, to := graphURL, start, end
		switch src.Kind {
		case sources.Log:
			rows, err := testkit.LogRows(sim, src, start, end)
			if err != nil {
				return err
			}
			n = len(rows)
			write = func(path, version string) error { return writeTruth(path, rows, version) }
		case sources.Aggregate:
			// Every call is visible long before callstream reads: the
			// static simulator answers each day alike whenever asked.
			rows, err := testkit.AggregateRows(sim, src, start, end, time.Now())
			if err != nil {
				return err
			}
			n = len(rows)
			write = func(path, _ string) error { return writeAggregateTruth(path, rows) }
			idProp = "-" // an aggregate has none: a row is its key
		case sources.Records:
			n = len(recs)
			log.Printf("harness: %d %s records from %s to %s, %d of them with over %d sessions", n, src.Name, recStart.Format(time.RFC3339), recEnd.Format(time.RFC3339), large, graphsim.SessionsPageSize)
			write = func(path, _ string) error { return writeRecordsTruth(path, recs) }
			laneURL, from, to = crURL, recStart, recEnd
		default:
			return fmt.Errorf("source %s is of kind %s, which the interop test does not read", src.Name, src.Kind)
		}
		if n == 0 {
			return fmt.Errorf("the simulator holds no %s row from %s to %s", src.Name, from.Format(time.RFC3339), to.Format(time.RFC3339))
		}
		for _, v := range src.Versions {
			name := truthFile(src.Name, v)
			if err := write(filepath.Join(dir, name), v); err != nil {
				return err
			}
			fmt.Fprintf(&lanes, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v, src.Name, src.TopicSetting, idProp, src.KeyProperty, name, src.Kind, schemaFile(src, v),
				laneURL, from.Format(time.RFC3339), to.Format(time.RFC3339))
			total += n
		}
	}
	if err := writeAtomic(filepath.Join(dir, "lanes.tsv"), []byte(lanes.String())); err != nil {
		return err
	}
	env := fmt.Sprintf("GRAPH_BASE_URL=%s\nGRAPH_ACCESS_TOKEN=%s\nSCHEMA_REGISTRY_URL=%s\nSCHEMA_REGISTRY_USERNAME=%s\nSCHEMA_REGISTRY_PASSWORD=%s\nSTART_TIME=%s\nEND_TIME=%s\nINTEROP_ROWS=%d\n",
		graphURL, token, reg.URL(), srUser, srPass, start.Format(time.RFC3339), end.Format(time.RFC3339), total)
	if err := writeAtomic(filepath.Join(dir, "env"), []byte(env)); err != nil {
		return err
	}
	log.Printf("harness: graph %s (call records: %s), registry %s, %d rows in %d source versions from %s to %s", graphURL, crURL, reg.URL(), total, strings.Count(lanes.String(), "\n"), start.Format(time.RFC3339), end.Format(time.RFC3339))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	st, cst := sim.Stats(), crSim.Stats()
	log.Printf("harness: stopping; graph served %d requests (%d pages, %d × 429, %d × 503), the call records' graph %d (%d × 429, %d × 503)",
		st.Requests, st.Pages, st.ByStatus[429], st.ByStatus[503], cst.Requests, cst.ByStatus[429], cst.ByStatus[503])
	return nil
}

// minLarge is how many records of over graphsim.SessionsPageSize sessions
// the call records' range must hold.
const minLarge = 3

// recordsRange returns the latest range of length span ending on the hour
// in (simStart, simEnd] whose call records, as sim serves them at now,
// include at least minLarge with more sessions than a page holds, with
// those records and how many are that large.
func recordsRange(sim *graphsim.Server, simStart, simEnd time.Time, span time.Duration, now time.Time) (from, to time.Time, recs []graphsim.CallRecordVersion, large int, err error) {
	for to = simEnd; !to.Add(-span).Before(simStart); to = to.Add(-time.Hour) {
		from = to.Add(-span)
		recs, large = sim.CallRecordsAt(from, to, now), 0
		for _, r := range recs {
			if r.Sessions > graphsim.SessionsPageSize {
				large++
			}
		}
		if large >= minLarge {
			return from, to, recs, large, nil
		}
	}
	return time.Time{}, time.Time{}, nil, 0, fmt.Errorf("no %v of simulated call records from %s to %s holds %d with over %d sessions: raise -records-per-hour or -records-hours",
		span, simStart.Format(time.RFC3339), simEnd.Format(time.RFC3339), minLarge, graphsim.SessionsPageSize)
}

// serve serves sim on a port of 127.0.0.1; it returns its base URL and a
// function that stops it.
func serve(sim *graphsim.Server) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// writeRecordsTruth writes every call record's JSON, one a line.
func writeRecordsTruth(path string, recs []graphsim.CallRecordVersion) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	var line bytes.Buffer
	for _, r := range recs {
		line.Reset()
		if err := json.Compact(&line, r.JSON); err != nil {
			f.Close()
			return fmt.Errorf("call record %s version %d: %w", r.ID, r.Version, err)
		}
		line.WriteByte('\n')
		_, _ = w.Write(line.Bytes())
	}
	return errors.Join(w.Flush(), f.Close())
}

// truthFile is the name of the truth file of source in Graph API version
// version.
func truthFile(source, version string) string {
	return "truth-" + source + "-" + version + ".jsonl"
}

// writeTruth writes rows as the simulator serves them in version, one a
// line.
func writeTruth(path string, rows []graphsim.Row, version string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, r := range rows {
		_, _ = w.Write(testkit.Served(r, version))
		_ = w.WriteByte('\n')
	}
	return errors.Join(w.Flush(), f.Close())
}

// aggregateTruth is a line of an aggregate's truth file: one (day,
// grouping), its record key and the Graph JSON the simulator serves for
// it.
type aggregateTruth struct {
	Day string          `json:"day"`
	Key string          `json:"key"`
	Row json.RawMessage `json:"row"`
}

// writeAggregateTruth writes rows as aggregateTruth lines.
func writeAggregateTruth(path string, rows []testkit.AggregateRow) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(aggregateTruth{Day: r.Day.Format(time.DateOnly), Key: r.Key, Row: r.Row.JSON}); err != nil {
			f.Close()
			return err
		}
	}
	return errors.Join(w.Flush(), f.Close())
}

// schemaFile is the path, below the repository, of the .avsc of src in
// Graph API version version (the naming sources documents): what the
// registry must hold for its topic.
func schemaFile(src sources.Source, version string) string {
	if version == sources.Beta {
		return "schemas/" + src.Record + ".beta.avsc"
	}
	return "schemas/" + src.Record + ".avsc"
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
