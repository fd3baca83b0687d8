package model

import (
	"fmt"
	"net/netip"
)

// MaxStaticNATAddrs is the most addresses one static mapping may cover.
const MaxStaticNATAddrs = 4096

// StaticNATKey names a static mapping: inside VRF, inside prefix, proto
// and inside port (0 and 0 for an all-ports mapping).
type StaticNATKey struct {
	InsideVRF  uint32
	Inside     netip.Prefix
	Proto      Proto
	InsidePort uint16
}

func (k StaticNATKey) String() string {
	s := fmt.Sprintf("vrf %d %s", k.InsideVRF, k.Inside)
	if k.Proto != 0 {
		s += fmt.Sprintf(" %s %d", k.Proto, k.InsidePort)
	}
	return s
}

// StaticNAT is a stateless 1:1 NAT between Inside in InsideVRF and Outside
// (same length and family) in OutsideVRF: source NAT leaving the inside,
// destination NAT entering it. Proto 0 maps all ports (TCP, UDP, ICMP);
// Proto TCP or UDP maps InsidePort <-> OutsidePort only.
type StaticNAT struct {
	InsideVRF   uint32
	Inside      netip.Prefix
	OutsideVRF  uint32
	Outside     netip.Prefix
	Proto       Proto
	InsidePort  uint16
	OutsidePort uint16
}

// Key is the mapping's key.
func (s StaticNAT) Key() StaticNATKey {
	return StaticNATKey{InsideVRF: s.InsideVRF, Inside: s.Inside, Proto: s.Proto, InsidePort: s.InsidePort}
}

func (s StaticNAT) String() string {
	in, out := s.Inside.String(), s.Outside.String()
	if s.Proto != 0 {
		in += fmt.Sprintf(" %s %d", s.Proto, s.InsidePort)
		out += fmt.Sprintf(" %s %d", s.Proto, s.OutsidePort)
	}
	return fmt.Sprintf("vrf %d %s <-> vrf %d %s", s.InsideVRF, in, s.OutsideVRF, out)
}

// Normalize returns s with masked, unmapped prefixes.
func (s StaticNAT) Normalize() StaticNAT {
	s.Inside = netip.PrefixFrom(s.Inside.Addr().Unmap(), s.Inside.Bits()-unmapBits(s.Inside)).Masked()
	s.Outside = netip.PrefixFrom(s.Outside.Addr().Unmap(), s.Outside.Bits()-unmapBits(s.Outside)).Masked()
	return s
}

func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return 96
	}
	return 0
}
