package graphsim_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
)

// TestRowsMatchSchemas runs every simulated row, both functions, v1.0 and
// beta, through the schemas package the walker uses: good rows encode with
// the id and key the ground truth says and survive Avro (charges exactly,
// beta fields only under beta), and each malformed row fails with a
// RowError naming the property the simulator broke. It keeps the simulator
// and the schemas honest with each other.
func TestRowsMatchSchemas(t *testing.T) {
	cfg := malformedConfig()
	cfg.Token = token
	cfg.Start = day0
	cfg.ExtraProperty = true
	sim, err := graphsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	from, to := day0, day0.Add(4*time.Hour)
	counts := map[string]int{}
	for _, source := range []string{"direct-routing", "pstn"} {
		rows := sim.Rows(from, to)
		if source == "pstn" {
			rows = sim.PstnRows(from, to)
		}
		for _, version := range []string{schemas.VersionV1, schemas.VersionBeta} {
			codec, err := schemas.For(source, version)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				raw := r.JSON
				if version == schemas.VersionBeta {
					raw = r.BetaJSON
				}
				id, key, out, err := codec.Encode(raw, nil)
				if r.Malformed != graphsim.MalformNone {
					var rerr *schemas.RowError
					if !errors.As(err, &rerr) || rerr.Field != r.MalformedField {
						t.Fatalf("%s %s row %d (%v on %s): err = %v", source, version, r.Index, r.Malformed, r.MalformedField, err)
					}
					counts["dead letter"]++
					continue
				}
				if err != nil {
					t.Fatalf("%s %s row %d: %v\n%s", source, version, r.Index, err, raw)
				}
				wantKey := r.CorrelationID
				if source == "pstn" {
					wantKey = r.CallID
				}
				if id != r.ID || key != wantKey {
					t.Fatalf("%s row %d: id %q key %q, want %q %q", source, r.Index, id, key, r.ID, wantKey)
				}
				back, err := codec.Decode(out)
				if err != nil {
					t.Fatal(err)
				}
				if source == "pstn" {
					checkCharges(t, r, raw, back.(*schemas.PstnCallLogRow), version, counts)
				} else if dr := back.(*schemas.DirectRoutingLogRow); (dr.UserCountryCode != nil) != (version == schemas.VersionBeta) {
					t.Fatalf("row %d: userCountryCode %v under %s", r.Index, dr.UserCountryCode, version)
				}
				counts["published"]++
			}
		}
	}
	if counts["dead letter"] == 0 || counts["published"] == 0 || counts["charge"] == 0 {
		t.Fatalf("counts %v", counts)
	}
	t.Logf("%v", counts)
}

// checkCharges compares the decoded charges with the JSON number text, as
// exact rationals.
func checkCharges(t *testing.T, r graphsim.Row, raw []byte, back *schemas.PstnCallLogRow, version string, counts map[string]int) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*schemas.Decimal{"charge": back.Charge, "connectionCharge": back.ConnectionCharge} {
		text := string(m[name])
		if text == "null" {
			if got != nil {
				t.Fatalf("row %d: %s null came back as %s", r.Index, name, got)
			}
			continue
		}
		want, ok := new(big.Rat).SetString(text)
		if !ok || got == nil || got.Rat().Cmp(want) != 0 {
			t.Fatalf("row %d: %s %s came back as %v", r.Index, name, text, got)
		}
		counts[name]++
	}
	if (back.ClientPublicIPv4Address != nil || back.AdministrativeUnitInfos != nil) && version != schemas.VersionBeta {
		t.Fatalf("row %d: beta fields under v1.0", r.Index)
	}
}
