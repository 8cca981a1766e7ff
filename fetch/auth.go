package fetch

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
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

// LookupCloud returns the named cloud, or an error that says why not.
func LookupCloud(name string) (Cloud, error) {
	if c, ok := Clouds[name]; ok {
		return c, nil
	}
	if name == "china" {
		return Cloud{}, fmt.Errorf("cloud %q: Graph does not offer getDirectRoutingCalls or getPstnCalls in the China (21Vianet) cloud", name)
	}
	names := make([]string, 0, len(Clouds))
	for n := range Clouds {
		names = append(names, n)
	}
	sort.Strings(names)
	return Cloud{}, fmt.Errorf("cloud %q: want one of %s", name, strings.Join(names, ", "))
}

// AzureTokens adapts an azidentity credential to a TokenSource. The azidentity
// credentials cache tokens and refresh them before they expire, so asking
// for one per request is cheap.
type AzureTokens struct {
	Cred  azcore.TokenCredential
	Scope string
}

// Token returns a bearer token for the configured scope.
func (a AzureTokens) Token(ctx context.Context) (string, error) {
	tok, err := a.Cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.Scope}})
	if err != nil {
		return "", err
	}
	return tok.Token, nil
}
