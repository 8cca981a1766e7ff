package main

import "strings"

// rawKafka holds the Kafka and Schema Registry settings.
type rawKafka struct {
	Brokers           string `env:"KAFKA_BROKERS"`
	Topic             string `env:"KAFKA_TOPIC, default=teams.directrouting.calls"`
	ClientID          string `env:"KAFKA_CLIENT_ID, default=callstream"`
	SchemaRegistryURL string `env:"SCHEMA_REGISTRY_URL"`
	DLQTopic          string `env:"KAFKA_DLQ_TOPIC"`
	TransactionalID   string `env:"KAFKA_TRANSACTIONAL_ID"`
	// TenantID only names the default transactional id, so that two
	// tenants' deployments never fence each other.
	TenantID string `env:"AZURE_TENANT_ID"`
}

// KafkaConfig is how Kafka is reached and written.
type KafkaConfig struct {
	Brokers           []string
	Topic             string
	ClientID          string
	SchemaRegistryURL string
	// DLQTopic receives rows that cannot be encoded; "" stops the walk on
	// such a row instead.
	DLQTopic string
	// TransactionalID overrides the default, which is stable per tenant,
	// source and topic.
	TransactionalID string
	TenantID        string
}

func (r rawKafka) parse(p *problems) KafkaConfig {
	var c KafkaConfig
	for _, b := range strings.Split(r.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	if len(c.Brokers) == 0 {
		p.add("KAFKA_BROKERS is required: a comma-separated list of host:port")
	}
	c.Topic = strings.TrimSpace(r.Topic)
	if c.Topic == "" {
		p.add("KAFKA_TOPIC is empty")
	}
	c.ClientID = r.ClientID
	c.SchemaRegistryURL = parseURL(p, "SCHEMA_REGISTRY_URL", r.SchemaRegistryURL)
	c.DLQTopic = strings.TrimSpace(r.DLQTopic)
	if c.DLQTopic != "" && c.DLQTopic == c.Topic {
		p.add("KAFKA_DLQ_TOPIC %q: must differ from KAFKA_TOPIC", c.DLQTopic)
	}
	c.TransactionalID = strings.TrimSpace(r.TransactionalID)
	c.TenantID = strings.TrimSpace(r.TenantID)
	return c
}
