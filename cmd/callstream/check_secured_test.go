package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/internal/kafkatest"
)

// securedKafka is a cluster that requires SASL — the real broker's
// SASL_SSL listener under scripts/kafka-test.sh, else an in-process kfake
// with SASL/PLAIN — and the settings that reach it.
func securedKafka(t *testing.T) env {
	t.Helper()
	if brokers, ca := os.Getenv("KAFKA_TEST_SASL_SSL_BROKERS"), os.Getenv("KAFKA_TEST_CA_FILE"); brokers != "" && ca != "" {
		return env{
			"KAFKA_BROKERS": brokers, "KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": ca,
			"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": os.Getenv("KAFKA_TEST_SASL_USER"),
			"KAFKA_SASL_PASSWORD": os.Getenv("KAFKA_TEST_SASL_PASSWORD"),
		}
	}
	kc := kafkatest.NewFake(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "svc", "svc-password"))
	return env{
		"KAFKA_BROKERS": strings.Join(kc.Brokers, ","), "KAFKA_SASL_MECHANISM": "PLAIN",
		"KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "svc-password",
	}
}

// TestBinaryCheckUsesRunsSecurityAndStore: `check` connects the way `run`
// does — the same TLS and SASL settings, the Kafka checkpoint store — for
// every configured source. After a run of both sources through a cluster
// that requires SASL (TLS too on the real broker), check passes and reports
// each source's watermark from the checkpoint topic; with a wrong password
// it fails on Kafka, as run would.
func TestBinaryCheckUsesRunsSecurityAndStore(t *testing.T) {
	end := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	p := newPipeline(t, graphsim.Config{Seed: 31, Start: end.Add(-2 * time.Hour), End: end, RowsPerHour: 200})
	for k, v := range securedKafka(t) {
		p.env[k] = v
	}
	suffix := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + time.Now().Format("150405.000000")
	p.env["KAFKA_TOPIC"] = "secured.dr." + suffix
	p.env["KAFKA_PSTN_TOPIC"] = "secured.pstn." + suffix
	p.env["KAFKA_CREATE_TOPICS"] = "true"
	p.env["SOURCES"] = "direct-routing,pstn"
	p.env["CHECKPOINT_STORE"] = "kafka"
	p.env["START_TIME"] = end.Add(-2 * time.Hour).Format(time.RFC3339)
	p.env["END_TIME"] = end.Format(time.RFC3339)
	if code := launch(t, p.env, nil, "run", "--once").Wait(t, 2*time.Minute); code != 0 {
		t.Fatal("run --once through the secured cluster failed")
	}
	check := launch(t, p.env, nil, "check")
	if code := check.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("check: exit %d\n%s", code, check.Out)
	}
	out := check.Out.String()
	for _, source := range []string{"direct-routing", "pstn"} {
		want := "checkpoint topic " + p.env["KAFKA_TOPIC"] + ".checkpoint: " + source + ": watermark " + fmtTime(end)
		if !strings.Contains(out, want) {
			t.Errorf("check does not report %q:\n%s", want, out)
		}
	}
	wrong := p.env.With(env{"KAFKA_SASL_PASSWORD": "not-the-password"})
	bad := launch(t, wrong, nil, "check", "--timeout", "20s")
	if code := bad.Wait(t, 2*time.Minute); code == 0 || !strings.Contains(bad.Out.String(), "FAIL") {
		t.Fatalf("check with a wrong SASL password: exit %d\n%s", code, bad.Out)
	}
}
