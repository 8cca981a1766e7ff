package producer_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/callstream/callstream/internal/kafkatest"
	"github.com/callstream/callstream/producer"
)

// newSecured starts a producer with sec against brokers, giving up on the
// connection after timeout.
func newSecured(t *testing.T, brokers []string, topic string, sec producer.Security, timeout time.Duration) (*producer.Producer, *logBuffer, error) {
	t.Helper()
	log, lb := testLogger()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	p, err := producer.New(ctx, producer.Config{
		Brokers: brokers, Topic: topic, Schema: testSchema, Security: sec,
		ConnectTimeout: timeout, Logger: log,
	})
	if err == nil {
		t.Cleanup(func() { _ = p.Close(context.Background()) })
	}
	return p, lb, err
}

func TestSASLAgainstKfake(t *testing.T) {
	const user, pass, topic = "callstream", "kfake-secret", "rows"
	c := kafkatest.NewFake(t,
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", user, pass),
		kfake.User("SCRAM-SHA-256", user, pass),
		kfake.User("SCRAM-SHA-512", user, pass),
		kfake.SeedTopics(1, topic),
	)
	for _, m := range []producer.Mechanism{producer.Plain, producer.ScramSHA256, producer.ScramSHA512} {
		t.Run(string(m), func(t *testing.T) {
			p, _, err := newSecured(t, c.Brokers, topic, producer.Security{SASL: &producer.SASL{Mechanism: m, Username: user, Password: pass}}, 10*time.Second)
			if err != nil {
				t.Fatalf("connect with %s: %v", m, err)
			}
			produceOne(t, p, "row-"+string(m))
		})
		t.Run(string(m)+"/wrong-password", func(t *testing.T) {
			_, _, err := newSecured(t, c.Brokers, topic, producer.Security{SASL: &producer.SASL{Mechanism: m, Username: user, Password: "not-it"}}, 2*time.Second)
			// kfake drops the connection (EOF) where Kafka answers
			// SASL_AUTHENTICATION_FAILED; the real-broker test checks that.
			if err == nil {
				t.Fatal("connected with a wrong password")
			}
		})
	}
	t.Run("no-sasl", func(t *testing.T) {
		if _, _, err := newSecured(t, c.Brokers, topic, producer.Security{}, 2*time.Second); err == nil {
			t.Fatal("connected to a SASL cluster without SASL")
		}
	})
}

func TestSASLAgainstRealBroker(t *testing.T) {
	r := realSecured(t)
	if !r.ok {
		t.Skip("no real broker with SASL listeners (KAFKA_TEST_SASL_BROKERS); run under scripts/kafka-test.sh")
	}
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	var want []string
	cases := []struct {
		name    string
		brokers []string
		sec     producer.Security
	}{
		{"SASL_PLAINTEXT/PLAIN", r.plain, producer.Security{SASL: &producer.SASL{Mechanism: producer.Plain, Username: r.user, Password: r.password}}},
		{"SASL_PLAINTEXT/SCRAM-SHA-256", r.plain, producer.Security{SASL: &producer.SASL{Mechanism: producer.ScramSHA256, Username: r.user, Password: r.password}}},
		{"SASL_PLAINTEXT/SCRAM-SHA-512", r.plain, producer.Security{SASL: &producer.SASL{Mechanism: producer.ScramSHA512, Username: r.user, Password: r.password}}},
		{"SASL_SSL/PLAIN", r.saslSSL, producer.Security{TLS: &producer.TLS{CAFile: r.caFile}, SASL: &producer.SASL{Mechanism: producer.Plain, Username: r.user, Password: r.password}}},
		{"SASL_SSL/SCRAM-SHA-512", r.saslSSL, producer.Security{TLS: &producer.TLS{CAFile: r.caFile}, SASL: &producer.SASL{Mechanism: producer.ScramSHA512, Username: r.user, Password: r.password}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := newSecured(t, tc.brokers, topic, tc.sec, 20*time.Second)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			produceOne(t, p, tc.name)
			want = append(want, tc.name)
		})
	}
	failing := []struct {
		name    string
		brokers []string
		sec     producer.Security
		want    string
	}{
		{"SASL_PLAINTEXT/wrong-password", r.plain, producer.Security{SASL: &producer.SASL{Mechanism: producer.ScramSHA512, Username: r.user, Password: "not-it"}}, "SASL_AUTHENTICATION_FAILED"},
		{"SASL_SSL/untrusted-CA", r.saslSSL, producer.Security{TLS: &producer.TLS{}, SASL: &producer.SASL{Mechanism: producer.Plain, Username: r.user, Password: r.password}}, "unknown authority"},
		{"SASL_SSL/wrong-server-name", r.saslSSL, producer.Security{TLS: &producer.TLS{CAFile: r.caFile, ServerName: "kafka.example"}, SASL: &producer.SASL{Mechanism: producer.Plain, Username: r.user, Password: r.password}}, "not kafka.example"},
	}
	for _, tc := range failing {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := newSecured(t, tc.brokers, topic, tc.sec, 3*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	// Every record produced over a secured listener is on the topic, as
	// read through the plaintext one.
	got := map[string]bool{}
	for _, rec := range kc.ReadAll(t, topic, true) {
		got[string(rec.Key)] = true
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("record %q not on the topic", k)
		}
	}
	if len(got) != len(want) {
		t.Errorf("topic holds %d records, want %d", len(got), len(want))
	}
}

func TestOAuthBearerAgainstRealBroker(t *testing.T) {
	r := realSecured(t)
	if !r.ok {
		t.Skip("no real broker with an OAUTHBEARER listener (KAFKA_TEST_OAUTH_BROKERS); run under scripts/kafka-test.sh")
	}
	kc := kafkatest.New(t)
	topic := kc.Topic(t, 1, nil)
	const scope = "https://callstream-test.servicebus.windows.net/.default"

	t.Run("valid-token", func(t *testing.T) {
		cred := &fakeCredential{sub: "callstream", ttl: time.Hour}
		p, _, err := newSecured(t, r.oauth, topic, producer.Security{SASL: &producer.SASL{
			Mechanism: producer.OAuthBearer, Token: producer.AzureToken(cred, scope)}}, 20*time.Second)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		produceOne(t, p, "oauth")
		scopes := cred.askedScopes()
		if len(scopes) == 0 {
			t.Fatal("the credential was never asked for a token")
		}
		for _, s := range scopes {
			if s != scope {
				t.Fatalf("token asked for scope %q, want %q", s, scope)
			}
		}
		recs := kc.ReadAll(t, topic, true)
		if len(recs) != 1 || string(recs[0].Key) != "oauth" {
			t.Fatalf("topic holds %d records, want the one produced over OAUTHBEARER", len(recs))
		}
	})
	t.Run("expired-token", func(t *testing.T) {
		cred := &fakeCredential{sub: "callstream", ttl: -time.Hour}
		_, _, err := newSecured(t, r.oauth, topic, producer.Security{SASL: &producer.SASL{
			Mechanism: producer.OAuthBearer, Token: producer.AzureToken(cred, scope)}}, 3*time.Second)
		if err == nil || !strings.Contains(err.Error(), "invalid_token") {
			t.Fatalf("err %v, want the broker's invalid_token", err)
		}
	})
}

func TestTLSWithGeneratedCertificate(t *testing.T) {
	pki := newPKI(t)
	const topic = "rows"
	c := kafkatest.NewFake(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.serverTLS}, MinVersion: tls.VersionTLS12}), kfake.SeedTopics(1, topic))

	ok := []struct {
		name string
		tls  producer.TLS
	}{
		{"trusted-CA", producer.TLS{CAFile: pki.caFile}},
		{"server-name-override", producer.TLS{CAFile: pki.caFile, ServerName: "kafka.test"}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			p, lb, err := newSecured(t, c.Brokers, topic, producer.Security{TLS: &tc.tls}, 10*time.Second)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			produceOne(t, p, tc.name)
			if strings.Contains(lb.String(), "VERIFICATION IS OFF") {
				t.Fatal("warned about skipped verification while verifying")
			}
		})
	}
	bad := []struct {
		name string
		tls  producer.TLS
	}{
		{"system-roots", producer.TLS{}},
		{"wrong-server-name", producer.TLS{CAFile: pki.caFile, ServerName: "kafka.example"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := newSecured(t, c.Brokers, topic, producer.Security{TLS: &tc.tls}, 2*time.Second); err == nil {
				t.Fatal("connected to a server whose certificate should not verify")
			}
		})
	}
	t.Run("plaintext-to-TLS", func(t *testing.T) {
		if _, _, err := newSecured(t, c.Brokers, topic, producer.Security{}, 2*time.Second); err == nil {
			t.Fatal("a plaintext client connected to a TLS listener")
		}
	})
	t.Run("insecure-skip-verify-warns", func(t *testing.T) {
		p, lb, err := newSecured(t, c.Brokers, topic, producer.Security{TLS: &producer.TLS{InsecureSkipVerify: true}}, 10*time.Second)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		produceOne(t, p, "insecure")
		if !strings.Contains(lb.String(), "level=WARN") || !strings.Contains(lb.String(), "VERIFICATION IS OFF") {
			t.Fatalf("no loud warning about skipped verification; log:\n%s", lb)
		}
	})
}

func TestMutualTLS(t *testing.T) {
	pki := newPKI(t)
	certFile, keyFile := pki.issue(t, "client", x509.ExtKeyUsageClientAuth, nil, nil)
	const topic = "rows"
	c := kafkatest.NewFake(t, kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{pki.serverTLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.pool(),
		MinVersion:   tls.VersionTLS12,
	}), kfake.SeedTopics(1, topic))

	t.Run("with-client-certificate", func(t *testing.T) {
		p, _, err := newSecured(t, c.Brokers, topic, producer.Security{TLS: &producer.TLS{CAFile: pki.caFile, CertFile: certFile, KeyFile: keyFile}}, 10*time.Second)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		produceOne(t, p, "mtls")
	})
	t.Run("without-client-certificate", func(t *testing.T) {
		if _, _, err := newSecured(t, c.Brokers, topic, producer.Security{TLS: &producer.TLS{CAFile: pki.caFile}}, 2*time.Second); err == nil {
			t.Fatal("connected without the client certificate the server requires")
		}
	})
}

func TestTLSConfigErrorsNameTheFile(t *testing.T) {
	pki := newPKI(t)
	cases := []struct {
		name string
		tls  producer.TLS
		want string
	}{
		{"missing CA", producer.TLS{CAFile: pki.dir + "/nope.pem"}, "nope.pem"},
		{"CA not PEM", producer.TLS{CAFile: pki.dir + "/server.key"}, ""},
		{"cert without key", producer.TLS{CertFile: pki.caFile}, "both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.tls.Config()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
