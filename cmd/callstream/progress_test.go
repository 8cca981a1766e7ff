package main

import (
	"bytes"
	"testing"
)

func TestTermWriterKeepsTheBarBelowLogLines(t *testing.T) {
	var out bytes.Buffer
	tw := &termWriter{w: &out}
	tw.draw("[bar 1]")
	if _, err := tw.Write([]byte("WARN something\n")); err != nil {
		t.Fatal(err)
	}
	tw.draw("[bar 2]")
	tw.finish("[bar 3]")
	if _, err := tw.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	want := clearLine + "[bar 1]" + clearLine + "WARN something\n" + "[bar 1]" + clearLine + "[bar 2]" + clearLine + "[bar 3]\n" + "after\n"
	if got := out.String(); got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}
