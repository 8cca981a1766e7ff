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
// checks that its name, function and kind are the registry's; a kind the
// walker does not read (Records, issue 17) is refused, naming it.
func TestFor(t *testing.T) {
	for _, src := range sources.All() {
		for _, v := range src.Versions {
			s, err := For(src, v)
			if err != nil {
				t.Fatalf("For(%s, %s): %v", src.Name, v, err)
			}
			if s.Name != src.Name || string(s.Function) != src.Function || s.Encode == nil {
				t.Errorf("For(%s, %s) = %q, %q", src.Name, v, s.Name, s.Function)
			}
			// An aggregate is walked by days and versions, a log by ids.
			if s.Aggregate != (src.Kind == sources.Aggregate) {
				t.Errorf("For(%s, %s): Aggregate %v for a %v source", src.Name, v, s.Aggregate, src.Kind)
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
