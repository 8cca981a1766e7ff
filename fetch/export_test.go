package fetch

import "github.com/callstream/callstream/sources"

// The functions the tests of fetch (and fetch_test) read, spelled by their
// SOURCES names: the tests assert the external contract of each.
var (
	DirectRoutingCalls = FunctionOf(sources.MustLookup("direct-routing"))
	PstnCalls          = FunctionOf(sources.MustLookup("pstn"))
)
