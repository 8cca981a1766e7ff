package fetch

import (
	"bytes"
	"encoding/json"
	"testing"
)

// referenceSplit is the page decoding the splitter replaced: the stdlib's
// view of which pages are valid and what their rows are.
func referenceSplit(body []byte) (rows []string, next string, ok bool) {
	var page map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if dec.Decode(&page) != nil || dec.More() {
		return nil, "", false
	}
	if _, err := dec.Token(); err == nil {
		return nil, "", false
	}
	v, found := page["value"]
	if !found {
		return nil, "", false
	}
	var raw []json.RawMessage
	if json.Unmarshal(v, &raw) != nil {
		return nil, "", false
	}
	if l, found := page["@odata.nextLink"]; found && json.Unmarshal(l, &next) != nil {
		return nil, "", false
	}
	for _, r := range raw {
		rows = append(rows, string(r))
	}
	return rows, next, true
}

var pageSeeds = []string{
	`{"@odata.context":"x","value":[{"id":"a","n":1.5e3,"b":[true,false,null,{}],"s":"\u00e9\n"},{"id":"b"}],"@odata.nextLink":"https://h/x?$skip=2"}`,
	`{"value":[]}`,
	` { "value" : [ { } , [ ] , 0 , -0.1 , "x" ] } `,
	`{"@odata.count":0}`,
	`{"value":{}}`,
	`{"value":[]} {"value":[]}`,
	`<html>proxy error</html>`,
	`{"value":[{"id":"a"},`,
	`{"value":[{"id":"a"}`,
	`{"value":[{"id":01}]}`,
	`{"value":[{"id":"a\x"}]}`,
	`{"value":[{"id":"a"} {"id":"b"}]}`,
	`{"value":[{"id":"a",}]}`,
	`{"value":[{"id" "a"}]}`,
	`{"value":[tru]}`,
	`{"value":[1.]}`,
	`{"value":[1e]}`,
	`{"value":[-]}`,
	`{"value":["\u12"]}`,
	`{"\u0076alue":[{"id":"a"}]}`,
	`{"value":[{"a":[[[[{"b":"]}"}]]]]}]}`,
	`{"value":[{"a":[}]}`,
	`{"value":[{"a":{]}]}`,
	"{\"value\":[\"a\tb\"]}",
	`{"value":[],"@odata.nextLink":5}`,
	`{}`,
	``,
	`{`,
}

func checkSplit(t *testing.T, body []byte) {
	var p pageBuffer
	next, err := p.split(body)
	wantRows, wantNext, ok := referenceSplit(body)
	if ok != (err == nil) {
		t.Fatalf("%q: split err %v, stdlib valid=%v", body, err, ok)
	}
	if !ok {
		return
	}
	if next != wantNext || len(p.rows) != len(wantRows) {
		t.Fatalf("%q: next %q rows %d, want %q and %d", body, next, len(p.rows), wantNext, len(wantRows))
	}
	for i := range wantRows {
		if string(p.rows[i]) != wantRows[i] {
			t.Fatalf("%q: row %d is %s, want %s", body, i, p.rows[i], wantRows[i])
		}
	}
}

func TestSplitAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range pageSeeds {
		checkSplit(t, []byte(s))
		// Every prefix of a valid page is a cut body and must fail.
		for n := range len(s) {
			checkSplit(t, []byte(s[:n]))
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range pageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkSplit)
}
