// Package codegen generates package schemas' row codecs from the .avsc
// files: for each source, the Go row type with its doc comments, its Key
// method, the exported one-line Parse/AppendAvro/Decode wrappers, and its
// codec with a field table — the fields in schema order, each with its
// kind (schemas' fieldKind) and the version that added it. Its input is,
// for each entry of the sources registry (package sources), the entry
// and its .avsc files (one per Graph API version): what the schema cannot
// say (which properties identify a row, which one keys it, the Go names)
// is derived from the entry by convention (derive documents the rules).
// There is no per-source Go code and no per-source annotation file; Go
// names the rules spell badly go in goNames, here.
//
// A test-only source, which has no registry entry (the wide schema that
// exercises field indexes above 127), is annotated explicitly: a
// testdata/codegen/<Record>.codec.json (see Annotation) beside its .avsc
// files, generated into <Record>_gen_test.go with a property switch of its
// own. TestGeneratorRefuses hands generate registry entries of its own.
//
// The generated code holds no per-field logic: the schemas runtime
// (record.go, avroread.go) parses, writes and reads every row type by its
// table, over schemas' hand-written zero-allocation primitives
// (walkObject over jsonscan members, requiredString, optString, optTime,
// optDecimal, appendOptString, ...), so each rule has one implementation
// whatever the number of sources and fields. The one generated lookup is
// the switch from property name to number that every production source
// shares (codecs_gen.go): measured, it beats a map and a perfect hash.
//
// Adding a source's codec (the source itself is first an entry in the
// sources registry, package sources, whose Name, Kind, Record, Versions,
// IDProperty, KeyProperty and, for an aggregate, GroupBy the generator
// reads):
//  1. Put its .avsc files in schemas/: <Record>.avsc for v1.0 and
//     <Record>.beta.avsc for beta, one per entry of Versions, each an
//     evolution of the one before (same record name, earlier fields kept
//     in order), each with the nullable map<string> additionalProperties.
//  2. Run go generate ./schemas. The new <Record>_gen.go holds the row
//     type, Parse/Decode functions, AppendAvro methods and the codec with
//     its field table; codecs_gen.go lists it, so For finds it, and adds
//     its property names to the shared switch. The exported names follow
//     from the entry: <CamelName>SchemaName, Parse<Record minus
//     "LogRow">Row[Beta] (or Parse<CamelName>Row for a record not named
//     *LogRow). The table-driven tests (TestAppendMatchesHamba,
//     FuzzAllSources, TestEveryCodecDecodesExactly) cover it once seedRaw
//     (codegen_test.go) knows its seed row files.
//
// The generator refuses an entry whose schema disagrees with it (a
// missing file, record or property, an id that is not a required
// string) and an .avsc in schemas/ that no entry claims.
//
// A report rather than a log (getPstnOnlineMeetingDialoutReport) is an
// aggregate (Kind Aggregate, no IDProperty): its rows have no id, and its
// Key is the JSON array of all its grouping properties (the registry
// entry's GroupBy), which schemas.DayKey prefixes with the day the row covers.
// Hashing the figures is left to the caller, over the Avro bytes Encode
// returns: they are the row's whole content, already in hand, so an extra
// generated hash would only duplicate them.
//
// Supported field types: string (required, must be an identity), and
// ["null", T] for T string, int, long, boolean, double, timestamp-millis
// long, decimal(18,6) bytes, array of string, map of string (the unknown-
// properties field only), and arrays of records that have a hand-written
// helper (recordArrays). Anything else is a generator error naming the
// field, never silently wrong code.
//
// Nested records (call records: sessions → segments → endpoints → media →
// streams) are the next step, and the structure is ready for them: a
// record type gets a field table of its own (resolved like a row's: its
// fields, its store, its seen set), and a field of record type (or array
// of records, or map of records) a kind whose parse runs the record's
// table over the value's text (jsonscan.Object, as walkObject does for a
// row) and whose write and read run it over the Avro bytes. recordArrays
// is the seam: today it maps AdministrativeUnitInfo to the hand-written
// kOptUnitInfos (optUnitInfos / appendOptUnitInfos); a table-driven
// record kind replaces that entry.
package codegen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Annotation is what the generator needs about a source besides its
// .avsc files. For a production source it is derived from the source's
// entry in the sources registry (see derive); a test-only source (the
// wide schema under testdata/codegen, which has no registry entry) spells
// it out in a <Record>.codec.json file of the same shape.
type Annotation struct {
	// Source is the source's name as the SOURCES setting spells it.
	Source string `json:"source"`
	// Prefix names the unexported generated identifiers (pstnCodec, ...).
	Prefix string `json:"prefix"`
	// SchemaFunc names the exported schema accessors: <SchemaFunc>SchemaName,
	// <SchemaFunc><Suffix>SchemaText(), <SchemaFunc><Suffix>Schema().
	SchemaFunc string `json:"schemaFunc"`
	// FuncName names Parse<FuncName><Suffix> and Decode<FuncName><Suffix>.
	FuncName string `json:"funcName"`
	// Doc is the row type's doc comment, without the leading type name.
	Doc string `json:"doc"`
	// Versions lists the Graph API versions in order; each one's schema
	// must hold every field of the one before it (an evolution).
	Versions []Version `json:"versions"`
	// Identity lists the properties that identify a row (the dedup id, the
	// record key): invalid UTF-8 in them is a row error, never repaired.
	Identity []string `json:"identity"`
	// ID is the deduplication id property; it must be a required string.
	// An aggregate has none.
	ID string `json:"id"`
	// Key lists the record key candidates: the first non-empty one wins;
	// the last must be a required string so that a key always exists. For
	// an aggregate it lists the grouping properties instead, all of them
	// part of the key (see Aggregate).
	Key []string `json:"key"`
	// Aggregate marks a report rather than a log (getPstnOnlineMeetingDialoutReport):
	// a row has no id, it is identified by the range it covers (which the
	// caller knows, not the row) and its grouping properties, and a re-read
	// may change its figures. Its Key is the JSON array of every grouping
	// property (null for a null one), which schemas.DayKey prefixes with
	// the day; Encode returns an empty id, so the caller dedups on key and
	// content (a hash of the Avro bytes) rather than on an id. The
	// grouping properties must be nullable identity strings: they are part
	// of the key, so invalid UTF-8 in them is never repaired.
	Aggregate bool `json:"aggregate"`
	// Unknown is the map<string> field that keeps the properties the
	// schema does not define.
	Unknown string `json:"unknown"`
	// Records marks a source of Kind Records (call records), whose codec
	// is hand-written: the generator checks its schema (checkRecords) and
	// lists the codec, and emits nothing for it. Derived only, never
	// annotated.
	Records bool `json:"-"`

	// origin names where the annotation came from, for the generated
	// files' headers and errors.
	origin string
}

// Version is one Graph API version of a source and its schema file.
type Version struct {
	Version string `json:"version"`
	Avsc    string `json:"avsc"`
	// Suffix tells this version's exported names apart ("" or "Beta").
	Suffix string `json:"suffix"`
}

// avscRecord is the part of an .avsc the generator reads.
type avscRecord struct {
	Type      string      `json:"type"`
	Name      string      `json:"name"`
	Namespace string      `json:"namespace"`
	Fields    []avscField `json:"fields"`
}

type avscField struct {
	Name string          `json:"name"`
	Type json.RawMessage `json:"type"`
	Doc  string          `json:"doc"`
}

// kind is how one field is parsed, stored, written and read: its Go type
// in the row struct and the schemas runtime's fieldKind constant, whose
// code (schemas/record.go) does the work. New kinds (nested records,
// arrays of records, maps of records) are added here and there.
type kind struct {
	goType string // the row struct's field type
	rt     string // the fieldKind constant
}

var kinds = map[string]kind{
	"string":           {"string", "kString"},
	"opt string":       {"*string", "kOptString"},
	"opt timestamp":    {"*time.Time", "kOptTime"},
	"opt int":          {"*int32", "kOptInt"},
	"opt long":         {"*int64", "kOptLong"},
	"opt boolean":      {"*bool", "kOptBool"},
	"opt double":       {"*float64", "kOptDouble"},
	"opt decimal":      {"*Decimal", "kOptDecimal"},
	"opt string array": {"[]string", "kOptStrings"},
	"opt map":          {"map[string]string", "kUnknown"},
	// The tenant field (tenantField) is an "opt string" with a kind of its
	// own, tenantKind: callstream fills it, never a Graph property.
	// Arrays of named records have hand-written kinds for now, keyed by
	// the record's name; see recordArrays.
}

// recordArrays maps the name of a record used as array items to its
// hand-written Go type and kind. Call records will need these generated
// (recursively, from the item record's own fields); the table is where a
// generated record kind will plug in.
var recordArrays = map[string]kind{
	"AdministrativeUnitInfo": {"[]AdministrativeUnitInfo", "kOptUnitInfos"},
}

// tenantKind is the tenant field's kind: a *string that the parser never
// sets from the JSON (the name is not in the property switch, so a Graph
// property of that name is an unknown property like any other) and that
// the encoder writes from the tenant its caller stamps (Codec.WithTenant).
var tenantKind = kind{"*string", "kTenant"}

// field is one schema field with everything the templates need.
type field struct {
	Name     string // Avro / Graph property name
	GoName   string
	Doc      string
	Kind     kind
	KindName string
	Index    int  // JSON property index; -1 for the unknown map and the tenant
	Required bool // a non-union type
	Identity bool
}

// source is one annotation (derived or a test fixture's) with its schemas
// read and checked.
type source struct {
	Annotation
	Record    string // record name, e.g. DirectRoutingLogRow
	FullName  string
	Fields    []*field          // every field, in first-seen order
	ByName    map[string]*field // by property name
	Order     [][]*field        // per version: the fields in schema order
	JSONCount int               // number of JSON-named fields
}

// loadAnnotation reads a test-only source's <Record>.codec.json.
func loadAnnotation(path string) (Annotation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Annotation{}, err
	}
	var a Annotation
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return Annotation{}, fmt.Errorf("%s: %w", path, err)
	}
	a.origin = filepath.Base(path)
	return a, nil
}

// load reads the .avsc files a names (in dir) and checks them against a.
// keyFor, when not nil, is called once the fields are known to complete
// a's key and identity from them (see derive).
func load(a Annotation, dir string, keyFor func(*source) error) (*source, error) {
	if a.Source == "" || a.Prefix == "" || a.SchemaFunc == "" || a.FuncName == "" || len(a.Versions) == 0 || a.Unknown == "" {
		return nil, fmt.Errorf("%s: source, prefix, schemaFunc, funcName, versions and unknown are required", a.origin)
	}
	s := &source{Annotation: a, ByName: map[string]*field{}}
	for _, v := range a.Versions {
		text, err := os.ReadFile(filepath.Join(dir, v.Avsc))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.origin, err)
		}
		var rec avscRecord
		if err := json.Unmarshal(text, &rec); err != nil {
			return nil, fmt.Errorf("%s: %w", v.Avsc, err)
		}
		if rec.Type != "record" {
			return nil, fmt.Errorf("%s: top-level type %q, want record", v.Avsc, rec.Type)
		}
		if s.Record == "" {
			s.Record, s.FullName = rec.Name, rec.Namespace+"."+rec.Name
		} else if rec.Name != s.Record {
			return nil, fmt.Errorf("%s: record %s, want %s like the first version", v.Avsc, rec.Name, s.Record)
		}
		var order []*field
		for _, af := range rec.Fields {
			f, err := s.fieldFor(af)
			if err != nil {
				return nil, fmt.Errorf("%s: field %s: %w", v.Avsc, af.Name, err)
			}
			order = append(order, f)
		}
		s.Order = append(s.Order, order)
		// Every field of this version must have an index below its count,
		// and every earlier field must still be here: the parser tells the
		// versions apart by count alone.
		seen := map[string]bool{}
		for _, f := range order {
			seen[f.Name] = true
		}
		for _, f := range s.Fields {
			if !seen[f.Name] {
				return nil, fmt.Errorf("%s: field %s of an earlier version is missing (versions must be evolutions)", v.Avsc, f.Name)
			}
		}
	}
	if keyFor != nil {
		if err := keyFor(s); err != nil {
			return nil, fmt.Errorf("%s: %w", a.origin, err)
		}
	}
	if (s.ID == "") != s.Aggregate || len(s.Key) == 0 {
		return nil, fmt.Errorf("%s: key and (unless aggregate, and only then) id are required", a.origin)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", a.origin, err)
	}
	if err := s.checkOrder(); err != nil {
		return nil, err
	}
	return s, nil
}

// fieldFor returns the field for af, adding it when it is new.
func (s *source) fieldFor(af avscField) (*field, error) {
	kindName, itemRecord, err := classify(af.Type)
	if err != nil {
		return nil, err
	}
	if f, ok := s.ByName[af.Name]; ok {
		if f.KindName != kindName {
			return nil, fmt.Errorf("type changed between versions (%s, then %s)", f.KindName, kindName)
		}
		return f, nil
	}
	f := &field{Name: af.Name, GoName: goName(af.Name), Doc: af.Doc, KindName: kindName, Index: -1}
	if itemRecord != "" {
		ra, ok := recordArrays[itemRecord]
		if !ok {
			return nil, fmt.Errorf("array of record %s: no codec for that record yet", itemRecord)
		}
		f.Kind = ra
	} else {
		f.Kind = kinds[kindName]
	}
	f.Required = kindName == "string"
	switch {
	case af.Name == s.Unknown:
		if kindName != "opt map" {
			return nil, fmt.Errorf("the unknown-properties field must be a nullable map<string>")
		}
	case af.Name == tenantField:
		if kindName != "opt string" {
			return nil, fmt.Errorf("the tenant field must be a nullable string")
		}
		f.Kind = tenantKind
	default:
		if kindName == "opt map" {
			return nil, fmt.Errorf("a map<string> field other than %s is not supported yet", s.Unknown)
		}
		f.Index = s.JSONCount
		s.JSONCount++
	}
	s.Fields = append(s.Fields, f)
	s.ByName[af.Name] = f
	return f, nil
}

// check validates the annotation against the fields.
func (s *source) check() error {
	if f := s.ByName[s.Unknown]; f == nil {
		return fmt.Errorf("unknown-properties field %s is not in the schema", s.Unknown)
	}
	for _, name := range s.Identity {
		f := s.ByName[name]
		if f == nil || (f.KindName != "string" && f.KindName != "opt string") {
			return fmt.Errorf("identity property %s must be a string field", name)
		}
		f.Identity = true
	}
	for _, f := range s.Fields {
		if f.GoName == "Key" {
			return fmt.Errorf("field %s: the Go name Key is taken by the Key method; add the property to goNames", f.Name)
		}
		if f.Required && !f.Identity {
			// requiredString checks identities; a required string that is
			// not one would need its own helper.
			return fmt.Errorf("required string %s must be listed in identity", f.Name)
		}
	}
	if s.Aggregate {
		for _, name := range s.Key {
			if f := s.ByName[name]; f == nil || !f.Identity || f.KindName != "opt string" {
				return fmt.Errorf("grouping property %s of an aggregate must be a nullable identity string", name)
			}
		}
		return nil
	}
	if f := s.ByName[s.ID]; f == nil || !f.Required {
		return fmt.Errorf("id property %s must be a required string", s.ID)
	}
	for i, name := range s.Key {
		f := s.ByName[name]
		if f == nil || !f.Identity {
			return fmt.Errorf("key property %s must be an identity string", name)
		}
		if i == len(s.Key)-1 && !f.Required {
			return fmt.Errorf("the last key property %s must be required", name)
		}
	}
	return nil
}

// classify names the kind of an Avro field type, or the record name when
// it is a nullable array of records.
func classify(raw json.RawMessage) (kindName, itemRecord string, err error) {
	var simple string
	if json.Unmarshal(raw, &simple) == nil {
		if simple == "string" {
			return "string", "", nil
		}
		return "", "", fmt.Errorf("non-nullable type %s is not supported (only string)", simple)
	}
	var union []json.RawMessage
	if err := json.Unmarshal(raw, &union); err != nil || len(union) != 2 || string(union[0]) != `"null"` {
		return "", "", fmt.Errorf("type %s: want a string or a [\"null\", T] union", raw)
	}
	t := union[1]
	if json.Unmarshal(t, &simple) == nil {
		switch simple {
		case "string", "int", "long", "boolean", "double":
			return "opt " + simple, "", nil
		}
		return "", "", fmt.Errorf("union branch %s is not supported", simple)
	}
	var c struct {
		Type        string          `json:"type"`
		LogicalType string          `json:"logicalType"`
		Precision   int             `json:"precision"`
		Scale       int             `json:"scale"`
		Values      json.RawMessage `json:"values"`
		Items       json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(t, &c); err != nil {
		return "", "", fmt.Errorf("union branch %s: %w", t, err)
	}
	switch {
	case c.Type == "long" && c.LogicalType == "timestamp-millis":
		return "opt timestamp", "", nil
	case c.Type == "bytes" && c.LogicalType == "decimal":
		if c.Precision != 18 || c.Scale != 6 {
			// Decimal is decimal(18,6); another shape needs its own type.
			return "", "", fmt.Errorf("decimal(%d,%d) is not supported, only decimal(18,6)", c.Precision, c.Scale)
		}
		return "opt decimal", "", nil
	case c.Type == "map" && string(c.Values) == `"string"`:
		return "opt map", "", nil
	case c.Type == "array" && string(c.Items) == `"string"`:
		return "opt string array", "", nil
	case c.Type == "array":
		var item struct{ Type, Name string }
		if json.Unmarshal(c.Items, &item) == nil && item.Type == "record" {
			return "opt record array", item.Name, nil
		}
	}
	return "", "", fmt.Errorf("union branch %s is not supported yet", t)
}

// goName derives the Go field name of a property: its first letter
// upper-cased, a trailing "Id" made "ID" and the initialisms IpV4 and IpV6
// made IPv4 and IPv6 (clientLocalIpV4Address → ClientLocalIPv4Address),
// unless goNames overrides it.
func goName(prop string) string {
	if n, ok := goNames[prop]; ok {
		return n
	}
	n := strings.ToUpper(prop[:1]) + prop[1:]
	if strings.HasSuffix(n, "Id") {
		n = strings.TrimSuffix(n, "Id") + "ID"
	}
	return initialisms.Replace(n)
}

// initialisms are the spellings goName corrects anywhere in a name.
var initialisms = strings.NewReplacer("IpV4", "IPv4", "IpV6", "IPv6")

// goNames overrides goName for properties its rule names badly, by
// property name, for every source (a Go name is a Go-API concern, so it
// lives here rather than in the sources registry). It is empty: add an
// entry only for a property whose derived name is wrong or taken (Key).
var goNames = map[string]string{}
