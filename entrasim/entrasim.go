// Package entrasim is an in-process simulator of the Microsoft Entra ID
// endpoints callstream's credentials talk to, so that every credential mode
// is tested through the real azidentity code rather than a stub of it.
//
// It serves one tenant (Config.TenantID) or many (Config.Tenants,
// AddTenant), each at its own authority path, as a multi-tenant app's
// customers are:
//
//   - GET /{tenant}/v2.0/.well-known/openid-configuration, the discovery
//     document MSAL reads to find the token endpoint;
//   - POST /{tenant}/oauth2/v2.0/token, the client-credentials grant with a
//     client secret, a certificate-signed client assertion (PS256, checked
//     against the registered certificate, its x5t#S256 thumbprint and, for
//     subject-name/issuer apps, its x5c chain) or a federated token as used
//     by workload identity;
//   - GET /msi/token, the App Service managed-identity endpoint
//     (api-version 2019-08-01, X-IDENTITY-HEADER, optional client_id of a
//     user-assigned identity).
//
// Requests are refused the way Entra refuses them (AADSTS codes in an OAuth
// error body): an unknown tenant with AADSTS90002, and a tenant where an
// app has no service principal — it was never consented there, or the
// consent was withdrawn (SetConsent) — with AADSTS7000229. Each token it issues is reported to Config.OnIssue, which a
// test wires to graphsim.Server.AcceptToken so that the simulated Graph
// accepts exactly the tokens Entra issued, for the audience they were issued
// for and until they expire.
//
// azidentity insists on https authority hosts: serve it with
// httptest.NewTLSServer and hand the server's client transport to the
// credential, or through graphsim.Network at a real cloud's hostname.
package entrasim

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultLifetime is the validity of an issued token when Config.Lifetime
// is zero; Entra's app-only tokens usually live between 60 and 90 minutes.
const DefaultLifetime = time.Hour

// ManagedIdentityPath is where the App Service managed-identity endpoint is
// served; IDENTITY_ENDPOINT points at it.
const ManagedIdentityPath = "/msi/token"

// Grant names how a token was obtained.
type Grant string

// The grants entrasim serves.
const (
	GrantSecret      Grant = "client_secret"
	GrantCertificate Grant = "certificate"
	GrantFederated   Grant = "federated"
	GrantManaged     Grant = "managed_identity"
)

// App is an application registration.
type App struct {
	// ClientID is the application (client) id.
	ClientID string
	// Secret, when set, is accepted as client_secret.
	Secret string
	// Certificate, when set, is the registered certificate whose key must
	// sign client assertions.
	Certificate *x509.Certificate
	// RequireChain makes the app a subject-name/issuer (SN/I) registration:
	// its assertions must carry the certificate in the x5c header, which
	// azidentity sends only with SendCertificateChain.
	RequireChain bool
	// FederatedToken, when set, is the one federated credential accepted as
	// client_assertion, as a workload-identity trust accepts the
	// Kubernetes service-account token.
	FederatedToken string
}

// ManagedIdentity configures the managed-identity endpoint; with Header
// empty the endpoint is not served.
type ManagedIdentity struct {
	// Header is the secret the platform puts in IDENTITY_HEADER; requests
	// must send it as X-IDENTITY-HEADER.
	Header string
	// SystemClientID is the client id of the system-assigned identity.
	SystemClientID string
	// UserClientIDs are the user-assigned identities attached.
	UserClientIDs []string
}

// Config configures a Server.
type Config struct {
	// TenantID is the directory (tenant) id served; required unless
	// Tenants is set. It is also the tenant of managed-identity tokens.
	TenantID string
	// Tenants are further directories served besides TenantID, for a
	// multi-tenant app read in its customers' tenants.
	Tenants []string
	// Apps are the application registrations. Each is a multi-tenant app
	// with a service principal (consent) in every served tenant until
	// SetConsent withdraws it.
	Apps []App
	// Managed configures the managed-identity endpoint.
	Managed ManagedIdentity
	// Lifetime is how long issued tokens are valid; DefaultLifetime if zero.
	Lifetime time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// OnIssue, when set, is called with every token issued, before the
	// response is sent.
	OnIssue func(Token)
}

// Token is an issued access token.
type Token struct {
	// Value is the opaque bearer token.
	Value string
	// ClientID is who it was issued to.
	ClientID string
	// Audience is the resource it was issued for, such as
	// https://graph.microsoft.com.
	Audience string
	// Tenant is the directory it was issued in, spelled as configured.
	Tenant string
	// Grant is how it was obtained.
	Grant Grant
	// Claims is the claims request sent with it, if any: azidentity sends
	// one to bypass its cache or to answer a claims challenge.
	Claims string
	// IssuedAt and ExpiresAt bound its validity.
	IssuedAt, ExpiresAt time.Time
}

// Stats counts requests by outcome.
type Stats struct {
	// Discovery counts OpenID configuration requests.
	Discovery int
	// TokenRequests counts requests to the token and managed-identity
	// endpoints; Issued and Refused split them.
	TokenRequests, Issued, Refused int
	// Refusals lists the error code of each refused request in order, such
	// as "AADSTS7000215".
	Refusals []string
}

// Server is a simulated Entra tenant. It is safe for concurrent use.
type Server struct {
	cfg  Config
	apps map[string]App
	now  func() time.Time

	mu sync.Mutex
	// tenants maps a lower-cased tenant id to its configured spelling.
	tenants map[string]string
	// unconsented holds the (tenant, app) pairs without a service
	// principal, by consentKey.
	unconsented map[string]bool
	issued      []Token
	stats       Stats
}

// New validates cfg and returns a Server, reporting every problem at once.
func New(cfg Config) (*Server, error) {
	var errs []error
	if cfg.TenantID == "" && len(cfg.Tenants) == 0 {
		errs = append(errs, errors.New("entrasim: TenantID is required"))
	}
	tenants := make(map[string]string, len(cfg.Tenants)+1)
	for i, id := range append([]string{cfg.TenantID}, cfg.Tenants...) {
		switch {
		case id == "" && i == 0:
		case !validTenant(id) && i == 0:
			errs = append(errs, fmt.Errorf("entrasim: TenantID %q is not a usable tenant id", id))
		case !validTenant(id):
			errs = append(errs, fmt.Errorf("entrasim: Tenants[%d]: %q is not a usable tenant id", i-1, id))
		default:
			tenants[strings.ToLower(id)] = id
		}
	}
	if cfg.TenantID == "" && len(cfg.Tenants) > 0 {
		cfg.TenantID = cfg.Tenants[0]
	}
	if cfg.Lifetime < 0 {
		errs = append(errs, errors.New("entrasim: Lifetime must not be negative"))
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = DefaultLifetime
	}
	apps := make(map[string]App, len(cfg.Apps))
	for i, a := range cfg.Apps {
		switch {
		case a.ClientID == "":
			errs = append(errs, fmt.Errorf("entrasim: Apps[%d]: ClientID is required", i))
		case a.Secret == "" && a.Certificate == nil && a.FederatedToken == "":
			errs = append(errs, fmt.Errorf("entrasim: Apps[%d]: no secret, certificate or federated token", i))
		case a.RequireChain && a.Certificate == nil:
			errs = append(errs, fmt.Errorf("entrasim: Apps[%d]: RequireChain needs a Certificate", i))
		}
		if _, dup := apps[strings.ToLower(a.ClientID)]; dup {
			errs = append(errs, fmt.Errorf("entrasim: Apps[%d]: client id %s registered twice", i, a.ClientID))
		}
		apps[strings.ToLower(a.ClientID)] = a
	}
	if cfg.Managed.Header != "" && cfg.Managed.SystemClientID == "" {
		errs = append(errs, errors.New("entrasim: Managed.SystemClientID is required with Managed.Header"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg.Tenants = append([]string(nil), cfg.Tenants...)
	s := &Server{cfg: cfg, apps: apps, now: cfg.Now, tenants: tenants, unconsented: map[string]bool{}}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// validTenant accepts what can be one path segment of an authority URL.
func validTenant(id string) bool {
	return id != "" && !strings.ContainsAny(id, "/?#%") && strings.TrimSpace(id) == id
}

// AddTenant starts serving tenant id, with every app consented in it; a
// tenant already served is left as it is.
func (s *Server) AddTenant(id string) error {
	if !validTenant(id) {
		return fmt.Errorf("entrasim: %q is not a usable tenant id", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[strings.ToLower(id)]; !ok {
		s.tenants[strings.ToLower(id)] = id
	}
	return nil
}

// Tenants returns the served tenant ids, as configured, in no particular
// order.
func (s *Server) Tenants() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tenants))
	for _, id := range s.tenants {
		out = append(out, id)
	}
	return out
}

// SetConsent grants or withdraws the consent of app clientID in tenant: a
// tenant without it has no service principal for the app, and Entra
// answers the app's token requests there with AADSTS7000229. Tokens
// already issued stay valid — Entra does not recall them; the resource
// (graphsim's Deny) is what refuses them. Consent is granted everywhere
// by default.
func (s *Server) SetConsent(tenant, clientID string, granted bool) {
	k := consentKey(tenant, clientID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if granted {
		delete(s.unconsented, k)
	} else {
		s.unconsented[k] = true
	}
}

func consentKey(tenant, clientID string) string {
	return strings.ToLower(tenant) + "\x00" + strings.ToLower(clientID)
}

// tenant returns the configured spelling of the served tenant id, or false
// when id is not served.
func (s *Server) tenant(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[strings.ToLower(id)]
	return t, ok
}

// consented reports whether app clientID has a service principal in tenant.
func (s *Server) consented(tenant, clientID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.unconsented[consentKey(tenant, clientID)]
}

// Issued returns every token issued so far, in order.
func (s *Server) Issued() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Token(nil), s.issued...)
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Refusals = append([]string(nil), s.stats.Refusals...)
	return st
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == ManagedIdentityPath {
		s.serveManaged(w, r)
		return
	}
	tenant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case rest == "v2.0/.well-known/openid-configuration" && r.Method == http.MethodGet:
		s.serveDiscovery(w, r, tenant)
	case rest == "oauth2/v2.0/token" && r.Method == http.MethodPost:
		s.serveToken(w, r, tenant)
	default:
		http.NotFound(w, r)
	}
}

// base is the scheme and host the client called, which the discovery
// document must repeat: MSAL checks that the issuer matches the authority.
func base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// issue records a new token and reports it.
func (s *Server) issue(tenant, clientID, audience string, grant Grant, claims string) Token {
	now := s.now()
	var b [16]byte
	_, _ = rand.Read(b[:])
	t := Token{
		Value:    "entrasim." + hex.EncodeToString(b[:]),
		ClientID: clientID, Audience: audience, Tenant: tenant, Grant: grant, Claims: claims,
		IssuedAt: now, ExpiresAt: now.Add(s.cfg.Lifetime),
	}
	s.mu.Lock()
	s.issued = append(s.issued, t)
	s.stats.TokenRequests++
	s.stats.Issued++
	s.mu.Unlock()
	if s.cfg.OnIssue != nil {
		s.cfg.OnIssue(t)
	}
	return t
}

func (s *Server) refused(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TokenRequests++
	s.stats.Refused++
	s.stats.Refusals = append(s.stats.Refusals, code)
}
