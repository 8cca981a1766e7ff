package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/callstream/callstream/fetch"
)

// rawConfig is the environment as text. Every value is converted and
// checked in parse, so that all problems are reported together rather than
// the first one only.
type rawConfig struct {
	GraphCloud       string `env:"GRAPH_CLOUD, default=global"`
	GraphBaseURL     string `env:"GRAPH_BASE_URL"`
	GraphAPIVersion  string `env:"GRAPH_API_VERSION, default=v1.0"`
	GraphAccessToken string `env:"GRAPH_ACCESS_TOKEN"`
	GraphMaxAttempts string `env:"GRAPH_MAX_ATTEMPTS, default=8"`

	KafkaBrokers      string `env:"KAFKA_BROKERS"`
	KafkaTopic        string `env:"KAFKA_TOPIC, default=teams.directrouting.calls"`
	KafkaClientID     string `env:"KAFKA_CLIENT_ID, default=callstream"`
	SchemaRegistryURL string `env:"SCHEMA_REGISTRY_URL"`

	CheckpointStore string `env:"CHECKPOINT_STORE, default=file"`
	CheckpointPath  string `env:"CHECKPOINT_PATH, default=callstream-checkpoint.json"`

	StartTime    string `env:"START_TIME"`
	EndTime      string `env:"END_TIME"`
	Window       string `env:"WINDOW, default=1h"`
	SettleDelay  string `env:"SETTLE_DELAY, default=15m"`
	RescanAfter  string `env:"RESCAN_AFTER, default=1h,6h,24h,72h"`
	PollInterval string `env:"POLL_INTERVAL, default=5m"`

	LogLevel  string `env:"LOG_LEVEL, default=info"`
	LogFormat string `env:"LOG_FORMAT"`
}

// Config is the validated configuration of a run.
type Config struct {
	Cloud        fetch.Cloud
	GraphBaseURL string // the Graph root actually used (cloud default or GRAPH_BASE_URL)
	APIVersion   string
	// AccessToken, when set, is used as is instead of an Entra credential.
	AccessToken      string
	GraphMaxAttempts int

	Brokers           []string
	Topic             string
	ClientID          string
	SchemaRegistryURL string

	CheckpointStore string
	CheckpointPath  string

	Start        time.Time // zero: one day back from now, aligned to Window
	End          time.Time // zero: no end
	Window       time.Duration
	SettleDelay  time.Duration
	RescanAfter  []time.Duration
	PollInterval time.Duration

	LogLevel  string
	LogFormat string // "json" or "text"; "" picks by terminal
}

// configError lists every problem found in the configuration. It maps to
// exit code 2.
type configError struct{ problems []string }

func (e *configError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.problems, "\n  - ")
}

// loadConfig reads the environment through l and validates it as a whole.
func loadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var raw rawConfig
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &raw, Lookuper: l}); err != nil {
		return Config{}, &configError{problems: []string{err.Error()}}
	}
	return raw.parse()
}

func (r rawConfig) parse() (Config, error) {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	var c Config

	cloud, err := fetch.LookupCloud(r.GraphCloud)
	if err != nil {
		bad("GRAPH_CLOUD: %v", err)
	}
	c.Cloud = cloud
	c.GraphBaseURL = cloud.GraphURL
	if r.GraphBaseURL != "" {
		u, err := url.Parse(r.GraphBaseURL)
		switch {
		case err != nil:
			bad("GRAPH_BASE_URL: %v", err)
		case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
			bad("GRAPH_BASE_URL %q: want an absolute http(s) URL such as https://graph.microsoft.com", r.GraphBaseURL)
		case u.Path != "" && u.Path != "/":
			bad("GRAPH_BASE_URL %q: give the Graph root without a path; the version comes from GRAPH_API_VERSION", r.GraphBaseURL)
		default:
			c.GraphBaseURL = strings.TrimRight(r.GraphBaseURL, "/")
		}
	}
	switch r.GraphAPIVersion {
	case "v1.0", "beta":
		c.APIVersion = r.GraphAPIVersion
	default:
		bad("GRAPH_API_VERSION %q: want v1.0 or beta", r.GraphAPIVersion)
	}
	c.AccessToken = strings.TrimSpace(r.GraphAccessToken)
	if n, err := parsePositiveInt(r.GraphMaxAttempts); err != nil {
		bad("GRAPH_MAX_ATTEMPTS %q: %v", r.GraphMaxAttempts, err)
	} else {
		c.GraphMaxAttempts = n
	}

	for _, b := range strings.Split(r.KafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	if len(c.Brokers) == 0 {
		bad("KAFKA_BROKERS is required: a comma-separated list of host:port")
	}
	c.Topic = strings.TrimSpace(r.KafkaTopic)
	if c.Topic == "" {
		bad("KAFKA_TOPIC is empty")
	}
	c.ClientID = r.KafkaClientID
	if r.SchemaRegistryURL != "" {
		if u, err := url.Parse(r.SchemaRegistryURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("SCHEMA_REGISTRY_URL %q: want an absolute http(s) URL", r.SchemaRegistryURL)
		} else {
			c.SchemaRegistryURL = r.SchemaRegistryURL
		}
	}

	switch r.CheckpointStore {
	case "file":
		c.CheckpointStore = r.CheckpointStore
	default:
		bad("CHECKPOINT_STORE %q: want file", r.CheckpointStore)
	}
	c.CheckpointPath = r.CheckpointPath
	if c.CheckpointStore == "file" && c.CheckpointPath == "" {
		bad("CHECKPOINT_PATH is empty")
	}

	c.Window = parseDuration(&p, "WINDOW", r.Window, time.Second)
	if c.Window > 0 && c.Window%time.Second != 0 {
		bad("WINDOW %q: must be a whole number of seconds", r.Window)
	}
	if c.Window > 90*24*time.Hour {
		bad("WINDOW %q: Graph refuses ranges over 90 days", r.Window)
	}
	c.SettleDelay = parseDuration(&p, "SETTLE_DELAY", r.SettleDelay, 0)
	c.PollInterval = parseDuration(&p, "POLL_INTERVAL", r.PollInterval, time.Second)
	for _, s := range strings.Split(r.RescanAfter, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if d := parseDuration(&p, "RESCAN_AFTER", s, time.Second); d > 0 {
			c.RescanAfter = append(c.RescanAfter, d)
		}
	}
	c.Start = parseTime(&p, "START_TIME", r.StartTime)
	c.End = parseTime(&p, "END_TIME", r.EndTime)
	if !c.Start.IsZero() && !c.End.IsZero() && !c.End.After(c.Start) {
		bad("END_TIME %s is not after START_TIME %s", r.EndTime, r.StartTime)
	}

	switch strings.ToLower(r.LogLevel) {
	case "debug", "info", "warn", "error":
		c.LogLevel = strings.ToLower(r.LogLevel)
	default:
		bad("LOG_LEVEL %q: want debug, info, warn or error", r.LogLevel)
	}
	switch r.LogFormat {
	case "", "json", "text":
		c.LogFormat = r.LogFormat
	default:
		bad("LOG_FORMAT %q: want json or text", r.LogFormat)
	}
	if len(p) > 0 {
		return c, &configError{problems: p}
	}
	return c, nil
}

func parseDuration(p *[]string, name, s string, atLeast time.Duration) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		*p = append(*p, fmt.Sprintf("%s %q: want a Go duration such as 90s, 15m or 1h", name, s))
		return 0
	}
	if d < atLeast || d < 0 {
		*p = append(*p, fmt.Sprintf("%s %q: must be at least %s", name, s, atLeast))
		return 0
	}
	return d
}

func parseTime(p *[]string, name, s string) time.Time {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		*p = append(*p, fmt.Sprintf("%s %q: want an RFC 3339 time such as 2026-01-01T00:00:00Z", name, s))
		return time.Time{}
	}
	return t.UTC()
}

func parsePositiveInt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive whole number")
	}
	return n, nil
}
