package main

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/callstream/callstream/entrasim"
	"github.com/callstream/callstream/graphsim"
)

// Issue 15, item 2: a run that cannot get a Graph token stops before it
// writes anything to the cluster, in a few lines that name the settings.

// TestBinaryNoCredentialWritesNothing: with no Graph credential at all,
// run --once exits 2 with a short message naming the settings to set, and
// no topic is created and no schema registered.
func TestBinaryNoCredentialWritesNothing(t *testing.T) {
	p := hostilePipeline(t)
	e := with(p.env, env{"GRAPH_ACCESS_TOKEN": "", "KAFKA_CREATE_TOPICS": "true", "KAFKA_TOPIC": "created-by-run",
		"KAFKA_DLQ_TOPIC": "dead-letters-created-by-run", "LOG_LEVEL": "warn"})
	delete(e, "GRAPH_ACCESS_TOKEN")
	before := topicNames(t, p)
	proc := launch(t, e, nil, "run", "--once")
	code := proc.wait(t, time.Minute)
	out := proc.out.String()
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

// TestTokenErrorIsOneLine: a credential Entra refuses is a configuration
// problem (exit 2) naming the mode's settings and Entra's code; an Entra
// that cannot be reached is a runtime failure (exit 1). Either is one line.
func TestTokenErrorIsOneLine(t *testing.T) {
	es, err := entrasim.New(entrasim.Config{TenantID: testTenant, Apps: []entrasim.App{{ClientID: testClient, Secret: "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	n := graphsim.NewNetwork()
	n.Handle("login.microsoftonline.com", es)
	cases := []struct {
		name       string
		secret     string
		transport  policy.Transporter
		wantConfig bool
		want       []string
	}{
		{"wrong secret", "not-pw", n, true, []string{"GRAPH_AUTH=secret", "AADSTS7000215", "AZURE_CLIENT_SECRET", "docs/graph-auth.md"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(context.Background(), withBrokers(map[string]string{"GRAPH_AUTH": "secret",
				"AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient, "AZURE_CLIENT_SECRET": tc.secret, "GRAPH_MAX_ATTEMPTS": "1"}))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Graph.Auth.Transport = tc.transport
			ts, err := tokenSource(cfg, discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			err = acquireToken(context.Background(), cfg, ts, discardLogger())
			var ce *configError
			if err == nil || errors.As(err, &ce) != tc.wantConfig {
				t.Fatalf("error %v: configuration error %v, want %v", err, errors.As(err, &ce), tc.wantConfig)
			}
			msg := err.Error()
			if strings.Contains(msg, tc.secret) || strings.Count(msg, "\n") > 1 {
				t.Errorf("not one line, or the secret is in it:\n%s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %s", msg, w)
				}
			}
		})
	}

	// Entra unreachable: azidentity retries for long, so the error it ends
	// with is given directly.
	cfg, err := loadConfig(context.Background(), withBrokers(map[string]string{"GRAPH_AUTH": "secret",
		"AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient, "AZURE_CLIENT_SECRET": "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	err = tokenError(cfg, errors.New("ClientSecretCredential: unable to resolve an endpoint: server response error:\n dial tcp 20.190.1.1:443: connect: connection refused"))
	var ce *configError
	if errors.As(err, &ce) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable Entra: %q; want a one-line runtime error with the cause", err)
	}
}

// TestBinaryUnusableCheckpointWritesNothing: a checkpoint run cannot load
// stops it before it creates a topic or registers a schema.
func TestBinaryUnusableCheckpointWritesNothing(t *testing.T) {
	p := hostilePipeline(t)
	if err := os.WriteFile(p.cpPath, []byte("{not a checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := with(p.env, env{"CHECKPOINT_STORE": "file", "KAFKA_CREATE_TOPICS": "true", "KAFKA_TOPIC": "created-by-run"})
	before := topicNames(t, p)
	proc := launch(t, e, nil, "run", "--once")
	if code := proc.wait(t, time.Minute); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, proc.out)
	}
	if out := proc.out.String(); !strings.Contains(out, "load checkpoint") {
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
