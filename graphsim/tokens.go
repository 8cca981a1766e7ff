package graphsim

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StaticTokenApp is the application Config.Token belongs to, for
// per-application throttling.
const StaticTokenApp = "static"

// TokenInfo is what Graph learns from a bearer token: who it was issued to,
// for which resource, and when it is valid.
type TokenInfo struct {
	// App is the client id of the application the token was issued to;
	// throttling counts requests per application.
	App string
	// Audience is the resource the token was issued for, such as
	// https://graph.microsoft.com. With Config.Audience set, a token for
	// another audience is refused, as Graph refuses a token issued for
	// another cloud.
	Audience string
	// Tenant is the directory the token was issued in; a Tenants front
	// serves the token that tenant's data set and no other.
	Tenant string
	// IssuedAt and ExpiresAt bound the token's validity by the server's
	// clock (Config.Now).
	IssuedAt, ExpiresAt time.Time
}

// tokenState is the server's view of issued tokens. Guarded by Server.mu.
type tokenState struct {
	accepted map[string]TokenInfo
	// revokedBefore refuses every accepted token issued before it, as
	// continuous access evaluation does after a password reset or a
	// disabled service principal.
	revokedBefore time.Time
}

// AcceptToken makes the server accept token with the properties in info,
// as Graph accepts any token Entra signed. Wire a simulated Entra's
// issuing hook to it. Config.Token stays valid regardless.
func (s *Server) AcceptToken(token string, info TokenInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens.accepted == nil {
		s.tokens.accepted = map[string]TokenInfo{}
	}
	s.tokens.accepted[token] = info
}

// RevokeTokens refuses every token accepted so far (not Config.Token), from
// now on, with a claims challenge as continuous access evaluation sends:
// a client has to fetch a token issued after this moment.
func (s *Server) RevokeTokens() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens.revokedBefore = now
}

// authorize checks the Authorization header at now and returns the calling
// application, or the 401 Graph would answer (setting WWW-Authenticate).
func (s *Server) authorize(hdr http.Header, h string, now time.Time) (string, *graphError) {
	scheme, token, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		return "", unauthorized(hdr, "Access token is empty.", "")
	case !strings.EqualFold(scheme, "Bearer"):
		return "", unauthorized(hdr, "Access token validation failure. Invalid audience.", "")
	case token == s.cfg.Token:
		return StaticTokenApp, nil
	}
	s.mu.Lock()
	info, ok := s.tokens.accepted[token]
	revokedBefore := s.tokens.revokedBefore
	s.mu.Unlock()
	switch {
	case !ok:
		return "", unauthorized(hdr, "Access token validation failure. Invalid audience.", "")
	case s.cfg.Audience != "" && !strings.EqualFold(strings.TrimRight(info.Audience, "/"), strings.TrimRight(s.cfg.Audience, "/")):
		return "", unauthorized(hdr, "Access token validation failure. Invalid audience.", "")
	case !now.Before(info.ExpiresAt) || now.Before(info.IssuedAt):
		return "", unauthorized(hdr, "Access token has expired or is not yet valid.", "")
	case !revokedBefore.IsZero() && info.IssuedAt.Before(revokedBefore):
		// The challenge asks for a token issued after the revocation;
		// clients pass it to Entra as the claims parameter.
		claims := `{"access_token":{"nbf":{"essential":true,"value":"` + strconv.FormatInt(revokedBefore.Unix(), 10) + `"}}}`
		return "", unauthorized(hdr, "Access token has been revoked.", base64.StdEncoding.EncodeToString([]byte(claims)))
	}
	return info.App, nil
}

// unauthorized sets WWW-Authenticate as Graph does and returns the 401. A
// non-empty claims adds the continuous access evaluation challenge.
func unauthorized(hdr http.Header, msg, claims string) *graphError {
	v := `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`
	if claims != "" {
		v += `, error="insufficient_claims", claims="` + claims + `"`
	}
	hdr.Set("WWW-Authenticate", v)
	return &graphError{http.StatusUnauthorized, CodeInvalidToken, msg}
}
