package schemas

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestForRejectsUnknown(t *testing.T) {
	for _, tc := range []struct{ source, version, want string }{
		{"mms", VersionV1, `unknown source "mms"`},
		{SourceSms, VersionV1, `source "sms" has no schema for Graph API version "v1.0"`},
		{"", VersionV1, `unknown source ""`},
		{SourcePstn, "v2.0", `unknown Graph API version "v2.0"`},
		{SourcePstn, "V1.0", `unknown Graph API version "V1.0"`},
	} {
		if c, err := For(tc.source, tc.version); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("For(%q, %q) = %v, %v; want an error mentioning %s", tc.source, tc.version, c, err, tc.want)
		}
	}
}

func TestCodecs(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		source, version string
		name, text      string
		raw             []byte
		id, key         string
		check           func(t *testing.T, row any)
	}{
		{SourceDirectRouting, VersionV1, DirectRoutingSchemaName, DirectRoutingSchemaText(), read("seed_row_beta.json"),
			"9e8bba57-dc14-533a-a7dd-f0da6575eed1", "c98e1515-a937-4b81-b8a8-3992afde64e0",
			func(t *testing.T, row any) {
				r := row.(*DirectRoutingLogRow)
				if r.UserCountryCode != nil || r.AdditionalProperties["userCountryCode"] != `"US"` {
					t.Errorf("v1.0 codec: userCountryCode %v, props %v", r.UserCountryCode, r.AdditionalProperties)
				}
			}},
		{SourceDirectRouting, VersionBeta, DirectRoutingSchemaName, DirectRoutingBetaSchemaText(), read("seed_row_beta.json"),
			"9e8bba57-dc14-533a-a7dd-f0da6575eed1", "c98e1515-a937-4b81-b8a8-3992afde64e0",
			func(t *testing.T, row any) {
				want := truncatedToMillis(seedRowBeta())
				for _, d := range diffRows(row.(*DirectRoutingLogRow), &want) {
					t.Error(d)
				}
			}},
		{SourcePstn, VersionV1, PstnSchemaName, PstnSchemaText(), read("pstn_seed_row.json"),
			"9c4984c7-6c3c-427d-a30c-bd0b2eacee90", "1835317186_112562680@61.221.3.176",
			func(t *testing.T, row any) {
				want := truncatedPstnToMillis(pstnSeedRow(t))
				for _, d := range diffRows(row.(*PstnCallLogRow), &want) {
					t.Error(d)
				}
			}},
		{SourcePstn, VersionBeta, PstnSchemaName, PstnBetaSchemaText(), read("pstn_seed_row_beta.json"),
			"9c4984c7-6c3c-427d-a30c-bd0b2eacee90", "1835317186_112562680@61.221.3.176",
			func(t *testing.T, row any) {
				r := row.(*PstnCallLogRow)
				if *r.ClientPublicIPv6Address != "2001:db8:85a3::8a2e:370:7334" || len(r.AdministrativeUnitInfos) != 2 || r.Charge.String() != "0.076" {
					t.Errorf("beta PSTN row: %+v", r)
				}
			}},
		{SourcePstn, VersionV1, PstnSchemaName, PstnSchemaText(), []byte(`{"id": "only-id", "callId": ""}`),
			"only-id", "only-id", func(*testing.T, any) {}},
	} {
		t.Run(tc.source+"/"+tc.version, func(t *testing.T) {
			c, err := For(tc.source, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if c.Source() != tc.source || c.Version() != tc.version || c.Name() != tc.name || c.Text() != tc.text {
				t.Errorf("codec %s/%s/%s", c.Source(), c.Version(), c.Name())
			}
			if got := c.Schema().(interface{ FullName() string }).FullName(); got != tc.name {
				t.Errorf("Schema() full name %q", got)
			}
			id, key, out, err := c.Encode(tc.raw, []byte("hdr"))
			if err != nil {
				t.Fatal(err)
			}
			if id != tc.id || key != tc.key || !bytes.HasPrefix(out, []byte("hdr")) {
				t.Errorf("Encode: id %q key %q prefix %q", id, key, out[:3])
			}
			row, err := c.Decode(out[3:])
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, row)
		})
	}
}

func TestCodecEncodeErrors(t *testing.T) {
	for _, tc := range []struct {
		source, raw, field string
	}{
		{SourceDirectRouting, `{"id": "i"}`, "correlationId"},
		{SourceDirectRouting, `{"correlationId": "c"}`, "id"},
		{SourceDirectRouting, `{"id": "i", "correlationId": "c", "duration": "5"}`, "duration"},
		{SourcePstn, `{"callId": "c"}`, "id"},
		{SourcePstn, `{"id": "i", "charge": "0.10"}`, "charge"},
		{SourcePstn, `{"id": "i", "charge": 0.0000001}`, "charge"},
		{SourcePstn, `<html>proxy error</html>`, ""},
	} {
		for _, version := range []string{VersionV1, VersionBeta} {
			c, err := For(tc.source, version)
			if err != nil {
				t.Fatal(err)
			}
			dst := []byte("keep")
			id, key, out, err := c.Encode([]byte(tc.raw), dst)
			var rerr *RowError
			if !errors.As(err, &rerr) || rerr.Field != tc.field {
				t.Errorf("%s %s %s: err = %v, want a RowError on %q", tc.source, version, tc.raw, err, tc.field)
			}
			if id != "" || key != "" || string(out) != "keep" {
				t.Errorf("%s %s: after an error id %q key %q out %q", tc.source, version, id, key, out)
			}
		}
	}
	c, _ := For(SourcePstn, VersionV1)
	if _, err := c.Decode([]byte{0x02}); err == nil {
		t.Error("Decode accepted a truncated record")
	}
}

// TestCodecConcurrent shares one codec between goroutines, as a parallel
// backfill would.
func TestCodecConcurrent(t *testing.T) {
	raws := map[string][]byte{}
	for _, f := range []string{"pstn_seed_row.json", "pstn_seed_row_beta.json"} {
		b, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		raws[f] = b
	}
	c, err := For(SourcePstn, VersionBeta)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			var buf []byte
			for range 100 {
				for _, raw := range raws {
					var err error
					var id string
					id, _, buf, err = c.Encode(raw, buf[:0])
					if err == nil && id != "9c4984c7-6c3c-427d-a30c-bd0b2eacee90" {
						err = errors.New("wrong id " + id)
					}
					var row any
					if err == nil {
						row, err = c.Decode(buf)
					}
					if err == nil && row.(*PstnCallLogRow).Charge.String() != "0.076" {
						err = errors.New("wrong charge")
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
