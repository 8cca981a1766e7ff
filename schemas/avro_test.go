package schemas

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// seedRow is testdata/seed_row.json (the example row of the Graph
// getDirectRoutingCalls documentation) written out by hand.
func seedRow() DirectRoutingLogRow {
	return DirectRoutingLogRow{
		ID:                            "9e8bba57-dc14-533a-a7dd-f0da6575eed1",
		CorrelationID:                 "c98e1515-a937-4b81-b8a8-3992afde64e0",
		UserID:                        ptr("db03c14b-06eb-4189-939b-7cbf3a20ba27"),
		UserPrincipalName:             ptr("richard.malk@contoso.com"),
		UserDisplayName:               ptr("Richard Malk"),
		StartDateTime:                 ptr(time.UnixMilli(1572566425105).UTC()), // 2019-11-01T00:00:25.105Z
		InviteDateTime:                ptr(time.UnixMilli(1572566421949).UTC()), // 2019-11-01T00:00:21.949Z
		FailureDateTime:               nil,                                      // "0001-01-01T00:00:00Z" placeholder
		EndDateTime:                   ptr(time.UnixMilli(1572566430105).UTC()), // 2019-11-01T00:00:30.105Z
		Duration:                      ptr[int32](5),
		CallType:                      ptr("ByotIn"),
		SuccessfulCall:                ptr(true),
		CallerNumber:                  ptr("+12345678***"),
		CalleeNumber:                  ptr("+01234567***"),
		MediaPathLocation:             ptr("USWE"),
		SignalingLocation:             ptr("EUNO"),
		FinalSipCode:                  ptr[int32](0),
		CallEndSubReason:              ptr[int32](540000),
		FinalSipCodePhrase:            ptr("BYE"),
		TrunkFullyQualifiedDomainName: ptr("tll-audiocodes01.adatum.biz"),
		MediaBypassEnabled:            ptr(false),
		AdditionalProperties:          nil,
	}
}

func TestGoldenSeedRow(t *testing.T) {
	raw, err := os.ReadFile("testdata/seed_row.json")
	if err != nil {
		t.Fatal(err)
	}
	want := seedRow()
	if got := want.StartDateTime.Format(time.RFC3339Nano); got != "2019-11-01T00:00:25.105Z" {
		t.Fatalf("hand-written expectation is off: startDateTime %s", got)
	}

	var row DirectRoutingLogRow
	if err := ParseDirectRoutingRow(raw, &row); err != nil {
		t.Fatalf("ParseDirectRoutingRow: %v", err)
	}
	for _, d := range diffRows(&row, &want) {
		t.Errorf("parsed: %s", d)
	}

	data, err := row.AppendAvro(nil)
	if err != nil {
		t.Fatalf("AppendAvro: %v", err)
	}
	const golden = "testdata/seed_row.avro"
	if *update {
		if err := os.WriteFile(golden, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantData, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(data, wantData) {
		t.Errorf("Avro bytes differ from %s:\ngot  %x\nwant %x", golden, data, wantData)
	}

	var back DirectRoutingLogRow
	if err := DecodeDirectRoutingRow(wantData, &back); err != nil {
		t.Fatalf("DecodeDirectRoutingRow: %v", err)
	}
	for _, d := range diffRows(&back, &want) {
		t.Errorf("decoded: %s", d)
	}
}

// TestGoldenBytesIndependently reads the golden file with the test's own
// Avro decoder, so the wire format is checked against the Avro
// specification and not only against hamba reading its own output.
func TestGoldenBytesIndependently(t *testing.T) {
	data, err := os.ReadFile("testdata/seed_row.avro")
	if err != nil {
		t.Fatal(err)
	}
	got, err := specDecode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id":                            "9e8bba57-dc14-533a-a7dd-f0da6575eed1",
		"correlationId":                 "c98e1515-a937-4b81-b8a8-3992afde64e0",
		"userId":                        "db03c14b-06eb-4189-939b-7cbf3a20ba27",
		"userPrincipalName":             "richard.malk@contoso.com",
		"userDisplayName":               "Richard Malk",
		"startDateTime":                 int64(1572566425105),
		"inviteDateTime":                int64(1572566421949),
		"failureDateTime":               nil,
		"endDateTime":                   int64(1572566430105),
		"duration":                      int32(5),
		"callType":                      "ByotIn",
		"successfulCall":                true,
		"callerNumber":                  "+12345678***",
		"calleeNumber":                  "+01234567***",
		"mediaPathLocation":             "USWE",
		"signalingLocation":             "EUNO",
		"finalSipCode":                  int32(0),
		"callEndSubReason":              int32(540000),
		"finalSipCodePhrase":            "BYE",
		"trunkFullyQualifiedDomainName": "tll-audiocodes01.adatum.biz",
		"mediaBypassEnabled":            false,
		"additionalProperties":          nil,
		"tenantId":                      nil,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%v\nwant\n%v", got, want)
	}
}

// fullRow sets every field, with sub-millisecond timestamps.
func fullRow() DirectRoutingLogRow {
	return DirectRoutingLogRow{
		ID:                            "id-Zoë",
		CorrelationID:                 "corr-李雷",
		UserID:                        ptr(""),
		UserPrincipalName:             ptr("zoe@contoso.com"),
		UserDisplayName:               ptr("Zoë Ångström"),
		StartDateTime:                 utc(2021, 5, 6, 1, 48, 48, 795_083_800),
		InviteDateTime:                utc(2021, 5, 6, 1, 48, 40, 999_999_999),
		FailureDateTime:               utc(1969, 12, 31, 23, 59, 59, 999_500_000), // before the epoch: floors
		EndDateTime:                   utc(9999, 12, 31, 23, 59, 59, 999_000_000),
		Duration:                      ptr[int32](-2147483648),
		CallType:                      ptr("ByotOut"),
		SuccessfulCall:                ptr(false),
		CallerNumber:                  ptr("李雷"),
		CalleeNumber:                  ptr("😀"),
		MediaPathLocation:             ptr("USWE"),
		SignalingLocation:             ptr("EUNO"),
		FinalSipCode:                  ptr[int32](2147483647),
		CallEndSubReason:              ptr[int32](560484),
		FinalSipCodePhrase:            ptr(""),
		TrunkFullyQualifiedDomainName: ptr("sbc.example.com"),
		MediaBypassEnabled:            ptr(true),
		AdditionalProperties:          map[string]string{"foo": `"bar"`, "n": "12", "obj": `{"a":1}`, "ключ": `"значение"`},
	}
}

func TestAvroRoundTripFullRow(t *testing.T) {
	row := fullRow()
	data, err := row.AppendAvro(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back DirectRoutingLogRow
	if err := DecodeDirectRoutingRow(data, &back); err != nil {
		t.Fatal(err)
	}
	want := truncatedToMillis(row)
	for _, d := range diffRows(&back, &want) {
		t.Error(d)
	}
	if got := *back.FailureDateTime; !got.Equal(utc(1969, 12, 31, 23, 59, 59, 999_000_000).UTC()) {
		t.Errorf("pre-epoch timestamp = %v, want floored to ...59.999", got)
	}

	spec, err := specDecode(data)
	if err != nil {
		t.Fatalf("spec decode: %v", err)
	}
	if got := spec["startDateTime"]; got != int64(1620265728795) {
		t.Errorf("startDateTime millis = %v", got)
	}
	if got := spec["additionalProperties"]; !reflect.DeepEqual(got, row.AdditionalProperties) {
		t.Errorf("additionalProperties = %v", got)
	}
}

func TestAvroAdditionalPropertiesNilVersusEmpty(t *testing.T) {
	for _, props := range []map[string]string{nil, {}} {
		row := DirectRoutingLogRow{ID: "a", CorrelationID: "b", AdditionalProperties: props}
		data, err := row.AppendAvro(nil)
		if err != nil {
			t.Fatal(err)
		}
		var back DirectRoutingLogRow
		if err := DecodeDirectRoutingRow(data, &back); err != nil {
			t.Fatal(err)
		}
		if (back.AdditionalProperties == nil) != (props == nil) || len(back.AdditionalProperties) != 0 {
			t.Errorf("props %#v came back as %#v", props, back.AdditionalProperties)
		}
	}
}

func TestAvroManyAdditionalProperties(t *testing.T) {
	// More entries than hamba's default block length of 100, so the map is
	// written as several blocks.
	row := DirectRoutingLogRow{ID: "a", CorrelationID: "b", AdditionalProperties: map[string]string{}}
	for i := range 250 {
		row.AdditionalProperties[fmt.Sprintf("k%03d", i)] = fmt.Sprint(i)
	}
	data, err := row.AppendAvro(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back DirectRoutingLogRow
	if err := DecodeDirectRoutingRow(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.AdditionalProperties, row.AdditionalProperties) {
		t.Errorf("got %d entries back, want %d", len(back.AdditionalProperties), len(row.AdditionalProperties))
	}
	spec, err := specDecode(data)
	if err != nil {
		t.Fatalf("spec decode: %v", err)
	}
	if !reflect.DeepEqual(spec["additionalProperties"], row.AdditionalProperties) {
		t.Error("spec decoder disagrees on additionalProperties")
	}
}

func TestAppendAvroAppends(t *testing.T) {
	row := seedRow()
	alone, err := row.AppendAvro(nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got, err := row.AppendAvro(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append([]byte("prefix"), alone...)) {
		t.Errorf("AppendAvro(prefix) = %q", got)
	}
}

func TestDecodeRejectsTruncatedAndTrailing(t *testing.T) {
	row := fullRow()
	data, err := row.AppendAvro(nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(data) {
		var back DirectRoutingLogRow
		if err := DecodeDirectRoutingRow(data[:n], &back); err == nil {
			t.Errorf("DecodeDirectRoutingRow accepted the first %d of %d bytes", n, len(data))
		}
	}
	var back DirectRoutingLogRow
	if err := DecodeDirectRoutingRow(append(data[:len(data):len(data)], 0), &back); err == nil {
		t.Error("DecodeDirectRoutingRow accepted a trailing byte")
	}
	// The pooled reader must not carry the failure into the next call.
	if err := DecodeDirectRoutingRow(data, &back); err != nil {
		t.Errorf("decode after failures: %v", err)
	}
}

func TestDecodeRejectsBadUnionIndex(t *testing.T) {
	// id "a", correlationId "b", then union index 2 for userId.
	data := []byte{0x02, 'a', 0x02, 'b', 0x04}
	var row DirectRoutingLogRow
	if err := DecodeDirectRoutingRow(data, &row); err == nil {
		t.Error("accepted union index 2")
	}
}

// TestDecodeDoesNotWriteThroughOldPointers guards against hamba's habit of
// decoding into the existing pointee of a non-nil pointer.
func TestDecodeDoesNotWriteThroughOldPointers(t *testing.T) {
	first := fullRow()
	data, err := seedRowAvro(t)
	if err != nil {
		t.Fatal(err)
	}
	row := first
	oldDuration, oldUser, oldProps := row.Duration, row.UserDisplayName, row.AdditionalProperties
	if err := DecodeDirectRoutingRow(data, &row); err != nil {
		t.Fatal(err)
	}
	if *oldDuration != -2147483648 || *oldUser != "Zoë Ångström" || len(oldProps) != 4 {
		t.Errorf("decode wrote through the previous row's values: %d %q %v", *oldDuration, *oldUser, oldProps)
	}
	want := seedRow()
	for _, d := range diffRows(&row, &want) {
		t.Error(d)
	}
}

func seedRowAvro(t *testing.T) ([]byte, error) {
	t.Helper()
	return os.ReadFile("testdata/seed_row.avro")
}

func TestAvroConcurrent(t *testing.T) {
	rows := []DirectRoutingLogRow{seedRow(), fullRow(), {ID: "x", CorrelationID: "y"}}
	var want [][]byte
	for _, r := range rows {
		b, err := r.AppendAvro(nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			var buf []byte
			var back DirectRoutingLogRow
			for i := range 200 {
				k := (g + i) % len(rows)
				var err error
				buf, err = rows[k].AppendAvro(buf[:0])
				// Map entries come out in Go map order, so only the length
				// is stable for rows with AdditionalProperties.
				if err == nil && len(buf) != len(want[k]) {
					err = fmt.Errorf("row %d encoded to %d bytes under concurrency, want %d", k, len(buf), len(want[k]))
				}
				if err == nil {
					err = DecodeDirectRoutingRow(buf, &back)
				}
				if err == nil {
					wantBack := truncatedToMillis(rows[k])
					if d := diffRows(&back, &wantBack); len(d) > 0 {
						err = fmt.Errorf("row %d decoded differently: %v", k, d)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// specDecode decodes a DirectRoutingLogRow written in Avro binary encoding
// straight from the specification: zig-zag varints, length-prefixed UTF-8
// strings, union branch indexes, and map blocks with positive counts only
// (this package does not write block byte-size headers). Values come back
// as string, int32, int64 (timestamp millis), bool, map[string]string or
// nil.
func specDecode(b []byte) (map[string]any, error) {
	r := &specReader{b: b}
	out := map[string]any{}
	for _, name := range schemaFieldNames {
		if name == "id" || name == "correlationId" {
			out[name] = r.string()
			continue
		}
		switch branch := r.long(); branch {
		case 0:
			out[name] = nil
			continue
		case 1:
		default:
			return nil, fmt.Errorf("%s: union branch %d", name, branch)
		}
		switch wantValueType[name] {
		case "string":
			out[name] = r.string()
		case "long":
			out[name] = r.long()
		case "int":
			v := r.long()
			if v != int64(int32(v)) {
				return nil, fmt.Errorf("%s: int %d out of range", name, v)
			}
			out[name] = int32(v)
		case "boolean":
			v := r.byte()
			if v > 1 {
				return nil, fmt.Errorf("%s: boolean byte %d", name, v)
			}
			out[name] = v == 1
		case "map":
			m := map[string]string{}
			for {
				n := r.long()
				if n < 0 {
					return nil, fmt.Errorf("%s: block with a byte-size header", name)
				}
				if n == 0 {
					break
				}
				for range n {
					k := r.string()
					m[k] = r.string()
				}
			}
			out[name] = m
		}
		if r.err != nil {
			break
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return out, nil
}

type specReader struct {
	b   []byte
	err error
}

func (r *specReader) byte() byte {
	if len(r.b) == 0 {
		r.err = errors.New("unexpected end")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *specReader) long() int64 {
	var u uint64
	for shift := 0; shift < 64; shift += 7 {
		c := r.byte()
		u |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return int64(u>>1) ^ -int64(u&1)
		}
	}
	r.err = errors.New("varint too long")
	return 0
}

func (r *specReader) string() string {
	n := r.long()
	if n < 0 || n > int64(len(r.b)) {
		r.err = fmt.Errorf("bad string length %d", n)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
