package codegen

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/callstream/callstream/sources"
)

// versionFiles maps a Graph API version to the .avsc file name after the
// record name and the suffix of its exported names.
var versionFiles = map[string]struct{ ext, suffix string }{
	sources.V1:   {".avsc", ""},
	sources.Beta: {".beta.avsc", "Beta"},
}

// unknownField is the field every source's schema keeps the properties it
// does not define in.
const unknownField = "additionalProperties"

// tenantField is the field every production source's schema names the
// Microsoft Entra tenant a row was read from in: callstream's, not Graph's,
// and the last field of every version, so that adding it was an evolution
// that the registry's BACKWARD and FULL checks accept.
const tenantField = "tenantId"

// derive returns the annotation of a registered source, by convention
// from its registry entry (the generator's whole per-source input besides
// the .avsc files):
//
//   - Versions: the entry's, in its order; version v1.0 is read from
//     <Record>.avsc and names its API without a suffix, beta from
//     <Record>.beta.avsc with the suffix Beta.
//   - ID: IDProperty. Key (completed by keyFor once the schema is read):
//     [KeyProperty] when that is a required string in the schema, else
//     [KeyProperty, IDProperty] (a null or empty key falls back to the
//     id). Identity: IDProperty and KeyProperty.
//   - An Aggregate: no id; key and identity are its GroupBy properties.
//   - Unknown: additionalProperties, which the schema must have.
//   - Tenant: tenantId, a nullable string that must be the last field of
//     every version's schema.
//   - Go names: SchemaFunc is the source's Name in camel case
//     (pstn-blocked-users → PstnBlockedUsers, so PstnBlockedUsersSchemaName);
//     FuncName is Record with its LogRow suffix made Row
//     (PstnCallLogRow → ParsePstnCallRow), or SchemaFunc + Row for a record
//     not named *LogRow (PstnOnlineMeetingDialoutReport of pstn-dialout →
//     ParsePstnDialoutRowBeta); Prefix, for unexported names, is SchemaFunc
//     with its first letter lower-cased (pstnBlockedUsersCodec).
//   - Doc: composed from the entry and the schema by rowDoc.
func derive(src sources.Source) (Annotation, func(*source) error, error) {
	a := Annotation{Source: src.Name, Unknown: unknownField, origin: "the sources registry's " + src.Name + " entry"}
	if src.Name == "" || src.Record == "" || len(src.Versions) == 0 {
		return a, nil, fmt.Errorf("%s: the entry needs a Name, a Record and Versions", a.origin)
	}
	a.SchemaFunc = camel(src.Name)
	a.Prefix = lowerFirst(a.SchemaFunc)
	if base, ok := strings.CutSuffix(src.Record, "LogRow"); ok && base != "" {
		a.FuncName = base + "Row"
	} else {
		a.FuncName = a.SchemaFunc + "Row"
	}
	for _, v := range src.Versions {
		vf, ok := versionFiles[v]
		if !ok {
			return a, nil, fmt.Errorf("%s: API version %q has no schema file convention", a.origin, v)
		}
		a.Versions = append(a.Versions, Version{Version: v, Avsc: src.Record + vf.ext, Suffix: vf.suffix})
	}
	switch src.Kind {
	case sources.Log:
		if src.IDProperty == "" || src.KeyProperty == "" {
			return a, nil, fmt.Errorf("%s: a log needs an IDProperty and a KeyProperty", a.origin)
		}
		if len(src.GroupBy) != 0 {
			return a, nil, fmt.Errorf("%s: GroupBy is for an aggregate only", a.origin)
		}
		a.ID = src.IDProperty
		a.Identity = compactStrings(src.IDProperty, src.KeyProperty)
	case sources.Aggregate:
		if src.IDProperty != "" || len(src.GroupBy) == 0 {
			return a, nil, fmt.Errorf("%s: an aggregate has GroupBy and no IDProperty", a.origin)
		}
		a.Aggregate = true
		a.Identity = slices.Clone(src.GroupBy)
		a.Key = slices.Clone(src.GroupBy)
	case sources.Records:
		// Hand-written codec; generate checks the entry with checkRecords.
		a.Records = true
		a.ID = src.IDProperty
		a.Key = []string{src.KeyProperty}
		return a, nil, nil
	default:
		return a, nil, fmt.Errorf("%s: kind %v has no codec convention", a.origin, src.Kind)
	}
	keyFor := func(s *source) error {
		if f := s.ByName[unknownField]; f == nil {
			return fmt.Errorf("the schema has no %s field (every source's keeps the properties it does not define there)", unknownField)
		}
		for vi, order := range s.Order {
			if len(order) == 0 || order[len(order)-1].Name != tenantField {
				return fmt.Errorf("%s: the last field must be %s (every source's names the tenant its rows were read from there)", s.Versions[vi].Avsc, tenantField)
			}
		}
		if !s.Aggregate {
			f := s.ByName[src.KeyProperty]
			if f == nil {
				return fmt.Errorf("KeyProperty %s is not in the schema", src.KeyProperty)
			}
			s.Key = []string{src.KeyProperty}
			if !f.Required {
				s.Key = compactStrings(src.KeyProperty, src.IDProperty)
			}
		}
		s.Doc = rowDoc(src, s)
		return nil
	}
	return a, keyFor, nil
}

// rowDoc composes the row type's doc comment (after the type name) from
// the registry entry and the schema. The .avsc's own doc is not used: it
// describes the Avro encoding (timestamps in milliseconds), which the Go
// row does not share (it keeps Graph's full precision).
func rowDoc(src sources.Source, s *source) string {
	var b strings.Builder
	fmt.Fprintf(&b, "is one row of Microsoft Graph %s (%s), the %s source, shaped like the %s Avro record (%s). A nil pointer means the property was null or absent.",
		src.Function, versionList(src.Versions), src.Title, s.Record, s.Versions[0].Avsc)
	var hasTime, hasDecimal bool
	for _, f := range s.Fields {
		hasTime = hasTime || f.KindName == "opt timestamp"
		hasDecimal = hasDecimal || f.KindName == "opt decimal"
	}
	if hasTime {
		b.WriteString(" Timestamps are UTC; after parsing they keep Graph's full precision (up to 100 ns), and the Avro encoding truncates them to the millisecond.")
	}
	if hasDecimal {
		b.WriteString(" Charges are Decimals, so they survive the Avro round trip exactly.")
	}
	if n := len(s.Versions); n > 1 {
		lv := s.Versions[n-1]
		fmt.Fprintf(&b, " The fields that only the %s schema has are set only by Parse%s%s and encoded only by AppendAvro%s.", lv.Version, s.FuncName, lv.Suffix, lv.Suffix)
	}
	if s.Aggregate {
		b.WriteString(" It is an aggregate: it has no id, and Key is the JSON array of its grouping properties, which DayKey prefixes with the UTC day the row covers to make the record key of an upsert stream.")
	} else {
		fmt.Fprintf(&b, " Rows are deduplicated by %s; Key returns the record key.", src.IDProperty)
	}
	fmt.Fprintf(&b, " Encode and decode rows only with the AppendAvro methods and the Decode%s functions: hamba/avro v2.31 cannot map a plain map or slice onto a nullable union, so avro.Marshal fails on this type.", s.FuncName)
	return b.String()
}

// versionList spells versions for a doc comment: "v1.0 and beta", "beta
// only".
func versionList(versions []string) string {
	if len(versions) == 1 {
		return versions[0] + " only"
	}
	return strings.Join(versions[:len(versions)-1], ", ") + " and " + versions[len(versions)-1]
}

// camel turns a source name into a Go name: pstn-blocked-users →
// PstnBlockedUsers.
func camel(name string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(name, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// compactStrings returns names without repeats, in order.
func compactStrings(names ...string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// avscFiles returns the .avsc files in dir, by base name.
func avscFiles(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.avsc"))
	if err != nil {
		return nil, err
	}
	for i, p := range paths {
		paths[i] = filepath.Base(p)
	}
	return paths, nil
}
