package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/srcompat"
	app "github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/schemas"
)

func TestKafkaConfigSecurityAndRegistry(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, testCertPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(context.Background(), envconfig.MapLookuper(map[string]string{
		"KAFKA_BROKERS":               "k1:9093,k2:9093",
		"KAFKA_TLS_CA_FILE":           ca,
		"KAFKA_TLS_SERVER_NAME":       "kafka.internal",
		"KAFKA_SASL_MECHANISM":        "scram-sha-512",
		"KAFKA_SASL_USERNAME":         "svc",
		"KAFKA_SASL_PASSWORD":         "pw",
		"KAFKA_COMPRESSION":           "LZ4",
		"KAFKA_IDEMPOTENCE":           "false",
		"KAFKA_BATCH_MAX_BYTES":       "524288",
		"KAFKA_CREATE_TOPICS":         "true",
		"KAFKA_TOPIC_PARTITIONS":      "6",
		"KAFKA_TOPIC_REPLICATION":     "3",
		"KAFKA_TOPIC_CONFIGS":         "retention.ms=604800000, min.insync.replicas=2",
		"KAFKA_DLQ_TOPIC":             "calls.dlq",
		"SCHEMA_REGISTRY_URL":         "https://sr.example:8081/",
		"SCHEMA_REGISTRY_USERNAME":    "key",
		"SCHEMA_REGISTRY_PASSWORD":    "secret",
		"SCHEMA_REGISTRY_TLS_CA_FILE": ca,
		"SCHEMA_SUBJECT_STRATEGY":     "topic-record",
		"SCHEMA_AUTO_REGISTER":        "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kafka
	if k.TLS == nil || k.TLS.CAFile != ca || k.TLS.ServerName != "kafka.internal" || k.TLS.InsecureSkipVerify {
		t.Errorf("tls %+v", k.TLS)
	}
	if k.SASL == nil || k.SASL.Mechanism != producer.ScramSHA512 || k.SASL.Username != "svc" || k.SASL.Password != "pw" {
		t.Errorf("sasl %+v", k.SASL)
	}
	if k.Compression != producer.CompressionLZ4 || !k.DisableIdempotence || k.BatchMaxBytes != 524288 {
		t.Errorf("compression %q, idempotence off %v, batch %d", k.Compression, k.DisableIdempotence, k.BatchMaxBytes)
	}
	wantTopics := producer.TopicSettings{Create: true, Partitions: 6, ReplicationFactor: 3, DeadLetter: "calls.dlq",
		Configs: map[string]string{"retention.ms": "604800000", "min.insync.replicas": "2"}}
	if !reflect.DeepEqual(k.Topics, wantTopics) {
		t.Errorf("topics %+v, want %+v", k.Topics, wantTopics)
	}
	r := k.Registry
	if r.URL != "https://sr.example:8081" || r.Username != "key" || r.Password != "secret" || r.TLS == nil || r.TLS.CAFile != ca ||
		r.Subject != producer.TopicRecordStrategy || !r.LookupOnly {
		t.Errorf("registry %+v", r)
	}

	// Defaults: plaintext, no SASL, idempotent, auto-registering, topic strategy.
	c, err = loadConfig(context.Background(), envconfig.MapLookuper(map[string]string{"KAFKA_BROKERS": "k:9092"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.TLS != nil || c.Kafka.SASL != nil || c.Kafka.DisableIdempotence || c.Kafka.Compression != "" ||
		c.Kafka.Registry.LookupOnly || c.Kafka.Registry.Subject != producer.TopicStrategy || c.Kafka.Topics.Create {
		t.Errorf("defaults %+v", c.Kafka)
	}
}

func TestKafkaConfigReportsEveryProblem(t *testing.T) {
	env := map[string]string{
		"KAFKA_BROKERS":                  "k:9092",
		"KAFKA_PRESET":                   "confluent-cloud",
		"KAFKA_COMPRESSION":              "brotli",
		"KAFKA_IDEMPOTENCE":              "perhaps",
		"KAFKA_BATCH_MAX_BYTES":          "100",
		"KAFKA_TLS_CA_FILE":              "/nonexistent/ca.pem",
		"KAFKA_SASL_MECHANISM":           "GSSAPI",
		"KAFKA_TOPIC_PARTITIONS":         "0",
		"KAFKA_TOPIC_CONFIGS":            "retention.ms",
		"SCHEMA_REGISTRY_URL":            "sr.example:8081",
		"SCHEMA_REGISTRY_USERNAME":       "key",
		"SCHEMA_SUBJECT_STRATEGY":        "by-day",
		"SCHEMA_AUTO_REGISTER":           "maybe",
		"SCHEMA_REGISTRY_TLS_CA_FILE":    "/nonexistent/sr-ca.pem",
		"KAFKA_TLS_INSECURE_SKIP_VERIFY": "yes please",
	}
	_, err := loadConfig(context.Background(), envconfig.MapLookuper(env))
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("err %v, want a configError", err)
	}
	for _, name := range []string{"KAFKA_PRESET", "KAFKA_COMPRESSION", "KAFKA_IDEMPOTENCE", "KAFKA_BATCH_MAX_BYTES", "KAFKA_TLS_*",
		"KAFKA_SASL_MECHANISM", "KAFKA_TOPIC_PARTITIONS", "KAFKA_TOPIC_CONFIGS", "SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_PASSWORD",
		"SCHEMA_SUBJECT_STRATEGY", "SCHEMA_AUTO_REGISTER", "SCHEMA_REGISTRY_TLS_*", "KAFKA_TLS_INSECURE_SKIP_VERIFY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}

	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"plain without password", map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"}, "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"},
		{"oauth without scope", map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_SASL_MECHANISM": "OAUTHBEARER"}, "KAFKA_SASL_OAUTH_SCOPE"},
		{"credentials without mechanism", map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_SASL_PASSWORD": "pw"}, "without KAFKA_SASL_MECHANISM"},
		{"insecure without tls", map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_TLS_INSECURE_SKIP_VERIFY": "true"}, "TLS is off"},
		{"tls off with files", map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_TLS": "false", "KAFKA_TLS_SERVER_NAME": "x"}, "contradicts"},
		{"registry basic and bearer", map[string]string{"KAFKA_BROKERS": "k:9092", "SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_USERNAME": "u", "SCHEMA_REGISTRY_PASSWORD": "p", "SCHEMA_REGISTRY_BEARER_TOKEN": "t"}, "exclusive"},
		{"eventhubs snappy", map[string]string{"KAFKA_PRESET": "eventhubs", "KAFKA_BROKERS": "ns.servicebus.windows.net:9093", "KAFKA_COMPRESSION": "snappy"}, "gzip or none"},
		{"eventhubs port", map[string]string{"KAFKA_PRESET": "eventhubs", "KAFKA_BROKERS": "ns.servicebus.windows.net:9092"}, ":9093"},
		{"eventhubs scram", map[string]string{"KAFKA_PRESET": "eventhubs", "KAFKA_BROKERS": "ns.servicebus.windows.net:9093", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_PASSWORD": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v"}, "PLAIN (connection string) or OAUTHBEARER"},
		{"eventhubs password not a connection string", map[string]string{"KAFKA_PRESET": "eventhubs", "KAFKA_SASL_PASSWORD": "hunter2"}, "connection string"},
		{"eventhubs without brokers or connection string", map[string]string{"KAFKA_PRESET": "eventhubs"}, "KAFKA_BROKERS is required"},
		{"eventhubs without tls", map[string]string{"KAFKA_PRESET": "eventhubs", "KAFKA_BROKERS": "ns.servicebus.windows.net:9093", "KAFKA_TLS": "false"}, "only TLS"},
		{"eventhubs with a scope", map[string]string{"KAFKA_PRESET": "eventhubs", "KAFKA_BROKERS": "ns.servicebus.windows.net:9093", "KAFKA_SASL_OAUTH_SCOPE": "https://x/.default"}, "leave it unset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(context.Background(), envconfig.MapLookuper(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestEventHubsPresetFromEnvironment follows KAFKA_PRESET=eventhubs from
// the environment to the Kafka client's effective options.
func TestEventHubsPresetFromEnvironment(t *testing.T) {
	const cs = "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0="
	cfg, err := loadConfig(context.Background(), envconfig.MapLookuper(map[string]string{
		"KAFKA_PRESET":        "eventhubs",
		"KAFKA_SASL_PASSWORD": cs,
		"KAFKA_TOPIC":         "teams-calls",
	}))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := app.ProducerConfig(cfg, producer.Schema{Name: "x", Text: "{}"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := producer.ClientOpts(pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(pc.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got := cl.OptValue(kgo.SeedBrokers); !reflect.DeepEqual(got, []string{"contoso.servicebus.windows.net:9093"}) {
		t.Errorf("seed brokers %v", got)
	}
	if tc, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config); tc == nil || tc.InsecureSkipVerify {
		t.Errorf("TLS %+v, want verified TLS", tc)
	}
	mechs, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
	if len(mechs) != 1 || mechs[0].Name() != "PLAIN" {
		t.Fatalf("SASL %v, want PLAIN", mechs)
	}
	if _, first, _ := mechs[0].Authenticate(context.Background(), "contoso.servicebus.windows.net:9093"); string(first) != "\x00$ConnectionString\x00"+cs {
		t.Errorf("PLAIN message %q, want $ConnectionString and the connection string", first)
	}
	if got := cl.OptValue(kgo.ProducerBatchCompression); !reflect.DeepEqual(got, []kgo.CompressionCodec{kgo.GzipCompression(), kgo.NoCompression()}) {
		t.Errorf("compression %v, want gzip", got)
	}
	if got := cl.OptValue(kgo.ProducerBatchMaxBytes); got != int32(1_000_000) {
		t.Errorf("batch max bytes %v", got)
	}
	if got := cl.OptValue(kgo.DisableIdempotentWrite); got != false {
		t.Errorf("idempotence off")
	}
}

func testCertPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// sourceGraph is a small, fault-free simulated Graph: these tests are
// about the Kafka side.
func sourceGraph(start time.Time) graphsim.Config {
	return graphsim.Config{Seed: 7, Start: start, End: start.Add(6 * time.Hour), RowsPerHour: 300, ExtraProperty: true}
}

func TestBinaryIncompatibleSchemaStopsStartupWithTheRegistrysMessage(t *testing.T) {
	p := newPipeline(t, sourceGraph(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)))
	srcompat.Enforce(p.registry)
	// An earlier version without correlationId: the current schema adds it
	// without a default, which BACKWARD compatibility forbids.
	p.registry.SeedSchema(p.topic+"-value", 1, 11, sr.Schema{Schema: `{"type":"record","name":"DirectRoutingLogRow","namespace":"microsoft.graph.callRecords","fields":[{"name":"id","type":"string"}]}`})
	proc := start(t, p.env, "run", "--once")
	if code := proc.Wait(t, time.Minute); code != 2 {
		t.Fatalf("exit %d, want 2; output:\n%s", code, proc.Out)
	}
	out := proc.Out.String()
	for _, want := range []string{p.topic + "-value", "incompatible", "correlationId", "oldSchemaVersion: 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not carry %q:\n%s", want, out)
		}
	}
	if n := p.sim.Stats().Requests; n != 0 {
		t.Errorf("%d Graph requests: startup should stop before the first", n)
	}
	if recs := p.kafka.ReadAll(t, p.topic, false); len(recs) != 0 {
		t.Errorf("%d records written", len(recs))
	}
}

func TestBinaryAutoRegisterOff(t *testing.T) {
	t.Run("not-registered-exits-2", func(t *testing.T) {
		p := newPipeline(t, sourceGraph(time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)))
		p.env["SCHEMA_AUTO_REGISTER"] = "false"
		proc := start(t, p.env, "run", "--once")
		if code := proc.Wait(t, time.Minute); code != 2 {
			t.Fatalf("exit %d, want 2; output:\n%s", code, proc.Out)
		}
		out := proc.Out.String()
		for _, want := range []string{p.topic + "-value", "not registered", "not found", "SCHEMA_AUTO_REGISTER"} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not carry %q:\n%s", want, out)
			}
		}
		if p.registry.SubjectExists(p.topic + "-value") {
			t.Error("the schema was registered although SCHEMA_AUTO_REGISTER=false")
		}
	})
	t.Run("registered-schema-is-used", func(t *testing.T) {
		p := newPipeline(t, sourceGraph(time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC)))
		p.env["SCHEMA_AUTO_REGISTER"] = "false"
		p.registry.SeedSchema(p.topic+"-value", 1, 77, sr.Schema{Schema: schemas.DirectRoutingSchemaText()})
		proc := start(t, p.env, "run", "--once")
		if code := proc.Wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("exit %d; output:\n%s", code, proc.Out)
		}
		if dups := p.check(t); dups != 0 { // check verifies every record carries id 77
			t.Fatalf("%d duplicates", dups)
		}
		if _, ok := p.registry.GetSchema(p.topic+"-value", 2); ok {
			t.Error("a second version was registered")
		}
	})
}

// TestBinarySecuredRegistryStrategyAndProvisioning runs the binary with a
// registry behind basic auth, the topic-record subject strategy, lz4, and a
// data topic it creates itself.
func TestBinarySecuredRegistryStrategyAndProvisioning(t *testing.T) {
	p := newPipeline(t, sourceGraph(time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)))
	reg := srfake.New(srfake.WithAuth("Basic " + base64.StdEncoding.EncodeToString([]byte("sr-key:sr-secret"))))
	t.Cleanup(reg.Close)
	adm := kadm.NewClient(p.kafka.Client(t))
	topic := p.topic + "-created"
	t.Cleanup(func() { _, _ = adm.DeleteTopic(context.Background(), topic) })
	p.env["KAFKA_TOPIC"] = topic
	p.env["KAFKA_CREATE_TOPICS"] = "true"
	p.env["KAFKA_TOPIC_PARTITIONS"] = "2"
	p.env["KAFKA_TOPIC_REPLICATION"] = "1"
	p.env["KAFKA_TOPIC_CONFIGS"] = "retention.ms=3600000"
	p.env["KAFKA_COMPRESSION"] = "lz4"
	p.env["SCHEMA_REGISTRY_URL"] = reg.URL()
	p.env["SCHEMA_REGISTRY_USERNAME"] = "sr-key"
	p.env["SCHEMA_REGISTRY_PASSWORD"] = "sr-secret"
	p.env["SCHEMA_SUBJECT_STRATEGY"] = "topic-record"
	proc := start(t, p.env, "run", "--once")
	if code := proc.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, proc.Out)
	}
	if strings.Contains(proc.Out.String(), "sr-secret") {
		t.Error("the registry secret appears in the logs")
	}
	subject := topic + "-" + schemas.DirectRoutingSchemaName
	registered, ok := reg.GetSchema(subject, 1)
	if !ok {
		t.Fatalf("nothing registered under %s", subject)
	}
	tds, err := adm.ListTopics(context.Background(), topic)
	if err != nil || len(tds[topic].Partitions) != 2 {
		t.Fatalf("created topic %+v (%v), want 2 partitions", tds[topic], err)
	}
	recs := p.kafka.ReadAll(t, topic, true)
	if want := p.sim.Count(p.start, p.end); len(recs) != want {
		t.Fatalf("%d records, want %d", len(recs), want)
	}
	for _, r := range recs {
		if len(r.Value) < 5 || r.Value[0] != 0 || int(binary.BigEndian.Uint32(r.Value[1:5])) != registered.ID {
			t.Fatalf("offset %d: not framed with schema id %d", r.Offset, registered.ID)
		}
	}
}

func TestBinarySchemaCommand(t *testing.T) {
	t.Run("print", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := realMain([]string{"schema", "--source", "direct-routing"}, &out, &errb, envconfig.MapLookuper(nil)); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if strings.TrimSpace(out.String()) != strings.TrimSpace(schemas.DirectRoutingSchemaText()) {
			t.Fatal("schema prints something other than the .avsc")
		}
	})
	t.Run("pstn", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := realMain([]string{"schema", "--source", "pstn"}, &out, &errb, envconfig.MapLookuper(nil)); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if strings.TrimSpace(out.String()) != strings.TrimSpace(schemas.PstnSchemaText()) {
			t.Fatal("schema --source pstn prints something other than PstnCallLogRow.avsc")
		}
	})
	t.Run("unknown-source", func(t *testing.T) {
		for _, src := range []string{"nope", "directrouting"} {
			var out, errb bytes.Buffer
			if code := realMain([]string{"schema", "--source", src}, &out, &errb, envconfig.MapLookuper(nil)); code != 2 {
				t.Fatalf("%s: exit %d, want 2", src, code)
			}
			if !strings.Contains(errb.String(), "--source "+src) || !strings.Contains(errb.String(), "direct-routing") {
				t.Errorf("%s: message %q does not say which sources exist", src, errb.String())
			}
		}
	})
	t.Run("beta-source", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := realMain([]string{"schema", "--source", "sms", "--version", "beta"}, &out, &errb, envconfig.MapLookuper(nil)); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if !strings.Contains(out.String(), `"SmsLogRow"`) {
			t.Fatalf("schema --source sms --version beta prints:\n%.300s", out.String())
		}
		errb.Reset()
		if code := realMain([]string{"schema", "--source", "sms"}, &out, &errb, envconfig.MapLookuper(nil)); code != 2 || !strings.Contains(errb.String(), "v1.0") {
			t.Fatalf("schema --source sms on v1.0: exit %d: %s", code, errb.String())
		}
	})
	t.Run("register", func(t *testing.T) {
		reg := srfake.New(srfake.WithAuth("Bearer sr-token"))
		t.Cleanup(reg.Close)
		srcompat.Enforce(reg)
		e := env{"SCHEMA_REGISTRY_URL": reg.URL(), "SCHEMA_REGISTRY_BEARER_TOKEN": "sr-token", "KAFKA_TOPIC": "calls", "SCHEMA_SUBJECT_STRATEGY": "record"}
		proc := start(t, e, "schema", "register")
		if code := proc.Wait(t, 30*time.Second); code != 0 {
			t.Fatalf("exit %d: %s", code, proc.Out)
		}
		got, ok := reg.GetSchema(schemas.DirectRoutingSchemaName, 1)
		if !ok || got.Schema.Schema != schemas.DirectRoutingSchemaText() {
			t.Fatalf("subject %s holds %+v", schemas.DirectRoutingSchemaName, got)
		}
		if !strings.Contains(proc.Out.String(), "schema id") {
			t.Errorf("output %q does not report the id", proc.Out)
		}
	})
	t.Run("register-incompatible-exits-2", func(t *testing.T) {
		reg := srfake.New()
		t.Cleanup(reg.Close)
		srcompat.Enforce(reg)
		reg.SeedSchema("calls-value", 1, 3, sr.Schema{Schema: `{"type":"record","name":"DirectRoutingLogRow","namespace":"microsoft.graph.callRecords","fields":[{"name":"id","type":"long"}]}`})
		proc := start(t, env{"SCHEMA_REGISTRY_URL": reg.URL(), "KAFKA_TOPIC": "calls"}, "schema", "register", "--source", "direct-routing")
		if code := proc.Wait(t, 30*time.Second); code != 2 {
			t.Fatalf("exit %d, want 2: %s", code, proc.Out)
		}
		if !strings.Contains(proc.Out.String(), "incompatible") || !strings.Contains(proc.Out.String(), "calls-value") {
			t.Errorf("message %q lacks the registry's verdict", proc.Out)
		}
	})
	t.Run("register-needs-a-registry", func(t *testing.T) {
		proc := start(t, env{}, "schema", "register")
		if code := proc.Wait(t, 30*time.Second); code != 2 || !strings.Contains(proc.Out.String(), "SCHEMA_REGISTRY_URL") {
			t.Fatalf("exit %d: %s", code, proc.Out)
		}
	})
}
