package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callstream/callstream/internal/jsonscan"
	"github.com/callstream/callstream/sources"
)

// Defaults for the call-records fields of Config left zero.
const (
	// DefaultRecordsPageSize is the page size CallRecords asks the list
	// for. Listing is the scarce request (40 per 20 s against 1,500 for
	// everything), so pages are asked as large as Graph's other
	// collections go; Graph documents no maximum for this list, and
	// whatever it sends instead is taken.
	DefaultRecordsPageSize = 1000
	// DefaultRecordConcurrency is how many records of one list page are
	// read at once. Reading a record is latency-bound, and 8 in flight
	// keep well inside the application's 1,500 requests per 20 s at
	// Graph's answering times, which the Budget enforces anyway.
	DefaultRecordConcurrency = 8
)

// sessionsNextLink is the annotation that names a record's further
// sessions.
const sessionsNextLink = "sessions@odata.nextLink"

// RecordTooLargeError is a call record whose sessions, merged from all
// their pages, make it larger than Config.MaxPageBytes. It is permanent:
// Graph answers the same record the same way.
type RecordTooLargeError struct {
	// Limit is Config.MaxPageBytes.
	Limit int64
}

func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("call record with its sessions is larger than %d bytes, the cap set by GRAPH_MAX_PAGE_BYTES; raise the setting if Graph's records are really that large",
		e.Limit)
}

// recordsSource returns fn's sources entry, which must be of the Records
// kind.
func recordsSource(fn Function) (sources.Source, error) {
	s, ok := sources.ByFunction(string(fn))
	if !ok || s.Kind != sources.Records {
		return s, fmt.Errorf("fetch %s: not a source of call records; CallRecords reads only those", fn)
	}
	return s, nil
}

// RecordsURL returns the URL of the first page of fn's list of records
// (fn must be of the Records kind, as call records are) that started in
// the half-open range [from, to): $filter on the entry's TimeProperty,
// both bounds rounded up to Graph's tick as URL does.
func (c *Client) RecordsURL(fn Function, from, to time.Time) (string, error) {
	s, err := recordsSource(fn)
	if err != nil {
		return "", err
	}
	filter := fmt.Sprintf("%s ge %s and %s lt %s",
		s.TimeProperty, FormatTime(ceilTick(from)), s.TimeProperty, FormatTime(QueryEnd(fn, to)))
	return fmt.Sprintf("%s/%s/%s?$filter=%s", c.base.String(), c.cfg.APIVersion, s.Path(), queryEscape(filter)), nil
}

// RecordURL returns the URL that reads record id of fn whole, with its
// entry's Expand.
func (c *Client) RecordURL(fn Function, id string) (string, error) {
	s, err := recordsSource(fn)
	if err != nil {
		return "", err
	}
	u := fmt.Sprintf("%s/%s/%s/%s", c.base.String(), c.cfg.APIVersion, s.Path(), url.PathEscape(id))
	if s.Expand != "" {
		u += "?$expand=" + queryEscape(s.Expand)
	}
	return u, nil
}

// queryEscape escapes s for a query value: what a query may hold as it is
// (RFC 3986's unreserved characters, and the colons, dollars,
// parentheses, commas and single quotes OData expressions are made of)
// stays, a space is %20 (never '+',
// which some servers keep as a plus), and the rest, '=' and '&' included,
// is percent-encoded.
func queryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~:$(),'", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// CallRecords reads every record of fn (a source of the Records kind: Teams
// call records) whose start time lies in [from, to). It lists them page by
// page (asking for Config.RecordsPageSize per page, following
// @odata.nextLink) and, for each listed record whose id and version known
// does not report (known may be nil; it is called on the caller's
// goroutine), reads the record whole: its GET with the entry's Expand,
// then every further page of its sessions behind sessions@odata.nextLink.
// It hands onPage the records of each list page in runs, in the list's
// order, each run once its records are read (a list page of a thousand
// meetings would otherwise be held whole): each row is the record's
// object as Graph answered the GET, but with "sessions" holding the
// sessions of every page and without sessions@odata.nextLink; Scans are
// its top-level members.
//
// A record Graph answers 404 for when read (it aged out or was deleted
// after the list was read) is skipped and counted in Stats.Gone. A listed
// row without a usable id (a non-empty string) cannot be read: it is
// handed on as listed, for the schema layer to reject as a bad row rather
// than be dropped here; one without a usable version is read (known is
// not asked: it cannot say). Records are read Config.RecordConcurrency at
// a time, two rounds of them to a Page (Page.Number counts the Pages
// handed over); when one fails, or ctx ends, the others are cancelled and
// the error returned, and their run is not delivered. A list page whose
// records are all known or gone hands over nothing. Every request is paced, retried and bounded as Calls' are.
func (c *Client) CallRecords(ctx context.Context, fn Function, from, to time.Time, known func(id string, version int64) bool, onPage func(Page) error) (Stats, error) {
	var st Stats
	src, err := recordsSource(fn)
	if err != nil {
		return st, err
	}
	if !from.Before(to) {
		return st, fmt.Errorf("fetch %s: empty range [%s, %s)", fn, FormatTime(from), FormatTime(to))
	}
	if !ceilTick(from).Before(ceilTick(to)) {
		return st, nil
	}
	next, err := c.RecordsURL(fn, from, to)
	if err != nil {
		return st, err
	}
	buf := pageBuffers.Get().(*pageBuffer)
	defer pageBuffers.Put(buf)
	seen := make(map[[sha256.Size]byte]struct{})
	var sent string
	prefer := "odata.maxpagesize=" + strconv.Itoa(c.cfg.RecordsPageSize)
	where := func(page int) string {
		return fmt.Sprintf("fetch %s [%s, %s) page %d", fn, FormatTime(from), FormatTime(to), page)
	}
	delivered := 0 // pages handed to onPage: runs of records read
	for page := 1; next != ""; page++ {
		if page > c.cfg.MaxPages {
			return st, fmt.Errorf("fetch %s [%s, %s): %w: more than %d pages (GRAPH_MAX_PAGES_PER_WINDOW) in one window; lower WINDOW so that each window holds fewer records, or raise the setting",
				fn, FormatTime(from), FormatTime(to), ErrTooManyPages, c.cfg.MaxPages)
		}
		link, err := c.checkLink(next)
		if err != nil {
			return st, redactErr(fmt.Errorf("%s: %w", where(page), err), sent)
		}
		h := sha256.Sum256([]byte(next))
		if _, ok := seen[h]; ok {
			return st, redactErr(fmt.Errorf("%s: %w: %s", where(page), ErrRepeatedLink, redactURL(next)), sent)
		}
		seen[h] = struct{}{}
		next, err = c.get(ctx, request{budget: Request{Function: fn}, u: link, prefer: prefer, decode: buf.decode}, &st, &sent)
		if err != nil {
			return st, redactErr(fmt.Errorf("%s: %w", where(page), err), sent)
		}
		st.Pages++
		var onPageErr error
		err = c.readRecords(ctx, fn, src, buf, known, &st, func(rows []json.RawMessage, scans [][]jsonscan.Member) error {
			delivered++
			st.Rows += len(rows)
			onPageErr = onPage(Page{Number: delivered, Rows: rows, Scans: scans})
			return onPageErr
		})
		switch {
		case onPageErr != nil:
			return st, onPageErr
		case err != nil:
			return st, fmt.Errorf("%s: %w", where(page), err)
		}
	}
	return st, nil
}

// listed is what a list row says of its record.
type listed struct {
	id      string
	version int64
	// hasVersion is false when the row's version is missing or not an
	// integer; readable is false when its id is.
	hasVersion, readable bool
}

// parseListed reads the id and version of a list row from its scan.
func parseListed(src sources.Source, row json.RawMessage, scan []jsonscan.Member) listed {
	var l listed
	for _, m := range scan {
		v := row[m.ValueStart:m.ValueEnd]
		switch memberName(row, m) {
		case src.IDProperty:
			var id string
			if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &id) == nil && id != "" && id != "." && id != ".." {
				// "." and ".." would name another path, not a record.
				l.id, l.readable = id, true
			}
		case src.VersionProperty:
			if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				l.version, l.hasVersion = n, true
			}
		}
	}
	return l
}

// memberName returns the name of m, a member of obj.
func memberName(obj []byte, m jsonscan.Member) string {
	raw := obj[m.NameStart:m.NameEnd]
	if m.PlainName {
		return string(raw)
	}
	var name string
	if json.Unmarshal(obj[m.NameStart-1:m.NameEnd+1], &name) != nil {
		return ""
	}
	return name
}

// readRecords reads whole the records the list page in buf names and
// hands them to deliver in the list's order, in runs of at most
// recordsPerDelivery records read: a list page names up to
// RecordsPageSize records, and a meeting's record runs to megabytes, so a
// page is never held whole — and the records read so far are on their
// way to Kafka while the next are read.
func (c *Client) readRecords(ctx context.Context, fn Function, src sources.Source, buf *pageBuffer, known func(string, int64) bool, st *Stats,
	deliver func([]json.RawMessage, [][]jsonscan.Member) error) error {
	per := c.recordsPerDelivery()
	rows := make([]json.RawMessage, 0, per)
	scans := make([][]jsonscan.Member, 0, per)
	var todo []int
	ids := make([]string, len(buf.rows))
	// pending are the rows of the run so far, in list order: a listed row
	// handed on as it is, or the index of a record to read.
	type entry struct {
		listed bool
		i      int
	}
	var pending []entry
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		read, err := c.readSome(ctx, fn, ids, todo, st)
		if err != nil {
			return err
		}
		rows, scans = rows[:0], scans[:0]
		for _, e := range pending {
			if e.listed {
				rows, scans = append(rows, buf.rows[e.i]), append(scans, buf.scans[e.i])
			} else if r := read[e.i]; r.row != nil {
				rows, scans = append(rows, r.row), append(scans, r.scan)
			}
		}
		pending, todo = pending[:0], todo[:0]
		if len(rows) == 0 {
			return nil
		}
		return deliver(rows, scans)
	}
	for i, row := range buf.rows {
		l := parseListed(src, row, buf.scans[i])
		switch {
		case !l.readable:
			// Handed on as listed (it aliases buf, which is not reused
			// before the list page is done), for the codec to reject.
			pending = append(pending, entry{listed: true, i: i})
		case l.hasVersion && known != nil && known(l.id, l.version):
			st.Skipped++
		default:
			ids[i] = l.id
			todo = append(todo, i)
			pending = append(pending, entry{i: i})
			if len(todo) == per {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// recordsPerDelivery is how many records read make one delivery: two
// rounds of the concurrent reads.
func (c *Client) recordsPerDelivery() int { return 2 * c.cfg.RecordConcurrency }

// readRecordResult is one record read: nil row when it was gone.
type readRecordResult struct {
	row  json.RawMessage
	scan []jsonscan.Member
}

// readSome reads the records ids[i] for i in todo, Config.RecordConcurrency
// at a time, and returns them by i. When one fails, or ctx ends, the
// others are cancelled and the error returned.
func (c *Client) readSome(ctx context.Context, fn Function, ids []string, todo []int, st *Stats) (map[int]readRecordResult, error) {
	out := make(map[int]readRecordResult, len(todo))
	if len(todo) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	jobs := make(chan int)
	for range min(c.cfg.RecordConcurrency, len(todo)) {
		wg.Go(func() {
			for i := range jobs {
				row, scan, rst, gone, err := c.readRecord(ctx, fn, ids[i])
				mu.Lock()
				st.add(rst)
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
						cancel()
					}
				case gone:
					st.Gone++
				default:
					out[i] = readRecordResult{row: row, scan: scan}
					st.Records++
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, i := range todo {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return out, firstErr
}

// readRecord reads record id whole: its GET, then each further page of its
// sessions, merged. gone reports a 404 on any of them.
func (c *Client) readRecord(ctx context.Context, fn Function, id string) (row json.RawMessage, scan []jsonscan.Member, st Stats, gone bool, err error) {
	var sent string
	defer func() {
		if err != nil {
			err = redactErr(fmt.Errorf("call record %s: %w", id, err), sent)
		}
	}()
	raw, err := c.RecordURL(fn, id)
	if err != nil {
		return nil, nil, st, false, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, st, false, fmt.Errorf("build record URL: %w", err)
	}
	budget := Request{Function: fn, Record: id}
	var rec recordBody
	next, err := c.get(ctx, request{budget: budget, u: u, decode: rec.decode}, &st, &sent)
	if isNotFound(err) {
		return nil, nil, st, true, nil
	}
	if err != nil {
		return nil, nil, st, false, err
	}
	obj := rec.obj()
	sessions, isArray := rec.sessions()
	if next == "" || !isArray {
		// Nothing to merge; a nextLink beside sessions that are not an
		// array is left in place, for the codec to reject the record with.
		return obj, rec.members, st, false, nil
	}
	merged := append(make([]byte, 0, len(sessions)+4<<10), '[')
	merged = append(merged, bytes.TrimSpace(sessions[1:len(sessions)-1])...)
	buf := pageBuffers.Get().(*pageBuffer)
	defer pageBuffers.Put(buf)
	seen := map[[sha256.Size]byte]struct{}{}
	for page := 2; next != ""; page++ {
		if page > c.cfg.MaxPages {
			return nil, nil, st, false, fmt.Errorf("%w: more than %d pages of sessions (GRAPH_MAX_PAGES_PER_WINDOW)", ErrTooManyPages, c.cfg.MaxPages)
		}
		link, err := c.checkLink(next)
		if err != nil {
			return nil, nil, st, false, fmt.Errorf("sessions page %d: %w", page, err)
		}
		h := sha256.Sum256([]byte(next))
		if _, ok := seen[h]; ok {
			return nil, nil, st, false, fmt.Errorf("sessions page %d: %w: %s", page, ErrRepeatedLink, redactURL(next))
		}
		seen[h] = struct{}{}
		next, err = c.get(ctx, request{budget: budget, u: link, decode: buf.decode}, &st, &sent)
		if isNotFound(err) {
			return nil, nil, st, true, nil
		}
		if err != nil {
			return nil, nil, st, false, fmt.Errorf("sessions page %d: %w", page, err)
		}
		st.SessionPages++
		for _, s := range buf.rows {
			if len(merged) > 1 {
				merged = append(merged, ',')
			}
			merged = append(merged, s...)
		}
		if int64(len(obj)+len(merged)) > c.cfg.MaxPageBytes {
			return nil, nil, st, false, &RecordTooLargeError{Limit: c.cfg.MaxPageBytes}
		}
	}
	merged = append(merged, ']')
	out := rec.splice(merged)
	_, scan, err = jsonscan.Object(out, 0, 0, nil)
	if err != nil {
		// The parts were each checked; only nesting beyond the limit can
		// fail here. Hand the record on unscanned, for the codec to
		// reject.
		scan = nil
	}
	return out, scan, st, false, nil
}

func isNotFound(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.StatusCode == http.StatusNotFound
}

// recordBody is the answer to a record's GET: one JSON object.
type recordBody struct {
	buf        pageBuffer
	start, end int
	// members are the object's, offsets from its opening brace; nil when
	// it is nested too deep to scan.
	members []jsonscan.Member
}

func (r *recordBody) obj() json.RawMessage { return r.buf.body[r.start:r.end:r.end] }

// decode reads the record and returns its sessions@odata.nextLink.
func (r *recordBody) decode(body io.Reader, sizeHint, limit int64) (string, error) {
	r.members = r.members[:0]
	if err := r.buf.read(body, sizeHint, limit); err != nil {
		return "", err
	}
	s := r.buf.body
	i := jsonscan.SkipSpace(s, 0)
	if i == len(s) {
		return "", io.ErrUnexpectedEOF
	}
	if s[i] != '{' {
		return "", fmt.Errorf("want a call record object at byte %d, got %q", i, s[i])
	}
	end, members, err := jsonscan.Object(s, i, 0, r.members)
	deep := jsonscan.TooDeep(err)
	if deep {
		// As for a row of a page: handed on unscanned for the codec to
		// reject, rather than read again and again.
		members = nil
		end, err = jsonscan.SkipDeep(s, i)
	}
	if err != nil {
		return "", err
	}
	if jsonscan.SkipSpace(s, end) != len(s) {
		return "", errors.New("trailing data after call record object")
	}
	if members == nil && !deep {
		members = []jsonscan.Member{} // scanned, if empty: not "unscanned"
	}
	r.start, r.end, r.members = i, end, members
	obj := r.obj()
	for _, m := range members {
		if memberName(obj, m) == sessionsNextLink {
			var next string
			if err := json.Unmarshal(obj[m.ValueStart:m.ValueEnd], &next); err != nil {
				return "", fmt.Errorf("%s: %w", sessionsNextLink, err)
			}
			return next, nil
		}
	}
	return "", nil
}

// sessions returns the record's sessions value and whether it is an
// array.
func (r *recordBody) sessions() (json.RawMessage, bool) {
	obj := r.obj()
	for _, m := range r.members {
		if memberName(obj, m) == "sessions" {
			v := obj[m.ValueStart:m.ValueEnd]
			return v, v[0] == '['
		}
	}
	return json.RawMessage(`[]`), true
}

// splice returns the record with sessions as its "sessions" (added if it
// had none) and without sessions@odata.nextLink; every other member is
// kept byte for byte, in its place.
func (r *recordBody) splice(sessions []byte) json.RawMessage {
	obj := r.obj()
	out := make([]byte, 0, len(obj)+len(sessions))
	out = append(out, '{')
	wrote, had := false, false
	for _, m := range r.members {
		name := memberName(obj, m)
		if name == sessionsNextLink {
			continue
		}
		if wrote {
			out = append(out, ',')
		}
		wrote = true
		if name == "sessions" && !had {
			had = true
			out = append(out, obj[m.NameStart-1:m.ValueStart]...)
			out = append(out, sessions...)
			continue
		}
		out = append(out, obj[m.NameStart-1:m.ValueEnd]...)
	}
	if !had {
		if wrote {
			out = append(out, ',')
		}
		out = append(out, `"sessions":`...)
		out = append(out, sessions...)
	}
	return append(out, '}')
}
