// Package fetch reads Microsoft Teams call logs (Calls) and call records
// (CallRecords) from Microsoft Graph.
//
// It owns everything HTTP: building the function-call URL, bearer tokens,
// following @odata.nextLink, retrying throttled and failed requests, and
// splitting each page into the raw JSON of its rows (for call records,
// reading each listed record whole and merging its pages of sessions). It knows nothing of
// Kafka, Avro or checkpoints: a page's rows are handed to the caller as raw
// JSON so that the schema layer decides what a valid row is.
package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callstream/callstream/internal/jsonscan"
	"github.com/callstream/callstream/sources"
)

// Function names a Graph call-log function, as its sources entry spells
// it (sources.Source.Function); the registry says where it lives and
// whether its toDateTime is inclusive.
type Function string

// FunctionOf returns the Graph function of a source.
func FunctionOf(s sources.Source) Function { return Function(s.Function) }

// Defaults for Config fields left zero.
const (
	DefaultMaxAttempts  = 8
	DefaultBaseBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff   = 60 * time.Second
	DefaultMaxRetryWait = 5 * time.Minute
	DefaultAPIVersion   = "v1.0"
	// DefaultMaxThrottleWait is long because Graph's per-function budget is
	// a minute wide: a backfill may legitimately wait many minutes in total.
	DefaultMaxThrottleWait = 30 * time.Minute
	// DefaultMaxPageBytes is generous: a page of 1,000 rows is about 1 MB.
	DefaultMaxPageBytes = 64 << 20
	// DefaultMaxPages bounds one window at a million rows (Graph pages
	// hold up to 1,000); a window with more must be split, not walked
	// forever.
	DefaultMaxPages = 1000
)

// maxLinkBytes bounds a nextLink: Graph's are a few hundred bytes, and a
// link is kept (as a hash) and printed in errors.
const maxLinkBytes = 32 << 10

// TokenSource yields bearer tokens for Graph. Implementations cache and
// refresh tokens themselves; Token is called before every request.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Refresher is a TokenSource that can replace a token Graph refused. After
// a 401 the Client asks it for a new token once and retries the request
// with it; a second 401 for the same request ends the call with an error.
type Refresher interface {
	TokenSource
	// Refresh returns a token to use instead of rejected, obtained from
	// the issuer rather than from a cache. claims is the claims challenge
	// Graph sent with its 401 (decoded JSON), or "" if it sent none.
	// Goroutines refused with the same token share one refresh.
	Refresh(ctx context.Context, rejected, claims string) (string, error)
}

// StaticToken is a TokenSource that always returns the same token. It
// cannot be refreshed: once Graph refuses it, every request fails.
type StaticToken string

// Token returns the static token.
func (s StaticToken) Token(context.Context) (string, error) { return string(s), nil }

// Config configures a Client. BaseURL and Tokens are required.
type Config struct {
	// BaseURL is the Graph root, e.g. https://graph.microsoft.com, without
	// the API version. Its scheme and host are the only ones a bearer token
	// is ever sent to.
	BaseURL string
	// APIVersion is "v1.0" (default) or "beta".
	APIVersion string
	// Tokens supplies bearer tokens. If it is a Refresher, a 401 gets one
	// fresh token and one retry.
	Tokens TokenSource
	// Budget, when set, paces every request to stay inside Graph's
	// request limits and learns from its 429s. Share one Budget between
	// all Clients reading the same tenant; nil sends as fast as Graph
	// answers.
	Budget *Budget
	// HTTPClient is used for requests; nil means a client with sane
	// timeouts. The Client uses a copy of it that never follows a redirect
	// (Graph does not redirect these functions, and following one would
	// carry the token elsewhere); the caller's client is not changed.
	HTTPClient *http.Client
	// MaxPageBytes caps a page's body as decoded (after gzip), so that no
	// answer can exhaust memory; default DefaultMaxPageBytes. A larger page
	// is a *PageTooLargeError.
	MaxPageBytes int64
	// MaxPages caps the pages of one Calls (or of one CallRecords' list,
	// and of one call record's sessions), so that a nextLink chain that
	// never ends cannot walk forever; default DefaultMaxPages. More is an
	// error wrapping ErrTooManyPages.
	MaxPages int
	// RecordsPageSize is how many call records CallRecords asks Graph for
	// per page of the list (Prefer: odata.maxpagesize); default
	// DefaultRecordsPageSize. Graph may send fewer.
	RecordsPageSize int
	// RecordConcurrency bounds the call records of one list page that
	// CallRecords reads at once; default DefaultRecordConcurrency.
	RecordConcurrency int
	// MaxAttempts bounds the tries of one page request, first try included;
	// default DefaultMaxAttempts.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the exponential backoff (with full
	// jitter) used when Graph gives no Retry-After.
	BaseBackoff, MaxBackoff time.Duration
	// MaxRetryWait caps a single Retry-After wait, so a bogus header cannot
	// park the walker for hours; default DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// MaxThrottleWait bounds the total time one page may spend waiting on
	// 429 Retry-After answers; default DefaultMaxThrottleWait.
	MaxThrottleWait time.Duration
	// Tenant names the tenant read in a *ConsentError, when Graph refuses
	// access; optional.
	Tenant string
	// Logger receives retry notices; nil means slog.Default().
	Logger *slog.Logger
	// Sleep waits for d or until ctx ends; nil means a timer. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Observe, when set, is told how every request ended, so that metrics
	// can count answers by status and time spent waiting. It is called on
	// the requesting goroutine: it must be quick and safe for concurrent use.
	Observe func(Attempt)
}

// Attempt is how one request to Graph ended.
type Attempt struct {
	// Status is the HTTP status, or 0 when no complete answer arrived (a
	// transport failure, a body cut short, no token).
	Status int
	// Retry tells whether the request is tried again, after Wait.
	Retry bool
	Wait  time.Duration
}

func (c *Client) observe(a Attempt) {
	if c.cfg.Observe != nil {
		c.cfg.Observe(a)
	}
}

// Client reads call logs from Graph. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	log  *slog.Logger
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("fetch: BaseURL is required")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("fetch: BaseURL %q is not an absolute http(s) URL", redactURL(cfg.BaseURL))
	}
	if base.User != nil {
		// Graph takes bearer tokens only; credentials in the URL would be
		// sent as nothing useful and printed wherever the URL is.
		return nil, fmt.Errorf("fetch: BaseURL %s carries a user name or password; give the Graph root without them", redactURL(cfg.BaseURL))
	}
	if cfg.Tokens == nil {
		return nil, errors.New("fetch: Tokens is required")
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	} else {
		hc := *cfg.HTTPClient // a copy: the caller's client keeps its policy
		cfg.HTTPClient = &hc
	}
	cfg.HTTPClient.CheckRedirect = noRedirect
	if cfg.MaxPageBytes <= 0 {
		cfg.MaxPageBytes = DefaultMaxPageBytes
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = DefaultMaxPages
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RecordsPageSize <= 0 {
		cfg.RecordsPageSize = DefaultRecordsPageSize
	}
	if cfg.RecordConcurrency <= 0 {
		cfg.RecordConcurrency = DefaultRecordConcurrency
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxRetryWait <= 0 {
		cfg.MaxRetryWait = DefaultMaxRetryWait
	}
	if cfg.MaxThrottleWait <= 0 {
		cfg.MaxThrottleWait = DefaultMaxThrottleWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &Client{cfg: cfg, base: base, log: cfg.Logger}, nil
}

// Page is one page of rows as Graph returned it. Rows alias a buffer the
// Client reuses: they are valid only during the callback.
type Page struct {
	// Number counts pages of this call from 1.
	Number int
	// Rows holds each row's JSON object, exactly as Graph sent it.
	Rows []json.RawMessage
	// Scans holds, per row, the members of its object as the page's scan
	// recorded them (offsets into the row), or nil for a row that is not
	// an object; a decoder that takes them need not scan the row again.
	Scans [][]jsonscan.Member
}

// Stats describes one Calls invocation.
type Stats struct {
	Pages    int
	Rows     int
	Requests int
	Retries  int
	// Throttled counts 429 answers; ThrottleWait is the time spent waiting
	// on Retry-After or backoff for them.
	Throttled    int
	ThrottleWait time.Duration
	// BudgetWait is the time spent waiting on the Budget before sending.
	BudgetWait time.Duration
	// TokenRefreshes counts fresh tokens fetched after a 401.
	TokenRefreshes int

	// The counts of CallRecords (zero for Calls), where Pages counts the
	// list's pages and Rows the rows delivered (Records, and any listed
	// row handed on unread for want of an id).
	//
	// Records counts call records read whole (a GET and its sessions'
	// pages) and delivered.
	Records int
	// Skipped counts listed records not read because known reported their
	// id and version.
	Skipped int
	// Gone counts listed records Graph answered 404 for when read: they
	// aged out or were deleted between the list and the read.
	Gone int
	// SessionPages counts the further pages of sessions followed.
	SessionPages int
}

// add counts o's requests into st: the counts each record's reading
// keeps on its own goroutine.
func (st *Stats) add(o Stats) {
	st.Requests += o.Requests
	st.Retries += o.Retries
	st.Throttled += o.Throttled
	st.ThrottleWait += o.ThrottleWait
	st.BudgetWait += o.BudgetWait
	st.TokenRefreshes += o.TokenRefreshes
	st.SessionPages += o.SessionPages
}

// FormatTime renders t the way Graph's function parameters expect it: UTC
// with a Z, never an offset (a '+' in a URL path is read as a space by some
// proxies), with up to 7 fractional digits.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.9999999Z")
}

// URL returns the first-page URL of fn for the half-open range [from, to)
// of call start times: from rounded up to Graph's tick, and to turned into
// the toDateTime that excludes it (see QueryEnd), so a range selects the
// same rows whichever function it is for.
//
// The path is the function's sources entry's; a function the registry
// does not know is taken as a path of its own.
func (c *Client) URL(fn Function, from, to time.Time) string {
	path, ok := sources.FunctionPath(string(fn))
	if !ok {
		path = string(fn)
	}
	return fmt.Sprintf("%s/%s/%s(fromDateTime=%s,toDateTime=%s)",
		c.base.String(), c.cfg.APIVersion, path, FormatTime(ceilTick(from)), FormatTime(QueryEnd(fn, to)))
}

// Calls reads every row of fn for call start times in [from, to), following
// @odata.nextLink until the last page, and hands each page to onPage once
// the page has been received and decoded whole — a page that fails midway
// is fetched again, never delivered in part. An error from onPage stops the
// walk and is returned as is.
func (c *Client) Calls(ctx context.Context, fn Function, from, to time.Time, onPage func(Page) error) (Stats, error) {
	var st Stats
	if !from.Before(to) {
		return st, fmt.Errorf("fetch %s: empty range [%s, %s)", fn, FormatTime(from), FormatTime(to))
	}
	if !ceilTick(from).Before(ceilTick(to)) {
		// No instant Graph can express lies in the range, so no row does;
		// for an inclusive function the URL would even have toDateTime <
		// fromDateTime.
		return st, nil
	}
	next := c.URL(fn, from, to)
	buf := pageBuffers.Get().(*pageBuffer)
	defer pageBuffers.Put(buf)
	// seen holds a hash of every link of this call: a link that comes
	// round again would be walked again, forever.
	seen := make(map[[sha256.Size]byte]struct{})
	// sent is the last token sent, redacted from errors: a server may
	// echo it anywhere, a nextLink included.
	var sent string
	for page := 1; next != ""; page++ {
		if page > c.cfg.MaxPages {
			return st, fmt.Errorf("fetch %s [%s, %s): %w: more than %d pages (GRAPH_MAX_PAGES_PER_WINDOW) in one window; lower WINDOW so that each window holds fewer rows, or raise the setting",
				fn, FormatTime(from), FormatTime(to), ErrTooManyPages, c.cfg.MaxPages)
		}
		link, err := c.checkLink(next)
		if err != nil {
			return st, redactErr(fmt.Errorf("fetch %s [%s, %s) page %d: %w", fn, FormatTime(from), FormatTime(to), page, err), sent)
		}
		h := sha256.Sum256([]byte(next))
		if _, ok := seen[h]; ok {
			return st, redactErr(fmt.Errorf("fetch %s [%s, %s) page %d: %w: %s", fn, FormatTime(from), FormatTime(to), page, ErrRepeatedLink, redactURL(next)), sent)
		}
		seen[h] = struct{}{}
		next, err = c.getPage(ctx, fn, link, buf, &st, &sent)
		if err != nil {
			return st, redactErr(fmt.Errorf("fetch %s [%s, %s) page %d: %w", fn, FormatTime(from), FormatTime(to), page, err), sent)
		}
		st.Pages++
		st.Rows += len(buf.rows)
		if err := onPage(Page{Number: page, Rows: buf.rows, Scans: buf.scans}); err != nil {
			return st, err
		}
	}
	return st, nil
}

// ErrForeignHost is returned when Graph hands out a nextLink to a host other
// than the configured one: following it would send the bearer token there.
var ErrForeignHost = errors.New("nextLink points to a foreign host")

// ErrBadLink is a nextLink that cannot be followed: unparseable, too long,
// or carrying a user name or password.
var ErrBadLink = errors.New("unusable nextLink")

// ErrRepeatedLink is a nextLink already followed in the same call: Graph
// would answer the same pages again, without end.
var ErrRepeatedLink = errors.New("nextLink repeats an earlier link of this window")

// ErrTooManyPages is a window with more pages than Config.MaxPages: its
// nextLink chain either never ends or is longer than one window should be.
var ErrTooManyPages = errors.New("too many pages")

// IsPermanent reports whether err says a window cannot be read as it is,
// so that trying it again is pointless: a redirect, a page or call record
// over the size cap, a foreign, unusable or repeated nextLink, too many pages, or a
// tenant's missing consent (IsConsent). A walker stops on these with the
// cause rather than retry them forever.
func IsPermanent(err error) bool {
	var re *RedirectError
	var pe *PageTooLargeError
	var rte *RecordTooLargeError
	return errors.As(err, &re) || errors.As(err, &pe) || errors.As(err, &rte) || IsConsent(err) ||
		errors.Is(err, ErrForeignHost) || errors.Is(err, ErrBadLink) ||
		errors.Is(err, ErrRepeatedLink) || errors.Is(err, ErrTooManyPages)
}

func (c *Client) checkLink(raw string) (*url.URL, error) {
	if len(raw) > maxLinkBytes {
		return nil, fmt.Errorf("%w: %d bytes long (at most %d)", ErrBadLink, len(raw), maxLinkBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the link whole, password and all.
		return nil, fmt.Errorf("%w: %s does not parse as a URL", ErrBadLink, redactURL(raw))
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return nil, fmt.Errorf("%w: %s://%s (configured %s://%s)", ErrForeignHost, u.Scheme, u.Host, c.base.Scheme, c.base.Host)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %s carries a user name or password", ErrBadLink, redactURL(raw))
	}
	return u, nil
}

// noRedirect is the HTTP client's CheckRedirect: a 3xx comes back as the
// answer, which try turns into a *RedirectError. Following it would send
// the request, token included, to wherever the answer points (another
// port, plain http), and save a foreign answer as the window's data.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// RedirectError is a 3xx answer. Graph does not redirect the call-log
// functions, so a redirect is never followed and never taken for data; it
// is permanent.
type RedirectError struct {
	StatusCode int
	// Location is the redirect's target with any user name, password and
	// query values redacted, or "" if the answer named none.
	Location string
}

func (e *RedirectError) Error() string {
	loc := e.Location
	if loc == "" {
		loc = "no Location"
	}
	return fmt.Sprintf("graph answered %d %s redirecting to %s; not followed: Graph does not redirect these requests, so GRAPH_BASE_URL or a proxy in the way is wrong",
		e.StatusCode, http.StatusText(e.StatusCode), loc)
}

// getPage fetches one page, retrying what may succeed on another try, and
// returns its nextLink ("" on the last page).
func (c *Client) getPage(ctx context.Context, fn Function, u *url.URL, buf *pageBuffer, st *Stats, sent *string) (string, error) {
	return c.get(ctx, request{budget: Request{Function: fn}, u: u, decode: buf.decode}, st, sent)
}

// request is one GET to Graph as get and try make it.
type request struct {
	// budget is what the request counts as against the Budget.
	budget Request
	u      *url.URL
	// prefer is the Prefer header's value, or "" for none.
	prefer string
	// decode reads a 200 answer's body (sizeHint is its Content-Length or
	// -1, limit Config.MaxPageBytes) and returns the nextLink it names.
	// It is called again for each try, and must forget the last one's body.
	decode func(r io.Reader, sizeHint, limit int64) (string, error)
}

// get makes the request rq, retrying what may succeed on another try, and
// returns the nextLink its answer names: every request to Graph, a page of
// a collection or a single object, goes through it, so that all get the
// same token handling, retries, budget and bounds.
func (c *Client) get(ctx context.Context, rq request, st *Stats, sent *string) (string, error) {
	// Failures count against MaxAttempts; throttling answered with a
	// Retry-After does not, because Graph told us exactly when to come back:
	// it is bounded by MaxThrottleWait instead, so a 429 storm is ridden out
	// but a permanent one still ends.
	attempt := 0
	var throttleWait time.Duration
	// override is the token that replaces one Graph refused, used for the
	// retry; refreshed allows one such refresh per page.
	var override string
	refreshed := false
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if c.cfg.Budget != nil {
			d, err := c.cfg.Budget.WaitFor(ctx, rq.budget)
			st.BudgetWait += d
			if err != nil {
				return "", err
			}
		}
		st.Requests++
		next, wait, used, err := c.try(ctx, rq, override)
		if used != "" {
			*sent = used
		}
		if err == nil {
			if c.cfg.Budget != nil {
				c.cfg.Budget.SucceededFor(rq.budget)
			}
			c.observe(Attempt{Status: http.StatusOK})
			return next, nil
		}
		var ge *Error
		status := 0
		var re *RedirectError
		switch {
		case errors.As(err, &ge):
			status = ge.StatusCode
		case errors.As(err, &re):
			status = re.StatusCode
		}
		if status == http.StatusUnauthorized {
			c.observe(Attempt{Status: status, Retry: !refreshed})
			if refreshed {
				// Not an expired or revoked token, which the refresh fixed:
				// the tenant refuses the app itself.
				return "", &ConsentError{Tenant: c.cfg.Tenant, Code: ConsentGraph401,
					Err: fmt.Errorf("graph refused a freshly issued token too; check that the app registration, its CallRecords.Read.All consent and the token scope belong to this cloud and tenant: %w", err)}
			}
			r, ok := c.cfg.Tokens.(Refresher)
			if !ok {
				return "", fmt.Errorf("graph refused the token and a static token cannot be refreshed: %w", err)
			}
			refreshed = true
			c.log.LogAttrs(ctx, slog.LevelInfo, "graph refused the access token; fetching a fresh one",
				slog.String("code", ge.Code), slog.String("message", ge.Message))
			tok, rerr := r.Refresh(ctx, used, ge.claims)
			if rerr != nil {
				return "", &TokenError{Err: fmt.Errorf("refresh after 401: %w", rerr)}
			}
			override = tok
			st.TokenRefreshes++
			continue
		}
		if status == http.StatusForbidden {
			c.observe(Attempt{Status: status})
			return "", &ConsentError{Tenant: c.cfg.Tenant, Code: ConsentGraph403, Err: err}
		}
		throttled := status == http.StatusTooManyRequests
		if throttled {
			st.Throttled++
		}
		if !IsRetryable(err) || ctx.Err() != nil {
			c.observe(Attempt{Status: status})
			return "", err
		}
		if !throttled || wait < 0 {
			attempt++
			if attempt >= c.cfg.MaxAttempts {
				c.observe(Attempt{Status: status})
				return "", fmt.Errorf("giving up after %d failed attempts: %w", attempt, err)
			}
		}
		if wait < 0 {
			wait = c.backoff(max(attempt, 1))
		}
		wait = min(wait, c.cfg.MaxRetryWait)
		if throttled && wait < c.cfg.BaseBackoff {
			// A 429 with "Retry-After: 0" on every answer would otherwise
			// be a loop that neither MaxAttempts nor MaxThrottleWait ends.
			wait = c.cfg.BaseBackoff
		}
		if throttled && c.cfg.Budget != nil {
			c.cfg.Budget.ThrottledFor(rq.budget, wait)
		}
		if throttled {
			throttleWait += wait
			if throttleWait > c.cfg.MaxThrottleWait {
				c.observe(Attempt{Status: status})
				return "", fmt.Errorf("throttled for more than %s on one page: %w", c.cfg.MaxThrottleWait, err)
			}
		}
		c.observe(Attempt{Status: status, Retry: true, Wait: wait})
		c.log.LogAttrs(ctx, slog.LevelWarn, "graph request failed, retrying",
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", redact(err.Error(), used)))
		st.Retries++
		if throttled {
			st.ThrottleWait += wait
		}
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return "", err
		}
	}
}

// backoff is exponential with full jitter: uniformly in [base, base·2^(n-1)],
// capped, so that many clients retrying together spread out.
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.cfg.BaseBackoff << min(attempt-1, 20)
	if ceil > c.cfg.MaxBackoff || ceil <= 0 {
		ceil = c.cfg.MaxBackoff
	}
	lo := c.cfg.BaseBackoff
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo)
}

// try makes one request, with override as the token if set. wait is the
// server's Retry-After, or -1 when the server named none; tok is the token
// sent.
func (c *Client) try(ctx context.Context, rq request, override string) (next string, wait time.Duration, tok string, err error) {
	wait = -1
	tok = override
	if tok == "" {
		if tok, err = c.cfg.Tokens.Token(ctx); err != nil {
			return "", wait, "", &TokenError{Err: err}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rq.u.String(), nil)
	if err != nil {
		return "", wait, tok, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if rq.prefer != "" {
		req.Header.Set("Prefer", rq.prefer)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		// The error names the URL (the configured host's, without
		// userinfo), never the token.
		return "", wait, tok, &transportError{err}
	}
	defer func() {
		// Drain a little so the connection can be reused; a huge error
		// body is not worth reading.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
	}()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc := resp.Header.Get("Location")
		if loc != "" {
			loc = redact(redactURL(loc), tok)
		}
		return "", wait, tok, &RedirectError{StatusCode: resp.StatusCode, Location: loc}
	}
	if resp.StatusCode != http.StatusOK {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			wait = d
		}
		return "", wait, tok, newError(resp).redact(tok)
	}
	if ct := resp.Header.Get("Content-Type"); isHTML(ct) {
		// A proxy's login or error page sent with 200. Retried like a
		// garbled body, since proxies recover, but named for what it is.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return "", wait, tok, &transportError{fmt.Errorf("graph answered 200 with a non-JSON body (%s); a proxy in the way?", redact(bodySummary(body, ct), tok))}
	}
	next, err = rq.decode(resp.Body, resp.ContentLength, c.cfg.MaxPageBytes)
	var tooLarge *PageTooLargeError
	var recTooLarge *RecordTooLargeError
	if errors.As(err, &tooLarge) || errors.As(err, &recTooLarge) {
		return "", wait, tok, err
	}
	if err != nil {
		// A body cut short or garbled in transit is worth another try; the
		// page is re-read whole, so nothing of it was delivered.
		return "", wait, tok, &transportError{fmt.Errorf("decode page: %w", err)}
	}
	return next, wait, tok, nil
}

// Error is a non-200 answer from Graph, carrying Graph's error code and
// message when the body had them.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	// RequestID is Graph's request-id header, for support cases.
	RequestID string

	// claims is the decoded claims challenge of a 401's WWW-Authenticate.
	claims string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request-id %s)", e.RequestID)
	}
	return b.String()
}

// Retryable reports whether the same request may succeed later: throttling
// and server-side failures are, client errors are not.
func (e *Error) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// redact removes tok from every text of e, for a body or header that
// echoes the token sent.
func (e *Error) redact(tok string) *Error {
	e.Code, e.Message, e.RequestID = redact(e.Code, tok), redact(e.Message, tok), redact(e.RequestID, tok)
	return e
}

// redact replaces tok in s, so that an answer echoing the bearer token
// does not put it in an error or a log line.
func redact(s, tok string) string {
	if tok == "" || !strings.Contains(s, tok) {
		return s
	}
	return strings.ReplaceAll(s, tok, "[REDACTED]")
}

// redactErr is err with tok redacted from its text, still wrapping err
// for errors.Is and errors.As.
func redactErr(err error, tok string) error {
	if err == nil || tok == "" || !strings.Contains(err.Error(), tok) {
		return err
	}
	return &redactedError{err: err, msg: redact(err.Error(), tok)}
}

type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactURL renders raw for an error message without its secrets: the
// user name and password are dropped and query values blanked (a foreign
// Location may carry a signature), and a long URL is cut short.
func redactURL(raw string) string {
	const maxShown = 512
	u, err := url.Parse(raw)
	if err != nil {
		// Show no part of it: the password cannot be told apart.
		return fmt.Sprintf("an unparseable URL (%d bytes)", len(raw))
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"REDACTED"}
		}
		u.RawQuery = q.Encode()
	}
	s := u.String()
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return s
}

func newError(resp *http.Response) *Error {
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("request-id")}
	if resp.StatusCode == http.StatusUnauthorized {
		e.claims = claimsChallenge(resp.Header.Values("WWW-Authenticate"))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Code, e.Message = env.Error.Code, env.Error.Message
	} else if len(bytes.TrimSpace(body)) > 0 {
		// A proxy's HTML page or similar: say so without dumping it.
		e.Message = "non-JSON error body (" + bodySummary(body, resp.Header.Get("Content-Type")) + "); a proxy in the way?"
	}
	return e
}

// TokenError wraps a failure to obtain a bearer token. It is permanent: a
// credential that cannot produce a token will not on the next page either.
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return "get graph token: " + e.Err.Error() }
func (e *TokenError) Unwrap() error { return e.Err }

type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// IsRetryable reports whether err is worth retrying: a throttled or failed
// Graph answer (429, 5xx), a transport error, or a truncated body.
func IsRetryable(err error) bool {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Retryable()
	}
	var te *transportError
	return errors.As(err, &te)
}

// parseRetryAfter reads a Retry-After header in either form RFC 9110
// allows: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
