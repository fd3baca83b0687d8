package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrLocked means another process holds the state file's lock.
var ErrLocked = errors.New("state file is in use by another agent")

// Lock takes an exclusive advisory lock (flock) on path+".lock" so that two
// agents never share one state file. The lock lasts until unlock is called
// or the process exits.
func Lock(path string) (unlock func(), err error) {
	lp := path + ".lock"
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("store: %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("store: locking %s: %w", lp, err)
	}
	return func() { f.Close() }, nil
}
