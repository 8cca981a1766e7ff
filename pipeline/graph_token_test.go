package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/callstream/callstream/entrasim"
	"github.com/callstream/callstream/graphsim"
)

// TestTokenErrorIsOneLine: a credential Entra refuses is a configuration
// problem (exit 2) naming the mode's settings and Entra's code; an Entra
// that cannot be reached is a runtime failure (exit 1). Either is one line.
func TestTokenErrorIsOneLine(t *testing.T) {
	es, err := entrasim.New(entrasim.Config{TenantID: testTenant, Apps: []entrasim.App{{ClientID: testClient, Secret: "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	n := graphsim.NewNetwork()
	n.Handle("login.microsoftonline.com", es)
	cases := []struct {
		name       string
		secret     string
		transport  policy.Transporter
		wantConfig bool
		want       []string
	}{
		{"wrong secret", "not-pw", n, true, []string{"GRAPH_AUTH=secret", "AADSTS7000215", "AZURE_CLIENT_SECRET", "docs/graph-auth.md"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(context.Background(), withBrokers(map[string]string{"GRAPH_AUTH": "secret",
				"AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient, "AZURE_CLIENT_SECRET": tc.secret, "GRAPH_MAX_ATTEMPTS": "1"}))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Graph.Auth.Transport = tc.transport
			ts, err := tokenSource(cfg, discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			err = acquireToken(context.Background(), cfg, ts, discardLogger())
			var ce *ConfigError
			if err == nil || errors.As(err, &ce) != tc.wantConfig {
				t.Fatalf("error %v: configuration error %v, want %v", err, errors.As(err, &ce), tc.wantConfig)
			}
			msg := err.Error()
			if strings.Contains(msg, tc.secret) || strings.Count(msg, "\n") > 1 {
				t.Errorf("not one line, or the secret is in it:\n%s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %s", msg, w)
				}
			}
		})
	}

	// Entra unreachable: azidentity retries for long, so the error it ends
	// with is given directly.
	cfg, err := loadConfig(context.Background(), withBrokers(map[string]string{"GRAPH_AUTH": "secret",
		"AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient, "AZURE_CLIENT_SECRET": "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	err = tokenError(cfg, errors.New("ClientSecretCredential: unable to resolve an endpoint: server response error:\n dial tcp 20.190.1.1:443: connect: connection refused"))
	var ce *ConfigError
	if errors.As(err, &ce) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable Entra: %q; want a one-line runtime error with the cause", err)
	}
}
