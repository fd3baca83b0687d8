// Package model holds cloudnat's intent and observed-state types. They are
// shared by the gRPC layer, the desired-state store, the reconciler and every
// dataplane, and know nothing about any of them.
package model

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/natgw"
)

// Proto is an IP protocol number. ICMP means ICMP echo (v4) and ICMPv6 echo
// (v6): for a translation the family of the VIP decides which.
type Proto uint8

const (
	ProtoICMP   Proto = 1
	ProtoTCP    Proto = 6
	ProtoUDP    Proto = 17
	ProtoICMPv6 Proto = 58
)

func (p Proto) String() string {
	switch p {
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMPv6:
		return "icmp6"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// Kind says whether a translation's address is a VIP (not owned by the
// dataplane; all its traffic is captured) or a real address of one of its
// interfaces (only the translated port is captured).
type Kind uint8

const (
	KindVIP Kind = iota
	KindReal
)

func (k Kind) String() string {
	if k == KindReal {
		return "real"
	}
	return "vip"
}

// LBMethod picks a backend per flow.
type LBMethod uint8

const (
	LBHash LBMethod = iota
	LBMaglev
)

func (m LBMethod) String() string {
	if m == LBMaglev {
		return "maglev"
	}
	return "hash"
}

// HashFields selects the flow-hash inputs; 0 means all five.
type HashFields uint8

const (
	HashSrcAddr HashFields = 1 << iota
	HashDstAddr
	HashSrcPort
	HashDstPort
	HashProto
)

// TranslationKey names a translation: VRF (FIB table id), address, port,
// protocol. It is the only way the API refers to a translation.
type TranslationKey struct {
	VRF   uint32
	VIP   netip.Addr
	Port  uint16
	Proto Proto
}

func (k TranslationKey) String() string {
	return fmt.Sprintf("vrf %d %s %s", k.VRF, k.Proto, netip.AddrPortFrom(k.VIP, k.Port))
}

// Backend is one set of four rewrites. A zero (invalid) address or a zero
// port means "keep"; DstAddr is required.
type Backend struct {
	SrcAddr netip.Addr
	SrcPort uint16
	DstAddr netip.Addr
	DstPort uint16
}

// Translation is a VIP or real address + port + protocol with backends.
type Translation struct {
	Key        TranslationKey
	Kind       Kind
	LB         LBMethod
	HashFields HashFields
	MaglevLen  uint32 // 0 = dataplane default (1009)
	Backends   []Backend
}

// SNATAddress is one source-NAT address of a VRF; several of one family
// form a pool.
type SNATAddress struct {
	VRF  uint32
	Addr netip.Addr
}

// SNATExclusion is a destination prefix that source NAT leaves untranslated.
type SNATExclusion struct {
	VRF    uint32
	Prefix netip.Prefix
}

// Family is an address family.
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// SNATInterface enables source NAT on traffic entering an interface, named
// as the dataplane names it ("tap0", "host-veth1").
type SNATInterface struct {
	Interface string
	Family    Family
}

// Timeouts are session idle timeouts. A zero field means "unchanged" in a
// request and "dataplane default" in intent.
type Timeouts struct {
	UDP            time.Duration
	TCPEstablished time.Duration
	TCPTransitory  time.Duration
	ICMP           time.Duration
}

// DefaultTimeouts meet shared/conformance.md (RFC 4787, 5382, 5508).
var DefaultTimeouts = Timeouts{
	UDP:            300 * time.Second,
	TCPEstablished: 7440 * time.Second,
	TCPTransitory:  240 * time.Second,
	ICMP:           60 * time.Second,
}

// AllVRFs in a SessionLimit or a filter means every table.
const AllVRFs = ^uint32(0)

// SessionLimit caps the sessions of one VRF, or of all when VRF == AllVRFs.
// Max 0 means unlimited.
type SessionLimit struct {
	VRF uint32
	Max uint32
}

// TCPState is a session's TCP state as the dataplane tracks it.
type TCPState uint8

const (
	TCPNone TCPState = iota
	TCPSynSent
	TCPEstablished
	TCPFinWait
	TCPClosed
)

// Session is one translated flow as the dataplane reports it.
type Session struct {
	VRF           uint32
	Proto         Proto
	Src, Dst      netip.AddrPort // as the first packet arrived (ICMP: port = echo id)
	NewSrc        netip.AddrPort // after translation
	NewDst        netip.AddrPort
	SNAT          bool // created by source NAT (else by a translation)
	TCPState      TCPState
	TranslationID uint32
	ExpiresIn     time.Duration
	Packets       uint64
}

// SessionFilter selects sessions; zero fields match anything (VRF: AllVRFs).
type SessionFilter struct {
	VRF   uint32
	Proto Proto
	Addr  netip.Prefix // matches original source or destination
	Port  uint16
}

// SessionKey names one direction of a session by its 5-tuple.
type SessionKey struct {
	VRF      uint32
	Proto    Proto
	Src, Dst netip.AddrPort
}

// Interface is a dataplane interface.
type Interface struct {
	Name  string
	Index uint32
	VRF4  uint32
	VRF6  uint32
	Up    bool
	Addrs []netip.Prefix
}

// Desired is the whole intent the agent keeps and reconciles.
type Desired struct {
	Translations   []Translation
	SNATAddresses  []SNATAddress
	SNATExclusions []SNATExclusion
	SNATInterfaces []SNATInterface
	Timeouts       Timeouts
	SessionLimits  []SessionLimit
	// Carrier-grade NAT (pool.go).
	Pools        []Pool        `json:",omitempty"`
	PoolBindings []PoolBinding `json:",omitempty"`
	StaticBlocks []StaticBlock `json:",omitempty"`
	// NATGW holds the NAT gateways, network interfaces and plans
	// (package natgw); omitted from the state file when empty.
	NATGW natgw.State `json:",omitzero"`
}
