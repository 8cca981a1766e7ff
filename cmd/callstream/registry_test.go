package main

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/callstream/callstream/sources"
	"github.com/callstream/callstream/walk"
)

// directRoutingSource is the walker's direct-routing source in v1.0, the
// one most command tests drive directly.
func directRoutingSource() walk.Source {
	s, err := walk.For(sources.MustLookup("direct-routing"), sources.V1)
	if err != nil {
		panic(err)
	}
	return s
}

// TestRegistryDrivesConfig checks that every registered source is a
// valid SOURCES value with its own topic setting, default, help line and
// place among the known settings, with no code per source here.
func TestRegistryDrivesConfig(t *testing.T) {
	// Every source offered in beta, together.
	var readable []string
	for _, src := range sources.All() {
		if src.Offers("beta") {
			readable = append(readable, src.Name)
		}
	}
	env := map[string]string{"KAFKA_BROKERS": "k:9092", "GRAPH_API_VERSION": "beta", "SOURCES": strings.Join(readable, ",")}
	c, err := loadConfig(context.Background(), envconfig.MapLookuper(env))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Walk.Sources, readable) {
		t.Errorf("SOURCES = %v", c.Walk.Sources)
	}
	// A source the configured version does not offer is refused naming
	// what to do.
	for _, src := range sources.All() {
		e := map[string]string{"KAFKA_BROKERS": "k:9092", "GRAPH_API_VERSION": "v1.0", "SOURCES": src.Name}
		_, err := loadConfig(context.Background(), envconfig.MapLookuper(e))
		switch {
		case !src.Offers("v1.0"):
			if err == nil || !strings.Contains(err.Error(), "GRAPH_API_VERSION=beta") {
				t.Errorf("SOURCES=%s on v1.0: %v, want GRAPH_API_VERSION=beta named", src.Name, err)
			}
		case err != nil:
			t.Errorf("SOURCES=%s on v1.0: %v", src.Name, err)
		}
	}
	for _, src := range sources.All() {
		if got := c.Kafka.TopicFor(src.Name); got != src.DefaultTopic {
			t.Errorf("TopicFor(%s) = %q, want the default %q", src.Name, got, src.DefaultTopic)
		}
		if !slices.Contains(settingNames(), src.TopicSetting) {
			t.Errorf("%s is not a known setting", src.TopicSetting)
		}
		if settingHelp[src.TopicSetting] == "" || settingDocs[src.TopicSetting] == "" {
			t.Errorf("%s has no help", src.TopicSetting)
		}
	}
	for _, src := range sources.All() {
		e := maps.Clone(env)
		e[src.TopicSetting] = " custom." + src.Name + " "
		c, err := loadConfig(context.Background(), envconfig.MapLookuper(e))
		if err != nil {
			t.Fatalf("%s: %v", src.TopicSetting, err)
		}
		if got := c.Kafka.TopicFor(src.Name); got != "custom."+src.Name {
			t.Errorf("%s set: TopicFor(%s) = %q", src.TopicSetting, src.Name, got)
		}
	}
	// A source sharing another's topic is refused, naming its setting.
	last := sources.All()[len(sources.All())-1]
	e := maps.Clone(env)
	e[last.TopicSetting] = sources.Default().DefaultTopic
	if _, err := loadConfig(context.Background(), envconfig.MapLookuper(e)); err == nil || !strings.Contains(err.Error(), last.TopicSetting) {
		t.Errorf("shared topic: %v", err)
	}
	e = maps.Clone(env)
	e["SOURCES"] = "nope"
	if _, err := loadConfig(context.Background(), envconfig.MapLookuper(e)); err == nil || !strings.Contains(err.Error(), sources.NameList("and/or")) {
		t.Errorf("unknown source: %v", err)
	}
}
