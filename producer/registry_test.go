package producer_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/internal/srcompat"
	"github.com/callstream/callstream/producer"
)

func TestSubjectStrategies(t *testing.T) {
	const topic, record = "calls", "microsoft.graph.callRecords.DirectRoutingLogRow"
	cases := []struct {
		in, want string
	}{
		{"", "calls-value"},
		{"topic", "calls-value"},
		{"TopicNameStrategy", "calls-value"},
		{"record", record},
		{"topic-record", "calls-" + record},
		{"TopicRecordNameStrategy", "calls-" + record},
	}
	for _, tc := range cases {
		s, err := producer.ParseSubjectStrategy(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := s.Subject(topic, record); got != tc.want {
			t.Errorf("%q: subject %q, want %q", tc.in, got, tc.want)
		}
	}
	if _, err := producer.ParseSubjectStrategy("by-day"); err == nil {
		t.Error("accepted an unknown strategy")
	}
}

func TestResolveSchemaRegistersUnderTheStrategysSubject(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	ctx := context.Background()
	for _, strategy := range []producer.SubjectStrategy{producer.TopicStrategy, producer.RecordStrategy, producer.TopicRecordStrategy} {
		id, subject, err := producer.ResolveSchema(ctx, producer.Registry{URL: reg.URL(), Subject: strategy}, "calls", testSchema, nil)
		if err != nil {
			t.Fatalf("%s: %v", strategy, err)
		}
		got, ok := reg.GetSchema(subject, 1)
		if !ok || got.ID != id || got.Schema.Schema != testSchema.Text {
			t.Fatalf("%s: subject %s holds %+v (found %v), want id %d with the schema", strategy, subject, got, ok, id)
		}
		// Resolving again is a no-op returning the same id.
		id2, _, err := producer.ResolveSchema(ctx, producer.Registry{URL: reg.URL(), Subject: strategy}, "calls", testSchema, nil)
		if err != nil || id2 != id {
			t.Fatalf("%s: second resolve gave id %d (%v), want %d", strategy, id2, err, id)
		}
		if _, ok := reg.GetSchema(subject, 2); ok {
			t.Fatalf("%s: re-registering the same schema made a second version", strategy)
		}
	}
}

func TestResolveSchemaAuthentication(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("sr-key:sr-secret"))
	cases := []struct {
		name   string
		expect string
		reg    producer.Registry
		ok     bool
	}{
		{"basic", basic, producer.Registry{Username: "sr-key", Password: "sr-secret"}, true},
		{"basic/wrong-secret", basic, producer.Registry{Username: "sr-key", Password: "nope"}, false},
		{"basic/none", basic, producer.Registry{}, false},
		{"bearer", "Bearer sr-token", producer.Registry{BearerToken: "sr-token"}, true},
		{"bearer/wrong", "Bearer sr-token", producer.Registry{BearerToken: "other"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := srfake.New(srfake.WithAuth(tc.expect))
			t.Cleanup(reg.Close)
			tc.reg.URL = reg.URL()
			_, _, err := producer.ResolveSchema(context.Background(), tc.reg, "calls", testSchema, nil)
			if tc.ok && err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if !tc.ok {
				var se *producer.SchemaError
				if err == nil || errors.As(err, &se) {
					t.Fatalf("err %v, want an authentication failure that is not a schema verdict", err)
				}
			}
		})
	}
}

func TestResolveSchemaOverTLS(t *testing.T) {
	pki := newPKI(t)
	reg := srfake.NewRegistry(srfake.WithAuth("Bearer tls-token"))
	srv := httptest.NewUnstartedServer(reg.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.serverTLS}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	r := producer.Registry{URL: srv.URL, BearerToken: "tls-token", TLS: &producer.TLS{CAFile: pki.caFile}}
	if _, _, err := producer.ResolveSchema(context.Background(), r, "calls", testSchema, nil); err != nil {
		t.Fatalf("resolve over TLS with the CA: %v", err)
	}
	r.TLS = nil
	_, _, err := producer.ResolveSchema(context.Background(), r, "calls", testSchema, nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err %v, want a certificate failure without the CA", err)
	}
}

func TestResolveSchemaLookupOnly(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	r := producer.Registry{URL: reg.URL(), LookupOnly: true}
	_, subject, err := producer.ResolveSchema(context.Background(), r, "calls", testSchema, nil)
	var se *producer.SchemaError
	if !errors.As(err, &se) || !errors.Is(err, producer.ErrSchemaNotRegistered) {
		t.Fatalf("err %v, want a SchemaError wrapping ErrSchemaNotRegistered", err)
	}
	if se.Subject != "calls-value" || !strings.Contains(err.Error(), "calls-value") {
		t.Fatalf("error %q does not name the subject", err)
	}
	if reg.SubjectExists(subject) {
		t.Fatal("LookupOnly registered the schema")
	}

	// Registered by someone else (with another id than a fresh registry
	// would hand out): the registered id is used.
	reg.SeedSchema("calls-value", 1, 42, sr.Schema{Schema: testSchema.Text})
	id, _, err := producer.ResolveSchema(context.Background(), r, "calls", testSchema, nil)
	if err != nil || id != 42 {
		t.Fatalf("id %d (%v), want the registered 42", id, err)
	}
}

// incompatibleSchema renames the field of testSchema's record: data written
// with testSchema has no "callId", and the new field has no default, so a
// BACKWARD registry must refuse it.
const incompatibleSchema = `{"type":"record","name":"Row","namespace":"callstream.test","fields":[{"name":"callId","type":"string"}]}`

func TestResolveSchemaIncompatibleStopsWithTheRegistrysMessage(t *testing.T) {
	newer := producer.Schema{Name: testSchema.Name, Text: incompatibleSchema}

	t.Run("compatibility-check", func(t *testing.T) {
		reg := srfake.New()
		t.Cleanup(reg.Close)
		srcompat.Enforce(reg)
		reg.SeedSchema("calls-value", 1, 7, sr.Schema{Schema: testSchema.Text})
		_, _, err := producer.ResolveSchema(context.Background(), producer.Registry{URL: reg.URL()}, "calls", newer, nil)
		var se *producer.SchemaError
		if !errors.As(err, &se) || !errors.Is(err, producer.ErrIncompatibleSchema) {
			t.Fatalf("err %v, want a SchemaError wrapping ErrIncompatibleSchema", err)
		}
		if !strings.Contains(se.Reason, "callId") || !strings.Contains(se.Reason, "oldSchemaVersion: 1") {
			t.Fatalf("reason %q is not the registry's verdict", se.Reason)
		}
		if _, ok := reg.GetSchema("calls-value", 2); ok {
			t.Fatal("the incompatible schema was registered")
		}
	})
	t.Run("registration-409", func(t *testing.T) {
		// A registry that skips the check endpoint (srfake's stub says
		// compatible) but refuses the registration, as Confluent's does.
		reg := srfake.New()
		t.Cleanup(reg.Close)
		reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodPost || r.URL.Path != "/subjects/calls-value/versions" {
				return false
			}
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema for subject \"calls-value\", details: [READER_FIELD_MISSING_DEFAULT_VALUE callId]"}`))
			return true
		})
		_, _, err := producer.ResolveSchema(context.Background(), producer.Registry{URL: reg.URL()}, "calls", newer, nil)
		if !errors.Is(err, producer.ErrIncompatibleSchema) || !strings.Contains(err.Error(), "READER_FIELD_MISSING_DEFAULT_VALUE callId") {
			t.Fatalf("err %v, want ErrIncompatibleSchema with the registry's message", err)
		}
	})
	t.Run("compatible-evolution-registers", func(t *testing.T) {
		reg := srfake.New()
		t.Cleanup(reg.Close)
		srcompat.Enforce(reg)
		reg.SeedSchema("calls-value", 1, 7, sr.Schema{Schema: testSchema.Text})
		added := producer.Schema{Name: testSchema.Name, Text: `{"type":"record","name":"Row","namespace":"callstream.test","fields":[{"name":"id","type":"string"},{"name":"tenant","type":["null","string"],"default":null}]}`}
		id, _, err := producer.ResolveSchema(context.Background(), producer.Registry{URL: reg.URL()}, "calls", added, nil)
		if err != nil || id == 7 {
			t.Fatalf("id %d (%v), want a new version's id", id, err)
		}
	})
}
