package kernel

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Static 1:1 NAT, static-only pools, bindings and static blocks (issues 11
// and 12). Sets and maps (f = 4 or 6; "scope" is 1 for an object whose
// inside and outside tables differ, which then must leave or enter through
// an interface of table 0, else 0):
//
//	cn_cgpool       set  pool id, the pool in the element's comment (record)
//	cn_sn<f>_<bits> map  zone . inside prefix . scope -> outside first . last (static source NAT, record)
//	cn_sd<f>_<bits> map  zone . outside prefix . scope -> inside first . last (static destination NAT)
//	cn_bd<f>_<bits> set  zone . inside prefix . scope, comment the pool (binding, record)
//	cn_blk<f>       map  zone . inside address -> outside address . first port . last port, comment the pool (static block, record)
//	cn_rz<f>_<bits> map  outside prefix -> zone (re-zoning of packets entering a cross-table static NAT)
//	cn_rb<f>_<lg>   map  outside address . first port of a 2^lg block -> zone (re-zoning of replies to a cross-table block)
//	cn_vif          set  interfaces of a non-default VRF
//
// Chains: cn_cgz (jumped first from cn_zone: re-zoning), cn_cgd (jumped
// last from cn_dnat: static destination NAT), cn_cgs (jumped from cn_post:
// static source NAT, then bindings), cn_cgb<f> (a bound source: its static
// block, else drop).
const (
	chainCGZone = "cn_cgz"
	chainCGDNAT = "cn_cgd"
	chainCGSNAT = "cn_cgs"
	chainCGFwd  = "cn_cgf" // filter forward: ICMP errors for exhausted subscribers
	setCGPool   = "cn_cgpool"
	setVIF      = "cn_vif"
	// ruleTag marks the policy routing rules cloudnat adds (rtm_protocol).
	ruleProto = 0xc1
	// rulePref is their priority: before the l3mdev rule (1000).
	rulePref = 990
	// commentExhausted tags the drop rule of bound sources without a block.
	commentExhausted = "cn:x"
	// commentUnsolicited tags the drop of re-zoned packets of no flow.
	commentUnsolicited = "cn:u"
)

// staticCGSets exist in every table (the block chains name cn_blk*).
var staticCGSets = []string{setCGPool, setVIF, "cn_blk4", "cn_blk6"}

func chainCGBlock(f model.Family) string      { return fmt.Sprintf("cn_cgb%d", f) }
func setPN(f model.Family, bits int) string   { return fmt.Sprintf("cn_pn%d_%d", f, bits) }
func setPD(f model.Family, bits int) string   { return fmt.Sprintf("cn_pd%d_%d", f, bits) }
func setRP(f model.Family, bits int) string   { return fmt.Sprintf("cn_rp%d_%d", f, bits) }
func setSN(f model.Family, bits int) string   { return fmt.Sprintf("cn_sn%d_%d", f, bits) }
func setSD(f model.Family, bits int) string   { return fmt.Sprintf("cn_sd%d_%d", f, bits) }
func setBind(f model.Family, bits int) string { return fmt.Sprintf("cn_bd%d_%d", f, bits) }
func setBlk(f model.Family) string            { return fmt.Sprintf("cn_blk%d", f) }
func setRZ(f model.Family, bits int) string   { return fmt.Sprintf("cn_rz%d_%d", f, bits) }
func setRB(f model.Family, lg int) string     { return fmt.Sprintf("cn_rb%d_%d", f, lg) }

// parseCGSet decodes cn_<kind><f>_<n> for kind sn, sd, bd, rz, rb.
func parseCGSet(name string) (kind string, f model.Family, n int, ok bool) {
	for _, k := range []string{"sn", "sd", "bd", "rz", "rb", "pn", "pd", "rp"} {
		rest, found := strings.CutPrefix(name, "cn_"+k)
		if !found || len(rest) < 3 || rest[1] != '_' || (rest[0] != '4' && rest[0] != '6') {
			continue
		}
		v, err := strconv.Atoi(rest[2:])
		f = model.Family(rest[0] - '0')
		if err != nil || v < 0 || v > addrLen(f)*8 || strconv.Itoa(v) != rest[2:] {
			return "", 0, 0, false
		}
		return k, f, v, true
	}
	return "", 0, 0, false
}

func isCGSet(name string) bool {
	if name == setCGPool || name == setVIF || name == setBlk(model.IPv4) || name == setBlk(model.IPv6) {
		return true
	}
	_, _, _, ok := parseCGSet(name)
	return ok
}

func isCGChain(name string) bool {
	return name == chainCGZone || name == chainCGDNAT || name == chainCGSNAT || name == chainCGFwd ||
		name == chainCGBlock(model.IPv4) || name == chainCGBlock(model.IPv6)
}

func cgSetSpec(name string) (setSpec, bool) {
	switch name {
	case setCGPool:
		return setSpec{name, nftables.TypeMark, nftables.TypeInvalid, false}, true
	case setVIF:
		return setSpec{name, nftables.TypeIFName, nftables.TypeInvalid, false}, true
	}
	for _, f := range families4and6 {
		if name == setBlk(f) {
			a := addrType(f)
			return setSpec{name, concat(typeZone, a), concat(a, nftables.TypeInetService, nftables.TypeInetService), true}, true
		}
	}
	kind, f, _, ok := parseCGSet(name)
	if !ok {
		return setSpec{}, false
	}
	a := addrType(f)
	switch kind {
	case "sn", "sd":
		return setSpec{name, concat(typeZone, a, nftables.TypeMark), concat(a, a), true}, true
	case "bd":
		return setSpec{name, concat(typeZone, a, nftables.TypeMark), nftables.TypeInvalid, true}, true
	case "pn", "pd":
		return setSpec{name, concat(typeZone, nftables.TypeInetProto, a, nftables.TypeInetService, nftables.TypeMark),
			concat(a, a, nftables.TypeInetService), true}, true
	case "rp":
		return setSpec{name, concat(nftables.TypeInetProto, a, nftables.TypeInetService), nftables.TypeMark, true}, true
	case "rz":
		return setSpec{name, a, nftables.TypeMark, false}, true
	default: // rb
		return setSpec{name, concat(a, nftables.TypeInetService), nftables.TypeMark, true}, true
	}
}

// Marks of the flows these objects translate (bits 31 and 30 as interface
// source NAT, so sessions report them as source NAT).
const (
	markCG      = markCloudnat | markSNAT | 1<<29
	markCGDNAT  = markCG | 1<<28 // static destination NAT (source NAT may follow)
	markCGSNAT  = markCG | 1<<27 // static source NAT
	markCGBlock = markCG | 1<<26 // a static block
)

// routeMark is the packet mark of a packet re-zoned into zone z: the ip
// rule `fwmark routeMark(z) lookup z` routes it in the inside table. The
// low 16 bits (in the register's first two bytes) are the zone, the
// others a tag.
func routeMark(z uint32) uint32 {
	return binaryutil.NativeEndian.Uint32(append(binaryutil.NativeEndian.PutUint16(uint16(z)), 0xc1, 0x0d))
}

func scopeOf(cross bool) uint32 {
	if cross {
		return 1
	}
	return 0
}

// cgKey is zone . address . scope.
func cgKey(vrf uint32, a netip.Addr, cross bool) []byte {
	b := append(zoneField(vrf), a.AsSlice()...)
	return append(b, u32(scopeOf(cross))...)
}

func decodeCGKey(f model.Family, b []byte) (vrf uint32, a netip.Addr, cross, ok bool) {
	l := addrLen(f)
	if len(b) != 8+l {
		return 0, netip.Addr{}, false, false
	}
	a, _ = netip.AddrFromSlice(b[4 : 4+l])
	s := nativeU32(b[4+l:])
	return uint32(nativeU16(b[:2])), a, s == 1, s <= 1
}

// cgPortKey is zone . l4proto . address . port . scope.
func cgPortKey(vrf uint32, proto model.Proto, a netip.Addr, port uint16, cross bool) []byte {
	b := append(zoneField(vrf), byte(proto), 0, 0, 0)
	b = append(b, a.AsSlice()...)
	b = append(b, portField(port)...)
	return append(b, u32(scopeOf(cross))...)
}

func decodeCGPortKey(f model.Family, b []byte) (vrf uint32, proto model.Proto, a netip.Addr, port uint16, cross, ok bool) {
	l := addrLen(f)
	if len(b) != 16+l {
		return 0, 0, netip.Addr{}, 0, false, false
	}
	a, _ = netip.AddrFromSlice(b[8 : 8+l])
	s := nativeU32(b[12+l:])
	return uint32(nativeU16(b[:2])), model.Proto(b[4]), a, bigU16(b[8+l:]), s == 1, s <= 1
}

func rpKey(proto model.Proto, a netip.Addr, port uint16) []byte {
	b := append([]byte{byte(proto), 0, 0, 0}, a.AsSlice()...)
	return append(b, portField(port)...)
}

// loadCGPortKey loads zone . l4proto . (address & mask) . port . scope
// from reg32Base.
func loadCGPortKey(f model.Family, src bool, bits int, cross bool) []expr.Any {
	s, d, l := addrOffsets(f)
	off, poff := d, uint32(2)
	if src {
		off, poff = s, 0
	}
	out := []expr.Any{
		&expr.Ct{Key: expr.CtKeyZONE, Register: reg32Base},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32Base + 1},
		&expr.Payload{DestRegister: reg32Base + 2, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l},
	}
	if bits < int(l)*8 {
		out = append(out, &expr.Bitwise{SourceRegister: reg32Base + 2, DestRegister: reg32Base + 2, Len: l,
			Mask: prefixMask(bits, int(l)), Xor: make([]byte, l)})
	}
	return append(out,
		&expr.Payload{DestRegister: reg32Base + 2 + l/4, Base: expr.PayloadBaseTransportHeader, Offset: poff, Len: 2},
		&expr.Immediate{Register: reg32Base + 3 + l/4, Data: u32(scopeOf(cross))})
}

// portMapRule: a port mapping's lookup (data address . address . port at
// reg32Base: the key is no longer needed), its mark (through the last
// register, clear of the data) and the NAT to the prefix and port.
func portMapRule(t expr.NATType, f model.Family, set string, mark uint32) []expr.Any {
	aw := uint32(addrLen(f) / 4)
	return []expr.Any{
		&expr.Lookup{SourceRegister: reg32Base, IsDestRegSet: true, DestRegister: reg32Base, SetName: set},
		&expr.Immediate{Register: reg32Last, Data: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg32Last, SourceRegister: true},
		&expr.NAT{Type: t, Family: uint32(nfproto(f)), RegAddrMin: reg32Base, RegAddrMax: reg32Base + aw,
			RegProtoMin: reg32Base + 2*aw, RegProtoMax: reg32Base + 2*aw, Prefix: true, Specified: true},
	}
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func rangeData(p netip.Prefix) []byte {
	return append(p.Masked().Addr().AsSlice(), lastAddr(p).AsSlice()...)
}

func blockData(b model.StaticBlock, size uint16) []byte {
	d := append(b.OutsideAddr.AsSlice(), portField(b.PortStart)...)
	return append(d, portField(b.PortStart+size-1)...)
}

func blockLog2(size uint16) int {
	n := 0
	for size > 1 {
		size >>= 1
		n++
	}
	return n
}

func rbKey(a netip.Addr, start uint16) []byte { return append(a.AsSlice(), portField(start)...) }

// cgLens is the shape of the chains: the prefix lengths and block sizes in
// use, per family and kind.
type cgLens struct {
	sn, bd, rz [2]map[int]int // [family index] bits -> count
	pn, rp     [2]map[int]int // port mappings, their re-zoning
	rb         [2]map[int]int // log2(block size) -> count of cross blocks
}

func fi(f model.Family) int {
	if f == model.IPv4 {
		return 0
	}
	return 1
}

func keysOf(m map[int]int) []int {
	var out []int
	for k, n := range m {
		if n > 0 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// notVIF matches packets whose input (in) or output interface is not in a
// non-default VRF.
func notVIF(in bool) []expr.Any {
	k := expr.MetaKeyOIFNAME
	if in {
		k = expr.MetaKeyIIFNAME
	}
	return []expr.Any{&expr.Meta{Key: k, Register: reg1}, &expr.Lookup{SourceRegister: reg1, SetName: setVIF, Invert: true}}
}

// loadCGKey loads zone . (address & mask) . scope from reg32Base.
func loadCGKey(f model.Family, src bool, bits int, cross bool) []expr.Any {
	s, d, l := addrOffsets(f)
	off := d
	if src {
		off = s
	}
	out := []expr.Any{
		&expr.Ct{Key: expr.CtKeyZONE, Register: reg32Base},
		&expr.Payload{DestRegister: reg32Base + 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l},
	}
	if bits < int(l)*8 {
		out = append(out, &expr.Bitwise{SourceRegister: reg32Base + 1, DestRegister: reg32Base + 1, Len: l,
			Mask: prefixMask(bits, int(l)), Xor: make([]byte, l)})
	}
	return append(out, &expr.Immediate{Register: reg32Base + 1 + l/4, Data: u32(scopeOf(cross))})
}

func lookupData(set string) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: reg32Base, IsDestRegSet: true, DestRegister: regData, SetName: set}}
}

// rezone sets the ct zone and the routing mark from the zone a lookup
// returned.
func rezone(set string) []expr.Any {
	return append(lookupData(set),
		&expr.Ct{Key: expr.CtKeyZONE, Register: regData, SourceRegister: true},
		&expr.Bitwise{SourceRegister: regData, DestRegister: regData, Len: 4,
			Mask: []byte{0xff, 0xff, 0xff, 0xff}, Xor: []byte{0, 0, 0xc1, 0x0d}},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: regData, SourceRegister: true})
}

func natPrefix(t expr.NATType, f model.Family) []expr.Any {
	aw := uint32(addrLen(f) / 4)
	return []expr.Any{&expr.NAT{Type: t, Family: uint32(nfproto(f)), RegAddrMin: regData, RegAddrMax: regData + aw, Prefix: true}}
}

// rbProbe is one way to find a reply's block port: the l4 protocol, an
// ICMP type to match (-1: none) and the transport offset of the port. An
// ICMP error's probe also matches the quoted packet's protocol (at
// transport offset innerOff): the quoted echo request's id (innerEq, ICMP)
// lies 4 bytes further than a quoted TCP or UDP source port (!innerEq).
type rbProbe struct {
	proto    model.Proto
	icmp     int
	offset   uint32
	innerOff uint32 // 0: no quoted packet
	innerEq  bool
}

func rbProbes(f model.Family) []rbProbe {
	if f == model.IPv4 {
		// ICMP errors: the quoted packet's source port or echo id (IPv4
		// header without options; its protocol at 8 + 9).
		return []rbProbe{{model.ProtoTCP, -1, 2, 0, false}, {model.ProtoUDP, -1, 2, 0, false}, {model.ProtoICMP, 0, 4, 0, false},
			{model.ProtoICMP, 3, 28, 17, false}, {model.ProtoICMP, 11, 28, 17, false},
			{model.ProtoICMP, 3, 32, 17, true}, {model.ProtoICMP, 11, 32, 17, true}}
	}
	// The quoted IPv6 header's next header at 8 + 6.
	p := []rbProbe{{model.ProtoTCP, -1, 2, 0, false}, {model.ProtoUDP, -1, 2, 0, false}, {model.ProtoICMPv6, 129, 4, 0, false}}
	for _, typ := range []int{1, 2, 3} {
		p = append(p, rbProbe{model.ProtoICMPv6, typ, 48, 14, false}, rbProbe{model.ProtoICMPv6, typ, 52, 14, true})
	}
	return p
}

// matchInner: the quoted packet's protocol is (eq) or is not ICMP/ICMPv6.
func matchInner(f model.Family, p rbProbe) []expr.Any {
	op, proto := expr.CmpOpNeq, byte(unix.IPPROTO_ICMP)
	if p.innerEq {
		op = expr.CmpOpEq
	}
	if f == model.IPv6 {
		proto = unix.IPPROTO_ICMPV6
	}
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: p.innerOff, Len: 1},
		&expr.Cmp{Op: op, Register: reg1, Data: []byte{proto}},
	}
}

// cgZoneChain re-zones packets that enter from table 0 towards the outside
// address of a cross-table static NAT, or a reply's port of a cross-table
// block, into the inside table's zone, and marks them for the ip rule that
// routes them in that table.
func cgZoneChain(ls *cgLens) *chainPlan {
	ch := &chainPlan{name: chainCGZone}
	for _, f := range families4and6 {
		_, d, l := addrOffsets(f)
		for _, bits := range keysOf(ls.rz[fi(f)]) {
			e := []expr.Any{&expr.Payload{DestRegister: reg32Base, Base: expr.PayloadBaseNetworkHeader, Offset: d, Len: l}}
			if bits < int(l)*8 {
				e = append(e, &expr.Bitwise{SourceRegister: reg32Base, DestRegister: reg32Base, Len: l,
					Mask: prefixMask(bits, int(l)), Xor: make([]byte, l)})
			}
			ch.add("", matchNfproto(f), notVIF(true), e, rezone(setRZ(f, bits)))
		}
		for _, bits := range keysOf(ls.rp[fi(f)]) {
			e := []expr.Any{
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32Base},
				&expr.Payload{DestRegister: reg32Base + 1, Base: expr.PayloadBaseNetworkHeader, Offset: d, Len: l},
			}
			if bits < int(l)*8 {
				e = append(e, &expr.Bitwise{SourceRegister: reg32Base + 1, DestRegister: reg32Base + 1, Len: l,
					Mask: prefixMask(bits, int(l)), Xor: make([]byte, l)})
			}
			e = append(e, &expr.Payload{DestRegister: reg32Base + 1 + l/4, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
			ch.add("", matchNfproto(f), notVIF(true), e, rezone(setRP(f, bits)))
		}
		for _, lg := range keysOf(ls.rb[fi(f)]) {
			mask := binaryutil.BigEndian.PutUint16(^uint16(1<<lg - 1))
			for _, p := range rbProbes(f) {
				parts := [][]expr.Any{matchNfproto(f), matchL4(p.proto)}
				if p.icmp >= 0 {
					parts = append(parts, []expr.Any{
						&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
						&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(p.icmp)}},
					})
				}
				if p.innerOff > 0 {
					parts = append(parts, matchInner(f, p))
				}
				parts = append(parts, notVIF(true), []expr.Any{
					&expr.Payload{DestRegister: reg32Base, Base: expr.PayloadBaseNetworkHeader, Offset: d, Len: l},
					&expr.Payload{DestRegister: reg32Base + l/4, Base: expr.PayloadBaseTransportHeader, Offset: p.offset, Len: 2},
					&expr.Bitwise{SourceRegister: reg32Base + l/4, DestRegister: reg32Base + l/4, Len: 4,
						Mask: append(mask, 0, 0), Xor: make([]byte, 4)},
				}, rezone(setRB(f, lg)))
				ch.add("", parts...)
			}
		}
	}
	return ch
}

// cgDNATChain: static destination NAT (after the translations).
func cgDNATChain(ls *cgLens) *chainPlan {
	ch := &chainPlan{name: chainCGDNAT}
	for _, f := range families4and6 {
		for _, bits := range keysOf(ls.pn[fi(f)]) {
			for _, cross := range []bool{true, false} {
				parts := [][]expr.Any{matchNfproto(f)}
				if cross {
					parts = append(parts, notVIF(true))
				}
				ch.add("", append(parts, loadCGPortKey(f, false, bits, cross), portMapRule(expr.NATTypeDestNAT, f, setPD(f, bits), markCGDNAT))...)
			}
		}
	}
	for _, f := range families4and6 {
		for _, bits := range keysOf(ls.sn[fi(f)]) {
			for _, cross := range []bool{true, false} {
				parts := [][]expr.Any{matchNfproto(f)}
				if cross {
					parts = append(parts, notVIF(true))
				}
				parts = append(parts, loadCGKey(f, false, bits, cross), lookupData(setSD(f, bits)), setMark(markCGDNAT),
					natPrefix(expr.NATTypeDestNAT, f))
				ch.add("", parts...)
			}
		}
	}
	return ch
}

// cgSNATChain: static source NAT, then bound sources to their block chain.
func cgSNATChain(ls *cgLens) *chainPlan {
	ch := &chainPlan{name: chainCGSNAT}
	for _, f := range families4and6 {
		for _, bits := range keysOf(ls.pn[fi(f)]) {
			for _, cross := range []bool{true, false} {
				parts := [][]expr.Any{matchNfproto(f)}
				if cross {
					parts = append(parts, notVIF(false))
				}
				ch.add("", append(parts, loadCGPortKey(f, true, bits, cross), portMapRule(expr.NATTypeSourceNAT, f, setPN(f, bits), markCGSNAT))...)
			}
		}
	}
	for _, f := range families4and6 {
		for _, bits := range keysOf(ls.sn[fi(f)]) {
			for _, cross := range []bool{true, false} {
				parts := [][]expr.Any{matchNfproto(f)}
				if cross {
					parts = append(parts, notVIF(false))
				}
				parts = append(parts, loadCGKey(f, true, bits, cross), lookupData(setSN(f, bits)), setMark(markCGSNAT),
					natPrefix(expr.NATTypeSourceNAT, f))
				ch.add("", parts...)
			}
		}
	}
	for _, f := range families4and6 {
		for _, bits := range slices.Backward(keysOf(ls.bd[fi(f)])) {
			for _, cross := range []bool{true, false} {
				parts := [][]expr.Any{matchNfproto(f)}
				if cross {
					parts = append(parts, notVIF(false))
				}
				parts = append(parts, loadCGKey(f, true, bits, cross), []expr.Any{
					&expr.Lookup{SourceRegister: reg32Base, SetName: setBind(f, bits)},
					verdict(expr.VerdictGoto, chainCGBlock(f)),
				})
				ch.add("", parts...)
			}
		}
	}
	return ch
}

// cgBlockChain: a bound source is translated to its static block, or
// dropped and counted (no block: the pool is exhausted for it).
func cgBlockChain(f model.Family) *chainPlan {
	ch := &chainPlan{name: chainCGBlock(f)}
	s, _, l := addrOffsets(f)
	aw := l / 4
	ch.add("", []expr.Any{
		&expr.Ct{Key: expr.CtKeyZONE, Register: reg32Base},
		&expr.Payload{DestRegister: reg32Base + 1, Base: expr.PayloadBaseNetworkHeader, Offset: s, Len: l},
	}, lookupData(setBlk(f)), setMark(markCGBlock), []expr.Any{&expr.NAT{Type: expr.NATTypeSourceNAT,
		Family: uint32(nfproto(f)), RegAddrMin: regData, RegAddrMax: regData,
		RegProtoMin: regData + aw, RegProtoMax: regData + aw + 1, Specified: true}})
	ch.add(commentExhausted, []expr.Any{&expr.Counter{}, verdict(expr.VerdictDrop, "")})
	return ch
}

// cgFwdChain answers a new flow of a bound source that holds no block
// with ICMP destination unreachable, administratively prohibited (IPv4
// code 13, IPv6 code 1), at most 100 per second with a burst of 10; the
// source NAT stage drops it (and what exceeds the rate) and counts it.
func cgFwdChain(ls *cgLens) *chainPlan {
	ch := &chainPlan{name: chainCGFwd, hook: &hookSpec{nftables.ChainTypeFilter, nftables.ChainHookForward, *nftables.ChainPriorityFilter}}
	for _, f := range families4and6 {
		s, _, l := addrOffsets(f)
		for _, bits := range slices.Backward(keysOf(ls.bd[fi(f)])) {
			for _, cross := range []bool{true, false} {
				parts := [][]expr.Any{matchNfproto(f), matchCtNew()}
				if cross {
					parts = append(parts, notVIF(false))
				}
				parts = append(parts, loadCGKey(f, true, bits, cross), []expr.Any{
					&expr.Lookup{SourceRegister: reg32Base, SetName: setBind(f, bits)},
					&expr.Ct{Key: expr.CtKeyZONE, Register: reg32Base},
					&expr.Payload{DestRegister: reg32Base + 1, Base: expr.PayloadBaseNetworkHeader, Offset: s, Len: l},
					&expr.Lookup{SourceRegister: reg32Base, SetName: setBlk(f), Invert: true},
					&expr.Limit{Type: expr.LimitTypePkts, Rate: 100, Unit: expr.LimitTimeSecond, Burst: 10},
					&expr.Counter{},
					&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED},
				})
				ch.add(fmt.Sprintf("%s%d", commentExhausted, f), parts...)
			}
		}
	}
	return ch
}

// cgChains are the chains whose content follows the objects' shape (the
// first four: cgReshape rewrites them) and the block chains.
func cgChains(ls *cgLens) []*chainPlan {
	return []*chainPlan{cgZoneChain(ls), cgDNATChain(ls), cgSNATChain(ls), cgFwdChain(ls), cgBlockChain(model.IPv4), cgBlockChain(model.IPv6)}
}
