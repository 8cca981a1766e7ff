package producer_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/callstream/callstream/producer"
)

// clientFor builds (without dialing) the client New would build from cfg,
// so that its effective options can be read back with OptValue.
func clientFor(t *testing.T, cfg producer.Config) *kgo.Client {
	t.Helper()
	opts, err := producer.ClientOpts(cfg, nil)
	if err != nil {
		t.Fatalf("client options: %v", err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// firstMessage starts the client's SASL session the way kgo does on a new
// connection and returns the mechanism name and the client's first message.
func firstMessage(t *testing.T, cl *kgo.Client) (string, string) {
	t.Helper()
	mechs, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
	if len(mechs) != 1 {
		t.Fatalf("%d SASL mechanisms, want 1", len(mechs))
	}
	_, msg, err := mechs[0].Authenticate(context.Background(), "contoso.servicebus.windows.net:9093")
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return mechs[0].Name(), string(msg)
}

func TestEventHubsPresetClientOptions(t *testing.T) {
	const cs = "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0="

	check := func(t *testing.T, cl *kgo.Client) {
		t.Helper()
		if got := cl.OptValue(kgo.SeedBrokers); !reflect.DeepEqual(got, []string{"contoso.servicebus.windows.net:9093"}) {
			t.Errorf("seed brokers %v, want the namespace on port 9093", got)
		}
		tc, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
		if tc == nil || tc.InsecureSkipVerify || tc.RootCAs != nil || tc.MinVersion < tls.VersionTLS12 {
			t.Errorf("TLS config %+v, want TLS 1.2+ verified against the system roots", tc)
		}
		if got := cl.OptValue(kgo.ProducerBatchCompression); !reflect.DeepEqual(got, []kgo.CompressionCodec{kgo.GzipCompression(), kgo.NoCompression()}) {
			t.Errorf("compression %v, want gzip (falling back to none)", got)
		}
		if got := cl.OptValue(kgo.DisableIdempotentWrite); got != false {
			t.Errorf("idempotence disabled (%v); Event Hubs supports it", got)
		}
		if got := cl.OptValue(kgo.ProducerBatchMaxBytes); got != int32(1_000_000) {
			t.Errorf("batch max bytes %v, want 1000000 (Event Hubs closes connections over 1046528)", got)
		}
		if got := cl.OptValue(kgo.MetadataMaxAge); got != 180*time.Second {
			t.Errorf("metadata max age %v, want 3m (Event Hubs closes idle connections at 240 s)", got)
		}
		if got := cl.OptValue(kgo.ProduceRequestTimeout); got != 60*time.Second {
			t.Errorf("produce request timeout %v, want 60s", got)
		}
	}

	t.Run("connection-string", func(t *testing.T) {
		cfg := producer.Config{Topic: "calls"}
		if err := (producer.EventHubs{ConnectionString: cs}).Apply(&cfg); err != nil {
			t.Fatal(err)
		}
		cl := clientFor(t, cfg)
		check(t, cl)
		name, msg := firstMessage(t, cl)
		if name != "PLAIN" || msg != "\x00$ConnectionString\x00"+cs {
			t.Errorf("SASL %s first message %q, want PLAIN with user $ConnectionString and the connection string as password", name, msg)
		}
	})
	t.Run("entra-id", func(t *testing.T) {
		cred := &fakeCredential{sub: "callstream", ttl: time.Hour}
		cfg := producer.Config{Topic: "calls", Brokers: []string{"contoso.servicebus.windows.net:9093"}}
		if err := (producer.EventHubs{Namespace: cfg.Brokers[0], Credential: cred}).Apply(&cfg); err != nil {
			t.Fatal(err)
		}
		cl := clientFor(t, cfg)
		check(t, cl)
		name, msg := firstMessage(t, cl)
		if name != "OAUTHBEARER" || !strings.Contains(msg, "auth=Bearer ey") {
			t.Errorf("SASL %s first message %q, want OAUTHBEARER carrying the credential's token", name, msg)
		}
		if got := cred.askedScopes(); !reflect.DeepEqual(got, []string{"https://contoso.servicebus.windows.net/.default"}) {
			t.Errorf("token scopes %v, want the namespace's .default scope", got)
		}
	})
	t.Run("bare-namespace", func(t *testing.T) {
		cfg := producer.Config{}
		if err := (producer.EventHubs{Namespace: "contoso", ConnectionString: cs}).Apply(&cfg); err != nil {
			t.Fatal(err)
		}
		check(t, clientFor(t, cfg))
	})
	t.Run("no-compression-kept", func(t *testing.T) {
		cfg := producer.Config{Compression: producer.CompressionNone}
		if err := (producer.EventHubs{ConnectionString: cs}).Apply(&cfg); err != nil {
			t.Fatal(err)
		}
		if got := clientFor(t, cfg).OptValue(kgo.ProducerBatchCompression); !reflect.DeepEqual(got, []kgo.CompressionCodec{kgo.NoCompression(), kgo.NoCompression()}) {
			t.Errorf("compression %v, want none", got)
		}
	})
	t.Run("other-clouds", func(t *testing.T) {
		for _, host := range []string{"fabrikam.servicebus.usgovcloudapi.net", "fabrikam.servicebus.chinacloudapi.cn"} {
			eh := producer.EventHubs{ConnectionString: "Endpoint=sb://" + host + "/;SharedAccessKeyName=k;SharedAccessKey=v"}
			scope, err := eh.Scope()
			if err != nil || scope != "https://"+host+"/.default" {
				t.Errorf("%s: scope %q (%v)", host, scope, err)
			}
		}
	})
	t.Run("refusals", func(t *testing.T) {
		cases := []struct {
			name string
			eh   producer.EventHubs
			cfg  producer.Config
			want string
		}{
			{"snappy", producer.EventHubs{ConnectionString: cs}, producer.Config{Compression: producer.CompressionSnappy}, "gzip or none"},
			{"no-auth", producer.EventHubs{Namespace: "contoso"}, producer.Config{}, "connection string or an Entra credential"},
			{"both-auths", producer.EventHubs{ConnectionString: cs, Credential: &fakeCredential{}}, producer.Config{}, "not both"},
			{"no-namespace", producer.EventHubs{Credential: &fakeCredential{}}, producer.Config{}, "no namespace"},
			{"bad-connection-string", producer.EventHubs{ConnectionString: "SharedAccessKey=x"}, producer.Config{}, "Endpoint"},
		}
		for _, tc := range cases {
			err := tc.eh.Apply(&tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err %v, want one mentioning %q", tc.name, err, tc.want)
			}
		}
	})
}

func TestClientOptsCompressionAndDefaults(t *testing.T) {
	codecs := map[producer.Compression]kgo.CompressionCodec{
		producer.CompressionNone:   kgo.NoCompression(),
		producer.CompressionGzip:   kgo.GzipCompression(),
		producer.CompressionSnappy: kgo.SnappyCompression(),
		producer.CompressionLZ4:    kgo.Lz4Compression(),
	}
	for c, want := range codecs {
		cl := clientFor(t, producer.Config{Brokers: []string{"127.0.0.1:1"}, Compression: c})
		if got := cl.OptValue(kgo.ProducerBatchCompression); !reflect.DeepEqual(got, []kgo.CompressionCodec{want, kgo.NoCompression()}) {
			t.Errorf("%q: codecs %v", c, got)
		}
	}
	// zstd, the default, is callstream's own compressor (see zstd.go).
	for _, c := range []producer.Compression{"", producer.CompressionZstd} {
		cl := clientFor(t, producer.Config{Brokers: []string{"127.0.0.1:1"}, Compression: c})
		comp, _ := cl.OptValue(kgo.WithCompressor).(kgo.Compressor)
		if comp == nil {
			t.Fatalf("%q: no compressor", c)
		}
		src := bytes.Repeat([]byte("callstream "), 1000)
		if _, codec := comp.Compress(new(bytes.Buffer), src); codec != kgo.CodecZstd {
			t.Errorf("%q: codec %v, want zstd", c, codec)
		}
	}
	cl := clientFor(t, producer.Config{Brokers: []string{"127.0.0.1:1"}})
	if cl.OptValue(kgo.DisableIdempotentWrite) != false || cl.OptValue(kgo.ProducerBatchMaxBytes) != int32(producer.DefaultBatchMaxBytes) {
		t.Error("defaults changed: want idempotent writes and franz-go's batch size")
	}
	if tc := cl.OptValue(kgo.DialTLSConfig).(*tls.Config); tc != nil {
		t.Error("TLS on without being asked")
	}
	cl = clientFor(t, producer.Config{Brokers: []string{"127.0.0.1:1"}, DisableIdempotence: true, BatchMaxBytes: 65536})
	if cl.OptValue(kgo.DisableIdempotentWrite) != true || cl.OptValue(kgo.ProducerBatchMaxBytes) != int32(65536) {
		t.Error("DisableIdempotence or BatchMaxBytes not applied")
	}
	for _, s := range []string{"brotli", "zip"} {
		if _, err := producer.ParseCompression(s); err == nil {
			t.Errorf("ParseCompression(%q) accepted", s)
		}
	}
	if c, err := producer.ParseCompression(" ZSTD "); err != nil || c != producer.CompressionZstd {
		t.Errorf("ParseCompression(ZSTD) = %q, %v", c, err)
	}
}
