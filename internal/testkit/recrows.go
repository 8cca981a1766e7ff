package testkit

import (
	"fmt"
	"time"

	"github.com/callstream/callstream/graphsim"
	"github.com/callstream/callstream/sources"
)

// recTruth is the simulator's ground truth of each Records data set
// (sources.Source.DataSet), by name: the records of [from, to) served at
// now, each in its version then.
var recTruth = map[string]func(sim *graphsim.Server, from, to, now time.Time) []graphsim.CallRecordVersion{
	"call-records": (*graphsim.Server).CallRecordsAt,
}

// recVersions gives every version a Records data set's record ever has.
var recVersions = map[string]func(sim *graphsim.Server, id string) []graphsim.CallRecordVersion{
	"call-records": (*graphsim.Server).CallRecordVersions,
}

// RecordsAt returns the simulator's ground truth for the Records source
// src: every record whose TimeProperty is in [from, to) that the
// simulator serves at now (visible, inside the retention horizon), in its
// version then, with the merged JSON a reader gets (the get with Expand,
// every nested page merged). It is what the end-to-end tests compare a
// records topic with; a new Records source's data set is added to
// recTruth and recVersions.
func RecordsAt(sim *graphsim.Server, src sources.Source, from, to, now time.Time) ([]graphsim.CallRecordVersion, error) {
	if src.Kind != sources.Records {
		return nil, fmt.Errorf("testkit: %s is a source of kind %s, not records", src.Name, src.Kind)
	}
	at, ok := recTruth[src.DataSet]
	if !ok {
		return nil, fmt.Errorf("testkit: no ground truth for the data set %q of source %s: add its graphsim accessor to recTruth", src.DataSet, src.Name)
	}
	return at(sim, from, to, now), nil
}

// RecordVersions returns every version the record id of the Records
// source src ever has, in version order, each with the instant the
// simulator starts serving it (VisibleAt); nil for an unknown id.
func RecordVersions(sim *graphsim.Server, src sources.Source, id string) ([]graphsim.CallRecordVersion, error) {
	versions, ok := recVersions[src.DataSet]
	if !ok || src.Kind != sources.Records {
		_, err := RecordsAt(sim, src, time.Time{}, time.Time{}, time.Time{}) // says why
		return nil, err
	}
	return versions(sim, id), nil
}
