package schemas

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

// schemaFieldNames is the Graph v1.0 property order the schema must keep,
// followed by additionalProperties.
var schemaFieldNames = []string{
	"id", "correlationId", "userId", "userPrincipalName", "userDisplayName",
	"startDateTime", "inviteDateTime", "failureDateTime", "endDateTime",
	"duration", "callType", "successfulCall", "callerNumber", "calleeNumber",
	"mediaPathLocation", "signalingLocation", "finalSipCode", "callEndSubReason",
	"finalSipCodePhrase", "trunkFullyQualifiedDomainName", "mediaBypassEnabled",
	"additionalProperties",
}

var timestampFields = map[string]bool{
	"startDateTime": true, "inviteDateTime": true, "failureDateTime": true, "endDateTime": true,
}

// wantValueType is the non-null branch each optional field must have.
var wantValueType = map[string]avro.Type{
	"userId": avro.String, "userPrincipalName": avro.String, "userDisplayName": avro.String,
	"startDateTime": avro.Long, "inviteDateTime": avro.Long, "failureDateTime": avro.Long, "endDateTime": avro.Long,
	"duration": avro.Int, "callType": avro.String, "successfulCall": avro.Boolean,
	"callerNumber": avro.String, "calleeNumber": avro.String, "mediaPathLocation": avro.String,
	"signalingLocation": avro.String, "finalSipCode": avro.Int, "callEndSubReason": avro.Int,
	"finalSipCodePhrase": avro.String, "trunkFullyQualifiedDomainName": avro.String,
	"mediaBypassEnabled": avro.Boolean, "additionalProperties": avro.Map,
}

func TestSchemaParses(t *testing.T) {
	if _, err := avro.ParseWithCache(DirectRoutingSchemaText(), "", &avro.SchemaCache{}); err != nil {
		t.Fatalf("embedded schema does not parse: %v", err)
	}
	rec, ok := DirectRoutingSchema().(*avro.RecordSchema)
	if !ok {
		t.Fatalf("schema is %T, want *avro.RecordSchema", DirectRoutingSchema())
	}
	if got := rec.Namespace(); got != "microsoft.graph.callRecords" {
		t.Errorf("namespace = %q", got)
	}
	if got := rec.FullName(); got != DirectRoutingSchemaName {
		t.Errorf("full name = %q, want %q", got, DirectRoutingSchemaName)
	}
	if rec.Doc() == "" {
		t.Error("record has no doc")
	}
}

func TestMustParseSchemaPanicsOnBadText(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("mustParseSchema accepted a broken schema")
		}
	}()
	mustParseSchema(`{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nosuchtype"}]}`)
}

func TestSchemaFields(t *testing.T) {
	rec := DirectRoutingSchema().(*avro.RecordSchema)
	var names []string
	for _, f := range rec.Fields() {
		names = append(names, f.Name())
	}
	if !reflect.DeepEqual(names, schemaFieldNames) {
		t.Fatalf("fields =\n%q\nwant\n%q", names, schemaFieldNames)
	}

	for _, f := range rec.Fields() {
		if f.Doc() == "" {
			t.Errorf("%s: no doc", f.Name())
		}
		if f.Name() == "id" || f.Name() == "correlationId" {
			if f.Type().Type() != avro.String {
				t.Errorf("%s: type %s, want non-null string", f.Name(), f.Type())
			}
			if f.HasDefault() {
				t.Errorf("%s: required field has a default", f.Name())
			}
			continue
		}

		u, ok := f.Type().(*avro.UnionSchema)
		if !ok || len(u.Types()) != 2 || u.Types()[0].Type() != avro.Null {
			t.Errorf("%s: type %s, want [\"null\", T]", f.Name(), f.Type())
			continue
		}
		if !f.HasDefault() || f.Default() != nil {
			t.Errorf("%s: default = %v (has %v), want null", f.Name(), f.Default(), f.HasDefault())
		}
		val := u.Types()[1]
		if val.Type() != wantValueType[f.Name()] {
			t.Errorf("%s: value type %s, want %s", f.Name(), val.Type(), wantValueType[f.Name()])
		}
		var logical avro.LogicalType
		if ls, ok := val.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
			logical = ls.Logical().Type()
		}
		switch {
		case timestampFields[f.Name()] && logical != avro.TimestampMillis:
			t.Errorf("%s: logical type %q, want timestamp-millis", f.Name(), logical)
		case !timestampFields[f.Name()] && logical != "":
			t.Errorf("%s: unexpected logical type %q", f.Name(), logical)
		}
		if f.Name() == "additionalProperties" {
			if m, ok := val.(*avro.MapSchema); !ok || m.Values().Type() != avro.String {
				t.Errorf("additionalProperties: value type %s, want map of string", val)
			}
		}
	}
}

// TestSchemaTextDefaults reads the .avsc without hamba, so the file itself,
// not just hamba's reading of it, says "default": null.
func TestSchemaTextDefaults(t *testing.T) {
	var doc struct {
		Fields []map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal([]byte(DirectRoutingSchemaText()), &doc); err != nil {
		t.Fatal(err)
	}
	for _, f := range doc.Fields {
		var name string
		if err := json.Unmarshal(f["name"], &name); err != nil {
			t.Fatal(err)
		}
		def, has := f["default"]
		required := name == "id" || name == "correlationId"
		switch {
		case required && has:
			t.Errorf("%s: has a default", name)
		case !required && (!has || string(def) != "null"):
			t.Errorf("%s: default = %s, want null", name, def)
		}
	}
}

// TestRowTypesMatchSchema keeps the Go types in step with the schema: same
// avro tags, in schema order, on the public row and on the encoding mirror.
func TestRowTypesMatchSchema(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[DirectRoutingLogRow](), reflect.TypeFor[avroRow]()} {
		var tags []string
		for f := range typ.Fields() {
			tags = append(tags, f.Tag.Get("avro"))
		}
		if !reflect.DeepEqual(tags, schemaFieldNames) {
			t.Errorf("%s tags =\n%q\nwant\n%q", typ, tags, schemaFieldNames)
		}
	}

	// The mirror differs only in AdditionalProperties; a field added to one
	// and not the other would silently not be encoded.
	pub, mir := reflect.TypeFor[DirectRoutingLogRow](), reflect.TypeFor[avroRow]()
	for i := range pub.NumField() {
		p, m := pub.Field(i), mir.Field(i)
		if p.Name == "AdditionalProperties" {
			continue
		}
		if p.Name != m.Name || p.Type != m.Type {
			t.Errorf("field %d: %s %s vs mirror %s %s", i, p.Name, p.Type, m.Name, m.Type)
		}
	}
	for f := range pub.Fields() {
		k := f.Type.Kind()
		if f.Type == reflect.TypeFor[*time.Time]() != timestampFields[f.Tag.Get("avro")] {
			t.Errorf("%s: type %s does not match the schema's timestamp fields", f.Name, f.Type)
		}
		if f.Name != "ID" && f.Name != "CorrelationID" && f.Name != "AdditionalProperties" && k != reflect.Pointer {
			t.Errorf("%s: nullable field has non-pointer type %s", f.Name, f.Type)
		}
	}
}

// TestHambaPlainMapUnion pins the hamba limitation that avroRow works
// around. If it starts passing through, the mirror can go.
func TestHambaPlainMapUnion(t *testing.T) {
	row := DirectRoutingLogRow{ID: "a", CorrelationID: "b"}
	if _, err := avroAPI.Marshal(DirectRoutingSchema(), row); err == nil ||
		!strings.Contains(err.Error(), "map[string]string") {
		t.Errorf("hamba Marshal of a plain map union: err = %v, want an unresolvable-type error", err)
	}
}
