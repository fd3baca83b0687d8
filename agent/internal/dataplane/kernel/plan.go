package kernel

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// The functions here edit the cache and append to a batch the kernel
// changes that make the table match the edited cache. They touch only the
// elements (and, when the shape changes, the few rules) of the objects
// they change. If the batch then fails, the caller drops the cache.

func named(name string) setSpec { return setSpec{name: name} }

// skeleton creates the table with its fixed sets and chains, the ct
// timeout objects, the zone chain and the fin chain. Chains first, then
// rules, so jumps find their targets.
func (c *cache) skeleton(b *batch) {
	b.add(action{op: actAddTable})
	b.add(action{op: actAddTimeouts, timeouts: c.timeouts})
	for _, s := range staticSets() {
		b.addSet(s)
	}
	chains := append(cgChains(&c.cg.lens), finChain(c.limitList()), zoneChain(c.host))
	chains = append(chains, staticChains()...)
	c.cg.shape = c.cg.shapeKey()
	for _, ch := range chains {
		b.add(action{op: actAddChain, chain: ch})
	}
	for _, ch := range chains {
		if len(ch.rules) > 0 {
			b.add(action{op: actAddRules, chain: ch})
		}
	}
	b.addElems(named(setCls), clsElem(lbClass{}))
	for _, n := range c.vifNames() {
		b.addElems(named(setVIF), nftables.SetElement{Key: ifname(n)})
	}
	c.exists = true
}

func (c *cache) ensureTable(b *batch) {
	if !c.exists {
		c.skeleton(b)
	}
}

func txElem(t model.Translation) nftables.SetElement {
	return nftables.SetElement{Key: txKey(t.Key), Val: u32(classOf(t).id())}
}

func recSet(k model.TranslationKey) string {
	return setRec(familyOf(k.VIP), recShard(txKey(k)))
}

func recElem(id uint32, t model.Translation) nftables.SetElement {
	return nftables.SetElement{Key: txKey(t.Key), Comment: txComment(id, t)}
}

func clsElem(c lbClass) nftables.SetElement {
	if c.n == 0 {
		return nftables.SetElement{Key: u32(0), VerdictData: &expr.Verdict{Kind: expr.VerdictDrop}}
	}
	return nftables.SetElement{Key: u32(c.id()), VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: c.chain()}}
}

// addClass creates a class chain and its cn_cls element.
func (c *cache) addClass(b *batch, cl lbClass) {
	b.addChain(classChain(cl))
	b.addElems(named(setCls), clsElem(cl))
	c.classes[cl.chain()] = true
}

func backendSet(f model.Family, b model.Backend) string {
	if b.DstPort != 0 {
		return setBP(f)
	}
	return setBA(f)
}

// srcRewrite returns the map and value of a backend's source rewrite.
func srcRewrite(f model.Family, b model.Backend) (string, []byte, bool) {
	switch {
	case b.SrcAddr.IsValid() && b.SrcPort != 0:
		return setSRP(f), append(b.SrcAddr.AsSlice(), portField(b.SrcPort)...), true
	case b.SrcAddr.IsValid():
		return setSRA(f), b.SrcAddr.AsSlice(), true
	case b.SrcPort != 0:
		return setSRO(f), portField(b.SrcPort)[:2], true
	}
	return "", nil, false
}

// backendElems adds or deletes the elements of backend i of translation e.
func backendElems(b *batch, op actOp, e *tentry, i int) {
	f := familyOf(e.t.Key.VIP)
	be := e.t.Backends[i]
	mark := backendMark(e.id, i)
	el := nftables.SetElement{Key: backendKey(e.t.Key, i)}
	if op == actAddElems {
		el.Val = backendData(mark, be)
	}
	b.elems(op, named(backendSet(f, be)), el)
	if set, val, ok := srcRewrite(f, be); ok {
		sr := nftables.SetElement{Key: u32(mark)}
		if op == actAddElems {
			sr.Val = val
		}
		b.elems(op, named(set), sr)
	}
}

func (c *cache) vipRef(b *batch, t model.Translation, delta int) {
	if t.Kind != model.KindVIP {
		return
	}
	r := vipRef{t.Key.VRF, t.Key.VIP}
	old := c.vips[r]
	c.vips[r] = old + delta
	el := nftables.SetElement{Key: vipKey(r.vrf, r.vip)}
	switch {
	case old == 0 && delta > 0:
		b.addElems(named(setVIP(familyOf(r.vip))), el)
	case old+delta <= 0:
		delete(c.vips, r)
		b.delElems(named(setVIP(familyOf(r.vip))), el)
	}
}

// putTranslation adds t or replaces the translation with its key; ok is
// false when no translation id is left.
func (c *cache) putTranslation(b *batch, t model.Translation) bool {
	c.ensureTable(b)
	old := c.trans[t.Key]
	var id uint32
	if old != nil {
		id = old.id
	} else if id = c.allocID(); id == 0 {
		return false
	}
	e := &tentry{id: id, t: t}
	if len(t.Backends) > 0 {
		if !c.classes[classOf(t).chain()] {
			c.addClass(b, classOf(t))
		}
	}
	f := familyOf(t.Key.VIP)
	if old == nil || classOf(old.t) != classOf(t) {
		if old != nil {
			b.delElems(named(setTx(f)), nftables.SetElement{Key: txKey(t.Key)})
		}
		b.addElems(named(setTx(f)), txElem(t))
	}
	if cm := e.comment(); old == nil || old.comment() != cm {
		if old != nil {
			b.delElems(named(recSet(t.Key)), nftables.SetElement{Key: txKey(t.Key)})
		}
		b.addElems(named(recSet(t.Key)), nftables.SetElement{Key: txKey(t.Key), Comment: cm})
	}
	if old != nil {
		for i := range old.t.Backends {
			if i >= len(t.Backends) || old.t.Backends[i] != t.Backends[i] {
				backendElems(b, actDelElems, old, i)
			}
		}
		c.vipRef(b, old.t, -1)
	}
	for i := range t.Backends {
		if old == nil || i >= len(old.t.Backends) || old.t.Backends[i] != t.Backends[i] {
			backendElems(b, actAddElems, e, i)
		}
	}
	c.vipRef(b, t, +1)
	c.trans[t.Key] = e
	c.ids[id] = t.Key
	return true
}

func (c *cache) deleteTranslation(b *batch, k model.TranslationKey) bool {
	old := c.trans[k]
	if old == nil || !c.exists {
		return false
	}
	b.delElems(named(setTx(familyOf(k.VIP))), nftables.SetElement{Key: txKey(k)})
	b.delElems(named(recSet(k)), nftables.SetElement{Key: txKey(k)})
	for i := range old.t.Backends {
		backendElems(b, actDelElems, old, i)
	}
	c.vipRef(b, old.t, -1)
	delete(c.trans, k)
	delete(c.ids, old.id)
	return true
}

// ensureSNAT creates the snat chain and pool map of p if missing.
func (c *cache) ensureSNAT(b *batch, p poolKey) {
	c.ensureTable(b)
	if c.snat[p] {
		return
	}
	b.addSet(poolSet(p))
	b.addChain(&chainPlan{name: snatChain(p)})
	c.snat[p] = true
}

func (c *cache) rewriteSNAT(b *batch, p poolKey) {
	b.rewriteChain(snatChainPlan(p, c.lens(p), len(c.pools[p])))
}

func poolElem(i int, a netip.Addr) nftables.SetElement {
	return nftables.SetElement{Key: u32(snatMark() + uint32(i)), Val: a.AsSlice()}
}

// putAddress appends a to its pool (indexes of the others do not move).
func (c *cache) putAddress(b *batch, a model.SNATAddress) bool {
	p := poolKey{familyOf(a.Addr), a.VRF}
	for _, x := range c.pools[p] {
		if x == a.Addr {
			return false
		}
	}
	c.ensureSNAT(b, p)
	i := len(c.pools[p])
	c.pools[p] = append(c.pools[p], a.Addr)
	b.addElems(named(setPool(p)), poolElem(i, a.Addr))
	c.rewriteSNAT(b, p)
	return true
}

// deleteAddress removes a; the last address of the pool takes its index.
func (c *cache) deleteAddress(b *batch, a model.SNATAddress) bool {
	p := poolKey{familyOf(a.Addr), a.VRF}
	pool := c.pools[p]
	i := -1
	for j, x := range pool {
		if x == a.Addr {
			i = j
		}
	}
	if i < 0 || !c.exists {
		return false
	}
	last := len(pool) - 1
	set := named(setPool(p))
	b.delElems(set, nftables.SetElement{Key: u32(snatMark() + uint32(i))})
	if i != last {
		b.delElems(set, nftables.SetElement{Key: u32(snatMark() + uint32(last))})
		b.addElems(set, poolElem(i, pool[last]))
		pool[i] = pool[last]
	}
	c.pools[p] = pool[:last]
	if last == 0 {
		delete(c.pools, p)
	}
	c.rewriteSNAT(b, p)
	return true
}

func exclElem(e model.SNATExclusion) nftables.SetElement {
	return nftables.SetElement{Key: e.Prefix.Masked().Addr().AsSlice()}
}

func (c *cache) putExclusion(b *batch, e model.SNATExclusion) bool {
	if c.excl[e] {
		return false
	}
	p := poolKey{familyOf(e.Prefix.Addr()), e.VRF}
	c.ensureSNAT(b, p)
	bits := e.Prefix.Bits()
	name := setExcl(p, bits)
	if !c.exclSets[name] {
		b.addSet(exclSet(p, bits))
		c.exclSets[name] = true
	}
	b.addElems(named(name), exclElem(e))
	c.excl[e] = true
	if c.exclLens[p] == nil {
		c.exclLens[p] = map[int]int{}
	}
	c.exclLens[p][bits]++
	if c.exclLens[p][bits] == 1 {
		c.rewriteSNAT(b, p)
	}
	return true
}

func (c *cache) deleteExclusion(b *batch, e model.SNATExclusion) bool {
	if !c.excl[e] || !c.exists {
		return false
	}
	p := poolKey{familyOf(e.Prefix.Addr()), e.VRF}
	bits := e.Prefix.Bits()
	b.delElems(named(setExcl(p, bits)), exclElem(e))
	delete(c.excl, e)
	c.exclLens[p][bits]--
	if c.exclLens[p][bits] <= 0 {
		delete(c.exclLens[p], bits)
		c.rewriteSNAT(b, p)
	}
	return true
}

func (c *cache) ifElem(i model.SNATInterface) nftables.SetElement {
	p := poolKey{i.Family, c.ifaceVRF(i.Interface)}
	return nftables.SetElement{Key: ifKey(i), VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: snatChain(p)}}
}

func (c *cache) putInterface(b *batch, i model.SNATInterface) bool {
	if c.ifaces[i] {
		return false
	}
	p := poolKey{i.Family, c.ifaceVRF(i.Interface)}
	if !c.snat[p] {
		c.ensureSNAT(b, p)
		c.rewriteSNAT(b, p)
	}
	b.addElems(named(setIf), c.ifElem(i))
	c.ifaces[i] = true
	return true
}

func (c *cache) deleteInterface(b *batch, i model.SNATInterface) bool {
	if !c.ifaces[i] || !c.exists {
		return false
	}
	b.delElems(named(setIf), nftables.SetElement{Key: ifKey(i)})
	delete(c.ifaces, i)
	return true
}

// setHost follows a new host view: the zone chain and the VRF chain each
// SNAT interface jumps to.
func (c *cache) setHost(b *batch, h hostView) {
	c.host = h
	if !c.exists {
		return
	}
	b.rewriteChain(zoneChain(h))
	c.refillIf(b)
	c.refillVIF(b)
}

// refillIf writes the cn_if map again: each SNAT interface jumps to the
// chain of its current VRF (created if missing).
func (c *cache) refillIf(b *batch) {
	b.add(action{op: actFlushSet, set: named(setIf)})
	for _, i := range c.interfaces() {
		p := poolKey{i.Family, c.ifaceVRF(i.Interface)}
		if !c.snat[p] {
			c.ensureSNAT(b, p)
			c.rewriteSNAT(b, p)
		}
		b.addElems(named(setIf), c.ifElem(i))
	}
}

func (c *cache) setLimit(b *batch, l model.SessionLimit) bool {
	if cur, ok := c.limits[l.VRF]; (ok && cur == l.Max) || (!ok && l.Max == 0) {
		return false
	}
	if l.Max == 0 {
		delete(c.limits, l.VRF)
	} else {
		c.limits[l.VRF] = l.Max
	}
	if c.exists {
		b.rewriteChain(finChain(c.limitList()))
	} else {
		c.skeleton(b)
	}
	return true
}

// setTimeouts replaces the ct timeout objects: the fin chain that uses
// them is emptied first, then refilled.
func (c *cache) setTimeouts(b *batch, t model.Timeouts) bool {
	if t == c.timeouts {
		return false
	}
	c.timeouts = t
	if !c.exists {
		c.skeleton(b)
		return true
	}
	fin := finChain(c.limitList())
	b.add(action{op: actFlushChain, chain: fin})
	b.add(action{op: actDelTimeouts})
	b.add(action{op: actAddTimeouts, timeouts: t})
	b.add(action{op: actAddRules, chain: fin})
	return true
}

// writeAll builds the whole table of table from the cache (after it was
// deleted), as transactions of about maxWeight elements and rules each,
// split between objects. The translations' elements, nearly all of a
// large table, are encoded straight into messages (writeTranslation).
func (c *cache) writeAll(table string, maxWeight int) []*batch {
	old := *c
	c.exists = false
	c.classes = map[string]bool{}
	c.exclSets = map[string]bool{}
	c.snat = map[poolKey]bool{}
	c.vips = map[vipRef]int{}
	// The translations stay as they are (writeTranslation needs no edit).
	c.pools = map[poolKey][]netip.Addr{}
	c.excl = map[model.SNATExclusion]bool{}
	c.exclLens = map[poolKey]map[int]int{}
	c.ifaces = map[model.SNATInterface]bool{}
	c.cg = newCGState()
	var out []*batch
	b := &batch{}
	next := func() {
		if b.weight >= maxWeight {
			out = append(out, b)
			b = &batch{}
		}
	}
	c.skeleton(b)
	es := old.translationsByID()
	// The class chains first: the translations' elements only name them
	// by id.
	cls := map[lbClass]bool{}
	for _, e := range es {
		if len(e.t.Backends) > 0 {
			cls[classOf(e.t)] = true
		}
	}
	for cl := range cls {
		c.addClass(b, cl)
	}
	w := newElemWriter(table)
	for _, e := range es {
		c.writeTranslation(w, e)
		if b.weight+w.n >= maxWeight {
			b.addRaw(w)
			out = append(out, b)
			b = &batch{}
		}
	}
	b.addRaw(w)
	c.nextID = old.nextID
	for p, pool := range old.pools {
		c.ensureSNAT(b, p)
		for i, a := range pool {
			b.addElems(named(setPool(p)), poolElem(i, a))
		}
		c.pools[p] = slices.Clone(pool)
		c.rewriteSNAT(b, p)
		next()
	}
	for e := range old.excl {
		c.putExclusion(b, e)
		next()
	}
	for i := range old.ifaces {
		c.putInterface(b, i)
		next()
	}
	c.writeCG(old.cg, func() *batch { next(); return b })
	if !b.empty() {
		out = append(out, b)
	}
	return out
}

// addNew adds a translation whose key is not in the table, its elements
// encoded into w (a bulk write); ok is false when no id is left.
func (c *cache) addNew(b *batch, w *elemWriter, t model.Translation) bool {
	c.ensureTable(b)
	id := c.allocID()
	if id == 0 {
		return false
	}
	if cl := classOf(t); len(t.Backends) > 0 && !c.classes[cl.chain()] {
		c.addClass(b, cl)
	}
	e := &tentry{id: id, t: t}
	c.writeTranslation(w, e)
	c.trans[t.Key] = e
	c.ids[id] = t.Key
	return true
}

// writeTranslation encodes the elements of a translation new to the table
// (what putTranslation adds, but without SetElements) and counts its VIP;
// its class chain must exist.
func (c *cache) writeTranslation(w *elemWriter, e *tentry) {
	t := e.t
	f := familyOf(t.Key.VIP)
	var kb [64]byte
	key := appendTxKey(kb[:0], t.Key)
	var vb [64]byte
	w.add(setTx(f), key, binary.NativeEndian.AppendUint32(vb[:0], classOf(t).id()), "")
	w.add(setRec(f, recShard(key)), key, nil, e.comment())
	for i, be := range t.Backends {
		mark := backendMark(e.id, i)
		bk := binary.NativeEndian.AppendUint32(key, uint32(i))
		w.add(backendSet(f, be), bk, appendBackendData(vb[:0], mark, be), "")
		if set, val, ok := srcRewrite(f, be); ok {
			w.add(set, binary.NativeEndian.AppendUint32(bk[len(bk):], mark), val, "")
		}
	}
	if t.Kind == model.KindVIP {
		r := vipRef{t.Key.VRF, t.Key.VIP}
		if c.vips[r] == 0 {
			w.add(setVIP(f), appendAddr(append(binary.NativeEndian.AppendUint16(vb[:0], uint16(r.vrf)), 0, 0), r.vip), nil, "")
		}
		c.vips[r]++
	}
}

func (c *cache) translationsByID() []*tentry {
	out := make([]*tentry, 0, len(c.trans))
	for _, e := range c.trans {
		out = append(out, e)
	}
	return out
}
