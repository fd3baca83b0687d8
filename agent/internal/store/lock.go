package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrLocked means another agent holds a lock: of the state file, or of the
// dataplane target (a kernel table, a VPP).
var ErrLocked = errors.New("in use by another agent")

// Lock takes an exclusive advisory lock (flock) on path+".lock" so that two
// agents never share one state file. The lock lasts until unlock is called
// or the process exits.
func Lock(path string) (unlock func(), err error) {
	f, err := flock(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("store: state file %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// TargetLock is the lock of one dataplane target, held while an agent
// drives it.
type TargetLock struct {
	Path string
	// PrevState is the state file the last agent holding this lock used
	// ("" when none is recorded, e.g. after a reboot cleared /run).
	PrevState string
	f         *os.File
}

// Unlock releases the lock (the file stays, recording the owner's state
// file for the next agent).
func (l *TargetLock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
	}
}

// LockTarget takes the exclusive lock of a dataplane target: the file
// <dir>/<kind>-<target>.lock (target made file-name safe), so that only one
// agent drives a kernel table or a VPP at a time. The file records the
// lock holder's state file; the previous holder's is returned in
// PrevState. A second agent gets an error wrapping ErrLocked that names
// the holder.
func LockTarget(dir, kind, target, statePath string) (*TargetLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: lock directory: %w", err)
	}
	lp := filepath.Join(dir, kind+"-"+safeName(target)+".lock")
	f, err := flock(lp)
	if err != nil {
		if errors.Is(err, ErrLocked) {
			owner, _ := os.ReadFile(lp)
			return nil, fmt.Errorf("the %s dataplane %s is %w (%s; lock %s): only one agent may drive it; stop that agent first",
				kind, target, err, strings.TrimSpace(string(owner)), lp)
		}
		return nil, fmt.Errorf("store: %w", err)
	}
	l := &TargetLock{Path: lp, f: f}
	if prev, err := os.ReadFile(lp); err == nil {
		for line := range strings.Lines(string(prev)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "state="); ok {
				l.PrevState = v
			}
		}
	}
	abs, err := filepath.Abs(statePath)
	if err != nil {
		abs = statePath
	}
	rec := fmt.Sprintf("pid=%d\nstate=%s\n", os.Getpid(), abs)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(rec), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: writing %s: %w", lp, err)
	}
	return l, nil
}

// flock opens (creating) lp and takes an exclusive non-blocking flock.
func flock(lp string) (*os.File, error) {
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("locking %s: %w", lp, err)
	}
	return f, nil
}

// safeName maps s to a file-name-safe string.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, strings.TrimPrefix(s, "/"))
}
