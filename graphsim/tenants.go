package graphsim

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// TenantsConfig configures a Tenants front.
type TenantsConfig struct {
	// Base configures every tenant's data set, with two changes per
	// tenant: Seed is mixed with the tenant id (TenantSeed), so that the
	// tenants' rows differ yet each is reproducible, and Token is replaced
	// by a random value no client knows, since a tenant's data is read
	// only with the tokens its Entra tenant issued (AcceptToken).
	// Everything else — clock, density, limits, faults, latency — is the
	// same for all; Limits are counted per tenant, as Graph's are.
	Base Config
}

// Tenants is Microsoft Graph as the many customer tenants of one
// multi-tenant app see it: each request is served from the data set of the
// tenant its bearer token was issued in, and from no other, so that a
// token of tenant A never reads tenant B's rows. Each tenant has its own
// Server, made on first use; a Server holds no rows (see the package
// comment), and the tenants share one directory of users (so the user ids
// and names in rows repeat across tenants while row ids, correlation ids
// and times differ), so a thousand tenants cost a few megabytes. It is
// safe for concurrent use.
type Tenants struct {
	base Config
	// people is the directory of users every tenant's rows name.
	people *Server

	mu      sync.Mutex
	servers map[string]*Server // by lower-cased tenant id
	ids     map[string]string  // lower-cased tenant id -> id as first seen
	tokens  map[string]string  // token -> lower-cased tenant id
	refused int
}

// NewTenants validates cfg.Base and returns a front with no tenants yet.
func NewTenants(cfg TenantsConfig) (*Tenants, error) {
	base := cfg.Base
	if base.Token == "" {
		// Replaced per tenant; only here so that New can check the rest.
		base.Token = "unused"
	}
	people, err := New(base)
	if err != nil {
		return nil, err
	}
	return &Tenants{
		base:    cfg.Base,
		people:  people,
		servers: map[string]*Server{},
		ids:     map[string]string{},
		tokens:  map[string]string{},
	}, nil
}

// TenantSeed is the seed of tenant's data set in a Tenants front whose
// Base.Seed is base. Tenant ids match case-insensitively, as Entra's do.
func TenantSeed(base int64, tenant string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(strings.ToLower(tenant)))
	return base ^ int64(mix64(h.Sum64()))
}

// Tenant returns tenant's Server, making it on first use: its ground truth
// (Rows, PstnRows, Count …) is what a client reading that tenant must
// see, and its Stats count that tenant's requests.
func (f *Tenants) Tenant(tenant string) *Server {
	k := strings.ToLower(tenant)
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.servers[k]; ok {
		return s
	}
	cfg := f.base
	cfg.Seed = TenantSeed(f.base.Seed, tenant)
	var b [16]byte
	_, _ = rand.Read(b[:])
	cfg.Token = "graphsim-tenant-" + hex.EncodeToString(b[:])
	s, err := newServer(cfg, f.people)
	if err != nil {
		// NewTenants built a Server from the same configuration.
		panic(fmt.Sprintf("graphsim: tenant %s: %v", tenant, err))
	}
	f.servers[k] = s
	f.ids[k] = tenant
	return s
}

// Tenants returns the ids of the tenants made so far, sorted.
func (f *Tenants) Tenants() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.ids))
	for _, id := range f.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// ErrNoTenant is returned by AcceptToken for a token that names no tenant.
var ErrNoTenant = errors.New("graphsim: the token names no tenant")

// AcceptToken makes info.Tenant's data set readable with token, as Graph
// accepts any token Entra issued in that tenant. Wire a simulated Entra's
// issuing hook to it.
func (f *Tenants) AcceptToken(token string, info TokenInfo) error {
	if info.Tenant == "" {
		return ErrNoTenant
	}
	s := f.Tenant(info.Tenant)
	s.AcceptToken(token, info)
	f.mu.Lock()
	f.tokens[token] = strings.ToLower(info.Tenant)
	f.mu.Unlock()
	return nil
}

// Deny makes tenant's data set answer every validly authenticated request
// with 403 Authorization_RequestDenied, as Graph does once the tenant's
// admin withdraws the app's consent, or lifts that again. See
// Server.SetDenied.
func (f *Tenants) Deny(tenant string, denied bool) {
	f.Tenant(tenant).SetDenied(denied)
}

// Refused returns how many requests were refused because their token was
// issued in no tenant the front knows (or was no bearer token at all).
func (f *Tenants) Refused() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

// ServeHTTP implements http.Handler: it hands the request to the Server of
// its token's tenant, which checks the token again (expiry, revocation,
// audience), throttles, and serves the page.
func (f *Tenants) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	f.mu.Lock()
	k, ok := f.tokens[token]
	s := f.servers[k]
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		f.refused++
	}
	f.mu.Unlock()
	if ok && strings.EqualFold(scheme, "Bearer") {
		s.ServeHTTP(w, r)
		return
	}
	// No tenant to count it in: answer as any Server answers a token it
	// does not know.
	now := f.base.Now
	if now == nil {
		now = time.Now
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := string(appendUUID(nil, uuidBits{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:]), 4}))
	ids := requestIDs{request: id, client: r.Header.Get("client-request-id")}
	if ids.client == "" {
		ids.client = id
	}
	hdr := w.Header()
	hdr.Set("request-id", ids.request)
	hdr.Set("client-request-id", ids.client)
	msg := "Access token validation failure. Invalid audience."
	if r.Header.Get("Authorization") == "" {
		msg = "Access token is empty."
	}
	ge := unauthorized(hdr, msg, "")
	body := appendGraphError(nil, ge.code, ge.msg, "", now(), ids)
	hdr.Set("Content-Type", ErrorContentType)
	w.WriteHeader(ge.status)
	_, _ = w.Write(body)
}

// Requests returns how many requests the tenants' data sets have answered
// together (each Server's Stats.Requests).
func (f *Tenants) Requests() int {
	f.mu.Lock()
	servers := make([]*Server, 0, len(f.servers))
	for _, s := range f.servers {
		servers = append(servers, s)
	}
	f.mu.Unlock()
	n := 0
	for _, s := range servers {
		n += s.Stats().Requests
	}
	return n
}
