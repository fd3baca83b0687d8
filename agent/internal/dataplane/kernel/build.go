package kernel

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Chains of cloudnat's table. Base chains only jump; the work is in
// regular chains so that prerouting and output share the DNAT rules.
const (
	chainZone    = "zone"     // filter prerouting raw(-300): ct zone from the input interface
	chainPre     = "pre"      // nat prerouting dstnat(-100): jump dnat
	chainOut     = "out"      // nat output dstnat(-100): jump dnat
	chainDNAT    = "dnat"     // translations: mark by jhash, dnat per backend, VIP drops
	chainPost    = "post"     // nat postrouting srcnat(100): backend source rewrites, SNAT interfaces
	chainFinPre  = "fin_pre"  // filter prerouting -90: jump fin
	chainFinOut  = "fin_out"  // filter output -90: jump fin
	chainFinPost = "fin_post" // filter postrouting 110: jump fin
	chainFin     = "fin"      // session limits, ct timeouts of new cloudnat flows
)

// snatChain names the source-NAT chain of a VRF and family.
func snatChain(f model.Family, vrf uint32) string {
	return fmt.Sprintf("snat%d_%d", f, vrf)
}

// Names of the ct timeout objects.
var timeoutObjects = []struct {
	name  string
	l3    uint16
	proto model.Proto
}{
	{"cn_tcp", unix.NFPROTO_IPV4, model.ProtoTCP},
	{"cn_udp", unix.NFPROTO_IPV4, model.ProtoUDP},
	{"cn_icmp", unix.NFPROTO_IPV4, model.ProtoICMP},
	{"cn_icmp6", unix.NFPROTO_IPV6, model.ProtoICMPv6},
}

type hookSpec struct {
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio nftables.ChainPriority
}

type rulePlan struct {
	exprs   []expr.Any
	comment string
}

type chainPlan struct {
	name  string
	hook  *hookSpec // nil: regular chain
	rules []rulePlan
}

// plan is the whole content of cloudnat's table, built from state by pure
// functions and written in one batch by apply.
type plan struct {
	chains   []*chainPlan
	timeouts model.Timeouts
}

func (p *plan) chain(name string) *chainPlan {
	for _, c := range p.chains {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (c *chainPlan) add(comment string, parts ...[]expr.Any) {
	var e []expr.Any
	for _, p := range parts {
		e = append(e, p...)
	}
	c.rules = append(c.rules, rulePlan{exprs: e, comment: comment})
}

// hostView is what build needs to know about the host: the VRF (Linux VRF
// master's table, or the table of an `ip rule iif <dev> lookup <table>`) of
// each interface that is not in the default VRF.
type hostView struct {
	vrfOf map[string]uint32
}

// build turns state into the table's content. It is pure: the same state
// and host view always give the same plan.
func build(s *state, h hostView) *plan {
	s.sort()
	p := &plan{timeouts: s.Timeouts}
	mk := func(name string, h *hookSpec) *chainPlan {
		c := &chainPlan{name: name, hook: h}
		p.chains = append(p.chains, c)
		return c
	}
	zone := mk(chainZone, &hookSpec{nftables.ChainTypeFilter, nftables.ChainHookPrerouting, *nftables.ChainPriorityRaw})
	pre := mk(chainPre, &hookSpec{nftables.ChainTypeNAT, nftables.ChainHookPrerouting, *nftables.ChainPriorityNATDest})
	out := mk(chainOut, &hookSpec{nftables.ChainTypeNAT, nftables.ChainHookOutput, *nftables.ChainPriorityNATDest})
	dnat := mk(chainDNAT, nil)
	post := mk(chainPost, &hookSpec{nftables.ChainTypeNAT, nftables.ChainHookPostrouting, *nftables.ChainPriorityNATSource})
	finPre := mk(chainFinPre, &hookSpec{nftables.ChainTypeFilter, nftables.ChainHookPrerouting, -90})
	finOut := mk(chainFinOut, &hookSpec{nftables.ChainTypeFilter, nftables.ChainHookOutput, -90})
	finPost := mk(chainFinPost, &hookSpec{nftables.ChainTypeFilter, nftables.ChainHookPostrouting, 110})
	fin := mk(chainFin, nil)

	buildZones(zone, h)
	pre.add("", []expr.Any{verdict(expr.VerdictJump, chainDNAT)})
	out.add("", []expr.Any{verdict(expr.VerdictJump, chainDNAT)})
	for _, c := range []*chainPlan{finPre, finOut, finPost} {
		c.add("", []expr.Any{verdict(expr.VerdictJump, chainFin)})
	}
	buildTranslations(dnat, post, s.Translations)
	for _, sc := range buildSNAT(post, s, h) {
		p.chains = append(p.chains, sc)
	}
	buildFin(fin, s)
	return p
}

// buildZones assigns each interface of a non-default VRF the conntrack zone
// equal to its VRF, before conntrack sees the packet (raw priority), so
// equal inside addresses of different VRFs are different flows.
func buildZones(c *chainPlan, h hostView) {
	names := make([]string, 0, len(h.vrfOf))
	for n, v := range h.vrfOf {
		if v != 0 && v <= maxZone {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		c.add("", matchIIF(n), setZone(uint16(h.vrfOf[n])))
	}
}

// buildTranslations: per translation an anchor rule that matches the
// VRF (zone), protocol, address and port and sets ct mark to
// base + jhash(fields) mod n; then one dnat rule per backend keyed by that
// mark, and (postrouting) one snat rule per backend that rewrites the source.
// VIPs drop what no translation took.
func buildTranslations(dnat, post *chainPlan, ts []translation) {
	type vipKey struct {
		vrf uint32
		vip netip.Addr
	}
	var vips []vipKey
	for _, x := range ts {
		t := x.T
		fam := familyOf(t.Key.VIP)
		match := [][]expr.Any{matchNfproto(fam), matchZone(uint16(t.Key.VRF)), matchL4(t.Key.Proto),
			matchAddr(fam, true, t.Key.VIP)}
		if t.Key.Port != 0 && !isICMP(t.Key.Proto) {
			match = append(match, matchDstPort(t.Key.Port))
		}
		base := translationMark(x.ID)
		n := uint32(len(t.Backends))
		var action []expr.Any
		switch n {
		case 0:
			action = []expr.Any{&expr.Counter{}, verdict(expr.VerdictDrop, "")}
		case 1:
			action = setMark(base)
		default:
			action = setMarkHash(fam, hashFieldsOf(fam, t.Key.Proto, t.HashFields), n, base)
		}
		dnat.add(translationComment(x.ID, t), append(match, action)...)
		for i, b := range t.Backends {
			m := base + uint32(i)
			dnat.add(backendComment(x.ID, i, b), matchMark(m), matchL4(t.Key.Proto),
				natTo(expr.NATTypeDestNAT, fam, b.DstAddr, b.DstPort))
			if b.SrcAddr.IsValid() || b.SrcPort != 0 {
				post.add("", matchMark(m), matchL4(t.Key.Proto),
					natTo(expr.NATTypeSourceNAT, fam, b.SrcAddr, b.SrcPort))
			}
		}
		if t.Kind == model.KindVIP {
			k := vipKey{t.Key.VRF, t.Key.VIP}
			if !slices.Contains(vips, k) {
				vips = append(vips, k)
			}
		}
	}
	for _, v := range vips {
		fam := familyOf(v.vip)
		dnat.add(vipDropComment(v.vrf, v.vip), matchNfproto(fam), matchZone(uint16(v.vrf)),
			matchAddr(fam, true, v.vip), []expr.Any{&expr.Counter{}, verdict(expr.VerdictDrop, "")})
	}
}

// buildSNAT: one rule per SNAT interface in postrouting sends new flows
// that entered on it (and were not translated) to its VRF's chain, where
// excluded destinations return untranslated and the rest are marked and
// source-NATed to the pool address chosen by jhash(saddr) (paired pooling).
func buildSNAT(post *chainPlan, s *state, h hostView) []*chainPlan {
	chains := map[string]*chainPlan{}
	get := func(f model.Family, vrf uint32) *chainPlan {
		n := snatChain(f, vrf)
		if c, ok := chains[n]; ok {
			return c
		}
		c := &chainPlan{name: n}
		chains[n] = c
		return c
	}
	for _, a := range s.Addresses {
		get(familyOf(a.Addr), a.VRF)
	}
	for _, e := range s.Exclusions {
		get(familyOf(e.Prefix.Addr()), e.VRF)
	}
	for _, i := range s.Interfaces {
		vrf := h.vrfOf[i.Interface]
		if vrf > maxZone {
			vrf = 0
		}
		target := get(i.Family, vrf)
		post.add(interfaceComment(i), matchIIF(i.Interface), matchNfproto(i.Family),
			matchMarkBits(markCloudnat, 0), []expr.Any{verdict(expr.VerdictGoto, target.name)})
	}
	names := make([]string, 0, len(chains))
	for n := range chains {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*chainPlan, 0, len(names))
	for _, n := range names {
		c := chains[n]
		var f model.Family
		var vrf uint32
		fmt.Sscanf(n, "snat%d_%d", &f, &vrf)
		for _, e := range s.Exclusions {
			if e.VRF == vrf && familyOf(e.Prefix.Addr()) == f {
				c.add(exclusionComment(e), matchNfproto(f), matchDstPrefix(e.Prefix),
					[]expr.Any{verdict(expr.VerdictReturn, "")})
			}
		}
		pool := s.pool(vrf, f)
		switch {
		case len(pool) == 1:
			c.add("", setMark(snatMark()))
		case len(pool) > 1:
			sa, _, l := addrOffsets(f)
			c.add("", matchNfproto(f), setMarkHash(f, []hashField{{base: expr.PayloadBaseNetworkHeader, offset: sa, length: l}},
				uint32(len(pool)), snatMark()))
		}
		for i, a := range pool {
			c.add(snatAddrComment(model.SNATAddress{VRF: vrf, Addr: a}), matchMark(snatMark()+uint32(i)),
				natTo(expr.NATTypeSourceNAT, f, a, 0))
		}
		out = append(out, c)
	}
	return out
}

// buildFin: session limits (ct count over the flows cloudnat marked) and
// the ct timeout policy of every new cloudnat flow.
func buildFin(c *chainPlan, s *state) {
	for _, l := range s.Limits {
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
}
