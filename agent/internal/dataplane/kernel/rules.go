package kernel

import (
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// 32-bit registers used by the map lookups: keys are laid out from
// reg32Base field after field, lookup results land at regData.
const regData = 16

type hookSpec struct {
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio nftables.ChainPriority
}

type rulePlan struct {
	exprs   []expr.Any
	comment string
}

// chainPlan is one chain and (when its content is written) its rules.
type chainPlan struct {
	name  string
	hook  *hookSpec // nil: regular chain
	rules []rulePlan
}

func (c *chainPlan) add(comment string, parts ...[]expr.Any) {
	var e []expr.Any
	for _, p := range parts {
		e = append(e, p...)
	}
	c.rules = append(c.rules, rulePlan{exprs: e, comment: comment})
}

// setSpec describes one set or map of the table.
type setSpec struct {
	name   string
	key    nftables.SetDatatype
	data   nftables.SetDatatype // TypeInvalid: a plain set
	concat bool
}

func (s setSpec) nft(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: s.name, KeyType: s.key, DataType: s.data,
		IsMap: s.data.Name != nftables.TypeInvalid.Name, Concatenation: s.concat}
}

var (
	typeZone = nftables.TypeInetService // 2 bytes, as ct zone: nft can parse and print the concatenation
	concat   = nftables.MustConcatSetType
)

// staticSets are the sets every table has (whatever its content).
func staticSets() []setSpec {
	var out []setSpec
	for _, f := range families4and6 {
		a := addrType(f)
		out = append(out,
			setSpec{setTx(f), concat(typeZone, nftables.TypeInetProto, a, nftables.TypeInetService), nftables.TypeMark, true},
			setSpec{setBP(f), concat(typeZone, nftables.TypeInetProto, a, nftables.TypeInetService, nftables.TypeMark),
				concat(nftables.TypeMark, a, nftables.TypeInetService), true},
			setSpec{setBA(f), concat(typeZone, nftables.TypeInetProto, a, nftables.TypeInetService, nftables.TypeMark),
				concat(nftables.TypeMark, a), true},
			setSpec{setSRA(f), nftables.TypeMark, a, false},
			setSpec{setSRP(f), nftables.TypeMark, concat(a, nftables.TypeInetService), false},
			setSpec{setSRO(f), nftables.TypeMark, nftables.TypeInetService, false},
			setSpec{setVIP(f), concat(typeZone, a), nftables.TypeInvalid, true},
		)
	}
	for _, f := range families4and6 {
		for i := 0; i < recShards; i++ {
			out = append(out, setSpec{setRec(f, i), concat(typeZone, nftables.TypeInetProto, addrType(f), nftables.TypeInetService),
				nftables.TypeInvalid, true})
		}
	}
	out = append(out, setSpec{setIf, concat(nftables.TypeIFName, nftables.TypeNFProto), nftables.TypeVerdict, true},
		setSpec{setCls, nftables.TypeMark, nftables.TypeVerdict, false})
	for _, n := range staticCGSets {
		s, _ := cgSetSpec(n)
		out = append(out, s)
	}
	return out
}

func poolSet(p poolKey) setSpec { return setSpec{setPool(p), nftables.TypeMark, addrType(p.f), false} }

func exclSet(p poolKey, bits int) setSpec {
	return setSpec{setExcl(p, bits), addrType(p.f), nftables.TypeInvalid, false}
}

// staticChains are the chains whose content never depends on objects
// (cn_zone and cn_fin are written separately: they follow the host and
// the limits).
func staticChains() []*chainPlan {
	mk := func(name string, h *hookSpec) *chainPlan { return &chainPlan{name: name, hook: h} }
	pre := mk(chainPre, &hookSpec{nftables.ChainTypeNAT, nftables.ChainHookPrerouting, *nftables.ChainPriorityNATDest})
	out := mk(chainOut, &hookSpec{nftables.ChainTypeNAT, nftables.ChainHookOutput, *nftables.ChainPriorityNATDest})
	dnat := mk(chainDNAT, nil)
	post := mk(chainPost, &hookSpec{nftables.ChainTypeNAT, nftables.ChainHookPostrouting, *nftables.ChainPriorityNATSource})
	finPre := mk(chainFinPre, &hookSpec{nftables.ChainTypeFilter, nftables.ChainHookPrerouting, -90})
	finOut := mk(chainFinOut, &hookSpec{nftables.ChainTypeFilter, nftables.ChainHookOutput, -90})
	finPost := mk(chainFinPost, &hookSpec{nftables.ChainTypeFilter, nftables.ChainHookPostrouting, 110})
	pre.add("", []expr.Any{verdict(expr.VerdictJump, chainDNAT)})
	out.add("", []expr.Any{verdict(expr.VerdictJump, chainDNAT)})
	for _, c := range []*chainPlan{finPre, finOut, finPost} {
		c.add("", []expr.Any{verdict(expr.VerdictJump, chainFin)})
	}
	for _, f := range families4and6 {
		// Exact port first, then port 0 (ICMP, and translations of all ports).
		dnat.add("", matchNfproto(f), loadTxKey(f, false), lookupClass(setTx(f)), classVmap())
		dnat.add("", matchNfproto(f), loadTxKey(f, true), lookupClass(setTx(f)), classVmap())
	}
	for _, f := range families4and6 {
		_, d, l := addrOffsets(f)
		dnat.add(commentVIPDrop, matchNfproto(f), []expr.Any{
			&expr.Ct{Key: expr.CtKeyZONE, Register: reg32Base},
			&expr.Payload{DestRegister: reg32Base + 1, Base: expr.PayloadBaseNetworkHeader, Offset: d, Len: l},
			&expr.Lookup{SourceRegister: reg32Base, SetName: setVIP(f)},
			&expr.Counter{}, verdict(expr.VerdictDrop, ""),
		})
	}
	dnat.add("", []expr.Any{verdict(expr.VerdictJump, chainCGDNAT)})
	for _, f := range families4and6 {
		aw := uint32(addrLen(f) / 4)
		post.add("", matchNfproto(f), lookupMark(setSRP(f)), natRegs(expr.NATTypeSourceNAT, f, regData, regData+aw))
		post.add("", matchNfproto(f), lookupMark(setSRA(f)), natRegs(expr.NATTypeSourceNAT, f, regData, 0))
		post.add("", matchNfproto(f), lookupMark(setSRO(f)), natRegs(expr.NATTypeSourceNAT, f, 0, regData))
	}
	// Static source NAT and bindings (cn_cgs) come before the interfaces'
	// source NAT, for new flows and flows a static mapping only
	// destination-NATed (the far side of a peering).
	ifSNAT := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg32Base},
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg32Base + 4},
		&expr.Lookup{SourceRegister: reg32Base, IsDestRegSet: true, DestRegister: 0, SetName: setIf},
	}
	post.add("", matchMarkBits(markCloudnat, 0), []expr.Any{verdict(expr.VerdictJump, chainCGSNAT)})
	post.add("", matchMarkBits(0xffffffff, markCGDNAT), []expr.Any{verdict(expr.VerdictJump, chainCGSNAT)})
	post.add("", matchMarkBits(markCloudnat, 0), ifSNAT)
	post.add("", matchMarkBits(0xffffffff, markCGDNAT), ifSNAT)
	return []*chainPlan{pre, out, dnat, post, finPre, finOut, finPost}
}

// loadTxKey loads zone . l4proto . daddr . dport (or . 0) from reg32Base.
func loadTxKey(f model.Family, wild bool) []expr.Any {
	_, d, l := addrOffsets(f)
	portReg := uint32(reg32Base + 2 + l/4)
	out := []expr.Any{
		&expr.Ct{Key: expr.CtKeyZONE, Register: reg32Base},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32Base + 1},
		&expr.Payload{DestRegister: reg32Base + 2, Base: expr.PayloadBaseNetworkHeader, Offset: d, Len: l},
	}
	if wild {
		return append(out, &expr.Immediate{Register: portReg, Data: make([]byte, 4)})
	}
	return append(out, &expr.Payload{DestRegister: portReg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
}

// lookupClass looks the key up in a translation map and keeps the class
// id in the ct mark (nft: `ct mark set <key> map @cn_tx4`), then branches
// on it (`ct mark vmap @cn_cls`); the class chain sets the flow's final
// mark. A miss leaves the mark alone.
func lookupClass(set string) []expr.Any {
	return []expr.Any{
		&expr.Lookup{SourceRegister: reg32Base, IsDestRegSet: true, DestRegister: regData, SetName: set},
		&expr.Ct{Key: expr.CtKeyMARK, Register: regData, SourceRegister: true},
	}
}

func classVmap() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1},
		&expr.Lookup{SourceRegister: reg1, IsDestRegSet: true, DestRegister: 0, SetName: setCls},
	}
}

// lookupMark looks the ct mark up in a map; the value lands at regData.
func lookupMark(set string) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg32Base},
		&expr.Lookup{SourceRegister: reg32Base, IsDestRegSet: true, DestRegister: regData, SetName: set},
	}
}

// natRegs NATs to the address at regAddr and the port at regPort (0: none).
func natRegs(t expr.NATType, f model.Family, regAddr, regPort uint32) []expr.Any {
	n := &expr.NAT{Type: t, Family: uint32(nfproto(f)), RegAddrMin: regAddr, RegAddrMax: regAddr}
	if regPort != 0 {
		n.RegProtoMin, n.RegProtoMax, n.Specified = regPort, regPort, true
	}
	return []expr.Any{n}
}

// classChain is the load-balancing chain of a class: the backend index is
// jhash(fields) mod n (0 for one backend); the translation key and index
// look the backend up (with or without a port rewrite), whose value sets
// the ct mark and is the dnat target.
func classChain(c lbClass) *chainPlan {
	ch := &chainPlan{name: c.chain()}
	l := uint32(addrLen(c.f))
	idxReg := uint32(reg32Base + 3 + l/4)
	for _, withPort := range []bool{true, false} {
		var pick []expr.Any
		if c.n > 1 {
			pick = hashInto(hashFieldsOf(c.f, c.hf), uint32(c.n), idxReg, 0)
		} else {
			pick = []expr.Any{&expr.Immediate{Register: idxReg, Data: make([]byte, 4)}}
		}
		set, port := setBA(c.f), uint32(0)
		if withPort {
			set, port = setBP(c.f), regData+1+l/4
		}
		ch.add("", pick, loadTxKey(c.f, c.wild), []expr.Any{
			&expr.Lookup{SourceRegister: reg32Base, IsDestRegSet: true, DestRegister: regData, SetName: set},
			&expr.Ct{Key: expr.CtKeyMARK, Register: regData, SourceRegister: true},
		}, natRegs(expr.NATTypeDestNAT, c.f, regData+1, port))
	}
	return ch
}

// snatChainPlan is the chain of one VRF and family: excluded destinations
// (one set per prefix length) return untranslated, the rest get the mark
// of the pool address chosen by jhash(saddr) (paired pooling) and are
// source-NATed to it.
func snatChainPlan(p poolKey, lens []int, poolSize int) *chainPlan {
	ch := &chainPlan{name: snatChain(p)}
	_, d, l := addrOffsets(p.f)
	lens = slices.Clone(lens)
	slices.Sort(lens)
	for _, bits := range slices.Backward(lens) {
		e := []expr.Any{&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: d, Len: l}}
		if bits < int(l)*8 {
			e = append(e, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: l,
				Mask: prefixMask(bits, int(l)), Xor: make([]byte, l)})
		}
		e = append(e, &expr.Lookup{SourceRegister: reg1, SetName: setExcl(p, bits)}, verdict(expr.VerdictReturn, ""))
		ch.add("", e)
	}
	switch {
	case poolSize == 1:
		ch.add("", setMark(snatMark()))
	case poolSize > 1:
		s, _, _ := addrOffsets(p.f)
		ch.add("", setMarkHash([]hashField{{base: expr.PayloadBaseNetworkHeader, offset: s, length: l}},
			uint32(poolSize), snatMark()))
	}
	if poolSize > 0 {
		ch.add("", lookupMark(setPool(p)), natRegs(expr.NATTypeSourceNAT, p.f, regData, 0))
	}
	return ch
}

// zoneChain assigns each interface of a non-default VRF the conntrack
// zone equal to its VRF, before conntrack sees the packet (raw priority),
// so equal inside addresses of different VRFs are different flows.
func zoneChain(h hostView) *chainPlan {
	c := &chainPlan{name: chainZone, hook: &hookSpec{nftables.ChainTypeFilter, nftables.ChainHookPrerouting, *nftables.ChainPriorityRaw}}
	names := make([]string, 0, len(h.vrfOf))
	for n, v := range h.vrfOf {
		if v != 0 && v <= maxZone {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	c.add("", []expr.Any{verdict(expr.VerdictJump, chainCGZone)})
	for _, n := range names {
		c.add("", matchIIF(n), setZone(uint16(h.vrfOf[n])))
	}
	return c
}

// finChain: session limits (ct count over the flows cloudnat marked) and
// the ct timeout policy of every new cloudnat flow.
func finChain(limits []model.SessionLimit) *chainPlan {
	c := &chainPlan{name: chainFin}
	// A packet re-zoned towards a cross-table block or static NAT that
	// conntrack did not take back to a flow of cloudnat's (no reply, no
	// static destination NAT) is unsolicited: dropped and counted, never
	// routed back out of the inside table.
	c.add(commentUnsolicited, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: []byte{0, 0, 0xff, 0xff}, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0, 0, 0xc1, 0x0d}},
	}, matchMarkBits(markCloudnat, 0), []expr.Any{&expr.Counter{}, verdict(expr.VerdictDrop, "")})
	for _, l := range limits {
		if l.Max == 0 {
			continue
		}
		parts := [][]expr.Any{matchCtNew(), matchMarkBits(markCloudnat, markCloudnat)}
		if l.VRF != model.AllVRFs {
			parts = append(parts, matchZone(uint16(l.VRF)))
		}
		parts = append(parts, []expr.Any{&expr.Connlimit{Count: l.Max, Flags: expr.NFT_CONNLIMIT_F_INV},
			&expr.Counter{}, verdict(expr.VerdictDrop, "")})
		c.add(limitComment(l), parts...)
	}
	for _, o := range timeoutObjects {
		c.add("", matchCtNew(), matchMarkBits(markCloudnat, markCloudnat), matchL4(o.proto),
			[]expr.Any{&expr.Objref{Type: int(nftables.ObjTypeCtTimeout), Name: o.name}})
	}
	return c
}
