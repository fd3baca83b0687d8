package model

import (
	"fmt"
	"net/netip"
	"time"
)

// Pool defaults: the meaning of a zero field.
const (
	DefaultPortMin                = 1024
	DefaultPortMax                = 65535
	DefaultBlockSize              = 256
	DefaultMaxBlocksPerSubscriber = 4
	DefaultReuseDelay             = 120 * time.Second
)

// Filtering says which inbound packets reach a subscriber's mapping
// (RFC 4787). The zero value, address-and-port-dependent, is the default: a
// mapping opened by a subscriber is not an open port for the rest of the
// internet.
type Filtering uint8

const (
	FilterAddressPort Filtering = iota
	FilterAddress
	FilterEndpoint
)

func (f Filtering) String() string {
	switch f {
	case FilterAddressPort:
		return "address-port"
	case FilterAddress:
		return "address"
	case FilterEndpoint:
		return "endpoint"
	}
	return fmt.Sprintf("filtering-%d", uint8(f))
}

// ParseFiltering is String's inverse.
func ParseFiltering(s string) (Filtering, bool) {
	for _, f := range []Filtering{FilterAddressPort, FilterAddress, FilterEndpoint} {
		if f.String() == s {
			return f, true
		}
	}
	return 0, false
}

// AddrRange is First..Last inclusive, one family.
type AddrRange struct {
	First netip.Addr
	Last  netip.Addr
}

func (r AddrRange) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// Pool is a named set of outside addresses in one outside VRF handed to
// subscribers (inside VRF, inside address) in blocks of ports. Either
// Ranges or Interface (whose own address is the pool) is set. Zero numeric
// fields mean the defaults above; validation fills them in.
type Pool struct {
	Name                     string
	OutsideVRF               uint32
	Ranges                   []AddrRange
	Interface                string
	PortMin, PortMax         uint16
	BlockSize                uint16
	MaxBlocksPerSubscriber   uint16
	MaxSessionsPerSubscriber uint32 // 0: no limit
	ReuseDelay               time.Duration
	Filtering                Filtering
	// StaticBlocksOnly: subscribers get only the blocks assigned as static
	// blocks (a NAT gateway's members); a bound subscriber without one is
	// dropped as exhausted, never translated with a dynamic block.
	StaticBlocksOnly bool
}

// WithDefaults returns p with its zero fields set to the defaults.
func (p Pool) WithDefaults() Pool {
	if p.PortMin == 0 && p.PortMax == 0 {
		p.PortMin, p.PortMax = DefaultPortMin, DefaultPortMax
	}
	if p.BlockSize == 0 {
		p.BlockSize = DefaultBlockSize
	}
	if p.MaxBlocksPerSubscriber == 0 {
		p.MaxBlocksPerSubscriber = DefaultMaxBlocksPerSubscriber
	}
	if p.ReuseDelay == 0 {
		p.ReuseDelay = DefaultReuseDelay
	}
	return p
}

// PoolCounters are a pool's counters as the dataplane reports them.
type PoolCounters struct {
	Subscribers   uint32
	Blocks        uint32 // blocks in the pool
	BlocksUsed    uint32 // held by subscribers
	BlocksCooling uint32 // released, waiting the reuse delay
	Sessions      uint64
	Exhausted     uint64 // new flows dropped: no block or a cap
}

// PoolStatus is a pool as a dataplane holds it, with its counters.
type PoolStatus struct {
	Pool     Pool
	Counters PoolCounters
}

// PoolBindingKey names a binding: an inside prefix of a VRF.
type PoolBindingKey struct {
	VRF    uint32
	Prefix netip.Prefix
}

func (k PoolBindingKey) String() string { return fmt.Sprintf("vrf %d %s", k.VRF, k.Prefix) }

// PoolBinding makes sources in Prefix leaving VRF translated with Pool.
type PoolBinding struct {
	VRF    uint32
	Prefix netip.Prefix
	Pool   string
}

// Key is the binding's key.
func (b PoolBinding) Key() PoolBindingKey { return PoolBindingKey{VRF: b.VRF, Prefix: b.Prefix} }

// StaticBlock assigns subscriber (VRF, InsideAddr) the block of Pool that
// starts at PortStart, on OutsideAddr. All its fields are its key.
type StaticBlock struct {
	Pool        string
	VRF         uint32
	InsideAddr  netip.Addr
	OutsideAddr netip.Addr
	PortStart   uint16
}

func (b StaticBlock) String() string {
	return fmt.Sprintf("pool %s vrf %d %s -> %s port %d", b.Pool, b.VRF, b.InsideAddr, b.OutsideAddr, b.PortStart)
}

// PortBlock is Start..End inclusive.
type PortBlock struct {
	Start, End uint16
	Static     bool
}

// Subscriber is (inside VRF, inside address) as the dataplane reports it.
type Subscriber struct {
	Pool        string
	VRF         uint32
	InsideAddr  netip.Addr
	OutsideAddr netip.Addr
	Sessions    uint32
	PortsInUse  uint32
	Blocks      []PortBlock
}

// SubscriberFilter selects subscribers: VRF AllVRFs and Pool "" match any.
type SubscriberFilter struct {
	VRF  uint32
	Pool string
}

// BlockLogRecord is one block allocation or release.
type BlockLogRecord struct {
	Time  time.Time
	Alloc bool // else released (or Exhausted)
	// Exhausted: not an allocation or release; the subscriber was refused
	// a port (no block left, or its cap), at most once per subscriber per
	// 10 s. OutsideAddr and the ports are its first block (zero: none).
	Exhausted   bool
	Pool        string
	VRF         uint32
	InsideAddr  netip.Addr
	OutsideAddr netip.Addr
	PortStart   uint16
	PortEnd     uint16
	// Lost is how many records the dataplane could not deliver so far.
	Lost uint64
}

// Event names the record: "alloc", "release" or "exhausted".
func (r BlockLogRecord) Event() string {
	switch {
	case r.Exhausted:
		return "exhausted"
	case r.Alloc:
		return "alloc"
	}
	return "release"
}
