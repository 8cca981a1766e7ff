package graphsim

import (
	"time"
)

// This file simulates getPstnBlockedUsersLog (beta only): rows of
// pstnBlockedUsersLogRow, one per block or unblock of a user's PSTN
// calling, blockDateTime the time they are cut on.
//
// Range rules, from the reference page
// (callrecords-callrecord-getpstnblockeduserslog, beta): fromDateTime and
// toDateTime "can't be more than a date range of 90 days"; the page does
// not say whether toDateTime is inclusive. The simulator treats it as
// inclusive like getSmsLog and getPstnCalls, the stricter case for a
// client: one that cuts half-open windows must then drop (or dedup on
// remediationId) the rows at exactly toDateTime.

const blockedRowType = "microsoft.graph.callRecords.pstnBlockedUsersLogRow"

// blockedPerDay is the density of blocks and unblocks: a tenant blocks a
// few users a day, not hundreds.
const blockedPerDay = 6

const blockedSalt = 0x2545f4914f6cdd1d

// Blocked-users hash tags.
const (
	btUser = iota
	btMode
	btReason
	btID = 99
)

// blockReasons are the reasons seen in the reference example and the
// Teams admin center; one row in 20 has none.
var blockReasons = [...]string{`"High Overall Usage"`, `"Tenant Requested"`, `"International Fraud Detected"`, `"Exceeded Outbound Call Limit"`}

// blockedSet is the getPstnBlockedUsersLog data set.
type blockedSet struct {
	logSet
	users []person
}

func (s *Server) newBlockedSet() *blockedSet {
	// blockedPerDay a day at the reference density of 60 call rows an
	// hour, scaled with RowsPerHour.
	perDay := max(blockedPerDay*s.cfg.RowsPerHour/60, 1)
	step := int64(24*time.Hour) / int64(perDay)
	// blockDateTime is printed with milliseconds, as in the example.
	return &blockedSet{logSet: s.newLogSet(step, nsMilli, blockedSalt), users: s.users}
}

func (d *blockedSet) rowType() string         { return blockedRowType }
func (d *blockedSet) betaOnly() bool          { return true }
func (d *blockedSet) maxRange() time.Duration { return MaxBetaRange }
func (d *blockedSet) inclusiveEnd() bool      { return true }
func (d *blockedSet) render(dst []byte, from, to, now int64, skip, size int) ([]byte, int, int) {
	return d.renderLog(dst, from, to, now, skip, size, d.appendRow)
}

// id is row i's remediationId, unique over the data set.
func (d *blockedSet) id(i int) string {
	return string(appendUUID(nil, uuidBits{mix64(uint64(i) ^ d.key), d.hash(i, btID), 4}))
}

// appendRow appends row i's JSON object in the property order of the
// reference example: blockDateTime with milliseconds, userBlockMode
// capitalized as the example has it (the enum's members are lower case).
func (d *blockedSet) appendRow(dst []byte, i int) []byte {
	u := &d.users[d.hash(i, btUser)%uint64(len(d.users))]
	dst = append(dst, `{"userId":"`...)
	dst = append(dst, u.id...)
	dst = append(dst, `","userPrincipalName":`...)
	dst = append(dst, u.upn...)
	dst = append(dst, `,"userDisplayName":`...)
	dst = append(dst, u.display...)
	dst = append(dst, `,"blockDateTime":`...)
	dst = appendTime(dst, d.at(i), 3, false)
	dst = append(dst, `,"userTelephoneNumber":`...)
	dst = append(dst, u.number...)
	dst = append(dst, `,"userBlockMode":`...)
	if d.hash(i, btMode)%10 < 6 {
		dst = append(dst, `"Blocked"`...)
	} else {
		dst = append(dst, `"Unblocked"`...)
	}
	dst = append(dst, `,"blockReason":`...)
	if r := d.hash(i, btReason) % 20; r == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, blockReasons[r%uint64(len(blockReasons))]...)
	}
	dst = append(dst, `,"remediationId":"`...)
	dst = append(dst, d.id(i)...)
	return append(dst, `"}`...)
}

// BlockedUsersCount returns the number of rows, visible or not, whose
// blockDateTime is in [from, to).
func (s *Server) BlockedUsersCount(from, to time.Time) int {
	lo, hi := s.blocked.span(toNs(from), toNs(to))
	return hi - lo
}

// BlockedUsersRows returns the getPstnBlockedUsersLog ground truth: every
// row whose blockDateTime is in the half-open [from, to), visible or not,
// in time order; Row.ID is the remediationId. JSON and BetaJSON are both
// the beta row.
func (s *Server) BlockedUsersRows(from, to time.Time) []Row {
	return s.blocked.logRows(from, to, s.blocked.id, s.blocked.appendRow)
}
