//go:build !race

// The race detector changes allocation (sync.Pool drops items at random
// under it), so allocation budgets are checked without it: make test-alloc.

package schemas

import "testing"

// TestEncodeSharedAllocations holds the hot path to its allocation budget:
// a row without escapes or unknown properties costs none.
func TestEncodeSharedAllocations(t *testing.T) {
	for _, tc := range []struct {
		source, raw string
		version     string
		allocs      float64
	}{
		{SourceDirectRouting, `{"id": "6c1b5f7e-0d1e-4d5a-9f0e-1a2b3c4d5e6f", "correlationId": "c98e1515-a937-4b81-b8a8-3992afde64e0",
			"userId": "db03c14b-06eb-4189-939b-7cbf3a20ba27", "startDateTime": "2019-11-01T00:00:25.105Z", "endDateTime": "2019-11-01T00:00:30.1052347Z",
			"duration": 5, "callType": "ByotIn", "successfulCall": true, "finalSipCode": 0, "mediaBypassEnabled": false}`, VersionV1, 0},
		{SourcePstn, `{"id": "9c4984c7-6c3c-427d-a30c-bd0b2eacee90", "callId": "1835317186_112562680@61.221.3.176",
			"startDateTime": "2019-11-01T00:00:25.105Z", "charge": 0.076, "duration": 5, "currency": "USD"}`, VersionV1, 0},
		{SourceSms, `{"id": "1e7c3a52-8f0d-4b6e-9a21-5c4d3b2a1f00", "userId": "19b900af-fe99-48d6-a9a4-b79c995afc33",
			"sentDateTime": "2022-10-06T11:15:48.6113555Z", "callCharge": 0.075, "smsUnits": 1, "administrativeUnitInfos": []}`, VersionBeta, 0},
		{SourcePstnBlockedUsers, `{"remediationId": "c98e1515-a937-4b81-b8a8-3992afde64e0", "userId": "76efb13c-64ba-4305-9149-4e8f854004a9",
			"blockDateTime": "2022-11-23T13:51:09.796Z", "userBlockMode": "blocked"}`, VersionBeta, 0},
		// An aggregate's key is built from several properties: its string
		// is the one allocation.
		{SourcePstnDialout, `{"userId": "03de33bb-51df-40de-889a-61949faae24f", "usageLocation": "US", "destinationContext": "International",
			"currency": "USD", "totalCalls": 12, "totalCallCharge": 12.83, "totalCallSeconds": 723}`, VersionBeta, 1},
	} {
		c, err := For(tc.source, tc.version)
		if err != nil {
			t.Fatal(err)
		}
		raw, dst := []byte(tc.raw), make([]byte, 0, 1024)
		// Stamping the tenant costs nothing per row either.
		for _, c := range []*Codec{c, c.WithTenant("72f988bf-86f1-41af-91ab-2d7cd011db47")} {
			if _, _, _, err := c.EncodeShared(raw, dst); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(1000, func() {
				_, _, _, _ = c.EncodeShared(raw, dst[:0])
			}); n != tc.allocs {
				t.Errorf("%s (tenant %q): EncodeShared makes %.2f allocations per row, want %v", tc.source, c.TenantID(), n, tc.allocs)
			}
		}
	}
}
