// Package tenants is the one home of "a tenant": the Entra directories one
// run reads, as TENANTS lists them or a TENANTS_FILE describes them, with
// the checks every entry must pass and the watch that picks up an edited
// file without a restart.
//
// It reads no environment and opens no file but the one Watch is given:
// pipeline's configuration parses the settings with ParseList and
// ParseFile, and the run owns the Watch goroutine.
package tenants

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/callstream/callstream/sources"
)

// Tenant is one Entra directory a run reads, and how.
type Tenant struct {
	// ID is the directory (tenant) id: a GUID, or a verified domain such
	// as contoso.onmicrosoft.com, lower-cased. Tokens are requested from
	// {authority}/{ID}, never from a multi-tenant alias.
	ID string
	// Name is a label for people (logs, `callstream tenants`); optional.
	Name string
	// Sources are the sources read for this tenant; empty means the run's
	// SOURCES.
	Sources []string
	// Start is where this tenant's first walk begins when it has no
	// checkpoint; zero means the run's START_TIME.
	Start time.Time
	// Topics overrides the data topic per source name; a source missing
	// here writes to the run's topic for it.
	Topics map[string]string
	// ClientID, ClientSecretFile and CertificateFile override the run's
	// app registration for this tenant, for providers that keep one app
	// per customer. The files are paths, read when the credential is
	// built, so that a rotated secret is picked up.
	ClientID, ClientSecretFile, CertificateFile string
}

// OwnCredentials reports whether the tenant names its own app and its own
// secret or certificate, so that it needs nothing of the run's credential.
func (t Tenant) OwnCredentials() bool {
	return t.ClientID != "" && (t.ClientSecretFile != "" || t.CertificateFile != "")
}

// Label is how the tenant is named to people: "name (id)", or the id.
func (t Tenant) Label() string {
	if t.Name == "" {
		return t.ID
	}
	return t.Name + " (" + t.ID + ")"
}

// Error lists every problem found in a tenant list, each naming the entry
// (and for a file, the key) to fix.
type Error struct {
	Problems []string
}

func (e *Error) Error() string { return strings.Join(e.Problems, "; ") }

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Problems: p}
}

var (
	guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	// labelRE is one DNS label; a verified domain has at least two and a
	// top-level label of letters.
	labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	tldRE   = regexp.MustCompile(`^[a-z]{2,63}$`)
	topicRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
)

// aliases are Entra's multi-tenant authorities: a token from one of them is
// not the named tenant's, and a client-credentials grant there fails.
var aliases = map[string]bool{"common": true, "organizations": true, "consumers": true}

// CheckID validates a tenant id and returns it normalised (trimmed and
// lower-cased, so that one tenant spelled twice is seen as a duplicate).
func CheckID(s string) (string, error) {
	s = strings.TrimSpace(s)
	id := strings.ToLower(s)
	switch {
	case id == "":
		return "", errors.New("empty tenant id")
	case aliases[id]:
		return "", fmt.Errorf("%q is Entra's multi-tenant alias, not a tenant: give each tenant's own id (a GUID) or verified domain, as tokens must come from the tenant's own authority", s)
	case guidRE.MatchString(id):
		return id, nil
	case isDomain(id):
		return id, nil
	}
	return "", fmt.Errorf("%q: want a tenant id (a GUID such as 8f2b7c1e-4d3a-4b5c-9e6f-0a1b2c3d4e5f) or a verified domain such as contoso.onmicrosoft.com", s)
}

func isDomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 || !tldRE.MatchString(labels[len(labels)-1]) {
		return false
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// ParseList reads TENANTS: tenant ids separated by commas, each trimmed;
// empty entries (a trailing comma) are skipped. Every bad or repeated id is
// reported, naming it; with an error, the valid ids come back too, as with
// ParseFile.
func ParseList(s string) ([]Tenant, error) {
	var p problems
	var out []Tenant
	seen := map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		id, err := CheckID(entry)
		switch {
		case err != nil:
			p.add("%v", err)
		case seen[id]:
			p.add("%s is listed twice", id)
		default:
			seen[id] = true
			out = append(out, Tenant{ID: id})
		}
	}
	if len(out) == 0 && len(p) == 0 {
		p.add("lists no tenant")
	}
	return out, p.err()
}

// File keys, as a TENANTS_FILE spells them.
var fileKeys = []string{"id", "name", "sources", "start", "topics", "clientId", "clientSecretFile", "certificateFile"}

// ParseFile reads a TENANTS_FILE:
//
//	tenants:
//	  - id: 8f2b7c1e-4d3a-4b5c-9e6f-0a1b2c3d4e5f   # required
//	    name: Contoso                              # optional label
//	    sources: [direct-routing, pstn]            # default: SOURCES
//	    start: 2026-01-01T00:00:00Z                # default: START_TIME
//	    topics: {pstn: contoso.pstn}               # default: the run's topics
//	    clientId: 3c9d1e2f-...                     # per-tenant app
//	    clientSecretFile: /secrets/contoso/secret  # or certificateFile
//
// It is strict: an unknown key is an error naming the key and the entry,
// and every problem in the file is reported at once. With an error, the
// entries that have a valid id come back too, for a caller to report its
// own checks on them together; they are not a list to run.
func ParseFile(data []byte) ([]Tenant, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, &Error{Problems: []string{fmt.Sprintf("not YAML: %v", err)}}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil || top == nil {
		return nil, &Error{Problems: []string{"want a map with a tenants: list at the top"}}
	}
	var p problems
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if k != "tenants" {
			p.add("unknown key %q at the top: want tenants", k)
		}
	}
	var entries []map[string]json.RawMessage
	if raw, ok := top["tenants"]; !ok {
		p.add("no tenants: list")
	} else if err := json.Unmarshal(raw, &entries); err != nil {
		p.add("tenants: want a list of maps, each with an id")
	}
	var out []Tenant
	seen := map[string]int{}
	for i, e := range entries {
		t, ok := parseEntry(&p, i, e)
		if !ok {
			continue
		}
		if first, dup := seen[t.ID]; dup {
			p.add("tenant %d: %s is listed twice (first as tenant %d)", i+1, t.ID, first)
			continue
		}
		seen[t.ID] = i + 1
		out = append(out, t)
	}
	if len(entries) == 0 && len(p) == 0 {
		p.add("tenants: lists no tenant")
	}
	return out, p.err()
}

// parseEntry reads the i-th entry; ok is false when it has no valid id
// (its other problems are reported all the same).
func parseEntry(p *problems, i int, e map[string]json.RawMessage) (Tenant, bool) {
	var t Tenant
	where := fmt.Sprintf("tenant %d", i+1)
	var rawID string
	if raw, ok := e["id"]; !ok {
		p.add("%s: id is required", where)
	} else if json.Unmarshal(raw, &rawID) != nil {
		p.add("%s: id: want a string", where)
	} else if id, err := CheckID(rawID); err != nil {
		p.add("%s: id %v", where, err)
	} else {
		t.ID = id
		where = fmt.Sprintf("tenant %d (%s)", i+1, id)
	}
	str := func(key string, dst *string) {
		if raw, ok := e[key]; ok {
			if json.Unmarshal(raw, dst) != nil {
				p.add("%s: %s: want a string", where, key)
			}
			*dst = strings.TrimSpace(*dst)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(e)) {
		if !slices.Contains(fileKeys, k) {
			p.add("%s: unknown key %q: want %s", where, k, strings.Join(fileKeys, ", "))
		}
	}
	str("name", &t.Name)
	str("clientId", &t.ClientID)
	str("clientSecretFile", &t.ClientSecretFile)
	str("certificateFile", &t.CertificateFile)
	if raw, ok := e["sources"]; ok {
		var names []string
		if json.Unmarshal(raw, &names) != nil {
			p.add("%s: sources: want a list of source names (%s)", where, sources.NameList("and/or"))
		}
		for _, n := range names {
			n = strings.TrimSpace(n)
			switch _, known := sources.Lookup(n); {
			case !known:
				p.add("%s: sources: unknown source %q; want %s", where, n, sources.NameList("and/or"))
			case slices.Contains(t.Sources, n):
				p.add("%s: sources: %q listed twice", where, n)
			default:
				t.Sources = append(t.Sources, n)
			}
		}
	}
	var start string
	str("start", &start)
	if start != "" {
		if s, err := parseTime(start); err != nil {
			p.add("%s: start %q: want an RFC 3339 time such as 2026-01-01T00:00:00Z or a date such as 2026-01-01", where, start)
		} else {
			t.Start = s
		}
	}
	if raw, ok := e["topics"]; ok {
		if json.Unmarshal(raw, &t.Topics) != nil {
			p.add("%s: topics: want a map of source name to topic", where)
		}
		for _, src := range slices.Sorted(maps.Keys(t.Topics)) {
			if _, known := sources.Lookup(src); !known {
				p.add("%s: topics: unknown source %q; want %s", where, src, sources.NameList("and/or"))
			}
			if !topicRE.MatchString(t.Topics[src]) {
				p.add("%s: topics: %s: %q is no Kafka topic name (letters, digits, '.', '_', '-', at most 249)", where, src, t.Topics[src])
			}
		}
	}
	if t.ClientID != "" && !guidRE.MatchString(strings.ToLower(t.ClientID)) {
		p.add("%s: clientId %q: want the app's client id, a GUID", where, t.ClientID)
	}
	if t.ClientSecretFile != "" && t.CertificateFile != "" {
		p.add("%s: clientSecretFile and certificateFile are both set: give one", where)
	}
	if t.ClientID == "" && (t.ClientSecretFile != "" || t.CertificateFile != "") {
		p.add("%s: clientSecretFile or certificateFile needs clientId, the app they belong to", where)
	}
	return t, t.ID != ""
}

// parseTime accepts what START_TIME accepts: RFC 3339, or a date (midnight
// UTC).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(time.DateOnly, s)
}

// Diff compares two lists by tenant id: added are in next only, removed in
// prev only, changed in both but described differently (next's entry).
// Each keeps its list's order.
func Diff(prev, next []Tenant) (added, removed, changed []Tenant) {
	index := func(l []Tenant) map[string]Tenant {
		m := make(map[string]Tenant, len(l))
		for _, t := range l {
			m[t.ID] = t
		}
		return m
	}
	p, n := index(prev), index(next)
	for _, t := range next {
		old, ok := p[t.ID]
		switch {
		case !ok:
			added = append(added, t)
		case !reflect.DeepEqual(old, t):
			changed = append(changed, t)
		}
	}
	for _, t := range prev {
		if _, ok := n[t.ID]; !ok {
			removed = append(removed, t)
		}
	}
	return added, removed, changed
}
