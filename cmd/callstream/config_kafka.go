package main

import "strings"

// rawKafka holds the Kafka and Schema Registry settings.
type rawKafka struct {
	Brokers           string `env:"KAFKA_BROKERS"`
	Topic             string `env:"KAFKA_TOPIC, default=teams.directrouting.calls"`
	ClientID          string `env:"KAFKA_CLIENT_ID, default=callstream"`
	SchemaRegistryURL string `env:"SCHEMA_REGISTRY_URL"`
}

// KafkaConfig is how Kafka is reached and written.
type KafkaConfig struct {
	Brokers           []string
	Topic             string
	ClientID          string
	SchemaRegistryURL string
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
	return c
}
