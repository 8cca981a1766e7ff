package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/testkit"
)

var ctx = context.Background()

func tm(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }

func newStore(t *testing.T) (*FileStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cp.json")
	s, err := NewFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestMissingFileIsFirstRun(t *testing.T) {
	s, _ := newStore(t)
	st, err := s.Load(ctx, "direct-routing")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Watermark.IsZero() || len(st.Windows) != 0 {
		t.Fatalf("state %+v, want zero", st)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s, path := newStore(t)
	want := State{
		Watermark: tm(3),
		Windows: []Window{
			{From: tm(1), To: tm(2), ReadAt: tm(2).Add(time.Minute), IDs: []string{"a", "b"}},
			{From: tm(2), To: tm(3), ReadAt: tm(3).Add(time.Minute), IDs: []string{}},
		},
	}
	if err := s.Save(ctx, "direct-routing", want); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "pstn", State{Watermark: tm(5)}); err != nil {
		t.Fatal(err)
	}
	// A new store reads what the old one wrote, for both sources.
	s2, err := NewFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Load(ctx, "direct-routing")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	p, err := s2.Load(ctx, "pstn")
	if err != nil || !p.Watermark.Equal(tm(5)) {
		t.Fatalf("pstn %+v %v", p, err)
	}
	matches, _ := filepath.Glob(path + "*" + tmpSuffix)
	if len(matches) != 0 {
		t.Fatalf("temp files left: %v", matches)
	}
}

func TestCorruptFileIsAnError(t *testing.T) {
	cases := map[string]string{
		"garbage":        "{not json",
		"empty":          "",
		"wrong format":   `{"format":"other","version":1,"sources":{}}`,
		"future version": `{"format":"callstream-checkpoint","version":2,"sources":{}}`,
		"unknown field":  `{"format":"callstream-checkpoint","version":1,"sources":{},"extra":1}`,
		"bad window":     `{"format":"callstream-checkpoint","version":1,"sources":{"s":{"savedAt":"2026-01-01T00:00:00Z","windows":[{"from":"2026-01-01T02:00:00Z","to":"2026-01-01T01:00:00Z","readAt":"2026-01-01T03:00:00Z","ids":[]}]}}}`,
		// The decoder stops after one value: what follows must not be
		// ignored.
		"trailing garbage": `{"format":"callstream-checkpoint","version":1,"sources":{}}garbage`,
		"two documents":    `{"format":"callstream-checkpoint","version":1,"sources":{}}` + "\n" + `{"format":"callstream-checkpoint","version":1,"sources":{}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			s, path := newStore(t)
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(ctx, "s")
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("err %v, want *CorruptError", err)
			}
			// Saving over a corrupt file must not silently reset it either.
			if err := s.Save(ctx, "s", State{Watermark: tm(1)}); err == nil {
				t.Fatal("save over a corrupt checkpoint succeeded")
			}
			if b, _ := os.ReadFile(path); string(b) != body {
				t.Fatal("the corrupt file was modified")
			}
		})
	}
}

func TestStaleTempFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cp.json")
	stale := path + ".12345" + tmpSuffix
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileStore(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temp file still there: %v", err)
	}
}

// TestTrailingWhitespaceIsFine: a file ending in a newline (an editor's, or
// a tool's) is still the document a save wrote.
func TestTrailingWhitespaceIsFine(t *testing.T) {
	s, path := newStore(t)
	body := `{"format":"callstream-checkpoint","version":1,"sources":{"s":{"watermark":"2026-01-01T03:00:00Z","savedAt":"2026-01-01T03:00:00Z","windows":[]}}}` + "\n\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load(ctx, "s")
	if err != nil || !st.Watermark.Equal(tm(3)) {
		t.Fatalf("state %+v, err %v", st, err)
	}
}

// TestUnwritableDirectoryIsRefusedAtOpen: a store that cannot save must be
// refused before anything is published, not after (each run would publish
// its window again).
func TestUnwritableDirectoryIsRefusedAtOpen(t *testing.T) {
	dir := testkit.UnwritableDir(t)
	_, err := NewFileStore(filepath.Join(dir, "cp.json"))
	if err == nil {
		t.Fatalf("NewFileStore in unwritable %s succeeded", dir)
	}
	if !strings.Contains(err.Error(), "not writable") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err %q does not say that %s is not writable", err, dir)
	}
}

// TestPathThatIsADirectoryIsRefusedAtOpen: a save's rename cannot replace
// a directory.
func TestPathThatIsADirectoryIsRefusedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.json")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileStore(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err %v, want a refusal naming a non-regular file", err)
	}
}

// TestCheckTime: Invariant 1, the checkpoint never runs ahead of Kafka —
// nor of time. A watermark or a remembered window's end beyond now (plus
// ClockSkew) is a *FutureError; within the allowance it is not.
func TestCheckTime(t *testing.T) {
	now := tm(12)
	ok := []State{
		{},
		{Watermark: now},
		{Watermark: now.Add(ClockSkew)},
		{Watermark: tm(11), Windows: []Window{{From: tm(10), To: tm(11)}, {From: tm(11), To: now.Add(ClockSkew)}}},
	}
	for _, st := range ok {
		if err := st.CheckTime(now); err != nil {
			t.Errorf("%+v: %v", st, err)
		}
	}
	bad := map[string]State{
		"watermark": {Watermark: now.Add(ClockSkew + time.Second)},
		"window":    {Watermark: tm(11), Windows: []Window{{From: tm(11), To: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}}},
	}
	for name, st := range bad {
		err := st.CheckTime(now)
		var fe *FutureError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: err %v, want *FutureError", name, err)
		}
		if !strings.Contains(fe.What, name) || !fe.Now.Equal(now) || !strings.Contains(err.Error(), "in the future") {
			t.Fatalf("%s: %+v / %q", name, fe, err)
		}
	}
}

func TestMissingDirectory(t *testing.T) {
	_, err := NewFileStore(filepath.Join(t.TempDir(), "nope", "cp.json"))
	if err == nil {
		t.Fatal("want an error for a missing directory")
	}
}

func TestUpsertAndEvict(t *testing.T) {
	var s State
	s.Upsert(Window{From: tm(2), To: tm(3), IDs: []string{"b"}})
	s.Upsert(Window{From: tm(0), To: tm(1), IDs: []string{"x"}})
	s.Upsert(Window{From: tm(1), To: tm(2), IDs: []string{"a"}})
	s.Upsert(Window{From: tm(1), To: tm(2), IDs: []string{"a", "c"}})
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(s.Windows) != 3 || !reflect.DeepEqual(s.Windows[1].IDs, []string{"a", "c"}) {
		t.Fatalf("windows %+v", s.Windows)
	}
	s.Evict(tm(2))
	if len(s.Windows) != 2 || !s.Windows[0].From.Equal(tm(1)) {
		t.Fatalf("after evict %+v", s.Windows)
	}
	c := s.Clone()
	c.Windows[0].IDs[0] = "changed"
	if s.Windows[0].IDs[0] != "a" {
		t.Fatal("Clone shares ids with the original")
	}
}
