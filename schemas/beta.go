package schemas

import (
	"fmt"

	"github.com/callstream/callstream/internal/jsonscan"
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
//
// val has passed the row's JSON validation, so only types are checked here.
func optUnitInfos(props *map[string]string, name, val string) ([]AdministrativeUnitInfo, *RowError) {
	if isArray, rerr := arrayOrNull(name, val); !isArray {
		return nil, rerr
	}
	n := 0
	forEachElement(val, func(string) *RowError { n++; return nil })
	out := make([]AdministrativeUnitInfo, 0, n)
	ids := make([]string, n) // backing for the ID pointers: one allocation
	extra := false
	rerr := forEachElement(val, func(item string) *RowError {
		k := len(out)
		u, more, rerr := parseUnitInfo(item, &ids[k])
		if rerr != nil {
			return &RowError{Field: name, Reason: fmt.Sprintf("item %d: %s", k, rerr.Reason)}
		}
		out = append(out, u)
		extra = extra || more
		return nil
	})
	if rerr != nil {
		return nil, rerr
	}
	if extra {
		if rerr := addUnknown(props, name, val); rerr != nil {
			return nil, rerr
		}
	}
	return out, nil
}

// parseUnitInfo parses one administrativeUnitInfo object, storing its id in
// slot, and reports whether it had properties besides id. Errors carry only
// a Reason.
func parseUnitInfo(item string, slot *string) (u AdministrativeUnitInfo, extra bool, _ *RowError) {
	if item[0] != '{' {
		return u, false, &RowError{Reason: "want object, got " + jsonKind(item)}
	}
	seenID := false
	i := jsonscan.SkipSpace(item, 1)
	for item[i] != '}' {
		end, plain, _ := jsonscan.String(item, i)
		key := bodyValue(item[i+1:end-1], plain)
		i = jsonscan.SkipSpace(item, jsonscan.SkipSpace(item, end)+1) // past ':'
		vend := validValueEnd(item, i)
		v := item[i:vend]
		if key == "id" {
			if seenID {
				return u, false, &RowError{Reason: `duplicate property "id"`}
			}
			seenID = true
			switch v[0] {
			case 'n':
			case '"':
				*slot = stringValue(v)
				u.ID = slot
			default:
				return u, false, &RowError{Reason: "id: want string, got " + jsonKind(v)}
			}
		} else {
			extra = true
		}
		i = jsonscan.SkipSpace(item, vend)
		if item[i] == ',' {
			i = jsonscan.SkipSpace(item, i+1)
		}
	}
	return u, extra, nil
}

// forEachElement calls fn with the JSON text of each element of the valid
// JSON array arr, stopping at the first error.
func forEachElement(arr string, fn func(elem string) *RowError) *RowError {
	i := jsonscan.SkipSpace(arr, 1)
	for arr[i] != ']' {
		end := validValueEnd(arr, i)
		if rerr := fn(arr[i:end]); rerr != nil {
			return rerr
		}
		i = jsonscan.SkipSpace(arr, end)
		if arr[i] == ',' {
			i = jsonscan.SkipSpace(arr, i+1)
		}
	}
	return nil
}

// validValueEnd returns the index just past the JSON value starting at s[i],
// which is known to be valid.
func validValueEnd(s string, i int) int {
	end, _ := jsonscan.Value(s, i, 0)
	return end
}
