package pipeline

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/callstream/callstream/fetch"
)

// RawGraph holds the Microsoft Graph settings. The AZURE_* names are the
// ones azidentity and the AKS workload-identity webhook use, so an
// environment set up for other Azure SDK programs works unchanged.
type RawGraph struct {
	Cloud       string `env:"GRAPH_CLOUD, default=global"`
	BaseURL     string `env:"GRAPH_BASE_URL"`
	APIVersion  string `env:"GRAPH_API_VERSION, default=v1.0"`
	AccessToken string `env:"GRAPH_ACCESS_TOKEN"`
	MaxAttempts string `env:"GRAPH_MAX_ATTEMPTS, default=8"`
	// RequestTimeout bounds one request, body included, so that a server
	// trickling bytes (a slowloris body) cannot hold a window forever.
	RequestTimeout string `env:"GRAPH_REQUEST_TIMEOUT, default=2m"`

	Auth               string `env:"GRAPH_AUTH"`
	TenantID           string `env:"AZURE_TENANT_ID"`
	ClientID           string `env:"AZURE_CLIENT_ID"`
	ClientSecret       string `env:"AZURE_CLIENT_SECRET"`
	CertificatePath    string `env:"AZURE_CLIENT_CERTIFICATE_PATH"`
	CertificatePass    string `env:"AZURE_CLIENT_CERTIFICATE_PASSWORD"`
	SendChain          string `env:"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"`
	FederatedTokenFile string `env:"AZURE_FEDERATED_TOKEN_FILE"`
	// AuthorityHost is azidentity's own setting for the Entra authority.
	AuthorityHost string `env:"AZURE_AUTHORITY_HOST"`

	BudgetPerMinute    string `env:"GRAPH_BUDGET_PER_MINUTE, default=50"`
	AppBudgetPerMinute string `env:"GRAPH_APP_BUDGET_PER_MINUTE, default=200"`
	// The call-records family's own limits (sources.ThrottleCallRecords).
	CallRecordsBudget     string `env:"GRAPH_CALLRECORDS_BUDGET_PER_20S, default=1500"`
	CallRecordsListBudget string `env:"GRAPH_CALLRECORDS_LIST_BUDGET_PER_20S, default=40"`

	MaxPageBytes string `env:"GRAPH_MAX_PAGE_BYTES, default=67108864"`
	MaxPages     string `env:"GRAPH_MAX_PAGES_PER_WINDOW, default=1000"`
}

// GraphConfig is how Graph is reached.
type GraphConfig struct {
	Cloud      fetch.Cloud
	BaseURL    string // the Graph root actually used (the cloud's, or GRAPH_BASE_URL)
	APIVersion string
	// AccessToken, when set and Auth.Mode is empty or token, is used as is
	// instead of an Entra credential.
	AccessToken string
	// Auth is the credential; Mode empty means token when AccessToken is
	// set, else default.
	Auth        fetch.Credentials
	MaxAttempts int
	// MaxPageBytes caps one page's decoded body; MaxPages the pages of one
	// window (a window with more must be split: lower WINDOW).
	MaxPageBytes int64
	MaxPages     int
	// RequestTimeout bounds one Graph request from sending it to the last
	// byte of its body.
	RequestTimeout time.Duration
	// BudgetPerFunction and BudgetPerApp pace requests (per function, per
	// application) inside Graph's limits; BudgetPerFunction zero sends
	// unpaced, which only a simulator tolerates.
	BudgetPerFunction int
	BudgetPerApp      int
	// CallRecordsBudget and CallRecordsListBudget pace the call-records
	// family (all its requests per app per tenant, and its list) per 20 s,
	// apart from the PSTN functions.
	CallRecordsBudget     int
	CallRecordsListBudget int
}

// parse checks the Graph settings; multi (TENANTS or TENANTS_FILE set)
// drops the need for AZURE_TENANT_ID, as each tenant names its own.
func (r RawGraph) parse(p *problems, multi bool) GraphConfig {
	var c GraphConfig
	cloud, err := fetch.LookupCloud(r.Cloud)
	if err != nil {
		p.add("GRAPH_CLOUD: %v", err)
	}
	host, skipDiscovery := parseAuthorityHost(p, r.AuthorityHost)
	if host != "" {
		// cloud is a copy; its Services map is shared, but only the host
		// changes.
		cloud.Authority.ActiveDirectoryAuthorityHost = host
	}
	c.Cloud = cloud
	c.BaseURL = cloud.GraphURL
	if r.BaseURL != "" {
		// The URL is logged and named in errors: a password in it would
		// be printed, and Graph authenticates by token, never by userinfo.
		u, err := url.Parse(r.BaseURL)
		switch {
		case err != nil:
			p.add("GRAPH_BASE_URL %q: not a URL", RedactURL(r.BaseURL))
		case u.User != nil:
			p.add("GRAPH_BASE_URL %q: must not carry a user name or password; Graph is authenticated by GRAPH_AUTH's token", RedactURL(r.BaseURL))
		case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
			p.add("GRAPH_BASE_URL %q: want an absolute http(s) URL such as https://graph.microsoft.com", u.Redacted())
		case u.User != nil:
			// Graph takes bearer tokens only; a password here would only
			// end up in logs.
			p.add("GRAPH_BASE_URL %s: remove the user name and password; Graph is reached with a bearer token (GRAPH_AUTH)", u.Redacted())
		case u.Path != "" && u.Path != "/":
			p.add("GRAPH_BASE_URL %q: give the Graph root without a path; the version comes from GRAPH_API_VERSION", u.Redacted())
		default:
			c.BaseURL = strings.TrimRight(r.BaseURL, "/")
		}
	}
	switch r.APIVersion {
	case "v1.0", "beta":
		c.APIVersion = r.APIVersion
	default:
		p.add("GRAPH_API_VERSION %q: want v1.0 or beta", r.APIVersion)
	}
	c.AccessToken = strings.TrimSpace(r.AccessToken)
	c.Auth = r.parseAuth(p, multi)
	c.Auth.DisableInstanceDiscovery = skipDiscovery
	c.MaxAttempts = parsePositiveInt(p, "GRAPH_MAX_ATTEMPTS", r.MaxAttempts)
	if n, err := strconv.ParseInt(strings.TrimSpace(r.MaxPageBytes), 10, 64); err != nil || n < 64<<10 {
		// A cap below a small page would refuse Graph's own answers.
		p.add("GRAPH_MAX_PAGE_BYTES %q: want a whole number of bytes, at least 65536 (default 67108864, 64 MiB)", r.MaxPageBytes)
	} else {
		c.MaxPageBytes = n
	}
	c.MaxPages = parsePositiveInt(p, "GRAPH_MAX_PAGES_PER_WINDOW", r.MaxPages)
	c.RequestTimeout = parseDuration(p, "GRAPH_REQUEST_TIMEOUT", r.RequestTimeout, time.Second)
	c.BudgetPerFunction = parseNonNegativeInt(p, "GRAPH_BUDGET_PER_MINUTE", r.BudgetPerMinute)
	c.BudgetPerApp = parsePositiveInt(p, "GRAPH_APP_BUDGET_PER_MINUTE", r.AppBudgetPerMinute)
	c.CallRecordsBudget = parsePositiveInt(p, "GRAPH_CALLRECORDS_BUDGET_PER_20S", r.CallRecordsBudget)
	c.CallRecordsListBudget = parsePositiveInt(p, "GRAPH_CALLRECORDS_LIST_BUDGET_PER_20S", r.CallRecordsListBudget)
	return c
}

// parseAuth checks that the settings GRAPH_AUTH needs are there, naming
// each missing variable, and reads the certificate so that a bad file is
// reported now rather than at the first token request.
func (r RawGraph) parseAuth(p *problems, multi bool) fetch.Credentials {
	mode := fetch.AuthMode(strings.ToLower(strings.TrimSpace(r.Auth)))
	if mode == "" {
		mode = fetch.AuthDefault
		if strings.TrimSpace(r.AccessToken) != "" {
			mode = fetch.AuthToken
		}
	}
	c := fetch.Credentials{
		Mode:     mode,
		TenantID: strings.TrimSpace(r.TenantID),
		ClientID: strings.TrimSpace(r.ClientID),
	}
	need := func(name, v string) bool {
		if name == "AZURE_TENANT_ID" && multi {
			return true
		}
		if strings.TrimSpace(v) == "" {
			p.add("GRAPH_AUTH=%s needs %s", mode, name)
			return false
		}
		return true
	}
	if mode != fetch.AuthToken && strings.TrimSpace(r.AccessToken) != "" {
		p.add("GRAPH_ACCESS_TOKEN is set but GRAPH_AUTH=%s: unset one of them", mode)
	}
	switch mode {
	case fetch.AuthDefault, fetch.AuthManaged:
		// DefaultAzureCredential finds its own settings; a managed identity
		// needs none (AZURE_CLIENT_ID picks a user-assigned one).
	case fetch.AuthSecret:
		need("AZURE_TENANT_ID", r.TenantID)
		need("AZURE_CLIENT_ID", r.ClientID)
		if need("AZURE_CLIENT_SECRET", r.ClientSecret) {
			c.ClientSecret = r.ClientSecret
		}
	case fetch.AuthCertificate:
		need("AZURE_TENANT_ID", r.TenantID)
		need("AZURE_CLIENT_ID", r.ClientID)
		c.CertificatePassword = r.CertificatePass
		if need("AZURE_CLIENT_CERTIFICATE_PATH", r.CertificatePath) {
			data, err := os.ReadFile(r.CertificatePath)
			switch {
			case err != nil:
				p.add("AZURE_CLIENT_CERTIFICATE_PATH: %v", err)
			default:
				if err := fetch.CheckCertificate(data, r.CertificatePass); err != nil {
					p.add("AZURE_CLIENT_CERTIFICATE_PATH %s (with AZURE_CLIENT_CERTIFICATE_PASSWORD if set): %v", r.CertificatePath, err)
				}
				c.Certificate = data
			}
		}
		if s := strings.TrimSpace(r.SendChain); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				p.add("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN %q: want true or false", r.SendChain)
			}
			c.SendCertificateChain = b
		}
	case fetch.AuthWorkload:
		need("AZURE_TENANT_ID", r.TenantID)
		need("AZURE_CLIENT_ID", r.ClientID)
		if need("AZURE_FEDERATED_TOKEN_FILE", r.FederatedTokenFile) {
			if _, err := os.Stat(r.FederatedTokenFile); err != nil {
				p.add("AZURE_FEDERATED_TOKEN_FILE: %v", err)
			}
			c.FederatedTokenFile = r.FederatedTokenFile
		}
	case fetch.AuthToken:
		if need("GRAPH_ACCESS_TOKEN", r.AccessToken) {
			c.AccessToken = strings.TrimSpace(r.AccessToken)
		}
	default:
		p.add("GRAPH_AUTH %q: want default, secret, certificate, workload, managed or token", r.Auth)
	}
	return c
}

func parseNonNegativeInt(p *problems, name, s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		p.add("%s %q: want a whole number, 0 or more", name, s)
		return 0
	}
	return n
}
