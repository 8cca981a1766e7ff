package fetch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// AuthMode selects how tokens for Graph are obtained.
type AuthMode string

// The authentication modes.
const (
	// AuthDefault uses azidentity's DefaultAzureCredential chain
	// (environment, workload identity, managed identity, Azure CLI,
	// Azure Developer CLI), which reads its settings from the process
	// environment itself.
	AuthDefault AuthMode = "default"
	// AuthSecret is an app registration with a client secret.
	AuthSecret AuthMode = "secret"
	// AuthCertificate is an app registration with a certificate (PEM or
	// PKCS#12), optionally sending its chain for subject-name/issuer
	// registrations.
	AuthCertificate AuthMode = "certificate"
	// AuthWorkload is workload identity federation: a token file the
	// platform keeps fresh (as on AKS) exchanged for an Entra token.
	AuthWorkload AuthMode = "workload"
	// AuthManaged is an Azure managed identity, system-assigned or, with a
	// client id, user-assigned.
	AuthManaged AuthMode = "managed"
	// AuthToken is a static bearer token, which cannot be refreshed.
	AuthToken AuthMode = "token"
)

// AuthModes lists the modes in the order the documentation gives them.
var AuthModes = []AuthMode{AuthDefault, AuthSecret, AuthCertificate, AuthWorkload, AuthManaged, AuthToken}

// Credentials says how to obtain Graph tokens. Mode decides which fields
// are used; the others are ignored. The secrets in it are never logged.
type Credentials struct {
	Mode AuthMode
	// TenantID is the directory (tenant) id. Required for secret,
	// certificate and workload; optional for default.
	TenantID string
	// ClientID is the application (client) id; for managed, the client id
	// of a user-assigned identity, or empty for the system-assigned one.
	ClientID string
	// ClientSecret is the secret of mode secret.
	ClientSecret string
	// Certificate is the PEM or PKCS#12 data of mode certificate, holding
	// the certificate and its unencrypted private key (PKCS#12 may be
	// password-protected).
	Certificate []byte
	// CertificatePassword decrypts a PKCS#12 Certificate.
	CertificatePassword string
	// SendCertificateChain sends the certificate chain (x5c) with each
	// token request, which subject-name/issuer registrations require.
	SendCertificateChain bool
	// FederatedTokenFile is the path of the federated token of mode
	// workload; it is re-read as the platform rotates it.
	FederatedTokenFile string
	// AccessToken is the bearer token of mode token.
	AccessToken string

	// Transport, when set, carries the token requests instead of the
	// default HTTP client: tests point it at a simulated Entra.
	Transport policy.Transporter
	// DisableInstanceDiscovery skips Entra's instance metadata lookup,
	// needed for authority hosts Entra does not list, such as a simulator
	// or Azure Stack.
	DisableInstanceDiscovery bool
}

// Validate reports every setting missing or out of place for the mode,
// naming the Credentials fields.
func (c Credentials) Validate() error {
	var errs []error
	need := func(ok bool, field string) {
		if !ok {
			errs = append(errs, fmt.Errorf("auth %s: %s is required", c.Mode, field))
		}
	}
	switch c.Mode {
	case AuthDefault, AuthManaged:
	case AuthSecret:
		need(c.TenantID != "", "TenantID")
		need(c.ClientID != "", "ClientID")
		need(c.ClientSecret != "", "ClientSecret")
	case AuthCertificate:
		need(c.TenantID != "", "TenantID")
		need(c.ClientID != "", "ClientID")
		need(len(c.Certificate) > 0, "Certificate")
	case AuthWorkload:
		need(c.TenantID != "", "TenantID")
		need(c.ClientID != "", "ClientID")
		need(c.FederatedTokenFile != "", "FederatedTokenFile")
	case AuthToken:
		need(strings.TrimSpace(c.AccessToken) != "", "AccessToken")
	default:
		errs = append(errs, fmt.Errorf("auth mode %q: want one of %s", c.Mode, joinModes()))
	}
	return errors.Join(errs...)
}

func joinModes() string {
	s := make([]string, len(AuthModes))
	for i, m := range AuthModes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// CheckCertificate reports whether data (PEM or PKCS#12) holds a
// certificate and a private key that password unlocks, so that a bad file
// is reported with the rest of the configuration.
func CheckCertificate(data []byte, password string) error {
	var pw []byte
	if password != "" {
		pw = []byte(password)
	}
	certs, key, err := azidentity.ParseCertificates(data, pw)
	if err != nil {
		return fmt.Errorf("parse certificate: %w", err)
	}
	if len(certs) == 0 || key == nil {
		return errors.New("parse certificate: no certificate with a private key")
	}
	return nil
}

// NewTokenSource builds the credential c describes against cl's Entra
// authority and returns a TokenSource for scope, the ".default" scope of
// the Graph host requests go to (see ScopeFor). Every mode but token
// returns a Refresher.
func NewTokenSource(c Credentials, cl Cloud, scope string) (TokenSource, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Mode == AuthToken {
		return StaticToken(strings.TrimSpace(c.AccessToken)), nil
	}
	if scope == "" {
		return nil, errors.New("auth: a scope is required")
	}
	opts := azcore.ClientOptions{Cloud: cl.Authority}
	if c.Transport != nil {
		opts.Transport = c.Transport
	}
	var cred azcore.TokenCredential
	var err error
	switch c.Mode {
	case AuthDefault:
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: opts, TenantID: c.TenantID, DisableInstanceDiscovery: c.DisableInstanceDiscovery,
		})
	case AuthSecret:
		cred, err = azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.ClientSecret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: opts, DisableInstanceDiscovery: c.DisableInstanceDiscovery,
		})
	case AuthCertificate:
		var pw []byte
		if c.CertificatePassword != "" {
			pw = []byte(c.CertificatePassword)
		}
		certs, key, perr := azidentity.ParseCertificates(c.Certificate, pw)
		if perr != nil {
			return nil, fmt.Errorf("auth certificate: parse certificate: %w", perr)
		}
		cred, err = azidentity.NewClientCertificateCredential(c.TenantID, c.ClientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions: opts, DisableInstanceDiscovery: c.DisableInstanceDiscovery, SendCertificateChain: c.SendCertificateChain,
		})
	case AuthWorkload:
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, TenantID: c.TenantID, ClientID: c.ClientID, TokenFilePath: c.FederatedTokenFile,
			DisableInstanceDiscovery: c.DisableInstanceDiscovery,
		})
	case AuthManaged:
		// A managed identity lives in one cloud and ignores the authority;
		// only the scope picks the national Graph.
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if c.ClientID != "" {
			mo.ID = azidentity.ClientID(c.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(mo)
	}
	if err != nil {
		return nil, fmt.Errorf("auth %s: %w", c.Mode, err)
	}
	tokens := NewAzureTokens(cred, scope)
	tokens.tenant = c.TenantID
	return tokens, nil
}
