package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReadmeStepsToARun follows the README's "Try it without Graph or a
// cluster" steps as written — each line of the block between its
// readme-steps markers, with `callstream` the built binary, in a fresh
// directory and an environment holding nothing but PATH and HOME — from
// `demo --serve` to a `run --once` that publishes every simulated call of
// both sources. A step the README promises and the binary does not keep
// fails here.
func TestReadmeStepsToARun(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps := readmeSteps(t, string(readme))
	bin := callstreamBinary(t)
	dir := t.TempDir()
	var bg *exec.Cmd
	var bgOut bytes.Buffer
	t.Cleanup(func() {
		if bg != nil && bg.ProcessState == nil {
			_ = bg.Process.Kill()
			_ = bg.Wait()
		}
	})
	outputs := map[string]string{}
	for _, step := range steps {
		switch {
		case step == "kill %1":
			if bg == nil {
				t.Fatal("kill %1 with nothing in the background")
			}
			_ = bg.Process.Signal(os.Interrupt)
			if err := bg.Wait(); err != nil {
				t.Fatalf("the background step did not stop cleanly: %v\n%s", err, bgOut.String())
			}
			continue
		case strings.HasSuffix(step, "&"):
			args := commandArgs(t, strings.TrimSpace(strings.TrimSuffix(step, "&")))
			bg = exec.Command(bin, args...)
			bg.Dir, bg.Env = dir, env{}.List()
			bg.Stdout, bg.Stderr = &bgOut, &bgOut
			if err := bg.Start(); err != nil {
				t.Fatal(err)
			}
			// A user waits for the message saying the services are up;
			// the test waits for the file it names.
			waitForFile(t, filepath.Join(dir, "demo.env"), &bgOut)
			continue
		}
		cmd := exec.Command(bin, commandArgs(t, step)...)
		cmd.Dir, cmd.Env = dir, env{}.List()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README step %q: %v\n%s", step, err, out)
		}
		outputs[strings.Fields(step)[1]] = string(out)
	}
	if !strings.Contains(outputs["check"], "all checks passed") {
		t.Errorf("check did not pass:\n%s", outputs["check"])
	}
	// Every simulated call of both sources was published: the counts the
	// serving demo announced are the counts run reports.
	m := regexp.MustCompile(`\((\d+) Direct Routing and (\d+) PSTN calls`).FindStringSubmatch(bgOut.String())
	if m == nil {
		t.Fatalf("demo --serve did not announce its calls:\n%s", bgOut.String())
	}
	for _, want := range []struct{ source, n string }{{"direct-routing", m[1]}, {"pstn", m[2]}} {
		line := regexp.MustCompile(`"msg":"caught up","source":"` + want.source + `".*?"published":(\d+)`).FindStringSubmatch(outputs["run"])
		if line == nil || line[1] != want.n {
			t.Errorf("%s: run published %v, want the %s simulated calls:\n%s", want.source, line, want.n, outputs["run"])
		}
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Error("the simulated day holds no calls")
	}
	if !strings.Contains(outputs["checkpoint"], "watermark  2026-01-08T00:00:00Z") {
		t.Errorf("checkpoint show after the run:\n%s", outputs["checkpoint"])
	}
}

// readmeSteps returns the command lines of the README's readme-steps
// block, without their comments.
func readmeSteps(t *testing.T, readme string) []string {
	t.Helper()
	_, block, ok := strings.Cut(readme, "<!-- readme-steps:begin")
	if !ok {
		t.Fatal("README has no readme-steps block")
	}
	_, block, _ = strings.Cut(block, "\n") // the rest of the marker's line
	block, _, ok = strings.Cut(block, "<!-- readme-steps:end -->")
	if !ok {
		t.Fatal("README's readme-steps block has no end")
	}
	var steps []string
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		line := sc.Text()
		if line, _, _ = strings.Cut(line, "#"); strings.TrimSpace(line) == "" || strings.HasPrefix(line, "```") || strings.HasPrefix(line, "<!--") {
			continue
		}
		steps = append(steps, strings.TrimSpace(line))
	}
	if len(steps) < 3 {
		t.Fatalf("README's readme-steps block has %d steps", len(steps))
	}
	return steps
}

// commandArgs splits a README line that runs callstream into its arguments.
func commandArgs(t *testing.T, line string) []string {
	t.Helper()
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "callstream" {
		t.Fatalf("README step %q does not run callstream", line)
	}
	return f[1:]
}

func waitForFile(t *testing.T, path string, out *bytes.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear:\n%s", path, out.String())
}
