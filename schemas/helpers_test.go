package schemas

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func utc(year int, month time.Month, day, hour, minute, sec, nsec int) *time.Time {
	t := time.Date(year, month, day, hour, minute, sec, nsec, time.UTC)
	return &t
}

// diffRows lists the fields where got and want differ, comparing pointed-to
// values rather than pointers; times must be equal instants and in UTC.
func diffRows[T any](got, want *T) []string { return diffRowValues(got, want) }

// diffRowValues is diffRows for rows held as any: pointers to rows of one
// type.
func diffRowValues(got, want any) []string {
	var diffs []string
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i), wv.Field(i)
		if g.Kind() == reflect.Pointer {
			if g.IsNil() != w.IsNil() {
				diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s", name, show(g), show(w)))
				continue
			}
			if g.IsNil() {
				continue
			}
			g, w = g.Elem(), w.Elem()
		}
		if gt, ok := g.Interface().(time.Time); ok {
			wt := w.Interface().(time.Time)
			if !gt.Equal(wt) || gt.Location() != time.UTC {
				diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", name, gt, wt))
			}
			continue
		}
		if (g.Kind() == reflect.Map || g.Kind() == reflect.Slice) && g.IsNil() != w.IsNil() {
			diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s", name, show(g), show(w)))
			continue
		}
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s", name, show(g), show(w)))
		}
	}
	return diffs
}

func show(v reflect.Value) string {
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Map || v.Kind() == reflect.Slice) && v.IsNil() {
		return "nil"
	}
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return fmt.Sprintf("%#v", v.Interface())
}

// truncatedToMillis returns a copy of r with timestamps as timestamp-millis
// stores them.
func truncatedToMillis(r DirectRoutingLogRow) DirectRoutingLogRow {
	for _, p := range []**time.Time{&r.StartDateTime, &r.InviteDateTime, &r.FailureDateTime, &r.EndDateTime} {
		if *p != nil {
			t := (*p).Truncate(time.Millisecond).UTC()
			*p = &t
		}
	}
	return r
}

// truncatedPstnToMillis is truncatedToMillis for a PSTN row.
func truncatedPstnToMillis(r PstnCallLogRow) PstnCallLogRow {
	for _, p := range []**time.Time{&r.StartDateTime, &r.EndDateTime} {
		if *p != nil {
			t := (*p).Truncate(time.Millisecond).UTC()
			*p = &t
		}
	}
	return r
}

// dec returns a pointer to the Decimal s, for expected rows.
func dec(tb testing.TB, s string) *Decimal {
	tb.Helper()
	d := mustDecimal(tb, s)
	return &d
}
