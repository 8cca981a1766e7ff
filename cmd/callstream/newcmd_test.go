package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/testkit"
)

// TestBinaryVersionShowsTheStamps builds the binary with the stamps the
// Dockerfile and the Makefile pass and checks that version, version --json
// and --version print them.
func TestBinaryVersionShowsTheStamps(t *testing.T) {
	const commit, date = "feedfacecafebeef0000111122223333deadbeef", "2026-02-03T04:05:06Z"
	bin := testkit.Binary(t, "./cmd/callstream", "-X main.version=v9.8.7", "-X main.commit="+commit, "-X main.date="+date)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errOut, code := testkit.Run(t, bin, env{}, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		first, _, _ := strings.Cut(out, "\n")
		if first != "callstream v9.8.7" || !strings.Contains(out, "commit  "+commit) || !strings.Contains(out, "built   "+date) {
			t.Errorf("%v printed:\n%s\nwant callstream v9.8.7, the commit and the build date", args, out)
		}
	}
	out, _, _ := testkit.Run(t, bin, env{}, "version", "--json")
	var v buildVersion
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Commit != commit || v.BuildDate != date || v.Version != "v9.8.7" {
		t.Errorf("version --json: %v %+v", err, v)
	}
	// Without stamps nor VCS information, the fields say so.
	out, _, _ = testkit.Run(t, callstreamBinary(t), env{}, "version", "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Commit == "" || v.BuildDate == "" || v.Version != "dev" {
		t.Errorf("unstamped version --json: %v %+v", err, v)
	}
}

// secretValues are a distinctive value for every setting that holds a
// credential; none may ever be printed by config.
var secretValues = map[string]string{
	"GRAPH_ACCESS_TOKEN":                "tok-GRAPHACCESS-4f1",
	"AZURE_CLIENT_SECRET":               "sec-AZURECLIENT-9a2",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw-AZURECERT-77c",
	"KAFKA_SASL_USERNAME":               "user-SASLUSER-3d0",
	"KAFKA_SASL_PASSWORD":               "pw-SASLPASS-1b8",
	"SCHEMA_REGISTRY_USERNAME":          "user-REGUSER-0e6",
	"SCHEMA_REGISTRY_PASSWORD":          "pw-REGPASS-5c3",
	"SCHEMA_REGISTRY_BEARER_TOKEN":      "tok-REGBEARER-a99",
}

// TestBinaryConfigRedactsSecrets sets every secret to a distinctive value
// and checks config (text and JSON, valid and invalid) never prints one,
// marks each as set, and shows defaults and where each value came from.
func TestBinaryConfigRedactsSecrets(t *testing.T) {
	e := env{"KAFKA_BROKERS": "localhost:9092", "KAFKA_SASL_MECHANISM": "PLAIN", "WINDOW": "30m"}
	for k, v := range secretValues {
		e[k] = v
	}
	for _, s := range settings() {
		if secretSetting(s.name) {
			if _, ok := secretValues[s.name]; !ok {
				t.Errorf("%s is redacted but has no distinctive value in this test", s.name)
			}
		}
	}
	// The registry's user name and bearer token are exclusive: the valid
	// configuration leaves the token out, the others set it.
	valid := env{}
	for k, v := range e {
		if k != "SCHEMA_REGISTRY_BEARER_TOKEN" {
			valid[k] = v
		}
	}
	bad := env{"SCHEMA_REGISTRY_URL": "https://reguser:pw-INURL-6f2@registry.example", "WINDOW": "banana"}
	for k, v := range e {
		if _, ok := bad[k]; !ok {
			bad[k] = v
		}
	}
	for _, tc := range []struct {
		name string
		e    env
		code int
	}{{"valid", valid, 0}, {"every secret", e, 2}, {"invalid", bad, 2}} {
		for _, args := range [][]string{{"config"}, {"config", "--json"}} {
			out, errOut, code := testkit.Run(t, callstreamBinary(t), tc.e, args...)
			if code != tc.code {
				t.Fatalf("%s %v: exit %d, want %d\n%s%s", tc.name, args, code, tc.code, out, errOut)
			}
			for name, v := range secretValues {
				if strings.Contains(out+errOut, v) {
					t.Errorf("%s %v printed %s's value", tc.name, args, name)
				}
			}
			if strings.Contains(out+errOut, "pw-INURL-6f2") || strings.Contains(out+errOut, "reguser") {
				t.Errorf("%s %v printed the URL's userinfo", tc.name, args)
			}
			if args[len(args)-1] == "--json" {
				var doc struct {
					Settings []effectiveSetting
					Valid    bool
					Problems []string
				}
				if err := json.Unmarshal([]byte(out), &doc); err != nil {
					t.Fatalf("%s config --json: %v\n%s", tc.name, err, out)
				}
				got := map[string]effectiveSetting{}
				for _, s := range doc.Settings {
					got[s.Name] = s
				}
				if len(got) != len(settings()) {
					t.Errorf("%d settings printed, want all %d", len(got), len(settings()))
				}
				for name := range secretValues {
					if _, set := tc.e[name]; !set {
						continue
					}
					if got[name].Value != redacted || got[name].Source != "env" {
						t.Errorf("%s: %+v, want %q from env", name, got[name], redacted)
					}
				}
				if s := got["SETTLE_DELAY"]; s.Value != "15m" || s.Source != "default" {
					t.Errorf("SETTLE_DELAY: %+v, want the default 15m", s)
				}
				if doc.Valid != (tc.code == 0) || (tc.name == "invalid" && !slices.ContainsFunc(doc.Problems, func(p string) bool { return strings.Contains(p, "WINDOW") })) {
					t.Errorf("%s: valid %v, problems %q", tc.name, doc.Valid, doc.Problems)
				}
				continue
			}
			lines := map[string]string{}
			for _, l := range strings.Split(out, "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					lines[k] = strings.Join(strings.Fields(v), " ")
				}
			}
			for name, want := range map[string]string{"SETTLE_DELAY": "15m (default)", "KAFKA_SASL_PASSWORD": redacted + " (env)",
				"CHECKPOINT_STORE": "kafka (default)", "WINDOW": tc.e["WINDOW"] + " (env)", "KAFKA_DLQ_TOPIC": `"" (default)`} {
				if lines[name] != want {
					t.Errorf("%s config: %s=%s, want %s", tc.name, name, lines[name], want)
				}
			}
			if tc.name == "invalid" && !strings.Contains(errOut, `WINDOW "banana"`) {
				t.Errorf("invalid config: stderr lacks the problem:\n%s", errOut)
			}
		}
	}
}

// TestBinaryEnvFile: --env-file's settings apply, before or after the
// command; the real environment wins; a bad line exits 2 naming file:line
// without echoing the line.
func TestBinaryEnvFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "local.env")
	body := "# local settings\n\nexport KAFKA_BROKERS=filehost:9092\nWINDOW='30m'\nSETTLE_DELAY=\"5m\" # inline comment\nKAFKA_TOPIC=from-file\n"
	if err := os.WriteFile(good, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	values := func(out string) map[string]effectiveSetting {
		var doc struct{ Settings []effectiveSetting }
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		m := map[string]effectiveSetting{}
		for _, s := range doc.Settings {
			m[s.Name] = s
		}
		return m
	}
	for _, args := range [][]string{{"--env-file", good, "config", "--json"}, {"config", "--json", "--env-file=" + good}} {
		out, errOut, code := testkit.Run(t, callstreamBinary(t), env{"KAFKA_TOPIC": "from-env"}, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		m := values(out)
		for name, want := range map[string]string{"KAFKA_BROKERS": "filehost:9092", "WINDOW": "30m", "SETTLE_DELAY": "5m", "KAFKA_TOPIC": "from-env"} {
			if m[name].Value != want || m[name].Source != "env" {
				t.Errorf("%v: %s = %+v, want %q", args, name, m[name], want)
			}
		}
	}
	bad := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(bad, []byte("KAFKA_BROKERS=x:1\nthis line has s3cr3t-no-equals\nWINDOW=\"unterminated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := testkit.Run(t, callstreamBinary(t), env{}, "--env-file", bad, "config")
	if code != 2 || !strings.Contains(errOut, bad+":2") || !strings.Contains(errOut, bad+":3") || strings.Contains(errOut, "s3cr3t") {
		t.Errorf("bad env file: exit %d, stderr:\n%s\nwant 2 naming %s:2 and :3, without the line's text", code, errOut, bad)
	}
	_, errOut, code = testkit.Run(t, callstreamBinary(t), env{}, "--env-file", filepath.Join(dir, "missing.env"), "config")
	if code != 2 || !strings.Contains(errOut, "missing.env") {
		t.Errorf("missing env file: exit %d\n%s", code, errOut)
	}
}

// TestBinaryCompletion: every shell's script is printed, names every
// command of the table and its flags, and bash's parses.
func TestBinaryCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := testkit.Run(t, callstreamBinary(t), env{}, "completion", sh)
		if code != 0 {
			t.Fatalf("completion %s: exit %d\n%s", sh, code, errOut)
		}
		for _, c := range commands {
			if !strings.Contains(out, c.name) {
				t.Errorf("%s script lacks the command %s", sh, c.name)
			}
			for _, f := range c.flags {
				if !strings.Contains(out, f) {
					t.Errorf("%s script lacks %s's flag %s", sh, c.name, f)
				}
			}
		}
		if path, err := exec.LookPath(sh); err == nil && sh != "fish" {
			check := exec.Command(path, "-n")
			check.Stdin = strings.NewReader(out)
			if b, err := check.CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", sh, err, b)
			}
		} else if sh == "bash" {
			t.Error("bash is not installed: the script cannot be checked")
		}
	}
	if _, _, code := testkit.Run(t, callstreamBinary(t), env{}, "completion", "powershell"); code != 2 {
		t.Errorf("completion powershell: exit %d, want 2", code)
	}
}

// TestCommandTable keeps the table (which completion reads) and the
// commands' own flags in step: each flag listed is one --help shows, and
// each flag --help shows is listed.
func TestCommandTable(t *testing.T) {
	for _, c := range commands {
		args := []string{c.name}
		if c.name == "checkpoint" {
			args = append(args, "show")
		}
		out, errOut, code := testkit.Run(t, callstreamBinary(t), env{}, append(args, "--help")...)
		if code != 0 || !strings.Contains(out, "Exit codes") {
			t.Errorf("%s --help: exit %d, want 0 and the exit codes\n%s%s", c.name, code, out, errOut)
		}
		var shown []string
		sc := bufio.NewScanner(strings.NewReader(out))
		inFlags := false
		for sc.Scan() {
			l := sc.Text()
			switch {
			case l == "Flags:":
				inFlags = true
			case inFlags && strings.HasPrefix(strings.TrimSpace(l), "-"):
				// One-letter flags are shown with one dash (-v), others with two.
				f, _, _ := strings.Cut(strings.TrimLeft(strings.TrimSpace(l), "-"), " ")
				shown = append(shown, f)
			case inFlags:
				inFlags = false
			}
		}
		for _, f := range shown {
			if !slices.Contains(c.flags, f) {
				t.Errorf("%s --help shows --%s, which the command table lacks", c.name, f)
			}
		}
		if c.name != "checkpoint" { // show and reset split its flags
			for _, f := range c.flags {
				if !slices.Contains(shown, f) {
					t.Errorf("the command table lists --%s for %s, whose --help does not show it", f, c.name)
				}
			}
		}
	}
}

// TestBinaryJSONLogDurations: JSON log lines carry durations in Go's
// syntax ("1h0m0s"), not integer nanoseconds.
func TestBinaryJSONLogDurations(t *testing.T) {
	p := recentPipeline(t)
	p.env["CHECKPOINT_STORE"] = "file"
	proc := launch(t, p.env, nil, "run", "--once")
	if code := proc.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("exit %d\n%s", code, proc.Out)
	}
	rec := proc.LogLine(t, "walking", time.Second)
	if rec["window"] != "1h0m0s" || rec["settle_delay"] != "0s" {
		t.Errorf("walking: window %#v, settle_delay %#v; want the strings 1h0m0s and 0s", rec["window"], rec["settle_delay"])
	}
}
