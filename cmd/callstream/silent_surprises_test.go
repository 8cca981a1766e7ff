package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
)

// Issue 15, item 3: what a run silently ignored is said.

// TestBinaryStartIgnoredByCheckpointWarns: once a checkpoint exists, a
// START_TIME or --start is ignored, and run says so at WARN with the
// command that moves the checkpoint; the first run, which uses it, does
// not.
func TestBinaryStartIgnoredByCheckpointWarns(t *testing.T) {
	for _, store := range []string{"file", "kafka"} {
		t.Run(store, func(t *testing.T) {
			p := hostilePipeline(t)
			p.env["CHECKPOINT_STORE"] = store
			first := launch(t, p.env, nil, "run", "--once")
			if code := first.Wait(t, time.Minute); code != 0 {
				t.Fatalf("first run: exit %d\n%s", code, first.Out)
			}
			if msg := findLog(first.Out.String(), "START_TIME"); msg != "" {
				t.Errorf("the first run, which starts at START_TIME, warns: %s", msg)
			}
			start := p.start.Format(time.RFC3339)
			for _, tc := range []struct{ setting, flag string }{{"START_TIME", ""}, {"--start", start}} {
				args := []string{"run", "--once"}
				if tc.flag != "" {
					args = append(args, "--start", tc.flag)
				}
				proc := launch(t, p.env, nil, args...)
				if code := proc.Wait(t, time.Minute); code != 0 {
					t.Fatalf("%v: exit %d\n%s", args, code, proc.Out)
				}
				msg := findLog(proc.Out.String(), tc.setting+" "+start+" is ignored for direct-routing")
				if msg == "" || !strings.Contains(msg, "resumes from "+p.end.Format(time.RFC3339)) ||
					!strings.Contains(msg, "callstream checkpoint reset --source direct-routing --to "+start) {
					t.Errorf("%v: no warning that the checkpoint wins over %s, with the way to move it:\n%s", args, tc.setting, proc.Out)
				}
			}
		})
	}
}

// TestBinaryTimesAcceptDates: START_TIME, END_TIME, --start and --end take
// a plain date as backfill's --from and --to do; a date of year one is
// refused as its RFC 3339 form is.
func TestBinaryTimesAcceptDates(t *testing.T) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day := today.Add(-24 * time.Hour)
	p := newPipeline(t, graphsim.Config{Seed: 3, Start: day, End: today, RowsPerHour: 10, PageSize: 50})
	p.env["CHECKPOINT_STORE"] = "file"
	dates := []struct {
		name string
		env  env
		args []string
	}{
		{"START_TIME and END_TIME", env{"START_TIME": day.Format(time.DateOnly), "END_TIME": today.Format(time.DateOnly)}, nil},
		{"--start and --end", env{"START_TIME": "", "END_TIME": ""}, []string{"--start", day.Format(time.DateOnly), "--end", today.Format(time.DateOnly)}},
	}
	for _, tc := range dates {
		t.Run(tc.name, func(t *testing.T) {
			e := p.env.With(tc.env)
			e["KAFKA_TOPIC"] = p.kafka.Topic(t, 1, nil)
			e["CHECKPOINT_PATH"] = t.TempDir() + "/cp.json"
			proc := launch(t, e, nil, append([]string{"run", "--once"}, tc.args...)...)
			if code := proc.Wait(t, time.Minute); code != 0 {
				t.Fatalf("exit %d, want 0\n%s", code, proc.Out)
			}
			if got, want := len(p.kafka.ReadAll(t, e["KAFKA_TOPIC"], true)), p.sim.Count(day, today); got != want {
				t.Errorf("%d records, want the %d rows of %s", got, want, day.Format(time.DateOnly))
			}
			if wm, _ := proc.LogLine(t, "caught up", time.Second)["watermark"].(string); wm != today.Format(time.RFC3339) {
				t.Errorf("caught up at %q, want %s", wm, today.Format(time.RFC3339))
			}
		})
	}
	t.Run("year one", func(t *testing.T) {
		proc := launch(t, p.env.With(env{"START_TIME": "0001-01-01", "END_TIME": ""}), nil, "run", "--once")
		if code := proc.Wait(t, 20*time.Second); code != 2 || !strings.Contains(proc.Out.String(), "START_TIME 0001-01-01: before 2018-01-01") {
			t.Fatalf("exit %d, want 2 naming START_TIME:\n%s", code, proc.Out)
		}
	})
}

// TestBinaryUnknownSettingsWarned: a variable with one of our prefixes
// that is no setting is warned about by run, backfill and check, naming
// the closest setting; a near miss of a setting whose absence is an error
// is named with that error (exit 2). Other variables are left alone.
func TestBinaryUnknownSettingsWarned(t *testing.T) {
	p := hostilePipeline(t)
	e := p.env.With(env{"KAFKA_TOPICS": "typo", "CHECKPOINT_STORE": "file", "AZURE_REGIONAL_AUTHORITY_NAME": "x",
		"KAFKA_TEST_BROKERS": "x", "EDITOR": "vi"})
	const want = "KAFKA_TOPICS is not a callstream setting and is ignored; did you mean KAFKA_TOPIC?"
	run := launch(t, e, nil, "run", "--once")
	if code := run.Wait(t, time.Minute); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, run.Out)
	}
	if findLog(run.Out.String(), want) == "" {
		t.Errorf("run does not warn about KAFKA_TOPICS:\n%s", run.Out)
	}
	backfill := launch(t, e, nil, "backfill", "--from", p.start.Format(time.RFC3339), "--to", p.end.Format(time.RFC3339))
	if code := backfill.Wait(t, time.Minute); code != 0 {
		t.Fatalf("backfill: exit %d\n%s", code, backfill.Out)
	}
	if findLog(backfill.Out.String(), want) == "" {
		t.Errorf("backfill does not warn about KAFKA_TOPICS:\n%s", backfill.Out)
	}
	check := launch(t, e, nil, "check", "--timeout", "5s")
	if code := check.Wait(t, time.Minute); code != 0 {
		t.Fatalf("check: exit %d\n%s", code, check.Out)
	}
	out := check.Out.String()
	if !strings.Contains(out, "warn  configuration     "+want) {
		t.Errorf("check does not print a warn line about KAFKA_TOPICS:\n%s", out)
	}
	for _, s := range []string{"AZURE_AUTHORITY_HOST", "KAFKA_TEST_BROKERS", "EDITOR"} {
		if strings.Contains(out+run.Out.String(), s) {
			t.Errorf("%s is warned about:\n%s", s, out)
		}
	}

	bad := p.env.With(env{"KAFKA_BROKERS": "", "KAFKA_BROKER": p.env["KAFKA_BROKERS"]})
	delete(bad, "KAFKA_BROKERS")
	proc := launch(t, bad, nil, "run", "--once")
	if code := proc.Wait(t, 20*time.Second); code != 2 || !strings.Contains(proc.Out.String(), "did you mean KAFKA_BROKERS?") {
		t.Errorf("exit %d, want 2 naming KAFKA_BROKERS as the near miss:\n%s", code, proc.Out)
	}
}

func TestUnknownSettings(t *testing.T) {
	cases := []struct {
		name string
		env  environ
		want []string
	}{
		{"typo with a prefix", environ{"KAFKA_TOPICS": "x"}, []string{"KAFKA_TOPICS is not a callstream setting and is ignored; did you mean KAFKA_TOPIC?"}},
		{"near miss without a prefix", environ{"SOURCE": "pstn"}, []string{"SOURCE is not a callstream setting and is ignored; did you mean SOURCES?"}},
		{"far from any", environ{"GRAPH_SOMETHING_ELSE_ENTIRELY": "x"}, []string{"GRAPH_SOMETHING_ELSE_ENTIRELY is not a callstream setting and is ignored (COMMAND --help lists them)"}},
		{"near miss of a fleet setting", environ{"CLUSTER_GROPU": "g"}, []string{"CLUSTER_GROPU is not a callstream setting and is ignored; did you mean CLUSTER_GROUP?"}},
		{"fleet settings", environ{"TENANTS": "a,b", "CLUSTER_GROUP": "g", "CLUSTER_INSTANCE_ID": "r0"}, nil},
		{"settings and strangers", environ{"KAFKA_TOPIC": "t", "SOURCES": "pstn", "PATH": "/bin", "AZURE_AUTHORITY_HOST": "h", "AZURE_CLIENT_SECRETS": "x", "KAFKA_TEST_BROKERS": "b"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := unknownSettings(tc.env); !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, name := range []string{"KAFKA_BROKERS", "START_TIME", "WINDOW", "AZURE_CLIENT_SECRET", "METRICS_ADDR", "SCHEMA_AUTO_REGISTER"} {
		if !slices.Contains(settingNames(), name) {
			t.Errorf("%s is missing from the settings derived from the config structs", name)
		}
	}
}
