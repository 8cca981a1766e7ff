package pipeline

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/tenants"
)

// RawTenants holds the settings naming the tenants a run reads. With
// neither TENANTS nor TENANTS_FILE, AZURE_TENANT_ID is the one tenant.
type RawTenants struct {
	List  string `env:"TENANTS"`
	File  string `env:"TENANTS_FILE"`
	Retry string `env:"TENANT_RETRY_INTERVAL, default=5m"`
}

// TenantsConfig is which tenants a run reads.
type TenantsConfig struct {
	// List is the tenants from TENANTS, or from TENANTS_FILE as read at
	// start; empty in single-tenant mode (see Config.TenantList).
	List []tenants.Tenant
	// File is TENANTS_FILE; the run watches it (tenants.Watch) so that a
	// tenant added or removed takes effect without a restart.
	File string
	// Retry is how long a tenant whose consent is missing or revoked
	// waits before its token is tried again (fetch.IsConsent): long,
	// because only an administrator's action fixes it.
	Retry time.Duration
}

// RawCluster holds the settings of scale-out over Kafka's group protocol.
type RawCluster struct {
	Group      string `env:"CLUSTER_GROUP"`
	Topic      string `env:"CLUSTER_TOPIC, default=callstream.assignments"`
	Buckets    string `env:"CLUSTER_BUCKETS, default=64"`
	InstanceID string `env:"CLUSTER_INSTANCE_ID"`
}

// ClusterConfig is how replicas share the tenants; Group empty means this
// process reads every tenant alone.
type ClusterConfig struct {
	// Group is the consumer group the replicas join; "" turns scale-out off.
	Group string
	// Topic is the assignment topic whose partitions are the buckets.
	Topic string
	// Buckets is how many buckets the tenants are hashed into (the
	// assignment topic's partitions). Changing it moves tenants between
	// buckets, so it is set once.
	Buckets int
	// InstanceID is the static group membership id (a StatefulSet pod's
	// name), so that a restarted replica gets its buckets back without a
	// rebalance; "" is dynamic membership.
	InstanceID string
}

// MaxClusterBuckets bounds CLUSTER_BUCKETS: each bucket is a partition of
// the assignment topic and, when owned, a transactional producer.
const MaxClusterBuckets = 10000

// SettingHelp and SettingDocs describe the settings of this file for
// cmd/callstream's --help and generated documentation, which merge them
// into their own: the settings live here, and so does what they mean.
var (
	SettingHelp = map[string]string{
		"TENANTS":               "comma-separated tenant ids (GUIDs or verified domains) read with the one app of AZURE_CLIENT_ID, consented in each; empty: AZURE_TENANT_ID alone",
		"TENANTS_FILE":          "YAML file listing the tenants (id, name, sources, start, topics, per-tenant clientId with clientSecretFile or certificateFile); watched: edits take effect without a restart. Exclusive with TENANTS",
		"TENANT_RETRY_INTERVAL": "how long a tenant whose admin consent is missing or revoked waits before it is tried again (the other tenants go on)",
		"AZURE_AUTHORITY_HOST":  "Entra authority host overriding the cloud's, https:// (Azure Stack, a proxy, a simulator); a host Entra does not list skips instance discovery",
		"CLUSTER_GROUP":         "consumer group the replicas join to share the tenants (empty: this process reads them all); needs CHECKPOINT_STORE=kafka",
		"CLUSTER_TOPIC":         "assignment topic of CLUSTER_GROUP, created with CLUSTER_BUCKETS partitions",
		"CLUSTER_BUCKETS":       "buckets the tenants are hashed into, each owned by one replica (1 to 10000); set it once: changing it moves tenants",
		"CLUSTER_INSTANCE_ID":   "static group membership id, such as the StatefulSet pod name, so that a restarted replica keeps its buckets (empty: dynamic)",
	}
	SettingDocs = map[string]string{
		"TENANTS":      "comma-separated tenant ids (GUIDs or verified domains such as `contoso.onmicrosoft.com`; never `common`/`organizations`/`consumers`), all read with the one app of `AZURE_CLIENT_ID`, which an administrator consented to in each. Needs `GRAPH_AUTH` `secret`, `certificate` or `workload`. Empty: `AZURE_TENANT_ID` is the one tenant",
		"TENANTS_FILE": "YAML file with a `tenants:` list: `id` (required), `name`, `sources`, `start`, `topics` (source → topic), and per-tenant `clientId` with `clientSecretFile` or `certificateFile`. Read strictly at start; then watched, so that a tenant added or removed takes effect without a restart (a broken edit is logged and the last good list kept). Exclusive with `TENANTS`",
	}
)

// parse checks the tenant settings and reads TENANTS_FILE; the rules
// that involve other settings are checkTenants'.
func (r RawTenants) parse(p *problems) TenantsConfig {
	c := TenantsConfig{File: strings.TrimSpace(r.File)}
	c.Retry = parseDuration(p, "TENANT_RETRY_INTERVAL", r.Retry, time.Second)
	list := strings.TrimSpace(r.List)
	switch {
	case list != "" && c.File != "":
		p.add("TENANTS and TENANTS_FILE are both set: give the tenants one way")
	case list != "":
		l, err := tenants.ParseList(list)
		addTenantProblems(p, "TENANTS", err)
		c.List = l
	case c.File != "":
		data, err := os.ReadFile(c.File)
		if err != nil {
			p.add("TENANTS_FILE: %v", err)
			break
		}
		l, err := tenants.ParseFile(data)
		addTenantProblems(p, "TENANTS_FILE "+c.File, err)
		c.List = l
	}
	return c
}

func addTenantProblems(p *problems, setting string, err error) {
	if err == nil {
		return
	}
	if te, ok := err.(*tenants.Error); ok {
		for _, q := range te.Problems {
			p.add("%s: %s", setting, q)
		}
		return
	}
	p.add("%s: %v", setting, err)
}

// groupRE keeps CLUSTER_GROUP and CLUSTER_INSTANCE_ID printable: they are
// shown in logs, metrics and the brokers' tools.
var groupRE = regexp.MustCompile(`^[a-zA-Z0-9._:-]{1,249}$`)

func (r RawCluster) parse(p *problems) ClusterConfig {
	c := ClusterConfig{
		Group:      strings.TrimSpace(r.Group),
		Topic:      strings.TrimSpace(r.Topic),
		InstanceID: strings.TrimSpace(r.InstanceID),
	}
	if c.Group != "" && !groupRE.MatchString(c.Group) {
		p.add("CLUSTER_GROUP %q: want letters, digits, '.', '_', ':' or '-'", r.Group)
	}
	if c.InstanceID != "" && !groupRE.MatchString(c.InstanceID) {
		p.add("CLUSTER_INSTANCE_ID %q: want letters, digits, '.', '_', ':' or '-' (such as the pod name)", r.InstanceID)
	}
	if !topicName.MatchString(c.Topic) {
		p.add("CLUSTER_TOPIC %q: want a Kafka topic name (letters, digits, '.', '_', '-', at most 249)", r.Topic)
	}
	c.Buckets = parsePositiveInt(p, "CLUSTER_BUCKETS", r.Buckets)
	if c.Buckets > MaxClusterBuckets {
		p.add("CLUSTER_BUCKETS %q: want 1 to %d", r.Buckets, MaxClusterBuckets)
	}
	return c
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// Multi reports whether the run reads a list of tenants (TENANTS or
// TENANTS_FILE) rather than AZURE_TENANT_ID alone. In multi-tenant mode a
// tenant's permanent error (such as missing consent) does not end the run.
func (c Config) Multi() bool { return len(c.Tenants.List) > 0 || c.Tenants.File != "" }

// Fleet reports whether run serves its tenants as a fleet: in buckets,
// each with one transactional producer claimed before its checkpoints are
// read (see fleet) — with many tenants, or with replicas (CLUSTER_GROUP).
func (c Config) Fleet() bool { return c.Multi() || c.Cluster.Group != "" }

// TenantList is the tenants to read: the configured list, or in
// single-tenant mode one tenant, AZURE_TENANT_ID, with the run's sources,
// start and topics. Its ID may then be empty, when the credential does not
// name its tenant (a token, a managed identity, the default chain): the
// tenant is whichever the token is for.
func (c Config) TenantList() []tenants.Tenant {
	if c.Multi() {
		return slices.Clone(c.Tenants.List)
	}
	return []tenants.Tenant{{ID: strings.ToLower(c.Graph.Auth.TenantID)}}
}

// TenantSources is the sources read for t: its own, or the run's.
func (c Config) TenantSources(t tenants.Tenant) []string {
	if len(t.Sources) > 0 {
		return t.Sources
	}
	return c.Walk.Sources
}

// TenantCredentials is the credential of t: the run's app registration
// asking t's own authority, with t's own app, secret or certificate where
// it names them. The files are read now, so that a rotated secret is
// picked up whenever the credential is built again.
func (c Config) TenantCredentials(t tenants.Tenant) (fetch.Credentials, error) {
	creds := c.Graph.Auth
	if creds.Mode == "" {
		creds.Mode = authMode(c)
	}
	if !c.Multi() {
		return creds, nil
	}
	creds.TenantID = t.ID
	if t.ClientID != "" {
		creds.ClientID = t.ClientID
	}
	switch {
	case t.ClientSecretFile != "":
		b, err := os.ReadFile(t.ClientSecretFile)
		if err != nil {
			return fetch.Credentials{}, fmt.Errorf("tenant %s: clientSecretFile: %w", t.Label(), err)
		}
		creds.Mode, creds.ClientSecret = fetch.AuthSecret, strings.TrimSpace(string(b))
		creds.Certificate, creds.CertificatePassword, creds.FederatedTokenFile = nil, "", ""
	case t.CertificateFile != "":
		b, err := os.ReadFile(t.CertificateFile)
		if err != nil {
			return fetch.Credentials{}, fmt.Errorf("tenant %s: certificateFile: %w", t.Label(), err)
		}
		if err := fetch.CheckCertificate(b, ""); err != nil {
			return fetch.Credentials{}, fmt.Errorf("tenant %s: certificateFile %s: %w", t.Label(), t.CertificateFile, err)
		}
		creds.Mode, creds.Certificate, creds.CertificatePassword = fetch.AuthCertificate, b, ""
		creds.ClientSecret, creds.FederatedTokenFile = "", ""
	}
	return creds, nil
}

// multiAuthModes are the credentials that can ask each tenant's own
// authority for a token: an app registration's secret, certificate or
// federated token. A static token, a managed identity or the default
// chain is one tenant's.
var multiAuthModes = []fetch.AuthMode{fetch.AuthSecret, fetch.AuthCertificate, fetch.AuthWorkload}

// checkTenants applies the rules that span the tenant settings and the
// others.
func (c *Config) checkTenants(p *problems) {
	if c.Cluster.Group != "" && c.Checkpoint.Store != "kafka" {
		p.add("CLUSTER_GROUP needs CHECKPOINT_STORE=kafka: replicas hand buckets over safely only by fencing each other's Kafka transactions")
	}
	if c.Cluster.Group == "" && c.Cluster.InstanceID != "" {
		c.Walk.Warnings = append(c.Walk.Warnings, "CLUSTER_INSTANCE_ID is set but CLUSTER_GROUP is not: it has no effect")
	}
	if !c.Multi() {
		return
	}
	setting := "TENANTS"
	if c.Tenants.File != "" {
		setting = "TENANTS_FILE"
	}
	mode := authMode(*c)
	if !slices.Contains(multiAuthModes, mode) {
		var shared []string
		for _, t := range c.Tenants.List {
			if !t.OwnCredentials() {
				shared = append(shared, t.ID)
			}
		}
		if len(shared) > 0 || len(c.Tenants.List) == 0 {
			p.add("GRAPH_AUTH=%s cannot read several tenants (%s): set GRAPH_AUTH=secret, certificate or workload with AZURE_CLIENT_ID, the multi-tenant app consented in each tenant%s",
				mode, setting, ownCredentialsHint(setting, shared))
		}
	}
	if c.Graph.AccessToken != "" {
		p.add("GRAPH_ACCESS_TOKEN is one tenant's token: unset it with %s", setting)
	}
	for _, t := range c.Tenants.List {
		where := fmt.Sprintf("%s: tenant %s", setting, t.ID)
		for _, name := range t.Sources {
			if src, ok := sources.Lookup(name); ok {
				if c.Graph.APIVersion != "" && !src.Offers(c.Graph.APIVersion) {
					p.add("%s: sources: %s (%s) is offered in Graph %s only, and GRAPH_API_VERSION is %s", where, name, src.Function,
						strings.Join(src.Versions, ", "), c.Graph.APIVersion)
				}
				if msg := beyondRetention(src, t.Start, time.Now()); msg != "" {
					p.add("%s: start %s: %s", where, fmtTime(t.Start), msg)
				}
			}
		}
		for _, src := range slices.Sorted(maps.Keys(t.Topics)) {
			if _, ok := sources.Lookup(src); ok && !slices.Contains(c.TenantSources(t), src) {
				p.add("%s: topics: %s is not among the sources it reads (%s)", where, src, strings.Join(c.TenantSources(t), ", "))
			}
		}
		if !t.Start.IsZero() && t.Start.Before(EarliestStart) {
			p.add("%s: start %s: before %s, earlier than any call log Graph holds", where, fmtTime(t.Start), EarliestStart.Format(time.DateOnly))
		}
		if t.ClientSecretFile != "" {
			if _, err := os.Stat(t.ClientSecretFile); err != nil {
				p.add("%s: clientSecretFile: %v", where, err)
			}
		}
		if t.CertificateFile != "" {
			if data, err := os.ReadFile(t.CertificateFile); err != nil {
				p.add("%s: certificateFile: %v", where, err)
			} else if err := fetch.CheckCertificate(data, ""); err != nil {
				p.add("%s: certificateFile %s: %v", where, t.CertificateFile, err)
			}
		}
	}
}

func ownCredentialsHint(setting string, shared []string) string {
	if setting != "TENANTS_FILE" || len(shared) == 0 {
		return ""
	}
	return fmt.Sprintf(", or give each tenant in TENANTS_FILE its own clientId with clientSecretFile or certificateFile (%s lack them)", strings.Join(shared, ", "))
}

// entraHosts are the authority hosts Entra's instance discovery knows
// (MSAL's trusted list); any other AZURE_AUTHORITY_HOST must skip
// discovery, which would otherwise ask login.microsoftonline.com about it.
var entraHosts = []string{
	"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.microsoftonline.de",
	"login-us.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net", "login.cloudgovapi.us",
}

// parseAuthorityHost checks AZURE_AUTHORITY_HOST and returns it as azcore
// spells authority hosts (with a trailing slash), and whether instance
// discovery must be skipped for it.
func parseAuthorityHost(p *problems, s string) (host string, skipDiscovery bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		p.add("AZURE_AUTHORITY_HOST %q: want an https URL such as https://login.microsoftonline.com/", RedactURL(s))
		return "", false
	case u.Scheme != "https":
		// azidentity refuses a plain-http authority: tokens and secrets
		// would cross the network in clear.
		p.add("AZURE_AUTHORITY_HOST %q: must be https://", RedactURL(s))
		return "", false
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		p.add("AZURE_AUTHORITY_HOST %q: give the authority host alone, without a user name, query or fragment", RedactURL(s))
		return "", false
	}
	return strings.TrimRight(s, "/") + "/", !slices.Contains(entraHosts, strings.ToLower(u.Hostname()))
}
