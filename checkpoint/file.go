package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileFormat and FileVersion identify the file store's format; a file with
// another version is refused rather than misread.
const (
	FileFormat  = "callstream-checkpoint"
	FileVersion = 1
)

// tmpSuffix marks a checkpoint being written; leftovers from a crash are
// removed on open.
const tmpSuffix = ".tmp"

// FileStore keeps every source's state in one JSON file, replaced
// atomically on each save (temp file, fsync, rename, fsync of the directory).
// It is a Saver: the walker saves a state after Kafka acknowledged the rows
// it describes (at-least-once).
type FileStore struct {
	path string

	mu    sync.Mutex
	state map[string]fileSource // what is on disk, by source
	read  bool
}

var _ Saver = (*FileStore)(nil)

// NewFileStore returns a store at path. The directory must exist and be
// writable (see CheckWritable); stale temp files of an interrupted save are
// removed.
func NewFileStore(path string) (*FileStore, error) {
	if path == "" {
		return nil, errors.New("checkpoint: file path is empty")
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("checkpoint directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("checkpoint directory %s is not a directory", dir)
	}
	matches, _ := filepath.Glob(path + ".*" + tmpSuffix)
	for _, m := range matches {
		_ = os.Remove(m)
	}
	f := &FileStore{path: path}
	if err := f.CheckWritable(); err != nil {
		return nil, err
	}
	return f, nil
}

// CheckWritable makes sure a save can succeed: it creates, writes, syncs
// and removes a temp file beside the checkpoint, as a save does before its
// rename, and refuses a path that exists but is not a regular file (a
// rename cannot replace it). A store that could not save would let a run
// publish a window and then fail to record it, so every run would publish
// it again (Invariant 1: the checkpoint never runs ahead of Kafka — and
// Kafka must not run ahead of a checkpoint that can never follow it).
// NewFileStore calls it, so a run finds out before its first publish.
func (f *FileStore) CheckWritable() error {
	if fi, err := os.Stat(f.path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("checkpoint %s is not a regular file (%s), a save cannot replace it", f.path, fi.Mode().Type())
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint %s: %w", f.path, err)
	}
	dir := filepath.Dir(f.path)
	// The probe is named like a save's temp file, so a crash here leaves
	// nothing that the next open does not remove.
	tmp, err := os.CreateTemp(dir, filepath.Base(f.path)+".*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("checkpoint directory %s is not writable: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write([]byte("{}"))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint directory %s is not writable: %w", dir, err)
	}
	if err := os.Remove(tmp.Name()); err != nil {
		return fmt.Errorf("checkpoint directory %s: cannot remove a file (a save replaces the checkpoint by rename): %w", dir, err)
	}
	return nil
}

// Path is the file the store writes.
func (f *FileStore) Path() string { return f.path }

type fileDoc struct {
	Format  string                `json:"format"`
	Version int                   `json:"version"`
	Sources map[string]fileSource `json:"sources"`
}

type fileSource struct {
	Watermark *time.Time   `json:"watermark,omitempty"`
	SavedAt   time.Time    `json:"savedAt"`
	Windows   []fileWindow `json:"windows"`
}

type fileWindow struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	ReadAt time.Time `json:"readAt"`
	IDs    []string  `json:"ids"`
}

func (f *FileStore) load() error {
	if f.read {
		return nil
	}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		f.state, f.read = map[string]fileSource{}, true
		return nil
	}
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	var doc fileDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return &CorruptError{Path: f.path, Reason: err.Error()}
	}
	// The decoder stops after the first value: anything but whitespace after
	// it (garbage, a second document from a botched edit or copy) means the
	// file is not what a save wrote.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &CorruptError{Path: f.path, Reason: fmt.Sprintf("unexpected data after the JSON document at byte %d", dec.InputOffset())}
	}
	if doc.Format != FileFormat {
		return &CorruptError{Path: f.path, Reason: fmt.Sprintf("format %q, want %q", doc.Format, FileFormat)}
	}
	if doc.Version != FileVersion {
		return &CorruptError{Path: f.path, Reason: fmt.Sprintf("version %d, this build reads version %d", doc.Version, FileVersion)}
	}
	if doc.Sources == nil {
		doc.Sources = map[string]fileSource{}
	}
	for name, src := range doc.Sources {
		if err := src.toState().Validate(); err != nil {
			return &CorruptError{Path: f.path, Reason: fmt.Sprintf("source %s: %v", name, err)}
		}
	}
	f.state, f.read = doc.Sources, true
	return nil
}

func (s fileSource) toState() State {
	var st State
	if s.Watermark != nil {
		st.Watermark = *s.Watermark
	}
	for _, w := range s.Windows {
		st.Windows = append(st.Windows, Window(w))
	}
	return st
}

// Load implements Loader.
func (f *FileStore) Load(_ context.Context, source string) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return State{}, err
	}
	return f.state[source].toState().Clone(), nil
}

// Save implements Saver.
func (f *FileStore) Save(_ context.Context, source string, st State) error {
	if err := st.Validate(); err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", source, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return err
	}
	src := fileSource{SavedAt: time.Now().UTC(), Windows: make([]fileWindow, 0, len(st.Windows))}
	if !st.Watermark.IsZero() {
		wm := st.Watermark.UTC()
		src.Watermark = &wm
	}
	for _, w := range st.Windows {
		ids := w.IDs
		if ids == nil {
			ids = []string{}
		}
		src.Windows = append(src.Windows, fileWindow{From: w.From.UTC(), To: w.To.UTC(), ReadAt: w.ReadAt.UTC(), IDs: ids})
	}
	next := make(map[string]fileSource, len(f.state)+1)
	for k, v := range f.state {
		next[k] = v
	}
	next[source] = src
	b, err := json.Marshal(fileDoc{Format: FileFormat, Version: FileVersion, Sources: next})
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := writeAtomic(f.path, b); err != nil {
		return err
	}
	// Only a state that reached the disk becomes the new base for other
	// sources' saves.
	f.state = next
	return nil
}

// writeAtomic replaces path with data so that a crash at any point leaves
// either the old or the new file, never a mix.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("create checkpoint temp file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename checkpoint: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open checkpoint directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync checkpoint directory: %w", err)
	}
	return nil
}
