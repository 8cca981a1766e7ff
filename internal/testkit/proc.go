package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Env is the environment a test gives a process it starts: settings by
// name. Only PATH and HOME are inherited (List), so a setting of the
// developer's shell never leaks into a test.
type Env map[string]string

// List returns e as exec.Cmd.Env wants it, with PATH and HOME of the test
// process; names are sorted, so two runs with one Env see the same order.
func (e Env) List() []string {
	l := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range slices.Sorted(maps.Keys(e)) {
		l = append(l, k+"="+e[k])
	}
	return l
}

// With returns a copy of e with changes applied; an empty value removes
// the setting (as an unset variable, not an empty one).
func (e Env) With(changes Env) Env {
	out := maps.Clone(e)
	if out == nil {
		out = Env{}
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// builds holds the binaries built by this test process, by package.
var builds struct {
	sync.Mutex
	paths map[string]string
}

// Binary builds the main package pkg — a path from the module root, e.g.
// "./cmd/callstream" — once per test process, and returns the executable.
// Tests run the real binary rather than calling main's functions, so that
// flags, environment, exit codes and signals are what an operator meets.
func Binary(t testing.TB, pkg string, ldflags ...string) string {
	t.Helper()
	key := pkg + "\x00" + strings.Join(ldflags, " ")
	builds.Lock()
	defer builds.Unlock()
	if p, ok := builds.paths[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "callstream-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if len(ldflags) > 0 {
		args = append(args, "-buildvcs=false", "-ldflags", strings.Join(ldflags, " "))
	}
	// go test puts its own toolchain first on PATH, so "go" is the go
	// running this test.
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	if builds.paths == nil {
		builds.paths = map[string]string{}
	}
	builds.paths[key] = bin
	return bin
}

// ModuleRoot returns the directory of callstream's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testkit: no caller information to find the module root")
	}
	// This file is <root>/internal/testkit/proc.go.
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// Output is a process's output that a test may read while the process
// still writes to it.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns what was written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Proc is a started process. Its stdout and stderr go to one Output
// (Start) or to two (Run); it is killed at the end of the test if still
// running.
type Proc struct {
	// Cmd is the process; its ProcessState is set once Done is closed.
	Cmd *exec.Cmd
	// Out holds stdout and stderr, interleaved as written.
	Out  *Output
	done chan struct{}
}

// Start starts bin with e and args; stdin, when not nil, feeds it.
func Start(t testing.TB, bin string, e Env, stdin io.Reader, args ...string) *Proc {
	t.Helper()
	p := &Proc{Cmd: exec.Command(bin, args...), Out: &Output{}, done: make(chan struct{})}
	p.Cmd.Env = e.List()
	p.Cmd.Stdout, p.Cmd.Stderr, p.Cmd.Stdin = p.Out, p.Out, stdin
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = p.Cmd.Process.Kill(); <-p.done })
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait returns the exit code (-1 when killed by a signal), killing the
// process and failing the test after timeout.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not finish within %s; output:\n%s", filepath.Base(p.Cmd.Path), timeout, p.Out)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process.
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", sig, err)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and fails the test unless the process exits 0 within
// a minute: a clean stop is a documented promise, not a courtesy.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; output:\n%s", code, p.Out)
	}
}

// LogLine waits up to timeout for the first JSON log line whose "msg" is
// msg and returns it decoded, failing the test if the process exits or
// the time runs out first.
func (p *Proc) LogLine(t testing.TB, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if rec := FindLog(p.Out.String(), msg); rec != nil {
			return rec
		}
		if p.Exited() {
			// The last lines may have landed after the search above.
			if rec := FindLog(p.Out.String(), msg); rec != nil {
				return rec
			}
			t.Fatalf("%s exited before logging %q; output:\n%s", filepath.Base(p.Cmd.Path), msg, p.Out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q log line within %s; output:\n%s", msg, timeout, p.Out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FindLog returns the first JSON log line of out whose "msg" is msg,
// decoded, or nil.
func FindLog(out, msg string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

// Run runs bin with e and args to its end (at most two minutes) and
// returns its stdout, its stderr and its exit code.
func Run(t testing.TB, bin string, e Env, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb Output
	p := &Proc{Cmd: exec.Command(bin, args...), Out: &errb, done: make(chan struct{})}
	p.Cmd.Env = e.List()
	p.Cmd.Stdout, p.Cmd.Stderr = &out, &errb
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	code = p.Wait(t, 2*time.Minute)
	return out.String(), errb.String(), code
}

// String describes the process for failure messages.
func (p *Proc) String() string {
	return fmt.Sprintf("%s %s", filepath.Base(p.Cmd.Path), strings.Join(p.Cmd.Args[1:], " "))
}
