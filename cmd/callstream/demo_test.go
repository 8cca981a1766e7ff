package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

// TestDemo runs the README's first command (on one simulated day) and
// checks that it verified the topic and printed a decoded record.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := realMain([]string{"demo", "--days", "1", "--rows-per-hour", "1200"}, &out, &errb, envconfig.MapLookuper(nil)); code != 0 {
		t.Fatalf("demo exited %d:\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"walked 24 windows",
		"rows published     28800",
		"28800 records, 28800 distinct ids, 0 duplicates; simulated Graph holds 28800",
		"one record (Confluent framing, schema id",
		`"correlationId"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
