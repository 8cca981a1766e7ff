package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/tenants"
)

// tenantRun is one tenant as a multi-tenant run serves it: its Graph
// client (its own token cache and request budget, since Graph's limits are
// per tenant) and whether it is up. Its lanes share them.
type tenantRun struct {
	t   tenants.Tenant
	fc  *fetch.Client
	log *slog.Logger

	mu sync.Mutex
	// down is why the tenant cannot be read (consent missing or revoked),
	// empty while it is up; kind is the cause's stable part (an error
	// code), whose change is logged once.
	down, kind string
	since      time.Time
}

// newTenantRun builds t's Graph client: its credential
// (Config.TenantCredentials: the run's, with t's overrides) against t's own
// authority, never a shared one, and its own budget.
func newTenantRun(cfg Config, t tenants.Tenant, httpc *http.Client, observe func(fetch.Attempt), log *slog.Logger) (*tenantRun, error) {
	creds, err := cfg.TenantCredentials(t)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	ts, err := fetch.NewTokenSource(creds, cfg.Graph.Cloud, fetch.ScopeFor(cfg.Graph.BaseURL))
	if err != nil {
		return nil, fmt.Errorf("tenant %s: graph credential (GRAPH_AUTH=%s): %w", t.ID, creds.Mode, err)
	}
	tlog := log.With("tenant", t.ID)
	budget, err := graphBudget(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	fc, err := fetch.New(fetch.Config{
		BaseURL:      cfg.Graph.BaseURL,
		APIVersion:   cfg.Graph.APIVersion,
		Tokens:       ts,
		Budget:       budget,
		MaxAttempts:  cfg.Graph.MaxAttempts,
		Logger:       tlog,
		Observe:      observe,
		MaxPageBytes: cfg.Graph.MaxPageBytes,
		MaxPages:     cfg.Graph.MaxPages,
		HTTPClient:   httpc,
		Tenant:       t.ID,
	})
	if err != nil {
		return nil, err
	}
	return &tenantRun{t: t, fc: fc, log: tlog}, nil
}

// setDown records that the tenant cannot be read, and why; it is logged
// when the kind of cause changes, not on every retry (whose messages
// differ by request id).
func (r *tenantRun) setDown(now time.Time, kind, why string) {
	r.mu.Lock()
	changed := r.kind != kind
	if r.down == "" {
		r.since = now
	}
	r.down, r.kind = why, kind
	r.mu.Unlock()
	if changed {
		r.log.Error("tenant down: its lanes wait and retry; the other tenants carry on", "reason", why)
	}
}

// setUp records that a read of the tenant that began at began succeeded.
// A read that began before the tenant went down proves nothing about now
// (another lane's, in flight when consent was revoked).
func (r *tenantRun) setUp(now, began time.Time) {
	r.mu.Lock()
	if r.down != "" && began.Before(r.since) {
		r.mu.Unlock()
		return
	}
	was := r.down
	r.down, r.kind, r.since = "", "", now
	r.mu.Unlock()
	if was != "" {
		r.log.Info("tenant up again", "was", was)
	}
}

// state is the tenant's current state: the reason it is down, empty when up.
func (r *tenantRun) state() (down string, since time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.down, r.since
}

// tenantTrouble says why err keeps the tenant from being read, when it is
// the tenant's doing (consent missing or revoked, a credential Entra
// refuses) rather than a window's: kind is the cause's code, why the
// message; both "" otherwise.
func tenantTrouble(err error) (kind, why string) {
	var ce *fetch.ConsentError
	if errors.As(err, &ce) {
		return ce.Code, ce.Error()
	}
	var te *fetch.TokenError
	if errors.As(err, &te) {
		why = oneLineErr(te)
		return "token " + entraCode.FindString(why), why
	}
	return "", ""
}

// oneLineErr is err's text on one line: azcore's errors span lines.
func oneLineErr(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// sleepCtx waits d or until ctx ends, and reports whether it waited out d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
