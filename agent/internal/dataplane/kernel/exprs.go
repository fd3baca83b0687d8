package kernel

import (
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Registers: nf_tables has four 128-bit registers (1..4) that alias sixteen
// 32-bit ones (8..23). Matches use register 1; the jhash input is laid out
// field after field from reg32 8, each field padded to 4 bytes as nft does.
const (
	reg1      = 1
	reg32Base = 8
	reg32Last = 23
)

// hashSeed is fixed so that a rebuild maps flows the same way (new flows
// only: existing ones keep their conntrack binding anyway).
const hashSeed = 0xc10d4a7

func nfproto(f model.Family) byte {
	if f == model.IPv4 {
		return unix.NFPROTO_IPV4
	}
	return unix.NFPROTO_IPV6
}

func matchNfproto(f model.Family) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{nfproto(f)}},
	}
}

func matchL4(p model.Proto) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(p)}},
	}
}

func matchIIF(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: ifname(name)},
	}
}

// ifname pads an interface name to IFNAMSIZ as the kernel compares it.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func matchZone(zone uint16) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyZONE, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint16(zone)},
	}
}

func setZone(zone uint16) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: reg1, Data: binaryutil.NativeEndian.PutUint16(zone)},
		&expr.Ct{Key: expr.CtKeyZONE, Register: reg1, SourceRegister: true},
	}
}

// addrOffsets are the network-header offsets of source and destination.
func addrOffsets(f model.Family) (src, dst, length uint32) {
	if f == model.IPv4 {
		return 12, 16, 4
	}
	return 8, 24, 16
}

func prefixMask(bits, length int) []byte {
	m := make([]byte, length)
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// matchMarkBits matches ct mark & mask == want.
func matchMarkBits(mask, want uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(want)},
	}
}

func matchCtNew() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
	}
}

func setMark(m uint32) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: reg1, Data: binaryutil.NativeEndian.PutUint32(m)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1, SourceRegister: true},
	}
}

// hashField is one jhash input.
type hashField struct {
	base   expr.PayloadBase
	offset uint32
	length uint32
	meta   bool // meta l4proto instead of a payload field
}

// hashFieldsOf lists the jhash inputs of hash fields hf (already made
// effective by effectiveHash) in nft's order.
func hashFieldsOf(fam model.Family, hf model.HashFields) []hashField {
	s, d, l := addrOffsets(fam)
	var out []hashField
	if hf&model.HashSrcAddr != 0 {
		out = append(out, hashField{base: expr.PayloadBaseNetworkHeader, offset: s, length: l})
	}
	if hf&model.HashDstAddr != 0 {
		out = append(out, hashField{base: expr.PayloadBaseNetworkHeader, offset: d, length: l})
	}
	if hf&model.HashSrcPort != 0 {
		out = append(out, hashField{base: expr.PayloadBaseTransportHeader, offset: 0, length: 2})
	}
	if hf&model.HashDstPort != 0 {
		out = append(out, hashField{base: expr.PayloadBaseTransportHeader, offset: 2, length: 2})
	}
	if hf&model.HashProto != 0 {
		out = append(out, hashField{meta: true, length: 1})
	}
	return out
}

// hashInto writes jhash(fields) mod n + base into the 32-bit register
// dest; the fields are laid out from reg32Base, each padded to 4 bytes.
func hashInto(fields []hashField, n, dest, base uint32) []expr.Any {
	var out []expr.Any
	reg := uint32(reg32Base)
	total := uint32(0)
	for _, f := range fields {
		if f.meta {
			out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg})
		} else {
			out = append(out, &expr.Payload{DestRegister: reg, Base: f.base, Offset: f.offset, Len: f.length})
		}
		words := (f.length + 3) / 4
		reg += words
		total += words * 4
	}
	return append(out, &expr.Hash{SourceRegister: reg32Base, DestRegister: dest, Length: total, Modulus: n,
		Seed: hashSeed, Offset: base, Type: expr.HashTypeJenkins})
}

// setMarkHash sets ct mark to base + jhash(fields) mod n.
func setMarkHash(fields []hashField, n, base uint32) []expr.Any {
	return append(hashInto(fields, n, reg1, base), &expr.Ct{Key: expr.CtKeyMARK, Register: reg1, SourceRegister: true})
}

func verdict(k expr.VerdictKind, chain string) expr.Any {
	return &expr.Verdict{Kind: k, Chain: chain}
}
