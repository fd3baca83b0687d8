package vppharness

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/gopacket/gopacket"
)

// AssertChecksumsValid recomputes and compares every checksum of a captured
// packet: the IPv4 header checksum, the TCP/UDP/ICMP/ICMPv6 checksum, and for
// ICMP errors the quoted IPv4 header's checksum and, when the quoted packet
// is complete, the quoted L4 checksum.
func AssertChecksumsValid(t testing.TB, pkt gopacket.Packet) {
	t.Helper()
	if errs := ChecksumErrors(pkt.Data()); len(errs) > 0 {
		desc := "?"
		if p, err := ParseFrame(pkt.Data()); err == nil {
			desc = p.String()
		}
		t.Errorf("bad checksums in %s: %v\n%s", desc, errs, hex.Dump(pkt.Data()))
	}
}

// ChecksumErrors returns one message per wrong checksum in an Ethernet frame
// carrying IP. Non-IP frames have none.
func ChecksumErrors(frame []byte) []string {
	if len(frame) < 14 {
		return []string{"frame too short"}
	}
	et := binary.BigEndian.Uint16(frame[12:])
	if et != 0x0800 && et != 0x86dd {
		return nil
	}
	return ipChecksumErrors(frame[14:], "", false)
}

// IPChecksumErrors checks an IP packet (no Ethernet header).
func IPChecksumErrors(b []byte) []string { return ipChecksumErrors(b, "", false) }

func sum16(b []byte, initial uint32) uint32 {
	s := initial
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = (s >> 16) + (s & 0xffff)
	}
	return uint16(s)
}

// Checksum computes the Internet checksum of b with an initial partial sum.
func Checksum(b []byte, initial uint32) uint16 { return ^fold(sum16(b, initial)) }

func pseudo(src, dst []byte, proto uint8, l4len int) uint32 {
	s := sum16(src, 0)
	s = sum16(dst, s)
	s += uint32(proto)
	s += uint32(l4len)
	return s
}

// ipChecksumErrors checks an IP packet; inner marks a quoted packet, whose
// L4 checksum is only checked when complete.
func ipChecksumErrors(b []byte, where string, inner bool) []string {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, where+fmt.Sprintf(f, a...)) }
	if len(b) < 1 {
		bad("empty IP packet")
		return errs
	}
	var src, dst, l4 []byte
	var proto uint8
	complete := true
	v6 := false
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			bad("IPv4 header truncated")
			return errs
		}
		ihl := int(b[0]&0xf) * 4
		if ihl < 20 || ihl > len(b) {
			bad("IPv4 IHL %d with %d bytes", ihl, len(b))
			return errs
		}
		if c := fold(sum16(b[:ihl], 0)); c != 0xffff {
			bad("IPv4 header checksum %#04x wrong (want %#04x)", binary.BigEndian.Uint16(b[10:]),
				Checksum(append(append(append([]byte{}, b[:10]...), 0, 0), b[12:ihl]...), 0))
		}
		tl := int(binary.BigEndian.Uint16(b[2:]))
		if tl < ihl {
			bad("IPv4 total length %d < IHL %d", tl, ihl)
			return errs
		}
		if tl > len(b) {
			if !inner {
				bad("IPv4 total length %d > %d bytes present", tl, len(b))
			}
			complete = false
			tl = len(b)
		}
		if ff := binary.BigEndian.Uint16(b[6:]); ff&0x3fff != 0 {
			return errs // fragment: the L4 checksum covers all fragments
		}
		src, dst, proto, l4 = b[12:16], b[16:20], b[9], b[ihl:tl]
	case 6:
		v6 = true
		if len(b) < 40 {
			bad("IPv6 header truncated")
			return errs
		}
		end := 40 + int(binary.BigEndian.Uint16(b[4:]))
		if end > len(b) {
			if !inner {
				bad("IPv6 payload length %d > %d bytes present", end-40, len(b)-40)
			}
			complete = false
			end = len(b)
		}
		src, dst, proto, l4 = b[8:24], b[24:40], b[6], b[40:end]
		// extension headers (hop-by-hop, routing, destination options);
		// a fragment's L4 checksum covers all fragments
		for off, n := 40, 0; n < 8 && (proto == 0 || proto == 43 || proto == 60 || proto == 44); n++ {
			if proto == 44 || end < off+8 {
				return errs
			}
			proto, off = b[off], off+(int(b[off+1])+1)*8
			if off > end {
				return errs
			}
			l4 = b[off:end]
		}
	default:
		bad("IP version %d", b[0]>>4)
		return errs
	}
	if !complete {
		// A quoted packet cut short: its L4 checksum cannot be checked.
		return errs
	}
	name := ""
	switch {
	case proto == 6:
		name = "TCP"
		if len(l4) < 20 {
			bad("TCP header truncated")
			return errs
		}
		if c := fold(sum16(l4, pseudo(src, dst, proto, len(l4)))); c != 0xffff {
			bad("%s checksum %#04x wrong (want %#04x)", name, binary.BigEndian.Uint16(l4[16:]), want(l4, 16, pseudo(src, dst, proto, len(l4))))
		}
	case proto == 17:
		name = "UDP"
		if len(l4) < 8 {
			bad("UDP header truncated")
			return errs
		}
		ck := binary.BigEndian.Uint16(l4[6:])
		if ck == 0 {
			if v6 {
				bad("UDP checksum 0 in IPv6")
			}
			return errs
		}
		if c := fold(sum16(l4, pseudo(src, dst, proto, len(l4)))); c != 0xffff {
			bad("%s checksum %#04x wrong (want %#04x)", name, ck, want(l4, 6, pseudo(src, dst, proto, len(l4))))
		}
	case proto == 1 && !v6:
		if len(l4) < 8 {
			bad("ICMP header truncated")
			return errs
		}
		if c := fold(sum16(l4, 0)); c != 0xffff {
			bad("ICMP checksum %#04x wrong (want %#04x)", binary.BigEndian.Uint16(l4[2:]), want(l4, 2, 0))
		}
		if !inner && icmpKind(l4[0], false).IsError() && len(l4) > 8 {
			errs = append(errs, ipChecksumErrors(l4[8:], where+"inner ", true)...)
		}
	case proto == 58 && v6:
		if len(l4) < 8 {
			bad("ICMPv6 header truncated")
			return errs
		}
		if c := fold(sum16(l4, pseudo(src, dst, proto, len(l4)))); c != 0xffff {
			bad("ICMPv6 checksum %#04x wrong (want %#04x)", binary.BigEndian.Uint16(l4[2:]), want(l4, 2, pseudo(src, dst, proto, len(l4))))
		}
		if !inner && icmpKind(l4[0], true).IsError() && len(l4) > 8 {
			errs = append(errs, ipChecksumErrors(l4[8:], where+"inner ", true)...)
		}
	}
	return errs
}

// want is the correct checksum of l4 with the checksum field at off.
func want(l4 []byte, off int, initial uint32) uint16 {
	c := append([]byte{}, l4...)
	c[off], c[off+1] = 0, 0
	return Checksum(c, initial)
}
