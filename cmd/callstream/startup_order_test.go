package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Issue 15, item 2: a run that cannot get a Graph token stops before it
// writes anything to the cluster, in a few lines that name the settings.

// TestBinaryNoCredentialWritesNothing: with no Graph credential at all,
// run --once exits 2 with a short message naming the settings to set, and
// no topic is created and no schema registered.
func TestBinaryNoCredentialWritesNothing(t *testing.T) {
	p := hostilePipeline(t)
	e := p.env.With(env{"GRAPH_ACCESS_TOKEN": "", "KAFKA_CREATE_TOPICS": "true", "KAFKA_TOPIC": "created-by-run",
		"KAFKA_DLQ_TOPIC": "dead-letters-created-by-run", "LOG_LEVEL": "warn"})
	delete(e, "GRAPH_ACCESS_TOKEN")
	before := topicNames(t, p)
	proc := launch(t, e, nil, "run", "--once")
	code := proc.Wait(t, time.Minute)
	out := proc.Out.String()
	if code != 2 {
		t.Fatalf("exit %d, want 2; output:\n%s", code, out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) > 3 {
		t.Errorf("%d lines of error, want at most 3:\n%s", len(lines), out)
	}
	for _, want := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "GRAPH_ACCESS_TOKEN", "docs/graph-auth.md"} {
		if !strings.Contains(out, want) {
			t.Errorf("the message does not name %s:\n%s", want, out)
		}
	}
	if after := topicNames(t, p); !slices.Equal(before, after) {
		t.Errorf("topics created without a credential: before %v, after %v", before, after)
	}
	rc, err := sr.NewClient(sr.URLs(p.registry.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if subjects, err := rc.Subjects(context.Background()); err != nil || len(subjects) != 0 {
		t.Errorf("subjects registered without a credential: %v (%v)", subjects, err)
	}
}

// TestBinaryUnusableCheckpointWritesNothing: a checkpoint run cannot load
// stops it before it creates a topic or registers a schema.
func TestBinaryUnusableCheckpointWritesNothing(t *testing.T) {
	p := hostilePipeline(t)
	if err := os.WriteFile(p.cpPath, []byte("{not a checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := p.env.With(env{"CHECKPOINT_STORE": "file", "KAFKA_CREATE_TOPICS": "true", "KAFKA_TOPIC": "created-by-run"})
	before := topicNames(t, p)
	proc := launch(t, e, nil, "run", "--once")
	if code := proc.Wait(t, time.Minute); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, proc.Out)
	}
	if out := proc.Out.String(); !strings.Contains(out, "load checkpoint") {
		t.Errorf("the cause is not said:\n%s", out)
	}
	if after := topicNames(t, p); !slices.Equal(before, after) {
		t.Errorf("topics created with an unusable checkpoint: before %v, after %v", before, after)
	}
	rc, err := sr.NewClient(sr.URLs(p.registry.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if subjects, err := rc.Subjects(context.Background()); err != nil || len(subjects) != 0 {
		t.Errorf("subjects registered with an unusable checkpoint: %v (%v)", subjects, err)
	}
}
