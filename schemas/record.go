package schemas

import (
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/callstream/callstream/internal/jsonscan"
)

// A source's generated file describes its row type as data: a table of
// recordField, one per Avro field in the schema's order. Everything that
// used to be generated per field (the JSON setters, the Avro writer, the
// decoder, the parse store) is the code below, driven by that table: one
// implementation of each rule, whatever the number of sources or fields.
// The table holds no offsets; newRowCodec finds each field in the row
// struct by its avro tag and checks its Go type against the kind, so a
// table that does not match its struct fails at init, not on a row.

// fieldKind is how a field is parsed from Graph JSON, where its value is
// stored, and how it is written to and read from Avro.
type fieldKind uint8

const (
	kString       fieldKind = iota + 1 // string: required, an identity (requiredString)
	kOptString                         // *string: ["null", "string"]
	kOptKeyString                      // *string that identifies the row (optKeyString)
	kOptTime                           // *time.Time: ["null", timestamp-millis long]
	kOptInt                            // *int32: ["null", "int"]
	kOptLong                           // *int64: ["null", "long"]
	kOptBool                           // *bool: ["null", "boolean"]
	kOptDouble                         // *float64: ["null", "double"]
	kOptDecimal                        // *Decimal: ["null", decimal(18,6) bytes]
	kOptStrings                        // []string: ["null", array of string]
	kOptUnitInfos                      // []AdministrativeUnitInfo: ["null", array of the record]
	kUnknown                           // map[string]string: the properties the schema does not define
	kTenant                            // *string: ["null", "string"], callstream's tenant id, never parsed
)

// kindTypes gives, by kind, the Go type of the row's field and of the
// store slot behind its pointer (nil when the field is not a pointer).
var kindTypes = [...]struct{ field, slot reflect.Type }{
	kString:       {reflect.TypeFor[string](), nil},
	kOptString:    {reflect.TypeFor[*string](), reflect.TypeFor[string]()},
	kOptKeyString: {reflect.TypeFor[*string](), reflect.TypeFor[string]()},
	kOptTime:      {reflect.TypeFor[*time.Time](), reflect.TypeFor[time.Time]()},
	kOptInt:       {reflect.TypeFor[*int32](), reflect.TypeFor[int32]()},
	kOptLong:      {reflect.TypeFor[*int64](), reflect.TypeFor[int64]()},
	kOptBool:      {reflect.TypeFor[*bool](), reflect.TypeFor[bool]()},
	kOptDouble:    {reflect.TypeFor[*float64](), reflect.TypeFor[float64]()},
	kOptDecimal:   {reflect.TypeFor[*Decimal](), reflect.TypeFor[Decimal]()},
	kOptStrings:   {reflect.TypeFor[[]string](), nil},
	kOptUnitInfos: {reflect.TypeFor[[]AdministrativeUnitInfo](), nil},
	kUnknown:      {reflect.TypeFor[map[string]string](), nil},
	kTenant:       {reflect.TypeFor[*string](), reflect.TypeFor[string]()},
}

// recordField is one entry of a generated field table.
type recordField struct {
	name  string // the Avro field's name, which is also the Graph property's
	kind  fieldKind
	since uint8 // index of the first version whose schema has the field
}

// field is a recordField placed in its row struct and store.
type field struct {
	recordField
	off  uintptr // of the field in the row struct
	slot uintptr // of the value its pointer points to, in the store
}

// recordDesc is a row type's field table resolved against the struct:
// what parsing, writing and reading a row of it need.
type recordDesc struct {
	typeName  string
	fields    []field   // every field, in the last version's schema order
	versions  [][]field // by version index: the fields its schema has, in order
	beyond    [][]field // by version index: the fields it lacks
	props     propertySet
	byID      []int32 // by property id in props: the field's position, or -1
	required  []int   // positions of the required fields
	seenLen   int     // words in a parser's seen set
	unknown   uintptr // offset of the unknown-properties map
	tenant    uintptr // offset of the tenant field, when hasTenant
	hasTenant bool    // false only for a test-only row type without one
	idOff     uintptr // offset of the id field
	hasID     bool    // false for an aggregate, which has no id
	store     reflect.Type
}

// propertySet numbers a set of Graph property names: id is a generated
// switch from a name to its number (below count), or -1 for a name not in
// the set. A parser looks up every property of every row, and the switch
// is the fastest lookup measured: Go compiles it to a search on length
// and word compares against the constant names, which beat a map (3× the
// time) and a perfect hash over a table (1.5×, the compare costing more
// than the hash). One switch covers every production source's names
// (codecs_gen.go), so no source carries a switch of its own.
type propertySet struct {
	id    func(name string) int
	count int
}

// lookup returns the position of the field named by the Graph property
// name, or -1 when no field has it.
func (d *recordDesc) lookup(name string) int {
	id := d.props.id(name)
	if id < 0 {
		return -1
	}
	return int(d.byID[id])
}

// resolveRecord places table in row type rt; props must hold every
// field's name. idField names the id field, or is "" for an aggregate. It
// panics on a table that does not describe rt: the tables are generated,
// so that is a generator bug, caught at init.
func resolveRecord(rt reflect.Type, table []recordField, versions int, idField string, props propertySet) *recordDesc {
	d := &recordDesc{typeName: rt.Name(), props: props, byID: make([]int32, props.count)}
	for i := range d.byID {
		d.byID[i] = -1
	}
	byTag := map[string]reflect.StructField{}
	for i := range rt.NumField() {
		sf := rt.Field(i)
		byTag[sf.Tag.Get("avro")] = sf
	}
	var slots []reflect.StructField
	unknowns, tenants := 0, 0
	for i, rf := range table {
		sf, ok := byTag[rf.name]
		if !ok || int(rf.kind) >= len(kindTypes) || rf.kind == 0 || sf.Type != kindTypes[rf.kind].field || int(rf.since) >= versions {
			panic(fmt.Sprintf("schemas: %s field table entry %q (kind %d, since %d) does not match the struct", rt.Name(), rf.name, rf.kind, rf.since))
		}
		f := field{recordField: rf, off: sf.Offset}
		if st := kindTypes[rf.kind].slot; st != nil {
			slots = append(slots, reflect.StructField{Name: fmt.Sprintf("S%d", i), Type: st})
		}
		switch rf.kind {
		case kUnknown:
			d.unknown = f.off
			unknowns++
		case kTenant:
			// Not a Graph property: it has no id, so the parser never
			// sets it and a Graph property of that name is unknown.
			d.tenant, d.hasTenant = f.off, true
			tenants++
		default:
			if rf.kind == kString {
				d.required = append(d.required, i)
			}
			id := props.id(rf.name)
			if id < 0 || id >= props.count || d.byID[id] >= 0 {
				panic(fmt.Sprintf("schemas: %s field %q has no id of its own in the property set", rt.Name(), rf.name))
			}
			d.byID[id] = int32(i)
		}
		if rf.name == idField {
			if rf.kind != kString {
				panic(fmt.Sprintf("schemas: %s id field %q is not a required string", rt.Name(), idField))
			}
			d.idOff, d.hasID = f.off, true
		}
		d.fields = append(d.fields, f)
	}
	if unknowns != 1 || tenants > 1 || (idField != "") != d.hasID || len(d.fields) != rt.NumField() {
		panic(fmt.Sprintf("schemas: %s field table does not match the struct (unknown-properties field, tenant field, id, field count)", rt.Name()))
	}
	// One store for every pointer field, typed so that the collector sees
	// the strings and times in it: a parsed row costs one allocation for
	// all its nullable values, and a pooled row none.
	d.store = reflect.StructOf(slots)
	k := 0
	for i := range d.fields {
		if kindTypes[d.fields[i].kind].slot != nil {
			d.fields[i].slot = d.store.Field(k).Offset
			k++
		}
	}
	for ver := range versions {
		var vf, beyond []field
		for _, f := range d.fields {
			if int(f.since) <= ver {
				vf = append(vf, f)
			} else {
				beyond = append(beyond, f)
			}
		}
		d.versions = append(d.versions, vf)
		d.beyond = append(d.beyond, beyond)
	}
	d.seenLen = (len(d.fields) + 63) / 64
	return d
}

// newStore allocates a store for one row's pointer fields.
func (d *recordDesc) newStore() unsafe.Pointer { return reflect.New(d.store).UnsafePointer() }

func (d *recordDesc) unknownOf(row unsafe.Pointer) *map[string]string {
	return (*map[string]string)(unsafe.Add(row, d.unknown))
}

// defines reports whether version ver's schema has the property name.
func (d *recordDesc) defines(name string, ver int) bool {
	pos := d.lookup(name)
	return pos >= 0 && int(d.fields[pos].since) <= ver
}

// rowParser stores the properties of one row; seen and more have a bit per
// field position, for duplicate detection: seen for the first 128 fields,
// without an allocation, more for the fields beyond (no source has them
// yet, but any field count works).
type rowParser struct {
	d       *recordDesc
	row, st unsafe.Pointer
	ver     int
	seen    [2]uint64
	more    []uint64
}

// see marks field position pos seen, reporting whether it was already.
func (p *rowParser) see(pos int) (again bool) {
	w, bit := pos>>6, uint64(1)<<(pos&63)
	words := p.seen[:]
	if w >= len(p.seen) {
		words, w = p.more, w-len(p.seen)
	}
	again = words[w]&bit != 0
	words[w] |= bit
	return again
}

func (p *rowParser) saw(pos int) bool {
	w, bit := pos>>6, uint64(1)<<(pos&63)
	if w >= len(p.seen) {
		return p.more[w-len(p.seen)]&bit != 0
	}
	return p.seen[w]&bit != 0
}

// parse parses in into row with the properties of version ver, st backing
// the row's pointer fields. It returns *RowError, not error, so a wrapper
// cannot leak a typed nil. A non-nil unknown-properties map is filled
// rather than replaced.
func (d *recordDesc) parse(in rowInput, row, st unsafe.Pointer, ver int) *RowError {
	p := rowParser{d: d, row: row, st: st, ver: ver}
	if d.seenLen > len(p.seen) {
		p.more = make([]uint64, d.seenLen-len(p.seen))
	}
	if rerr := walkObject(in, p.property); rerr != nil {
		return rerr
	}
	for _, pos := range d.required {
		if !p.saw(pos) {
			return &RowError{Field: d.fields[pos].name, Reason: "required property is missing"}
		}
	}
	return nil
}

func (p *rowParser) property(name, val string, plain bool) *RowError {
	d := p.d
	pos := d.lookup(name)
	if pos < 0 || int(d.fields[pos].since) > p.ver {
		return addUnknown(d.unknownOf(p.row), name, val)
	}
	if p.see(pos) {
		return &RowError{Field: name, Reason: "duplicate property"}
	}
	f := &d.fields[pos]
	ptr, slot := unsafe.Add(p.row, f.off), unsafe.Add(p.st, f.slot)
	var rerr *RowError
	// The common kinds first, with predictable branches (as in appendRow).
	if f.kind == kOptString {
		*(**string)(ptr), rerr = optString((*string)(slot), name, val, plain)
		return rerr
	}
	if f.kind == kOptTime {
		*(**time.Time)(ptr), rerr = optTime((*time.Time)(slot), name, val, plain)
		return rerr
	}
	switch f.kind {
	case kString:
		*(*string)(ptr), rerr = requiredString(name, val, plain)
	case kOptKeyString:
		*(**string)(ptr), rerr = optKeyString((*string)(slot), name, val, plain)
	case kOptInt:
		*(**int32)(ptr), rerr = optInteger((*int32)(slot), name, val)
	case kOptLong:
		*(**int64)(ptr), rerr = optInteger((*int64)(slot), name, val)
	case kOptBool:
		*(**bool)(ptr), rerr = optBool((*bool)(slot), name, val)
	case kOptDouble:
		*(**float64)(ptr), rerr = optDouble((*float64)(slot), name, val)
	case kOptDecimal:
		*(**Decimal)(ptr), rerr = optDecimal((*Decimal)(slot), name, val)
	case kOptStrings:
		*(*[]string)(ptr), rerr = optStrings(name, val)
	case kOptUnitInfos:
		*(*[]AdministrativeUnitInfo)(ptr), rerr = optUnitInfos(d.unknownOf(p.row), name, val)
	default:
		panic(fmt.Sprintf("schemas: %s field %s has no setter for kind %d", d.typeName, f.name, f.kind))
	}
	return rerr
}

// appendRow writes row in the field order of version ver's schema.
func (d *recordDesc) appendRow(dst []byte, row unsafe.Pointer, ver int) []byte {
	fields := d.versions[ver]
	for i := range fields {
		f := &fields[i]
		ptr := unsafe.Add(row, f.off)
		// The common kinds are tested first, with predictable branches:
		// cheaper for them than the switch's indirect jump.
		if f.kind == kOptString || f.kind == kOptKeyString || f.kind == kTenant {
			dst = appendOptString(dst, *(**string)(ptr))
			continue
		}
		if f.kind == kOptTime {
			dst = appendOptTime(dst, *(**time.Time)(ptr))
			continue
		}
		if f.kind == kOptInt {
			dst = appendOptInt(dst, *(**int32)(ptr))
			continue
		}
		if f.kind == kString {
			dst = appendString(dst, *(*string)(ptr))
			continue
		}
		switch f.kind {
		case kOptLong:
			dst = appendOptLong(dst, *(**int64)(ptr))
		case kOptBool:
			dst = appendOptBool(dst, *(**bool)(ptr))
		case kOptDouble:
			dst = appendOptDouble(dst, *(**float64)(ptr))
		case kOptDecimal:
			dst = appendOptDecimal(dst, *(**Decimal)(ptr))
		case kOptStrings:
			dst = appendOptStrings(dst, *(*[]string)(ptr))
		case kOptUnitInfos:
			dst = appendOptUnitInfos(dst, *(*[]AdministrativeUnitInfo)(ptr))
		case kUnknown:
			dst = appendOptMap(dst, *(*map[string]string)(ptr))
		}
	}
	return dst
}

// setBeyond names a property of row that version ver's schema lacks but
// row holds, or returns "".
func (d *recordDesc) setBeyond(row unsafe.Pointer, ver int) string {
	for i := range d.beyond[ver] {
		f := &d.beyond[ver][i]
		ptr := unsafe.Add(row, f.off)
		set := false
		switch f.kind {
		case kOptStrings:
			set = *(*[]string)(ptr) != nil
		case kOptUnitInfos:
			set = *(*[]AdministrativeUnitInfo)(ptr) != nil
		default: // a pointer: every version has the string and map fields
			set = *(*unsafe.Pointer)(ptr) != nil
		}
		if set {
			return f.name
		}
	}
	return ""
}

// rowCodec is a source's codec: its sourceCodec entry (what For hands
// out), its resolved field table, and the typed functions the generated
// exported API calls.
type rowCodec[R any] struct {
	sourceCodec
	desc *recordDesc
	pool sync.Pool // of *parseScratch[R]
}

// keyedRow is what the codec needs of a generated row type beyond its
// field table: its record key.
type keyedRow[R any] interface {
	*R
	Key() string
}

// newRowCodec builds the codec of row type R from its sourceCodec entry
// (source, schema name, versions) and its generated field table; idField
// is the deduplication id's property, "" for an aggregate; props numbers
// the fields' names.
func newRowCodec[R any, P keyedRow[R]](sc sourceCodec, idField string, props propertySet, table []recordField) *rowCodec[R] {
	rc := &rowCodec[R]{sourceCodec: sc}
	d := resolveRecord(reflect.TypeFor[R](), table, len(sc.versions), idField, props)
	rc.desc, rc.sourceCodec.desc = d, d
	rc.rowType = reflect.TypeFor[R]()
	rc.pool.New = func() any {
		st := reflect.New(d.store)
		return &parseScratch[R]{st: st.UnsafePointer(), stv: st.Elem()}
	}
	rc.encode = func(in rowInput, ver int, dst []byte) (string, string, []byte, error) {
		return encodeRow[R, P](rc, in, ver, dst)
	}
	rc.decode = func(data []byte, ver int) (any, error) {
		row := new(R)
		return row, rc.decodeRow(data, ver, row)
	}
	rc.parse = func(raw []byte, ver int) (any, error) {
		row := new(R)
		return row, rc.parseRow(raw, ver, row)
	}
	return rc
}

// parseRow is the generated Parse functions: row is reset first, and left
// zero on error.
func (rc *rowCodec[R]) parseRow(raw []byte, ver int, row *R) error {
	var zero R
	*row = zero
	if rerr := rc.desc.parse(rowInput{raw: raw}, unsafe.Pointer(row), rc.desc.newStore(), ver); rerr != nil {
		*row = zero
		return rerr
	}
	return nil
}

// appendAvro is the generated AppendAvro methods: a row with a field set
// that version ver's schema lacks is an error rather than a silent loss of
// that field.
func (rc *rowCodec[R]) appendAvro(row *R, ver int, dst []byte) ([]byte, error) {
	if ver == len(rc.versions)-1 {
		// The last version has every field.
		return rc.desc.appendRow(dst, unsafe.Pointer(row), ver), nil
	}
	if name := rc.desc.setBeyond(unsafe.Pointer(row), ver); name != "" {
		last := rc.versions[len(rc.versions)-1]
		return dst, fmt.Errorf("encode avro row: %s-only property %s is set; encode with AppendAvro%s", last.version, name, last.suffix)
	}
	return rc.desc.appendRow(dst, unsafe.Pointer(row), ver), nil
}

// decodeRow is the generated Decode functions: row is replaced only when
// data holds exactly one valid record.
func (rc *rowCodec[R]) decodeRow(data []byte, ver int, row *R) error {
	var out R
	if err := rc.desc.decode(data, ver, unsafe.Pointer(&out)); err != nil {
		return err
	}
	*row = out
	return nil
}

// parseScratch is a parsed row of type R, the store behind its pointers,
// the map for its unknown properties and the buffer for its scan, reused
// from row to row by Encode.
type parseScratch[R any] struct {
	row     R
	st      unsafe.Pointer
	stv     reflect.Value // the store, for zeroing it
	props   map[string]string
	members []jsonscan.Member
}

// encodeRow parses in into a pooled row and appends its Avro encoding with
// version ver's schema to dst. Every reference to the row's strings (which
// may alias in.raw) is dropped before the row goes back to the pool.
func encodeRow[R any, P keyedRow[R]](rc *rowCodec[R], in rowInput, ver int, dst []byte) (id, key string, out []byte, err error) {
	d := rc.desc
	sc := rc.pool.Get().(*parseScratch[R])
	row := unsafe.Pointer(&sc.row)
	unknown := d.unknownOf(row)
	defer func() {
		sc.props = reusableProps(*unknown, sc.props)
		var zero R
		sc.row = zero
		sc.stv.SetZero() // drops the store's references to the row's strings
		rc.pool.Put(sc)
	}()
	*unknown = sc.props
	in.scratch = &sc.members
	if rerr := d.parse(in, row, sc.st, ver); rerr != nil {
		return "", "", dst, rerr.owned(in.shared)
	}
	if len(*unknown) == 0 {
		*unknown = nil
	}
	if d.hasTenant {
		// The codec's own string: the deferred reset drops it with the row.
		*(**string)(unsafe.Add(row, d.tenant)) = in.tenant
	}
	out = d.appendRow(dst, row, ver)
	if d.hasID {
		id = *(*string)(unsafe.Add(row, d.idOff))
	}
	return id, P(&sc.row).Key(), out, nil
}
