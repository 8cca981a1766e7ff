// Command harness stands up the parts of the interop test that are not
// Kafka: the Graph simulator and a Schema Registry (franz-go's srfake, behind
// HTTP basic auth, with Confluent's BACKWARD compatibility check), both on
// 127.0.0.1. It writes the simulator's ground truth and the settings for
// callstream into a directory, then serves until SIGTERM or SIGINT.
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
//	             (testkit.AggregateRows)
//	lanes.tsv    one line per truth file: version, source, the source's topic setting, its
//	             id property ("-" for an aggregate), its key property, the truth file's
//	             name, the source's kind (log, aggregate) and the path of its .avsc below
//	             the repository, tab-separated
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
	flag.Parse()
	if *abortInto != "" {
		if err := writeAborted(strings.Split(*brokers, ","), *abortInto, *dir, *source, *version); err != nil {
			log.Fatalf("harness: aborted transaction: %v", err)
		}
		log.Printf("harness: wrote one %s (%s) record to %s in an aborted transaction", *source, *version, *abortInto)
		return
	}
	if *dir == "" || *hours < 1 || *perHour < 1 {
		flag.Usage()
		os.Exit(2)
	}
	start, err := time.Parse(time.RFC3339, *startS)
	if err != nil {
		log.Fatalf("harness: -start: %v", err)
	}
	if err := run(*dir, start.UTC(), *hours, *perHour); err != nil {
		log.Fatalf("harness: %v", err)
	}
}

func run(dir string, start time.Time, hours, perHour int) error {
	const token = "interop-graph-token"
	const srUser, srPass = "interop-sr-key", "interop-sr-secret"
	end := start.Add(time.Duration(hours) * time.Hour)
	sim, err := graphsim.New(graphsim.Config{
		Seed: 20260302, Start: start, End: end, RowsPerHour: perHour, Token: token,
		PageOverlap: 3, ExtraProperty: true,
		Faults: []graphsim.Fault{
			{Every: 13, Offset: 3, Status: http.StatusTooManyRequests, RetryAfter: "0"},
			{Every: 19, Offset: 5, Status: http.StatusServiceUnavailable, RetryAfter: "0"},
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	graph := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = graph.Serve(ln) }()
	defer graph.Close()

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
			// Call records need the simulator's call-records data set and
			// the fetch client's list-then-get reads, which are not this
			// lane's yet: no truth file, so the consumer expects no topic.
			// schemas' golden fixtures are decoded by fastavro in the
			// meantime (tests/interop/callrecords_check.py).
			log.Printf("harness: source %s (kind %s) has no interop lane yet; skipped", src.Name, src.Kind)
			continue
		default:
			return fmt.Errorf("source %s is of kind %s, which the interop test does not read", src.Name, src.Kind)
		}
		if n == 0 {
			return fmt.Errorf("the simulator holds no %s row from %s to %s", src.Name, start.Format(time.RFC3339), end.Format(time.RFC3339))
		}
		for _, v := range src.Versions {
			name := truthFile(src.Name, v)
			if err := write(filepath.Join(dir, name), v); err != nil {
				return err
			}
			fmt.Fprintf(&lanes, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v, src.Name, src.TopicSetting, idProp, src.KeyProperty, name, src.Kind, schemaFile(src, v))
			total += n
		}
	}
	if err := writeAtomic(filepath.Join(dir, "lanes.tsv"), []byte(lanes.String())); err != nil {
		return err
	}
	env := fmt.Sprintf("GRAPH_BASE_URL=http://%s\nGRAPH_ACCESS_TOKEN=%s\nSCHEMA_REGISTRY_URL=%s\nSCHEMA_REGISTRY_USERNAME=%s\nSCHEMA_REGISTRY_PASSWORD=%s\nSTART_TIME=%s\nEND_TIME=%s\nINTEROP_ROWS=%d\n",
		ln.Addr(), token, reg.URL(), srUser, srPass, start.Format(time.RFC3339), end.Format(time.RFC3339), total)
	if err := writeAtomic(filepath.Join(dir, "env"), []byte(env)); err != nil {
		return err
	}
	log.Printf("harness: graph http://%s, registry %s, %d rows in %d source versions from %s to %s", ln.Addr(), reg.URL(), total, strings.Count(lanes.String(), "\n"), start.Format(time.RFC3339), end.Format(time.RFC3339))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	st := sim.Stats()
	log.Printf("harness: stopping; graph served %d requests (%d pages, %d × 429, %d × 503)", st.Requests, st.Pages, st.ByStatus[429], st.ByStatus[503])
	return nil
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
