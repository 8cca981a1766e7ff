package main

import (
	"fmt"
	"strings"
)

// The settings tables in README.md and docs/ are generated from settings(),
// settingHelp and settingDocs, between marker comments:
//
//	<!-- settings:begin SPEC -->
//	...generated...
//	<!-- settings:end -->
//
// SPEC is "all", or section names (Graph, Kafka, Checkpoint, Walk, Log,
// Ops) and setting names, space-separated. TestGeneratedDocs fails when the
// committed text differs from what is generated; this rewrites it:
//
//go:generate go test . -count=1 -run ^TestGeneratedDocs$ -update

// settingDocs are longer, Markdown meanings for the documentation tables,
// where a line of --help is too short; a setting missing here is
// documented with its settingHelp line.
var settingDocs = map[string]string{
	"GRAPH_CLOUD":                              "`global`, `usgov` (GCC High), `dod`; sets authority, Graph host and token scope together. `china` is refused: Graph does not offer these functions there",
	"GRAPH_BASE_URL":                           "Graph root without version (a proxy, or the simulator); empty: the cloud's",
	"GRAPH_AUTH":                               "`default`, `secret`, `certificate`, `workload`, `managed`, `token` — see `docs/graph-auth.md`. Unset with `GRAPH_ACCESS_TOKEN` set: `token`",
	"GRAPH_BUDGET_PER_MINUTE":                  "requests per function per 60 s; `0` sends unpaced (only for simulators — Graph will throttle)",
	"GRAPH_APP_BUDGET_PER_MINUTE":              "requests of all functions together per 60 s",
	"GRAPH_CALLRECORDS_BUDGET_PER_20S":         "call records (`SOURCES=call-records`): requests per 20 s of the list and the reads of records together, per tenant — Graph's own throttling family, apart from the PSTN functions'; Graph allows 1,500 per app per tenant and 10,000 per tenant for all apps: lower it when other apps read the tenant's call records",
	"GRAPH_CALLRECORDS_LIST_BUDGET_PER_20S":    "call records: list requests per 20 s (Graph allows 40)",
	"KAFKA_COMPRESSION":                        "`none`, `gzip`, `snappy`, `lz4`, `zstd`; unset with `KAFKA_PRESET=eventhubs`: `gzip`",
	"KAFKA_BATCH_MAX_BYTES":                    "largest uncompressed batch; every topic's `max.message.bytes` must be at least this. 64 KiB batches compress as one zstd block (see `docs/performance.md`); raise it for rows near that size. Unset with `KAFKA_PRESET=eventhubs`: 1000000",
	"KAFKA_IDEMPOTENCE":                        "idempotent writes; off only for clusters that do not grant `IDEMPOTENT_WRITE`",
	"KAFKA_TLS":                                "encrypt broker connections (TLS 1.2+); empty: on when any `KAFKA_TLS_*` file or `KAFKA_PRESET=eventhubs` is set",
	"KAFKA_TLS_CA_FILE":                        "PEM CA bundle for a private CA; empty: the system roots",
	"KAFKA_TLS_CERT_FILE":                      "client certificate (PEM) for mutual TLS",
	"KAFKA_TLS_KEY_FILE":                       "client key (PEM) for mutual TLS",
	"KAFKA_TLS_SERVER_NAME":                    "name the broker certificate must carry (brokers reached by IP or through a tunnel); empty: the host dialed",
	"KAFKA_TLS_INSECURE_SKIP_VERIFY":           "accept any certificate. Only for throwaway test clusters: every start logs a `WARN` in capitals",
	"KAFKA_SASL_USERNAME":                      "for PLAIN and SCRAM",
	"KAFKA_SASL_PASSWORD":                      "for PLAIN and SCRAM (Event Hubs: the connection string). PLAIN without TLS logs a warning (clear-text password). A secret: keep it in the Secret",
	"KAFKA_SASL_OAUTH_SCOPE":                   "OAUTHBEARER: the Entra ID scope of the cluster's tokens. Tokens come from azidentity's default credential chain (workload identity, managed identity, `AZURE_CLIENT_ID`/`AZURE_TENANT_ID` with a secret or certificate …), cached and refreshed by azidentity, fetched for every new connection and re-authentication (KIP-368)",
	"KAFKA_CREATE_TOPICS":                      "create missing data and dead-letter topics with kadm (the checkpoint topic is always created if missing)",
	"KAFKA_TOPIC_PARTITIONS":                   "partitions of created data and DLQ topics (checkpoint topics get 1); `-1`: the broker's default",
	"KAFKA_TOPIC_REPLICATION":                  "replication factor of created topics; `-1`: the broker's default",
	"KAFKA_TOPIC_CONFIGS":                      "`k=v,k2=v2` set on created data and DLQ topics, e.g. `retention.ms=2592000000,min.insync.replicas=2`",
	"KAFKA_DLQ_TOPIC":                          "dead-letter topic for rows that cannot be encoded, checked (or created) when set; empty: such a row stops the walk",
	"KAFKA_TRANSACTIONAL_ID":                   "override the transactional id; empty: `callstream-<tenant>-<source>-<topic>`, stable per tenant, source and topic, so that a second instance fences the first",
	"CHECKPOINT_TOPIC":                         "compacted checkpoint topic, created if missing; empty: `<KAFKA_TOPIC>.checkpoint`",
	"SCHEMA_REGISTRY_URL":                      "registry base URL. With it values use the Confluent wire format; without it values are plain Avro and the schema is named in the headers `callstream.schema` and `callstream.schema.fingerprint` (CRC-64-AVRO)",
	"SCHEMA_REGISTRY_USERNAME":                 "HTTP basic auth user (Confluent Cloud: the API key)",
	"SCHEMA_REGISTRY_PASSWORD":                 "HTTP basic auth password (Confluent Cloud: the API secret). A secret: keep it in the Secret",
	"SCHEMA_REGISTRY_BEARER_TOKEN":             "`Authorization: Bearer …` instead of basic auth. A secret: keep it in the Secret",
	"SCHEMA_REGISTRY_TLS_CA_FILE":              "private CA of the registry; empty: the system roots",
	"SCHEMA_REGISTRY_TLS_CERT_FILE":            "client certificate for mutual TLS with the registry",
	"SCHEMA_REGISTRY_TLS_KEY_FILE":             "client key for mutual TLS with the registry",
	"SCHEMA_REGISTRY_TLS_INSECURE_SKIP_VERIFY": "test registries only",
	"SCHEMA_SUBJECT_STRATEGY":                  "`topic` → `<topic>-value` (TopicNameStrategy, AvroConverter's default); `record` → `microsoft.graph.callRecords.DirectRoutingLogRow` (RecordNameStrategy); `topic-record` → `<topic>-<record>` (TopicRecordNameStrategy). Confluent's class names are accepted too",
	"SCHEMA_AUTO_REGISTER":                     "`true` registers the schema (after a compatibility check); `false` uses the schema already registered under the subject (looked up by its text) and never registers: for locked-down registries where a person or a pipeline registers schemas",
	"START_TIME":                               "where the first walk begins when there is no checkpoint (RFC 3339, or a date: midnight UTC); empty: one day back. The checkpoint wins afterwards: run warns, and `callstream checkpoint reset` moves it",
	"LOG_FORMAT":                               "`json` or `text`; empty: text on a terminal, JSON otherwise",
}

// settingsMarkdown is the generated table for a marker's SPEC.
func settingsMarkdown(spec string) (string, error) {
	want := map[string]bool{}
	known := map[string]bool{"all": true}
	for _, s := range settings() {
		known[s.section], known[s.name] = true, true
	}
	for _, f := range strings.Fields(spec) {
		if !known[f] {
			return "", fmt.Errorf("settings marker %q: %s is neither a section nor a setting", spec, f)
		}
		want[f] = true
	}
	var rows []setting
	sections := map[string]bool{}
	for _, s := range settings() {
		if want["all"] || want[s.section] || want[s.name] {
			rows = append(rows, s)
			sections[s.section] = true
		}
	}
	if len(rows) == 0 {
		return "", fmt.Errorf("settings marker %q: nothing to list", spec)
	}
	var b strings.Builder
	b.WriteString("| Setting | Default | Meaning |\n|---|---|---|\n")
	section := ""
	for _, s := range rows {
		if len(sections) > 1 && s.section != section {
			section = s.section
			fmt.Fprintf(&b, "| **%s** | | |\n", sectionTitles[section])
		}
		def := "—"
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		meaning := settingDocs[s.name]
		if meaning == "" {
			meaning = mdEscape(settingHelp[s.name])
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.name, def, strings.ReplaceAll(meaning, "|", `\|`))
	}
	return b.String(), nil
}

// mdEscape keeps plain help text literal in Markdown: <tenant> would be
// read as an HTML tag, *s as emphasis.
func mdEscape(s string) string {
	return strings.NewReplacer("<", `\<`, "*", `\*`).Replace(s)
}
