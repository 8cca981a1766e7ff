package schemas

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/internal/jsonscan"
)

//go:generate go run ./internal/codegen/gen

// Graph API versions, as GRAPH_API_VERSION spells them.
const (
	VersionV1   = "v1.0"
	VersionBeta = "beta"
)

// Codec turns the raw JSON rows of one Graph source and API version into
// Avro records of one schema. Pick it with For. A Codec is immutable and
// safe for concurrent use.
type Codec struct {
	src     *sourceCodec
	ver     int // index into src.versions
	version string
	text    string
	schema  avro.Schema
	tenant  *string // written as every record's tenantId; nil writes null
}

// sourceCodec is one source's codec as For sees it: its versions and the
// functions that encode and decode its rows, whatever its row type. The
// generated *_gen.go files declare it; newRowCodec (record.go) fills in
// the rest from the row type and its field table. The parse hook, the
// row type and the field table let one table of tests cover every source
// and version.
type sourceCodec struct {
	source, name string
	// aggregate marks a report row with no id (see Codec.Aggregate).
	aggregate bool
	// records marks nested call records (see Codec.Records): no row
	// type, no field table (parse, rowType and desc are nil).
	records  bool
	versions []codecVersion
	encode   func(in rowInput, ver int, dst []byte) (id, key string, out []byte, err error)
	decode   func(data []byte, ver int) (any, error)
	parse    func(raw []byte, ver int) (any, error)
	rowType  reflect.Type
	desc     *recordDesc
}

// codecVersion is one Graph API version of a source and its schema.
type codecVersion struct {
	version string
	suffix  string // of the version's exported names: "" or "Beta"
	text    string
	schema  avro.Schema
}

// For returns the codec for source (its name in the sources registry, which
// names the entry the codec is generated from) and
// version (VersionV1 or VersionBeta). The beta codecs use the beta schemas,
// which keep the record name of the v1.0 ones and only add optional
// fields, so a topic can move from v1.0 to beta (or back) under the
// registry's BACKWARD, FORWARD or FULL compatibility.
func For(source, version string) (*Codec, error) {
	if version != VersionV1 && version != VersionBeta {
		return nil, fmt.Errorf("schemas: unknown Graph API version %q (want %q or %q)", version, VersionV1, VersionBeta)
	}
	var names []string
	for _, sc := range sourceCodecs {
		names = append(names, strconv.Quote(sc.source))
		if sc.source != source {
			continue
		}
		for i, v := range sc.versions {
			if v.version == version {
				return &Codec{src: sc, ver: i, version: version, text: v.text, schema: v.schema}, nil
			}
		}
		return nil, fmt.Errorf("schemas: source %q has no schema for Graph API version %q", source, version)
	}
	return nil, fmt.Errorf("schemas: unknown source %q (want %s)", source, orList(names))
}

// orList joins quoted names as `"a", "b" or "c"`.
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// WithTenant returns a copy of the codec whose records name tenantID, the
// Microsoft Entra tenant (directory) id the rows are read from, in their
// tenantId field; "" writes null, as a codec from For does. Graph rows do
// not carry the tenant (a row property named tenantId is kept in
// additionalProperties like any property the schema does not define), so
// the reader that knows which tenant it asked stamps it here, once, and
// every Encode writes it without allocating.
func (c *Codec) WithTenant(tenantID string) *Codec {
	cc := *c
	cc.tenant = nil
	if tenantID != "" {
		cc.tenant = &tenantID
	}
	return &cc
}

// TenantID returns the tenant id the codec's records name, or "" when
// they name none (null).
func (c *Codec) TenantID() string {
	if c.tenant == nil {
		return ""
	}
	return *c.tenant
}

// TenantSuffix returns the Avro encoding of a tenantId field naming
// tenantID ("" is null). The field is the last of every source's schema,
// so every record a codec WithTenant(tenantID) encodes ends with exactly
// these bytes: a caller that hashes a record's content can leave them out.
func TenantSuffix(tenantID string) []byte {
	if tenantID == "" {
		return appendOptString(nil, nil)
	}
	return appendOptString(nil, &tenantID)
}

// Source returns the codec's source name.
func (c *Codec) Source() string { return c.src.source }

// Aggregate reports whether the codec's rows are a report's aggregates
// (getPstnOnlineMeetingDialoutReport) rather than log rows: they have no
// id, Encode returns an empty id and as key the JSON array of the row's
// grouping properties, to be prefixed with the day the row covers
// (DayKey). Such rows are deduplicated on key and content, not on an id.
func (c *Codec) Aggregate() bool { return c.src.aggregate }

// Records reports whether the codec's rows are whole Teams call records
// (the call-records source, Kind Records) rather than flat log rows:
// nested (sessions → segments → media → streams), each encoded whole, one
// JSON object as the fetch client delivers it (read with $expand, every
// session page merged into sessions). Encode returns as id
// VersionedID(record id, version), since a record is republished whenever
// its version grows, and as key the record id; Decode returns the record
// as a map[string]any (see decodeCallRecord).
func (c *Codec) Records() bool { return c.src.records }

// Version returns the Graph API version whose rows the codec reads.
func (c *Codec) Version() string { return c.version }

// Name returns the full name of the codec's Avro record, the same for both
// versions of a source.
func (c *Codec) Name() string { return c.src.name }

// Text returns the codec's Avro schema text (.avsc JSON), for registering
// with a schema registry.
func (c *Codec) Text() string { return c.text }

// Schema returns the codec's parsed Avro schema. The value is shared;
// callers must not modify it.
func (c *Codec) Schema() avro.Schema { return c.schema }

// Encode parses raw, one row of the codec's Graph source and version, and
// appends its Avro encoding (no framing) to dst, its tenantId the codec's
// (WithTenant). It returns the row's id
// (the deduplication key; empty for an aggregate, see Aggregate), its Kafka
// record key (the row type's Key method: correlationId for Direct Routing,
// PstnCallLogRow.Key for PSTN, ...) and the extended slice. A row that
// cannot be parsed is a *RowError (use errors.As); on any error dst is
// returned as it was and id and key are empty. id and key do not alias raw.
func (c *Codec) Encode(raw, dst []byte) (id, key string, out []byte, err error) {
	return c.src.encode(rowInput{raw: raw, tenant: c.tenant}, c.ver, dst)
}

// EncodeShared is Encode without the copy of raw that id and key are cut
// from: they may alias raw, so they are only valid while raw is unchanged,
// and a caller that keeps them copies them. A row costs no allocation
// unless it has escaped strings or properties the schema does not define.
// Errors do not alias raw.
func (c *Codec) EncodeShared(raw, dst []byte) (id, key string, out []byte, err error) {
	return c.src.encode(rowInput{raw: raw, shared: true, tenant: c.tenant}, c.ver, dst)
}

// EncodeScanned is EncodeShared for a row whose members were recorded by
// jsonscan.Object over exactly raw, as the fetch client records them for
// every row of a page (fetch.Page.Scans): raw is trusted to be the valid
// JSON object the scan describes and is not scanned again. A nil scan
// makes it EncodeShared.
func (c *Codec) EncodeScanned(raw []byte, scan []jsonscan.Member, dst []byte) (id, key string, out []byte, err error) {
	return c.src.encode(rowInput{raw: raw, scan: scan, shared: true, tenant: c.tenant}, c.ver, dst)
}

// reusableProps returns the map to offer the next row, emptied: the row's
// own (or the one it was offered, when it had no unknown properties),
// unless it grew too large to be worth holding on to.
func reusableProps(used, offered map[string]string) map[string]string {
	m := used
	if m == nil {
		m = offered
	}
	if len(m) > 64 {
		return nil
	}
	clear(m)
	return m
}

// owned returns e with strings of its own when they may alias the row
// (shared): a RowError outlives the row's buffer in logs and dead letters.
func (e *RowError) owned(shared bool) *RowError {
	if !shared {
		return e
	}
	return &RowError{Field: strings.Clone(e.Field), Reason: strings.Clone(e.Reason)}
}

// Decode decodes one record written by Encode (without framing) into a new
// row of the codec's source's type (*DirectRoutingLogRow, *PstnCallLogRow, ...),
// or, for call records (Records), into a map[string]any keyed by Avro
// field name, nested records as maps, durations as int64 microseconds and
// timestamps as UTC time.Time.
func (c *Codec) Decode(data []byte) (any, error) {
	row, err := c.src.decode(data, c.ver)
	if err != nil {
		return nil, err
	}
	return row, nil
}
