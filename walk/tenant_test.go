package walk

import (
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/schemas"
)

const testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// TestRecordsNameTheirTenant walks a few hours with Config.TenantID set:
// every record on the topic names that tenant in its tenantId field; a
// walk with none writes null. In both settle modes.
func TestRecordsNameTheirTenant(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		for _, tenant := range []string{testTenant, ""} {
			end := day0.Add(3 * time.Hour)
			r := newRig(t, m, graphsim.Config{Seed: 3, Start: day0, End: end, RowsPerHour: 200})
			w := r.walker(t, Config{Start: day0, End: end, TenantID: tenant})
			runOnce(t, w)
			recs := r.kafka.ReadAll(t, r.topic, true)
			if want := len(r.sim.Rows(day0, end)); len(recs) != want || want == 0 {
				t.Fatalf("tenant %q: %d records, want %d", tenant, len(recs), want)
			}
			for _, rec := range recs {
				var row schemas.DirectRoutingLogRow
				if err := schemas.DecodeDirectRoutingRow(rec.Value, &row); err != nil {
					t.Fatalf("decode offset %d: %v", rec.Offset, err)
				}
				if tenant == "" && row.TenantID != nil || tenant != "" && (row.TenantID == nil || *row.TenantID != tenant) {
					t.Fatalf("tenant %q: record %s names tenant %v", tenant, row.ID, row.TenantID)
				}
			}
		}
	})
}

// TestAggregateRecordsNameTheirTenant: the dial-out report's records name
// the tenant too, and the content hash that decides whether a row changed
// leaves the tenant out, so a walker that starts stamping the tenant on a
// checkpoint written before (an upgrade) publishes no unchanged row again.
func TestAggregateRecordsNameTheirTenant(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		r := newAggRig(t, m)
		d1 := day0.Add(24 * time.Hour)
		a := dialoutRow("u1", "US", "International", "USD", 2, 100, "1.5")
		b := dialoutRow("u2", "GR", "Domestic", "EUR", 1, 30, "0.2")
		rep := &report{days: map[time.Time][]string{d1: {a, b}}}
		clk := &clock{}
		cfg := Config{Start: d1, End: d1.Add(20 * time.Hour), Window: time.Hour,
			RescanAfter: []time.Duration{time.Hour, 2 * time.Hour}, Now: clk.Now}
		at := func(h int) { clk.Set(d1.Add(24*time.Hour + time.Duration(h)*time.Hour + 30*time.Minute)) }

		at(0)
		before := r.walker(t, cfg, rep) // no tenant: as before the upgrade
		runOnce(t, before)
		if got := before.Stats().Published; got != 2 {
			t.Fatalf("first read published %d, want 2", got)
		}

		at(1)
		cfg.TenantID = testTenant
		upgraded := r.walker(t, cfg, rep)
		runOnce(t, upgraded)
		if st := upgraded.Stats(); st.Published != 0 || st.Duplicates != 2 {
			t.Fatalf("the upgraded walker's rescan: %+v, want the 2 unchanged rows skipped", st)
		}

		c := dialoutRow("u3", "AE", "International", "AED", 1, 20, "3")
		rep.set(d1, a, b, c)
		at(2)
		runOnce(t, upgraded)
		recs := r.kafka.ReadAll(t, r.topic, true)
		if len(recs) != 3 {
			t.Fatalf("%d records, want 3", len(recs))
		}
		for i, rec := range recs {
			var row schemas.PstnOnlineMeetingDialoutReport
			if err := schemas.DecodePstnDialoutRowBeta(rec.Value, &row); err != nil {
				t.Fatal(err)
			}
			stamped := strings.Contains(string(rec.Key), `"u3"`)
			if stamped && (row.TenantID == nil || *row.TenantID != testTenant) || !stamped && row.TenantID != nil {
				t.Errorf("record %d (%s): tenant %v", i, rec.Key, row.TenantID)
			}
		}
	})
}

// TestWithTenant: a Source from a codec re-stamps, keeping its name,
// function and kind; one without a codec refuses a tenant, and New says
// so rather than publishing records that name none.
func TestWithTenant(t *testing.T) {
	s := DirectRouting()
	if s.TenantID() != "" {
		t.Errorf("For's Source names tenant %q", s.TenantID())
	}
	st, err := s.WithTenant(testTenant)
	if err != nil || st.TenantID() != testTenant || st.Name != s.Name || st.Function != s.Function || s.TenantID() != "" {
		t.Fatalf("WithTenant: %v, %q (receiver %q)", err, st.TenantID(), s.TenantID())
	}
	if st.tenantLen() != len(schemas.TenantSuffix(testTenant)) || s.tenantLen() != 1 {
		t.Errorf("tenantLen %d and %d", st.tenantLen(), s.tenantLen())
	}
	custom := Source{Name: "x", Function: s.Function, Encode: s.Encode}
	if _, err := custom.WithTenant(""); err != nil {
		t.Errorf("a Source without a codec refused no tenant: %v", err)
	}
	if _, err := custom.WithTenant(testTenant); err == nil {
		t.Error("a Source without a codec accepted a tenant")
	}
	r := newRig(t, exactlyOnce, graphsim.Config{Seed: 1, Start: day0, End: day0.Add(time.Hour), RowsPerHour: 10})
	_, err = New(Config{Source: custom, Start: day0, Window: time.Hour, TenantID: testTenant}, r.fc, r.prod, r.store())
	if err == nil || !strings.Contains(err.Error(), "no schemas codec") {
		t.Errorf("New with a tenant for a Source without a codec: %v", err)
	}
}
