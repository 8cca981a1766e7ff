package schemas

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/jsonscan"
)

// req is the smallest valid row body; cases append to it.
const req = `"id": "i-1", "correlationId": "c-1"`

func TestParseDirectRoutingRow(t *testing.T) {
	tests := []struct {
		name string
		json string
		// want edits a row holding only ID and CorrelationID into the
		// expected result.
		want func(r *DirectRoutingLogRow)
	}{
		{"only required", `{` + req + `}`, func(r *DirectRoutingLogRow) {}},
		{"required last", `{"duration": 1, "correlationId": "c-1", "id": "i-1"}`, func(r *DirectRoutingLogRow) {
			r.Duration = ptr[int32](1)
		}},
		{"whitespace everywhere", " \n\t{ \"id\" : \"i-1\" ,\r\n \"correlationId\":\"c-1\" , \"duration\" : 7 } \n", func(r *DirectRoutingLogRow) {
			r.Duration = ptr[int32](7)
		}},

		// Timestamps.
		{"0 fractional digits", `{` + req + `, "startDateTime": "2019-11-01T00:00:25Z"}`, func(r *DirectRoutingLogRow) {
			r.StartDateTime = utc(2019, 11, 1, 0, 0, 25, 0)
		}},
		{"1 fractional digit", `{` + req + `, "startDateTime": "2019-11-01T00:00:25.1Z"}`, func(r *DirectRoutingLogRow) {
			r.StartDateTime = utc(2019, 11, 1, 0, 0, 25, 100_000_000)
		}},
		{"3 fractional digits", `{` + req + `, "startDateTime": "2019-11-01T00:00:25.105Z"}`, func(r *DirectRoutingLogRow) {
			r.StartDateTime = utc(2019, 11, 1, 0, 0, 25, 105_000_000)
		}},
		{"7 fractional digits", `{` + req + `, "inviteDateTime": "2021-05-06T01:48:48.7950838Z"}`, func(r *DirectRoutingLogRow) {
			r.InviteDateTime = utc(2021, 5, 6, 1, 48, 48, 795_083_800)
		}},
		{"9 fractional digits", `{` + req + `, "endDateTime": "2021-05-06T01:48:48.123456789Z"}`, func(r *DirectRoutingLogRow) {
			r.EndDateTime = utc(2021, 5, 6, 1, 48, 48, 123_456_789)
		}},
		{"+00:00 offset", `{` + req + `, "startDateTime": "2019-11-01T00:00:25.105+00:00"}`, func(r *DirectRoutingLogRow) {
			r.StartDateTime = utc(2019, 11, 1, 0, 0, 25, 105_000_000)
		}},
		{"+02:00 offset", `{` + req + `, "startDateTime": "2019-11-01T02:00:25.105+02:00"}`, func(r *DirectRoutingLogRow) {
			r.StartDateTime = utc(2019, 11, 1, 0, 0, 25, 105_000_000)
		}},
		{"-05:30 offset across midnight", `{` + req + `, "startDateTime": "2019-10-31T18:30:25-05:30"}`, func(r *DirectRoutingLogRow) {
			r.StartDateTime = utc(2019, 11, 1, 0, 0, 25, 0)
		}},
		{"leap day", `{` + req + `, "startDateTime": "2024-02-29T23:59:59.9999999Z"}`, func(r *DirectRoutingLogRow) {
			r.StartDateTime = utc(2024, 2, 29, 23, 59, 59, 999_999_900)
		}},
		{"sentinel Z", `{` + req + `, "failureDateTime": "0001-01-01T00:00:00Z"}`, func(r *DirectRoutingLogRow) {}},
		{"sentinel 7 zero digits", `{` + req + `, "failureDateTime": "0001-01-01T00:00:00.0000000Z"}`, func(r *DirectRoutingLogRow) {}},
		{"sentinel +00:00", `{` + req + `, "failureDateTime": "0001-01-01T00:00:00+00:00"}`, func(r *DirectRoutingLogRow) {}},
		{"sentinel +02:00", `{` + req + `, "failureDateTime": "0001-01-01T00:00:00.000+02:00"}`, func(r *DirectRoutingLogRow) {}},
		{"sentinel in every timestamp", `{` + req + `, "startDateTime": "0001-01-01T00:00:00Z", "inviteDateTime": "0001-01-01T00:00:00Z", "failureDateTime": "0001-01-01T00:00:00Z", "endDateTime": "0001-01-01T00:00:00-08:00"}`, func(r *DirectRoutingLogRow) {}},
		{"year 1 but not the sentinel", `{` + req + `, "failureDateTime": "0001-01-01T00:00:00.0000001Z"}`, func(r *DirectRoutingLogRow) {
			r.FailureDateTime = utc(1, 1, 1, 0, 0, 0, 100)
		}},

		// Nulls and empties.
		{"every optional field null", `{` + req + `, "userId": null, "userPrincipalName": null, "userDisplayName": null, "startDateTime": null, "inviteDateTime": null, "failureDateTime": null, "endDateTime": null, "duration": null, "callType": null, "successfulCall": null, "callerNumber": null, "calleeNumber": null, "mediaPathLocation": null, "signalingLocation": null, "finalSipCode": null, "callEndSubReason": null, "finalSipCodePhrase": null, "trunkFullyQualifiedDomainName": null, "mediaBypassEnabled": null}`, func(r *DirectRoutingLogRow) {}},
		{"empty string stays empty, not nil", `{` + req + `, "userId": ""}`, func(r *DirectRoutingLogRow) {
			r.UserID = ptr("")
		}},

		// Integers and booleans.
		{"int32 bounds", `{` + req + `, "duration": 2147483647, "finalSipCode": -2147483648, "callEndSubReason": 0}`, func(r *DirectRoutingLogRow) {
			r.Duration, r.FinalSipCode, r.CallEndSubReason = ptr[int32](2147483647), ptr[int32](-2147483648), ptr[int32](0)
		}},
		{"negative zero", `{` + req + `, "duration": -0}`, func(r *DirectRoutingLogRow) {
			r.Duration = ptr[int32](0)
		}},
		{"booleans", `{` + req + `, "successfulCall": false, "mediaBypassEnabled": true}`, func(r *DirectRoutingLogRow) {
			r.SuccessfulCall, r.MediaBypassEnabled = ptr(false), ptr(true)
		}},

		// Strings.
		{"unicode display names", `{` + req + `, "userDisplayName": "Zoë Ångström", "callerNumber": "李雷", "calleeNumber": "😀"}`, func(r *DirectRoutingLogRow) {
			r.UserDisplayName, r.CallerNumber, r.CalleeNumber = ptr("Zoë Ångström"), ptr("李雷"), ptr("😀")
		}},
		{"escaped unicode", `{` + req + `, "userDisplayName": "Zo\u00eb \u00c5ngstr\u00f6m", "callerNumber": "\u674e\u96f7", "calleeNumber": "\ud83d\ude00"}`, func(r *DirectRoutingLogRow) {
			r.UserDisplayName, r.CallerNumber, r.CalleeNumber = ptr("Zoë Ångström"), ptr("李雷"), ptr("😀")
		}},
		{"escapes", `{` + req + `, "finalSipCodePhrase": "a\"b\\c\/d\b\f\n\r\t"}`, func(r *DirectRoutingLogRow) {
			r.FinalSipCodePhrase = ptr("a\"b\\c/d\b\f\n\r\t")
		}},
		{"lone surrogate becomes U+FFFD", `{` + req + `, "callType": "x\ud800y"}`, func(r *DirectRoutingLogRow) {
			r.CallType = ptr("x\uFFFDy")
		}},
		{"invalid UTF-8 becomes U+FFFD", "{" + req + ", \"callType\": \"x\xffy\", \"extra\": \"p\xfeq\"}", func(r *DirectRoutingLogRow) {
			r.CallType = ptr("x\uFFFDy")
			r.AdditionalProperties = map[string]string{"extra": "\"p\uFFFDq\""}
		}},
		{"escaped property name", `{"\u0069d": "i-1", "correlationId": "c-1"}`, func(r *DirectRoutingLogRow) {}},

		// Properties the schema does not define.
		{"unknown properties kept as raw JSON", `{` + req + `, "foo": "bar", "n": 12, "f": -1.5e3, "obj": {"a": 1, "b": [true, null]}, "arr": [ 1, "two" , {} ], "nul": null, "t": true, "esc": "q\"\u00e9"}`, func(r *DirectRoutingLogRow) {
			r.AdditionalProperties = map[string]string{
				"foo": `"bar"`, "n": "12", "f": "-1.5e3",
				"obj": `{"a":1,"b":[true,null]}`, "arr": `[1,"two",{}]`,
				"nul": "null", "t": "true", "esc": `"q\"\u00e9"`,
			}
		}},
		{"whitespace inside strings of unknown objects survives", `{` + req + `, "obj": {"k": "a b\tc"}}`, func(r *DirectRoutingLogRow) {
			r.AdditionalProperties = map[string]string{"obj": `{"k":"a b\tc"}`}
		}},
		{"odata annotations kept", `{"@odata.type": "#microsoft.graph.callRecords.directRoutingLogRow", ` + req + `, "duration@odata.type": "#Int32"}`, func(r *DirectRoutingLogRow) {
			r.AdditionalProperties = map[string]string{
				"@odata.type":         `"#microsoft.graph.callRecords.directRoutingLogRow"`,
				"duration@odata.type": `"#Int32"`,
			}
		}},
		{"beta properties kept", `{` + req + `, "userCountryCode": "US", "administrativeUnitInfos": [{"id": "au-1"}]}`, func(r *DirectRoutingLogRow) {
			r.AdditionalProperties = map[string]string{
				"userCountryCode":         `"US"`,
				"administrativeUnitInfos": `[{"id":"au-1"}]`,
			}
		}},
		{"names match case-sensitively", `{` + req + `, "ID": "other", "Duration": "x"}`, func(r *DirectRoutingLogRow) {
			r.AdditionalProperties = map[string]string{"ID": `"other"`, "Duration": `"x"`}
		}},
		{"empty property name", `{` + req + `, "": 1}`, func(r *DirectRoutingLogRow) {
			r.AdditionalProperties = map[string]string{"": "1"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := DirectRoutingLogRow{ID: "i-1", CorrelationID: "c-1"}
			tc.want(&want)
			var got DirectRoutingLogRow
			if err := ParseDirectRoutingRow([]byte(tc.json), &got); err != nil {
				t.Fatalf("ParseDirectRoutingRow: %v", err)
			}
			for _, d := range diffRows(&got, &want) {
				t.Error(d)
			}
			for k, v := range got.AdditionalProperties {
				if !json.Valid([]byte(v)) {
					t.Errorf("AdditionalProperties[%q] = %q is not valid JSON", k, v)
				}
			}

			// Every parsed row must survive the Avro round trip.
			data, err := got.AppendAvro(nil)
			if err != nil {
				t.Fatalf("AppendAvro: %v", err)
			}
			var back DirectRoutingLogRow
			if err := DecodeDirectRoutingRow(data, &back); err != nil {
				t.Fatalf("DecodeDirectRoutingRow: %v", err)
			}
			wantBack := truncatedToMillis(want)
			for _, d := range diffRows(&back, &wantBack) {
				t.Errorf("after Avro round trip: %s", d)
			}
		})
	}
}

func TestParseDirectRoutingRowErrors(t *testing.T) {
	tests := []struct {
		name   string
		json   string
		field  string
		reason string // exact RowError.Reason, or a prefix if it ends in "*"
	}{
		{"missing id", `{"correlationId": "c-1"}`, "id", "required property is missing"},
		{"missing correlationId", `{"id": "i-1"}`, "correlationId", "required property is missing"},
		{"empty object", `{}`, "id", "required property is missing"},
		{"id null", `{"id": null, "correlationId": "c-1"}`, "id", "required property is null"},
		{"id empty", `{"id": "", "correlationId": "c-1"}`, "id", "required property is empty"},
		{"id number", `{"id": 7, "correlationId": "c-1"}`, "id", "want string, got number"},
		{"correlationId null", `{"id": "i-1", "correlationId": null}`, "correlationId", "required property is null"},
		{"correlationId empty", `{"id": "i-1", "correlationId": ""}`, "correlationId", "required property is empty"},

		{"duration as string", `{` + req + `, "duration": "5"}`, "duration", "want integer, got string"},
		{"duration 5.5", `{` + req + `, "duration": 5.5}`, "duration", "want integer, got a number with a fraction or exponent"},
		{"duration 5.0", `{` + req + `, "duration": 5.0}`, "duration", "want integer, got a number with a fraction or exponent"},
		{"duration 5e0", `{` + req + `, "duration": 5e0}`, "duration", "want integer, got a number with a fraction or exponent"},
		{"duration above int32", `{` + req + `, "duration": 2147483648}`, "duration", "integer out of int32 range"},
		{"duration below int32", `{` + req + `, "finalSipCode": -2147483649}`, "finalSipCode", "integer out of int32 range"},
		{"huge integer is not repeated in the reason", `{` + req + `, "callEndSubReason": 123456789012345678901234567890123456789012345678901234567890}`, "callEndSubReason", "integer out of int32 range"},
		{"duration true", `{` + req + `, "duration": true}`, "duration", "want integer, got boolean"},
		{"duration object", `{` + req + `, "duration": {}}`, "duration", "want integer, got object"},
		{"successfulCall as string", `{` + req + `, "successfulCall": "true"}`, "successfulCall", "want boolean, got string"},
		{"mediaBypassEnabled as number", `{` + req + `, "mediaBypassEnabled": 1}`, "mediaBypassEnabled", "want boolean, got number"},
		{"userDisplayName as number", `{` + req + `, "userDisplayName": 42}`, "userDisplayName", "want string, got number"},
		{"callType as array", `{` + req + `, "callType": ["ByotIn"]}`, "callType", "want string, got array"},

		{"startDateTime garbage", `{` + req + `, "startDateTime": "garbage"}`, "startDateTime", "want RFC 3339 date-time, got a string of 7 bytes that is not one"},
		{"startDateTime number", `{` + req + `, "startDateTime": 1572566425}`, "startDateTime", "want date-time string, got number"},
		{"date only", `{` + req + `, "startDateTime": "2019-11-01"}`, "startDateTime", "want RFC 3339 date-time*"},
		{"no offset", `{` + req + `, "startDateTime": "2019-11-01T00:00:25.105"}`, "startDateTime", "want RFC 3339 date-time*"},
		{"space separator", `{` + req + `, "startDateTime": "2019-11-01 00:00:25Z"}`, "startDateTime", "want RFC 3339 date-time*"},
		{"Feb 29 in a common year", `{` + req + `, "endDateTime": "2019-02-29T00:00:00Z"}`, "endDateTime", "want RFC 3339 date-time*"},
		{"hour 24", `{` + req + `, "endDateTime": "2019-11-01T24:00:00Z"}`, "endDateTime", "want RFC 3339 date-time*"},
		{"empty fraction", `{` + req + `, "endDateTime": "2019-11-01T00:00:00.Z"}`, "endDateTime", "want RFC 3339 date-time*"},
		{"comma fraction", `{` + req + `, "endDateTime": "2019-11-01T00:00:00,5Z"}`, "endDateTime", "want RFC 3339 date-time*"},
		{"offset without colon", `{` + req + `, "endDateTime": "2019-11-01T00:00:00+0200"}`, "endDateTime", "want RFC 3339 date-time*"},
		{"offset hour 24", `{` + req + `, "endDateTime": "2019-11-01T00:00:00+24:00"}`, "endDateTime", "want RFC 3339 date-time*"},
		{"sentinel with trailing junk", `{` + req + `, "failureDateTime": "0001-01-01T00:00:00Zjunk"}`, "failureDateTime", "want RFC 3339 date-time*"},

		{"duplicate id", `{"id": "i-1", "correlationId": "c-1", "id": "i-2"}`, "id", "duplicate property"},
		{"duplicate via escape", `{"id": "i-1", "correlationId": "c-1", "\u0069d": "i-2"}`, "id", "duplicate property"},
		{"duplicate unknown", `{` + req + `, "x": 1, "x": 2}`, "x", "duplicate property"},

		{"malformed JSON", `{"id": "i-1", "correlationId": `, "", "malformed JSON at byte *"},
		{"trailing comma", `{` + req + `,}`, "", "malformed JSON at byte *"},
		{"two objects", `{` + req + `} {}`, "", "malformed JSON at byte *"},
		{"empty input", ``, "", "malformed JSON at byte 0: unexpected end of JSON input"},
		{"single quotes", `{'id': 'i-1'}`, "", "malformed JSON at byte *"},
		{"raw control character", "{\"id\": \"i\x01\", \"correlationId\": \"c-1\"}", "", "malformed JSON at byte *"},
		{"array", `[{` + req + `}]`, "", "want JSON object, got array"},
		{"string", `"row"`, "", "want JSON object, got string"},
		{"null", `null`, "", "want JSON object, got null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := DirectRoutingLogRow{ID: "stale", UserID: ptr("stale")}
			err := ParseDirectRoutingRow([]byte(tc.json), &row)
			var rerr *RowError
			if !errors.As(err, &rerr) {
				t.Fatalf("err = %v (%T), want *RowError", err, err)
			}
			if rerr.Field != tc.field {
				t.Errorf("Field = %q, want %q (err: %v)", rerr.Field, tc.field, err)
			}
			if prefix, ok := strings.CutSuffix(tc.reason, "*"); ok {
				if !strings.HasPrefix(rerr.Reason, prefix) {
					t.Errorf("Reason = %q, want prefix %q", rerr.Reason, prefix)
				}
			} else if rerr.Reason != tc.reason {
				t.Errorf("Reason = %q, want %q", rerr.Reason, tc.reason)
			}
			if diffs := diffRows(&row, &DirectRoutingLogRow{}); len(diffs) > 0 {
				t.Errorf("row not reset after error: %v", diffs)
			}
		})
	}
}

func TestRowErrorMessage(t *testing.T) {
	err := ParseDirectRoutingRow([]byte(`{`+req+`, "duration": "5"}`), new(DirectRoutingLogRow))
	if got, want := err.Error(), `row field "duration": want integer, got string`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err = ParseDirectRoutingRow([]byte(`[]`), new(DirectRoutingLogRow))
	if got, want := err.Error(), `row: want JSON object, got array`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestParseResetsReusedRow checks that a reused row carries nothing over and
// that pointers handed out for an earlier row stay untouched.
func TestParseResetsReusedRow(t *testing.T) {
	var row DirectRoutingLogRow
	full := `{` + req + `, "userId": "u-1", "startDateTime": "2019-11-01T00:00:25Z", "duration": 5, "successfulCall": true, "x": 1}`
	if err := ParseDirectRoutingRow([]byte(full), &row); err != nil {
		t.Fatal(err)
	}
	oldUser, oldStart, oldDuration, oldProps := row.UserID, row.StartDateTime, row.Duration, row.AdditionalProperties

	if err := ParseDirectRoutingRow([]byte(`{"id": "i-2", "correlationId": "c-2", "userId": "u-2", "duration": 6}`), &row); err != nil {
		t.Fatal(err)
	}
	want := DirectRoutingLogRow{ID: "i-2", CorrelationID: "c-2", UserID: ptr("u-2"), Duration: ptr[int32](6)}
	for _, d := range diffRows(&row, &want) {
		t.Error(d)
	}
	if *oldUser != "u-1" || !oldStart.Equal(time.Date(2019, 11, 1, 0, 0, 25, 0, time.UTC)) || *oldDuration != 5 || oldProps["x"] != "1" {
		t.Errorf("values from the first parse changed: %q %v %d %v", *oldUser, oldStart, *oldDuration, oldProps)
	}
}

// TestParseDoesNotAliasInput checks that the row does not share memory with
// raw, which callers reuse for the next row.
func TestParseDoesNotAliasInput(t *testing.T) {
	raw := []byte(`{` + req + `, "userId": "u-1", "x": "y"}`)
	var row DirectRoutingLogRow
	if err := ParseDirectRoutingRow(raw, &row); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = ' '
	}
	if row.ID != "i-1" || *row.UserID != "u-1" || row.AdditionalProperties["x"] != `"y"` {
		t.Errorf("row changed with its input: %+v", row)
	}
}

// TestParseNestingDepthMatchesStdlib checks the one grammar limit the
// hand-written scanner has to copy from encoding/json.
func TestParseNestingDepthMatchesStdlib(t *testing.T) {
	for _, depth := range []int{jsonscan.MaxDepth - 1, jsonscan.MaxDepth} {
		raw := []byte(`{` + req + `, "deep": ` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
		err := ParseDirectRoutingRow(raw, new(DirectRoutingLogRow))
		if valid := json.Valid(raw); (err == nil) != valid {
			t.Errorf("%d nested arrays in a row: json.Valid = %v, ParseDirectRoutingRow err = %v", depth, valid, err)
		}
	}
}

// TestFieldErrorYieldsToMalformedJSON checks that a type error early in a row
// does not hide that the row is not JSON at all.
func TestFieldErrorYieldsToMalformedJSON(t *testing.T) {
	err := ParseDirectRoutingRow([]byte(`{`+req+`, "duration": "5", "x": }`), new(DirectRoutingLogRow))
	var rerr *RowError
	if !errors.As(err, &rerr) || rerr.Field != "" || !strings.HasPrefix(rerr.Reason, "malformed JSON") {
		t.Errorf("err = %v, want malformed JSON", err)
	}
}
