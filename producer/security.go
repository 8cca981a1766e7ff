package producer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Security is how the client authenticates and encrypts its connections to
// the brokers. The zero value is plaintext without authentication, which is
// what a local development broker speaks.
type Security struct {
	// TLS, when non-nil, encrypts every broker connection.
	TLS *TLS
	// SASL, when non-nil, authenticates every broker connection (over TLS
	// when TLS is set: SASL_SSL; otherwise SASL_PLAINTEXT).
	SASL *SASL
}

// TLS configures a TLS client: which servers to trust and, for clusters
// that authenticate clients by certificate, which certificate to present.
// The zero value trusts the system's roots and presents no certificate.
type TLS struct {
	// CAFile is a PEM file of certificate authorities to trust instead of
	// the system roots, for clusters with a private CA.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate (chain) and its
	// private key, for mutual TLS. Both or neither.
	CertFile, KeyFile string
	// ServerName is the name the server certificate must carry, when it
	// differs from the host dialed (e.g. brokers reached through an IP
	// address or a tunnel). Empty means the host dialed.
	ServerName string
	// InsecureSkipVerify accepts any server certificate. It makes TLS
	// useless against an active attacker and exists only for throwaway
	// test clusters; the producer logs a warning whenever it is set.
	InsecureSkipVerify bool
}

// Config loads the files and returns the crypto/tls configuration. Errors
// name the file at fault, so configuration checks can report them.
func (t *TLS) Config() (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // an explicit, loudly logged opt-in
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("a client certificate needs both a certificate file and a key file")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Mechanism names a SASL mechanism as Kafka spells it.
type Mechanism string

// The SASL mechanisms the producer speaks.
const (
	Plain       Mechanism = "PLAIN"
	ScramSHA256 Mechanism = "SCRAM-SHA-256"
	ScramSHA512 Mechanism = "SCRAM-SHA-512"
	OAuthBearer Mechanism = "OAUTHBEARER"
)

// Mechanisms lists the supported SASL mechanisms, for help texts.
var Mechanisms = []Mechanism{Plain, ScramSHA256, ScramSHA512, OAuthBearer}

// ParseMechanism accepts a mechanism name in any case.
func ParseMechanism(s string) (Mechanism, error) {
	for _, m := range Mechanisms {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown SASL mechanism %q", s)
}

// SASL configures SASL authentication.
type SASL struct {
	Mechanism Mechanism
	// Username and Password are the credentials for PLAIN and SCRAM.
	Username, Password string
	// Token returns the bearer token for OAUTHBEARER. It is called for
	// every new connection and every re-authentication (KIP-368), so it
	// should return a token valid for a while yet; see [AzureToken].
	Token TokenFunc
}

// TokenFunc returns an OAuth 2 access token (a JWT) for OAUTHBEARER.
type TokenFunc func(ctx context.Context) (string, error)

// AzureToken returns a TokenFunc that asks an Entra ID credential (from
// azidentity: workload identity, managed identity, a client secret or
// certificate ...) for a token for scope, e.g.
// https://<namespace>.servicebus.windows.net/.default for Event Hubs.
// azidentity caches tokens and refreshes them before they expire.
func AzureToken(cred azcore.TokenCredential, scope string) TokenFunc {
	return func(ctx context.Context) (string, error) {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
		if err != nil {
			return "", fmt.Errorf("token for %s: %w", scope, err)
		}
		return tok.Token, nil
	}
}

func (s *SASL) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case Plain:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case ScramSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case ScramSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	case OAuthBearer:
		if s.Token == nil {
			return nil, errors.New("OAUTHBEARER needs a token source")
		}
		token := s.Token
		return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
			t, err := token(ctx)
			if err != nil {
				return oauth.Auth{}, err
			}
			return oauth.Auth{Token: t}, nil
		}), nil
	default:
		return nil, fmt.Errorf("unknown SASL mechanism %q", s.Mechanism)
	}
}

// opts turns the settings into client options. It warns on log about
// settings that weaken security.
func (s Security) opts(log *slog.Logger) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s.TLS != nil {
		tc, err := s.TLS.Config()
		if err != nil {
			return nil, fmt.Errorf("kafka tls: %w", err)
		}
		if s.TLS.InsecureSkipVerify {
			log.Warn("KAFKA TLS CERTIFICATE VERIFICATION IS OFF: any server can pose as the brokers and read every record and credential; use only against a throwaway test cluster")
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s.SASL != nil {
		m, err := s.SASL.mechanism()
		if err != nil {
			return nil, fmt.Errorf("kafka sasl: %w", err)
		}
		if s.TLS == nil && s.SASL.Mechanism == Plain {
			log.Warn("SASL PLAIN without TLS sends the password in clear text")
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}
