//go:build !linux

package main

import (
	"errors"
	"syscall"
)

// setSockopts: --ttl needs Linux's socket options; SO_REUSEADDR is left
// out (get --local then fails on a port in use).
func setSockopts(_ syscall.RawConn, ttl int, _ bool) error {
	if ttl > 0 {
		return errors.New("--ttl needs Linux")
	}
	return nil
}
