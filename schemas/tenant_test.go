package schemas

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/srcompat"
)

const testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// tenantOf returns row's TenantID field (every production row has one).
func tenantOf(t *testing.T, row any) *string {
	t.Helper()
	f := reflect.ValueOf(row).Elem().FieldByName("TenantID")
	if !f.IsValid() {
		t.Fatalf("%T has no TenantID field", row)
	}
	return f.Interface().(*string)
}

// TestCodecStampsTenant checks, for every source and version, that a codec
// WithTenant writes the tenant it was given into the record's tenantId,
// "" as null: hamba (the oracle) and our reader both read it back, and
// the record ends with TenantSuffix, which callers hashing a record's
// content rely on.
func TestCodecStampsTenant(t *testing.T) {
	for _, sc := range rowSourceCodecs() {
		for ver, v := range sc.versions {
			raw := seedRaw(t, sc, ver)
			base, err := For(sc.source, v.version)
			if err != nil {
				t.Fatal(err)
			}
			if base.TenantID() != "" {
				t.Errorf("%s %s: For's codec names tenant %q", sc.source, v.version, base.TenantID())
			}
			for _, tenant := range []string{testTenant, ""} {
				c := base.WithTenant(tenant)
				if c.TenantID() != tenant {
					t.Errorf("%s %s: TenantID() = %q, want %q", sc.source, v.version, c.TenantID(), tenant)
				}
				_, _, data, err := c.Encode(raw, nil)
				if err != nil {
					t.Fatalf("%s %s: %v", sc.source, v.version, err)
				}
				if !bytes.HasSuffix(data, TenantSuffix(tenant)) {
					t.Errorf("%s %s tenant %q: record %x does not end with TenantSuffix %x", sc.source, v.version, tenant, data, TenantSuffix(tenant))
				}
				oracle, err := sc.hambaDecode(data, ver)
				if err != nil {
					t.Fatalf("%s %s: hamba: %v", sc.source, v.version, err)
				}
				ours, err := c.Decode(data)
				if err != nil {
					t.Fatalf("%s %s: decode: %v", sc.source, v.version, err)
				}
				for name, row := range map[string]any{"hamba": oracle, "ours": ours} {
					got := tenantOf(t, row)
					switch {
					case tenant == "" && got != nil:
						t.Errorf("%s %s (%s): tenantId = %q, want null", sc.source, v.version, name, *got)
					case tenant != "" && (got == nil || *got != tenant):
						t.Errorf("%s %s (%s): tenantId = %v, want %q", sc.source, v.version, name, got, tenant)
					}
				}
				for _, d := range diffRowValues(ours, oracle) {
					t.Errorf("%s %s: ours vs hamba: %s", sc.source, v.version, d)
				}
				// Stamping changes nothing else: the record is the
				// unstamped one with the tenant's bytes in place of null.
				_, _, plain, err := base.Encode(raw, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data[:len(data)-len(TenantSuffix(tenant))], plain[:len(plain)-1]) {
					t.Errorf("%s %s: stamping changed more than the tenant", sc.source, v.version)
				}
			}
		}
	}
	// The original codec is untouched by WithTenant.
	c, _ := For(SourceDirectRouting, VersionV1)
	_ = c.WithTenant(testTenant)
	if c.TenantID() != "" {
		t.Error("WithTenant changed its receiver")
	}
}

// TestGraphTenantIDPropertyIsUnknown pins the decision that a Graph row
// property named tenantId (Graph sends none today) is not callstream's
// field: it is kept in additionalProperties like any property the schema
// does not define, and never fills or overrides the stamped tenant.
func TestGraphTenantIDPropertyIsUnknown(t *testing.T) {
	raw := []byte(`{"id": "i", "correlationId": "c", "tenantId": "from-graph"}`)
	var row DirectRoutingLogRow
	if err := ParseDirectRoutingRow(raw, &row); err != nil {
		t.Fatal(err)
	}
	if row.TenantID != nil {
		t.Errorf("Parse set TenantID from the row: %q", *row.TenantID)
	}
	if got := row.AdditionalProperties["tenantId"]; got != `"from-graph"` {
		t.Errorf("additionalProperties[tenantId] = %q, want the raw JSON %q", got, `"from-graph"`)
	}
	for _, tenant := range []string{testTenant, ""} {
		c, err := For(SourceDirectRouting, VersionV1)
		if err != nil {
			t.Fatal(err)
		}
		for name, encode := range map[string]func(raw, dst []byte) (string, string, []byte, error){
			"Encode": c.WithTenant(tenant).Encode, "EncodeShared": c.WithTenant(tenant).EncodeShared,
		} {
			_, _, data, err := encode(raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			var back DirectRoutingLogRow
			if err := DecodeDirectRoutingRow(data, &back); err != nil {
				t.Fatal(err)
			}
			if tenant == "" && back.TenantID != nil || tenant != "" && (back.TenantID == nil || *back.TenantID != tenant) {
				t.Errorf("%s tenant %q: record's tenantId = %v", name, tenant, back.TenantID)
			}
			if back.AdditionalProperties["tenantId"] != `"from-graph"` {
				t.Errorf("%s: additionalProperties = %v, want the row's tenantId kept there", name, back.AdditionalProperties)
			}
		}
	}
}

// TestAppendAvroWritesTenantID checks the row API: AppendAvro writes the
// row's TenantID as set and Decode reads it back.
func TestAppendAvroWritesTenantID(t *testing.T) {
	row := PstnCallLogRow{ID: "a", TenantID: ptr(testTenant)}
	data, err := row.AppendAvro(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, TenantSuffix(testTenant)) {
		t.Errorf("record %x does not end with the tenant", data)
	}
	var back PstnCallLogRow
	if err := DecodePstnCallRow(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.TenantID == nil || *back.TenantID != testTenant {
		t.Errorf("decoded TenantID = %v", back.TenantID)
	}
}

// TestTenantSuffix pins the field's Avro encoding: the union's null branch
// (0), or branch 1 (zig-zag 2) then the string.
func TestTenantSuffix(t *testing.T) {
	if got := TenantSuffix(""); !bytes.Equal(got, []byte{0}) {
		t.Errorf(`TenantSuffix("") = %x, want 00`, got)
	}
	if got, want := TenantSuffix("ab"), []byte{2, 4, 'a', 'b'}; !bytes.Equal(got, want) {
		t.Errorf(`TenantSuffix("ab") = %x, want %x`, got, want)
	}
	long := strings.Repeat("x", 100) // a length past one varint byte
	if got := TenantSuffix(long); !bytes.Equal(got[:3], []byte{2, 0xc8, 0x01}) || len(got) != 103 {
		t.Errorf("TenantSuffix(100 bytes) = %x", got)
	}
}

// TestTenantFieldIsCompatibleEvolution checks, with the registry's own
// check (srcompat, hamba's resolver), that adding tenantId to every
// schema is accepted by a registry at BACKWARD (the new schema reads data
// written before) and FORWARD (a consumer still on the old schema reads the
// new data), so FULL: testdata/history keeps each schema as it was
// registered before the field (<Record>[.beta].0.avsc).
func TestTenantFieldIsCompatibleEvolution(t *testing.T) {
	texts := map[string]string{}
	for _, sc := range rowSourceCodecs() {
		for _, v := range sc.versions {
			c, err := For(sc.source, v.version)
			if err != nil {
				t.Fatal(err)
			}
			file := sc.name[strings.LastIndex(sc.name, ".")+1:]
			if v.suffix != "" {
				file += "." + strings.ToLower(v.suffix)
			}
			texts[file] = c.Text()
		}
	}
	old, err := filepath.Glob("testdata/history/*.0.avsc")
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != len(texts) {
		t.Fatalf("testdata/history has %d schemas, the codecs %d: keep every registered schema's previous version", len(old), len(texts))
	}
	for _, path := range old {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".0.avsc")
		cur, ok := texts[name]
		if !ok {
			t.Fatalf("%s: no codec has schema %s", path, name)
		}
		if p := srcompat.Check(cur, string(b)); p != "" {
			t.Errorf("%s: BACKWARD: %s", name, p)
		}
		if p := srcompat.Check(string(b), cur); p != "" {
			t.Errorf("%s: FORWARD: %s", name, p)
		}
		// The check can fail: without its default the field could not
		// read the old data.
		noDefault := strings.Replace(cur, `"name": "tenantId",
      "type": ["null", "string"],
      "default": null,`, `"name": "tenantId",
      "type": ["null", "string"],`, 1)
		if noDefault == cur {
			t.Fatalf("%s: tenantId field not found in the expected form", name)
		}
		if p := srcompat.Check(noDefault, string(b)); p == "" {
			t.Errorf("%s: tenantId without a default passed BACKWARD", name)
		}
	}
}
