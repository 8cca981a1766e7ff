package schemas

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/callstream/callstream/sources"
)

// The source names the codec tests read, as SOURCES spells them: the
// tests assert each source's external contract.
const (
	SourceDirectRouting    = "direct-routing"
	SourcePstn             = "pstn"
	SourceSms              = "sms"
	SourcePstnBlockedUsers = "pstn-blocked-users"
	SourcePstnDialout      = "pstn-dialout"
)

// TestRegistryHasCodecs checks that the sources registry and the
// generated codecs agree: every registered source has a codec for each of
// its API versions, named after its Record, and every codec belongs to a
// registered source.
func TestRegistryHasCodecs(t *testing.T) {
	for _, src := range sources.All() {
		for _, v := range src.Versions {
			c, err := For(src.Name, v)
			if err != nil {
				t.Errorf("%s %s: %v", src.Name, v, err)
				continue
			}
			if c.Source() != src.Name || c.Version() != v {
				t.Errorf("For(%s, %s) = %s %s", src.Name, v, c.Source(), c.Version())
			}
			if want := "." + src.Record; len(c.Name()) < len(want) || c.Name()[len(c.Name())-len(want):] != want {
				t.Errorf("%s: record %s, registry says %s", src.Name, c.Name(), src.Record)
			}
		}
	}
	for _, sc := range sourceCodecs {
		if _, ok := sources.Lookup(sc.source); !ok {
			t.Errorf("codec %s has no sources entry", sc.source)
		}
	}
}

// TestAnnotationsMatchRegistry checks that each codec annotation
// (<Record>.codec.json) agrees with its source's registry entry on the
// record it describes, the id rows are deduplicated by and the property
// keys are cut from: the generator reads the annotation, the rest of
// callstream the registry.
func TestAnnotationsMatchRegistry(t *testing.T) {
	files, err := filepath.Glob("*.codec.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no annotations: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var a struct {
			Source   string   `json:"source"`
			ID       string   `json:"id"`
			Key      []string `json:"key"`
			Versions []struct {
				Version string `json:"version"`
			} `json:"versions"`
		}
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		src, ok := sources.Lookup(a.Source)
		if !ok {
			t.Errorf("%s: source %q is not registered", f, a.Source)
			continue
		}
		if want := src.Record + ".codec.json"; f != want {
			t.Errorf("%s: registry's record for %s is %s", f, src.Name, src.Record)
		}
		if a.ID != src.IDProperty {
			t.Errorf("%s: id %q, registry's IDProperty %q", f, a.ID, src.IDProperty)
		}
		if len(a.Key) == 0 || a.Key[0] != src.KeyProperty {
			t.Errorf("%s: key %q, registry's KeyProperty %q", f, a.Key, src.KeyProperty)
		}
		var versions []string
		for _, v := range a.Versions {
			versions = append(versions, v.Version)
		}
		if !slices.Equal(versions, src.Versions) {
			t.Errorf("%s: versions %v, registry's %v", f, versions, src.Versions)
		}
	}
}
