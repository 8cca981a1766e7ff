package pipeline

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/sources"
)

// RawKafka holds the Kafka settings: where, how securely, how records are
// written and which topics to check or create; and the Schema Registry's.
type RawKafka struct {
	Brokers string `env:"KAFKA_BROKERS"`
	// Topics holds each source's topic setting (sources.Source.TopicSetting),
	// filled by the environment's reader: the names come from the sources
	// registry, not from tags.
	Topics      SourceTopics
	ClientID    string `env:"KAFKA_CLIENT_ID, default=callstream"`
	Preset      string `env:"KAFKA_PRESET"`
	Compression string `env:"KAFKA_COMPRESSION"`
	Idempotence string `env:"KAFKA_IDEMPOTENCE, default=true"`
	BatchMax    string `env:"KAFKA_BATCH_MAX_BYTES"`

	TLS           string `env:"KAFKA_TLS"`
	TLSCAFile     string `env:"KAFKA_TLS_CA_FILE"`
	TLSCertFile   string `env:"KAFKA_TLS_CERT_FILE"`
	TLSKeyFile    string `env:"KAFKA_TLS_KEY_FILE"`
	TLSServerName string `env:"KAFKA_TLS_SERVER_NAME"`
	TLSInsecure   string `env:"KAFKA_TLS_INSECURE_SKIP_VERIFY, default=false"`

	SASLMechanism  string `env:"KAFKA_SASL_MECHANISM"`
	SASLUsername   string `env:"KAFKA_SASL_USERNAME"`
	SASLPassword   string `env:"KAFKA_SASL_PASSWORD"`
	SASLOAuthScope string `env:"KAFKA_SASL_OAUTH_SCOPE"`

	CreateTopics     string `env:"KAFKA_CREATE_TOPICS, default=false"`
	TopicPartitions  string `env:"KAFKA_TOPIC_PARTITIONS, default=-1"`
	TopicReplication string `env:"KAFKA_TOPIC_REPLICATION, default=-1"`
	TopicConfigs     string `env:"KAFKA_TOPIC_CONFIGS"`
	DeadLetterTopic  string `env:"KAFKA_DLQ_TOPIC"`
	TransactionalID  string `env:"KAFKA_TRANSACTIONAL_ID"`

	Registry RawRegistry
}

// RawRegistry holds the Schema Registry settings.
type RawRegistry struct {
	URL          string `env:"SCHEMA_REGISTRY_URL"`
	Username     string `env:"SCHEMA_REGISTRY_USERNAME"`
	Password     string `env:"SCHEMA_REGISTRY_PASSWORD"`
	BearerToken  string `env:"SCHEMA_REGISTRY_BEARER_TOKEN"`
	CAFile       string `env:"SCHEMA_REGISTRY_TLS_CA_FILE"`
	CertFile     string `env:"SCHEMA_REGISTRY_TLS_CERT_FILE"`
	KeyFile      string `env:"SCHEMA_REGISTRY_TLS_KEY_FILE"`
	Insecure     string `env:"SCHEMA_REGISTRY_TLS_INSECURE_SKIP_VERIFY, default=false"`
	Strategy     string `env:"SCHEMA_SUBJECT_STRATEGY, default=topic"`
	AutoRegister string `env:"SCHEMA_AUTO_REGISTER, default=true"`
}

// KafkaConfig is how Kafka is reached and written.
type KafkaConfig struct {
	Brokers []string
	// Topic is the default source's topic (sources.Default), which also
	// names the checkpoint topic and transactional ids by default; a
	// lane's copy holds the lane's topic.
	Topic string
	// SourceTopics is every source's topic, by source name.
	SourceTopics map[string]string
	ClientID     string
	// Preset is "" or producer.PresetEventHubs.
	Preset             producer.Preset
	Compression        producer.Compression // "" means the preset's or the producer's default
	DisableIdempotence bool
	BatchMaxBytes      int32
	TLS                *producer.TLS
	SASL               *SASLConfig
	Topics             producer.TopicSettings
	Registry           producer.Registry
	// TransactionalID overrides the default, which is stable per tenant,
	// source and topic.
	TransactionalID string
}

// SASLConfig is the SASL part of KafkaConfig. OAUTHBEARER tokens come from
// an Entra ID credential (azidentity's default chain) for OAuthScope.
type SASLConfig struct {
	Mechanism          producer.Mechanism
	Username, Password string
	OAuthScope         string
}

// TopicFor is the data topic of a source: its topic setting, or Topic
// for a configuration built without them (as tests and demo build it).
func (c KafkaConfig) TopicFor(source string) string {
	if t, ok := c.SourceTopics[source]; ok {
		return t
	}
	return c.Topic
}

// withTopic is c with source's topic set to topic (a tenant's own topic).
func (c KafkaConfig) withTopic(source, topic string) KafkaConfig {
	st := make(map[string]string, len(c.SourceTopics)+1)
	for k, v := range c.SourceTopics {
		st[k] = v
	}
	st[source] = topic
	c.SourceTopics = st
	return c
}

// SourceTopics is the value of every source's topic setting, by setting
// name (absent: unset). Its type marks the field for the help and the
// list of known settings, which expand it to one setting per source.
type SourceTopics map[string]string

// For is src's topic: its setting when set, else its default, trimmed.
func (t SourceTopics) For(src sources.Source) string {
	v, ok := t[src.TopicSetting]
	if !ok {
		v = src.DefaultTopic
	}
	return strings.TrimSpace(v)
}

// parseTopics resolves each source's topic (its setting, else its
// default) and refuses an empty one or one shared with another source: the
// first source's setting is the reference the others must differ from.
func parseTopics(p *problems, raw SourceTopics) (first string, bySource map[string]string) {
	bySource = map[string]string{}
	var earlier []string // settings of the sources before
	seen := map[string]bool{}
	for i, s := range sources.All() {
		v := raw.For(s)
		switch {
		case i == 0 && v == "":
			p.add("%s is empty", s.TopicSetting)
		case i > 0 && (v == "" || seen[v]):
			p.add("%s %q: must be set and differ from %s", s.TopicSetting, v, strings.Join(earlier, ", "))
		}
		if i == 0 {
			first = v
		}
		seen[v] = true
		earlier = append(earlier, s.TopicSetting)
		bySource[s.Name] = v
	}
	return first, bySource
}

func (r RawKafka) parse(p *problems) KafkaConfig {
	var c KafkaConfig
	for _, b := range strings.Split(r.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	c.Topic, c.SourceTopics = parseTopics(p, r.Topics)
	c.ClientID = r.ClientID

	switch strings.ToLower(strings.TrimSpace(r.Preset)) {
	case "":
	case string(producer.PresetEventHubs):
		c.Preset = producer.PresetEventHubs
	default:
		p.add("KAFKA_PRESET %q: want eventhubs or nothing", r.Preset)
	}
	if len(c.Brokers) == 0 && !(c.Preset == producer.PresetEventHubs && r.SASLPassword != "") {
		p.add("KAFKA_BROKERS is required: a comma-separated list of host:port")
	}
	if r.Compression != "" {
		comp, err := producer.ParseCompression(r.Compression)
		if err != nil {
			p.add("KAFKA_COMPRESSION: %v", err)
		}
		c.Compression = comp
	}
	c.DisableIdempotence = !parseBool(p, "KAFKA_IDEMPOTENCE", r.Idempotence)
	if r.BatchMax != "" {
		n := parsePositiveInt(p, "KAFKA_BATCH_MAX_BYTES", r.BatchMax)
		if n != 0 && (n < 512 || n > 1<<30) {
			p.add("KAFKA_BATCH_MAX_BYTES %q: want between 512 and 1073741824", r.BatchMax)
		}
		c.BatchMaxBytes = int32(min(n, 1<<30))
	}

	c.TLS = r.parseTLS(p)
	c.SASL = r.parseSASL(p, c.Preset)
	if c.Preset == producer.PresetEventHubs {
		if c.TLS == nil {
			p.add("KAFKA_TLS=false: Azure Event Hubs accepts only TLS connections")
		}
		if c.SASL != nil && c.SASL.OAuthScope != "" {
			p.add("KAFKA_SASL_OAUTH_SCOPE: with KAFKA_PRESET=eventhubs the scope is the namespace's (https://<namespace>.servicebus.windows.net/.default); leave it unset")
		}
		if c.Compression != "" && c.Compression != producer.CompressionGzip && c.Compression != producer.CompressionNone {
			p.add("KAFKA_COMPRESSION %s: Azure Event Hubs accepts gzip or none", c.Compression)
		}
		for _, b := range c.Brokers {
			if _, port, err := net.SplitHostPort(b); err != nil || port != "9093" {
				p.add("KAFKA_BROKERS %q: Azure Event Hubs listens on <namespace>.servicebus.windows.net:9093", b)
			}
		}
	}

	c.Topics.Create = parseBool(p, "KAFKA_CREATE_TOPICS", r.CreateTopics)
	c.Topics.Partitions = int32(parseIntAtLeast(p, "KAFKA_TOPIC_PARTITIONS", r.TopicPartitions, -1, 1<<20))
	c.Topics.ReplicationFactor = int16(parseIntAtLeast(p, "KAFKA_TOPIC_REPLICATION", r.TopicReplication, -1, 1<<10))
	c.Topics.Configs = parseKeyValues(p, "KAFKA_TOPIC_CONFIGS", r.TopicConfigs)
	c.Topics.DeadLetter = strings.TrimSpace(r.DeadLetterTopic)
	if c.Topics.DeadLetter != "" && c.Topics.DeadLetter == c.Topic {
		p.add("KAFKA_DLQ_TOPIC %q: must differ from KAFKA_TOPIC", c.Topics.DeadLetter)
	}
	// The checkpoint topic is checked, and created if missing, by the Kafka
	// checkpoint store itself (see openStore).
	c.TransactionalID = strings.TrimSpace(r.TransactionalID)

	c.Registry = r.Registry.parse(p)
	return c
}

func (r RawKafka) parseTLS(p *problems) *producer.TLS {
	files := r.TLSCAFile != "" || r.TLSCertFile != "" || r.TLSKeyFile != "" || r.TLSServerName != ""
	on := files || strings.EqualFold(r.Preset, string(producer.PresetEventHubs))
	if r.TLS != "" {
		on = parseBool(p, "KAFKA_TLS", r.TLS)
		if !on && files {
			p.add("KAFKA_TLS=false contradicts the KAFKA_TLS_* settings")
		}
	}
	insecure := parseBool(p, "KAFKA_TLS_INSECURE_SKIP_VERIFY", r.TLSInsecure)
	if !on {
		if insecure {
			p.add("KAFKA_TLS_INSECURE_SKIP_VERIFY is set but TLS is off (KAFKA_TLS)")
		}
		return nil
	}
	t := &producer.TLS{CAFile: r.TLSCAFile, CertFile: r.TLSCertFile, KeyFile: r.TLSKeyFile,
		ServerName: r.TLSServerName, InsecureSkipVerify: insecure}
	if _, err := t.Config(); err != nil {
		p.add("KAFKA_TLS_*: %v", err)
	}
	return t
}

func (r RawKafka) parseSASL(p *problems, preset producer.Preset) *SASLConfig {
	mech := strings.TrimSpace(r.SASLMechanism)
	if preset == producer.PresetEventHubs && mech == "" {
		// A connection string means PLAIN; without one, Entra ID.
		mech = string(producer.OAuthBearer)
		if r.SASLPassword != "" {
			mech = string(producer.Plain)
		}
	}
	if mech == "" {
		if r.SASLUsername != "" || r.SASLPassword != "" || r.SASLOAuthScope != "" {
			p.add("KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_OAUTH_SCOPE is set without KAFKA_SASL_MECHANISM")
		}
		return nil
	}
	m, err := producer.ParseMechanism(mech)
	if err != nil {
		p.add("KAFKA_SASL_MECHANISM %q: want one of %v", mech, producer.Mechanisms)
		return nil
	}
	s := &SASLConfig{Mechanism: m, Username: r.SASLUsername, Password: r.SASLPassword, OAuthScope: strings.TrimSpace(r.SASLOAuthScope)}
	switch m {
	case producer.Plain, producer.ScramSHA256, producer.ScramSHA512:
		if preset == producer.PresetEventHubs {
			if m != producer.Plain {
				p.add("KAFKA_SASL_MECHANISM %s: Azure Event Hubs takes PLAIN (connection string) or OAUTHBEARER (Entra ID)", m)
			}
			if s.Username == "" {
				s.Username = "$ConnectionString"
			}
			if !strings.HasPrefix(s.Password, "Endpoint=") {
				p.add("KAFKA_SASL_PASSWORD: for Azure Event Hubs give the namespace connection string (Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…)")
			}
		}
		if s.Username == "" || s.Password == "" {
			p.add("KAFKA_SASL_MECHANISM %s needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", m)
		}
	case producer.OAuthBearer:
		if s.OAuthScope == "" && preset != producer.PresetEventHubs {
			p.add("KAFKA_SASL_MECHANISM OAUTHBEARER needs KAFKA_SASL_OAUTH_SCOPE (the Entra ID scope of the cluster's tokens)")
		}
	}
	return s
}

// Parse converts and validates the registry settings alone (schema register
// reads no others), returning each problem found.
func (r RawRegistry) Parse() (producer.Registry, []string) {
	var p problems
	c := r.parse(&p)
	return c, p
}

func (r RawRegistry) parse(p *problems) producer.Registry {
	var c producer.Registry
	c.URL = parseURL(p, "SCHEMA_REGISTRY_URL", strings.TrimRight(strings.TrimSpace(r.URL), "/"),
		"SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD (or SCHEMA_REGISTRY_BEARER_TOKEN)")
	c.Username, c.Password, c.BearerToken = r.Username, r.Password, r.BearerToken
	if c.Username != "" && c.BearerToken != "" {
		p.add("SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_BEARER_TOKEN are exclusive")
	}
	if (c.Username == "") != (c.Password == "") {
		p.add("SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD go together")
	}
	insecure := parseBool(p, "SCHEMA_REGISTRY_TLS_INSECURE_SKIP_VERIFY", r.Insecure)
	if r.CAFile != "" || r.CertFile != "" || r.KeyFile != "" || insecure {
		c.TLS = &producer.TLS{CAFile: r.CAFile, CertFile: r.CertFile, KeyFile: r.KeyFile, InsecureSkipVerify: insecure}
		if _, err := c.TLS.Config(); err != nil {
			p.add("SCHEMA_REGISTRY_TLS_*: %v", err)
		}
	}
	strategy, err := producer.ParseSubjectStrategy(r.Strategy)
	if err != nil {
		p.add("SCHEMA_SUBJECT_STRATEGY: %v", err)
	}
	c.Subject = strategy
	c.LookupOnly = !parseBool(p, "SCHEMA_AUTO_REGISTER", r.AutoRegister)
	return c
}

// ProducerConfig turns the configuration into the producer's, creating the
// Entra ID credential OAUTHBEARER needs. Errors are configuration errors.
func ProducerConfig(cfg Config, schema producer.Schema, log *slog.Logger, extra []kgo.Opt) (producer.Config, error) {
	k := cfg.Kafka
	pc := producer.Config{
		Brokers:            k.Brokers,
		Topic:              k.Topic,
		ClientID:           k.ClientID,
		Schema:             schema,
		Registry:           k.Registry,
		Compression:        k.Compression,
		DisableIdempotence: k.DisableIdempotence,
		BatchMaxBytes:      k.BatchMaxBytes,
		Topics:             k.Topics,
		Logger:             log,
		Opts:               extra,
	}
	if k.TLS != nil {
		t := *k.TLS
		pc.Security.TLS = &t
	}
	var cred azcore.TokenCredential
	if k.SASL != nil && k.SASL.Mechanism == producer.OAuthBearer {
		c, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: azcore.ClientOptions{Cloud: cfg.Graph.Cloud.Authority},
		})
		if err != nil {
			return pc, &ConfigError{Problems: []string{fmt.Sprintf("KAFKA_SASL_MECHANISM OAUTHBEARER: Entra ID credential: %v (set AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret, certificate or federated token file)", err)}}
		}
		cred = c
	}
	if k.Preset == producer.PresetEventHubs {
		eh := producer.EventHubs{Credential: cred}
		if len(k.Brokers) > 0 {
			eh.Namespace = k.Brokers[0]
		}
		if k.SASL != nil && k.SASL.Mechanism == producer.Plain {
			eh.ConnectionString, eh.Credential = k.SASL.Password, nil
		}
		if err := eh.Apply(&pc); err != nil {
			return pc, &ConfigError{Problems: []string{"KAFKA_PRESET=eventhubs: " + err.Error()}}
		}
		return pc, nil
	}
	if s := k.SASL; s != nil {
		pc.Security.SASL = &producer.SASL{Mechanism: s.Mechanism, Username: s.Username, Password: s.Password}
		if s.Mechanism == producer.OAuthBearer {
			pc.Security.SASL.Token = producer.AzureToken(cred, s.OAuthScope)
		}
	}
	return pc, nil
}

func parseBool(p *problems, name, s string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		p.add("%s %q: want true or false", name, s)
	}
	return b
}

func parseIntAtLeast(p *problems, name, s string, lo, hi int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi || n == 0 {
		p.add("%s %q: want a whole number from 1 to %d, or -1 for the broker's default", name, s, hi)
		return -1
	}
	return n
}

// parseKeyValues reads "k=v,k2=v2" (topic configs such as retention.ms).
func parseKeyValues(p *problems, name, s string) map[string]string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	m := map[string]string{}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || strings.TrimSpace(k) == "" {
			p.add("%s: %q is not key=value", name, kv)
			continue
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}
