package fetch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/callstream/callstream/sources"
)

// Cloud is a Graph national cloud: the three settings that must agree for a
// token to be accepted — the Entra authority, the Graph root and the scope.
type Cloud struct {
	Name string
	// Authority is the azcore cloud configuration for credentials.
	Authority cloud.Configuration
	// GraphURL is the Graph root without a version.
	GraphURL string
}

// Scope is the app-only token scope for c's Graph host.
func (c Cloud) Scope() string { return ScopeFor(c.GraphURL) }

// ScopeFor returns the ".default" scope of a Graph root URL.
func ScopeFor(graphURL string) string {
	return strings.TrimRight(graphURL, "/") + "/.default"
}

// Clouds lists the clouds where the call-log functions are offered. China
// (21Vianet) is absent on purpose: Graph does not offer them there.
var Clouds = map[string]Cloud{
	"global": {Name: "global", Authority: cloud.AzurePublic, GraphURL: "https://graph.microsoft.com"},
	"usgov":  {Name: "usgov", Authority: cloud.AzureGovernment, GraphURL: "https://graph.microsoft.us"},
	"dod":    {Name: "dod", Authority: cloud.AzureGovernment, GraphURL: "https://dod-graph.microsoft.us"},
}

// functionList names every registered Graph function, "a, b or c".
func functionList() string {
	var fns []string
	for _, s := range sources.All() {
		fns = append(fns, s.Function)
	}
	if len(fns) < 2 {
		return strings.Join(fns, "")
	}
	return strings.Join(fns[:len(fns)-1], ", ") + " or " + fns[len(fns)-1]
}

// LookupCloud returns the named cloud, or an error that says why not.
func LookupCloud(name string) (Cloud, error) {
	if c, ok := Clouds[name]; ok {
		return c, nil
	}
	if name == "china" {
		return Cloud{}, fmt.Errorf("cloud %q: Graph does not offer %s in the China (21Vianet) cloud", name, functionList())
	}
	names := make([]string, 0, len(Clouds))
	for n := range Clouds {
		names = append(names, n)
	}
	sort.Strings(names)
	return Cloud{}, fmt.Errorf("cloud %q: want one of %s", name, strings.Join(names, ", "))
}

// AzureTokens adapts an azidentity credential to a Refresher. The
// credentials cache tokens and renew them before they expire, so asking for
// one per request is cheap; Refresh goes around that cache when Graph
// refuses a token the cache still considers good.
type AzureTokens struct {
	cred  azcore.TokenCredential
	scope string
	// tenant names the tenant in a *ConsentError; "" when unknown.
	tenant string

	// mu serialises refreshes so that goroutines refused together share
	// one new token. rejected is the last token Graph refused and fresh its
	// replacement.
	mu              sync.Mutex
	rejected, fresh string
}

var _ Refresher = (*AzureTokens)(nil)

// NewAzureTokens returns a TokenSource asking cred for tokens for scope,
// such as https://graph.microsoft.com/.default.
func NewAzureTokens(cred azcore.TokenCredential, scope string) *AzureTokens {
	return &AzureTokens{cred: cred, scope: scope}
}

// Token returns a bearer token for the configured scope. Entra's refusal
// for want of consent comes back as a *ConsentError.
func (a *AzureTokens) Token(ctx context.Context) (string, error) {
	tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.scope}})
	if err != nil {
		return "", consentOf(a.tenant, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if tok.Token == a.rejected && a.fresh != "" {
		// The credential's cache may still hold the refused token.
		return a.fresh, nil
	}
	return tok.Token, nil
}

// Refresh asks the credential for a token issued after Graph refused
// rejected. The request carries a claims challenge — Graph's own when it
// sent one (continuous access evaluation), otherwise one asking for a token
// not valid before now — because a claims request is the one way
// azidentity offers to bypass its token cache, for every credential type.
func (a *AzureTokens) Refresh(ctx context.Context, rejected, claims string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if rejected == a.rejected && a.fresh != "" {
		return a.fresh, nil
	}
	if claims == "" {
		claims = notBeforeClaims(time.Now())
	}
	tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.scope}, Claims: claims})
	if err != nil {
		return "", consentOf(a.tenant, err)
	}
	if tok.Token == rejected {
		return "", errors.New("the credential returned the refused token again")
	}
	a.rejected, a.fresh = rejected, tok.Token
	return tok.Token, nil
}

// notBeforeClaims is the claims request continuous access evaluation uses
// after a revocation: an access token not valid before t.
func notBeforeClaims(t time.Time) string {
	return `{"access_token":{"nbf":{"essential":true,"value":"` + strconv.FormatInt(t.Unix(), 10) + `"}}}`
}
