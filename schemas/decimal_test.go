package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func mustDecimal(tb testing.TB, s string) Decimal {
	tb.Helper()
	d, err := ParseDecimal(s)
	if err != nil {
		tb.Fatalf("ParseDecimal(%q): %v", s, err)
	}
	return d
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in       string
		unscaled int64
		str      string
	}{
		{"0", 0, "0"},
		{"0.00", 0, "0"},
		{"-0", 0, "0"},
		{"-0.0", 0, "0"},
		{"0.1", 100_000, "0.1"},
		{"0.0190", 19_000, "0.019"},
		{"12", 12_000_000, "12"},
		{"12.50", 12_500_000, "12.5"},
		{"1234567.123456", 1_234_567_123_456, "1234567.123456"},
		{"-1234567.123456", -1_234_567_123_456, "-1234567.123456"},
		{"-0.5", -500_000, "-0.5"},
		{"0.000001", 1, "0.000001"},
		{"-0.000001", -1, "-0.000001"},
		{"999999999999.999999", 999_999_999_999_999_999, "999999999999.999999"},
		{"-999999999999.999999", -999_999_999_999_999_999, "-999999999999.999999"},
		{"1e2", 100_000_000, "100"},
		{"1.5E-3", 1_500, "0.0015"},
		{"1.25E+2", 125_000_000, "125"},
		{"100e-8", 1, "0.000001"},
		{"1E11", 100_000_000_000_000_000, "100000000000"},
		// Zeros past the scale lose nothing, so they are accepted.
		{"12.340000000", 12_340_000, "12.34"},
		{"0.0000000000000000000000", 0, "0"},
		{"0e999999999999999999999", 0, "0"},
		{"0.1000000e1", 1_000_000, "1"},
	}
	for _, tc := range tests {
		d, err := ParseDecimal(tc.in)
		if err != nil {
			t.Errorf("ParseDecimal(%q): %v", tc.in, err)
			continue
		}
		if d.Unscaled() != tc.unscaled || d.String() != tc.str {
			t.Errorf("ParseDecimal(%q) = %d (%s), want %d (%s)", tc.in, d.Unscaled(), d, tc.unscaled, tc.str)
		}
		back, err := ParseDecimal(d.String())
		if err != nil || back != d {
			t.Errorf("ParseDecimal(%q.String() = %q) = %v, %v", tc.in, d.String(), back, err)
		}
		// big.Rat refuses the huge exponent of one case; the others
		// check Rat against it.
		if want, ok := new(big.Rat).SetString(tc.in); ok && d.Rat().Cmp(want) != 0 {
			t.Errorf("ParseDecimal(%q).Rat() = %s, want %s", tc.in, d.Rat(), want)
		}
	}
}

func TestParseDecimalErrors(t *testing.T) {
	tests := []struct {
		in     string
		range_ bool // ErrDecimalRange rather than a syntax error
		want   string
	}{
		{"0.1234567", true, "more than 6 fractional digits"},
		{"-0.0000001", true, "more than 6 fractional digits"},
		{"1E-7", true, "more than 6 fractional digits"},
		{"123.4567891", true, "more than 6 fractional digits"},
		{"1000000000000", true, "more than 12 integer digits"},
		{"-1000000000000", true, "more than 12 integer digits"},
		{"1e12", true, "more than 12 integer digits"},
		{"999999999999.9999999", true, "more than 6 fractional digits"},
		{"1e99999999999999999999", true, "more than 12 integer digits"},
		{"1e-99999999999999999999", true, "more than 6 fractional digits"},
		{"", false, "not a JSON number"},
		{"-", false, "not a JSON number"},
		{"01", false, "not a JSON number"},
		{"1.", false, "not a JSON number"},
		{".5", false, "not a JSON number"},
		{"+1", false, "not a JSON number"},
		{"1e", false, "not a JSON number"},
		{"1e+", false, "not a JSON number"},
		{"NaN", false, "not a JSON number"},
		{"Infinity", false, "not a JSON number"},
		{"1_000", false, "not a JSON number"},
		{" 1", false, "not a JSON number"},
		{"1 ", false, "not a JSON number"},
		{"0x10", false, "not a JSON number"},
		{`"1"`, false, "not a JSON number"},
	}
	for _, tc := range tests {
		_, err := ParseDecimal(tc.in)
		if err == nil {
			t.Errorf("ParseDecimal(%q) succeeded", tc.in)
			continue
		}
		if errors.Is(err, ErrDecimalRange) != tc.range_ || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDecimal(%q) = %v, want %q (range error %v)", tc.in, err, tc.want, tc.range_)
		}
	}
}

func TestDecimalFromUnscaled(t *testing.T) {
	for _, u := range []int64{0, 1, -1, maxUnscaled, -maxUnscaled} {
		d, err := DecimalFromUnscaled(u)
		if err != nil || d.Unscaled() != u {
			t.Errorf("DecimalFromUnscaled(%d) = %v, %v", u, d, err)
		}
	}
	for _, u := range []int64{maxUnscaled + 1, -maxUnscaled - 1, 1<<63 - 1, -1 << 63} {
		if _, err := DecimalFromUnscaled(u); !errors.Is(err, ErrDecimalRange) {
			t.Errorf("DecimalFromUnscaled(%d) err = %v, want ErrDecimalRange", u, err)
		}
	}
}

func TestDecimalAvroBytes(t *testing.T) {
	for _, tc := range []struct {
		unscaled int64
		bytes    []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{-1, []byte{0xff}},
		{127, []byte{0x7f}},
		{128, []byte{0x00, 0x80}},
		{-128, []byte{0x80}},
		{-129, []byte{0xff, 0x7f}},
		{100_000, []byte{0x01, 0x86, 0xa0}},
		{-1_500_000, []byte{0xe9, 0x1c, 0xa0}},
		{maxUnscaled, []byte{0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x63, 0xff, 0xff}},
		{-maxUnscaled, []byte{0xf2, 0x1f, 0x49, 0x4c, 0x58, 0x9c, 0x00, 0x01}},
	} {
		d, err := DecimalFromUnscaled(tc.unscaled)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.appendAvroBytes(nil); !bytes.Equal(got, tc.bytes) {
			t.Errorf("%d: bytes %x, want %x", tc.unscaled, got, tc.bytes)
		}
		// big.Int agrees on the value, read back from the bytes.
		v := new(big.Int).SetBytes(tc.bytes)
		if tc.bytes[0]&0x80 != 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(tc.bytes))))
		}
		if v.Int64() != tc.unscaled {
			t.Errorf("%x reads as %s, want %d", tc.bytes, v, tc.unscaled)
		}
		// Padded with sign bytes, as other writers (hamba among them) do.
		pad := byte(0)
		if tc.unscaled < 0 {
			pad = 0xff
		}
		for _, b := range [][]byte{tc.bytes, append(bytes.Repeat([]byte{pad}, 9), tc.bytes...)} {
			back, err := decimalFromAvroBytes(b)
			if err != nil || back != d {
				t.Errorf("decimalFromAvroBytes(%x) = %v, %v, want %v", b, back, err, d)
			}
		}
	}
	for _, b := range [][]byte{
		{},
		{0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00},       // 10^18
		{0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, // 2^64
		{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},       // max int64
		{0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // below min int64
	} {
		if d, err := decimalFromAvroBytes(b); err == nil {
			t.Errorf("decimalFromAvroBytes(%x) = %v, want an error", b, d)
		}
	}
}

// FuzzParseDecimal checks ParseDecimal against math/big as an exact oracle:
// every JSON number is either parsed to exactly its value, or rejected as
// out of range exactly when decimal(18,6) cannot hold it; anything that is
// not a JSON number is a syntax error.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "0.1", "-12.5e-3", "1E11", "1e12", "0.1234567", "999999999999.999999", "01", "1.", "-0e-0"} {
		f.Add(s)
	}
	limit := new(big.Rat).SetInt64(maxUnscaled)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		var n json.Number
		isNumber := json.Unmarshal([]byte(s), &n) == nil && string(n) == s
		if !isNumber {
			if err == nil || errors.Is(err, ErrDecimalRange) {
				t.Fatalf("ParseDecimal(%q) = %v, %v; want a syntax error", s, d, err)
			}
			return
		}
		// Huge exponents would make big.Rat allocate without bound.
		if _, exp, ok := strings.Cut(strings.ToLower(s), "e"); ok {
			if len(strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")) > 3 {
				return
			}
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat rejects JSON number %q", s)
		}
		scaled := new(big.Rat).Mul(want, new(big.Rat).SetInt64(scaleFactor))
		fits := scaled.IsInt() && new(big.Rat).Abs(scaled).Cmp(limit) <= 0
		switch {
		case fits && err != nil:
			t.Fatalf("ParseDecimal(%q): %v, but decimal(18,6) holds it", s, err)
		case !fits && err == nil:
			t.Fatalf("ParseDecimal(%q) = %s, but decimal(18,6) cannot hold it", s, d)
		case !fits && !errors.Is(err, ErrDecimalRange):
			t.Fatalf("ParseDecimal(%q) = %v, want ErrDecimalRange", s, err)
		case fits && d.Rat().Cmp(want) != 0:
			t.Fatalf("ParseDecimal(%q) = %s, want %s", s, d.Rat(), want)
		}
	})
}
