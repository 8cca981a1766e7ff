package schemas

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/callstream/callstream/internal/jsonscan"
	"github.com/callstream/callstream/internal/srcompat"
)

func callRecordsCodecFor(t testing.TB) *Codec {
	t.Helper()
	c, err := For("call-records", VersionV1)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Records() || c.Aggregate() || c.Name() != CallRecordsSchemaName {
		t.Fatalf("For(call-records): Records %v, Aggregate %v, Name %s", c.Records(), c.Aggregate(), c.Name())
	}
	return c
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crGet walks a decoded record by a path such as
// sessions[0].segments[0].media[0].streams[1].averageJitter.
func crGet(t *testing.T, v any, path string) any {
	t.Helper()
	for part := range strings.SplitSeq(path, ".") {
		name, idx, _ := strings.Cut(part, "[")
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %s is not reached through a record (%T)", path, name, v)
		}
		if v, ok = m[name]; !ok {
			t.Fatalf("%s: no field %s", path, name)
		}
		if idx != "" {
			i, _ := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			items, ok := v.([]any)
			if !ok || i >= len(items) {
				t.Fatalf("%s: %s is not an array with item %d (%T)", path, name, i, v)
			}
			v = items[i]
		}
	}
	return v
}

// normalize turns hamba's and our generic forms into one: hamba's union
// values ({"branch": value}) unwrapped, integers as int64, string arrays
// and maps as []any and map[string]any.
func normalize(s avro.Schema, v any) any {
	if v == nil {
		return nil
	}
	if u, ok := s.(*avro.UnionSchema); ok {
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for _, inner := range m {
				return normalize(u.Types()[1], inner)
			}
		}
		return normalize(u.Types()[1], v)
	}
	s = deref(s)
	switch st := s.(type) {
	case *avro.RecordSchema:
		m := v.(map[string]any)
		out := map[string]any{}
		for _, f := range st.Fields() {
			out[f.Name()] = normalize(f.Type(), m[f.Name()])
		}
		return out
	case *avro.ArraySchema:
		rv := reflect.ValueOf(v)
		out := []any{}
		for i := range rv.Len() {
			out = append(out, normalize(st.Items(), rv.Index(i).Interface()))
		}
		return out
	case *avro.MapSchema:
		rv := reflect.ValueOf(v)
		out := map[string]any{}
		for _, k := range rv.MapKeys() {
			out[k.String()] = rv.MapIndex(k).Interface()
		}
		return out
	}
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case time.Time:
		return x.UTC()
	}
	return v
}

// TestCallRecordGolden encodes the fixtures (Graph's documented "Get
// callRecord" answer, and one with every feature) and checks the bytes
// against the golden files, then decodes them with hamba (the oracle) and
// with Codec.Decode, which must agree, and checks fields one by one.
func TestCallRecordGolden(t *testing.T) {
	c := callRecordsCodecFor(t).WithTenant("11111111-2222-3333-4444-555555555555")
	for _, name := range []string{"callrecord_docs", "callrecord_full"} {
		t.Run(name, func(t *testing.T) {
			raw := readFixture(t, name+".json")
			id, key, body, err := c.Encode(raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			golden := "testdata/" + name + ".avro"
			if *update {
				if err := os.WriteFile(golden, body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want, err := os.ReadFile(golden); err != nil || !bytes.Equal(body, want) {
				t.Errorf("Encode does not match %s (run with -update after checking the change): %v", golden, err)
			}
			var viaHamba any
			if err := avro.Unmarshal(c.Schema(), body, &viaHamba); err != nil {
				t.Fatalf("hamba cannot read the record: %v", err)
			}
			ours, err := c.Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			if h, o := normalize(c.Schema(), viaHamba), normalize(c.Schema(), ours); !reflect.DeepEqual(h, o) {
				t.Errorf("Decode and hamba disagree:\nhamba %v\nours  %v", h, o)
			}
			checkFields(t, name, id, key, ours)
		})
	}
}

func checkFields(t *testing.T, name, id, key string, rec any) {
	t.Helper()
	ms := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UTC().Truncate(time.Millisecond)
	}
	type want struct {
		path string
		v    any
	}
	var wants []want
	switch name {
	case "callrecord_docs":
		if id != "e523d2ed-2966-4b6b-925b-754a88034cc5#1" || key != "e523d2ed-2966-4b6b-925b-754a88034cc5" {
			t.Errorf("id %q key %q", id, key)
		}
		wants = []want{
			{"version", int64(1)},
			{"type", "peerToPeer"},
			{"modalities", []string{"audio"}},
			{"startDateTime", ms("2020-02-25T18:52:21.216Z")},
			{"organizer_v2.identity.user.displayName", "Abbie Wilkins"},
			{"organizer_v2.identity.user.tenantId", "dc368399-474c-4d40-900c-6265431fd81f"},
			{"participants_v2[1].identity.user.additionalProperties", map[string]string{"userPrincipalName": `"owen.franklin@contoso.com"`}},
			{"sessions[0].caller.odataType", "#microsoft.graph.callRecords.participantEndpoint"},
			{"sessions[0].caller.userAgent.odataType", "#microsoft.graph.callRecords.clientUserAgent"},
			{"sessions[0].caller.userAgent.platform", "android"},
			{"sessions[0].callee.feedback.rating", "poor"},
			{"sessions[0].additionalProperties", map[string]string{"isTest": "false"}},
			{"sessions[0].segments[0].media[0].callerNetwork.linkSpeed", int64(54000000)},
			{"sessions[0].segments[0].media[0].callerDevice.receivedSignalLevel", int32(-10)},
			{"sessions[0].segments[0].media[0].streams[0].averageJitter", int64(16000)},
			{"sessions[0].segments[0].media[0].streams[0].averageAudioDegradation", nil},
			{"sessions[0].segments[0].media[0].streams[0].additionalProperties", nil},
			{"organizer", nil},
			{"participants", nil},
			{"tenantId", "11111111-2222-3333-4444-555555555555"},
		}
		if ap := crGet(t, rec, "additionalProperties").(map[string]string); len(ap) != 3 || ap["@odata.context"] == "" {
			t.Errorf("additionalProperties = %v, want the three @odata.context annotations", ap)
		}
	case "callrecord_full":
		if id != "7c3b2a10-0000-4000-8000-000000000001#4" || key != "7c3b2a10-0000-4000-8000-000000000001" {
			t.Errorf("id %q key %q", id, key)
		}
		stream := "sessions[1].segments[0].media[0].streams[1]."
		wants = []want{
			{"startDateTime", ms("2026-03-02T09:00:00.999Z")},
			{"endDateTime", nil}, // the 0001-01-01 placeholder
			{"additionalProperties", map[string]string{
				"@odata.context": `"https://graph.microsoft.com/v1.0/$metadata#communications/callRecords(sessions(segments()))/$entity"`,
				"futureTopLevel": `{"nested":[1,{"b":null}]}`, "tenantId": `"from-graph"`}},
			{"participants[1].phone.id", "+15555550100"},
			{"participants_v2[0].administrativeUnitInfos[0].id", "au-1"},
			{"participants_v2[1].administrativeUnitInfos", []any{}},
			{"participants_v2[1].identity", nil},
			{"sessions[0].startDateTime", ms("2026-03-02T09:00:00.123Z")}, // +01:00
			{"sessions[1].endDateTime", nil},
			{"sessions[2].modalities", []string{}},
			{"sessions[2].segments", []any{}},
			{"sessions[2].callee", nil},
			{"sessions[1].failureInfo.stage", "midcall"},
			{"sessions[1].failureInfo.additionalProperties", map[string]string{"newStageDetail": `"x"`}},
			{"sessions[1].additionalProperties", map[string]string{"sessionExtra1": "1"}},
			{"sessions[0].caller.odataType", "#microsoft.graph.callRecords.participantEndpoint"},
			{"sessions[0].caller.identity.user.tenantId", "t-1"},
			{"sessions[0].caller.identity.phone", nil},
			{"sessions[0].caller.identity.endpointType", "default"},
			{"sessions[0].caller.feedback.text", "fine été"},
			{"sessions[0].caller.feedback.tokens", map[string]string{"Echo": "true", "NoSound": "false"}},
			{"sessions[0].caller.userAgent.communicationServiceId", nil},
			{"sessions[0].callee.odataType", "#microsoft.graph.callRecords.serviceEndpoint"},
			{"sessions[0].callee.userAgent.odataType", "#microsoft.graph.callRecords.serviceUserAgent"},
			{"sessions[0].callee.userAgent.role", "mediationServer"},
			{"sessions[0].callee.userAgent.additionalProperties", map[string]string{"futureAgentProp": `{"a":[1,2]}`}},
			{"sessions[0].callee.feedback", nil},
			{"sessions[1].segments[0].endDateTime", nil},
			{"sessions[1].segments[0].media[0].callerDevice.howlingEventCount", int32(2)},
			{"sessions[1].segments[0].media[0].callerDevice.cpuInsufficentEventRatio", 0.0},
			{"sessions[1].segments[0].media[0].calleeNetwork.port", int32(50000)},
			{"sessions[1].segments[0].media[0].calleeNetwork.traceRouteHops[0].roundTripTime", int64(1000)},
			{"sessions[1].segments[0].media[0].calleeNetwork.traceRouteHops[1].roundTripTime", int64(12345)},
			{"sessions[1].segments[0].media[0].calleeNetwork.traceRouteHops[1].additionalProperties",
				map[string]string{"hopExtra": `"y"`, "roundTripTime": `"PT0.0123456789S"`}},
			{"sessions[1].segments[0].media[0].streams[0].averageJitter", int64(16000)},
			{"sessions[1].segments[0].media[0].streams[0].maxJitter", int64(30000)}, // zeros past the µs lose nothing
			{"sessions[1].segments[0].media[0].streams[0].averageRoundTripTime", int64(62_500_000)},
			{"sessions[1].segments[0].media[0].streams[0].maxRoundTripTime", int64(93_600_000_000)},
			{"sessions[1].segments[0].media[0].streams[0].audioCodec", "brandNewCodec"},
			{"sessions[1].segments[0].media[0].streams[0].averagePacketLossRate", 0.0},
			{"sessions[1].segments[0].media[0].streams[0].packetUtilization", int64(12345)},
			{"sessions[1].segments[0].media[0].streams[0].wasMediaBypassed", false},
			{"sessions[1].segments[0].media[0].streams[0].isAudioForwardErrorCorrectionUsed", nil},
			{"sessions[1].segments[0].media[0].streams[0].additionalProperties", nil},
			{stream + "averageJitter", int64(16123)},
			{stream + "maxJitter", nil},
			{stream + "rmsFreezeDuration", int64(-500_000)},
			{stream + "averageFreezeDuration", nil},
			{stream + "additionalProperties", map[string]string{
				"averageJitter": `"PT0.0161234567S"`, "maxJitter": `"P1M"`, "streamExtra": `{"k":"v"}`}},
			{"tenantId", "11111111-2222-3333-4444-555555555555"},
		}
	}
	for _, w := range wants {
		if got := crGet(t, rec, w.path); !reflect.DeepEqual(got, w.v) {
			t.Errorf("%s = %#v, want %#v", w.path, got, w.v)
		}
	}
}

// TestCallRecordEncodeForms checks that Encode, EncodeShared and
// EncodeScanned (with the top-level scan the fetch client records) give
// the same bytes, id and key, that Encode's id and key do not alias raw,
// and that a codec without a tenant writes null.
func TestCallRecordEncodeForms(t *testing.T) {
	c := callRecordsCodecFor(t)
	raw := readFixture(t, "callrecord_full.json")
	for range 3 { // later rounds run on pooled encoders
		id, key, want, err := c.Encode(bytes.Clone(raw), []byte("hdr"))
		if err != nil {
			t.Fatal(err)
		}
		buf := bytes.Clone(raw)
		sid, skey, got, err := c.EncodeShared(buf, []byte("hdr"))
		if err != nil || sid != id || skey != key || !bytes.Equal(got, want) {
			t.Errorf("EncodeShared = %q %q %v, Encode = %q %q", sid, skey, err, id, key)
		}
		start := jsonscan.SkipSpace(raw, 0)
		end, scan, serr := jsonscan.Object(raw, start, 0, nil)
		if serr != nil {
			t.Fatal(serr)
		}
		cid, ckey, cgot, err := c.EncodeScanned(raw[start:end], scan, []byte("hdr"))
		if err != nil || cid != id || ckey != key || !bytes.Equal(cgot, want) {
			t.Errorf("EncodeScanned = %q %q %v, Encode = %q %q", cid, ckey, err, id, key)
		}
		if !bytes.HasSuffix(want, TenantSuffix("")) {
			t.Errorf("a codec without a tenant does not end the record with a null tenantId")
		}
		plain, perr := c.Decode(want[3:])
		if perr != nil || plain.(map[string]any)["tenantId"] != nil {
			t.Errorf("tenantId = %v (%v), want nil", plain, perr)
		}
	}
	id, key, _, _ := c.Encode(raw, nil)
	for i := range raw {
		raw[i] = 'x'
	}
	if id != "7c3b2a10-0000-4000-8000-000000000001#4" || key != "7c3b2a10-0000-4000-8000-000000000001" {
		t.Errorf("Encode's id %q and key %q changed with raw", id, key)
	}
}

// TestCallRecordErrors checks that bad records are *RowErrors naming the
// property by its path, and never its value.
func TestCallRecordErrors(t *testing.T) {
	c := callRecordsCodecFor(t)
	const secret = "SECRETVALUE"
	stream := func(s string) string {
		return `{"id":"r","version":1,"sessions":[{},{},{},{"segments":[{"media":[{"streams":[{},` + s + `]}]}]}]}`
	}
	for _, tc := range []struct{ name, raw, field, reason string }{
		{"bad duration", stream(`{"averageJitter":"` + secret + `"}`), "sessions[3].segments[0].media[0].streams[1].averageJitter", "ISO 8601 duration"},
		{"duration fraction on minutes", stream(`{"maxJitter":"PT1.5M"}`), "sessions[3].segments[0].media[0].streams[1].maxJitter", "ISO 8601 duration"},
		{"duration empty time part", stream(`{"maxJitter":"P1DT"}`), "sessions[3].segments[0].media[0].streams[1].maxJitter", "ISO 8601 duration"},
		{"duration overflow", stream(`{"maxJitter":"PT9999999999999999S"}`), "sessions[3].segments[0].media[0].streams[1].maxJitter", "ISO 8601 duration"},
		{"duration a number", stream(`{"maxJitter":0.016}`), "sessions[3].segments[0].media[0].streams[1].maxJitter", "want ISO 8601 duration string, got number"},
		{"bad timestamp", `{"id":"r","version":1,"sessions":[{"startDateTime":"` + secret + `"}]}`, "sessions[0].startDateTime", "RFC 3339"},
		{"bad top timestamp", `{"id":"r","version":1,"startDateTime":"2026-13-01T00:00:00Z"}`, "startDateTime", "RFC 3339"},
		{"missing id", `{"version":1}`, "id", "required property is missing"},
		{"empty id", `{"id":"","version":1}`, "id", "required property is empty"},
		{"id invalid UTF-8", "{\"id\":\"r\xff\",\"version\":1}", "id", "not valid UTF-8"},
		{"missing version", `{"id":"r"}`, "version", "required property is missing"},
		{"null version", `{"id":"r","version":null}`, "version", "required property is null"},
		{"version not an integer", `{"id":"r","version":1.5}`, "version", "fraction or exponent"},
		{"version a string", `{"id":"r","version":"1"}`, "version", "want integer, got string"},
		{"version out of range", `{"id":"r","version":9223372036854775808}`, "version", "out of int64 range"},
		{"duplicate key", `{"id":"r","version":1,"id":"s"}`, "id", "duplicate property"},
		{"duplicate unknown", `{"id":"r","version":1,"x":1,"y":2,"x":3}`, "x", "duplicate property"},
		{"duplicate at depth", `{"id":"r","version":1,"sessions":[{"caller":{"userAgent":{"role":"a","role":"b"}}}]}`, "sessions[0].caller.userAgent.role", "duplicate property"},
		{"duplicate token", `{"id":"r","version":1,"sessions":[{"caller":{"feedback":{"tokens":{"a":true,"a":false}}}}]}`, "sessions[0].caller.feedback.tokens.a", "duplicate property"},
		{"int32 out of range", stream(`{}],"callerDevice":{"howlingEventCount":2147483648},"x":[{}`), "sessions[3].segments[0].media[0].callerDevice.howlingEventCount", "out of int32 range"},
		{"wrong type at depth", `{"id":"r","version":1,"sessions":[{"segments":[{"media":[{"streams":[{"streamId":5}]}]}]}]}`, "sessions[0].segments[0].media[0].streams[0].streamId", "want string, got number"},
		{"record not an object", `{"id":"r","version":1,"sessions":[{"caller":"` + secret + `"}]}`, "sessions[0].caller", "want object, got string"},
		{"array not an array", `{"id":"r","version":1,"sessions":{}}`, "sessions", "want array, got object"},
		{"array item null", `{"id":"r","version":1,"sessions":[{},null]}`, "sessions[1]", "want object, got null"},
		{"modalities item", `{"id":"r","version":1,"modalities":["audio",1]}`, "modalities", "item 1"},
		{"not an object", `[1]`, "", "want JSON object, got array"},
		{"malformed", `{"id":"r",`, "", "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, out, err := c.Encode([]byte(tc.raw), []byte("hdr"))
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("Encode = %v, want a *RowError", err)
			}
			if re.Field != tc.field || !strings.Contains(re.Reason, tc.reason) {
				t.Errorf("error %q (field %q), want field %q and a reason containing %q", err, re.Field, tc.field, tc.reason)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q repeats the value", err)
			}
			if string(out) != "hdr" {
				t.Errorf("dst changed on error: %q", out)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		s   string
		us  int64
		fit durationFit
		ok  bool
	}{
		{"PT1S", 1_000_000, durationExact, true},
		{"PT0.016S", 16_000, durationExact, true},
		{"PT0.0160000S", 16_000, durationExact, true},
		{"PT0.0160001S", 16_000, durationLossy, true},
		{"PT1H2M3.000004S", 3_723_000_004, durationExact, true},
		{"P2W", 14 * 86_400_000_000, durationExact, true},
		{"P1D", 86_400_000_000, durationExact, true},
		{"-PT0.5S", -500_000, durationExact, true},
		{"P0D", 0, durationExact, true},
		{"P1Y", 0, durationNotFixed, true},
		{"P1M2D", 0, durationNotFixed, true},
		{"PT2M", 120_000_000, durationExact, true},
		{"", 0, 0, false},
		{"P", 0, 0, false},
		{"PT", 0, 0, false},
		{"P1DT", 0, 0, false},
		{"PT1S2M", 0, 0, false},
		{"PT1.S", 0, 0, false},
		{"PT.5S", 0, 0, false},
		{"P1.5D", 0, 0, false},
		{"PT1H1H", 0, 0, false},
		{"1S", 0, 0, false},
		{"PT1s", 0, 0, false},
		{"P1DT1H ", 0, 0, false},
		{"PT9223372036854.775807S", 9223372036854775807, durationExact, true},
		{"PT9223372036854.775808S", 0, 0, false},
		{"PT99999999999999999999999S", 0, 0, false},
	} {
		us, fit, ok := parseDuration(tc.s)
		if ok != tc.ok || (ok && (us != tc.us || fit != tc.fit)) {
			t.Errorf("parseDuration(%q) = %d, %d, %v; want %d, %d, %v", tc.s, us, fit, ok, tc.us, tc.fit, tc.ok)
		}
	}
}

// TestCallRecordSchemaCompatibleWithItself checks the schema under the
// registry's own check, as a first registration followed by itself.
func TestCallRecordSchemaCompatibleWithItself(t *testing.T) {
	if p := srcompat.Check(CallRecordsSchemaText(), CallRecordsSchemaText()); p != "" {
		t.Errorf("CallRecord.avsc does not read itself: %s", p)
	}
}

// TestDecodeCallRecordExactly checks that a record cut anywhere, or with a
// byte added, is an error.
func TestDecodeCallRecordExactly(t *testing.T) {
	c := callRecordsCodecFor(t)
	_, _, body, err := c.Encode(readFixture(t, "callrecord_docs.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(body) {
		if _, err := c.Decode(body[:i]); err == nil {
			t.Fatalf("Decode of the first %d of %d bytes succeeded", i, len(body))
		}
	}
	if _, err := c.Decode(append(bytes.Clone(body), 0)); err == nil {
		t.Errorf("Decode with a trailing byte succeeded")
	}
}

// FuzzCallRecord checks that any input is either a *RowError or a record
// that both hamba and Decode read back, and that EncodeShared agrees.
func FuzzCallRecord(f *testing.F) {
	for _, name := range []string{"callrecord_docs.json", "callrecord_full.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"r","version":1,"sessions":[{"segments":[{"media":[{"streams":[{"averageJitter":"PT0.0000001S"}]}]}]}]}`))
	c, err := For("call-records", VersionV1)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, key, body, err := c.Encode(raw, nil)
		sid, skey, sbody, serr := c.EncodeShared(bytes.Clone(raw), nil)
		if (err == nil) != (serr == nil) || id != sid || key != skey || !bytes.Equal(body, sbody) {
			t.Fatalf("Encode = %q %q %v, EncodeShared = %q %q %v", id, key, err, sid, skey, serr)
		}
		if err != nil {
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RowError", err)
			}
			return
		}
		if _, err := c.Decode(body); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		var v any
		if err := avro.Unmarshal(c.Schema(), body, &v); err != nil {
			t.Fatalf("hamba: %v", err)
		}
	})
}

// tenSessions is a call record with ten sessions, each with one segment of
// two media of two streams.
func tenSessions(b testing.TB) []byte {
	var s strings.Builder
	s.WriteString(`{"id":"e523d2ed-2966-4b6b-925b-754a88034cc5","version":3,"type":"groupCall","modalities":["audio"],` +
		`"startDateTime":"2026-03-02T09:00:00.1234567Z","endDateTime":"2026-03-02T10:00:00Z","sessions":[`)
	doc := readFixture(b, "callrecord_full.json")
	// One session of the full fixture (sessions[0]), repeated.
	start := bytes.Index(doc, []byte(`"sessions": [`))
	sess := doc[start+len(`"sessions": [`):]
	end, err := jsonscan.Value(sess, jsonscan.SkipSpace(sess, 0), 2)
	if err != nil {
		b.Fatal(err)
	}
	one := sess[jsonscan.SkipSpace(sess, 0):end]
	for i := range 10 {
		if i > 0 {
			s.WriteByte(',')
		}
		s.Write(one)
	}
	s.WriteString(`]}`)
	return []byte(s.String())
}

func BenchmarkCallRecord10Sessions(b *testing.B) {
	c := callRecordsCodecFor(b).WithTenant("t")
	raw := tenSessions(b)
	start := jsonscan.SkipSpace(raw, 0)
	_, scan, err := jsonscan.Object(raw, start, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 64<<10)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := c.EncodeScanned(raw, scan, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
