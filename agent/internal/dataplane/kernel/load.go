package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// kernelTable is what a dump of cloudnat's table returned: enough to
// decode the objects (decode is pure and unit-tested).
type kernelTable struct {
	exists   bool
	chains   map[string]int // rule count per chain
	limits   []model.SessionLimit
	sets     map[string][]nftables.SetElement
	timeouts model.Timeouts
	haveTO   bool
	// backendsInComments: the translation and backend maps were not read
	// (every translation's record lists its backends).
	backendsInComments bool
}

// isDataSet: the maps the data path looks translations up in (large, and
// not needed to decode when the records carry the backends).
func isDataSet(name string) bool {
	for _, f := range families4and6 {
		if name == setTx(f) || name == setBP(f) || name == setBA(f) || name == setSRA(f) || name == setSRP(f) || name == setSRO(f) ||
			name == setVIP(f) {
			return true
		}
	}
	return false
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// dump reads cloudnat's table: chains with their rule counts, the fin
// chain's limits, every set's elements, the timeout objects. The caller
// holds nftMu.
func dump(c *nftables.Conn, name string) (*kernelTable, error) {
	kt := &kernelTable{chains: map[string]int{}, sets: map[string][]nftables.SetElement{}}
	t, err := c.ListTableOfFamily(name, nftables.TableFamilyINet)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return kt, nil
		}
		return nil, fmt.Errorf("list table inet %s: %w", name, err)
	}
	kt.exists = true
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != name {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return nil, fmt.Errorf("list rules of chain %s: %w", ch.Name, err)
		}
		kt.chains[ch.Name] = len(rules)
		if ch.Name == chainFin {
			for _, r := range rules {
				cm, _ := userdata.GetString(r.UserData, userdata.TypeComment)
				if l, ok := parseLimitComment(cm); ok {
					kt.limits = append(kt.limits, l)
				}
			}
		}
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	// The translation records first: when their comments carry every
	// translation's backends, the (large) translation and backend maps
	// are not read.
	slices.SortStableFunc(sets, func(a, b *nftables.Set) int {
		return cmpBool(!strings.HasPrefix(a.Name, "cn_rec"), !strings.HasPrefix(b.Name, "cn_rec"))
	})
	kt.backendsInComments = true
	for _, s := range sets {
		if kt.backendsInComments && isDataSet(s.Name) {
			kt.sets[s.Name] = nil
			continue
		}
		es, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("list elements of %s: %w", s.Name, err)
		}
		kt.sets[s.Name] = es
		if strings.HasPrefix(s.Name, "cn_rec") {
			for _, e := range es {
				if ti, err := parseTxComment(e.Comment); err != nil || (ti.backends == nil && ti.n > 0) {
					kt.backendsInComments = false
				}
			}
		}
	}
	kt.timeouts, kt.haveTO, err = readTimeouts(c, t)
	if err != nil {
		return nil, err
	}
	return kt, nil
}

// counters sums the packet counters of the rules of chain whose comment
// starts with tag. The caller holds nftMu.
func counters(c *nftables.Conn, table, chain, tag string) (uint64, error) {
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyINet}
	rules, err := c.GetRules(t, &nftables.Chain{Name: chain, Table: t})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return 0, nil
		}
		return 0, fmt.Errorf("list rules of chain %s: %w", chain, err)
	}
	var n uint64
	for _, r := range rules {
		cm, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		if !strings.HasPrefix(cm, tag) {
			continue
		}
		for _, e := range r.Exprs {
			if ct, ok := e.(*expr.Counter); ok {
				n += ct.Packets
			}
		}
	}
	return n, nil
}

// decode rebuilds the cache from a dump. repair holds the changes that
// make the table consistent again (orphaned elements of objects someone
// damaged are deleted, so those objects are absent and the reconciler
// puts them back whole; missing chains and sets are recreated); rebuild
// says the table lacks something only a full rewrite restores.
func decode(kt *kernelTable, host hostView) (c *cache, repair *batch, rebuild bool) {
	c = newCache()
	c.host = host
	repair = &batch{}
	if !kt.exists {
		return c, repair, false
	}
	c.exists = true
	if kt.haveTO {
		c.timeouts = kt.timeouts
	} else {
		rebuild = true
	}
	for _, s := range staticSets() {
		if _, ok := kt.sets[s.name]; !ok {
			rebuild = true
		}
	}
	for _, ch := range append(staticChains(), finChain(kt.limits), zoneChain(host)) {
		n, ok := kt.chains[ch.name]
		if !ok {
			rebuild = true
		} else if n != len(ch.rules) {
			repair.rewriteChain(ch)
		}
	}
	for _, l := range kt.limits {
		c.limits[l.VRF] = l.Max
	}
	cls := map[string]bool{}
	for _, el := range kt.sets[setCls] {
		cls[string(el.Key)] = true
	}
	if !cls[string(u32(0))] {
		repair.addElems(named(setCls), clsElem(lbClass{}))
	}
	for name := range kt.chains {
		if cl, ok := parseClass(name); ok {
			c.classes[cl.chain()] = true
			if !cls[string(u32(cl.id()))] {
				repair.addElems(named(setCls), clsElem(cl))
			}
		}
	}
	c.decodeTranslations(kt, repair)
	c.decodeSNAT(kt, repair)
	c.decodeCG(kt, repair)
	for _, ch := range cgChains(&c.cg.lens) {
		n, ok := kt.chains[ch.name]
		if !ok {
			rebuild = true
		} else if n != len(ch.rules) {
			repair.rewriteChain(ch)
		}
	}
	return c, repair, rebuild
}

type backendRef struct {
	e   *tentry
	idx int
}

func (c *cache) decodeTranslations(kt *kernelTable, repair *batch) {
	byMark := map[uint32]backendRef{}
	broken := map[*tentry]bool{}
	have := map[*tentry][]bool{}
	for _, f := range families4and6 {
		for shard := 0; shard < recShards; shard++ {
			set := setRec(f, shard)
			for _, el := range kt.sets[set] {
				k, ok := decodeTxKey(f, el.Key)
				ti, err := parseTxComment(el.Comment)
				if _, dup := c.ids[ti.id]; !ok || err != nil || dup || recShard(el.Key) != shard || len(el.Key) != len(txKey(k)) {
					repair.delElems(named(set), nftables.SetElement{Key: el.Key})
					continue
				}
				e := &tentry{id: ti.id, t: model.Translation{Key: k, Kind: ti.kind, LB: model.LBHash, HashFields: ti.hf}}
				if ti.n > 0 {
					e.t.Backends = make([]model.Backend, ti.n)
				}
				c.trans[k] = e
				c.ids[ti.id] = k
				have[e] = make([]bool, ti.n)
				if kt.backendsInComments {
					copy(e.t.Backends, ti.backends)
					for i := range have[e] {
						have[e][i] = true
					}
				}
			}
		}
	}
	txSeen := map[*tentry]bool{}
	for _, f := range families4and6 {
		for _, el := range kt.sets[setTx(f)] {
			k, ok := decodeTxKey(f, el.Key)
			e := c.trans[k]
			if !ok || e == nil || len(el.Key) != len(txKey(k)) {
				repair.delElems(named(setTx(f)), nftables.SetElement{Key: el.Key})
				continue
			}
			txSeen[e] = true
			if nativeU32(el.Val) != classOf(e.t).id() {
				broken[e] = true
			}
		}
	}
	if !kt.backendsInComments {
		for _, e := range c.trans {
			if !txSeen[e] {
				broken[e] = true
			}
		}
	}
	for _, f := range families4and6 {
		l := addrLen(f)
		for _, set := range []string{setBP(f), setBA(f)} {
			for _, el := range kt.sets[set] {
				k, ok := decodeTxKey(f, el.Key)
				mark, b, ok2 := decodeBackendData(f, set == setBP(f), el.Val)
				e := c.trans[k]
				idx := -1
				if len(el.Key) == 16+l {
					idx = int(nativeU32(el.Key[12+l:]))
				}
				if !ok || !ok2 || e == nil || idx < 0 || idx >= len(e.t.Backends) || have[e][idx] ||
					mark != backendMark(e.id, idx) {
					repair.delElems(named(set), nftables.SetElement{Key: el.Key})
					if e != nil {
						broken[e] = true
					}
					continue
				}
				e.t.Backends[idx] = b
				have[e][idx] = true
				byMark[mark] = backendRef{e, idx}
			}
		}
		for _, set := range []string{setSRA(f), setSRP(f), setSRO(f)} {
			for _, el := range kt.sets[set] {
				r, ok := byMark[nativeU32(el.Key)]
				if !ok || len(el.Key) != 4 || !decodeSrc(f, set, el.Val, &r.e.t.Backends[r.idx]) {
					repair.delElems(named(set), nftables.SetElement{Key: el.Key})
					continue
				}
			}
		}
	}
	for e, h := range have {
		if slices.Contains(h, false) {
			broken[e] = true
		}
	}
	for e := range broken {
		// Remove what is left of it: the reconciler puts it back whole.
		if c.trans[e.t.Key] != e {
			continue
		}
		f := familyOf(e.t.Key.VIP)
		if txSeen[e] {
			repair.delElems(named(setTx(f)), nftables.SetElement{Key: txKey(e.t.Key)})
		}
		repair.delElems(named(recSet(e.t.Key)), nftables.SetElement{Key: txKey(e.t.Key)})
		for i, ok := range have[e] {
			if ok {
				backendElems(repair, actDelElems, e, i)
			}
		}
		delete(c.trans, e.t.Key)
		delete(c.ids, e.id)
	}
	for _, e := range c.trans {
		if id := e.id + 1; id > c.nextID && id <= maxTranslationID {
			c.nextID = id
		}
	}
	// VIP drop elements follow the translations; class chains must exist.
	present := map[vipRef]bool{}
	for _, f := range families4and6 {
		l := addrLen(f)
		for _, el := range kt.sets[setVIP(f)] {
			if len(el.Key) != 4+l {
				continue
			}
			a, _ := netip.AddrFromSlice(el.Key[4:])
			present[vipRef{uint32(nativeU16(el.Key[:2])), a}] = true
		}
	}
	for _, e := range c.trans {
		if e.t.Kind == model.KindVIP {
			c.vips[vipRef{e.t.Key.VRF, e.t.Key.VIP}]++
		}
		if len(e.t.Backends) > 0 && !c.classes[classOf(e.t).chain()] {
			c.addClass(repair, classOf(e.t))
		}
	}
	if kt.backendsInComments {
		return // the VIP sets were not read
	}
	for r := range present {
		if c.vips[r] == 0 {
			repair.delElems(named(setVIP(familyOf(r.vip))), nftables.SetElement{Key: vipKey(r.vrf, r.vip)})
		}
	}
	for r := range c.vips {
		if !present[r] {
			repair.addElems(named(setVIP(familyOf(r.vip))), nftables.SetElement{Key: vipKey(r.vrf, r.vip)})
		}
	}
}

func decodeSrc(f model.Family, set string, v []byte, b *model.Backend) bool {
	l := addrLen(f)
	switch set {
	case setSRA(f):
		if len(v) != l {
			return false
		}
		b.SrcAddr, _ = netip.AddrFromSlice(v)
	case setSRP(f):
		if len(v) != l+4 {
			return false
		}
		b.SrcAddr, _ = netip.AddrFromSlice(v[:l])
		b.SrcPort = bigU16(v[l:])
	default:
		if len(v) != 2 {
			return false
		}
		b.SrcPort = bigU16(v)
	}
	return true
}

func (c *cache) decodeSNAT(kt *kernelTable, repair *batch) {
	for name := range kt.chains {
		if p, rest, ok := parsePoolSet(name, "cn_snat"); ok && len(rest) == 0 {
			c.snat[p] = true
		}
	}
	for name, els := range kt.sets {
		if p, ok := parsePoolName(name); ok {
			pool := make([]netip.Addr, len(els))
			valid := true
			for _, el := range els {
				i := int(nativeU32(el.Key) - snatMark())
				a, ok := netip.AddrFromSlice(el.Val)
				if len(el.Key) != 4 || i < 0 || i >= len(els) || !ok || pool[i].IsValid() || familyOf(a) != p.f {
					valid = false
					break
				}
				pool[i] = a
			}
			if !valid {
				// Renumber: flush the map and write it again.
				pool = pool[:0]
				for _, el := range els {
					if a, ok := netip.AddrFromSlice(el.Val); ok && familyOf(a) == p.f && !slices.Contains(pool, a) {
						pool = append(pool, a)
					}
				}
				repair.add(action{op: actFlushSet, set: named(name)})
				for i, a := range pool {
					repair.addElems(named(name), poolElem(i, a))
				}
			}
			if len(pool) > 0 {
				c.pools[p] = pool
			}
			if !c.snat[p] {
				repair.addChain(&chainPlan{name: snatChain(p)})
				c.snat[p] = true
			}
			continue
		}
		if p, bits, ok := parseExclSet(name); ok {
			c.exclSets[name] = true
			for _, el := range els {
				a, ok := netip.AddrFromSlice(el.Key)
				e := model.SNATExclusion{VRF: p.vrf, Prefix: netip.PrefixFrom(a, bits)}
				if !ok || familyOf(a) != p.f || e.Prefix.Masked() != e.Prefix {
					repair.delElems(named(name), nftables.SetElement{Key: el.Key})
					continue
				}
				c.excl[e] = true
				if c.exclLens[p] == nil {
					c.exclLens[p] = map[int]int{}
				}
				c.exclLens[p][bits]++
			}
		}
	}
	ifOK := true
	for _, el := range kt.sets[setIf] {
		if i, ok := decodeIfKey(el.Key); ok {
			c.ifaces[i] = true
			if verdictChain(el.Val) != snatChain(poolKey{i.Family, c.ifaceVRF(i.Interface)}) {
				ifOK = false
			}
		} else {
			ifOK = false
		}
	}
	// Every SNAT chain's rules follow its pool and exclusion lengths; an
	// interface's VRF may have changed while no agent ran.
	for p := range c.snat {
		if _, ok := kt.sets[setPool(p)]; !ok {
			repair.addSet(poolSet(p))
		}
	}
	for p := range c.exclLens {
		if !c.snat[p] {
			c.ensureSNAT(repair, p)
		}
	}
	for p := range c.snat {
		want := snatChainPlan(p, c.lens(p), len(c.pools[p]))
		if kt.chains[snatChain(p)] != len(want.rules) {
			repair.rewriteChain(want)
		}
	}
	if !ifOK {
		c.refillIf(repair)
	}
}

// verdictChain returns the chain a vmap element's verdict jumps to.
func verdictChain(v []byte) string {
	ad, err := mnl.NewAttributeDecoder(v)
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NFTA_VERDICT_CHAIN {
			return strings.TrimRight(ad.String(), "\x00")
		}
	}
	return ""
}

// encodeVerdict is the inverse of verdictChain (tests).
func encodeVerdict(chain string) []byte {
	attrs := []mnl.Attribute{{Type: unix.NFTA_VERDICT_CODE, Data: []byte{0, 0, 0, 0}}}
	if chain != "" {
		attrs = append(attrs, mnl.Attribute{Type: unix.NFTA_VERDICT_CHAIN, Data: append([]byte(chain), 0)})
	}
	b, _ := mnl.MarshalAttributes(attrs)
	return b
}
