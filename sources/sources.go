// Package sources is the registry of the Graph functions callstream reads:
// what each one is (its SOURCES name, Graph function and path, whether its
// toDateTime is inclusive, its API versions, the properties rows are
// deduplicated, keyed and windowed on, its default topic and the setting
// that overrides it, and the simulator's data set that answers it). It is
// the one place that names a source: configuration, the schema and
// checkpoint commands, check, demo, metrics, fetch, the simulator and the
// walker all read it, so that a new source is one entry here rather than
// an edit in every package.
//
// The package imports nothing of callstream's: every other package may
// import it (cmd → walker → {fetch, schemas, producer, checkpoint} →
// sources), and it hands them plain values, never behaviour, so none of
// them depends on another through it.
//
// # Kinds
//
// Most sources are a [Log]: rows selected by a time range on
// [Source.TimeProperty], read in half-open windows, deduplicated by
// [Source.IDProperty] within the rescan horizon. The other kinds:
//
//   - [Records] (Teams call records): a listing of records by a time range
//     on [Source.TimeProperty] (read in windows like a Log), each listed
//     record then read whole with [Source.Expand] (its nested collections
//     followed page by page), and published again whenever its
//     [Source.VersionProperty] grows: the dedup unit is (id, version), not
//     id. Its Path is the collection's ("communications/callRecords"), not
//     a function's: it has no QualifiedPrefix.
//   - [Aggregate] (pstn-dialout): figures per grouping over the range
//     asked, read per UTC day and keyed by day + the grouping
//     properties ([Source.GroupBy]); a row is republished
//     when a re-read changes it (an upsert stream for a compacted topic).
//     It has no IDProperty or TimeProperty; it has GroupBy.
//
// Fields that only make sense for one kind say so; a consumer that meets a
// kind it does not implement must refuse the source, not treat it as a
// Log.
//
// # Adding a source
//
//  1. One entry in [registry] below (its Name is what SOURCES, --source,
//     checkpoint scopes, transactional ids, the callstream.source header
//     and the metrics' source label spell; never rename one).
//  2. Its schema: schemas/<Record>.avsc for v1.0 and
//     schemas/<Record>.beta.avsc for beta (one per entry of Versions, each
//     holding the record named Record and an "additionalProperties"
//     field), then `go generate ./schemas` (see schemas/doc.go). The
//     generator derives the row type's codec from the entry and the
//     schemas: no per-source annotation or Go code. It fails for an entry
//     whose .avsc is missing or disagrees with it, and for an .avsc no
//     entry names.
//  3. Its simulator data set in graphsim, under the entry's DataSet
//     name (the simulator refuses to start with an entry it has no data
//     set for).
//  4. Tests: a golden test for the codec, the boundary test of its end
//     inclusivity and MaxRange against the simulator, and the end-to-end
//     tests, which iterate over All.
//
// Its topic setting is read from the environment, documented in the
// help and checked by check without further code.
package sources

import (
	"slices"
	"strings"
	"time"
)

// Kind is how a source's rows are read and published.
type Kind uint8

// The kinds of source (see the package documentation).
const (
	// Log is rows selected by a time range on TimeProperty, read in
	// half-open windows and deduplicated by IDProperty.
	Log Kind = iota + 1
	// Records is a listing of records each read whole and republished
	// when its version grows (Teams call records).
	Records
	// Aggregate is figures per grouping, read per UTC day and published
	// again when they change.
	Aggregate
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Log:
		return "log"
	case Records:
		return "records"
	case Aggregate:
		return "aggregate"
	}
	return "unknown"
}

// Graph API versions, as GRAPH_API_VERSION spells them.
const (
	V1   = "v1.0"
	Beta = "beta"
)

// Source describes one Graph function callstream reads. Values are
// copies: changing one changes nothing in the registry.
type Source struct {
	// Name is the source's name as SOURCES, --source, checkpoint scopes,
	// transactional ids (callstream-<tenant>-<Name>-<topic>), the
	// callstream.source header and metrics labels spell it. The schemas
	// package resolves its codecs by it.
	Name string
	// Title is the source's name in prose ("Direct Routing").
	Title string
	// Kind is how the source is read.
	Kind Kind

	// Function is the Graph function's name, as it appears in the URL
	// after Namespace ("getDirectRoutingCalls").
	Function string
	// Namespace is the path below /{version}/ that Function is bound to,
	// with its trailing slash ("communications/callRecords/").
	Namespace string
	// QualifiedPrefix is the function's namespace-qualified prefix, which
	// Graph also accepts before Function ("microsoft.graph.callRecords.").
	QualifiedPrefix string
	// InclusiveEnd reports whether the function returns the rows at
	// exactly its toDateTime. fetch.QueryEnd turns a half-open range into
	// the toDateTime that selects it: the end itself for an exclusive
	// function, the last tick before it for an inclusive one.
	InclusiveEnd bool
	// MaxRange is the widest fromDateTime–toDateTime span the function
	// accepts; 0 means Graph documents no limit.
	MaxRange time.Duration
	// Versions are the Graph API versions the function is offered in,
	// each with a schema of its own (schemas.For(Name, version)).
	Versions []string

	// Record is the Avro record's name, the base of its .avsc files in
	// schemas/ ("DirectRoutingLogRow.avsc", "DirectRoutingLogRow.beta.avsc"),
	// and so of the generated row type. Ending it in LogRow makes its Go
	// parse functions Parse<Record minus LogRow>Row (schemas'
	// generator).
	Record string
	// RowType is the OData type of the function's rows, as Graph
	// annotates them ("microsoft.graph.callRecords.directRoutingLogRow").
	RowType string
	// IDProperty is the row property deduplication is by.
	IDProperty string
	// KeyProperty is the row property the Kafka record key is cut from.
	// When its schema field is nullable, a row whose KeyProperty is null or
	// empty is keyed by its IDProperty instead (which is required). For an
	// Aggregate it is the first of GroupBy; the key is all of GroupBy.
	KeyProperty string
	// TimeProperty is the row property that the function's range
	// selects on, and so the one windows are cut on (Log only).
	TimeProperty string
	// GroupBy lists the grouping properties of an Aggregate's rows, in the
	// order its record key (the day, then their JSON array) lists them
	// (Aggregate only: a Log has none). They must be nullable strings in
	// the schema.
	GroupBy []string

	// TopicSetting is the environment setting naming the source's data
	// topic; DefaultTopic is its default. Both names are fixed: outside
	// deployments and tests set them.
	TopicSetting string
	DefaultTopic string

	// VersionProperty is the integer property of a record whose growth
	// makes it new again: a record is published once per (IDProperty,
	// VersionProperty) (Records only).
	VersionProperty string
	// Expand is the $expand a listed record is read whole with, its nested
	// collections' further pages followed by their nextLinks (Records
	// only).
	Expand string
	// Retention is how long Graph keeps the source's rows after their
	// TimeProperty; 0 means Graph documents no limit. A start time, or a
	// checkpoint to resume from, older than this is refused: its rows are
	// gone, and a watermark saved past them would say they were published.
	Retention time.Duration
	// Throttle names the Graph throttling family the source's requests
	// count against (ThrottlePSTN, ThrottleCallRecords): its limits are
	// separate from every other family's.
	Throttle string

	// DataSet names the graphsim data set that answers the
	// function.
	DataSet string
}

// Graph's throttling families, as Source.Throttle names them.
const (
	// ThrottlePSTN is the PSTN call-log family: 50 requests a minute per
	// function, 200 per app per tenant.
	ThrottlePSTN = "pstn-calls"
	// ThrottleCallRecords is the call-records family: 1,500 requests per
	// 20 s per app per tenant, 40 per 20 s for the list and 40 per 20 s
	// per record.
	ThrottleCallRecords = "call-records"
)

// Path returns the function's path below /{version}/, without its
// arguments ("communications/callRecords/getDirectRoutingCalls").
func (s Source) Path() string { return s.Namespace + s.Function }

// Offers reports whether the function is offered in Graph API version v.
func (s Source) Offers(v string) bool { return slices.Contains(s.Versions, v) }

// callRecords is the namespace of the call-log functions.
const (
	callRecords          = "communications/callRecords/"
	callRecordsQualified = "microsoft.graph.callRecords."
)

// registry is every source, in the order help, errors and runs list them.
// The first is the default of SOURCES and --source.
var registry = []Source{
	{
		Name:            "direct-routing",
		Title:           "Direct Routing",
		Kind:            Log,
		Function:        "getDirectRoutingCalls",
		Namespace:       callRecords,
		QualifiedPrefix: callRecordsQualified,
		// Exclusive: its documentation was corrected to say so, and
		// Graph was seen to behave so.
		InclusiveEnd: false,
		Versions:     []string{V1, Beta},
		Record:       "DirectRoutingLogRow",
		RowType:      "microsoft.graph.callRecords.directRoutingLogRow",
		IDProperty:   "id",
		KeyProperty:  "correlationId",
		TimeProperty: "startDateTime",
		TopicSetting: "KAFKA_TOPIC",
		DefaultTopic: "teams.directrouting.calls",
		Throttle:     ThrottlePSTN,
		DataSet:      "direct-routing",
	},
	{
		Name:            "pstn",
		Title:           "PSTN",
		Kind:            Log,
		Function:        "getPstnCalls",
		Namespace:       callRecords,
		QualifiedPrefix: callRecordsQualified,
		// Documented inclusive: a row starting exactly at toDateTime
		// is returned.
		InclusiveEnd: true,
		// Graph answers a wider range with 406 Not Acceptable.
		MaxRange:   90 * 24 * time.Hour,
		Versions:   []string{V1, Beta},
		Record:     "PstnCallLogRow",
		RowType:    "microsoft.graph.callRecords.pstnCallLogRow",
		IDProperty: "id",
		// callId groups the rows of one call (it is not unique, which a
		// key need not be); a row without one is keyed by its id.
		KeyProperty:  "callId",
		TimeProperty: "startDateTime",
		TopicSetting: "KAFKA_PSTN_TOPIC",
		DefaultTopic: "teams.pstn.calls",
		Throttle:     ThrottlePSTN,
		DataSet:      "pstn",
	},
	{
		Name:            "sms",
		Title:           "Teams Phone SMS",
		Kind:            Log,
		Function:        "getSmsLog",
		Namespace:       callRecords,
		QualifiedPrefix: callRecordsQualified,
		// Documented: fromDateTime and toDateTime are both inclusive.
		InclusiveEnd: true,
		MaxRange:     90 * 24 * time.Hour,
		Versions:     []string{Beta},
		Record:       "SmsLogRow",
		RowType:      "microsoft.graph.callRecords.smsLogRow",
		IDProperty:   "id",
		// A row without a user is keyed by its id.
		KeyProperty:  "userId",
		TimeProperty: "sentDateTime",
		TopicSetting: "KAFKA_SMS_TOPIC",
		DefaultTopic: "teams.sms",
		Throttle:     ThrottlePSTN,
		DataSet:      "sms",
	},
	{
		Name:            "pstn-blocked-users",
		Title:           "PSTN blocked users",
		Kind:            Log,
		Function:        "getPstnBlockedUsersLog",
		Namespace:       callRecords,
		QualifiedPrefix: callRecordsQualified,
		// Undocumented; read as inclusive, the safe side: an exclusive
		// function then only misses nothing, as QueryEnd asks for the
		// last tick before the window's end.
		InclusiveEnd: true,
		MaxRange:     90 * 24 * time.Hour,
		Versions:     []string{Beta},
		Record:       "PstnBlockedUsersLogRow",
		RowType:      "microsoft.graph.callRecords.pstnBlockedUsersLogRow",
		IDProperty:   "remediationId",
		KeyProperty:  "userId",
		TimeProperty: "blockDateTime",
		TopicSetting: "KAFKA_PSTN_BLOCKED_USERS_TOPIC",
		DefaultTopic: "teams.pstn.blockedusers",
		Throttle:     ThrottlePSTN,
		DataSet:      "pstn-blocked-users",
	},
	{
		Name:            "pstn-dialout",
		Title:           "PSTN online meeting dial-out report",
		Kind:            Aggregate,
		Function:        "getPstnOnlineMeetingDialoutReport",
		Namespace:       callRecords,
		QualifiedPrefix: callRecordsQualified,
		// Undocumented; a day is read as [00:00, next midnight − 1 tick].
		InclusiveEnd: true,
		MaxRange:     90 * 24 * time.Hour,
		Versions:     []string{Beta},
		Record:       "PstnOnlineMeetingDialoutReport",
		RowType:      "microsoft.graph.callRecords.pstnOnlineMeetingDialoutReport",
		// An aggregate has no id: a row is its day and grouping.
		KeyProperty:  "userId",
		GroupBy:      []string{"userId", "usageLocation", "destinationContext", "currency"},
		TopicSetting: "KAFKA_PSTN_DIALOUT_TOPIC",
		DefaultTopic: "teams.pstn.dialout",
		Throttle:     ThrottlePSTN,
		DataSet:      "pstn-dialout",
	},
	{
		Name:      "call-records",
		Title:     "Teams call records",
		Kind:      Records,
		Function:  "callRecords",
		Namespace: "communications/",
		// Listed with $filter=startDateTime ge {from} and startDateTime lt
		// {to}: the end is exclusive.
		InclusiveEnd: false,
		Versions:     []string{V1},
		Record:       "CallRecord",
		RowType:      "microsoft.graph.callRecords.callRecord",
		IDProperty:   "id",
		// The call record's id; Direct Routing's correlationId and PSTN's
		// callId are reported (not documented) to equal it, so one call's
		// records share a partition across equally partitioned topics.
		KeyProperty:     "id",
		TimeProperty:    "startDateTime",
		VersionProperty: "version",
		Expand:          "sessions($expand=segments)",
		// Graph keeps call records for 30 days (callrecords-api-overview).
		Retention:    30 * 24 * time.Hour,
		Throttle:     ThrottleCallRecords,
		TopicSetting: "KAFKA_CALLRECORDS_TOPIC",
		DefaultTopic: "teams.callrecords",
		DataSet:      "call-records",
	},
}

// byName and byFunction index registry, paths holds each entry's Path;
// built once, read-only after.
var byName, byFunction, paths = func() (map[string]int, map[string]int, []string) {
	n, f, p := map[string]int{}, map[string]int{}, make([]string, len(registry))
	for i, s := range registry {
		n[s.Name] = i
		f[strings.ToLower(s.Function)] = i
		p[i] = s.Path()
	}
	return n, f, p
}()

// All returns every source, the default first.
func All() []Source {
	out := make([]Source, len(registry))
	for i, s := range registry {
		out[i] = s.clone()
	}
	return out
}

// Default returns the source a bare SOURCES or --source means.
func Default() Source { return registry[0].clone() }

// Lookup returns the source named name (as SOURCES spells it).
func Lookup(name string) (Source, bool) {
	i, ok := byName[name]
	if !ok {
		return Source{}, false
	}
	return registry[i].clone(), true
}

// MustLookup is Lookup for a name known to be registered (a test's, or
// one already validated); it panics for any other.
func MustLookup(name string) Source {
	s, ok := Lookup(name)
	if !ok {
		panic("sources: unknown source " + name)
	}
	return s
}

// ByFunction returns the source whose Graph function is fn, compared
// case-insensitively as Graph compares function names.
func ByFunction(fn string) (Source, bool) {
	i, ok := byFunction[strings.ToLower(fn)]
	if !ok {
		return Source{}, false
	}
	return registry[i].clone(), true
}

// InclusiveEnd reports whether the Graph function fn returns the rows at
// exactly its toDateTime; false for a function not in the registry. It
// does not copy the entry, for callers on a per-request path.
func InclusiveEnd(fn string) bool {
	i, ok := byFunction[strings.ToLower(fn)]
	return ok && registry[i].InclusiveEnd
}

// FunctionPath returns the path below /{version}/ of the Graph function
// fn (see Source.Path), without copying the entry or building the string:
// fetch asks it for every page.
func FunctionPath(fn string) (string, bool) {
	i, ok := byFunction[strings.ToLower(fn)]
	if !ok {
		return "", false
	}
	return paths[i], true
}

// Names returns every source's name, the default first.
func Names() []string {
	out := make([]string, len(registry))
	for i, s := range registry {
		out[i] = s.Name
	}
	return out
}

// NameList returns the names for an error message or help text:
// "a, b or c" (with "and/or" when several may be chosen, as SOURCES
// allows, conj is "and/or").
func NameList(conj string) string {
	n := Names()
	if len(n) < 2 {
		return strings.Join(n, "")
	}
	return strings.Join(n[:len(n)-1], ", ") + " " + conj + " " + n[len(n)-1]
}

// clone returns s with slices of its own, so that callers cannot change
// the registry through a returned value.
func (s Source) clone() Source {
	s.Versions = slices.Clone(s.Versions)
	s.GroupBy = slices.Clone(s.GroupBy)
	return s
}
