// Package fuzzpkt builds hostile IP packets for fuzzing a NAT data path:
// well-formed flows mixed with truncated headers, lying lengths, bad IHL
// and IPv4 options, IPv6 extension-header chains, ICMP errors quoting ICMP
// errors, zero and maximum ports, every protocol number and fragments. A
// Gen with a seed always produces the same sequence.
package fuzzpkt

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// Endpoints are the addresses a generator aims at: sources and
// destinations to draw from, and the ports that hit existing mappings.
type Endpoints struct {
	Src, Dst []netip.Addr
	// Ports are drawn often (they hit sessions); 0 and 65535 always are
	// among the choices.
	Ports []uint16
}

// Packet is one generated IP packet with what was done to it.
type Packet struct {
	IP []byte
	// Kind names the generator and mutation ("udp", "tcp+trunc", ...).
	Kind string
	// Valid: the packet is well formed (a NAT must translate or drop
	// it by its rules, never pass it on malformed).
	Valid bool
}

// Gen is a deterministic packet generator.
type Gen struct {
	r *rand.Rand
}

// New returns a generator for seed.
func New(seed uint64) *Gen { return &Gen{r: rand.New(rand.NewPCG(seed, 0x636c6f75646e6174))} }

// V6 draws a family: IPv6 with probability 0.4.
func (g *Gen) V6() bool { return g.chance(0.4) }

func (g *Gen) pick(n int) int { return g.r.IntN(n) }

func (g *Gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *Gen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g *Gen) port(e *Endpoints) uint16 {
	switch g.pick(8) {
	case 0:
		return 0
	case 1:
		return 65535
	case 2, 3:
		return uint16(g.r.Uint32())
	}
	if len(e.Ports) == 0 {
		return uint16(g.r.Uint32())
	}
	return e.Ports[g.pick(len(e.Ports))]
}

func addrOf(as []netip.Addr, v6 bool, g *Gen) netip.Addr {
	var c []netip.Addr
	for _, a := range as {
		if a.Is6() == v6 {
			c = append(c, a)
		}
	}
	if len(c) == 0 {
		return netip.Addr{}
	}
	return c[g.pick(len(c))]
}

// Next returns the next packet from a source of e to a destination of e,
// in the family v6.
func (g *Gen) Next(e *Endpoints, v6 bool) Packet {
	src, dst := addrOf(e.Src, v6, g), addrOf(e.Dst, v6, g)
	var proto uint8
	var l4 []byte
	kind := ""
	switch k := g.pick(20); {
	case k < 5:
		proto, kind = 6, "tcp"
		l4 = g.tcp(e, src, dst, v6)
	case k < 10:
		proto, kind = 17, "udp"
		l4 = g.udp(e, src, dst, v6)
	case k < 13:
		proto, kind = icmpProto(v6), "icmp-echo"
		l4 = g.echo(e, src, dst, v6)
	case k < 17:
		proto, kind = icmpProto(v6), "icmp-error"
		l4 = g.icmpError(e, src, dst, v6, 0)
	default:
		proto = uint8(g.r.Uint32())
		kind = "proto"
		l4 = g.bytes(g.pick(64))
	}
	var ip []byte
	if v6 {
		ip = g.ip6(src, dst, proto, l4)
	} else {
		ip = ip4(src, dst, proto, l4, 64)
	}
	p := Packet{IP: ip, Kind: kind, Valid: true}
	if g.chance(0.45) {
		g.mutate(&p, v6)
	}
	return p
}

func icmpProto(v6 bool) uint8 {
	if v6 {
		return 58
	}
	return 1
}

// ip4 builds an IPv4 packet with a correct header checksum.
func ip4(src, dst netip.Addr, proto uint8, l4 []byte, ttl uint8) []byte {
	h := make([]byte, 20, 20+len(l4))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(h[4:], 0x1234)
	h[8], h[9] = ttl, proto
	s4, d4 := src.As4(), dst.As4()
	copy(h[12:], s4[:])
	copy(h[16:], d4[:])
	binary.BigEndian.PutUint16(h[10:], Checksum(h, 0))
	return append(h, l4...)
}

// ip6 builds an IPv6 packet, sometimes behind a chain of extension headers.
func (g *Gen) ip6(src, dst netip.Addr, proto uint8, l4 []byte) []byte {
	var ext []byte
	next := proto
	if g.chance(0.2) {
		// a chain of 1-4 of hop-by-hop, routing, destination options,
		// fragment (atomic), built back to front
		n := 1 + g.pick(4)
		for i := 0; i < n; i++ {
			typ := []uint8{0, 43, 60, 44}[g.pick(4)]
			var h []byte
			if typ == 44 {
				h = make([]byte, 8)
				binary.BigEndian.PutUint32(h[4:], g.r.Uint32())
			} else {
				units := g.pick(3)
				h = make([]byte, 8*(units+1))
				h[1] = byte(units)
				if typ != 43 {
					h[2], h[3] = 1, byte(len(h)-4) // PadN
				}
			}
			h[0] = next
			next = typ
			ext = append(h, ext...)
		}
	}
	h := make([]byte, 40, 40+len(ext)+len(l4))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(ext)+len(l4)))
	h[6], h[7] = next, 64
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(append(h, ext...), l4...)
}

func pseudo(src, dst netip.Addr, proto uint8, n int) uint32 {
	var s uint32
	for _, b := range [][]byte{src.AsSlice(), dst.AsSlice()} {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	return s + uint32(proto) + uint32(n)
}

// Checksum is the Internet checksum of b with an initial sum.
func Checksum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func (g *Gen) tcp(e *Endpoints, src, dst netip.Addr, v6 bool) []byte {
	h := make([]byte, 20, 20+16)
	binary.BigEndian.PutUint16(h, g.port(e))
	binary.BigEndian.PutUint16(h[2:], g.port(e))
	binary.BigEndian.PutUint32(h[4:], g.r.Uint32())
	binary.BigEndian.PutUint32(h[8:], g.r.Uint32())
	h[12] = 5 << 4
	flags := []byte{0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x00, 0xff}
	h[13] = flags[g.pick(len(flags))]
	binary.BigEndian.PutUint16(h[14:], 8192)
	h = append(h, g.bytes(g.pick(3)*8)...)
	binary.BigEndian.PutUint16(h[16:], Checksum(h, pseudo(src, dst, 6, len(h))))
	return h
}

func (g *Gen) udp(e *Endpoints, src, dst netip.Addr, v6 bool) []byte {
	h := make([]byte, 8, 8+32)
	binary.BigEndian.PutUint16(h, g.port(e))
	binary.BigEndian.PutUint16(h[2:], g.port(e))
	h = append(h, g.bytes(g.pick(32))...)
	binary.BigEndian.PutUint16(h[4:], uint16(len(h)))
	c := Checksum(h, pseudo(src, dst, 17, len(h)))
	if c == 0 {
		c = 0xffff
	}
	if !v6 && g.chance(0.1) {
		c = 0 // no checksum (IPv4 only)
	}
	binary.BigEndian.PutUint16(h[6:], c)
	return h
}

func (g *Gen) icmpSum(h []byte, src, dst netip.Addr, v6 bool) {
	h[2], h[3] = 0, 0
	init := uint32(0)
	if v6 {
		init = pseudo(src, dst, 58, len(h))
	}
	binary.BigEndian.PutUint16(h[2:], Checksum(h, init))
}

func (g *Gen) echo(e *Endpoints, src, dst netip.Addr, v6 bool) []byte {
	h := make([]byte, 8, 8+16)
	h[0] = []byte{8, 0}[g.pick(2)]
	if v6 {
		h[0] = []byte{128, 129}[g.pick(2)]
	}
	binary.BigEndian.PutUint16(h[4:], g.port(e))
	binary.BigEndian.PutUint16(h[6:], uint16(g.r.Uint32()))
	h = append(h, g.bytes(g.pick(16))...)
	g.icmpSum(h, src, dst, v6)
	return h
}

// icmpError is an ICMP error quoting a packet the other way (dst -> src),
// itself sometimes an ICMP error (ICMP quoting ICMP), truncated or not.
func (g *Gen) icmpError(e *Endpoints, src, dst netip.Addr, v6 bool, depth int) []byte {
	h := make([]byte, 8)
	if v6 {
		h[0] = []byte{1, 2, 3, 4}[g.pick(4)]
		h[1] = byte(g.pick(8))
	} else {
		h[0] = []byte{3, 11, 12, 4, 5}[g.pick(5)]
		h[1] = byte(g.pick(16))
	}
	if g.chance(0.3) {
		binary.BigEndian.PutUint32(h[4:], g.r.Uint32())
	}
	// the quoted packet went from the other side: dst -> src
	qs, qd := dst, src
	if g.chance(0.2) {
		qs = addrOf(e.Dst, v6, g)
	}
	var inner []byte
	var proto uint8
	switch k := g.pick(10); {
	case k < 4:
		proto, inner = 17, g.udp(e, qs, qd, v6)
	case k < 7:
		proto, inner = 6, g.tcp(e, qs, qd, v6)
	case k < 9 || depth > 0:
		proto, inner = icmpProto(v6), g.echo(e, qs, qd, v6)
	default:
		proto, inner = icmpProto(v6), g.icmpError(e, qs, qd, v6, depth+1)
	}
	var q []byte
	if v6 {
		q = g.ip6(qs, qd, proto, inner)
	} else {
		q = ip4(qs, qd, proto, inner, 64)
	}
	if g.chance(0.4) {
		// truncated quote: anywhere, often right after the L4 ports
		hl := 20
		if v6 {
			hl = 40
		}
		cut := []int{hl + 8, hl + 4, hl, hl + 2, g.pick(len(q) + 1)}[g.pick(5)]
		if cut < len(q) {
			q = q[:cut]
		}
	}
	if !v6 && len(q) > 11 && g.chance(0.1) {
		q[10] ^= 0xff // bad quoted header checksum
	}
	h = append(h, q...)
	g.icmpSum(h, src, dst, v6)
	return h
}

// mutate damages a packet in one of many ways.
func (g *Gen) mutate(p *Packet, v6 bool) {
	ip := p.IP
	p.Valid = false
	switch g.pick(12) {
	case 0: // truncated anywhere
		p.IP = ip[:g.pick(len(ip))]
		p.Kind += "+trunc"
	case 1: // length field lies
		if v6 {
			binary.BigEndian.PutUint16(ip[4:], uint16(g.r.Uint32()))
		} else {
			binary.BigEndian.PutUint16(ip[2:], uint16(g.r.Uint32()))
			fixIP4(ip)
		}
		p.Kind += "+len"
	case 2: // bad IHL (IPv4) or version
		if v6 {
			ip[0] = byte(g.pick(16))<<4 | ip[0]&0xf
		} else {
			ip[0] = 0x40 | byte(g.pick(16))
			fixIP4(ip)
		}
		p.Kind += "+ihl"
	case 3: // IPv4 options (garbage or well formed); IPv6: hop limit 0/1
		if v6 {
			ip[7] = byte(g.pick(2))
			p.Kind += "+hlim"
			p.Valid = true
			return
		}
		n := 4 * (1 + g.pick(10))
		opts := g.bytes(n)
		if g.chance(0.5) {
			for i := range opts {
				opts[i] = 1 // NOPs
			}
		}
		out := append(append(append([]byte{}, ip[:20]...), opts...), ip[20:]...)
		out[0] = 0x40 | byte(5+n/4)
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		fixIP4(out)
		p.IP = out
		p.Kind += "+opts"
	case 4, 5: // fragment: a random piece with random offset and MF
		p.IP = g.fragment(ip, v6)
		p.Kind += "+frag"
		p.Valid = true
	case 6: // L4 checksum broken
		off := 20
		if v6 {
			off = 40
		}
		if len(ip) > off+8 {
			ip[off+g.pick(8)] ^= byte(1 + g.pick(255))
		}
		p.Kind += "+l4sum"
	case 7: // IPv4 header checksum broken
		if !v6 {
			ip[10] ^= 0xa5
		}
		p.Kind += "+ipsum"
	case 8: // TTL 0 or 1
		if v6 {
			ip[7] = byte(g.pick(2))
		} else {
			ip[8] = byte(g.pick(2))
			fixIP4(ip)
		}
		p.Kind += "+ttl"
		p.Valid = true
	case 9: // random bytes flipped
		for i := 0; i < 1+g.pick(4); i++ {
			if len(ip) > 0 {
				ip[g.pick(len(ip))] ^= byte(1 + g.pick(255))
			}
		}
		p.Kind += "+flip"
	case 10: // extra trailing bytes beyond the IP length
		p.IP = append(ip, g.bytes(1+g.pick(40))...)
		p.Kind += "+trail"
	case 11: // zero-length L4
		hl := 20
		if v6 {
			hl = 40
		}
		p.IP = ip[:hl]
		if v6 {
			binary.BigEndian.PutUint16(p.IP[4:], 0)
		} else {
			binary.BigEndian.PutUint16(p.IP[2:], 20)
			fixIP4(p.IP)
		}
		p.Kind += "+nol4"
	}
}

func fixIP4(ip []byte) {
	if len(ip) < 20 {
		return
	}
	ip[10], ip[11] = 0, 0
	ihl := int(ip[0]&0xf) * 4
	if ihl < 20 || ihl > len(ip) {
		ihl = 20
	}
	binary.BigEndian.PutUint16(ip[10:], Checksum(ip[:ihl], 0))
}

// fragment cuts a piece of the packet's payload and marks it a fragment.
func (g *Gen) fragment(ip []byte, v6 bool) []byte {
	if v6 {
		if len(ip) < 40 {
			return ip
		}
		pl := ip[40:]
		off := 8 * g.pick(len(pl)/8+1)
		end := min(len(pl), off+8*(1+g.pick(8)))
		if g.chance(0.3) {
			off = 0
		}
		h := append([]byte{}, ip[:40]...)
		fh := make([]byte, 8)
		fh[0] = h[6]
		fo := uint16(off/8) << 3
		if g.chance(0.6) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], uint32(g.pick(4)))
		h[6] = 44
		binary.BigEndian.PutUint16(h[4:], uint16(8+end-off))
		return append(append(h, fh...), pl[off:end]...)
	}
	ihl := int(ip[0]&0xf) * 4
	if ihl < 20 || ihl > len(ip) {
		return ip
	}
	pl := ip[ihl:]
	off := 8 * g.pick(len(pl)/8+1)
	if g.chance(0.3) {
		off = 0
	}
	end := min(len(pl), off+8*(1+g.pick(8)))
	if off > end {
		off = end &^ 7
	}
	h := append([]byte{}, ip[:ihl]...)
	fo := uint16(off / 8)
	if g.chance(0.6) {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(h[4:], uint16(g.pick(4)))
	binary.BigEndian.PutUint16(h[6:], fo)
	binary.BigEndian.PutUint16(h[2:], uint16(ihl+end-off))
	fixIP4(h)
	return append(h, pl[off:end]...)
}
