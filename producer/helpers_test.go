package producer_test

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
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/callstream/callstream/producer"
)

// testSchema is a minimal value schema: these tests are about connections,
// not rows.
var testSchema = producer.Schema{
	Name:        "callstream.test.Row",
	Text:        `{"type":"record","name":"Row","namespace":"callstream.test","fields":[{"name":"id","type":"string"}]}`,
	Fingerprint: "0000000000000000",
}

// realSecurity is the real broker's secured listeners, from the
// KAFKA_TEST_* variables that `scripts/kafka.sh up --sasl` prints (and
// scripts/kafka-test.sh exports). ok is false when they are not set.
type realSecurity struct {
	ok                       bool
	plain, saslSSL, oauth    []string
	user, password, caFile   string
	plaintextForVerification []string
}

func realSecured(t *testing.T) realSecurity {
	t.Helper()
	get := os.Getenv
	r := realSecurity{
		plain:                    splitNonEmpty(get("KAFKA_TEST_SASL_BROKERS")),
		saslSSL:                  splitNonEmpty(get("KAFKA_TEST_SASL_SSL_BROKERS")),
		oauth:                    splitNonEmpty(get("KAFKA_TEST_OAUTH_BROKERS")),
		user:                     get("KAFKA_TEST_SASL_USER"),
		password:                 get("KAFKA_TEST_SASL_PASSWORD"),
		caFile:                   get("KAFKA_TEST_CA_FILE"),
		plaintextForVerification: splitNonEmpty(get("KAFKA_TEST_BROKERS")),
	}
	r.ok = len(r.plain) > 0 && len(r.saslSSL) > 0 && len(r.oauth) > 0 && r.user != "" && r.caFile != ""
	if !r.ok && len(r.plaintextForVerification) > 0 {
		t.Log("KAFKA_TEST_BROKERS is set without the secured listeners: start the broker with scripts/kafka.sh up --sasl (scripts/kafka-test.sh does) to run the real-broker security cases")
	}
	return r
}

func splitNonEmpty(s string) []string {
	var out []string
	for _, p := range bytes.Split([]byte(s), []byte(",")) {
		if p = bytes.TrimSpace(p); len(p) > 0 {
			out = append(out, string(p))
		}
	}
	return out
}

// logBuffer is a concurrency-safe log sink for asserting on warnings.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo})), lb
}

// produceOne publishes one record through p and waits for the broker's
// acknowledgement, which proves the connection works end to end.
func produceOne(t *testing.T, p *producer.Producer, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := p.Begin("test", time.Unix(0, 0), time.Unix(3600, 0))
	if err != nil {
		t.Fatal(err)
	}
	v := p.ValueBuffer(len(id) + 1)
	v = append(v, byte(len(id)*2)) // Avro string: zig-zag length, then bytes
	v = append(v, id...)
	b.Add(ctx, []byte(id), v)
	if err := b.Wait(ctx); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// testPKI is a CA and certificates made for one test.
type testPKI struct {
	dir       string
	caFile    string
	ca        *x509.Certificate
	caKey     *ecdsa.PrivateKey
	serverTLS tls.Certificate
}

// newPKI makes a CA and a server certificate for 127.0.0.1 and
// kafka.test, written as PEM files under t.TempDir().
func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := mustKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "callstream test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &testPKI{dir: dir, ca: ca, caKey: caKey, caFile: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	certFile, keyFile := p.issue(t, "server", x509.ExtKeyUsageServerAuth, []string{"kafka.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.serverTLS, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// issue signs a certificate with the CA and returns its cert and key files.
func (p *testPKI) issue(t *testing.T, name string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) (certFile, keyFile string) {
	t.Helper()
	key := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func (p *testPKI) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fakeCredential is an azcore.TokenCredential the test controls: it
// records the scopes asked for and mints unsigned JWTs ("alg":"none"), which
// Kafka's unsecured-JWT OAUTHBEARER validator accepts.
type fakeCredential struct {
	mu     sync.Mutex
	scopes []string
	sub    string
	ttl    time.Duration
}

func (f *fakeCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.mu.Lock()
	f.scopes = append(f.scopes, opts.Scopes...)
	f.mu.Unlock()
	now := time.Now()
	exp := now.Add(f.ttl)
	return azcore.AccessToken{Token: unsecuredJWT(f.sub, now, exp), ExpiresOn: exp}, nil
}

func (f *fakeCredential) askedScopes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.scopes...)
}

func unsecuredJWT(sub string, iat, exp time.Time) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{"sub": sub, "iat": iat.Unix(), "exp": exp.Unix()})
	return enc.EncodeToString(header) + "." + enc.EncodeToString(claims) + "."
}
