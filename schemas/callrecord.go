package schemas

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/internal/jsonscan"
)

// Teams call records (the call-records source, Kind Records) are nested —
// record → sessions → segments → caller/callee endpoints, media → streams —
// which the generated flat-row machinery does not describe. Their codec is
// written by hand and driven by the schema itself: at init the parsed
// CallRecord.avsc is walked once into a tree of crRecord, one per Avro
// record, whose fields say how each Graph property is read from JSON and
// written to (and read from) Avro. The JSON rules are the package's (see
// the package documentation), applied at every level, and errors name the
// property by its path from the record, e.g.
// sessions[3].segments[0].media[0].streams[1].averageJitter.
//
// Two field properties of the .avsc, which Avro readers ignore, carry
// what the Avro types cannot say: "graphType": "Duration" marks a long
// that holds an ISO 8601 duration in microseconds, and "graphProperty"
// names the Graph property a field is read from when that is not the
// field's name (odataType ← @odata.type, since "@" is not valid in an
// Avro name).

// CallRecordsSchemaName is the full name of the CallRecord Avro record, as
// used for schema-registry subjects.
const CallRecordsSchemaName = "microsoft.graph.callRecords.CallRecord"

//go:embed CallRecord.avsc
var callRecordsSchemaText string

var callRecordsSchema = mustParseSchema("CallRecord.avsc", callRecordsSchemaText)

// CallRecordsSchemaText returns the Avro schema (.avsc JSON) of a call
// record exactly as embedded, e.g. for registering it with a schema
// registry.
func CallRecordsSchemaText() string { return callRecordsSchemaText }

// CallRecordsSchema returns the parsed Avro schema of a call record. The
// value is shared; callers must not modify it.
func CallRecordsSchema() avro.Schema { return callRecordsSchema }

// VersionedID returns the deduplication id of one version of a call
// record: its id, "#" and the version in decimal. A call record is
// republished whenever its version grows, so (id, version), not id, is
// what a consumer has seen.
func VersionedID(id string, version int64) string {
	return id + "#" + strconv.FormatInt(version, 10)
}

// maxCallRecordBytes bounds the JSON text of one call record. Graph's
// largest records (meetings with hundreds of sessions) are a few MiB; a
// record beyond this is a bad row rather than an unbounded Avro body.
const maxCallRecordBytes = 64 << 20

// crKind is how one field of a call-record level is read and written.
type crKind uint8

const (
	crString      crKind = iota + 1 // required string, an identity (the record's id)
	crLong                          // required long (version)
	crOptString                     // ["null", "string"]
	crOptInt                        // ["null", "int"]: a JSON integer within int32
	crOptLong                       // ["null", "long"]: a JSON integer within int64
	crOptDouble                     // ["null", "double"]
	crOptBool                       // ["null", "boolean"]
	crOptTime                       // ["null", timestamp-millis]: a DateTimeOffset
	crOptDuration                   // ["null", "long"] with graphType Duration: microseconds
	crOptStrings                    // ["null", array of string]
	crOptRawMap                     // ["null", map of string]: an object's members as raw JSON
	crOptRecord                     // ["null", record]
	crOptRecords                    // ["null", array of record]
	crUnknown                       // additionalProperties
	crTenant                        // tenantId: callstream's, never read from JSON
)

// crField is one field of a call-record level.
type crField struct {
	name string // the Avro field's name
	prop string // the Graph property it is read from
	kind crKind
	rec  *crRecord // for crOptRecord and crOptRecords
}

// crRecord is one Avro record of the call-record schema: its fields in
// schema order and, by Graph property name, their positions.
type crRecord struct {
	name   string
	fields []crField
	byProp map[string]int
}

// buildCallRecord walks the parsed schema into the encoder tree. It panics
// on a shape it cannot encode: the schema is embedded, so that fails every
// test and binary at init.
func buildCallRecord(s avro.Schema) *crRecord {
	rs, ok := s.(*avro.RecordSchema)
	if !ok {
		panic("schemas: CallRecord.avsc is not a record")
	}
	return buildCRRecord(rs, map[string]*crRecord{}, true)
}

func buildCRRecord(rs *avro.RecordSchema, done map[string]*crRecord, top bool) *crRecord {
	if r := done[rs.FullName()]; r != nil {
		return r
	}
	r := &crRecord{name: rs.Name(), byProp: map[string]int{}}
	done[rs.FullName()] = r
	unknownAt := -1
	for i, f := range rs.Fields() {
		cf := crField{name: f.Name(), prop: f.Name()}
		if p, ok := f.Prop("graphProperty").(string); ok {
			cf.prop = p
		}
		t, nullable := f.Type(), false
		if u, ok := t.(*avro.UnionSchema); ok {
			types := u.Types()
			if len(types) != 2 || types[0].Type() != avro.Null {
				panic(fmt.Sprintf("schemas: CallRecord.avsc %s.%s: only [\"null\", T] unions are supported", r.name, cf.name))
			}
			t, nullable = types[1], true
		}
		t = deref(t)
		fail := func() {
			panic(fmt.Sprintf("schemas: CallRecord.avsc %s.%s: type %s is not supported", r.name, cf.name, t.Type()))
		}
		switch t.Type() {
		case avro.String:
			cf.kind = crOptString
			switch {
			case !nullable:
				cf.kind = crString
			case top && cf.name == "tenantId":
				cf.kind = crTenant
			}
		case avro.Long:
			ps := t.(*avro.PrimitiveSchema)
			switch {
			case ps.Logical() != nil && ps.Logical().Type() == avro.TimestampMillis && nullable:
				cf.kind = crOptTime
			case ps.Logical() != nil:
				fail()
			case f.Prop("graphType") == "Duration" && nullable:
				cf.kind = crOptDuration
			case nullable:
				cf.kind = crOptLong
			default:
				cf.kind = crLong
			}
		case avro.Int:
			cf.kind = crOptInt
		case avro.Double:
			cf.kind = crOptDouble
		case avro.Boolean:
			cf.kind = crOptBool
		case avro.Array:
			items := deref(t.(*avro.ArraySchema).Items())
			switch it := items.(type) {
			case *avro.PrimitiveSchema:
				if it.Type() != avro.String {
					fail()
				}
				cf.kind = crOptStrings
			case *avro.RecordSchema:
				cf.kind, cf.rec = crOptRecords, buildCRRecord(it, done, false)
			default:
				fail()
			}
		case avro.Map:
			if t.(*avro.MapSchema).Values().Type() != avro.String {
				fail()
			}
			cf.kind = crOptRawMap
			if cf.name == unknownProperties {
				cf.kind, unknownAt = crUnknown, i
			}
		case avro.Record:
			cf.kind, cf.rec = crOptRecord, buildCRRecord(t.(*avro.RecordSchema), done, false)
		default:
			fail()
		}
		if nullable == (cf.kind == crString || cf.kind == crLong) {
			fail()
		}
		if cf.kind == crOptDuration && unknownAt >= 0 {
			// A duration's original text goes to additionalProperties,
			// which is written after every field that can add to it.
			panic(fmt.Sprintf("schemas: CallRecord.avsc %s.%s: a duration must come before %s", r.name, cf.name, unknownProperties))
		}
		if cf.kind != crUnknown && cf.kind != crTenant {
			if _, dup := r.byProp[cf.prop]; dup {
				panic(fmt.Sprintf("schemas: CallRecord.avsc %s: two fields read property %s", r.name, cf.prop))
			}
			r.byProp[cf.prop] = i
		}
		r.fields = append(r.fields, cf)
	}
	if unknownAt < 0 {
		panic(fmt.Sprintf("schemas: CallRecord.avsc %s has no %s field", r.name, unknownProperties))
	}
	return r
}

// unknownProperties is the field every level keeps the properties the
// schema does not define in.
const unknownProperties = "additionalProperties"

// deref resolves a reference to a record defined earlier in the schema.
func deref(t avro.Schema) avro.Schema {
	if ref, ok := t.(*avro.RefSchema); ok {
		return ref.Schema()
	}
	return t
}

// crCodec is the call-records source's codec (see sourceCodec): the
// schema's encoder tree and a pool of encoders.
type crCodec struct {
	sourceCodec
	root *crRecord
	pool sync.Pool // of *crEncoder
}

// callRecordsCodec is the call-records codec that codecs_gen.go lists, by
// the generator's naming rule (the source's name in camel case + Codec).
var callRecordsCodec = newCallRecordsCodec()

func newCallRecordsCodec() *crCodec {
	c := &crCodec{
		sourceCodec: sourceCodec{
			source:  "call-records",
			name:    CallRecordsSchemaName,
			records: true,
			versions: []codecVersion{
				{version: VersionV1, text: callRecordsSchemaText, schema: callRecordsSchema},
			},
		},
		root: buildCallRecord(callRecordsSchema),
	}
	c.pool.New = func() any { return new(crEncoder) }
	c.encode = func(in rowInput, _ int, dst []byte) (string, string, []byte, error) {
		return c.encodeRecord(in, dst)
	}
	c.decode = func(data []byte, _ int) (any, error) { return decodeCallRecord(c.root, data) }
	return c
}

// crSlot is a field's value text at one level, while the level is read.
type crSlot struct {
	val   string
	plain bool
	set   bool
}

// crKV is a property kept in a level's additionalProperties.
type crKV struct{ name, val string }

// crEncoder holds the stacks one encode uses; levels push onto them and
// pop what they pushed, so a pooled encoder allocates nothing for its
// bookkeeping once warm.
type crEncoder struct {
	s       string // the record's text
	dst     []byte
	slots   []crSlot
	unknown []crKV
	members []jsonscan.Member
	items   []int // array item start offsets
	path    []byte
}

func (c *crCodec) encodeRecord(in rowInput, dst []byte) (id, key string, out []byte, err error) {
	raw := in.raw
	if len(raw) > maxCallRecordBytes {
		return "", "", dst, &RowError{Reason: fmt.Sprintf("call record of %d bytes exceeds the limit of %d", len(raw), maxCallRecordBytes)}
	}
	scan := in.scan
	if scan == nil {
		start := jsonscan.SkipSpace(raw, 0)
		if start == len(raw) || raw[start] != '{' {
			return "", "", dst, notObject(raw)
		}
		end, members, serr := jsonscan.Object(raw, start, 0, nil)
		if serr != nil || jsonscan.SkipSpace(raw, end) != len(raw) {
			return "", "", dst, malformed(raw)
		}
		raw, scan = raw[start:end], members
	}
	e := c.pool.Get().(*crEncoder)
	defer func() {
		e.s, e.dst = "", nil
		clear(e.unknown[:cap(e.unknown)]) // drops references into raw
		e.unknown, e.slots, e.members, e.items, e.path = e.unknown[:0], e.slots[:0], e.members[:0], e.items[:0], e.path[:0]
		clear(e.slots[:cap(e.slots)])
		c.pool.Put(e)
	}()
	e.s = unsafe.String(unsafe.SliceData(raw), len(raw))
	e.dst = dst
	ids, rerr := e.record(c.root, e.s, 0, scan, in.tenant)
	if rerr != nil {
		return "", "", dst, rerr
	}
	recordID := ids.id
	if !in.shared {
		recordID = strings.Clone(recordID)
	}
	return VersionedID(recordID, ids.version), recordID, e.dst, nil
}

// crIDs is what the top level reports of the record: its id and version.
type crIDs struct {
	id      string
	version int64
}

// fieldErr makes a RowError for the property name at the current path.
func (e *crEncoder) fieldErr(name, reason string) *RowError {
	return &RowError{Field: string(e.path) + name, Reason: reason}
}

// at moves a helper's RowError (which names the bare property) to the
// current path.
func (e *crEncoder) at(rerr *RowError) *RowError {
	if rerr != nil {
		rerr.Field = string(e.path) + rerr.Field
	}
	return rerr
}

// record reads the object obj (whose text starts at its opening brace) as
// r and appends it to e.dst. depth counts the containers around obj;
// members, when not nil, are obj's members as already scanned; tenant is
// written as the tenant field. It returns the level's id and version
// (meaningful at the top).
func (e *crEncoder) record(r *crRecord, obj string, depth int, members []jsonscan.Member, tenant *string) (crIDs, *RowError) {
	var ids crIDs
	base, ubase := len(e.slots), len(e.unknown)
	e.slots = slices.Grow(e.slots, len(r.fields))[:base+len(r.fields)]
	clear(e.slots[base:])
	defer func() {
		clear(e.unknown[ubase:])
		e.slots, e.unknown = e.slots[:base], e.unknown[:ubase]
	}()
	mbase := len(e.members)
	if members == nil {
		_, out, err := jsonscan.Object(obj, 0, depth, e.members)
		if err != nil {
			// The whole record was checked before; only a text the
			// caller's scan misdescribes gets here.
			return ids, &RowError{Field: strings.TrimSuffix(string(e.path), "."), Reason: "malformed JSON object"}
		}
		e.members, members = out, out[mbase:]
	}
	for _, m := range members {
		name := bodyValue(obj[m.NameStart:m.NameEnd], m.PlainName)
		val := obj[m.ValueStart:m.ValueEnd]
		k, ok := r.byProp[name]
		if !ok {
			// Repeats among these are found once they are sorted
			// (appendKVs), which keeps a hostile level linear.
			e.unknown = append(e.unknown, crKV{name, rawValue(val)})
			continue
		}
		sl := &e.slots[base+k]
		if sl.set {
			e.members = e.members[:mbase]
			return ids, e.fieldErr(name, "duplicate property")
		}
		*sl = crSlot{val: val, plain: m.PlainValue, set: true}
	}
	e.members = e.members[:mbase]
	for k := range r.fields {
		f := &r.fields[k]
		sl := e.slots[base+k]
		if !sl.set {
			switch f.kind {
			case crString, crLong:
				return ids, e.fieldErr(f.prop, "required property is missing")
			case crUnknown:
				if dup, ok := e.appendUnknown(ubase); !ok {
					return ids, e.fieldErr(dup, "duplicate property")
				}
			case crTenant:
				e.dst = appendOptString(e.dst, tenant)
			default:
				e.dst = append(e.dst, unionNull)
			}
			continue
		}
		name, val := f.prop, sl.val
		var rerr *RowError
		switch f.kind {
		case crString:
			var s string
			if s, rerr = requiredString(name, val, sl.plain); rerr == nil {
				e.dst = appendString(e.dst, s)
				ids.id = s
			}
		case crLong:
			if val == "null" {
				return ids, e.fieldErr(name, "required property is null")
			}
			var slot int64
			if _, rerr = optInteger(&slot, name, val); rerr == nil {
				e.dst = appendLong(e.dst, slot)
				ids.version = slot
			}
		case crOptString:
			var slot string
			var p *string
			if p, rerr = optString(&slot, name, val, sl.plain); rerr == nil {
				e.dst = appendOptString(e.dst, p)
			}
		case crOptInt:
			var slot int32
			var p *int32
			if p, rerr = optInteger(&slot, name, val); rerr == nil {
				e.dst = appendOptInt(e.dst, p)
			}
		case crOptLong:
			var slot int64
			var p *int64
			if p, rerr = optInteger(&slot, name, val); rerr == nil {
				e.dst = appendOptLong(e.dst, p)
			}
		case crOptDouble:
			var slot float64
			var p *float64
			if p, rerr = optDouble(&slot, name, val); rerr == nil {
				e.dst = appendOptDouble(e.dst, p)
			}
		case crOptBool:
			var slot bool
			var p *bool
			if p, rerr = optBool(&slot, name, val); rerr == nil {
				e.dst = appendOptBool(e.dst, p)
			}
		case crOptTime:
			var slot time.Time
			var p *time.Time
			if p, rerr = optTime(&slot, name, val, sl.plain); rerr == nil {
				e.dst = appendOptTime(e.dst, p)
			}
		case crOptDuration:
			rerr = e.duration(name, val, sl.plain)
		case crOptStrings:
			var items []string
			if items, rerr = optStrings(name, val); rerr == nil {
				e.dst = appendOptStrings(e.dst, items)
			}
		case crOptRawMap:
			rerr = e.rawMap(name, val, depth+1)
		case crUnknown:
			// A property of this name is defined by no field (byProp
			// leaves it out), so its slot is never set.
		case crTenant:
		case crOptRecord:
			switch val[0] {
			case 'n':
				e.dst = append(e.dst, unionNull)
			case '{':
				e.dst = append(e.dst, unionValue)
				n := len(e.path)
				e.path = append(append(e.path, name...), '.')
				_, rerr = e.record(f.rec, val, depth+1, nil, nil)
				e.path = e.path[:n]
				if rerr != nil {
					return ids, rerr
				}
			default:
				rerr = wrongType(name, "object", val)
			}
		case crOptRecords:
			if rerr = e.records(f, val, depth+1); rerr != nil && rerr.Field != name {
				return ids, rerr // already at its path
			}
		}
		if rerr != nil {
			return ids, e.at(rerr)
		}
	}
	return ids, nil
}

// duration writes the duration property name as microseconds, keeping its
// original text in the level's additionalProperties when the number
// cannot say it exactly.
func (e *crEncoder) duration(name, val string, plain bool) *RowError {
	switch val[0] {
	case 'n':
		e.dst = append(e.dst, unionNull)
		return nil
	case '"':
	default:
		return wrongType(name, "ISO 8601 duration string", val)
	}
	s := bodyValue(val[1:len(val)-1], plain)
	us, fit, ok := parseDuration(s)
	if !ok {
		return &RowError{Field: name, Reason: "want ISO 8601 duration (e.g. PT0.016S) within a long of microseconds, got a string of " + strconv.Itoa(len(s)) + " bytes that is not one"}
	}
	switch fit {
	case durationNotFixed:
		e.dst = append(e.dst, unionNull)
	default:
		e.dst = appendLong(append(e.dst, unionValue), us)
	}
	if fit != durationExact {
		e.unknown = append(e.unknown, crKV{name, rawValue(val)})
	}
	return nil
}

// rawMap writes an object's members as a map of raw JSON texts, sorted by
// name (feedback tokens).
func (e *crEncoder) rawMap(name, val string, depth int) *RowError {
	switch val[0] {
	case 'n':
		e.dst = append(e.dst, unionNull)
		return nil
	case '{':
	default:
		return wrongType(name, "object", val)
	}
	mbase := len(e.members)
	_, out, err := jsonscan.Object(val, 0, depth, e.members)
	if err != nil {
		return &RowError{Field: name, Reason: "malformed JSON object"}
	}
	e.members = out
	defer func() { e.members = e.members[:mbase] }()
	ubase := len(e.unknown)
	defer func() {
		clear(e.unknown[ubase:])
		e.unknown = e.unknown[:ubase]
	}()
	for _, m := range out[mbase:] {
		k := bodyValue(val[m.NameStart:m.NameEnd], m.PlainName)
		e.unknown = append(e.unknown, crKV{k, rawValue(val[m.ValueStart:m.ValueEnd])})
	}
	e.dst = append(e.dst, unionValue)
	if dup, ok := e.appendKVs(e.unknown[ubase:]); !ok {
		return &RowError{Field: name + "." + dup, Reason: "duplicate property"}
	}
	return nil
}

// appendUnknown writes the level's additionalProperties (null when there
// are none), or returns the name of a property the level repeats and
// false.
func (e *crEncoder) appendUnknown(ubase int) (dup string, ok bool) {
	kvs := e.unknown[ubase:]
	if len(kvs) == 0 {
		e.dst = append(e.dst, unionNull)
		return "", true
	}
	e.dst = append(e.dst, unionValue)
	return e.appendKVs(kvs)
}

// appendKVs appends to e.dst a map of kvs with the entries sorted by name,
// so that one record's Avro body is always the same bytes, or returns the
// name of an entry that kvs repeats and false.
func (e *crEncoder) appendKVs(kvs []crKV) (dup string, ok bool) {
	slices.SortFunc(kvs, func(a, b crKV) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(kvs); i++ {
		if kvs[i].name == kvs[i-1].name {
			return kvs[i].name, false
		}
	}
	dst := e.dst
	for i := 0; i < len(kvs); i += avroBlockLength {
		block := kvs[i:min(i+avroBlockLength, len(kvs))]
		dst = appendLong(dst, int64(len(block)))
		for _, kv := range block {
			dst = appendString(appendString(dst, kv.name), kv.val)
		}
	}
	e.dst = append(dst, 0)
	return "", true
}

// records writes the array of records val as f's.
func (e *crEncoder) records(f *crField, val string, depth int) *RowError {
	name := f.prop
	switch val[0] {
	case 'n':
		e.dst = append(e.dst, unionNull)
		return nil
	case '[':
	default:
		return wrongType(name, "array", val)
	}
	ibase := len(e.items)
	defer func() { e.items = e.items[:ibase] }()
	for i := jsonscan.SkipSpace(val, 1); val[i] != ']'; {
		e.items = append(e.items, i)
		i = jsonscan.SkipSpace(val, validValueEnd(val, i))
		if val[i] == ',' {
			i = jsonscan.SkipSpace(val, i+1)
		}
	}
	e.dst = append(e.dst, unionValue)
	n := len(e.path)
	defer func() { e.path = e.path[:n] }()
	count := len(e.items) - ibase
	for b := 0; b < count; b += avroBlockLength {
		e.dst = appendLong(e.dst, int64(min(avroBlockLength, count-b)))
		for j := b; j < min(b+avroBlockLength, count); j++ {
			start := e.items[ibase+j]
			e.path = append(strconv.AppendInt(append(append(e.path[:n], name...), '['), int64(j), 10), ']')
			if val[start] != '{' {
				return &RowError{Field: string(e.path), Reason: "want object, got " + jsonKind(val[start:])}
			}
			e.path = append(e.path, '.')
			end := validValueEnd(val, start)
			if _, rerr := e.record(f.rec, val[start:end], depth+1, nil, nil); rerr != nil {
				return rerr
			}
		}
	}
	e.dst = append(e.dst, 0)
	return nil
}

// decodeCallRecord reads one call record written by the codec (without
// framing) into its generic form: a map per record level keyed by Avro
// field name; null as nil, strings, int32, int64 (durations in
// microseconds), float64, bool, time.Time (UTC) for timestamps, []string,
// []any of maps for arrays of records, map[string]string for maps.
func decodeCallRecord(root *crRecord, data []byte) (any, error) {
	r := &avroReader{data: data, text: string(data)}
	m := readCRRecord(r, root)
	switch {
	case errors.Is(r.err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("decode avro call record: truncated record: %s: %w", r.field, r.err)
	case r.err != nil:
		return nil, fmt.Errorf("decode avro call record: %s: %w", r.field, r.err)
	case r.pos != len(data):
		return nil, errors.New("decode avro call record: trailing bytes after record")
	}
	return m, nil
}

func readCRRecord(r *avroReader, rec *crRecord) map[string]any {
	m := make(map[string]any, len(rec.fields))
	for k := range rec.fields {
		f := &rec.fields[k]
		if r.err != nil {
			return m
		}
		r.field = rec.name + "." + f.name
		switch f.kind {
		case crString:
			m[f.name] = r.string()
			continue
		case crLong:
			m[f.name] = r.long()
			continue
		}
		if !r.union() {
			m[f.name] = nil
			continue
		}
		var v any
		switch f.kind {
		case crOptString, crTenant:
			v = r.string()
		case crOptInt:
			v = r.int()
		case crOptLong, crOptDuration:
			v = r.long()
		case crOptDouble:
			v = r.double()
		case crOptBool:
			v = r.bool()
		case crOptTime:
			v = time.UnixMilli(r.long()).UTC()
		case crOptStrings:
			v = r.strings()
		case crOptRawMap, crUnknown:
			v = r.stringMap()
		case crOptRecord:
			v = readCRRecord(r, f.rec)
		case crOptRecords:
			items := []any{}
			for n := r.block(); n > 0; n = r.block() {
				for range n {
					items = append(items, readCRRecord(r, f.rec))
					if r.err != nil {
						break
					}
				}
			}
			v = items
		}
		m[f.name] = v
	}
	return m
}
