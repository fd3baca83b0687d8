package vppharness

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Proto is a family-independent L4 protocol: ICMP means ICMPv4 in IPv4 and
// ICMPv6 in IPv6.
type Proto uint8

// Protocols.
const (
	ICMP Proto = 1
	TCP  Proto = 6
	UDP  Proto = 17
)

func (p Proto) String() string {
	switch p {
	case ICMP:
		return "icmp"
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// ipProto is the IP protocol number of p in the given family.
func (p Proto) ipProto(v6 bool) layers.IPProtocol {
	if p == ICMP && v6 {
		return layers.IPProtocolICMPv6
	}
	return layers.IPProtocol(p)
}

// ICMPKind is a family-independent ICMP message kind.
type ICMPKind int

// ICMP kinds; the zero value is an echo request.
const (
	EchoRequest ICMPKind = iota
	EchoReply
	DestUnreach
	TimeExceeded
	ParamProblem
	PacketTooBig // IPv6 only (IPv4 uses DestUnreach code 4)
	OtherICMP
)

func (k ICMPKind) String() string {
	return [...]string{"echo-request", "echo-reply", "dest-unreach", "time-exceeded", "param-problem", "packet-too-big", "other"}[k]
}

// IsError reports whether k is an ICMP error message.
func (k ICMPKind) IsError() bool {
	return k == DestUnreach || k == TimeExceeded || k == ParamProblem || k == PacketTooBig
}

func icmpType(k ICMPKind, v6 bool) uint8 {
	if v6 {
		return [...]uint8{128, 129, 1, 3, 4, 2}[k]
	}
	return [...]uint8{8, 0, 3, 11, 12, 3}[k]
}

func icmpKind(t uint8, v6 bool) ICMPKind {
	if v6 {
		switch t {
		case 128:
			return EchoRequest
		case 129:
			return EchoReply
		case 1:
			return DestUnreach
		case 2:
			return PacketTooBig
		case 3:
			return TimeExceeded
		case 4:
			return ParamProblem
		}
		return OtherICMP
	}
	switch t {
	case 8:
		return EchoRequest
	case 0:
		return EchoReply
	case 3:
		return DestUnreach
	case 11:
		return TimeExceeded
	case 12:
		return ParamProblem
	}
	return OtherICMP
}

// TCP flag bits.
const (
	FIN uint8 = 0x01
	SYN uint8 = 0x02
	RST uint8 = 0x04
	PSH uint8 = 0x08
	ACK uint8 = 0x10
)

// Pkt describes one packet to build. The family comes from Src.
type Pkt struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.Addr
	Proto          Proto
	// SrcPort and DstPort are the L4 ports; for ICMP echo SrcPort is the
	// identifier.
	SrcPort, DstPort uint16
	TCPFlags         uint8
	Seq, Ack         uint32
	// ICMP: kind (default echo request), code, echo sequence, the 4 bytes
	// after the checksum of an error (MTU, pointer) and the quoted packet.
	ICMP     ICMPKind
	ICMPCode uint8
	ICMPSeq  uint16
	ICMPRest uint32
	Inner    []byte
	TTL      uint8 // default 64
	DF       bool
	IPID     uint16
	Payload  []byte
	// Raw, when set, is the IP packet as it is sent (the fields above then
	// only describe it): fragments (Fragment) and other hand-made packets.
	Raw []byte
}

// V6 reports whether the packet is IPv6.
func (p Pkt) V6() bool { return p.Src.Is6() && !p.Src.Is4In6() }

func (p Pkt) layers() ([]gopacket.SerializableLayer, error) {
	if !p.Src.IsValid() || !p.Dst.IsValid() {
		return nil, fmt.Errorf("packet needs Src and Dst (got %v -> %v)", p.Src, p.Dst)
	}
	if p.Src.Is4() != p.Dst.Is4() {
		return nil, fmt.Errorf("mixed families %v -> %v", p.Src, p.Dst)
	}
	v6 := p.V6()
	ttl := p.TTL
	if ttl == 0 {
		ttl = 64
	}
	var ls []gopacket.SerializableLayer
	var netLayer gopacket.NetworkLayer
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: p.Proto.ipProto(true),
			SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice()}
		ls, netLayer = append(ls, ip), ip
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: p.Proto.ipProto(false), Id: p.IPID,
			SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice()}
		if p.DF {
			ip.Flags = layers.IPv4DontFragment
		}
		ls, netLayer = append(ls, ip), ip
	}
	payload := p.Payload
	switch p.Proto {
	case TCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.SrcPort), DstPort: layers.TCPPort(p.DstPort),
			Seq: p.Seq, Ack: p.Ack, Window: 8192,
			FIN: p.TCPFlags&FIN != 0, SYN: p.TCPFlags&SYN != 0, RST: p.TCPFlags&RST != 0,
			PSH: p.TCPFlags&PSH != 0, ACK: p.TCPFlags&ACK != 0}
		if err := tcp.SetNetworkLayerForChecksum(netLayer); err != nil {
			return nil, fmt.Errorf("tcp checksum layer: %w", err)
		}
		ls = append(ls, tcp)
	case UDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.SrcPort), DstPort: layers.UDPPort(p.DstPort)}
		if err := udp.SetNetworkLayerForChecksum(netLayer); err != nil {
			return nil, fmt.Errorf("udp checksum layer: %w", err)
		}
		ls = append(ls, udp)
	case ICMP:
		typ := icmpType(p.ICMP, v6)
		if v6 {
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, p.ICMPCode)}
			if err := icmp.SetNetworkLayerForChecksum(netLayer); err != nil {
				return nil, fmt.Errorf("icmp6 checksum layer: %w", err)
			}
			ls = append(ls, icmp)
			if p.ICMP.IsError() {
				rest := make([]byte, 4, 4+len(p.Inner))
				binary.BigEndian.PutUint32(rest, p.ICMPRest)
				payload = append(append(rest, p.Inner...), p.Payload...)
			} else {
				ls = append(ls, &layers.ICMPv6Echo{Identifier: p.SrcPort, SeqNumber: p.ICMPSeq})
			}
		} else {
			icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, p.ICMPCode)}
			if p.ICMP.IsError() {
				icmp.Id, icmp.Seq = uint16(p.ICMPRest>>16), uint16(p.ICMPRest)
				payload = append(append([]byte{}, p.Inner...), p.Payload...)
			} else {
				icmp.Id, icmp.Seq = p.SrcPort, p.ICMPSeq
			}
			ls = append(ls, icmp)
		}
	default:
		return nil, fmt.Errorf("unsupported protocol %d", p.Proto)
	}
	if len(payload) > 0 {
		ls = append(ls, gopacket.Payload(payload))
	}
	return ls, nil
}

var serOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// IP returns the IP packet (no Ethernet header).
func (p Pkt) IP() ([]byte, error) {
	if p.Raw != nil {
		return append([]byte{}, p.Raw...), nil
	}
	ls, err := p.layers()
	if err != nil {
		return nil, err
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, ls...); err != nil {
		return nil, fmt.Errorf("serialize %v: %w", p, err)
	}
	return append([]byte{}, buf.Bytes()...), nil
}

// Frame returns the Ethernet frame.
func (p Pkt) Frame() ([]byte, error) {
	var ls []gopacket.SerializableLayer
	et := layers.EthernetTypeIPv4
	if p.Raw != nil {
		if len(p.Raw) > 0 && p.Raw[0]>>4 == 6 {
			et = layers.EthernetTypeIPv6
		}
		ls = []gopacket.SerializableLayer{gopacket.Payload(p.Raw)}
	} else {
		var err error
		if ls, err = p.layers(); err != nil {
			return nil, err
		}
		if p.V6() {
			et = layers.EthernetTypeIPv6
		}
	}
	src, dst := p.SrcMAC, p.DstMAC
	if len(src) == 0 {
		src = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	}
	if len(dst) == 0 {
		dst = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	}
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, append([]gopacket.SerializableLayer{eth}, ls...)...); err != nil {
		return nil, fmt.Errorf("serialize %v: %w", p, err)
	}
	return append([]byte{}, buf.Bytes()...), nil
}

// MustIP is IP that panics on error (for table literals in tests).
func (p Pkt) MustIP() []byte {
	b, err := p.IP()
	if err != nil {
		panic(err)
	}
	return b
}

// Reply returns the packet a remote endpoint would send back: addresses and
// ports swapped, echo request -> echo reply, TCP flags as given.
func (p Pkt) Reply(flags uint8) Pkt {
	r := p
	r.Src, r.Dst = p.Dst, p.Src
	r.SrcMAC, r.DstMAC = p.DstMAC, p.SrcMAC
	r.SrcPort, r.DstPort = p.DstPort, p.SrcPort
	r.TCPFlags = flags
	if p.Proto == ICMP && p.ICMP == EchoRequest {
		r.ICMP = EchoReply
		r.SrcPort, r.DstPort = p.SrcPort, p.DstPort
	}
	return r
}

// Parsed is a decoded IP packet (outer, or the quoted packet of an ICMP error,
// which may be truncated).
type Parsed struct {
	V6       bool
	Src, Dst netip.Addr
	Proto    Proto // ICMP for both ICMPv4 and ICMPv6
	TTL      uint8
	// Ports; for ICMP echo both are the identifier.
	SrcPort, DstPort uint16
	TCPFlags         uint8
	Seq              uint32
	ICMP             ICMPKind
	ICMPType         uint8
	ICMPCode         uint8
	ICMPID, ICMPSeq  uint16
	ICMPRest         uint32
	// Inner is the quoted packet of an ICMP error.
	Inner *Parsed
	// Payload is what follows the L4 header (or the ICMP error's quote).
	Payload []byte
	// Truncated is set when the packet is shorter than its IP length says
	// (normal for quoted packets).
	Truncated bool
	// Raw is the IP packet, without link padding.
	Raw []byte
	// Frag is set for a fragment (IPv4 MF or offset, IPv6 fragment
	// header). A fragment after the first has no ports: Proto is the
	// protocol field (IPv6: the fragment header's next header) and
	// Payload its data.
	Frag *FragInfo
}

// String is a one-line summary.
func (p *Parsed) String() string {
	if p == nil {
		return "<nil>"
	}
	s := ""
	switch p.Proto {
	case ICMP:
		s = fmt.Sprintf("%s %v -> %v %s code %d id %d", p.Proto, p.Src, p.Dst, p.ICMP, p.ICMPCode, p.ICMPID)
		if p.Inner != nil {
			s += fmt.Sprintf(" [inner %s]", p.Inner)
		}
	case TCP:
		s = fmt.Sprintf("tcp %s -> %s flags %#x", netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort), p.TCPFlags)
	default:
		s = fmt.Sprintf("%s %s -> %s", p.Proto, netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort))
	}
	if p.Frag != nil {
		s += fmt.Sprintf(" frag id %#x off %d", p.Frag.ID, p.Frag.Offset)
		if p.Frag.More {
			s += " MF"
		}
		s += fmt.Sprintf(" len %d", len(p.Raw))
	}
	return s + fmt.Sprintf(" ttl %d", p.TTL)
}

// Key is the 5-tuple as a string, convenient for map keys and messages.
func (p *Parsed) Key() string {
	return fmt.Sprintf("%s %s->%s", p.Proto, netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort))
}

// Parse decodes the IP part of a captured Ethernet frame.
func Parse(pkt gopacket.Packet) (*Parsed, error) {
	return ParseFrame(pkt.Data())
}

// ParseFrame decodes an Ethernet frame.
func ParseFrame(b []byte) (*Parsed, error) {
	if len(b) < 14 {
		return nil, fmt.Errorf("frame of %d bytes", len(b))
	}
	et := binary.BigEndian.Uint16(b[12:])
	off := 14
	if et == 0x8100 {
		if len(b) < 18 {
			return nil, fmt.Errorf("short VLAN frame")
		}
		et = binary.BigEndian.Uint16(b[16:])
		off = 18
	}
	if et != 0x0800 && et != 0x86dd {
		return nil, fmt.Errorf("ethertype %#04x is not IP", et)
	}
	return ParseIP(b[off:])
}

// ParseIP decodes an IP packet, following the quoted packet of ICMP errors.
func ParseIP(b []byte) (*Parsed, error) { return parseIP(b, 0) }

func parseIP(b []byte, depth int) (*Parsed, error) {
	p := &Parsed{Raw: b}
	if len(b) < 1 {
		return nil, fmt.Errorf("empty IP packet")
	}
	var l4 []byte
	var ipProto uint8
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return nil, fmt.Errorf("IPv4 header truncated (%d bytes)", len(b))
		}
		ihl := int(b[0]&0xf) * 4
		if ihl < 20 || len(b) < ihl {
			return nil, fmt.Errorf("bad IPv4 IHL %d", ihl)
		}
		tl := int(binary.BigEndian.Uint16(b[2:]))
		end := tl
		if tl > len(b) {
			p.Truncated = true
			end = len(b)
		}
		p.Raw = b[:end]
		if end < ihl {
			return nil, fmt.Errorf("IPv4 total length %d < IHL %d", tl, ihl)
		}
		p.TTL = b[8]
		ipProto = b[9]
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[ihl:end]
		if fi, ok := FragmentInfo(b[:end]); ok {
			p.Frag = &fi
		}
		if fo := binary.BigEndian.Uint16(b[6:]) & 0x1fff; fo != 0 {
			p.Proto = Proto(ipProto)
			p.Payload = l4
			return p, nil
		}
	case 6:
		p.V6 = true
		if len(b) < 40 {
			return nil, fmt.Errorf("IPv6 header truncated (%d bytes)", len(b))
		}
		pl := int(binary.BigEndian.Uint16(b[4:]))
		end := 40 + pl
		if end > len(b) {
			p.Truncated = true
			end = len(b)
		}
		p.Raw = b[:end]
		p.TTL = b[7]
		ipProto = b[6]
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[40:end]
		// extension headers: hop-by-hop, routing, destination options,
		// fragment (a fragment after the first has no L4 header)
		off := 40
		for n := 0; n < 8 && (ipProto == 0 || ipProto == 43 || ipProto == 60 || ipProto == 44); n++ {
			if end < off+8 {
				break
			}
			if ipProto == 44 {
				fi, _ := FragmentInfo(b[:end])
				p.Frag = &fi
				ipProto, off = b[off], off+8
				if fi.Offset != 0 {
					p.Proto = Proto(ipProto)
					if ipProto == 58 {
						p.Proto = ICMP
					}
					p.Payload = b[off:end]
					return p, nil
				}
				continue
			}
			ipProto, off = b[off], off+(int(b[off+1])+1)*8
		}
		if off > end {
			off = end
		}
		l4 = b[off:end]
	default:
		return nil, fmt.Errorf("IP version %d", b[0]>>4)
	}
	switch {
	case ipProto == 6:
		p.Proto = TCP
		if len(l4) >= 4 {
			p.SrcPort, p.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		}
		if len(l4) >= 14 {
			p.Seq = binary.BigEndian.Uint32(l4[4:])
			p.TCPFlags = l4[13]
		}
		if len(l4) >= 20 {
			if off := int(l4[12]>>4) * 4; off <= len(l4) {
				p.Payload = l4[off:]
			}
		}
	case ipProto == 17:
		p.Proto = UDP
		if len(l4) >= 4 {
			p.SrcPort, p.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		}
		if len(l4) >= 8 {
			p.Payload = l4[8:]
		}
	case (ipProto == 1 && !p.V6) || (ipProto == 58 && p.V6):
		p.Proto = ICMP
		if len(l4) < 4 {
			return p, nil
		}
		p.ICMPType, p.ICMPCode = l4[0], l4[1]
		p.ICMP = icmpKind(p.ICMPType, p.V6)
		if len(l4) >= 8 {
			p.ICMPRest = binary.BigEndian.Uint32(l4[4:])
			p.ICMPID, p.ICMPSeq = binary.BigEndian.Uint16(l4[4:]), binary.BigEndian.Uint16(l4[6:])
			p.Payload = l4[8:]
		}
		if p.ICMP == EchoRequest || p.ICMP == EchoReply {
			p.SrcPort, p.DstPort = p.ICMPID, p.ICMPID
		}
		if p.ICMP.IsError() && depth == 0 && len(l4) > 8 {
			inner, err := parseIP(l4[8:], depth+1)
			if err != nil {
				return p, fmt.Errorf("ICMP error's quoted packet: %w", err)
			}
			p.Inner = inner
		}
	default:
		p.Proto = Proto(ipProto)
		p.Payload = l4
	}
	return p, nil
}

// MustParse parses and panics on error (tests use ParseT).
func MustParse(pkt gopacket.Packet) *Parsed {
	p, err := Parse(pkt)
	if err != nil {
		panic(err)
	}
	return p
}
