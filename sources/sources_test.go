package sources

import (
	"regexp"
	"testing"
)

// TestRegistryWellFormed checks what every consumer of the registry
// relies on: unique names, functions, topics, settings and data sets, and
// every field a Log source needs.
func TestRegistryWellFormed(t *testing.T) {
	seen := map[string]string{}
	unique := func(what, v, name string) {
		t.Helper()
		if prev, ok := seen[what+"\x00"+v]; ok {
			t.Errorf("%s %q of %s already used by %s", what, v, name, prev)
		}
		seen[what+"\x00"+v] = name
	}
	nameRE := regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	settingRE := regexp.MustCompile(`^KAFKA_[A-Z0-9_]*TOPIC$`)
	for _, s := range All() {
		if !nameRE.MatchString(s.Name) {
			t.Errorf("name %q: want lower case letters, digits and dashes (it is part of transactional ids and checkpoint scopes)", s.Name)
		}
		unique("name", s.Name, s.Name)
		unique("function", s.Function, s.Name)
		unique("topic", s.DefaultTopic, s.Name)
		unique("setting", s.TopicSetting, s.Name)
		unique("data set", s.DataSet, s.Name)
		if !settingRE.MatchString(s.TopicSetting) {
			t.Errorf("%s: topic setting %q", s.Name, s.TopicSetting)
		}
		fields := map[string]string{"Title": s.Title, "Function": s.Function, "Namespace": s.Namespace,
			"Record": s.Record, "RowType": s.RowType, "KeyProperty": s.KeyProperty, "DefaultTopic": s.DefaultTopic}
		switch s.Kind {
		case Log:
			// Rows by a time range, deduplicated by id.
			fields["IDProperty"], fields["TimeProperty"] = s.IDProperty, s.TimeProperty
			if len(s.GroupBy) != 0 {
				t.Errorf("%s: GroupBy is for an aggregate only", s.Name)
			}
		case Aggregate:
			// Figures per grouping: a row is its day and grouping, no id.
			if s.IDProperty != "" {
				t.Errorf("%s: an aggregate has no IDProperty", s.Name)
			}
			if len(s.GroupBy) == 0 || s.GroupBy[0] != s.KeyProperty {
				t.Errorf("%s: GroupBy %q: an aggregate groups by its KeyProperty first", s.Name, s.GroupBy)
			}
		case Records:
			// Listed by a time range, read whole, new again when the
			// version grows.
			fields["IDProperty"], fields["TimeProperty"] = s.IDProperty, s.TimeProperty
			fields["VersionProperty"], fields["Expand"] = s.VersionProperty, s.Expand
			if len(s.GroupBy) != 0 {
				t.Errorf("%s: GroupBy is for an aggregate only", s.Name)
			}
		default:
			t.Errorf("%s: kind %v is not implemented", s.Name, s.Kind)
		}
		if s.Kind != Records && (s.VersionProperty != "" || s.Expand != "") {
			t.Errorf("%s: VersionProperty and Expand are for Records only", s.Name)
		}
		if s.Throttle != ThrottlePSTN && s.Throttle != ThrottleCallRecords {
			t.Errorf("%s: throttling family %q", s.Name, s.Throttle)
		}
		for what, v := range fields {
			if v == "" {
				t.Errorf("%s: %s is empty", s.Name, what)
			}
		}
		if len(s.Versions) == 0 {
			t.Errorf("%s: no API versions", s.Name)
		}
		if got, ok := Lookup(s.Name); !ok || got.Function != s.Function {
			t.Errorf("Lookup(%q) = %v, %v", s.Name, got.Function, ok)
		}
		if got, ok := ByFunction(s.Function); !ok || got.Name != s.Name {
			t.Errorf("ByFunction(%q) = %v, %v", s.Function, got.Name, ok)
		}
		if InclusiveEnd(s.Function) != s.InclusiveEnd {
			t.Errorf("InclusiveEnd(%q) disagrees with the entry", s.Function)
		}
	}
}

// TestContract pins the names outside deployments and tests depend on.
func TestContract(t *testing.T) {
	for _, tc := range []struct{ name, function, setting, topic string }{
		{"direct-routing", "getDirectRoutingCalls", "KAFKA_TOPIC", "teams.directrouting.calls"},
		{"pstn", "getPstnCalls", "KAFKA_PSTN_TOPIC", "teams.pstn.calls"},
		{"sms", "getSmsLog", "KAFKA_SMS_TOPIC", "teams.sms"},
		{"pstn-blocked-users", "getPstnBlockedUsersLog", "KAFKA_PSTN_BLOCKED_USERS_TOPIC", "teams.pstn.blockedusers"},
		{"pstn-dialout", "getPstnOnlineMeetingDialoutReport", "KAFKA_PSTN_DIALOUT_TOPIC", "teams.pstn.dialout"},
		// Fixed by issue 17.
		{"call-records", "callRecords", "KAFKA_CALLRECORDS_TOPIC", "teams.callrecords"},
	} {
		s, ok := Lookup(tc.name)
		if !ok || s.Function != tc.function || s.TopicSetting != tc.setting || s.DefaultTopic != tc.topic {
			t.Errorf("Lookup(%q) = %+v, %v", tc.name, s, ok)
		}
	}
	if Default().Name != "direct-routing" {
		t.Errorf("Default() = %s", Default().Name)
	}
	if got := NameList("and/or"); got != "direct-routing, pstn, sms, pstn-blocked-users, pstn-dialout and/or call-records" {
		t.Errorf("NameList = %q", got)
	}
	if !MustLookup("pstn").InclusiveEnd || MustLookup("direct-routing").InclusiveEnd {
		t.Error("end inclusivity")
	}
	if _, ok := Lookup("Direct-Routing"); ok {
		t.Error("names are case-sensitive, as SOURCES always was")
	}
}

// TestAllCopies checks that a caller cannot change the registry through
// a returned value.
func TestAllCopies(t *testing.T) {
	a := All()
	a[0].Versions[0] = "v9"
	a[0].Name = "x"
	if b := All(); b[0].Versions[0] == "v9" || b[0].Name == "x" {
		t.Error("All shares the registry's storage")
	}
}
