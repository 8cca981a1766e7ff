package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
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
	rt := reflect.TypeFor[rawConfig]()
	for i := range rt.NumField() {
		sec := rt.Field(i)
		for j := range sec.Type.NumField() {
			tag := sec.Type.Field(j).Tag.Get("env")
			if tag == "" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			s := setting{section: sec.Name, name: strings.TrimSpace(name)}
			// go-envconfig puts default last; its value may hold commas.
			if _, def, ok := strings.Cut(opts, "default="); ok {
				s.def = def
			}
			out = append(out, s)
		}
	}
	return out
}

// settingHelp says what each setting does. TestEverySettingHasHelp fails
// when a setting is added without a line here.
var settingHelp = map[string]string{
	"GRAPH_CLOUD":        "national cloud: global, usgov or dod (sets the Graph host and the token authority)",
	"GRAPH_BASE_URL":     "Graph root URL, overriding the cloud's (a proxy or a simulator)",
	"GRAPH_API_VERSION":  "v1.0 or beta",
	"GRAPH_ACCESS_TOKEN": "a bearer token used as is instead of an Entra credential (testing only: it expires)",
	"GRAPH_MAX_ATTEMPTS": "tries of one page request before the window fails (429 with Retry-After does not count)",

	"KAFKA_BROKERS":       "required: comma-separated host:port seed brokers",
	"KAFKA_TOPIC":         "the data topic; it must exist and must not be compacted",
	"KAFKA_CLIENT_ID":     "client id shown to the brokers",
	"SCHEMA_REGISTRY_URL": "Confluent-compatible Schema Registry; values then carry its wire format. Empty: plain Avro with the schema named in headers",

	"CHECKPOINT_STORE": "where progress is kept: file",
	"CHECKPOINT_PATH":  "the checkpoint file; its directory must exist and be writable",

	"START_TIME":    "RFC 3339 time where the first walk begins when there is no checkpoint (empty: one day back)",
	"END_TIME":      "RFC 3339 time where walking stops for good (empty: never)",
	"WINDOW":        "width of one window of call start times (whole seconds, at most 90 days)",
	"SETTLE_DELAY":  "windows closer to now than this are not read yet: Graph publishes rows late",
	"RESCAN_AFTER":  "ages (after a window's end) at which it is read again for late rows",
	"POLL_INTERVAL": "pause between walks once caught up",

	"LOG_LEVEL":  "debug, info, warn or error",
	"LOG_FORMAT": "json or text (empty: text on a terminal, JSON otherwise)",

	"METRICS_ADDR":       "listen address of /metrics, /healthz and /readyz for run, such as :8080 (empty or off: none; the image sets :8080)",
	"READY_STALL_FACTOR": "/readyz fails when a due window waited this many POLL_INTERVALs with nothing completing",
}

// credentialSettings are read by the Azure SDK itself when
// GRAPH_ACCESS_TOKEN is empty; they are listed so that --help is complete.
var credentialSettings = [][2]string{
	{"AZURE_TENANT_ID", "Entra tenant of the app registration"},
	{"AZURE_CLIENT_ID", "the app's client id (set by Workload Identity on AKS)"},
	{"AZURE_CLIENT_SECRET", "a client secret, or:"},
	{"AZURE_CLIENT_CERTIFICATE_PATH", "a PEM/PKCS#12 certificate, or:"},
	{"AZURE_FEDERATED_TOKEN_FILE", "a federated token file (Workload Identity)"},
}

// helpDoc describes a subcommand for --help.
type helpDoc struct {
	usage   string
	summary string
	// sections of settings it reads; nil means none.
	sections []string
	// credentials: it needs a Graph token.
	credentials bool
	// note is printed after the settings.
	note string
}

var allSections = []string{"Graph", "Kafka", "Checkpoint", "Walk", "Log", "Ops"}

// sectionTitles head each group of settings in --help; a section missing
// here is shown under its field name.
var sectionTitles = map[string]string{
	"Graph":      "Microsoft Graph",
	"Kafka":      "Kafka and Schema Registry",
	"Checkpoint": "Checkpoint",
	"Walk":       "Windows",
	"Log":        "Logging",
	"Ops":        "Metrics and health",
}

const exitCodesHelp = `Exit codes:
  0  done, or stopped cleanly by SIGTERM/SIGINT
  1  runtime failure (check: a problem was found; checkpoint reset: not confirmed)
  2  invalid configuration or usage
`

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
	if len(doc.sections) > 0 {
		fmt.Fprintln(w, "\nSettings (environment variables, with defaults):")
		type row struct{ left, right string }
		var rows []row
		for _, sec := range doc.sections {
			title := sectionTitles[sec]
			if title == "" {
				title = sec
			}
			rows = append(rows, row{left: title})
			for _, s := range settings() {
				if s.section == sec {
					rows = append(rows, row{"  " + s.name + "=" + s.def, settingHelp[s.name]})
				}
			}
			if sec == "Graph" && doc.credentials {
				rows = append(rows, row{left: "Entra credential (read by the Azure SDK when GRAPH_ACCESS_TOKEN is empty)"})
				for _, c := range credentialSettings {
					rows = append(rows, row{"  " + c[0] + "=", c[1]})
				}
			}
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
	}
	if doc.note != "" {
		fmt.Fprintf(w, "\n%s\n", doc.note)
	}
	fmt.Fprintf(w, "\n%s", exitCodesHelp)
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
		return &configError{problems: []string{fmt.Sprintf("%s: %v (see callstream %s --help)", fs.Name(), err, fs.Name())}}
	}
	return nil
}
