package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated settings tables in README.md and docs/")

// settingsMarker matches one generated block; the text between the
// markers is replaced as a whole.
var settingsMarker = regexp.MustCompile(`(?s)(<!-- settings:begin ([^>]*?) -->\n)(.*?)(<!-- settings:end -->)`)

// docFiles are the Markdown files that may hold generated settings tables.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../../README.md"}, files...)
}

// TestGeneratedDocs checks that the settings tables committed in README.md
// and docs/ are what settings(), settingHelp and settingDocs generate, so
// that they cannot drift from what the binary reads. `go generate
// ./cmd/callstream` (this test with -update) rewrites them.
func TestGeneratedDocs(t *testing.T) {
	blocks := 0
	documented := map[string]bool{}
	for _, path := range docFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var genErr error
		got := settingsMarker.ReplaceAllStringFunc(string(b), func(m string) string {
			sm := settingsMarker.FindStringSubmatch(m)
			blocks++
			table, err := settingsMarkdown(sm[2])
			if err != nil {
				genErr = err
				return m
			}
			for _, s := range settings() {
				if strings.Contains(table, "| `"+s.name+"` |") {
					documented[s.name] = true
				}
			}
			return sm[1] + table + sm[4]
		})
		if genErr != nil {
			t.Errorf("%s: %v", path, genErr)
			continue
		}
		if got == string(b) {
			continue
		}
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s: the settings tables differ from what is generated; run go generate ./cmd/callstream", path)
	}
	if blocks < 5 {
		t.Errorf("found %d generated settings tables, want README's and the docs'", blocks)
	}
	for _, s := range settings() {
		if !documented[s.name] {
			t.Errorf("%s is in no generated table", s.name)
		}
	}
}

// TestGeneratedDocsBite: a changed default shows as a difference.
func TestGeneratedDocsBite(t *testing.T) {
	table, err := settingsMarkdown("all")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| `KAFKA_COMPRESSION` | `zstd` |", "| `WINDOW` | `1h` |", "| `KAFKA_BROKERS` | — |", "| `KAFKA_CLIENT_ID` | `callstream` |", "| **Windows** | | |"} {
		if !strings.Contains(table, want) {
			t.Errorf("no %q in:\n%s", want, table)
		}
	}
	if _, err := settingsMarkdown("Graph NO_SUCH_SETTING"); err == nil {
		t.Error("an unknown name in a marker was accepted")
	}
}

// TestConnectSettingsDocumented: every environment variable the Kafka
// Connect configurations in deploy/connect/ reference is documented in
// docs/kafka-ecosystem.md.
func TestConnectSettingsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/kafka-ecosystem.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../deploy/connect/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Connect configurations: %v", err)
	}
	ref := regexp.MustCompile(`\$\{env:([A-Z0-9_]+)\}`)
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			seen++
			if !strings.Contains(string(doc), "`"+m[1]+"`") {
				t.Errorf("%s uses ${env:%s}, which docs/kafka-ecosystem.md does not document", filepath.Base(f), m[1])
			}
		}
	}
	if seen == 0 {
		t.Error("found no ${env:…} reference in deploy/connect/")
	}
}
