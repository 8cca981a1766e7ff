package tenants_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/tenants"
)

// watchRig runs Watch on a file laid out as Kubernetes mounts a
// ConfigMap: the visible name is a symlink into a directory that each
// update replaces by swapping another symlink.
type watchRig struct {
	dir, path string
	gen       int

	mu      sync.Mutex
	lists   [][]tenants.Tenant
	errs    []error
	changed chan struct{}
}

func newWatchRig(t *testing.T, content string) *watchRig {
	t.Helper()
	r := &watchRig{dir: t.TempDir(), changed: make(chan struct{}, 100)}
	r.path = filepath.Join(r.dir, "tenants.yaml")
	r.write(t, content)
	if err := os.Symlink(filepath.Join("..data", "tenants.yaml"), r.path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tenants.Watch(ctx, r.path, 5*time.Millisecond, func(l []tenants.Tenant) {
			r.mu.Lock()
			r.lists = append(r.lists, l)
			r.mu.Unlock()
			r.changed <- struct{}{}
		}, func(err error) {
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
			r.changed <- struct{}{}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// write lays content down as a new generation and swaps ..data to it.
func (r *watchRig) write(t *testing.T, content string) {
	t.Helper()
	r.gen++
	gen := filepath.Join(r.dir, "..gen"+string(rune('0'+r.gen)))
	if err := os.Mkdir(gen, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gen, "tenants.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(r.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(gen), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// next waits for the next callback and returns how many lists and errors
// were reported so far.
func (r *watchRig) next(t *testing.T) (lists [][]tenants.Tenant, errs []error) {
	t.Helper()
	select {
	case <-r.changed:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch reported nothing")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]tenants.Tenant(nil), r.lists...), append([]error(nil), r.errs...)
}

// quiet checks that nothing is reported for a while.
func (r *watchRig) quiet(t *testing.T) {
	t.Helper()
	select {
	case <-r.changed:
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("unexpected report: lists %v errors %v", r.lists, r.errs)
	case <-time.After(50 * time.Millisecond):
	}
}

func ids(l []tenants.Tenant) string {
	var s []string
	for _, t := range l {
		s = append(s, t.ID)
	}
	return strings.Join(s, ",")
}

func TestWatchAddsAndRemovesTenants(t *testing.T) {
	r := newWatchRig(t, "tenants:\n  - id: "+guidA+"\n")
	lists, _ := r.next(t)
	if len(lists) != 1 || ids(lists[0]) != guidA {
		t.Fatalf("first report %v, want the file's list", lists)
	}
	r.quiet(t) // an unchanged file is not reported again

	r.write(t, "tenants:\n  - id: "+guidA+"\n  - id: "+guidB+"\n")
	if lists, _ = r.next(t); ids(lists[len(lists)-1]) != guidA+","+guidB {
		t.Fatalf("after adding: %v", ids(lists[len(lists)-1]))
	}
	r.write(t, "tenants:\n  - id: "+guidB+"\n")
	if lists, _ = r.next(t); ids(lists[len(lists)-1]) != guidB {
		t.Fatalf("after removing: %v", ids(lists[len(lists)-1]))
	}
	r.quiet(t)
}

func TestWatchKeepsTheLastGoodList(t *testing.T) {
	good := "tenants:\n  - id: " + guidA + "\n"
	r := newWatchRig(t, good)
	r.next(t)

	r.write(t, "tenants:\n  - id: "+guidA+"\n    colour: blue\n")
	lists, errs := r.next(t)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `unknown key "colour"`) || !strings.Contains(errs[0].Error(), "keeping the tenants read before") {
		t.Fatalf("errors %v, want one naming the unknown key", errs)
	}
	if len(lists) != 1 {
		t.Fatalf("a broken edit was reported as a list: %v", lists)
	}
	r.quiet(t) // the same broken file is reported once

	// The broken edit undone: the list is the one already in use.
	r.write(t, good)
	r.quiet(t)

	// Broken the same way again: a new incident, reported again.
	r.write(t, "tenants:\n  - id: "+guidA+"\n    colour: blue\n")
	if _, errs = r.next(t); len(errs) != 2 {
		t.Fatalf("errors %v, want the repeated breakage reported", errs)
	}
	r.write(t, "tenants:\n  - id: "+guidB+"\n")
	if lists, _ = r.next(t); len(lists) != 2 || ids(lists[1]) != guidB {
		t.Fatalf("after the fix: %v", lists)
	}
}

func TestWatchMissingFile(t *testing.T) {
	r := newWatchRig(t, "tenants:\n  - id: "+guidA+"\n")
	r.next(t)
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	_, errs := r.next(t)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "TENANTS_FILE") {
		t.Fatalf("errors %v", errs)
	}
	r.quiet(t)
}
