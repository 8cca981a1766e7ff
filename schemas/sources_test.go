package schemas

import (
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
// its API versions, named after its Record and of its kind, and every
// codec belongs to a registered source. The generator derives each codec
// from the registry entry (schemas/internal/codegen, derive), and
// TestGeneratedFilesUpToDate checks the generated files are its output, so
// this catches a stale generation or a hand edit.
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
			if c.Aggregate() != (src.Kind == sources.Aggregate) {
				t.Errorf("%s: codec aggregate %v, registry's kind %v", src.Name, c.Aggregate(), src.Kind)
			}
		}
	}
	for _, sc := range sourceCodecs {
		if _, ok := sources.Lookup(sc.source); !ok {
			t.Errorf("codec %s has no sources entry", sc.source)
		}
	}
}
