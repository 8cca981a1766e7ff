package fetch

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/callstream/callstream/internal/jsonscan"
)

// referenceSplit is the page decoding the splitter replaced: the stdlib's
// view of which pages are valid and what their rows are.
func referenceSplit(body []byte) (rows []string, next string, ok bool) {
	var page map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if dec.Decode(&page) != nil || dec.More() {
		return nil, "", false
	}
	// Only the end of the input may follow the page: a stray token is an
	// error from Token, which must not pass for the end.
	if _, err := dec.Token(); err != io.EOF {
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
	`{"value":[{"\u00e9":"é","a\\b":"x\ty","p":"plain","n":{"m":[1,"\""]},"e":""}, {}]}`,
	"{\"value\":[\"a\tb\"]}",
	`{"value":[],"@odata.nextLink":5}`,
	`{}`,
	``,
	`{`,
}

func checkSplit(t *testing.T, body []byte) {
	var p pageBuffer
	next, err := p.decode(bytes.NewReader(body), -1, DefaultMaxPageBytes)
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
		checkScan(t, p.rows[i], p.scans[i])
	}
}

// checkScan compares the members recorded for a row with what
// encoding/json's token stream reads from it: the names in order, each
// value's exact text, and the plain flags.
func checkScan(t *testing.T, row []byte, scan []jsonscan.Member) {
	t.Helper()
	if row[0] != '{' {
		if scan != nil {
			t.Fatalf("row %s is not an object but has a scan", row)
		}
		return
	}
	dec := json.NewDecoder(bytes.NewReader(row))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	k := 0
	for ; dec.More(); k++ {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			t.Fatal(err)
		}
		if k >= len(scan) {
			t.Fatalf("row %s: scan has %d members, the row more", row, len(scan))
		}
		m := scan[k]
		rawName := string(row[m.NameStart:m.NameEnd])
		var name string
		if err := json.Unmarshal([]byte(`"`+rawName+`"`), &name); err != nil || name != tok.(string) {
			t.Fatalf("row %s member %d: name %q, want %q (%v)", row, k, rawName, tok, err)
		}
		if got := string(row[m.ValueStart:m.ValueEnd]); got != string(val) {
			t.Fatalf("row %s member %d: value %q, want %q", row, k, got, val)
		}
		if plain := isPlain(rawName); m.PlainName != plain {
			t.Fatalf("row %s member %d: PlainName %v for %q", row, k, m.PlainName, rawName)
		}
		if plain := val[0] == '"' && isPlain(string(val[1:len(val)-1])); m.PlainValue != plain {
			t.Fatalf("row %s member %d: PlainValue %v for %s", row, k, m.PlainValue, val)
		}
	}
	if k != len(scan) {
		t.Fatalf("row %s: %d members, scan has %d", row, k, len(scan))
	}
}

// isPlain reports ASCII text without escapes.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == '\\' {
			return false
		}
	}
	return true
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
