// Package testkit is the test kit that tests of several packages share:
// the simulated Graph served over HTTP (Graph, Serve), a simulated cloud of
// many tenants with its Entra and Graph over TLS (NewCloud), the built binary
// (Binary) and the processes started from it (Start, Run, Proc), and
// small helpers for the machine the tests run on (UnwritableDir,
// WatchPeakRSS).
package testkit

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// UnwritableDir returns an existing directory in which this process cannot
// create a file. Tests run as root in CI, where permission bits do not stop
// writes, so as root it is /proc, where nobody can create files; otherwise a
// temporary directory made read-only for the test.
func UnwritableDir(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		return dir
	}
	return "/proc"
}

// WatchPeakRSS follows the peak resident set size (VmHWM) of process pid
// until the returned function is called, which stops and returns the
// highest value seen, in bytes. The peak is read from the process's own
// /proc status while it runs, not from its rusage: Go starts children with
// vfork, and Linux folds the parent's high-water mark at exec into the
// child's ru_maxrss — a test process holding a Kafka fake and a simulator
// would pass for the child's peak. VmHWM only grows, so any reading after
// the peak holds it; only a peak in the last few milliseconds before exit
// can be missed.
func WatchPeakRSS(pid int) (stop func() int64) {
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var hwm int64
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			if v, ok := vmHWM(path); ok && v > hwm {
				hwm = v
			}
			select {
			case <-done:
				peak <- hwm
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int64 { close(done); return <-peak }
}

// vmHWM reads the peak resident set size from a /proc/PID/status file; a
// process that has exited (or a zombie, whose memory is gone) has none.
func vmHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb * 1024, true
			}
		}
	}
	return 0, false
}
