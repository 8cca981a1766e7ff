package schemas

import (
	"encoding/json"
	"fmt"
	"strings"
)

// AdministrativeUnitInfo is one administrative unit associated with a call
// (Graph beta callRecords.administrativeUnitInfo), listed in the beta-only
// administrativeUnitInfos property of both row types.
type AdministrativeUnitInfo struct {
	// ID is the administrative unit's id; nil when Graph sent null or
	// left it out.
	ID *string `avro:"id"`
}

// optUnitInfos parses administrativeUnitInfos: null or absent gives nil, []
// gives an empty non-nil slice. An item with properties other than id (which
// the schema cannot hold) keeps the whole array's raw JSON in *props as
// well, so nothing Graph sent is dropped.
func optUnitInfos(props *map[string]string, name, val string) ([]AdministrativeUnitInfo, *RowError) {
	switch val[0] {
	case 'n':
		return nil, nil
	case '[':
	default:
		return nil, wrongType(name, "array", val)
	}
	// The row walk has validated the JSON already, so decode errors below
	// are only type mismatches; beta rows are rare enough that the stdlib
	// decoder's allocations do not matter here.
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(val), &items); err != nil {
		return nil, &RowError{Field: name, Reason: "malformed array: " + err.Error()}
	}
	out := make([]AdministrativeUnitInfo, len(items))
	extra := false
	for k, item := range items {
		extra2, rerr := parseUnitInfo(&out[k], item)
		if rerr != nil {
			rerr.Field = name
			rerr.Reason = fmt.Sprintf("item %d: %s", k, rerr.Reason)
			return nil, rerr
		}
		extra = extra || extra2
	}
	if extra {
		if rerr := addUnknown(props, name, val); rerr != nil {
			return nil, rerr
		}
	}
	return out, nil
}

// parseUnitInfo parses one administrativeUnitInfo object into u and reports
// whether it had properties besides id. Errors leave Field to the caller.
func parseUnitInfo(u *AdministrativeUnitInfo, item json.RawMessage) (extra bool, _ *RowError) {
	if kind := jsonKind(strings.TrimLeft(string(item), " \t\r\n")); kind != "object" {
		return false, &RowError{Reason: "want object, got " + kind}
	}
	var props map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(string(item)))
	if _, err := dec.Token(); err != nil { // '{'
		return false, &RowError{Reason: err.Error()}
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, &RowError{Reason: err.Error()}
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false, &RowError{Reason: err.Error()}
		}
		if _, dup := props[key]; dup {
			return false, &RowError{Reason: fmt.Sprintf("duplicate property %q", key)}
		}
		if props == nil {
			props = make(map[string]json.RawMessage, 1)
		}
		props[key] = v
	}
	for key, v := range props {
		if key != "id" {
			extra = true
			continue
		}
		switch v[0] {
		case 'n':
		case '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return false, &RowError{Reason: "id: " + err.Error()}
			}
			u.ID = &s
		default:
			return false, &RowError{Reason: "id: want string, got " + jsonKind(string(v))}
		}
	}
	return extra, nil
}
