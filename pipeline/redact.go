package pipeline

import (
	"regexp"
	"strings"
)

// Patterns of credentials that an error may carry: a bearer token (a Graph
// error body may echo the request's), a JWT anywhere, the userinfo of a
// URL, and token-like query parameters.
var (
	redactBearer   = regexp.MustCompile(`(?i)\bbearer\s+[^\s"',;]+`)
	redactJWT      = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?`)
	redactUserinfo = regexp.MustCompile(`://[^/\s@"']+@`)
	redactQuery    = regexp.MustCompile(`(?i)\b(access_token|token|password|secret|sig|client_secret|code)=[^&\s"']+`)
)

// maxRedacted bounds a redacted message: an error may quote a whole body.
const maxRedacted = 512

// redactError masks what may be a credential in an error message that is
// about to be shown where secrets must not be (the /readyz answer, check's
// report), and shortens it.
func redactError(msg string) string {
	msg = redactBearer.ReplaceAllString(msg, "Bearer xxxxx")
	msg = redactJWT.ReplaceAllString(msg, "xxxxx")
	msg = redactUserinfo.ReplaceAllString(msg, "://xxxxx@")
	msg = redactQuery.ReplaceAllString(msg, "$1=xxxxx")
	if len(msg) > maxRedacted {
		msg = strings.ToValidUTF8(msg[:maxRedacted], "") + "…"
	}
	return msg
}
