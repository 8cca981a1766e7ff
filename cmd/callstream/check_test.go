package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestBinaryCheck runs `callstream check` against a good setup and against
// broken ones, and checks the exit code and that each problem is named by
// the setting to fix while the parts that work are reported ok.
func TestBinaryCheck(t *testing.T) {
	now := time.Now().UTC()
	p := newPipeline(t, graphsim.Config{Seed: 3, Start: now.Add(-2 * time.Hour), End: now.Add(time.Hour), RowsPerHour: 3600})
	compacted := p.kafka.Topic(t, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	closed := closedAddr(t)

	cases := []struct {
		name     string
		change   env
		code     int
		problems []string // each must appear on a FAIL line
		fine     []string // checks that must still pass
	}{
		{name: "good", code: 0, fine: []string{"graph token", "graph query", "kafka brokers", "kafka topic", "schema registry", "checkpoint"}},
		{name: "bad graph url", change: env{"GRAPH_BASE_URL": "http://" + closed}, code: 1,
			problems: []string{"GRAPH_BASE_URL"}, fine: []string{"kafka topic", "schema registry", "checkpoint"}},
		{name: "unreachable broker", change: env{"KAFKA_BROKERS": closed}, code: 1,
			problems: []string{"KAFKA_BROKERS"}, fine: []string{"graph query", "schema registry"}},
		{name: "wrong token", change: env{"GRAPH_ACCESS_TOKEN": "not-the-token"}, code: 1,
			problems: []string{"GRAPH_ACCESS_TOKEN: Graph refused the token"}, fine: []string{"kafka topic"}},
		{name: "missing topic", change: env{"KAFKA_TOPIC": "no-such-topic"}, code: 1,
			problems: []string{"KAFKA_TOPIC: data topic no-such-topic: topic does not exist"}, fine: []string{"graph query", "kafka brokers"}},
		{name: "compacted topic", change: env{"KAFKA_TOPIC": compacted}, code: 1,
			problems: []string{"KAFKA_TOPIC: data topic " + compacted + " has cleanup.policy=compact"}},
		{name: "bad registry", change: env{"SCHEMA_REGISTRY_URL": "http://" + closed}, code: 1,
			problems: []string{"SCHEMA_REGISTRY_URL: cannot reach"}, fine: []string{"kafka topic"}},
		{name: "checkpoint directory missing", change: env{"CHECKPOINT_STORE": "file", "CHECKPOINT_PATH": filepath.Join(t.TempDir(), "gone", "cp.json")}, code: 1,
			problems: []string{"CHECKPOINT_PATH"}},
		{name: "everything broken", code: 1, change: env{
			"GRAPH_BASE_URL": "http://" + closed, "KAFKA_BROKERS": closed, "SCHEMA_REGISTRY_URL": "http://" + closed,
			"CHECKPOINT_STORE": "file", "CHECKPOINT_PATH": "/proc/no/such/dir/cp.json",
		}, problems: []string{"GRAPH_BASE_URL", "KAFKA_BROKERS", "SCHEMA_REGISTRY_URL", "CHECKPOINT_PATH", "4 problems found"}},
		{name: "invalid configuration", change: env{"GRAPH_API_VERSION": "v2", "WINDOW": "soon"}, code: 2,
			problems: []string{"GRAPH_API_VERSION", "WINDOW"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := env{}
			for k, v := range p.env {
				e[k] = v
			}
			for k, v := range tc.change {
				e[k] = v
			}
			proc := launch(t, e, nil, "check", "--timeout", "4s")
			if code := proc.Wait(t, time.Minute); code != tc.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.code, proc.Out)
			}
			out := proc.Out.String()
			for _, want := range tc.problems {
				if !strings.Contains(out, want) {
					t.Errorf("the output does not name %q:\n%s", want, out)
				}
			}
			for _, name := range tc.fine {
				if !hasLine(out, "ok    "+name) {
					t.Errorf("%s is not reported ok:\n%s", name, out)
				}
			}
			if tc.code == 0 && (!strings.Contains(out, "all checks passed") || strings.Contains(out, "FAIL")) {
				t.Errorf("a good configuration did not pass:\n%s", out)
			}
			if tc.code == 1 && strings.Count(out, "FAIL") < len(tc.problems)-1 {
				t.Errorf("fewer FAIL lines than problems:\n%s", out)
			}
		})
	}

	// check changes nothing: no schema registered, no record, no checkpoint.
	rc, err := sr.NewClient(sr.URLs(p.registry.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if subjects, err := rc.Subjects(context.Background()); err != nil || len(subjects) != 0 {
		t.Errorf("check registered subjects %v (%v)", subjects, err)
	}
	if recs := p.kafka.ReadAll(t, p.topic, true); len(recs) != 0 {
		t.Errorf("check wrote %d records", len(recs))
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(p.cpPath), "*")); len(m) != 0 {
		t.Errorf("check left files beside the checkpoint: %v", m)
	}

	// Once the schema is registered, check recognises it.
	if _, err := rc.CreateSchema(context.Background(), p.topic+"-value", sr.Schema{Schema: schemas.DirectRoutingSchemaText(), Type: sr.TypeAvro}); err != nil {
		t.Fatal(err)
	}
	proc := launch(t, p.env, nil, "check")
	if code := proc.Wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}
	if !strings.Contains(proc.Out.String(), "is this build's schema") {
		t.Errorf("the registered schema is not recognised:\n%s", proc.Out)
	}
}

func hasLine(out, prefix string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
