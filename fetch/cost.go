package fetch

import (
	"math"
	"time"
)

// SessionsPageSize is how many sessions Graph puts in a page of a call
// record's sessions: the first page in the record's own answer, each
// further one behind sessions@odata.nextLink.
const SessionsPageSize = 60

// RequestCost is how many requests reading something from Graph costs,
// split by the limits they count against.
type RequestCost struct {
	// List is the requests that list: pages of a call-log function, or of
	// the list of call records.
	List int
	// Records is the requests that read call records one by one: a GET per
	// record and one more per further page of its sessions (call-records
	// family only).
	Records int
}

// Total is every request of c.
func (c RequestCost) Total() int { return c.List + c.Records }

// Add returns the cost of both c and d.
func (c RequestCost) Add(d RequestCost) RequestCost {
	return RequestCost{List: c.List + d.List, Records: c.Records + d.Records}
}

// CallRecordsCost returns what reading records call records costs when the
// list is read in pages of listPageSize records (DefaultRecordsPageSize if
// zero or less, as Client.CallRecords asks Graph for; Graph may give
// fewer) and a record has sessionsPerRecord sessions: the list's pages
// (one at least, even for none), one GET per record and, per record, a
// request for each page of sessions after the first SessionsPageSize.
//
// It is an estimate for a backfill's ETA: records already known are not
// read again (Client.CallRecords skips their GET), and a few records with
// very many sessions cost more than the same sessions spread evenly. Pass
// the sessions of a typical record, not an average dragged up by a few
// large meetings.
func CallRecordsCost(records, listPageSize int, sessionsPerRecord float64) RequestCost {
	if listPageSize <= 0 {
		listPageSize = DefaultRecordsPageSize
	}
	records = max(records, 0)
	extra := 0
	if sessionsPerRecord > SessionsPageSize {
		extra = int(math.Ceil(sessionsPerRecord/SessionsPageSize)) - 1
	}
	return RequestCost{
		List:    max(1, (records+listPageSize-1)/listPageSize),
		Records: records * (1 + extra),
	}
}

// MinDuration returns the shortest time in which the Budget made from cfg
// lets fn's requests of cost through, all of them at full allowance and no
// other function sharing the application's limits: the start of the last
// request, after bursts of a limit's worth per window. For the PSTN family
// cost.Total() requests count against fn's and the application's limit;
// for the call-records family cost.List counts against the list's limit
// and cost.Total() against the application's (the per-record limit, at a
// request or three per record, never binds). Graph's answering time comes
// on top; a backfill's ETA is the larger of this and its measured pace.
func (cfg BudgetConfig) MinDuration(fn Function, cost RequestCost) time.Duration {
	cfg = cfg.withDefaults()
	if !IsCallRecordsFamily(fn) {
		return paced(cost.Total(), min(cfg.PerFunction, cfg.PerApp), cfg.Window)
	}
	return max(paced(cost.List, cfg.RecordsList, cfg.RecordsWindow),
		paced(cost.Total(), cfg.RecordsPerApp, cfg.RecordsWindow))
}

// paced is when the last of n requests goes out under a limit of per per
// window, starting with a full bucket: the first per at once, each further
// per one window later.
func paced(n, per int, window time.Duration) time.Duration {
	if n <= 0 || per <= 0 {
		return 0
	}
	return time.Duration((n-1)/per) * window
}
