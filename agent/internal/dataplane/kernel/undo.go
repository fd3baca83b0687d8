package kernel

import (
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// undo builds the batch that reverts foreign changes (as notified) to
// what the cache says the table holds: for each element touched, the last
// foreign operation is undone (ours re-added, theirs deleted); each chain
// whose rules were touched is rewritten. ok is false for changes it does
// not handle (chains, sets or objects created or deleted): reload then.
func (c *cache) undo(changes []change) (*batch, bool) {
	type elemKey struct{ set, key string }
	last := map[elemKey]uint16{}
	var order []elemKey
	chains := map[string]bool{}
	for _, ch := range changes {
		switch ch.typ {
		case unix.NFT_MSG_NEWSETELEM, unix.NFT_MSG_DELSETELEM:
			if isCGSet(ch.name) {
				return nil, false // reloaded: the records are decoded again
			}
			for _, k := range ch.keys {
				ek := elemKey{ch.name, string(k)}
				if _, seen := last[ek]; !seen {
					order = append(order, ek)
				}
				last[ek] = ch.typ
			}
		case unix.NFT_MSG_NEWRULE, unix.NFT_MSG_DELRULE:
			chains[ch.name] = true
		default:
			return nil, false
		}
	}
	b := &batch{}
	for _, ek := range order {
		want, ours := c.expected(ek.set, []byte(ek.key))
		if last[ek] == unix.NFT_MSG_NEWSETELEM {
			b.delElems(named(ek.set), nftables.SetElement{Key: []byte(ek.key)})
		}
		if ours {
			b.addElems(named(ek.set), want)
		}
	}
	for name := range chains {
		plan, ok := c.chainPlan(name)
		if !ok {
			return nil, false
		}
		b.rewriteChain(plan)
	}
	return b, true
}

// chainPlan is the content the cache expects in chain name.
func (c *cache) chainPlan(name string) (*chainPlan, bool) {
	switch name {
	case chainZone:
		return zoneChain(c.host), true
	case chainFin:
		return finChain(c.limitList()), true
	}
	for _, ch := range staticChains() {
		if ch.name == name {
			return ch, true
		}
	}
	for _, ch := range cgChains(&c.cg.lens) {
		if ch.name == name {
			return ch, true
		}
	}
	if cl, ok := parseClass(name); ok && c.classes[name] {
		return classChain(cl), true
	}
	if p, rest, ok := parsePoolSet(name, "cn_snat"); ok && len(rest) == 0 && c.snat[p] {
		return snatChainPlan(p, c.lens(p), len(c.pools[p])), true
	}
	return nil, false
}

// expected returns the element the cache says set holds under key.
func (c *cache) expected(set string, key []byte) (nftables.SetElement, bool) {
	none := nftables.SetElement{}
	for _, f := range families4and6 {
		switch set {
		case setTx(f):
			k, ok := decodeTxKey(f, key)
			if e := c.trans[k]; ok && e != nil && len(key) == len(txKey(k)) {
				return txElem(e.t), true
			}
			return none, false
		case setBP(f), setBA(f):
			k, ok := decodeTxKey(f, key)
			e := c.trans[k]
			if !ok || e == nil || len(key) != len(txKey(k))+4 {
				return none, false
			}
			i := int(nativeU32(key[len(key)-4:]))
			if i >= len(e.t.Backends) || backendSet(f, e.t.Backends[i]) != set {
				return none, false
			}
			return nftables.SetElement{Key: key, Val: backendData(backendMark(e.id, i), e.t.Backends[i])}, true
		case setSRA(f), setSRP(f), setSRO(f):
			m := nativeU32(key)
			k, ok := c.ids[markTranslationID(m)]
			e := c.trans[k]
			i := int(m & markIdxMask)
			if !ok || e == nil || len(key) != 4 || i >= len(e.t.Backends) || familyOf(k.VIP) != f {
				return none, false
			}
			if s, v, ok := srcRewrite(f, e.t.Backends[i]); ok && s == set {
				return nftables.SetElement{Key: key, Val: v}, true
			}
			return none, false
		case setVIP(f):
			if len(key) != 4+addrLen(f) {
				return none, false
			}
			a, _ := netip.AddrFromSlice(key[4:])
			if c.vips[vipRef{uint32(nativeU16(key)), a}] > 0 {
				return nftables.SetElement{Key: key}, true
			}
			return none, false
		}
	}
	if strings.HasPrefix(set, "cn_rec") {
		for _, f := range families4and6 {
			k, ok := decodeTxKey(f, key)
			if e := c.trans[k]; ok && e != nil && len(key) == len(txKey(k)) && recSet(k) == set {
				return recElem(e.id, e.t), true
			}
		}
		return none, false
	}
	switch {
	case set == setCls:
		id := nativeU32(key)
		if id == 0 {
			return clsElem(lbClass{}), true
		}
		for name := range c.classes {
			if cl, ok := parseClass(name); ok && cl.id() == id {
				return clsElem(cl), true
			}
		}
	case set == setIf:
		if i, ok := decodeIfKey(key); ok && c.ifaces[i] {
			return c.ifElem(i), true
		}
	}
	if p, ok := parsePoolName(set); ok {
		i := int(nativeU32(key) - snatMark())
		if pool := c.pools[p]; len(key) == 4 && i >= 0 && i < len(pool) {
			return poolElem(i, pool[i]), true
		}
		return none, false
	}
	if p, bits, ok := parseExclSet(set); ok {
		a, ok := netip.AddrFromSlice(key)
		e := model.SNATExclusion{VRF: p.vrf, Prefix: netip.PrefixFrom(a, bits)}
		if ok && c.excl[e] {
			return exclElem(e), true
		}
	}
	return none, false
}
