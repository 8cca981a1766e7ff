// Package connect holds Kafka Connect sink configurations for callstream's
// topic; this test keeps them consistent with what callstream writes.
package connect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// connector is the body of a POST /connectors request to Kafka Connect.
type connector struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

func TestSinkConfigsReadWhatCallstreamWrites(t *testing.T) {
	files, err := filepath.Glob("*-sink.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("sink configs %v (%v), want S3, ADLS Gen2, Azure Blob and Iceberg", files, err)
	}
	placeholder := regexp.MustCompile(`^\$\{(env|file):[^}]+\}$`)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c connector
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("not a Connect REST body: %v", err)
			}
			if c.Name == "" || c.Config["connector.class"] == "" {
				t.Fatal("no name or connector.class")
			}
			want := map[string]string{
				// callstream's default topic (KAFKA_TOPIC).
				"topics": "teams.directrouting.calls",
				// Keys are the correlationId as plain UTF-8, values the
				// Confluent wire format.
				"key.converter":   "org.apache.kafka.connect.storage.StringConverter",
				"value.converter": "io.confluent.connect.avro.AvroConverter",
				// Records of aborted transactions (exactly-once mode) must
				// not reach the lake.
				"consumer.override.isolation.level": "read_committed",
			}
			for k, v := range want {
				if got := c.Config[k]; got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if c.Config["value.converter.schema.registry.url"] == "" {
				t.Error("no value.converter.schema.registry.url")
			}
			// callstream registers under TopicNameStrategy by default, which
			// is also AvroConverter's default: a strategy here would miss it.
			if s, ok := c.Config["value.converter.value.subject.name.strategy"]; ok {
				t.Errorf("value.subject.name.strategy %q set; keep the default (TopicNameStrategy) or change SCHEMA_SUBJECT_STRATEGY to match", s)
			}
			// Secrets come from config providers, never literals.
			for k, v := range c.Config {
				secret := strings.HasSuffix(k, ".key") || strings.HasSuffix(k, "user.info") || strings.HasSuffix(k, ".credential") ||
					strings.Contains(k, "secret") || strings.Contains(k, "password")
				if secret && !placeholder.MatchString(v) {
					t.Errorf("%s holds a literal %q; use ${env:…} or ${file:…}", k, v)
				}
			}
		})
	}
}
