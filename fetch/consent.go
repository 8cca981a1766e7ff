package fetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// The codes of a ConsentError: Entra's refusals of a tenant that never
// consented to the app or withdrew its consent, and Graph's refusals of a
// token that Entra did issue.
const (
	// ConsentNoServicePrincipal: the app has no service principal in the
	// tenant — nobody consented to it there.
	ConsentNoServicePrincipal = "AADSTS7000229"
	// ConsentAppNotFound: the tenant does not know the app at all (never
	// consented, or a wrong client id or tenant).
	ConsentAppNotFound = "AADSTS700016"
	// ConsentNotGranted: consent was not granted, or was revoked.
	ConsentNotGranted = "AADSTS65001"
	// ConsentGraph401: Graph refused a token fetched fresh for the request.
	ConsentGraph401 = "HTTP 401"
	// ConsentGraph403: Graph refused access (Authorization_RequestDenied):
	// the app lacks the application permission in the tenant.
	ConsentGraph403 = "HTTP 403"
)

// ConsentError says that a tenant does not let the app read it: its admin
// consent is missing or revoked. Only an administrator of the tenant can
// fix it, so it is permanent for a walk — retrying within the window
// cannot help — and a run reading many tenants sets that tenant aside and
// tries it again after a long pause (TENANT_RETRY_INTERVAL), while the
// others go on. It wraps the refusal (for a token, inside a *TokenError),
// whose text never holds a token.
type ConsentError struct {
	// Tenant is the tenant refused, when the credential or Config names
	// it; "" otherwise.
	Tenant string
	// Code is one of the Consent* constants.
	Code string
	// Err is Entra's or Graph's refusal.
	Err error
}

func (e *ConsentError) Error() string {
	tenant := "the tenant"
	if e.Tenant != "" {
		tenant = "tenant " + e.Tenant
	}
	var what string
	switch e.Code {
	case ConsentNoServicePrincipal:
		what = "the app has no service principal in " + tenant + ": an administrator of " + tenant + " must grant admin consent for the app"
	case ConsentAppNotFound:
		what = "the app is not found in " + tenant + ": an administrator of " + tenant + " must grant admin consent for the app (or AZURE_CLIENT_ID or the tenant id is wrong)"
	case ConsentNotGranted:
		what = "admin consent for the app is missing or was revoked in " + tenant + ": an administrator of " + tenant + " must grant admin consent for the app"
	case ConsentGraph401:
		what = "graph refused a freshly issued token for " + tenant + ": grant admin consent for the app in " + tenant
	case ConsentGraph403:
		what = "graph denied the app access to " + tenant + ": grant admin consent for the app's application permission (CallRecords.Read.All) in " + tenant
	default:
		what = "the app may not read " + tenant + ": grant admin consent for the app in " + tenant
	}
	msg := what + " (" + e.Code + ")"
	if detail := e.detail(); detail != "" {
		msg += ": " + detail
	}
	return msg
}

// detail is one line of the refusal: Entra's description (azidentity's
// own text spans a dozen lines of request and response), or the Graph
// error as fetch words it.
func (e *ConsentError) detail() string {
	if e.Err == nil {
		return ""
	}
	if d := entraDescription(e.Err); d != "" {
		return d
	}
	return strings.Join(strings.Fields(e.Err.Error()), " ")
}

// Unwrap returns the refusal.
func (e *ConsentError) Unwrap() error { return e.Err }

// IsConsent reports whether err says a tenant's consent is missing or
// revoked (a *ConsentError anywhere in its chain).
func IsConsent(err error) bool {
	var ce *ConsentError
	return errors.As(err, &ce)
}

var entraCode = regexp.MustCompile(`AADSTS\d+`)

// consentCodes are the Entra codes that mean consent, not a bad secret or
// an unreachable authority.
var consentCodes = map[string]bool{ConsentNoServicePrincipal: true, ConsentAppNotFound: true, ConsentNotGranted: true}

// consentOf returns err as a *ConsentError for tenant when Entra refused
// the token for want of consent, and err unchanged otherwise.
func consentOf(tenant string, err error) error {
	if err == nil || IsConsent(err) {
		return err
	}
	// The code is in the response body, which azidentity's error quotes;
	// the chain's error (DefaultAzureCredential) quotes it too.
	for _, code := range entraCode.FindAllString(err.Error(), -1) {
		if consentCodes[code] {
			return &ConsentError{Tenant: tenant, Code: code, Err: err}
		}
	}
	return err
}

// entraDescription is the first line of the error_description of the
// Entra answer err carries, or "".
func entraDescription(err error) string {
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		return ""
	}
	body, rerr := runtime.Payload(afe.RawResponse)
	if rerr != nil {
		return ""
	}
	var answer struct {
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &answer) != nil {
		return ""
	}
	line, _, _ := strings.Cut(answer.Description, "\n")
	line = strings.TrimSpace(line)
	// Entra appends trace and correlation ids after the sentence; they
	// are kept, as support asks for them.
	return fmt.Sprintf("%.400s", line)
}
