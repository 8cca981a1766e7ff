package schemas

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
)

// The precision and scale of every Decimal, and of the Avro decimal logical
// type the PSTN schemas use for Graph's Edm.Decimal charges.
//
// Scale 6 holds every rate and charge Graph or the Teams admin center shows
// (they use 2 to 4 fractional digits) with room to spare; precision 18
// leaves 12 integer digits, far beyond any one call's charge, and is the
// largest precision whose unscaled value fits a signed 64-bit integer, so
// Parquet, Spark and Flink store these columns as plain int64s.
const (
	DecimalPrecision = 18
	DecimalScale     = 6
)

// maxUnscaled is the largest unscaled value with DecimalPrecision digits.
const maxUnscaled = 999_999_999_999_999_999

// Decimal is an exact decimal number with DecimalScale fractional digits
// and at most DecimalPrecision digits in all, such as a PSTN call charge.
// It never goes through a binary float, so 0.1 stays 0.1. The zero value
// is 0. Decimals compare with ==.
type Decimal struct {
	unscaled int64 // the value times 10^DecimalScale
}

// ErrDecimalRange reports a decimal that cannot be held at DecimalScale and
// DecimalPrecision without rounding.
var ErrDecimalRange = errors.New("decimal out of range")

// ParseDecimal parses a JSON number, such as Graph writes for an
// Edm.Decimal ("0.00", "-1.5", "12", "1.25E+2"), exactly. A value with
// non-zero digits past DecimalScale fractional places, or with more than
// DecimalPrecision-DecimalScale integer digits, is an error wrapping
// ErrDecimalRange: it is never rounded. Trailing zeros past the scale are
// accepted, since dropping them loses nothing.
func ParseDecimal(s string) (Decimal, error) {
	d, err := parseDecimal(s)
	if err != nil {
		return Decimal{}, fmt.Errorf("parse decimal %s: %w", quoteForError(s), err)
	}
	return d, nil
}

var (
	errDecimalSyntax = errors.New("not a JSON number")
	errDecimalFrac   = fmt.Errorf("%w: more than %d fractional digits", ErrDecimalRange, DecimalScale)
	errDecimalInt    = fmt.Errorf("%w: more than %d integer digits (precision %d, scale %d)",
		ErrDecimalRange, DecimalPrecision-DecimalScale, DecimalPrecision, DecimalScale)
)

func parseDecimal(s string) (Decimal, error) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	// JSON forbids leading zeros ("01") and a bare or trailing point.
	intStart := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = skipDigits(s, i)
	default:
		return Decimal{}, errDecimalSyntax
	}
	intDigits := s[intStart:i]
	fracDigits := ""
	if i < len(s) && s[i] == '.' {
		j := skipDigits(s, i+1)
		if j == i+1 {
			return Decimal{}, errDecimalSyntax
		}
		fracDigits = s[i+1 : j]
		i = j
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		j := skipDigits(s, i)
		if j == i {
			return Decimal{}, errDecimalSyntax
		}
		// Cap the exponent instead of overflowing: anything this large
		// is out of range unless the digits are all zero, and then the
		// value is 0 whatever the exponent.
		for _, c := range s[i:j] {
			if exp < 1_000_000 {
				exp = exp*10 + int(c-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
		i = j
	}
	if i != len(s) {
		return Decimal{}, errDecimalSyntax
	}

	// The value is digits × 10^shift, as an integer times a power of ten.
	digits := intDigits + fracDigits
	shift := exp - len(fracDigits) + DecimalScale
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	if digits == "" {
		return Decimal{}, nil // 0, -0, 0.000e7 ...
	}
	for digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		shift++
	}
	if shift < 0 {
		return Decimal{}, errDecimalFrac
	}
	if len(digits)+shift > DecimalPrecision {
		return Decimal{}, errDecimalInt
	}
	var u int64
	for k := 0; k < len(digits); k++ {
		u = u*10 + int64(digits[k]-'0')
	}
	for ; shift > 0; shift-- {
		u *= 10
	}
	if neg {
		u = -u
	}
	return Decimal{unscaled: u}, nil
}

// DecimalFromUnscaled returns the Decimal unscaled × 10^-DecimalScale, or
// an error wrapping ErrDecimalRange when unscaled has more than
// DecimalPrecision digits.
func DecimalFromUnscaled(unscaled int64) (Decimal, error) {
	if unscaled > maxUnscaled || unscaled < -maxUnscaled {
		return Decimal{}, fmt.Errorf("%w: unscaled value %d has more than %d digits", ErrDecimalRange, unscaled, DecimalPrecision)
	}
	return Decimal{unscaled: unscaled}, nil
}

// Unscaled returns d × 10^DecimalScale, the integer Avro stores.
func (d Decimal) Unscaled() int64 { return d.unscaled }

// Rat returns d as a new big.Rat, the type hamba/avro and most Avro
// libraries use for the decimal logical type.
func (d Decimal) Rat() *big.Rat {
	return new(big.Rat).SetFrac64(d.unscaled, scaleFactor)
}

const scaleFactor = 1_000_000 // 10^DecimalScale

// appendAvroBytes appends the Avro decimal encoding of d: the unscaled
// value as big-endian two's complement in as few bytes as hold its sign.
func (d Decimal) appendAvroBytes(dst []byte) []byte {
	v := d.unscaled
	n := 8
	// Drop a leading byte while it only repeats the sign of the next.
	for n > 1 {
		top, next := byte(v>>(8*(n-1))), byte(v>>(8*(n-2)))
		if (top == 0x00 && next&0x80 == 0) || (top == 0xff && next&0x80 != 0) {
			n--
			continue
		}
		break
	}
	for k := n - 1; k >= 0; k-- {
		dst = append(dst, byte(v>>(8*k)))
	}
	return dst
}

// decimalFromAvroBytes reads an Avro decimal at DecimalScale: big-endian
// two's complement, any length (writers may pad with sign bytes).
func decimalFromAvroBytes(b []byte) (Decimal, error) {
	if len(b) == 0 {
		return Decimal{}, errors.New("empty decimal bytes")
	}
	neg := b[0]&0x80 != 0
	for len(b) > 8 {
		if (neg && b[0] == 0xff && b[1]&0x80 != 0) || (!neg && b[0] == 0x00 && b[1]&0x80 == 0) {
			b = b[1:]
			continue
		}
		return Decimal{}, fmt.Errorf("%w: %d-byte unscaled value", ErrDecimalRange, len(b))
	}
	var v int64
	if neg {
		v = -1
	}
	for _, c := range b {
		v = v<<8 | int64(c)
	}
	return DecimalFromUnscaled(v)
}

// String formats d as its shortest exact decimal text, without exponent
// or trailing fractional zeros: "0", "0.1", "-1234567.123456". ParseDecimal
// reads it back to the same value.
func (d Decimal) String() string {
	return string(d.appendText(nil))
}

func (d Decimal) appendText(dst []byte) []byte {
	u := d.unscaled
	if u < 0 {
		dst = append(dst, '-')
		u = -u // |u| <= maxUnscaled, so this cannot overflow
	}
	dst = strconv.AppendInt(dst, u/scaleFactor, 10)
	frac := u % scaleFactor
	if frac == 0 {
		return dst
	}
	var b [DecimalScale]byte
	for k := DecimalScale - 1; k >= 0; k-- {
		b[k] = byte('0' + frac%10)
		frac /= 10
	}
	n := DecimalScale
	for b[n-1] == '0' {
		n--
	}
	dst = append(dst, '.')
	return append(dst, b[:n]...)
}

// optDecimal parses an Edm.Decimal property: a JSON number, read exactly.
// A string is rejected like any other wrong type, even though OData allows
// decimals as strings under IEEE754Compatible=true: fetch never asks for
// that format, so a string means Graph changed something.
func optDecimal(slot *Decimal, name, val string) (*Decimal, *RowError) {
	if val == "null" {
		return nil, nil
	}
	if jsonKind(val) != "number" {
		return nil, wrongType(name, "number", val)
	}
	d, err := parseDecimal(val)
	if err != nil {
		// The JSON grammar already holds, so only the range can be wrong.
		reason := "more than " + strconv.Itoa(DecimalScale) + " fractional digits"
		if errors.Is(err, errDecimalInt) {
			reason = "more than " + strconv.Itoa(DecimalPrecision-DecimalScale) + " integer digits"
		}
		return nil, &RowError{Field: name, Reason: fmt.Sprintf("decimal(%d,%d) cannot hold the number exactly: %s",
			DecimalPrecision, DecimalScale, reason)}
	}
	*slot = d
	return slot, nil
}

func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
