package fetch

import "github.com/callstream/callstream/sources"

// The functions the tests of fetch (and fetch_test) read, spelled by their
// SOURCES names: the tests assert the external contract of each.
var (
	DirectRoutingCalls = FunctionOf(sources.MustLookup("direct-routing"))
	PstnCalls          = FunctionOf(sources.MustLookup("pstn"))
)

// CallRecordsFn is the call-records source's function.
var CallRecordsFn = FunctionOf(sources.MustLookup("call-records"))

// RecordBuckets is how many call records' buckets b holds.
func (b *Budget) RecordBuckets() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.recs.records)
}
