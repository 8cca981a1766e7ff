package schemas

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

// schemaFieldNames is the Graph v1.0 property order the Direct Routing
// schema must keep, followed by additionalProperties and callstream's
// tenantId.
var schemaFieldNames = []string{
	"id", "correlationId", "userId", "userPrincipalName", "userDisplayName",
	"startDateTime", "inviteDateTime", "failureDateTime", "endDateTime",
	"duration", "callType", "successfulCall", "callerNumber", "calleeNumber",
	"mediaPathLocation", "signalingLocation", "finalSipCode", "callEndSubReason",
	"finalSipCodePhrase", "trunkFullyQualifiedDomainName", "mediaBypassEnabled",
	"additionalProperties", "tenantId",
}

// drBetaFieldNames are the beta-only Direct Routing properties, which the
// beta schema inserts before additionalProperties and tenantId.
var drBetaFieldNames = []string{"userCountryCode", "otherPartyCountryCode", "transferorCorrelationId", "administrativeUnitInfos"}

// pstnFieldNames is the Graph v1.0 property order of pstnCallLogRow (as in
// the getPstnCalls documentation example), then additionalProperties and
// tenantId.
var pstnFieldNames = []string{
	"id", "callId", "userId", "userPrincipalName", "userDisplayName",
	"startDateTime", "endDateTime", "duration", "charge", "callType", "currency",
	"calleeNumber", "usageCountryCode", "tenantCountryCode", "connectionCharge",
	"callerNumber", "destinationContext", "destinationName", "conferenceId",
	"licenseCapability", "inventoryType", "operator", "callDurationSource",
	"additionalProperties", "tenantId",
}

var pstnBetaFieldNames = []string{
	"otherPartyCountryCode", "clientLocalIpV4Address", "clientLocalIpV6Address",
	"clientPublicIpV4Address", "clientPublicIpV6Address", "administrativeUnitInfos",
}

// withBeta inserts beta before the final additionalProperties and tenantId
// of v1.
func withBeta(v1, beta []string) []string {
	out := slices.Clone(v1[:len(v1)-2])
	out = append(out, beta...)
	return append(out, v1[len(v1)-2:]...)
}

var timestampFields = map[string]bool{
	"startDateTime": true, "inviteDateTime": true, "failureDateTime": true, "endDateTime": true,
}

var decimalFields = map[string]bool{"charge": true, "connectionCharge": true}

// wantValueType is the non-null branch each optional field must have.
var wantValueType = map[string]avro.Type{
	"userId": avro.String, "userPrincipalName": avro.String, "userDisplayName": avro.String,
	"startDateTime": avro.Long, "inviteDateTime": avro.Long, "failureDateTime": avro.Long, "endDateTime": avro.Long,
	"duration": avro.Int, "callType": avro.String, "successfulCall": avro.Boolean,
	"callerNumber": avro.String, "calleeNumber": avro.String, "mediaPathLocation": avro.String,
	"signalingLocation": avro.String, "finalSipCode": avro.Int, "callEndSubReason": avro.Int,
	"finalSipCodePhrase": avro.String, "trunkFullyQualifiedDomainName": avro.String,
	"mediaBypassEnabled": avro.Boolean, "additionalProperties": avro.Map,

	"userCountryCode": avro.String, "otherPartyCountryCode": avro.String,
	"transferorCorrelationId": avro.String, "administrativeUnitInfos": avro.Array,

	"callId": avro.String, "charge": avro.Bytes, "currency": avro.String,
	"usageCountryCode": avro.String, "tenantCountryCode": avro.String,
	"connectionCharge": avro.Bytes, "destinationContext": avro.String,
	"destinationName": avro.String, "conferenceId": avro.String,
	"licenseCapability": avro.String, "inventoryType": avro.String,
	"operator": avro.String, "callDurationSource": avro.String,
	"clientLocalIpV4Address": avro.String, "clientLocalIpV6Address": avro.String,
	"clientPublicIpV4Address": avro.String, "clientPublicIpV6Address": avro.String,

	"tenantId": avro.String,
}

// schemaCase is one of the four embedded schemas with what it must hold.
type schemaCase struct {
	source, version string
	file            string
	name            string
	text            string
	schema          avro.Schema
	fields          []string
	required        map[string]bool
}

func schemaCases() []schemaCase {
	drReq := map[string]bool{"id": true, "correlationId": true}
	pstnReq := map[string]bool{"id": true}
	return []schemaCase{
		{SourceDirectRouting, VersionV1, "DirectRoutingLogRow.avsc", DirectRoutingSchemaName, DirectRoutingSchemaText(), DirectRoutingSchema(), schemaFieldNames, drReq},
		{SourceDirectRouting, VersionBeta, "DirectRoutingLogRow.beta.avsc", DirectRoutingSchemaName, DirectRoutingBetaSchemaText(), DirectRoutingBetaSchema(), withBeta(schemaFieldNames, drBetaFieldNames), drReq},
		{SourcePstn, VersionV1, "PstnCallLogRow.avsc", PstnSchemaName, PstnSchemaText(), PstnSchema(), pstnFieldNames, pstnReq},
		{SourcePstn, VersionBeta, "PstnCallLogRow.beta.avsc", PstnSchemaName, PstnBetaSchemaText(), PstnBetaSchema(), withBeta(pstnFieldNames, pstnBetaFieldNames), pstnReq},
	}
}

func TestSchemaParses(t *testing.T) {
	for _, sc := range schemaCases() {
		t.Run(sc.file, func(t *testing.T) {
			if _, err := avro.ParseWithCache(sc.text, "", &avro.SchemaCache{}); err != nil {
				t.Fatalf("embedded schema does not parse: %v", err)
			}
			rec, ok := sc.schema.(*avro.RecordSchema)
			if !ok {
				t.Fatalf("schema is %T, want *avro.RecordSchema", sc.schema)
			}
			if got := rec.Namespace(); got != "microsoft.graph.callRecords" {
				t.Errorf("namespace = %q", got)
			}
			if got := rec.FullName(); got != sc.name {
				t.Errorf("full name = %q, want %q", got, sc.name)
			}
			if rec.Doc() == "" {
				t.Error("record has no doc")
			}
		})
	}
}

func TestMustParseSchemaPanicsOnBadText(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("mustParseSchema accepted a broken schema")
		}
	}()
	mustParseSchema("bad.avsc", `{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nosuchtype"}]}`)
}

func TestSchemaFields(t *testing.T) {
	for _, sc := range schemaCases() {
		t.Run(sc.file, func(t *testing.T) {
			rec := sc.schema.(*avro.RecordSchema)
			var names []string
			for _, f := range rec.Fields() {
				names = append(names, f.Name())
			}
			if !reflect.DeepEqual(names, sc.fields) {
				t.Fatalf("fields =\n%q\nwant\n%q", names, sc.fields)
			}
			for _, f := range rec.Fields() {
				checkField(t, f, sc.required[f.Name()])
			}
		})
	}
}

func checkField(t *testing.T, f *avro.Field, required bool) {
	t.Helper()
	if f.Doc() == "" {
		t.Errorf("%s: no doc", f.Name())
	}
	if required {
		if f.Type().Type() != avro.String {
			t.Errorf("%s: type %s, want non-null string", f.Name(), f.Type())
		}
		if f.HasDefault() {
			t.Errorf("%s: required field has a default", f.Name())
		}
		return
	}

	u, ok := f.Type().(*avro.UnionSchema)
	if !ok || len(u.Types()) != 2 || u.Types()[0].Type() != avro.Null {
		t.Errorf("%s: type %s, want [\"null\", T]", f.Name(), f.Type())
		return
	}
	if !f.HasDefault() || f.Default() != nil {
		t.Errorf("%s: default = %v (has %v), want null", f.Name(), f.Default(), f.HasDefault())
	}
	val := u.Types()[1]
	if want, ok := wantValueType[f.Name()]; !ok || val.Type() != want {
		t.Errorf("%s: value type %s, want %s", f.Name(), val.Type(), want)
	}
	var logical avro.LogicalType
	if ls, ok := val.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		logical = ls.Logical().Type()
	}
	switch {
	case timestampFields[f.Name()]:
		if logical != avro.TimestampMillis {
			t.Errorf("%s: logical type %q, want timestamp-millis", f.Name(), logical)
		}
	case decimalFields[f.Name()]:
		dec, ok := val.(avro.LogicalTypeSchema).Logical().(*avro.DecimalLogicalSchema)
		if !ok || dec.Precision() != DecimalPrecision || dec.Scale() != DecimalScale {
			t.Errorf("%s: %s, want bytes decimal(%d,%d)", f.Name(), val, DecimalPrecision, DecimalScale)
		}
	case logical != "":
		t.Errorf("%s: unexpected logical type %q", f.Name(), logical)
	}
	switch f.Name() {
	case "additionalProperties":
		if m, ok := val.(*avro.MapSchema); !ok || m.Values().Type() != avro.String {
			t.Errorf("additionalProperties: value type %s, want map of string", val)
		}
	case "administrativeUnitInfos":
		arr, ok := val.(*avro.ArraySchema)
		if !ok {
			t.Fatalf("administrativeUnitInfos: %s, want array", val)
		}
		item, ok := arr.Items().(*avro.RecordSchema)
		if !ok || item.FullName() != "microsoft.graph.callRecords.AdministrativeUnitInfo" || len(item.Fields()) != 1 {
			t.Fatalf("administrativeUnitInfos items: %s", arr.Items())
		}
		id := item.Fields()[0]
		u, ok := id.Type().(*avro.UnionSchema)
		if id.Name() != "id" || id.Doc() == "" || !ok || len(u.Types()) != 2 ||
			u.Types()[0].Type() != avro.Null || u.Types()[1].Type() != avro.String ||
			!id.HasDefault() || id.Default() != nil {
			t.Errorf("administrativeUnitInfos item field: %s %s, want documented id [\"null\", \"string\"] default null", id.Name(), id.Type())
		}
	}
}

// TestSchemaTextDefaults reads the .avsc without hamba, so the file itself,
// not just hamba's reading of it, says "default": null.
func TestSchemaTextDefaults(t *testing.T) {
	for _, sc := range schemaCases() {
		var doc struct {
			Fields []map[string]json.RawMessage `json:"fields"`
		}
		if err := json.Unmarshal([]byte(sc.text), &doc); err != nil {
			t.Fatal(err)
		}
		for _, f := range doc.Fields {
			var name string
			if err := json.Unmarshal(f["name"], &name); err != nil {
				t.Fatal(err)
			}
			def, has := f["default"]
			switch required := sc.required[name]; {
			case required && has:
				t.Errorf("%s %s: has a default", sc.file, name)
			case !required && (!has || string(def) != "null"):
				t.Errorf("%s %s: default = %s, want null", sc.file, name, def)
			}
		}
	}
}

// TestBetaSchemaExtendsV1 pins each beta schema to its v1.0 one: the same
// record name and every v1.0 field with an identical definition, so the
// beta form can only ever add fields.
func TestBetaSchemaExtendsV1(t *testing.T) {
	for _, pair := range [][2]string{
		{DirectRoutingSchemaText(), DirectRoutingBetaSchemaText()},
		{PstnSchemaText(), PstnBetaSchemaText()},
	} {
		v1, beta := fieldsByName(t, pair[0]), fieldsByName(t, pair[1])
		for name, def := range v1 {
			if beta[name] != def {
				t.Errorf("field %s differs in the beta schema:\n v1.0 %s\n beta %s", name, def, beta[name])
			}
		}
		if len(beta) <= len(v1) {
			t.Errorf("beta schema adds no fields")
		}
	}
}

// fieldsByName maps each field of an .avsc to its compacted JSON.
func fieldsByName(t *testing.T, text string) map[string]string {
	t.Helper()
	var doc struct {
		Name   string            `json:"name"`
		Fields []json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{"<record name>": doc.Name}
	for _, raw := range doc.Fields {
		var f struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = string(b)
	}
	return out
}

// TestSchemaCompatibility checks with hamba's resolver that the beta schema
// is a compatible evolution of the v1.0 one in both directions: a beta
// reader reads v1.0 data (BACKWARD) and a v1.0 reader reads beta data
// (FORWARD).
func TestSchemaCompatibility(t *testing.T) {
	compat := avro.NewSchemaCompatibility()
	for _, pair := range []struct {
		name     string
		v1, beta avro.Schema
	}{
		{"DirectRouting", DirectRoutingSchema(), DirectRoutingBetaSchema()},
		{"Pstn", PstnSchema(), PstnBetaSchema()},
	} {
		t.Run(pair.name, func(t *testing.T) {
			if err := compat.Compatible(pair.beta, pair.v1); err != nil {
				t.Errorf("beta reader, v1.0 writer: %v", err)
			}
			if err := compat.Compatible(pair.v1, pair.beta); err != nil {
				t.Errorf("v1.0 reader, beta writer: %v", err)
			}
		})
	}
	// The check must be able to fail: the two sources' records are not
	// compatible with each other.
	if err := compat.Compatible(PstnSchema(), DirectRoutingSchema()); err == nil {
		t.Error("PSTN reader accepted Direct Routing data")
	}
}

// TestRowTypesMatchSchema keeps the Go types in step with the schemas: the
// public row and its encoding mirror carry the beta schema's fields (a
// superset of v1.0's), with the same avro tags, in schema order.
func TestRowTypesMatchSchema(t *testing.T) {
	for _, tc := range []struct {
		pub, mir reflect.Type
		fields   []string
	}{
		{reflect.TypeFor[DirectRoutingLogRow](), mirrorType(reflect.TypeFor[DirectRoutingLogRow]()), withBeta(schemaFieldNames, drBetaFieldNames)},
		{reflect.TypeFor[PstnCallLogRow](), mirrorType(reflect.TypeFor[PstnCallLogRow]()), withBeta(pstnFieldNames, pstnBetaFieldNames)},
	} {
		for _, typ := range []reflect.Type{tc.pub, tc.mir} {
			var tags []string
			for f := range typ.Fields() {
				tags = append(tags, f.Tag.Get("avro"))
			}
			if !reflect.DeepEqual(tags, tc.fields) {
				t.Errorf("%s tags =\n%q\nwant\n%q", typ, tags, tc.fields)
			}
		}

		// The mirror differs only where hamba needs a pointer or raw bytes;
		// a field added to one and not the other would silently not be
		// encoded.
		for i := range tc.pub.NumField() {
			p, m := tc.pub.Field(i), tc.mir.Field(i)
			same := p.Type == m.Type ||
				(p.Type.Kind() != reflect.Pointer && m.Type == reflect.PointerTo(p.Type)) ||
				(p.Type == reflect.TypeFor[*Decimal]() && m.Type == reflect.TypeFor[[]byte]())
			if p.Name != m.Name || !same {
				t.Errorf("%s field %d: %s %s vs mirror %s %s", tc.pub, i, p.Name, p.Type, m.Name, m.Type)
			}
		}
		for f := range tc.pub.Fields() {
			k := f.Type.Kind()
			if f.Type == reflect.TypeFor[*time.Time]() != timestampFields[f.Tag.Get("avro")] {
				t.Errorf("%s: type %s does not match the schema's timestamp fields", f.Name, f.Type)
			}
			if f.Type == reflect.TypeFor[*Decimal]() != decimalFields[f.Tag.Get("avro")] {
				t.Errorf("%s: type %s does not match the schema's decimal fields", f.Name, f.Type)
			}
			switch f.Name {
			case "ID", "AdditionalProperties", "AdministrativeUnitInfos":
			case "CorrelationID":
				if tc.pub != reflect.TypeFor[DirectRoutingLogRow]() {
					t.Errorf("%s has a CorrelationID", tc.pub)
				}
			default:
				if k != reflect.Pointer {
					t.Errorf("%s: nullable field has non-pointer type %s", f.Name, f.Type)
				}
			}
		}
	}
}

// TestHambaPlainMapUnion pins the hamba limitation that drAvro works
// around. If it starts passing through, the mirror can go.
func TestHambaPlainMapUnion(t *testing.T) {
	row := DirectRoutingLogRow{ID: "a", CorrelationID: "b"}
	if _, err := avroAPI.Marshal(DirectRoutingSchema(), row); err == nil ||
		!strings.Contains(err.Error(), "map[string]string") {
		t.Errorf("hamba Marshal of a plain map union: err = %v, want an unresolvable-type error", err)
	}
}
