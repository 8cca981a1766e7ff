package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/callstream/callstream/fetch"
)

// acquireToken gets a first Graph token before run writes anything to the
// cluster: without one no window can be read, and a topic created or a
// schema registered by a run that cannot read is a surprise to clean up.
// The error is one line naming the settings to fix; azidentity's full
// account of every credential it tried is logged at debug level.
func acquireToken(ctx context.Context, cfg Config, tokens fetch.TokenSource, log *slog.Logger) error {
	tctx, cancel := context.WithTimeout(ctx, cfg.Graph.RequestTimeout)
	defer cancel()
	_, err := tokens.Token(tctx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	log.Debug("graph token failed", "auth", string(authMode(cfg)), "error", err.Error())
	return tokenError(cfg, err)
}

// authMode is the GRAPH_AUTH run uses, the default resolved.
func authMode(cfg Config) fetch.AuthMode {
	switch {
	case cfg.Graph.Auth.Mode != "":
		return cfg.Graph.Auth.Mode
	case cfg.Graph.AccessToken != "":
		return fetch.AuthToken
	default:
		return fetch.AuthDefault
	}
}

// credentialSettings names the settings each GRAPH_AUTH mode needs.
var credentialSettings = map[fetch.AuthMode]string{
	fetch.AuthSecret:      "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
	fetch.AuthCertificate: "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH (and AZURE_CLIENT_CERTIFICATE_PASSWORD)",
	fetch.AuthWorkload:    "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE",
	fetch.AuthManaged:     "a managed identity on this host (AZURE_CLIENT_ID for a user-assigned one)",
	fetch.AuthToken:       "GRAPH_ACCESS_TOKEN",
}

var entraCode = regexp.MustCompile(`AADSTS\d+`)

// tokenError turns a failure to get a token into one line. A credential
// that cannot produce a token is a configuration problem (exit 2): none
// found by the default chain, or one Entra refuses. Entra unreachable or
// failing is a runtime failure (exit 1): the same settings may work in a
// minute.
func tokenError(cfg Config, err error) error {
	mode := authMode(cfg)
	const docs = "see docs/graph-auth.md"
	var afe *azidentity.AuthenticationFailedError
	refused := errors.As(err, &afe) && afe.RawResponse != nil &&
		afe.RawResponse.StatusCode >= 400 && afe.RawResponse.StatusCode < 500
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("graph token (GRAPH_AUTH=%s): no answer from %s within GRAPH_REQUEST_TIMEOUT (%s)",
			mode, cfg.Graph.Cloud.Authority.ActiveDirectoryAuthorityHost, cfg.Graph.RequestTimeout)
	case mode == fetch.AuthDefault:
		// The chain's own error lists every credential it tried, a dozen
		// lines whose gist is that none is configured here.
		return &ConfigError{Problems: []string{fmt.Sprintf("no Graph credential: set %s (GRAPH_AUTH=secret), or GRAPH_ACCESS_TOKEN (GRAPH_AUTH=token), "+
			"or run with a workload or managed identity; %s (LOG_LEVEL=debug shows each credential tried)", credentialSettings[fetch.AuthSecret], docs)}}
	case refused:
		why := afe.RawResponse.Status
		if code := entraCode.FindString(err.Error()); code != "" {
			why = code + ", " + why
		}
		return &ConfigError{Problems: []string{fmt.Sprintf("GRAPH_AUTH=%s: Entra refused the credential (%s): check %s; %s", mode, why, credentialSettings[mode], docs)}}
	default:
		// azcore's errors span lines (request, response, links): one line.
		return fmt.Errorf("graph token (GRAPH_AUTH=%s): %s", mode, strings.Join(strings.Fields(err.Error()), " "))
	}
}

// oneLine is err's text without ConfigError's heading, for check's lines.
func oneLine(err error) string {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return strings.Join(ce.Problems, "; ")
	}
	return err.Error()
}
