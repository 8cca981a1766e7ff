package walk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/checkpoint"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
)

// onePage is a Fetcher whose window starting at recent is one page of rows
// (unscanned, as the fetch client hands over a row it could not scan); every
// other window is empty.
type onePage [][]byte

// recent is where the bad-row walks start: recent enough for their windows
// to be inside the rescan horizon.
var recent = time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)

func (p onePage) Calls(_ context.Context, _ fetch.Function, from, _ time.Time, onPage func(fetch.Page) error) (fetch.Stats, error) {
	if !from.Equal(recent) {
		return fetch.Stats{Pages: 1, Requests: 1}, onPage(fetch.Page{Number: 1})
	}
	rows := make([]json.RawMessage, len(p))
	for i, r := range p {
		rows[i] = bytes.Clone(r)
	}
	return fetch.Stats{Pages: 1, Requests: 1, Rows: len(rows)}, onPage(fetch.Page{Number: 1, Rows: rows})
}

func drRow(id, corr, extra string) []byte {
	return []byte(`{"id": "` + id + `", "correlationId": "` + corr + `", "startDateTime": "2024-01-01T00:10:00Z"` + extra + `}`)
}

// badRowRig is a walk of onePage into kfake, exactly-once (a transactional
// producer and the Kafka checkpoint store) or at-least-once (the file
// store), with the producer's default batch cap of 64 KiB.
type badRowRig struct {
	kc   *kafkatest.Cluster
	prod *producer.Producer
	st   checkpoint.Loader
}

func newBadRowRig(t *testing.T, m mode) *badRowRig {
	t.Helper()
	kc := kafkatest.NewFake(t, kfake.SeedTopics(3, "rows", "rows.dlq"))
	cfg := producer.Config{Brokers: kc.Brokers, Topic: "rows",
		Schema: producer.Schema{Name: schemas.DirectRoutingSchemaName, Text: schemas.DirectRoutingSchemaText(), Fingerprint: "x"}}
	r := &badRowRig{kc: kc}
	if m == exactlyOnce {
		cl := kc.Client(t, freshMetadata)
		if err := producer.EnsureCheckpointTopic(context.Background(), cl, "rows.checkpoint", "rows"); err != nil {
			t.Fatal(err)
		}
		cfg.TransactionalID = "bad-rows"
		r.st = checkpoint.NewKafkaStore(cl, "rows.checkpoint", "rows")
	} else {
		fs, err := checkpoint.NewFileStore(filepath.Join(t.TempDir(), "cp.json"))
		if err != nil {
			t.Fatal(err)
		}
		r.st = fs
	}
	prod, err := producer.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	r.prod = prod
	return r
}

// run walks rows over [recent, recent+2h) once, as at now + ahead,
// rescanning windows four hours after their end.
func (r *badRowRig) run(t *testing.T, rows onePage, dlq string, ahead time.Duration) (*Walker, error) {
	t.Helper()
	w, err := New(Config{Source: DirectRouting(), Start: recent, End: recent.Add(2 * time.Hour), Window: time.Hour,
		RescanAfter: []time.Duration{4 * time.Hour}, DeadLetterTopic: dlq, MaxConsecutiveFailures: 1,
		Now: func() time.Time { return time.Now().Add(ahead) }, Logger: slog.New(slog.DiscardHandler)}, rows, r.prod, r.st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return w, w.Run(ctx, true)
}

func header(rec *kgo.Record, key string) (string, bool) {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// TestBadRowsAreDeadLetteredNotMerged holds Invariant 5 (nothing is dropped
// silently) for the rows issue 12 found dropped or stuck: two ids that
// differ only in invalid UTF-8 ("dup-\xff", "dup-\xfe") are both
// dead-lettered with a reason naming the field — repaired to U+FFFD they
// would be one id and the second row a "duplicate" — as is a correlationId
// with a lone surrogate escape; and a row with a 10 MB string, whose record
// cannot fit in a record batch, reaches the dead-letter topic truncated,
// with its full size and sha256, while the walk goes on. Every good row is
// published once, the counters add up, and a rescan dead-letters nothing
// again.
func TestBadRowsAreDeadLetteredNotMerged(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		huge := drRow("huge", "c-huge", `, "userDisplayName": "`+strings.Repeat("x", 10<<20)+`"`)
		rows := onePage{
			drRow("good-1", "c-1", ""),
			drRow("dup-\xff", "c-ff", ""),
			drRow("dup-\xfe", "c-fe", ""),
			drRow("good-2", "c-2", ""),
			drRow("lone", `c-\udcff`, ""),
			huge,
			drRow("good-3", "c-3", ""),
			drRow("good-3", "c-3", ""), // a real duplicate
		}
		r := newBadRowRig(t, m)
		w, err := r.run(t, rows, "rows.dlq", 0)
		if err != nil {
			t.Fatalf("walk stopped: %v", err)
		}

		ids := map[string]int{}
		var row schemas.DirectRoutingLogRow
		for _, rec := range r.kc.ReadAll(t, "rows", true) {
			if err := schemas.DecodeDirectRoutingRow(rec.Value, &row); err != nil {
				t.Fatal(err)
			}
			ids[row.ID]++
		}
		if len(ids) != 3 || ids["good-1"] != 1 || ids["good-2"] != 1 || ids["good-3"] != 1 {
			t.Errorf("published ids %v, want good-1, good-2, good-3 once each", ids)
		}

		dead := r.kc.ReadAll(t, "rows.dlq", true)
		byField := map[string][]*kgo.Record{}
		for _, rec := range dead {
			f, _ := header(rec, HeaderDLQField)
			byField[f] = append(byField[f], rec)
		}
		if len(dead) != 4 || len(byField["id"]) != 2 || len(byField["correlationId"]) != 1 || len(byField[""]) != 1 {
			t.Fatalf("%d dead letters by field %v, want 2 for id, 1 for correlationId, 1 for the huge row", len(dead), byField)
		}
		gotRaw := map[string]bool{}
		for _, rec := range append(byField["id"], byField["correlationId"]...) {
			reason, _ := header(rec, HeaderDLQReason)
			if !strings.Contains(reason, "UTF-8") || !strings.Contains(reason, `"id"`) && !strings.Contains(reason, `"correlationId"`) {
				t.Errorf("reason %q does not name the field and the problem", reason)
			}
			if _, cut := header(rec, HeaderDLQTruncated); cut {
				t.Errorf("small dead letter %q marked truncated", rec.Value)
			}
			gotRaw[string(rec.Value)] = true
		}
		for _, want := range []int{1, 2, 4} {
			if !gotRaw[string(rows[want])] {
				t.Errorf("dead letters lack row %q exactly as Graph sent it", rows[want])
			}
		}

		big := byField[""][0]
		reason, _ := header(big, HeaderDLQReason)
		if !strings.Contains(reason, "exceeds KAFKA_BATCH_MAX_BYTES") {
			t.Errorf("huge row's reason %q", reason)
		}
		sum := sha256.Sum256(huge)
		if v, _ := header(big, HeaderDLQTruncated); v != "true" {
			t.Errorf("huge row's dead letter not marked truncated")
		}
		if v, _ := header(big, HeaderDLQSize); v != strconv.Itoa(len(huge)) {
			t.Errorf("size header %q, want %d", v, len(huge))
		}
		if v, _ := header(big, HeaderDLQSHA256); v != hex.EncodeToString(sum[:]) {
			t.Errorf("sha256 header %q, want the whole row's", v)
		}
		if len(big.Value) == 0 || len(big.Value) > producer.DefaultBatchMaxBytes || !bytes.HasPrefix(huge, big.Value) {
			t.Errorf("huge row's dead letter is %d bytes, want a non-empty prefix of the row under the batch cap", len(big.Value))
		}

		st := w.Stats()
		if st.Fetched != len(rows) || st.Published != 3 || st.DeadLettered != 4 || st.Duplicates != 1 {
			t.Errorf("stats %+v: want 3 published, 4 dead-lettered, 1 duplicate of %d fetched", st, len(rows))
		}

		// Five hours later the window is rescanned: every row, bad
		// ones included, is known and nothing is written again.
		w, err = r.run(t, rows, "rows.dlq", 5*time.Hour)
		if err != nil {
			t.Fatalf("rescan stopped: %v", err)
		}
		if st := w.Stats(); st.Rescans == 0 || st.Fetched != len(rows) || st.Duplicates != len(rows) || st.DeadLettered != 0 || st.Published != 0 {
			t.Errorf("rescan stats %+v: want every one of %d rows a duplicate", st, len(rows))
		}
		if n := len(r.kc.ReadAll(t, "rows.dlq", true)); n != 4 {
			t.Errorf("%d dead letters after the rescan, want still 4", n)
		}
	})
}

// TestBadRowWithoutDeadLetterTopicStops: without KAFKA_DLQ_TOPIC a bad
// row stops the walk with an error naming the row's field (never its
// value); an oversize row stops it with ErrRecordTooLarge. What the
// stopped window leaves differs by mode, as the settle strategies do:
// exactly-once nothing of it is visible (the transaction is aborted);
// at-least-once the rows handed to Kafka before the bad one are
// acknowledged, visible once, and remembered so a retry skips them.
func TestBadRowWithoutDeadLetterTopicStops(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) { badRowWithoutDeadLetterTopicStops(t, m) })
}

func badRowWithoutDeadLetterTopicStops(t *testing.T, m mode) {
	for _, tc := range []struct {
		name string
		rows onePage
		want string
		is   error
	}{
		{"invalid UTF-8 id", onePage{drRow("good-1", "c-1", ""), drRow("dup-\xff", "c-ff", ""), drRow("dup-\xfe", "c-fe", "")},
			`row field "id": not valid UTF-8`, nil},
		{"lone surrogate key", onePage{drRow("good-1", "c-1", ""), drRow("lone", `c-\udcff`, "")},
			`row field "correlationId": unpaired UTF-16 surrogate escape`, nil},
		{"oversize row", onePage{drRow("good-1", "c-1", ""), drRow("huge", "c-h", `, "userDisplayName": "`+strings.Repeat("x", 1<<20)+`"`)},
			"exceeds KAFKA_BATCH_MAX_BYTES", producer.ErrRecordTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBadRowRig(t, m)
			_, err := r.run(t, tc.rows, "", 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "KAFKA_DLQ_TOPIC") {
				t.Fatalf("err = %v, want one containing %q and naming KAFKA_DLQ_TOPIC", err, tc.want)
			}
			if strings.Contains(err.Error(), "dup-") || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("error %q repeats a value of the row", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.is)
			}
			recs := r.kc.ReadAll(t, "rows", true)
			if m == exactlyOnce {
				if len(recs) != 0 {
					t.Errorf("%d records visible from a window that stopped", len(recs))
				}
				return
			}
			// Every case has one good row before the bad one.
			var row schemas.DirectRoutingLogRow
			if len(recs) != 1 || schemas.DecodeDirectRoutingRow(recs[0].Value, &row) != nil || row.ID != "good-1" {
				t.Errorf("%d records visible, want good-1 alone (acknowledged before the bad row)", len(recs))
			}
			st, err := r.st.Load(context.Background(), DirectRouting().Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Windows) != 1 || !slices.Equal(st.Windows[0].IDs, []string{"good-1"}) || !st.Watermark.IsZero() {
				t.Errorf("checkpoint %+v: want good-1 remembered and no watermark (a partial read is not a read)", st)
			}
		})
	}
}
