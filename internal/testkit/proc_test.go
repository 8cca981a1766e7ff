package testkit

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestEnvWithRemovesEmptyAndCopies(t *testing.T) {
	base := Env{"A": "1", "B": "2"}
	got := base.With(Env{"B": "", "C": "3"})
	if want := (Env{"A": "1", "C": "3"}); len(got) != len(want) || got["A"] != "1" || got["C"] != "3" {
		t.Fatalf("With = %v, want %v", got, want)
	}
	if _, ok := base["C"]; ok || base["B"] != "2" {
		t.Fatalf("With changed its receiver: %v", base)
	}
	l := got.List()
	if !slices.Contains(l, "A=1") || !slices.Contains(l, "C=3") || slices.ContainsFunc(l, func(s string) bool { return s[:2] == "B=" }) {
		t.Fatalf("List = %v", l)
	}
}

func TestStartWaitsAndFindsLogLines(t *testing.T) {
	p := Start(t, "/bin/sh", Env{"WORD": "ready"}, nil, "-c", `echo '{"msg":"'"$WORD"'","n":1}'; echo noise >&2; exit 3`)
	if rec := p.LogLine(t, "ready", 10*time.Second); rec["n"] != 1.0 {
		t.Fatalf("log line = %v", rec)
	}
	if code := p.Wait(t, 10*time.Second); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	if out := p.Out.String(); out != "{\"msg\":\"ready\",\"n\":1}\nnoise\n" {
		t.Fatalf("output %q", out)
	}
}

func TestStopExpectsACleanExit(t *testing.T) {
	p := Start(t, "/bin/sh", nil, nil, "-c", `trap 'exit 0' TERM; echo '{"msg":"up"}'; while :; do sleep 0.05; done`)
	p.LogLine(t, "up", 10*time.Second)
	p.Stop(t)
	if !p.Exited() {
		t.Fatal("Stop returned before the process exited")
	}
}

func TestKillEndsTheProcess(t *testing.T) {
	p := Start(t, "/bin/sh", nil, nil, "-c", `sleep 60`)
	p.Kill(t)
	if st := p.Cmd.ProcessState.Sys().(syscall.WaitStatus); !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Fatalf("wait status %v, want killed by SIGKILL", st)
	}
}

func TestRunSeparatesStreams(t *testing.T) {
	out, errs, code := Run(t, "/bin/sh", nil, "-c", `echo out; echo err >&2; exit 2`)
	if out != "out\n" || errs != "err\n" || code != 2 {
		t.Fatalf("Run = %q, %q, %d", out, errs, code)
	}
}
