package main

import (
	"strings"
	"testing"
	"time"
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

// TestBinaryHelp runs --help for every subcommand and checks that it exits
// 0 and lists the subcommand's settings with their defaults.
func TestBinaryHelp(t *testing.T) {
	cases := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"run", "--help"}, []string{"--once", "GRAPH_CLOUD=global", "KAFKA_BROKERS=", "WINDOW=1h", "POLL_INTERVAL=5m", "METRICS_ADDR=", "READY_STALL_FACTOR=3", "AZURE_CLIENT_ID=", "Exit codes"}, nil},
		{[]string{"backfill", "--help"}, []string{"--from TIME", "--to TIME", "--progress-every", "(default 30s)", "SETTLE_DELAY=15m", "CHECKPOINT_PATH=callstream-checkpoint.json"}, []string{"METRICS_ADDR"}},
		{[]string{"check", "--help"}, []string{"--timeout", "GRAPH_API_VERSION=v1.0", "SCHEMA_REGISTRY_URL=", "CHECKPOINT_STORE=kafka"}, []string{"POLL_INTERVAL"}},
		{[]string{"checkpoint", "--help"}, []string{"checkpoint reset --to TIME", "--forward", "--yes", "CHECKPOINT_PATH=callstream-checkpoint.json", "duplicates, never loss"}, []string{"KAFKA_BROKERS"}},
		{[]string{"checkpoint", "reset", "--help"}, []string{"--to TIME", "--yes"}, nil},
		{[]string{"--help"}, []string{"backfill", "check", "checkpoint show", "checkpoint reset", "Exit codes"}, nil},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			proc := launch(t, env{}, nil, tc.args...)
			if code := proc.wait(t, 30*time.Second); code != 0 {
				t.Fatalf("exit %d, want 0\n%s", code, proc.out)
			}
			for _, w := range tc.want {
				if !strings.Contains(proc.out.String(), w) {
					t.Errorf("no %q in:\n%s", w, proc.out)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(proc.out.String(), w) {
					t.Errorf("%q listed but not read by this command:\n%s", w, proc.out)
				}
			}
		})
	}
}
