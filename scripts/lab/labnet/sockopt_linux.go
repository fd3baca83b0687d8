package main

import (
	"fmt"
	"syscall"
)

// setSockopts sets SO_REUSEADDR and, with ttl > 0, the TTL (hop limit) and
// IP_RECVERR (IPV6_RECVERR) on both families' options: the socket's family
// is not known here, and the other family's options fail harmlessly, so the
// error of an option is returned only when neither family took it.
func setSockopts(rc syscall.RawConn, ttl int, reuse bool) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		s := int(fd)
		if reuse {
			if err := syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
				serr = fmt.Errorf("SO_REUSEADDR: %w", err)
				return
			}
		}
		if ttl <= 0 {
			return
		}
		e4 := syscall.SetsockoptInt(s, syscall.IPPROTO_IP, syscall.IP_TTL, ttl)
		e6 := syscall.SetsockoptInt(s, syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, ttl)
		if e4 != nil && e6 != nil {
			serr = fmt.Errorf("IP_TTL: %w", e4)
			return
		}
		e4 = syscall.SetsockoptInt(s, syscall.IPPROTO_IP, syscall.IP_RECVERR, 1)
		e6 = syscall.SetsockoptInt(s, syscall.IPPROTO_IPV6, syscall.IPV6_RECVERR, 1)
		if e4 != nil && e6 != nil {
			serr = fmt.Errorf("IP_RECVERR: %w", e4)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
