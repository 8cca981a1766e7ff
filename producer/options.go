package producer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Compression is the codec record batches are compressed with.
type Compression string

// The codecs Kafka knows. The empty Compression means [DefaultCompression].
const (
	CompressionNone   Compression = "none"
	CompressionGzip   Compression = "gzip"
	CompressionSnappy Compression = "snappy"
	CompressionLZ4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
)

// DefaultCompression is used when Config.Compression is empty. zstd (at
// ZstdLevel) made the fewest bytes on the wire for callstream's rows in the
// measurement in docs/kafka-ecosystem.md; every Kafka since 2.1 and every
// mainstream client reads it.
const DefaultCompression = CompressionZstd

// ParseCompression accepts none, gzip, snappy, lz4 or zstd in any case.
func ParseCompression(s string) (Compression, error) {
	c := Compression(strings.ToLower(strings.TrimSpace(s)))
	switch c {
	case CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd:
		return c, nil
	}
	return "", fmt.Errorf("unknown compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// opt is the client option that compresses batches with c. A batch is
// sent compressed only when that made it smaller, so the fallback to none
// costs nothing.
func (c Compression) opt() kgo.Opt {
	var codec kgo.CompressionCodec
	switch c {
	case CompressionNone:
		codec = kgo.NoCompression()
	case CompressionGzip:
		codec = kgo.GzipCompression()
	case CompressionSnappy:
		codec = kgo.SnappyCompression()
	case CompressionLZ4:
		codec = kgo.Lz4Compression()
	default:
		return kgo.WithCompressor(newZstdCompressor(zstd.EncoderLevel(ZstdLevel)))
	}
	return kgo.ProducerBatchCompression(codec, kgo.NoCompression())
}

// ZstdLevel is the zstd level record batches are compressed at: 1,
// klauspost/compress's SpeedFastest. Its default level cost callstream a
// fifth of its CPU per row (docs/performance.md) for about 5% fewer bytes
// on the wire (docs/kafka-ecosystem.md); the level is the producer's
// choice only, and every zstd reader decodes every level.
const ZstdLevel = 1

// DefaultBatchMaxBytes is the largest uncompressed record batch the
// producer builds by default: 64 KiB, the window franz-go gives its zstd
// compressor, so that a batch is compressed as one block without history.
// Measured (docs/performance.md): 18–23% more rows/s through one broker
// connection, whose batches one goroutine compresses, for about 8% more
// bytes on the wire than franz-go's 1 MB batches. A row is about 1 KB;
// KAFKA_BATCH_MAX_BYTES raises the cap.
const DefaultBatchMaxBytes = 64 << 10

// Preset names a managed Kafka service whose quirks the producer adapts to.
type Preset string

// PresetEventHubs is Azure Event Hubs' Kafka endpoint; see [EventHubs].
const PresetEventHubs Preset = "eventhubs"

// Event Hubs limits, from Microsoft's "recommended configurations for
// Apache Kafka clients" page: the service closes the connection on a
// request over 1,046,528 bytes (1,000,000 recommended), drops connections
// idle for 240 s, and treats produce timeouts under 20 s as 20 s.
const (
	eventHubsBatchMaxBytes  = 1_000_000
	eventHubsMetadataMaxAge = 180 * time.Second
	eventHubsProduceTimeout = 60 * time.Second
	eventHubsPort           = "9093"
	eventHubsDomain         = ".servicebus.windows.net"
)

// EventHubs is how to reach an Azure Event Hubs namespace through its Kafka
// endpoint. Exactly one of ConnectionString and Credential is set.
type EventHubs struct {
	// Namespace is the namespace's host name (contoso.servicebus.windows.net,
	// or another cloud's suffix), optionally with a port, or just its name
	// (contoso) for the public cloud. Empty means taken from the
	// connection string.
	Namespace string
	// ConnectionString is a shared-access connection string
	// (Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…), sent as the
	// SASL PLAIN password of the literal user $ConnectionString.
	ConnectionString string
	// Credential authenticates with Entra ID (OAUTHBEARER), with tokens for
	// the scope https://<namespace host>/.default.
	Credential azcore.TokenCredential
}

// Host is the namespace's host name without a port.
func (e EventHubs) Host() (string, error) {
	ns := strings.TrimSpace(e.Namespace)
	if ns == "" && e.ConnectionString != "" {
		return hostFromConnectionString(e.ConnectionString)
	}
	if h, _, err := net.SplitHostPort(ns); err == nil {
		ns = h
	}
	if ns == "" {
		return "", errors.New("event hubs: no namespace (set the brokers to <namespace>.servicebus.windows.net:9093 or give a connection string)")
	}
	if !strings.Contains(ns, ".") {
		ns += eventHubsDomain
	}
	return ns, nil
}

// Scope is the Entra ID scope of tokens for the namespace's Kafka endpoint.
// Event Hubs accepts tokens for the namespace's own resource URI; the
// generic https://eventhubs.azure.net audience does not work for Kafka.
func (e EventHubs) Scope() (string, error) {
	h, err := e.Host()
	if err != nil {
		return "", err
	}
	return "https://" + h + "/.default", nil
}

func hostFromConnectionString(cs string) (string, error) {
	for part := range strings.SplitSeq(cs, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(k, "Endpoint") {
			continue
		}
		v = strings.TrimPrefix(strings.TrimSpace(v), "sb://")
		v = strings.TrimSuffix(v, "/")
		if v != "" && !strings.ContainsAny(v, "/ ") {
			return v, nil
		}
	}
	return "", errors.New("event hubs: the connection string has no Endpoint=sb://<namespace host>/ part")
}

// Apply adapts cfg to Event Hubs: brokers <namespace>:9093 when none are
// set, TLS (with the system roots) unless configured, SASL PLAIN with the
// connection string or OAUTHBEARER with Entra tokens, gzip unless
// compression is off (Event Hubs accepts no other codec), batches of at
// most 1,000,000 bytes, and metadata refreshed within the 240 s Event Hubs
// allows a connection to idle. Idempotent writes stay on: Event Hubs
// supports them. Transactions need the Premium or Dedicated tier.
func (e EventHubs) Apply(cfg *Config) error {
	host, err := e.Host()
	if err != nil {
		return err
	}
	cfg.Preset = PresetEventHubs
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{net.JoinHostPort(host, eventHubsPort)}
	}
	if cfg.Security.TLS == nil {
		cfg.Security.TLS = &TLS{}
	}
	switch {
	case e.ConnectionString != "" && e.Credential != nil:
		return errors.New("event hubs: give a connection string or an Entra credential, not both")
	case e.ConnectionString != "":
		cfg.Security.SASL = &SASL{Mechanism: Plain, Username: "$ConnectionString", Password: e.ConnectionString}
	case e.Credential != nil:
		scope, _ := e.Scope()
		cfg.Security.SASL = &SASL{Mechanism: OAuthBearer, Token: AzureToken(e.Credential, scope)}
	default:
		return errors.New("event hubs: needs a connection string or an Entra credential")
	}
	switch cfg.Compression {
	case "":
		cfg.Compression = CompressionGzip
	case CompressionNone, CompressionGzip:
	default:
		return fmt.Errorf("event hubs: compression %s is not accepted by Event Hubs; use gzip or none", cfg.Compression)
	}
	if cfg.BatchMaxBytes == 0 || cfg.BatchMaxBytes > eventHubsBatchMaxBytes {
		cfg.BatchMaxBytes = eventHubsBatchMaxBytes
	}
	return nil
}

// ClientOpts returns the client options that New derives from cfg's
// connection settings (security, compression, idempotence, batch size and
// the preset's tuning) — everything but the seed brokers, client id, topic
// and acks, which New sets itself. It warns on log about insecure settings.
func ClientOpts(cfg Config, log *slog.Logger) ([]kgo.Opt, error) {
	if log == nil {
		log = slog.Default()
	}
	opts, err := cfg.Security.opts(log)
	if err != nil {
		return nil, err
	}
	comp := cfg.Compression
	if comp == "" {
		comp = DefaultCompression
	}
	if _, err := ParseCompression(string(comp)); err != nil {
		return nil, err
	}
	opts = append(opts, comp.opt())
	if cfg.DisableIdempotence {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	batch := cfg.BatchMaxBytes
	if batch == 0 {
		batch = DefaultBatchMaxBytes
	}
	opts = append(opts, kgo.ProducerBatchMaxBytes(batch))
	switch cfg.Preset {
	case "":
	case PresetEventHubs:
		opts = append(opts,
			kgo.MetadataMaxAge(eventHubsMetadataMaxAge),
			kgo.ProduceRequestTimeout(eventHubsProduceTimeout),
		)
	default:
		return nil, fmt.Errorf("unknown kafka preset %q", cfg.Preset)
	}
	return opts, nil
}
