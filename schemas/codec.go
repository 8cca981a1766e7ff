package schemas

import (
	"fmt"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/internal/jsonscan"
)

// Source names, as the SOURCES setting spells them.
const (
	SourceDirectRouting = "direct-routing"
	SourcePstn          = "pstn"
)

// Graph API versions, as GRAPH_API_VERSION spells them.
const (
	VersionV1   = "v1.0"
	VersionBeta = "beta"
)

// Codec turns the raw JSON rows of one Graph source and API version into
// Avro records of one schema. Pick it with For. A Codec is immutable and
// safe for concurrent use.
type Codec struct {
	source, version string
	name, text      string
	schema          avro.Schema
	encode          func(raw []byte, scan []jsonscan.Member, dst []byte, shared bool) (id, key string, out []byte, err error)
	decode          func(data []byte) (any, error)
}

// For returns the codec for source (SourceDirectRouting or SourcePstn) and
// version (VersionV1 or VersionBeta). The beta codecs use the beta schemas,
// which keep the record name of the v1.0 ones and only add optional
// fields, so a topic can move from v1.0 to beta (or back) under the
// registry's BACKWARD, FORWARD or FULL compatibility.
func For(source, version string) (*Codec, error) {
	beta := false
	switch version {
	case VersionV1:
	case VersionBeta:
		beta = true
	default:
		return nil, fmt.Errorf("schemas: unknown Graph API version %q (want %q or %q)", version, VersionV1, VersionBeta)
	}
	c := &Codec{source: source, version: version}
	switch source {
	case SourceDirectRouting:
		c.name = DirectRoutingSchemaName
		c.text, c.schema = directRoutingSchemaText, directRoutingSchema
		if beta {
			c.text, c.schema = directRoutingBetaSchemaText, directRoutingBetaSchema
		}
		c.encode = func(raw []byte, scan []jsonscan.Member, dst []byte, shared bool) (string, string, []byte, error) {
			return encodeRow(&drScratchPool, parseRow, c.schema, beta, rowInput{raw: raw, scan: scan, shared: shared}, dst)
		}
		c.decode = func(data []byte) (any, error) {
			row := new(DirectRoutingLogRow)
			return row, decodeDirectRouting(data, c.schema, row)
		}
	case SourcePstn:
		c.name = PstnSchemaName
		c.text, c.schema = pstnSchemaText, pstnSchema
		if beta {
			c.text, c.schema = pstnBetaSchemaText, pstnBetaSchema
		}
		c.encode = func(raw []byte, scan []jsonscan.Member, dst []byte, shared bool) (string, string, []byte, error) {
			return encodeRow(&pstnScratchPool, parsePstnRow, c.schema, beta, rowInput{raw: raw, scan: scan, shared: shared}, dst)
		}
		c.decode = func(data []byte) (any, error) {
			row := new(PstnCallLogRow)
			return row, decodePstn(data, c.schema, row)
		}
	default:
		return nil, fmt.Errorf("schemas: unknown source %q (want %q or %q)", source, SourceDirectRouting, SourcePstn)
	}
	return c, nil
}

// Source returns the codec's source name.
func (c *Codec) Source() string { return c.source }

// Version returns the Graph API version whose rows the codec reads.
func (c *Codec) Version() string { return c.version }

// Name returns the full name of the codec's Avro record, the same for both
// versions of a source.
func (c *Codec) Name() string { return c.name }

// Text returns the codec's Avro schema text (.avsc JSON), for registering
// with a schema registry.
func (c *Codec) Text() string { return c.text }

// Schema returns the codec's parsed Avro schema. The value is shared;
// callers must not modify it.
func (c *Codec) Schema() avro.Schema { return c.schema }

// Encode parses raw, one row of the codec's Graph source and version, and
// appends its Avro encoding (no framing) to dst. It returns the row's id
// (the deduplication key), its Kafka record key (correlationId for Direct
// Routing, PstnCallLogRow.Key for PSTN) and the extended slice. A row that
// cannot be parsed is a *RowError (use errors.As); on any error dst is
// returned as it was and id and key are empty. id and key do not alias raw.
func (c *Codec) Encode(raw, dst []byte) (id, key string, out []byte, err error) {
	return c.encode(raw, nil, dst, false)
}

// EncodeShared is Encode without the copy of raw that id and key are cut
// from: they may alias raw, so they are only valid while raw is unchanged,
// and a caller that keeps them copies them. A row costs no allocation
// unless it has escaped strings or properties the schema does not define.
// Errors do not alias raw.
func (c *Codec) EncodeShared(raw, dst []byte) (id, key string, out []byte, err error) {
	return c.encode(raw, nil, dst, true)
}

// EncodeScanned is EncodeShared for a row whose members were recorded by
// jsonscan.Object over exactly raw, as the fetch client records them for
// every row of a page (fetch.Page.Scans): raw is trusted to be the valid
// JSON object the scan describes and is not scanned again. A nil scan
// makes it EncodeShared.
func (c *Codec) EncodeScanned(raw []byte, scan []jsonscan.Member, dst []byte) (id, key string, out []byte, err error) {
	return c.encode(raw, scan, dst, true)
}

// parseScratch is a parsed row of type R, the store S behind its pointers,
// the map for its unknown properties and the buffer for its scan, reused
// from row to row by Encode.
type parseScratch[R, S any] struct {
	row     R
	st      S
	props   map[string]string
	members []jsonscan.Member
}

var (
	drScratchPool   = sync.Pool{New: func() any { return new(parseScratch[DirectRoutingLogRow, rowStore]) }}
	pstnScratchPool = sync.Pool{New: func() any { return new(parseScratch[PstnCallLogRow, pstnStore]) }}
)

// encodedRow is what encodeRow needs of a row type: *DirectRoutingLogRow
// or *PstnCallLogRow.
type encodedRow[R any] interface {
	*R
	unknown() *map[string]string
	appendAvro(dst []byte, schema avro.Schema) ([]byte, error)
	idAndKey() (id, key string)
}

// encodeRow parses in with parse into a row from pool and appends its Avro
// encoding with schema to dst. Every reference to the row's strings (which
// may alias in.raw) is dropped before the row goes back to the pool.
func encodeRow[R, S any, P encodedRow[R]](pool *sync.Pool, parse func(rowInput, P, *S, bool) *RowError,
	schema avro.Schema, beta bool, in rowInput, dst []byte) (id, key string, out []byte, err error) {
	sc := pool.Get().(*parseScratch[R, S])
	row := P(&sc.row)
	defer func() {
		sc.props = reusableProps(*row.unknown(), sc.props)
		var zr R
		var zs S
		sc.row, sc.st = zr, zs
		pool.Put(sc)
	}()
	*row.unknown() = sc.props
	in.scratch = &sc.members
	if rerr := parse(in, row, &sc.st, beta); rerr != nil {
		return "", "", dst, rerr.owned(in.shared)
	}
	if len(*row.unknown()) == 0 {
		*row.unknown() = nil
	}
	if out, err = row.appendAvro(dst, schema); err != nil {
		return "", "", out, err
	}
	id, key = row.idAndKey()
	return id, key, out, nil
}

func (r *DirectRoutingLogRow) unknown() *map[string]string { return &r.AdditionalProperties }
func (r *DirectRoutingLogRow) idAndKey() (string, string)  { return r.ID, r.CorrelationID }
func (r *PstnCallLogRow) unknown() *map[string]string      { return &r.AdditionalProperties }
func (r *PstnCallLogRow) idAndKey() (string, string)       { return r.ID, r.Key() }

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
// *DirectRoutingLogRow or *PstnCallLogRow, by the codec's source.
func (c *Codec) Decode(data []byte) (any, error) {
	row, err := c.decode(data)
	if err != nil {
		return nil, err
	}
	return row, nil
}
