package entrasim

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// scopesMSALAdds are the OpenID scopes MSAL appends to every request; they
// do not name a resource.
var scopesMSALAdds = []string{"openid", "offline_access", "profile"}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// oauthError is Entra's OAuth error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	Timestamp   string `json:"timestamp"`
}

// refuse answers an OAuth error; code is an AADSTS number.
func (s *Server) refuse(w http.ResponseWriter, status int, oauthCode string, code int, msg string) {
	tag := "AADSTS" + strconv.Itoa(code)
	s.refused(tag)
	writeJSON(w, status, oauthError{
		Error:       oauthCode,
		Description: tag + ": " + msg,
		Codes:       []int{code},
		Timestamp:   s.now().UTC().Format("2006-01-02 15:04:05Z"),
	})
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, tenant string) {
	s.mu.Lock()
	s.stats.Discovery++
	s.mu.Unlock()
	id, ok := s.tenant(tenant)
	if !ok {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_tenant", Description: "AADSTS90002: Tenant '" + tenant + "' not found.", Codes: []int{90002}})
		return
	}
	b := base(r) + "/" + id
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        b + "/oauth2/v2.0/token",
		"authorization_endpoint":                b + "/oauth2/v2.0/authorize",
		"issuer":                                b + "/v2.0",
		"jwks_uri":                              b + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"tenant_region_scope":                   "EU",
	})
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	id, ok := s.tenant(tenant)
	if !ok {
		s.refuse(w, http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.refuse(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" {
		s.refuse(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+f.Get("grant_type")+"'.")
		return
	}
	clientID := f.Get("client_id")
	app, ok := s.apps[strings.ToLower(clientID)]
	if !ok {
		s.refuse(w, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+clientID+"' was not found in the directory '"+id+"'.")
		return
	}
	if !s.consented(id, app.ClientID) {
		// The app is registered (in its home tenant) but has no service
		// principal here: nobody consented to it, or the consent was
		// withdrawn. Entra says so before it looks at the credential.
		s.refuse(w, http.StatusBadRequest, "invalid_client", 7000229, "The client application "+app.ClientID+" is missing service principal in the tenant "+id+". See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119")
		return
	}
	audience, ok := resourceOf(f.Get("scope"))
	if !ok {
		s.refuse(w, http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope "+f.Get("scope")+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	claims := f.Get("claims")
	if claims != "" && !json.Valid([]byte(claims)) {
		s.refuse(w, http.StatusBadRequest, "invalid_request", 50027, "Invalid claims parameter: not valid JSON.")
		return
	}

	var grant Grant
	switch {
	case f.Has("client_secret"):
		if app.Secret == "" || subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(app.Secret)) != 1 {
			s.refuse(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
			return
		}
		grant = GrantSecret
	case f.Get("client_assertion_type") == clientAssertionType:
		assertion := f.Get("client_assertion")
		switch {
		case app.FederatedToken != "" && assertion == app.FederatedToken:
			grant = GrantFederated
		case app.Certificate != nil:
			tokenEndpoint := base(r) + "/" + id + "/oauth2/v2.0/token"
			if err := s.checkAssertion(app, assertion, tokenEndpoint); err != nil {
				s.refuse(w, http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation: "+err.Error())
				return
			}
			grant = GrantCertificate
		case app.FederatedToken != "":
			s.refuse(w, http.StatusBadRequest, "invalid_client", 70021, "No matching federated identity record found for presented assertion.")
			return
		default:
			s.refuse(w, http.StatusUnauthorized, "invalid_client", 700027, "The certificate with identifier used to sign the client assertion is not registered on application.")
			return
		}
	default:
		s.refuse(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}

	t := s.issue(id, app.ClientID, audience, grant, claims)
	secs := int(s.cfg.Lifetime / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   t.Value,
	})
}

// resourceOf finds the one resource/.default scope of a client-credentials
// request and returns the resource.
func resourceOf(scope string) (string, bool) {
	var resource string
	for _, sc := range strings.Fields(scope) {
		if slices.Contains(scopesMSALAdds, sc) {
			continue
		}
		r, ok := strings.CutSuffix(sc, "/.default")
		if !ok || resource != "" || !strings.HasPrefix(r, "https://") {
			return "", false
		}
		resource = r
	}
	return resource, resource != ""
}

// checkAssertion verifies a certificate-signed client assertion as Entra
// does: the signature with the registered certificate's key, the
// thumbprint, the x5c chain for SN/I apps, and the audience, subject and
// lifetime claims.
func (s *Server) checkAssertion(app App, assertion, tokenEndpoint string) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	var hdr struct {
		Alg     string   `json:"alg"`
		X5tS256 string   `json:"x5t#S256"`
		X5t     string   `json:"x5t"`
		X5c     []string `json:"x5c"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	cert := app.Certificate
	switch {
	case hdr.X5tS256 != "":
		sum := sha256.Sum256(cert.Raw)
		if !thumbprintMatches(hdr.X5tS256, sum[:]) {
			return errors.New("x5t#S256 does not match the registered certificate")
		}
	case hdr.X5t != "":
		sum := sha1.Sum(cert.Raw)
		if !thumbprintMatches(hdr.X5t, sum[:]) {
			return errors.New("x5t does not match the registered certificate")
		}
	default:
		return errors.New("no certificate thumbprint in the header")
	}
	if app.RequireChain {
		if len(hdr.X5c) == 0 {
			return errors.New("the application uses subject name and issuer authentication and the assertion has no x5c chain")
		}
		der, err := base64.StdEncoding.DecodeString(hdr.X5c[0])
		if err != nil || !bytes.Equal(der, cert.Raw) {
			return errors.New("the x5c chain does not start with the registered certificate")
		}
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the registered certificate has no RSA key")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch hdr.Alg {
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	default:
		return fmt.Errorf("unsupported alg %q", hdr.Alg)
	}
	if err != nil {
		return errors.New("bad signature")
	}
	var claims struct {
		Aud string      `json:"aud"`
		Iss string      `json:"iss"`
		Sub string      `json:"sub"`
		Exp json.Number `json:"exp"`
		Nbf json.Number `json:"nbf"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	now := s.now().Unix()
	exp, _ := claims.Exp.Int64()
	nbf, _ := claims.Nbf.Int64()
	switch {
	case claims.Aud != tokenEndpoint:
		return fmt.Errorf("aud %q is not the token endpoint %q", claims.Aud, tokenEndpoint)
	case !strings.EqualFold(claims.Iss, app.ClientID) || !strings.EqualFold(claims.Sub, app.ClientID):
		return errors.New("iss and sub must be the client id")
	case exp <= now:
		return errors.New("the assertion has expired")
	case nbf > now+300:
		return errors.New("the assertion is not yet valid")
	}
	return nil
}

// thumbprintMatches accepts the thumbprint in standard or URL-safe base64,
// since MSAL sends the former and RFC 7515 specifies the latter.
func thumbprintMatches(enc string, want []byte) bool {
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if got, err := e.DecodeString(enc); err == nil && bytes.Equal(got, want) {
			return true
		}
	}
	return false
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// serveManaged is the App Service managed-identity endpoint
// (api-version 2019-08-01).
func (s *Server) serveManaged(w http.ResponseWriter, r *http.Request) {
	mi := s.cfg.Managed
	if mi.Header == "" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	miError := func(status int, code, msg string) {
		s.refused(code)
		writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": "00000000-0000-0000-0000-000000000000"})
	}
	switch {
	case r.Method != http.MethodGet:
		miError(http.StatusMethodNotAllowed, "method", "Only GET is supported.")
		return
	case subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(mi.Header)) != 1:
		miError(http.StatusUnauthorized, "identity_header", "The X-IDENTITY-HEADER header is missing or wrong.")
		return
	case q.Get("api-version") != "2019-08-01":
		miError(http.StatusBadRequest, "api_version", "Unsupported api-version '"+q.Get("api-version")+"'.")
		return
	}
	resource := q.Get("resource")
	if !strings.HasPrefix(resource, "https://") || strings.HasSuffix(resource, "/.default") {
		miError(http.StatusBadRequest, "resource", "The resource '"+resource+"' is not a valid resource URI.")
		return
	}
	clientID := mi.SystemClientID
	if id := q.Get("client_id"); id != "" {
		if !slices.ContainsFunc(mi.UserClientIDs, func(u string) bool { return strings.EqualFold(u, id) }) {
			miError(http.StatusBadRequest, "identity_not_found", "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.")
			return
		}
		clientID = id
	}
	t := s.issue(s.cfg.TenantID, clientID, resource, GrantManaged, "")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": t.Value,
		"expires_on":   strconv.FormatInt(t.ExpiresAt.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    clientID,
	})
}
