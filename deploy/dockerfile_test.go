package deploy_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from  string // FROM's arguments
	insts []instruction
}

// parseDockerfile reads the subset of the syntax the project's Dockerfile
// uses: comments, instructions, backslash continuations.
func parseDockerfile(t *testing.T, path string) (args []instruction, stages []stage) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends inside a continued line", path)
	}
	for _, l := range lines {
		cmd, rest, _ := strings.Cut(l, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(rest)}
		switch {
		case in.cmd == "FROM":
			stages = append(stages, stage{from: in.args})
		case len(stages) == 0:
			args = append(args, in)
		default:
			stages[len(stages)-1].insts = append(stages[len(stages)-1].insts, in)
		}
	}
	return args, stages
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.insts {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// buildCommand is the build stage's `go build` line, exactly as written.
func buildCommand(t *testing.T) string {
	t.Helper()
	_, stages := parseDockerfile(t, "../Dockerfile")
	for _, in := range stages[0].all("RUN") {
		if strings.Contains(in.args, "go build") {
			return in.args
		}
	}
	t.Fatal("the build stage has no go build line")
	return ""
}

const (
	testVersion = "v0.0.0-dockerfile-test"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testDate    = "2026-01-02T03:04:05Z"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildOut  []byte
)

// buildImageBinary runs the Dockerfile's go build line in the repository,
// as the build stage would (sh -c, in the source root, VERSION, COMMIT and
// BUILD_DATE set as the build args ARG declares), with
// the output redirected to a temporary directory.
func buildImageBinary(t *testing.T) string {
	t.Helper()
	cmdline := buildCommand(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "callstream-image-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "callstream")
		line := strings.ReplaceAll(cmdline, "/out/callstream", builtBin)
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "VERSION="+testVersion, "COMMIT="+testCommit, "BUILD_DATE="+testDate)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("%s: %v\n%s", cmdline, buildErr, buildOut)
	}
	return builtBin
}

func TestDockerfile(t *testing.T) {
	_, stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages: want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.Contains(build.from, "golang:") || !strings.HasSuffix(build.from, " AS build") {
		t.Errorf("build stage FROM %q", build.from)
	}
	// A minimal final image: no base distribution, nothing run in it.
	if final.from != "scratch" {
		t.Errorf("final stage FROM %q, want scratch", final.from)
	}
	if n := len(final.all("RUN")) + len(final.all("SHELL")); n != 0 {
		t.Errorf("the final stage runs commands (%d RUN/SHELL): it has no shell", n)
	}
	users := final.all("USER")
	if len(users) != 1 || strings.HasPrefix(users[0].args, "0") || strings.HasPrefix(users[0].args, "root") {
		t.Errorf("USER %v: want one non-root numeric user", users)
	}
	var entry []string
	if e := final.all("ENTRYPOINT"); len(e) != 1 || json.Unmarshal([]byte(e[0].args), &entry) != nil || len(entry) != 1 || entry[0] != "/callstream" {
		t.Errorf("ENTRYPOINT %v: want the exec form [\"/callstream\"], which needs no shell", e)
	}
	copies := ""
	for _, c := range final.all("COPY") {
		copies += c.args + "\n"
	}
	for _, want := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/passwd", "/callstream"} {
		if !strings.Contains(copies, want) {
			t.Errorf("the final stage does not copy %s", want)
		}
	}
	env := strings.Join(func() []string {
		var s []string
		for _, e := range final.all("ENV") {
			s = append(s, e.args)
		}
		return s
	}(), " ")
	for _, want := range []string{"METRICS_ADDR=:8080", "CHECKPOINT_PATH=/var/lib/callstream/checkpoint.json", "LOG_FORMAT=json"} {
		if !strings.Contains(env, want) {
			t.Errorf("ENV lacks %s", want)
		}
	}
	if e := final.all("EXPOSE"); len(e) != 1 || e[0].args != "8080" {
		t.Errorf("EXPOSE %v, want 8080 (METRICS_ADDR)", e)
	}
	line := buildCommand(t)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}",
		"-X main.date=${BUILD_DATE}", "-o /out/callstream", "./cmd/callstream"} {
		if !strings.Contains(line, want) {
			t.Errorf("the go build line lacks %q: %s", want, line)
		}
	}
}

// TestDockerfileBuildLine runs the build stage's command and checks the
// binary: static, stripped, trimmed, stamped with the version, the commit
// and the build date (the build runs with -buildvcs=false, so only the
// stamps can carry them).
func TestDockerfileBuildLine(t *testing.T) {
	bin := buildImageBinary(t)
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version   string `json:"version"`
		Commit    string `json:"commit"`
		BuildDate string `json:"build_date"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("version --json: %v\n%s", err, out)
	}
	if v.Version != testVersion || v.Commit != testCommit || v.BuildDate != testDate {
		t.Errorf("version --json %+v, want the stamped %s, %s, %s", v, testVersion, testCommit, testDate)
	}
	out, err = exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); first != "callstream "+testVersion || !strings.Contains(string(out), testCommit) {
		t.Errorf("--version printed %q, want \"callstream %s\" first and the commit", out, testVersion)
	}
	// Every ARG the build line uses is declared in the build stage, so
	// docker passes --build-arg values through.
	_, stages := parseDockerfile(t, "../Dockerfile")
	declared := ""
	for _, a := range stages[0].all("ARG") {
		declared += a.args + "\n"
	}
	for _, arg := range []string{"VERSION", "COMMIT", "BUILD_DATE"} {
		if !strings.Contains(declared, arg+"=") {
			t.Errorf("the build stage does not declare ARG %s", arg)
		}
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a dynamic loader: it would not run on scratch")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary keeps its symbol table (-s missing)")
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(root)) {
		t.Errorf("the binary contains the build directory %s (-trimpath missing)", root)
	}
}

// TestDockerignore keeps the build context small: the Kafka jars under
// .cache alone are hundreds of megabytes.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{".git", ".cache", "bin"} {
		if !have[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, needed := range []string{"go.mod", "go.sum", "cmd", "schemas"} {
		if have[needed] {
			t.Errorf(".dockerignore excludes %s, which the build needs", needed)
		}
	}
}
