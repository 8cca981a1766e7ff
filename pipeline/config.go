package pipeline

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callstream/callstream/sources"
)

// isSource reports whether name is a source of the registry.
func isSource(name string) bool {
	_, ok := sources.Lookup(name)
	return ok
}

// RawConfig is the configuration as text, one struct per concern (each in
// its own config_*.go file), one field per setting: the env tags name the
// settings, and cmd/callstream fills it from the environment (this package
// reads none). Every value is converted and checked in Parse, so that all
// problems are reported together rather than the first one only.
type RawConfig struct {
	Graph      RawGraph
	Kafka      RawKafka
	Checkpoint RawCheckpoint
	Walk       RawWalk
	Log        RawLog
	Ops        RawOps
	Tenants    RawTenants
	Cluster    RawCluster
}

// Config is the validated configuration of a run.
type Config struct {
	Graph      GraphConfig
	Kafka      KafkaConfig
	Checkpoint CheckpointConfig
	Walk       WalkConfig
	Log        LogConfig
	Ops        OpsConfig
	Tenants    TenantsConfig
	Cluster    ClusterConfig
}

// problems collects configuration errors; each names the setting to fix.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// ConfigError lists every problem found in the configuration. It maps to
// exit code 2.
type ConfigError struct {
	// Problems each name the setting (or flag) to fix.
	Problems []string
}

// Error lists the problems, one a line.
func (e *ConfigError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Parse converts and validates the whole configuration. Its error is a
// *ConfigError listing every problem found.
func (r RawConfig) Parse() (Config, error) {
	var p problems
	multi := strings.TrimSpace(r.Tenants.List) != "" || strings.TrimSpace(r.Tenants.File) != ""
	c := Config{
		Graph:      r.Graph.parse(&p, multi),
		Kafka:      r.Kafka.parse(&p),
		Checkpoint: r.Checkpoint.parse(&p),
		Walk:       r.Walk.parse(&p),
		Log:        r.Log.parse(&p),
		Ops:        r.Ops.parse(&p),
		Tenants:    r.Tenants.parse(&p),
		Cluster:    r.Cluster.parse(&p),
	}
	c.checkSources(&p)
	c.checkTenants(&p)
	if len(p) > 0 {
		return c, &ConfigError{Problems: p}
	}
	return c, nil
}

// checkSources refuses a source the configured Graph API version does not
// offer, or a start older than Graph keeps its rows, naming what to set.
func (c Config) checkSources(p *problems) {
	for _, name := range c.Walk.Sources {
		src, ok := sources.Lookup(name)
		if !ok {
			continue // reported by the walk settings already
		}
		if c.Graph.APIVersion != "" && !src.Offers(c.Graph.APIVersion) {
			p.add("SOURCES: %s (%s) is offered in Graph %s only; set GRAPH_API_VERSION=%s", name, src.Function,
				strings.Join(src.Versions, ", "), src.Versions[len(src.Versions)-1])
		}
		if msg := beyondRetention(src, c.Walk.Start, time.Now()); msg != "" {
			p.add("START_TIME %s: %s", fmtTime(c.Walk.Start), msg)
		}
	}
}

// beyondRetention says why start is too old for src — Graph keeps its
// rows for src.Retention only — or "" when it is not (or is zero: the
// default start is recent).
func beyondRetention(src sources.Source, start, now time.Time) string {
	if src.Retention <= 0 || start.IsZero() {
		return ""
	}
	horizon := now.Add(-src.Retention)
	if !start.Before(horizon) {
		return ""
	}
	return fmt.Sprintf("before %s: Graph keeps %s (%s) %d days, so a walk of %s can reach %d days back; give a later time (with a few minutes' margin), or read %s from another lane",
		fmtTime(horizon.Truncate(time.Minute)), src.Title, src.Name, src.Retention/(24*time.Hour), src.Name,
		src.Retention/(24*time.Hour), src.Name)
}

// RawWalk holds the settings of the window walk.
type RawWalk struct {
	StartTime    string `env:"START_TIME"`
	EndTime      string `env:"END_TIME"`
	Window       string `env:"WINDOW, default=1h"`
	SettleDelay  string `env:"SETTLE_DELAY, default=15m"`
	RescanAfter  string `env:"RESCAN_AFTER, default=1h,6h,24h,72h"`
	PollInterval string `env:"POLL_INTERVAL, default=5m"`
	Concurrency  string `env:"BACKFILL_CONCURRENCY, default=4"`
	HistoryPages string `env:"HISTORY_WINDOW_PAGES, default=16"`
	// Sources has no default in its tag: it is the registry's default
	// source, set by cmd/callstream's loadConfig (and shown by its help from
	// derivedDefaults).
	Sources     string `env:"SOURCES"`
	MaxFailures string `env:"MAX_WINDOW_FAILURES, default=5"`
}

// WalkConfig is how time is walked.
type WalkConfig struct {
	Start        time.Time // zero: one day back from now, aligned to Window
	End          time.Time // zero: no end
	Window       time.Duration
	SettleDelay  time.Duration
	RescanAfter  []time.Duration
	PollInterval time.Duration
	// Concurrency is how many windows of a backlog are fetched at once.
	Concurrency int
	// HistoryPages is how many pages a window of history (past its last
	// rescan age) is planned to hold; 0 reads history WINDOW wide.
	HistoryPages int
	// Sources are the Graph functions walked, each to its own topic with
	// its own checkpoint, by their sources names.
	Sources []string
	// MaxFailures is how many windows may fail in a row (after the Graph
	// client's own retries) before a bounded run (run --once, backfill)
	// gives up with exit 1, and from which a continuous run, which keeps
	// retrying, reports not ready.
	MaxFailures int
	// Warnings are settings that are valid but probably not meant; run,
	// backfill and check print them.
	Warnings []string
}

// EarliestStart is before any Teams call log Graph can return: Direct
// Routing and the call-records API are younger, and Graph keeps these logs
// for a limited time only. An earlier START_TIME is a typo or a zero value
// (0001-01-01), and walking from it would read millions of empty windows.
var EarliestStart = time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)

func (r RawWalk) parse(p *problems) WalkConfig {
	var c WalkConfig
	c.Window = parseDuration(p, "WINDOW", r.Window, time.Second)
	if c.Window > 0 && c.Window%time.Second != 0 {
		p.add("WINDOW %q: must be a whole number of seconds", r.Window)
	}
	if c.Window > 90*24*time.Hour {
		p.add("WINDOW %q: Graph refuses ranges over 90 days", r.Window)
	}
	c.SettleDelay = parseDuration(p, "SETTLE_DELAY", r.SettleDelay, 0)
	c.PollInterval = parseDuration(p, "POLL_INTERVAL", r.PollInterval, time.Second)
	for _, s := range strings.Split(r.RescanAfter, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if d := parseDuration(p, "RESCAN_AFTER", s, time.Second); d > 0 {
			c.RescanAfter = append(c.RescanAfter, d)
		}
	}
	c.Concurrency = parsePositiveInt(p, "BACKFILL_CONCURRENCY", r.Concurrency)
	c.HistoryPages = parseNonNegativeInt(p, "HISTORY_WINDOW_PAGES", r.HistoryPages)
	seen := map[string]bool{}
	for _, src := range strings.Split(r.Sources, ",") {
		src = strings.TrimSpace(src)
		switch {
		case src == "":
		case !isSource(src):
			p.add("SOURCES: unknown source %q; want %s", src, sources.NameList("and/or"))
		case seen[src]:
			p.add("SOURCES: %q listed twice", src)
		default:
			seen[src] = true
			c.Sources = append(c.Sources, src)
		}
	}
	if len(c.Sources) == 0 && len(*p) == 0 {
		p.add("SOURCES is empty: want %s", sources.NameList("and/or"))
	}
	c.MaxFailures = parsePositiveInt(p, "MAX_WINDOW_FAILURES", r.MaxFailures)
	c.Start = parseTime(p, "START_TIME", r.StartTime)
	c.End = parseTime(p, "END_TIME", r.EndTime)
	if !c.Start.IsZero() && !c.End.IsZero() && !c.End.After(c.Start) {
		p.add("END_TIME %s is not after START_TIME %s", r.EndTime, r.StartTime)
	}
	// Checked on the text: 0001-01-01T00:00:00Z parses to the zero time,
	// which would otherwise read as "not set".
	for _, nv := range [][2]string{{"START_TIME", r.StartTime}, {"END_TIME", r.EndTime}} {
		name, v := nv[0], nv[1]
		if t, err := ParseTime(strings.TrimSpace(v)); err == nil && t.Before(EarliestStart) {
			p.add("%s %s: before %s, earlier than any call log Graph holds (Graph keeps these logs for a limited time); give a recent time, or unset it",
				name, strings.TrimSpace(v), EarliestStart.Format(time.DateOnly))
		}
	}
	c.Warnings = c.warnings(time.Now())
	return c
}

// warnings lists settings that are valid but that a user probably did not
// mean; they do not stop anything.
func (c WalkConfig) warnings(now time.Time) []string {
	var w []string
	if c.Start.After(now) {
		w = append(w, fmt.Sprintf("START_TIME %s is in the future: nothing is read before %s (START_TIME + WINDOW + SETTLE_DELAY); run --once and backfill end at once with nothing done",
			fmtTime(c.Start), fmtTime(c.Start.Add(c.Window+c.SettleDelay))))
	}
	if c.SettleDelay == 0 && len(c.RescanAfter) == 0 && c.Window > 0 {
		w = append(w, "SETTLE_DELAY=0s with an empty RESCAN_AFTER: each window is read as soon as it ends, before Graph has published all its rows, and never read again, so rows Graph publishes late are missed; set SETTLE_DELAY (default 15m) or RESCAN_AFTER (default 1h,6h,24h,72h)")
	}
	return w
}

// RawLog holds the logging settings.
type RawLog struct {
	Level  string `env:"LOG_LEVEL, default=info"`
	Format string `env:"LOG_FORMAT"`
}

// LogConfig is how the process logs.
type LogConfig struct {
	Level  string // debug, info, warn or error
	Format string // "json" or "text"; "" picks text on a terminal, JSON otherwise
}

func (r RawLog) parse(p *problems) LogConfig {
	var c LogConfig
	switch strings.ToLower(r.Level) {
	case "debug", "info", "warn", "error":
		c.Level = strings.ToLower(r.Level)
	default:
		p.add("LOG_LEVEL %q: want debug, info, warn or error", r.Level)
	}
	switch r.Format {
	case "", "json", "text":
		c.Format = r.Format
	default:
		p.add("LOG_FORMAT %q: want json or text", r.Format)
	}
	return c
}

func parseDuration(p *problems, name, s string, atLeast time.Duration) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		p.add("%s %q: want a Go duration such as 90s, 15m or 1h", name, s)
		return 0
	}
	if d < atLeast || d < 0 {
		p.add("%s %q: must be at least %s", name, s, atLeast)
		return 0
	}
	return d
}

func parseTime(p *problems, name, s string) time.Time {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}
	}
	// One parser for every time setting and flag: what backfill accepts,
	// run and checkpoint reset accept too.
	t, err := ParseTime(s)
	if err != nil {
		p.add("%s %v", name, err)
		return time.Time{}
	}
	return t
}

// ParseTime reads an RFC 3339 time or a plain date (midnight UTC). It is
// the one parser of times: START_TIME, END_TIME and every time flag, so
// that what backfill accepts, run and checkpoint reset accept too.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time such as 2026-01-01T00:00:00Z or a date such as 2026-01-01", s)
}

func parsePositiveInt(p *problems, name, s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		p.add("%s %q: want a positive whole number", name, s)
		return 0
	}
	return n
}

// parseURL checks an http(s) URL setting. userinfo is refused: every URL
// setting has its own credential settings, and the URL itself is logged.
// The value is echoed only with any password in it masked.
func parseURL(p *problems, name, s, credentials string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err == nil && u.User != nil:
		p.add("%s %q: must not carry a user name or password; use %s", name, RedactURL(s), credentials)
		return ""
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		p.add("%s %q: want an absolute http(s) URL", name, RedactURL(s))
		return ""
	case u.RawQuery != "" || u.Fragment != "":
		p.add("%s %q: give the base URL without a query or fragment", name, RedactURL(s))
		return ""
	}
	return s
}

// RedactURL masks what may be a credential in a URL that is about to be
// printed: the userinfo (user name included, as some services put an API
// key there) and the query. A value that does not parse is masked after
// its scheme, since url.Parse quotes the whole text in its errors.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if scheme, rest, ok := strings.Cut(s, "://"); ok {
			if i := strings.LastIndex(rest, "@"); i >= 0 {
				return scheme + "://xxxxx@" + rest[i+1:]
			}
			return scheme + "://" + rest
		}
		if strings.Contains(s, "@") {
			return "(redacted: the value does not parse as a URL)"
		}
		return s
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		u.RawQuery = "xxxxx"
	}
	return u.String()
}
