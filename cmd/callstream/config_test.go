package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(context.Background(), envconfig.MapLookuper(map[string]string{
		"KAFKA_BROKERS": "a:9092, b:9092",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Graph.BaseURL != "https://graph.microsoft.com" || c.Graph.APIVersion != "v1.0" || c.Graph.Cloud.Name != "global" {
		t.Errorf("graph %+v", c.Graph)
	}
	if len(c.Kafka.Brokers) != 2 || c.Kafka.Brokers[1] != "b:9092" || c.Kafka.Topic == "" {
		t.Errorf("kafka %+v", c.Kafka)
	}
	if c.Walk.Window != time.Hour || c.Walk.SettleDelay != 15*time.Minute || len(c.Walk.RescanAfter) != 4 || c.Walk.RescanAfter[3] != 72*time.Hour {
		t.Errorf("walk %+v", c.Walk)
	}
	if c.Checkpoint.Store != "kafka" || c.Checkpoint.Topic != "" {
		t.Errorf("checkpoint %+v", c.Checkpoint)
	}
}

func TestLoadConfigClouds(t *testing.T) {
	for cloud, graph := range map[string]string{"global": "https://graph.microsoft.com", "usgov": "https://graph.microsoft.us", "dod": "https://dod-graph.microsoft.us"} {
		c, err := loadConfig(context.Background(), envconfig.MapLookuper(map[string]string{"KAFKA_BROKERS": "k:9092", "GRAPH_CLOUD": cloud}))
		if err != nil {
			t.Fatal(err)
		}
		if c.Graph.BaseURL != graph {
			t.Errorf("%s: base %s, want %s", cloud, c.Graph.BaseURL, graph)
		}
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"missing brokers", map[string]string{}, []string{"KAFKA_BROKERS is required"}},
		{"many at once", map[string]string{
			"KAFKA_BROKERS":      "k:9092",
			"GRAPH_CLOUD":        "china",
			"GRAPH_BASE_URL":     "ftp://x",
			"GRAPH_API_VERSION":  "v2",
			"GRAPH_MAX_ATTEMPTS": "0",
			"WINDOW":             "1500ms",
			"SETTLE_DELAY":       "-1m",
			"RESCAN_AFTER":       "1h,later",
			"POLL_INTERVAL":      "10ms",
			"START_TIME":         "yesterday",
			"CHECKPOINT_STORE":   "s3",
			"LOG_LEVEL":          "loud",
			"LOG_FORMAT":         "xml",
		}, []string{"GRAPH_CLOUD", "China", "GRAPH_BASE_URL", "GRAPH_API_VERSION", "GRAPH_MAX_ATTEMPTS", "WINDOW", "SETTLE_DELAY", "RESCAN_AFTER", "POLL_INTERVAL", "START_TIME", "CHECKPOINT_STORE", "LOG_LEVEL", "LOG_FORMAT"}},
		{"end before start", map[string]string{"KAFKA_BROKERS": "k:9092", "START_TIME": "2026-01-02T00:00:00Z", "END_TIME": "2026-01-01T00:00:00Z"}, []string{"END_TIME"}},
		{"profiles without a listener", map[string]string{"KAFKA_BROKERS": "k:9092", "METRICS_PPROF": "true"}, []string{"METRICS_PPROF", "METRICS_ADDR"}},
		{"window over 90 days", map[string]string{"KAFKA_BROKERS": "k:9092", "WINDOW": "2200h"}, []string{"90 days"}},
		{"base url with path", map[string]string{"KAFKA_BROKERS": "k:9092", "GRAPH_BASE_URL": "https://graph.microsoft.com/v1.0"}, []string{"without a path"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(context.Background(), envconfig.MapLookuper(tc.env))
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("err %v, want a configError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%s", w, err)
				}
			}
			if len(ce.Problems) < len(tc.want)-1 {
				t.Errorf("%d problems reported, want about %d:\n%s", len(ce.Problems), len(tc.want), err)
			}
		})
	}
}
