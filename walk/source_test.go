package walk

import (
	"strings"
	"testing"

	"github.com/callstream/callstream/sources"
)

// DirectRouting is the direct-routing source in v1.0, which most of the
// walker's tests read.
func DirectRouting() Source {
	s, err := For(sources.MustLookup("direct-routing"), sources.V1)
	if err != nil {
		panic(err)
	}
	return s
}

// TestFor builds the Source of every registered source and version, and
// checks that its name and function are the registry's.
func TestFor(t *testing.T) {
	for _, src := range sources.All() {
		if src.Kind != sources.Log {
			// Not walked yet: For refuses it, naming its kind.
			if _, err := For(src, src.Versions[0]); err == nil || !strings.Contains(err.Error(), src.Kind.String()) {
				t.Errorf("For(%s, an %s source) = %v", src.Name, src.Kind, err)
			}
			continue
		}
		for _, v := range src.Versions {
			s, err := For(src, v)
			if err != nil {
				t.Fatalf("For(%s, %s): %v", src.Name, v, err)
			}
			if s.Name != src.Name || string(s.Function) != src.Function || s.Encode == nil {
				t.Errorf("For(%s, %s) = %q, %q", src.Name, v, s.Name, s.Function)
			}
		}
	}
	src := sources.MustLookup("pstn")
	if _, err := For(src, "v2"); err == nil || !strings.Contains(err.Error(), "not offered") {
		t.Errorf("For(pstn, v2) = %v", err)
	}
	src.Kind = sources.Records
	if _, err := For(src, sources.V1); err == nil || !strings.Contains(err.Error(), "records") {
		t.Errorf("For(a records source) = %v", err)
	}
}
