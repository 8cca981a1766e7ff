package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/entrasim"
	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/graphsim"
)

// entraRefusals are Entra's answers to a client-credentials grant from a
// tenant without consent, as Entra words them.
var entraRefusals = map[string]string{
	fetch.ConsentNoServicePrincipal: `{"error":"invalid_client","error_description":"AADSTS7000229: The client application ` + appID + ` is missing service principal in the tenant ` + tenantID + `.\r\nTrace ID: 0c1d\r\nCorrelation ID: 9a8b","error_codes":[7000229]}`,
	fetch.ConsentNotGranted:         `{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented to use the application with ID '` + appID + `'.\r\nTrace ID: 0c1d","error_codes":[65001]}`,
}

// refusingEntra answers token requests with the Entra refusal of *code
// while it is set, and passes everything else to the simulated Entra.
func refusingEntra(r *cloudRig, code *atomic.Pointer[string]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if c := code.Load(); c != nil && strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/token") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, entraRefusals[*c])
			return
		}
		r.entra.ServeHTTP(w, req)
	})
}

// checkConsent asserts a permanent *ConsentError with code, for tenantID,
// saying what to do and holding no token.
func checkConsent(t *testing.T, err error, code string, tokens ...string) {
	t.Helper()
	var ce *fetch.ConsentError
	if !errors.As(err, &ce) || !fetch.IsConsent(err) {
		t.Fatalf("err %v, want a *fetch.ConsentError", err)
	}
	if ce.Code != code || ce.Tenant != tenantID {
		t.Fatalf("code %q tenant %q, want %q %q", ce.Code, ce.Tenant, code, tenantID)
	}
	if !fetch.IsPermanent(err) || fetch.IsRetryable(err) {
		t.Fatalf("err %v is not permanent", err)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{code, "tenant " + tenantID, "grant admin consent for the app"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, tok := range tokens {
		if strings.Contains(msg, tok) {
			t.Errorf("error holds a token: %s", msg)
		}
	}
}

func TestConsentRefusedByEntra(t *testing.T) {
	for _, code := range []string{fetch.ConsentNoServicePrincipal, fetch.ConsentNotGranted} {
		t.Run(code, func(t *testing.T) {
			r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{})
			var refuse atomic.Pointer[string]
			refuse.Store(&code)
			r.net.Handle("login.microsoftonline.com", refusingEntra(r, &refuse))
			_, _, err := readHour(context.Background(), r.client(t), simStart.Add(-time.Hour))
			checkConsent(t, err, code)
			var te *fetch.TokenError
			if !errors.As(err, &te) {
				t.Errorf("err %v is no longer a *fetch.TokenError", err)
			}
			if n := r.sim.Stats().Requests; n != 0 {
				t.Fatalf("graph got %d requests without a token", n)
			}
		})
	}
	t.Run("app not in the tenant (simulated Entra)", func(t *testing.T) {
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{Apps: []entrasim.App{{ClientID: "99999999-2222-4333-8444-555555555555", Secret: appSecret}}})
		_, _, err := readHour(context.Background(), r.client(t), simStart.Add(-time.Hour))
		checkConsent(t, err, fetch.ConsentAppNotFound)
	})
	t.Run("a wrong secret is not consent", func(t *testing.T) {
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{Apps: []entrasim.App{{ClientID: appID, Secret: "another"}}})
		_, _, err := readHour(context.Background(), r.client(t), simStart.Add(-time.Hour))
		var te *fetch.TokenError
		if !errors.As(err, &te) || fetch.IsConsent(err) || !strings.Contains(err.Error(), "AADSTS7000215") {
			t.Fatalf("err %v: want a TokenError that is no ConsentError", err)
		}
	})
}

// TestConsentRevokedMidRun: a tenant reads fine, then its administrator
// revokes the consent: Graph refuses the token, the client asks Entra for
// a fresh one once, and Entra's refusal is a ConsentError. When consent
// returns, the same client reads again.
func TestConsentRevokedMidRun(t *testing.T) {
	r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{})
	var refuse atomic.Pointer[string]
	r.net.Handle("login.microsoftonline.com", refusingEntra(r, &refuse))
	c := r.client(t)
	from := simStart.Add(-time.Hour)
	if _, _, err := readHour(context.Background(), c, from); err != nil {
		t.Fatal(err)
	}
	code := fetch.ConsentNotGranted
	refuse.Store(&code)
	r.sim.RevokeTokens()
	_, st, err := readHour(context.Background(), c, from)
	checkConsent(t, err, fetch.ConsentNotGranted)
	if st.Requests != 1 {
		t.Fatalf("%d graph requests, want the one refused", st.Requests)
	}
	refuse.Store(nil)
	if n, _, err := readHour(context.Background(), c, from); err != nil || n == 0 {
		t.Fatalf("after consent returned: %d rows, %v", n, err)
	}
}

// TestConsentRefusedByGraph: a token Entra issued, refused by Graph even
// fresh (401 twice) or with 403, is a ConsentError; a 401 that a fresh
// token fixes is not an error at all.
func TestConsentRefusedByGraph(t *testing.T) {
	t.Run("401 with a fresh token", func(t *testing.T) {
		var issued []string
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{OnIssue: func(tok entrasim.Token) { issued = append(issued, tok.Value) }})
		c := r.client(t, func(c *fetch.Config) { c.Tenant = tenantID })
		_, st, err := readHour(context.Background(), c, simStart.Add(-time.Hour))
		checkConsent(t, err, fetch.ConsentGraph401, issued...)
		if st.TokenRefreshes != 1 || st.Requests != 2 {
			t.Fatalf("stats %+v: want the one refresh before giving up", st)
		}
		var ge *fetch.Error
		if !errors.As(err, &ge) || ge.StatusCode != http.StatusUnauthorized {
			t.Fatalf("err %v does not carry Graph's answer", err)
		}
	})
	t.Run("403 Authorization_RequestDenied", func(t *testing.T) {
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{})
		var requests atomic.Int32
		r.net.Handle("graph.microsoft.com", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			requests.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`)
		}))
		c := r.client(t, func(c *fetch.Config) { c.Tenant = tenantID })
		_, _, err := readHour(context.Background(), c, simStart.Add(-time.Hour))
		checkConsent(t, err, fetch.ConsentGraph403)
		if !strings.Contains(err.Error(), "Authorization_RequestDenied") || requests.Load() != 1 {
			t.Fatalf("err %v after %d requests: want Graph's code, not retried", err, requests.Load())
		}
	})
	t.Run("401 that a refresh fixes", func(t *testing.T) {
		r := newCloudRig(t, fetch.Clouds["global"], graphsim.Config{}, entrasim.Config{})
		c := r.client(t)
		from := simStart.Add(-time.Hour)
		if _, _, err := readHour(context.Background(), c, from); err != nil {
			t.Fatal(err)
		}
		r.sim.RevokeTokens()
		if _, st, err := readHour(context.Background(), c, from); err != nil || st.TokenRefreshes != 1 {
			t.Fatalf("err %v, %d refreshes: a revoked token is refreshed, not a consent problem", err, st.TokenRefreshes)
		}
	})
}
