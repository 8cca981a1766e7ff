package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/callstream/callstream/fetch"
	app "github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/producer"
	"github.com/callstream/callstream/sources"
)

// setting is one environment variable, as --help and the deployment's
// ConfigMap show it.
type setting struct {
	section string // the rawConfig field it belongs to: Graph, Kafka, ...
	name    string
	def     string
}

// settings lists every environment variable rawConfig reads, in
// declaration order, with the defaults from its env tags: the help can
// then never disagree with what is actually read.
func settings() []setting {
	var out []setting
	rt := reflect.TypeFor[app.RawConfig]()
	for i := range rt.NumField() {
		sec := rt.Field(i)
		out = appendSettings(out, sec.Name, sec.Type)
	}
	return out
}

// appendSettings adds the env-tagged fields of t, descending into nested
// structs without a tag (such as the registry's settings).
func appendSettings(out []setting, section string, t reflect.Type) []setting {
	for j := range t.NumField() {
		f := t.Field(j)
		if f.Type == reflect.TypeFor[app.SourceTopics]() {
			for _, src := range sources.All() {
				out = append(out, setting{section: section, name: src.TopicSetting, def: src.DefaultTopic})
			}
			continue
		}
		tag := f.Tag.Get("env")
		if tag == "" {
			if f.Type.Kind() == reflect.Struct {
				out = appendSettings(out, section, f.Type)
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		s := setting{section: section, name: strings.TrimSpace(name)}
		// go-envconfig puts default last; its value may hold commas.
		if _, def, ok := strings.Cut(opts, "default="); ok {
			s.def = def
		} else {
			s.def = derivedDefaults[s.name]
		}
		out = append(out, s)
	}
	return out
}

func init() {
	maps.Copy(settingHelp, app.SettingHelp) // settings that pipeline describes itself
	maps.Copy(settingDocs, app.SettingDocs)
	settingHelp["SOURCES"] = sources.NameList("and/or") + ", comma-separated"
	quoted := make([]string, 0, len(sources.Names()))
	for _, n := range sources.Names() {
		quoted = append(quoted, "`"+n+"`")
	}
	both := "both"
	if len(quoted) > 2 {
		both = "several"
	}
	settingDocs["SOURCES"] = strings.Join(quoted, ", ") + ", or " + both + " (comma-separated): each walks on its own, to its own topic, with its own checkpoint and transactional id"
	// Each source's topic setting says the same, so the registry writes
	// it: a new source needs no line here.
	for i, src := range sources.All() {
		which, docWhich := "", ""
		if i > 0 {
			which, docWhich = " (SOURCES="+src.Name+")", " (`SOURCES="+src.Name+"`)"
		}
		compaction := "must not be compacted"
		switch src.Kind {
		case sources.Aggregate:
			compaction = "an upsert stream keyed by day and grouping, created compacted"
		case sources.Records:
			compaction = "keyed by call record id, a record again per new version: may be compacted to keep each record's latest"
		}
		settingHelp[src.TopicSetting] = "the " + src.Title + " data topic" + which + "; must exist unless KAFKA_CREATE_TOPICS=true, " + compaction
		settingDocs[src.TopicSetting] = "the " + src.Title + " data topic" + docWhich + "; must exist unless `KAFKA_CREATE_TOPICS=true`; " + compaction
	}
}

// derivedDefaults are the defaults of the settings whose env tag has
// none because another setting can change them (GRAPH_ACCESS_TOKEN,
// KAFKA_PRESET): empty means this value then, taken from the same
// constants the parser and the producer apply. TestHelpDefaultsAreWhatTheParserYields
// checks that setting each to its shown default changes nothing.
var derivedDefaults = map[string]string{
	"SOURCES":               sources.Default().Name,
	"GRAPH_AUTH":            string(fetch.AuthDefault),
	"KAFKA_COMPRESSION":     string(producer.DefaultCompression),
	"KAFKA_BATCH_MAX_BYTES": strconv.Itoa(producer.DefaultBatchMaxBytes),
}

// envNames lists the settings a raw configuration struct reads, for
// helpDoc.names of commands that read only part of the environment.
func envNames(t reflect.Type) []string {
	var names []string
	for _, s := range appendSettings(nil, "", t) {
		names = append(names, s.name)
	}
	return names
}

// settingHelp says what each setting does. TestEverySettingHasHelp fails
// when a setting is added without a line here.
var settingHelp = map[string]string{
	"GRAPH_CLOUD":                           "national cloud: global, usgov or dod (sets the Graph host and the token authority)",
	"GRAPH_BASE_URL":                        "Graph root URL, overriding the cloud's (a proxy or a simulator)",
	"GRAPH_API_VERSION":                     "v1.0 or beta",
	"GRAPH_ACCESS_TOKEN":                    "a bearer token used as is instead of an Entra credential (testing only: it expires)",
	"GRAPH_MAX_ATTEMPTS":                    "tries of one page request before the window fails (429 with Retry-After does not count)",
	"GRAPH_MAX_PAGE_BYTES":                  "cap on one page's decoded body in bytes (a page of 1,000 rows is about 1 MB); a larger page stops the run",
	"GRAPH_MAX_PAGES_PER_WINDOW":            "cap on the pages of one window (1,000 rows each); more stops the run: lower WINDOW",
	"GRAPH_REQUEST_TIMEOUT":                 "longest one Graph request may take, its whole body included (a server trickling its answer fails the request)",
	"GRAPH_AUTH":                            "how the Graph token is obtained: default, secret, certificate, workload, managed or token (unset with GRAPH_ACCESS_TOKEN set: token)",
	"AZURE_TENANT_ID":                       "Entra tenant of the app registration (also names the default transactional id)",
	"AZURE_CLIENT_ID":                       "the app's client id (set by Workload Identity on AKS; a user-assigned managed identity's id)",
	"AZURE_CLIENT_SECRET":                   "the app's client secret (GRAPH_AUTH=secret)",
	"AZURE_CLIENT_CERTIFICATE_PATH":         "PEM or PKCS#12 certificate with its key (GRAPH_AUTH=certificate)",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD":     "password of the PKCS#12 file, if any",
	"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN":   "send the certificate chain (x5c), for subject-name/issuer registrations",
	"AZURE_FEDERATED_TOKEN_FILE":            "federated token file (GRAPH_AUTH=workload; set by Workload Identity on AKS)",
	"GRAPH_BUDGET_PER_MINUTE":               "requests per minute per Graph function (Graph allows 50); 0 sends unpaced",
	"GRAPH_APP_BUDGET_PER_MINUTE":           "requests per minute of all functions together (Graph allows 200 per app per tenant)",
	"GRAPH_CALLRECORDS_BUDGET_PER_20S":      "call records: requests per 20 s, list and reads together (Graph allows 1,500 per app per tenant)",
	"GRAPH_CALLRECORDS_LIST_BUDGET_PER_20S": "call records: list requests per 20 s (Graph allows 40)",

	"KAFKA_BROKERS":                            "required: comma-separated host:port seed brokers",
	"KAFKA_CLIENT_ID":                          "client id shown to the brokers (in their logs, quotas and ACL audit)",
	"KAFKA_DLQ_TOPIC":                          "dead-letter topic for rows that cannot be encoded (empty: such a row stops the walk)",
	"KAFKA_TRANSACTIONAL_ID":                   "override the transactional id (default callstream-<tenant>-<source>-<topic>)",
	"KAFKA_PRESET":                             "eventhubs: settings for Azure Event Hubs",
	"KAFKA_COMPRESSION":                        "none, gzip, snappy, lz4 or zstd (unset with KAFKA_PRESET=eventhubs: gzip)",
	"KAFKA_IDEMPOTENCE":                        "idempotent writes (true); false only for clusters that refuse them",
	"KAFKA_BATCH_MAX_BYTES":                    "largest uncompressed record batch; topics' max.message.bytes must allow it (unset with KAFKA_PRESET=eventhubs: 1000000)",
	"KAFKA_TLS":                                "TLS to the brokers (on by default when a TLS file or the eventhubs preset is set)",
	"KAFKA_TLS_CA_FILE":                        "PEM CA bundle for the brokers",
	"KAFKA_TLS_CERT_FILE":                      "client certificate (mutual TLS)",
	"KAFKA_TLS_KEY_FILE":                       "client key (mutual TLS)",
	"KAFKA_TLS_SERVER_NAME":                    "expected server name in the brokers' certificates",
	"KAFKA_TLS_INSECURE_SKIP_VERIFY":           "do not verify the brokers' certificates (loudly warned; never in production)",
	"KAFKA_SASL_MECHANISM":                     "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
	"KAFKA_SASL_USERNAME":                      "SASL user",
	"KAFKA_SASL_PASSWORD":                      "SASL password (Event Hubs: the connection string)",
	"KAFKA_SASL_OAUTH_SCOPE":                   "OAUTHBEARER token scope (Event Hubs: https://<namespace>.servicebus.windows.net/.default)",
	"KAFKA_CREATE_TOPICS":                      "create missing data and dead-letter topics",
	"KAFKA_TOPIC_PARTITIONS":                   "partitions of created topics (-1: broker default)",
	"KAFKA_TOPIC_REPLICATION":                  "replication of created topics (-1: broker default)",
	"KAFKA_TOPIC_CONFIGS":                      "configs of created topics, key=value,key=value",
	"SCHEMA_REGISTRY_USERNAME":                 "registry basic-auth user",
	"SCHEMA_REGISTRY_PASSWORD":                 "registry basic-auth password",
	"SCHEMA_REGISTRY_BEARER_TOKEN":             "registry bearer token",
	"SCHEMA_REGISTRY_TLS_CA_FILE":              "PEM CA bundle for the registry",
	"SCHEMA_REGISTRY_TLS_CERT_FILE":            "registry client certificate",
	"SCHEMA_REGISTRY_TLS_KEY_FILE":             "registry client key",
	"SCHEMA_REGISTRY_TLS_INSECURE_SKIP_VERIFY": "do not verify the registry's certificate",
	"SCHEMA_SUBJECT_STRATEGY":                  "topic, record or topic-record subject naming",
	"SCHEMA_AUTO_REGISTER":                     "register the schema (true), or use the registered one only (false)",
	"SCHEMA_REGISTRY_URL":                      "Confluent-compatible Schema Registry; values then carry its wire format. Empty: plain Avro with the schema named in headers",

	"CHECKPOINT_STORE": "kafka (exactly-once: rows and checkpoint in one transaction) or file (at-least-once)",
	"CHECKPOINT_TOPIC": "compacted checkpoint topic, created if missing (empty: <KAFKA_TOPIC>.checkpoint)",
	"CHECKPOINT_PATH":  "the checkpoint file; its directory must exist and be writable",

	"START_TIME":           "RFC 3339 time or a date where the first walk begins when there is no checkpoint (empty: one day back)",
	"END_TIME":             "RFC 3339 time where walking stops for good (empty: never)",
	"WINDOW":               "width of one live window of call start times (whole seconds, at most 90 days); history past its last rescan is read in windows sized by rows (HISTORY_WINDOW_PAGES)",
	"SETTLE_DELAY":         "windows closer to now than this are not read yet: Graph publishes rows late",
	"RESCAN_AFTER":         "ages (after a window's end) at which it is read again for late rows",
	"POLL_INTERVAL":        "pause between walks once caught up",
	"BACKFILL_CONCURRENCY": "windows of a backlog fetched at once (publishing stays in window order)",
	"HISTORY_WINDOW_PAGES": "pages (1,000 rows each) a window of history, past its last RESCAN_AFTER age, is sized to hold; 0 reads history WINDOW wide",
	"MAX_WINDOW_FAILURES":  "windows failing in a row after which run --once and backfill give up (exit 1, with the cause); a continuous run keeps retrying and /readyz reports not ready",

	"LOG_LEVEL":  "debug, info, warn or error",
	"LOG_FORMAT": "json or text (empty: text on a terminal, JSON otherwise)",

	"METRICS_ADDR":       "listen address of /metrics, /healthz and /readyz for run, such as :8080 (empty or off: none; the image sets :8080)",
	"READY_STALL_FACTOR": "/readyz fails when a due window waited this many POLL_INTERVALs with nothing completing",
	"METRICS_PPROF":      "also serve Go's CPU, heap and goroutine profiles under /debug/pprof/ on METRICS_ADDR (for diagnosis; keep the port private)",
}

// helpDoc describes a subcommand for --help. A new subcommand declares
// one and parses its flags with parseFlags, which prints it on --help.
type helpDoc struct {
	usage   string
	summary string
	// sections of settings it reads whole (rawConfig's field names:
	// Graph, Kafka, ...).
	sections []string
	// names are single settings it reads besides whole sections; each is
	// shown in its section. With neither, the help says it reads none.
	names []string
	// note is printed after the settings.
	note string
	// exits are the exit codes it may end with, in order; the meanings
	// come from exitMeanings unless exitNotes gives this command's own.
	exits     []int
	exitNotes map[int]string
}

// commandDocs returns the --help of every subcommand, by its name, from the
// command table. TestBinaryHelp runs `callstream NAME --help` for each.
func commandDocs() map[string]*helpDoc {
	docs := make(map[string]*helpDoc, len(commands))
	for _, c := range commands {
		docs[c.name] = c.doc
	}
	return docs
}

var allSections = []string{"Graph", "Kafka", "Checkpoint", "Walk", "Log", "Ops", "Tenants", "Cluster"}

// sectionTitles head each group of settings in --help; a section missing
// here is shown under its field name.
var sectionTitles = map[string]string{
	"Graph":      "Microsoft Graph",
	"Kafka":      "Kafka and Schema Registry",
	"Checkpoint": "Checkpoint",
	"Walk":       "Windows",
	"Log":        "Logging",
	"Ops":        "Metrics and health",
	"Tenants":    "Tenants",
	"Cluster":    "Replicas (Kafka group)",
}

// exitMeanings are what the exit codes mean for any command; helpDoc's
// exitNotes refine them.
var exitMeanings = map[int]string{
	exitOK:          "done, or stopped cleanly by SIGTERM/SIGINT (--help too)",
	exitFailure:     "runtime failure, the cause printed on stderr",
	exitConfig:      "invalid configuration or usage: every problem is listed at once, each naming its setting or flag",
	exitFenced:      "fenced: another instance with the same transactional id took over; nothing this one wrote after that is visible",
	exitInterrupted: "a second SIGTERM/SIGINT ended the clean stop early; the window in flight is read again by the next run",
}

// settingsOf is the settings doc reads, in declaration order.
func (doc helpDoc) settingsOf() []setting {
	want := map[string]bool{}
	for _, sec := range doc.sections {
		want[sec] = true
	}
	for _, n := range doc.names {
		want[n] = true
	}
	var out []setting
	for _, s := range settings() {
		if want[s.section] || want[s.name] {
			out = append(out, s)
		}
	}
	return out
}

// printHelp writes a subcommand's usage, flags, settings with their
// defaults and exit codes.
func printHelp(w io.Writer, doc helpDoc, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", doc.usage, doc.summary)
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	if len(flags) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, f := range flags {
			name, usage := flag.UnquoteUsage(f)
			arg := "--" + f.Name
			if len(f.Name) == 1 {
				arg = "-" + f.Name
			}
			if name != "" {
				arg += " " + name
			}
			if f.DefValue != "" && f.DefValue != "false" {
				usage += " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\n", arg, usage)
		}
		tw.Flush()
	}
	if reads := doc.settingsOf(); len(reads) > 0 {
		fmt.Fprintln(w, "\nSettings (environment variables, with defaults):")
		type row struct{ left, right string }
		var rows []row
		section := ""
		for _, s := range reads {
			if s.section != section {
				section = s.section
				title := sectionTitles[section]
				if title == "" {
					title = section
				}
				rows = append(rows, row{left: title})
			}
			rows = append(rows, row{"  " + s.name + "=" + s.def, settingHelp[s.name]})
		}
		width := 0
		for _, r := range rows {
			if r.right != "" {
				width = max(width, len(r.left))
			}
		}
		for _, r := range rows {
			if r.right == "" {
				fmt.Fprintf(w, "  %s\n", r.left)
				continue
			}
			fmt.Fprintf(w, "  %-*s  %s\n", width, r.left, r.right)
		}
	} else {
		fmt.Fprintln(w, "\nSettings: none; it reads no environment variable.")
	}
	if doc.note != "" {
		fmt.Fprintf(w, "\n%s\n", doc.note)
	}
	exits := doc.exits
	if len(exits) == 0 {
		exits = []int{exitOK, exitFailure, exitConfig}
	}
	fmt.Fprintln(w, "\nExit codes:")
	for _, code := range exits {
		meaning := exitMeanings[code]
		if n, ok := doc.exitNotes[code]; ok {
			meaning = n
		}
		fmt.Fprintf(w, "  %-3d  %s\n", code, meaning)
	}
}

// parseFlags parses args into fs. --help prints doc to stdout and returns
// flag.ErrHelp (exit 0); a bad flag is a usage error (exit 2).
func parseFlags(fs *flag.FlagSet, doc helpDoc, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, doc, fs)
		return err
	case err != nil:
		return &configError{Problems: []string{fmt.Sprintf("%s: %v (see callstream %s --help)", fs.Name(), err, fs.Name())}}
	}
	return nil
}
