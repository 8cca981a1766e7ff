package graphsim

import (
	"errors"
	"time"
)

// parseDateTimeOffset parses an OData DateTimeOffset literal as Graph
// accepts it in a function-call path: a date alone (midnight UTC), or a date
// and time of day with optional seconds, 1 to 7 fractional digits and a
// required zone, Z or ±hh:mm.
//
// It is stricter than Graph may be in one respect: more than 7 fractional
// digits (which Go's time.RFC3339Nano produces) are rejected, because Graph's
// DateTimeOffset cannot hold them, so such a client would be querying a
// window other than the one it believes.
func parseDateTimeOffset(v string) (time.Time, error) {
	p := dtParser{s: v}
	year := p.digits(4)
	p.lit('-')
	month := p.digits(2)
	p.lit('-')
	day := p.digits(2)
	if p.err != nil {
		return time.Time{}, p.err
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) {
		return time.Time{}, errors.New("date out of range")
	}
	if p.done() {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), nil
	}
	p.lit('T')
	hour := p.digits(2)
	p.lit(':')
	minute := p.digits(2)
	sec, nsec := 0, 0
	if p.peek(':') {
		p.lit(':')
		sec = p.digits(2)
		if p.peek('.') {
			p.lit('.')
			n := 0
			for n < 7 && p.isDigit() {
				nsec = nsec*10 + int(p.next()-'0')
				n++
			}
			if n == 0 {
				return time.Time{}, errors.New("empty fractional seconds")
			}
			if p.isDigit() {
				return time.Time{}, errors.New("more than 7 fractional digits")
			}
			for ; n < 9; n++ {
				nsec *= 10
			}
		}
	}
	if p.err != nil {
		return time.Time{}, p.err
	}
	if hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errors.New("time of day out of range")
	}
	offset := 0
	switch {
	case p.peek('Z'):
		p.lit('Z')
	case p.peek('+'), p.peek('-'):
		sign := 1
		if p.next() == '-' {
			sign = -1
		}
		oh := p.digits(2)
		p.lit(':')
		om := p.digits(2)
		if p.err == nil && (oh > 14 || om > 59) {
			return time.Time{}, errors.New("zone offset out of range")
		}
		offset = sign * (oh*3600 + om*60)
	default:
		return time.Time{}, errors.New("missing zone (Z or ±hh:mm)")
	}
	if p.err != nil {
		return time.Time{}, p.err
	}
	if !p.done() {
		return time.Time{}, errors.New("trailing characters")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), nil
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// dtParser is a cursor that records the first error and then does nothing,
// so the parse reads as a straight line.
type dtParser struct {
	s   string
	i   int
	err error
}

var errSyntax = errors.New("not a DateTimeOffset literal")

func (p *dtParser) done() bool { return p.err == nil && p.i == len(p.s) }

func (p *dtParser) isDigit() bool {
	return p.err == nil && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9'
}

func (p *dtParser) peek(c byte) bool {
	return p.err == nil && p.i < len(p.s) && p.s[p.i] == c
}

func (p *dtParser) next() byte {
	if p.err != nil || p.i >= len(p.s) {
		p.err = errSyntax
		return 0
	}
	c := p.s[p.i]
	p.i++
	return c
}

func (p *dtParser) lit(c byte) {
	if p.next() != c {
		p.err = errSyntax
	}
}

// digits reads exactly n decimal digits: the OData grammar requires padded
// fields, so unpadded dates like 2021-3-5 (a common scripting bug) fail.
func (p *dtParser) digits(n int) int {
	v := 0
	for range n {
		if !p.isDigit() {
			p.err = errSyntax
			return 0
		}
		v = v*10 + int(p.next()-'0')
	}
	return v
}
