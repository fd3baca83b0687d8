// Package store keeps the agent's intent (model.Desired) in a JSON file.
//
// Every change is written atomically: a temporary file in the same
// directory is written, fsynced and renamed over the state file, and the
// directory is fsynced, so a crash leaves either the old or the new state,
// never a mix. A file that cannot be parsed is an error that says so — the
// store never silently resets it. A missing file, or one holding
// "desired": null, is an empty intent that the store reports as Fresh: the
// agent decides whether that is a first start (see Init and Marker).
//
// Beside the state file the store keeps a marker (Marker(path)), written
// with the first state: a marker without a state file means the state was
// lost, not that this is a new install.
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// FormatVersion is the version of the state file's format.
const FormatVersion = 1

// ErrCorrupt marks a state file that exists but cannot be read as state.
var ErrCorrupt = errors.New("state file is corrupt")

// file is the on-disk form.
type file struct {
	Version int            `json:"version"`
	Desired *model.Desired `json:"desired"`
}

// Marker is the path of the marker kept beside the state file at path.
func Marker(path string) string { return path + ".initialized" }

// Store holds the intent in memory and on disk. It is safe for concurrent
// use.
type Store struct {
	path string

	mu      sync.RWMutex
	desired model.Desired
	fresh   bool // no intent was recorded at Open
	marked  bool // the marker is known to exist
}

// Open loads the state file at path (creating its directory when needed).
// A missing file gives an empty intent; an unreadable or corrupt one is an
// error wrapping ErrCorrupt that names the file and what is wrong.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty state path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.fresh = true
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("store: reading %s: %w", path, err)
	}
	d, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w: %v (fix or move the file away; the agent does not reset it)", path, ErrCorrupt, err)
	}
	if d == nil {
		s.fresh = true
	} else {
		s.desired = *d
	}
	return s, nil
}

// Fresh says that no intent was recorded when the store was opened: the
// state file was missing or held "desired": null.
func (s *Store) Fresh() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.fresh
}

// Init records the current (empty) intent and the marker, so that the
// next start finds a state file.
func (s *Store) Init() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.write(s.desired); err != nil {
		return err
	}
	s.fresh = false
	return nil
}

// decode reads a state file; a nil intent means "desired": null (or
// absent).
func decode(data []byte) (*model.Desired, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("file is empty")
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	if f.Version != FormatVersion {
		return nil, fmt.Errorf("format version %d, want %d", f.Version, FormatVersion)
	}
	return f.Desired, nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// Get returns a deep copy of the intent.
func (s *Store) Get() model.Desired {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Clone(s.desired)
}

// View calls fn with the intent under a read lock; fn must not keep or
// modify it. It avoids copying large intents.
func (s *Store) View(fn func(d *model.Desired)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(&s.desired)
}

// Update calls fn with a copy of the intent; when fn returns nil, the
// changed copy is written to disk and becomes the intent. It returns the
// intent as it was before. When fn or the write fails nothing changes.
func (s *Store) Update(fn func(d *model.Desired) error) (old model.Desired, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := Clone(s.desired)
	if err := fn(&next); err != nil {
		return model.Desired{}, err
	}
	if err := s.write(next); err != nil {
		return model.Desired{}, err
	}
	old = s.desired
	s.desired = next
	return Clone(old), nil
}

// Replace sets the whole intent (e.g. a rollback).
func (s *Store) Replace(d model.Desired) error {
	_, err := s.Update(func(cur *model.Desired) error {
		*cur = Clone(d)
		return nil
	})
	return err
}

// write stores d atomically. Called with s.mu held.
func (s *Store) write(d model.Desired) error {
	data, err := json.MarshalIndent(file{Version: FormatVersion, Desired: &d}, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encoding state: %w", err)
	}
	data = append(data, '\n')
	if err := WriteFileAtomic(s.path, data, 0o600); err != nil {
		return err
	}
	if !s.marked {
		if err := writeMarker(s.path); err != nil {
			return err
		}
		s.marked = true
	}
	return nil
}

// writeMarker creates the marker beside the state file at path unless it
// exists.
func writeMarker(path string) error {
	mp := Marker(path)
	if _, err := os.Stat(mp); err == nil {
		return nil
	}
	note := "cloudnat-agent keeps its intent in " + filepath.Base(path) + " beside this file.\n" +
		"While this marker exists, the agent refuses to start when that file is missing\n" +
		"(a lost or mistyped state path) unless it is started with --init.\n"
	return WriteFileAtomic(mp, []byte(note), 0o600)
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory that is fsynced and renamed over path; the directory is fsynced
// after the rename.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("store: creating temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("store: writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("store: fsync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("store: closing %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("store: renaming to %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: opening %s for fsync: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("store: fsync %s: %w", dir, err)
	}
	return nil
}

// Clone deep-copies an intent.
func Clone(d model.Desired) model.Desired {
	out := model.Desired{
		Translations:   slices.Clone(d.Translations),
		SNATAddresses:  slices.Clone(d.SNATAddresses),
		SNATExclusions: slices.Clone(d.SNATExclusions),
		SNATInterfaces: slices.Clone(d.SNATInterfaces),
		Timeouts:       d.Timeouts,
		SessionLimits:  slices.Clone(d.SessionLimits),
		NATGW:          d.NATGW.Clone(),
	}
	clonePools(&out, d)
	for i := range out.Translations {
		out.Translations[i].Backends = slices.Clone(out.Translations[i].Backends)
	}
	return out
}
