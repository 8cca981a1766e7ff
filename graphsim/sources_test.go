package graphsim

import (
	"testing"
	"time"

	"github.com/callstream/callstream/sources"
)

// TestDataSetsMatchRegistry checks that the simulator's named functions
// are the registry's, and that every registry entry has a data set of its
// own answering its function.
func TestDataSetsMatchRegistry(t *testing.T) {
	for fn, name := range map[Function]string{DirectRoutingCalls: "direct-routing", PstnCalls: "pstn",
		SmsLog: "sms", PstnBlockedUsersLog: "pstn-blocked-users", PstnOnlineMeetingDialout: "pstn-dialout"} {
		if src, ok := sources.ByFunction(string(fn)); !ok || src.Name != name {
			t.Errorf("%s: registry says %v, %v", fn, src.Name, ok)
		}
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := New(Config{Seed: 1, Start: start, End: start.Add(time.Hour), RowsPerHour: 10, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[any]string{}
	for _, src := range sources.All() {
		var ds any = s.dataset(Function(src.Function))
		if set := s.betaSet(Function(src.Function)); set != nil {
			ds = set // the beta data sets answer through respondSet
		}
		if src.DataSet == callRecordsDataSet {
			if s.cr == nil {
				t.Errorf("%s: no call-records data set", src.Name)
			}
			ds = s.cr // answered through respondRecords
		}
		if prev, ok := seen[ds]; ok {
			t.Errorf("%s and %s share a data set", prev, src.Name)
		}
		seen[ds] = src.Name
	}
}
