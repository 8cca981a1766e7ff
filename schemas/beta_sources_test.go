package schemas

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// betaSourceGoldens pins the Avro bytes of each beta-only source's seed
// row (testdata/<seed>.avro, rewritten by go test -update) and the id and
// key Encode returns for it.
var betaSourceGoldens = []struct {
	source, seed, id, key string
}{
	{SourceSms, "sms_seed_row_beta", "1e7c3a52-8f0d-4b6e-9a21-5c4d3b2a1f00", "19b900af-fe99-48d6-a9a4-b79c995afc33"},
	{SourcePstnBlockedUsers, "pstn_blocked_users_seed_row_beta", "c98e1515-a937-4b81-b8a8-3992afde64e0", "76efb13c-64ba-4305-9149-4e8f854004a9"},
	{SourcePstnDialout, "pstn_dialout_seed_row_beta", "", `["03de33bb-51df-40de-889a-61949faae24f","US","International","USD"]`},
}

// TestBetaSourcesGolden encodes each beta-only source's seed row and wants
// the committed golden bytes, the documented id and key, and a decode that
// gives the parsed row back.
func TestBetaSourcesGolden(t *testing.T) {
	for _, g := range betaSourceGoldens {
		c, err := For(g.source, VersionBeta)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile("testdata/" + g.seed + ".json")
		if err != nil {
			t.Fatal(err)
		}
		id, key, data, err := c.Encode(raw, nil)
		if err != nil {
			t.Fatalf("%s: %v", g.source, err)
		}
		if id != g.id || key != g.key {
			t.Errorf("%s: id %q key %q, want %q %q", g.source, id, key, g.id, g.key)
		}
		if c.Aggregate() != (g.id == "") {
			t.Errorf("%s: Aggregate() = %v", g.source, c.Aggregate())
		}
		golden := "testdata/" + g.seed + ".avro"
		if *update {
			if err := os.WriteFile(golden, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(data, want) {
			t.Errorf("%s: Avro bytes differ from %s:\ngot  %x\nwant %x", g.source, golden, data, want)
		}
		if _, err := c.Decode(want); err != nil {
			t.Errorf("%s: decode golden: %v", g.source, err)
		}
		// These functions exist only on beta (Graph's v1.0 callRecords
		// schema has just the two call logs): no v1.0 codec.
		if _, err := For(g.source, VersionV1); err == nil || !strings.Contains(err.Error(), "no schema") {
			t.Errorf("%s v1.0: %v, want no schema", g.source, err)
		}
	}
}

// TestBetaSourcesParse checks the values that matter per source: exact
// charges, timestamps, the integer figures, and unknown properties kept.
func TestBetaSourcesParse(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var sms SmsLogRow
	if err := ParseSmsRowBeta(read("sms_seed_row_beta.json"), &sms); err != nil {
		t.Fatal(err)
	}
	if sms.CallCharge.String() != "0.075" || *sms.SmsUnits != 2 || !sms.SentDateTime.Equal(time.Date(2022, 10, 6, 11, 15, 48, 611355500, time.UTC)) ||
		len(sms.AdministrativeUnitInfos) != 1 || sms.AdditionalProperties["@odata.type"] == "" {
		t.Errorf("sms row: %+v", sms)
	}
	var blk PstnBlockedUsersLogRow
	if err := ParsePstnBlockedUsersRowBeta(read("pstn_blocked_users_seed_row_beta.json"), &blk); err != nil {
		t.Fatal(err)
	}
	if *blk.UserBlockMode != "Blocked" || !blk.BlockDateTime.Equal(time.Date(2022, 11, 23, 13, 51, 9, 796e6, time.UTC)) {
		t.Errorf("blocked-users row: %+v", blk)
	}
	var d PstnOnlineMeetingDialoutReport
	if err := ParsePstnDialoutRowBeta(read("pstn_dialout_seed_row_beta.json"), &d); err != nil {
		t.Fatal(err)
	}
	if d.TotalCallCharge.String() != "12.83" || *d.TotalCalls != 12 || *d.TotalCallSeconds != 723 {
		t.Errorf("dialout row: %+v", d)
	}
}

// TestBetaSourcesKeys covers the null-safe keys: a log row without a
// userId is keyed by its id, and an aggregate's key spells null parts and
// escapes what JSON must, so distinct groups never share a key.
func TestBetaSourcesKeys(t *testing.T) {
	for _, tc := range []struct{ source, raw, key string }{
		{SourceSms, `{"id": "s1", "userId": null}`, "s1"},
		{SourceSms, `{"id": "s1", "userId": ""}`, "s1"},
		{SourceSms, `{"id": "s1"}`, "s1"},
		{SourcePstnBlockedUsers, `{"remediationId": "r1", "userId": null}`, "r1"},
		{SourcePstnDialout, `{}`, `[null,null,null,null]`},
		{SourcePstnDialout, `{"userId": "a\"b\\c\u0001", "currency": "EUR"}`, `["a\"b\\c\u0001",null,null,"EUR"]`},
		{SourcePstnDialout, `{"userId": "", "usageLocation": "SE"}`, `["","SE",null,null]`},
	} {
		c, err := For(tc.source, VersionBeta)
		if err != nil {
			t.Fatal(err)
		}
		_, key, _, err := c.Encode([]byte(tc.raw), nil)
		if err != nil || key != tc.key {
			t.Errorf("%s %s: key %q (%v), want %q", tc.source, tc.raw, key, err, tc.key)
		}
	}
	for _, raw := range []string{`{"userId": "x"}`, `{"remediationId": ""}`} {
		c, _ := For(SourcePstnBlockedUsers, VersionBeta)
		if _, _, _, err := c.Encode([]byte(raw), nil); err == nil {
			t.Errorf("blocked users %s: accepted without a remediationId", raw)
		}
	}
	c, _ := For(SourcePstnDialout, VersionBeta)
	if _, _, _, err := c.Encode([]byte("{\"userId\": \"\xff\"}"), nil); err == nil {
		t.Error("dialout: invalid UTF-8 in a grouping property was repaired, not refused")
	}
}

func TestDayKey(t *testing.T) {
	day := time.Date(2026, 12, 1, 23, 0, 0, 0, time.FixedZone("x", -3600)) // 2026-12-02 UTC
	if got := DayKey(day, `["u",null]`); got != `["2026-12-02","u",null]` {
		t.Errorf("DayKey = %s", got)
	}
	if got := DayKey(day, ``); got != `["2026-12-02"]` {
		t.Errorf("DayKey of no parts = %s", got)
	}
}
