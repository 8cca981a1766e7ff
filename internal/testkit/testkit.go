// Package testkit holds small helpers that tests of several packages share.
package testkit

import (
	"os"
	"testing"
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
