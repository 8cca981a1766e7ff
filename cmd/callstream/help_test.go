package main

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	app "github.com/callstream/callstream/pipeline"
	"github.com/callstream/callstream/producer"
)

func TestEverySettingHasHelp(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range settings() {
		if settingHelp[s.name] == "" {
			t.Errorf("%s (%s) has no line in settingHelp", s.name, s.section)
		}
		if seen[s.name] {
			t.Errorf("%s is read twice", s.name)
		}
		seen[s.name] = true
		if _, ok := sectionTitles[s.section]; !ok {
			t.Errorf("section %s has no title", s.section)
		}
	}
	for name := range settingHelp {
		if !seen[name] {
			t.Errorf("settingHelp describes %s, which nothing reads", name)
		}
	}
	for _, want := range []string{"WINDOW=1h", "RESCAN_AFTER=1h,6h,24h,72h", "KAFKA_TOPIC=teams.directrouting.calls"} {
		found := false
		for _, s := range settings() {
			found = found || s.name+"="+s.def == want
		}
		if !found {
			t.Errorf("settings() lacks %s", want)
		}
	}
}

// TestBinaryHelp runs the built binary's --help for every subcommand with
// an empty environment (help never needs configuration) and checks that it
// exits 0, writes to stdout only, lists every setting the command reads
// with its default, and lists the command's exit codes.
func TestBinaryHelp(t *testing.T) {
	cases := []struct {
		args []string
		doc  *helpDoc // nil: the top-level usage
		want []string
		not  []string
	}{
		{[]string{"run", "--help"}, &runHelp, []string{"--once", "GRAPH_CLOUD=global", "KAFKA_BROKERS=", "WINDOW=1h", "POLL_INTERVAL=5m", "METRICS_ADDR=", "READY_STALL_FACTOR=3", "AZURE_CLIENT_ID=",
			"KAFKA_COMPRESSION=zstd", "KAFKA_BATCH_MAX_BYTES=65536", "GRAPH_AUTH=default", "KAFKA_CLIENT_ID=callstream",
			"GRAPH_MAX_PAGE_BYTES=67108864", "GRAPH_MAX_PAGES_PER_WINDOW=1000", "GRAPH_REQUEST_TIMEOUT=2m", "MAX_WINDOW_FAILURES=5"}, nil},
		{[]string{"backfill", "--help"}, &backfillHelp, []string{"--from TIME", "--to TIME", "--progress-every", "(default 30s)", "SETTLE_DELAY=15m", "CHECKPOINT_PATH=callstream-checkpoint.json"}, []string{"METRICS_ADDR", "\n  3 "}},
		{[]string{"check", "--help"}, &checkHelp, []string{"--timeout", "GRAPH_API_VERSION=v1.0", "SCHEMA_REGISTRY_URL=", "CHECKPOINT_STORE=kafka", "WINDOW=1h", "SOURCES=direct-routing", "POLL_INTERVAL=5m"}, nil},
		{[]string{"checkpoint", "--help"}, &checkpointHelp, []string{"checkpoint reset --to TIME", "--forward", "--yes", "CHECKPOINT_PATH=callstream-checkpoint.json", "duplicates, never loss", "KAFKA_BROKERS="}, nil},
		{[]string{"checkpoint", "show", "--help"}, &checkpointHelp, []string{"--json"}, nil},
		{[]string{"checkpoint", "reset", "--help"}, &checkpointHelp, []string{"--to TIME", "--yes"}, nil},
		{[]string{"demo", "--help"}, &demoHelp, []string{"--days", "--rows-per-hour", "reads no environment variable"}, []string{"KAFKA_"}},
		{[]string{"schema", "--help"}, &schemaHelp, []string{"--source", "SCHEMA_REGISTRY_URL=", "SCHEMA_AUTO_REGISTER=true", "KAFKA_TOPIC=teams.directrouting.calls", "GRAPH_API_VERSION=v1.0"}, []string{"KAFKA_BROKERS"}},
		{[]string{"schema", "register", "--help"}, &schemaHelp, nil, nil},
		{[]string{"--help"}, nil, []string{"backfill", "check", "checkpoint show", "checkpoint reset", "Exit codes", "3 fenced", "130"}, nil},
	}
	// Every registered command is run, with at least the generic checks.
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[strings.Join(tc.args, " ")] = true
	}
	for name, doc := range commandDocs() {
		if args := strings.Fields(name + " --help"); !covered[strings.Join(args, " ")] {
			cases = append(cases, struct {
				args []string
				doc  *helpDoc
				want []string
				not  []string
			}{args: args, doc: doc})
		}
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(callstreamBinary(t), tc.args...)
			cmd.Env = env{}.List()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v (want exit 0)\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("help wrote to stderr:\n%s", stderr.String())
			}
			out := stdout.String()
			want := tc.want
			if tc.doc != nil {
				reads := tc.doc.settingsOf()
				if len(reads) == 0 && len(tc.doc.sections)+len(tc.doc.names) > 0 {
					t.Fatalf("the help reads %v %v, which are no settings", tc.doc.sections, tc.doc.names)
				}
				for _, s := range reads {
					want = append(want, "    "+s.name+"="+s.def+" ")
				}
				want = append(want, "\nExit codes:\n")
				for _, code := range tc.doc.exits {
					want = append(want, fmt.Sprintf("\n  %-3d  ", code))
				}
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, out)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out, w) {
					t.Errorf("%q listed but not read by this command:\n%s", w, out)
				}
			}
		})
	}
}

// TestUsageNamesEveryCommand: the top-level usage lists every command
// that has a --help of its own.
func TestUsageNamesEveryCommand(t *testing.T) {
	for name := range commandDocs() {
		if !strings.Contains(usage, "callstream "+name) {
			t.Errorf("the usage does not name %s", name)
		}
	}
}

// TestEveryCommandListsItsExitCodes: run may be fenced (3); the commands
// that stop cleanly on a signal can be cut short by a second one (130).
func TestEveryCommandListsItsExitCodes(t *testing.T) {
	for name, want := range map[string][]int{
		"run":        {0, 1, 2, 3, 130},
		"backfill":   {0, 1, 2, 130},
		"check":      {0, 1, 2},
		"checkpoint": {0, 1, 2, 3},
		"demo":       {0, 1, 2, 130},
		"schema":     {0, 1, 2},
	} {
		doc := commandDocs()[name]
		if doc == nil {
			t.Errorf("%s is not in the command table", name)
			continue
		}
		var b strings.Builder
		printHelp(&b, *doc, flag.NewFlagSet(name, flag.ContinueOnError))
		for _, code := range want {
			if !strings.Contains(b.String(), fmt.Sprintf("\n  %-3d  ", code)) {
				t.Errorf("%s --help lacks exit code %d:\n%s", name, code, b.String())
			}
		}
	}
}

// TestHelpDefaultsAreWhatTheParserYields: for every setting with a shown
// default, setting the variable to that value yields the configuration an
// unset variable yields — so the help, the README and the docs generated
// from it cannot show a default the parser does not apply.
func TestHelpDefaultsAreWhatTheParserYields(t *testing.T) {
	base := map[string]string{"KAFKA_BROKERS": "127.0.0.1:9092"}
	type effect struct {
		Producer producer.Config
		Config   app.Config
	}
	effective := func(t *testing.T, extra map[string]string) effect {
		t.Helper()
		m := maps.Clone(base)
		maps.Copy(m, extra)
		cfg, err := loadConfig(t.Context(), envconfig.MapLookuper(m))
		if err != nil {
			t.Fatalf("%v: %v", extra, err)
		}
		pc, err := app.ProducerConfig(cfg, producer.Schema{}, nil, nil)
		if err != nil {
			t.Fatalf("%v: %v", extra, err)
		}
		// What the producer applies to zero values.
		if pc.Compression == "" {
			pc.Compression = producer.DefaultCompression
		}
		if pc.BatchMaxBytes == 0 {
			pc.BatchMaxBytes = producer.DefaultBatchMaxBytes
		}
		// The rest of the configuration, which producer.Config does not
		// carry, is compared as parsed.
		cfg.Kafka.Compression, cfg.Kafka.BatchMaxBytes = pc.Compression, pc.BatchMaxBytes
		cfg.Walk.Warnings = nil
		return effect{pc, cfg}
	}
	unset := effective(t, nil)
	shown := 0
	for _, s := range settings() {
		if s.def == "" {
			continue
		}
		shown++
		got := effective(t, map[string]string{s.name: s.def})
		if !reflect.DeepEqual(got, unset) {
			t.Errorf("%s: --help shows the default %q, but setting it to that differs from leaving it unset:\n set:   %+v\n unset: %+v", s.name, s.def, got, unset)
		}
	}
	for name := range derivedDefaults {
		found := false
		for _, s := range settings() {
			found = found || s.name == name && s.def == derivedDefaults[name]
		}
		if !found {
			t.Errorf("%s: its derived default is not shown", name)
		}
	}
	if shown < 30 {
		t.Errorf("only %d settings show a default", shown)
	}
	// Commands that read part of the environment declare the same defaults.
	all := map[string]string{}
	for _, s := range settings() {
		all[s.name] = s.def
	}
	for _, s := range appendSettings(nil, "", reflect.TypeFor[rawSchemaCmd]()) {
		if d, ok := all[s.name]; !ok || d != s.def {
			t.Errorf("schema reads %s with default %q; run's is %q", s.name, s.def, d)
		}
	}
}
