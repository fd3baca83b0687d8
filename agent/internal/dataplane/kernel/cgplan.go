package kernel

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// subKey is a subscriber: (inside VRF, inside address).
type subKey struct {
	vrf  uint32
	addr netip.Addr
}

type cgPool struct {
	id uint32
	p  model.Pool
}

// cgState is the part of the cache for static NAT, pools, bindings and
// static blocks.
type cgState struct {
	pools    map[string]*cgPool
	poolIDs  map[uint32]string
	bindings map[model.PoolBindingKey]model.PoolBinding
	blocks   map[subKey]model.StaticBlock
	statics  map[model.StaticNATKey]model.StaticNAT
	lens     cgLens
	sets     map[string]bool // cg sets present
	// shape is the chains' shape as last written ("" : not written).
	shape string
	// used indexes the blocks held: (pool's outside VRF, address, first
	// port) -> subscriber.
	used map[usedKey]subKey
	// det marks the subscribers whose block was allocated for a binding
	// to a dynamic pool (cgdet.go), not put as a static block.
	det map[subKey]bool
	// routes counts cross-table objects per family and inside VRF: each
	// needs an ip rule `fwmark routeMark(vrf) lookup vrf`.
	routes map[routeKey]int
}

type usedKey struct {
	vrf   uint32
	addr  netip.Addr
	start uint16
}

type routeKey struct {
	f   model.Family
	vrf uint32
}

func newCGState() *cgState {
	s := &cgState{pools: map[string]*cgPool{}, poolIDs: map[uint32]string{},
		bindings: map[model.PoolBindingKey]model.PoolBinding{}, blocks: map[subKey]model.StaticBlock{},
		statics: map[model.StaticNATKey]model.StaticNAT{}, sets: map[string]bool{}, routes: map[routeKey]int{},
		used: map[usedKey]subKey{}, det: map[subKey]bool{}}
	for i := range 2 {
		s.lens.sn[i], s.lens.bd[i], s.lens.rz[i], s.lens.rb[i] = map[int]int{}, map[int]int{}, map[int]int{}, map[int]int{}
		s.lens.pn[i], s.lens.rp[i] = map[int]int{}, map[int]int{}
	}
	return s
}

func (s *cgState) shapeKey() string {
	return fmt.Sprint(keysOf(s.lens.pn[0]), keysOf(s.lens.pn[1]), keysOf(s.lens.rp[0]), keysOf(s.lens.rp[1]),
		keysOf(s.lens.sn[0]), keysOf(s.lens.sn[1]), keysOf(s.lens.bd[0]), keysOf(s.lens.bd[1]),
		keysOf(s.lens.rz[0]), keysOf(s.lens.rz[1]), keysOf(s.lens.rb[0]), keysOf(s.lens.rb[1]))
}

// ensureCGSet creates a cg set if missing.
func (c *cache) ensureCGSet(b *batch, name string) {
	if c.cg.sets[name] || slices.Contains(staticCGSets, name) {
		return
	}
	spec, _ := cgSetSpec(name)
	b.addSet(spec)
	c.cg.sets[name] = true
}

// cgReshape rewrites the cg chains when the shape changed; the sets their
// rules name exist by then.
func (c *cache) cgReshape(b *batch) {
	if k := c.cg.shapeKey(); k != c.cg.shape {
		for _, ch := range cgChains(&c.cg.lens)[:4] {
			b.rewriteChain(ch)
		}
		c.cg.shape = k
	}
}

func count(m map[int]int, k, delta int) {
	m[k] += delta
	if m[k] <= 0 {
		delete(m, k)
	}
}

func (c *cache) route(f model.Family, vrf uint32, delta int) {
	k := routeKey{f, vrf}
	c.cg.routes[k] += delta
	if c.cg.routes[k] <= 0 {
		delete(c.cg.routes, k)
	}
}

// Static NAT.

func staticCross(s model.StaticNAT) bool { return s.InsideVRF != s.OutsideVRF }

func (c *cache) staticElems(b *batch, op actOp, s model.StaticNAT) {
	if s.Proto != 0 {
		c.portMapElems(b, op, s)
		return
	}
	f, bits := familyOf(s.Inside.Addr()), s.Inside.Bits()
	cross := staticCross(s)
	sn := nftables.SetElement{Key: cgKey(s.InsideVRF, s.Inside.Masked().Addr(), cross)}
	sd := nftables.SetElement{Key: cgKey(s.InsideVRF, s.Outside.Masked().Addr(), cross)}
	if op == actAddElems {
		sn.Val, sd.Val = rangeData(s.Outside), rangeData(s.Inside)
		c.ensureCGSet(b, setSN(f, bits))
		c.ensureCGSet(b, setSD(f, bits))
	}
	b.elems(op, named(setSN(f, bits)), sn)
	b.elems(op, named(setSD(f, bits)), sd)
	delta := 1
	if op == actDelElems {
		delta = -1
	}
	count(c.cg.lens.sn[fi(f)], bits, delta)
	if cross {
		rz := nftables.SetElement{Key: s.Outside.Masked().Addr().AsSlice()}
		if op == actAddElems {
			rz.Val = zoneField(s.InsideVRF)
			c.ensureCGSet(b, setRZ(f, bits))
		}
		b.elems(op, named(setRZ(f, bits)), rz)
		count(c.cg.lens.rz[fi(f)], bits, delta)
		c.route(f, s.InsideVRF, delta)
	}
}

// portMapElems adds or deletes the elements of a static NAT of one port.
func (c *cache) portMapElems(b *batch, op actOp, s model.StaticNAT) {
	f, bits := familyOf(s.Inside.Addr()), s.Inside.Bits()
	cross := staticCross(s)
	pn := nftables.SetElement{Key: cgPortKey(s.InsideVRF, s.Proto, s.Inside.Masked().Addr(), s.InsidePort, cross)}
	pd := nftables.SetElement{Key: cgPortKey(s.InsideVRF, s.Proto, s.Outside.Masked().Addr(), s.OutsidePort, cross)}
	delta := -1
	if op == actAddElems {
		pn.Val = append(rangeData(s.Outside), portField(s.OutsidePort)...)
		pd.Val = append(rangeData(s.Inside), portField(s.InsidePort)...)
		c.ensureCGSet(b, setPN(f, bits))
		c.ensureCGSet(b, setPD(f, bits))
		delta = 1
	}
	b.elems(op, named(setPN(f, bits)), pn)
	b.elems(op, named(setPD(f, bits)), pd)
	count(c.cg.lens.pn[fi(f)], bits, delta)
	if cross {
		rp := nftables.SetElement{Key: rpKey(s.Proto, s.Outside.Masked().Addr(), s.OutsidePort)}
		if op == actAddElems {
			rp.Val = zoneField(s.InsideVRF)
			c.ensureCGSet(b, setRP(f, bits))
		}
		b.elems(op, named(setRP(f, bits)), rp)
		count(c.cg.lens.rp[fi(f)], bits, delta)
		c.route(f, s.InsideVRF, delta)
	}
}

// portsClash says whether two mappings of overlapping prefixes claim the
// same traffic: either maps all ports, or the same protocol and port.
func portsClash(p1 model.Proto, port1 uint16, p2 model.Proto, port2 uint16) bool {
	return p1 == 0 || p2 == 0 || (p1 == p2 && port1 == port2)
}

// checkStatic refuses what the kernel cannot express and what conflicts
// with another object (the rules of the plugin).
func (c *cache) checkStatic(s model.StaticNAT) error {
	if s.Proto != 0 && s.Proto != model.ProtoTCP && s.Proto != model.ProtoUDP {
		return unsupported("static nat %s: port mappings of TCP or UDP only", s)
	}
	if s.InsideVRF > maxZone || s.OutsideVRF > maxZone {
		return unsupported("static nat %s: VRF above %d (conntrack zones are 16 bits)", s, maxZone)
	}
	if staticCross(s) && s.OutsideVRF != 0 {
		return unsupported("static nat %s: between two tables the outside table must be 0 on the kernel dataplane", s)
	}
	inUse := func(what string) error {
		return fmt.Errorf("kernel: static nat %s: %w (%s)", s, dataplane.ErrAddressInUse, what)
	}
	for k, x := range c.cg.statics {
		if k == s.Key() {
			continue
		}
		if x.OutsideVRF == s.OutsideVRF && x.Outside.Overlaps(s.Outside) && portsClash(x.Proto, x.OutsidePort, s.Proto, s.OutsidePort) {
			return inUse("static nat " + x.String())
		}
		if x.InsideVRF == s.InsideVRF && x.Inside.Overlaps(s.Inside) && portsClash(x.Proto, x.InsidePort, s.Proto, s.InsidePort) {
			return inUse("static nat " + x.String())
		}
	}
	for _, p := range c.cg.pools {
		if p.p.OutsideVRF == s.OutsideVRF && rangesOverlap(p.p.Ranges, s.Outside) {
			return inUse("pool " + p.p.Name)
		}
	}
	for _, bd := range c.cg.bindings {
		if bd.VRF == s.InsideVRF && bd.Prefix.Overlaps(s.Inside) {
			return inUse("binding " + bd.Key().String())
		}
	}
	for _, e := range c.trans {
		if e.t.Key.VRF == s.OutsideVRF && s.Outside.Contains(e.t.Key.VIP) {
			return inUse("translation " + e.t.Key.String())
		}
	}
	for p, as := range c.pools {
		for _, a := range as {
			if p.vrf == s.OutsideVRF && s.Outside.Contains(a) {
				return inUse("snat address " + a.String())
			}
		}
	}
	return nil
}

func rangesOverlap(rs []model.AddrRange, p netip.Prefix) bool {
	first, last := p.Masked().Addr(), lastAddr(p)
	for _, r := range rs {
		if r.First.BitLen() == first.BitLen() && r.First.Compare(last) <= 0 && first.Compare(r.Last) <= 0 {
			return true
		}
	}
	return false
}

func (c *cache) putStatic(b *batch, s model.StaticNAT) {
	c.ensureTable(b)
	if old, ok := c.cg.statics[s.Key()]; ok {
		if old == s {
			return
		}
		c.staticElems(b, actDelElems, old)
	}
	c.staticElems(b, actAddElems, s)
	c.cg.statics[s.Key()] = s
	c.cgReshape(b)
}

func (c *cache) deleteStatic(b *batch, k model.StaticNATKey) {
	old, ok := c.cg.statics[k]
	if !ok || !c.exists {
		return
	}
	c.staticElems(b, actDelElems, old)
	delete(c.cg.statics, k)
	c.cgReshape(b)
}

func (c *cache) staticList() []model.StaticNAT {
	return sortedValues(c.cg.statics, func(a, b model.StaticNAT) int {
		return cmp.Or(cmp.Compare(a.InsideVRF, b.InsideVRF), a.Inside.Addr().Compare(b.Inside.Addr()),
			cmp.Compare(a.Inside.Bits(), b.Inside.Bits()), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.InsidePort, b.InsidePort))
	})
}

// sortedValues lists a map's values in the order of compare (the List*
// answers are stable whatever the map's order).
func sortedValues[K comparable, V any](m map[K]V, compare func(a, b V) int) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, compare)
	return out
}

// Pools.

func (c *cache) checkPool(p model.Pool) error {
	switch {
	case !p.StaticBlocksOnly && len(poolAddrs(p)) > maxDetAddrs:
		return unsupported("pool %s: a dynamic pool has at most %d addresses on the kernel dataplane", p.Name, maxDetAddrs)
	case p.Interface != "":
		return unsupported("pool %s: interface pools are not supported by the kernel dataplane", p.Name)
	case p.Filtering != model.FilterAddressPort:
		return unsupported("pool %s: %s filtering is not supported (conntrack filters address-and-port dependent)", p.Name, p.Filtering)
	case p.MaxSessionsPerSubscriber != 0:
		return unsupported("pool %s: a per-subscriber session cap is not supported by the kernel dataplane", p.Name)
	case p.OutsideVRF > maxZone:
		return unsupported("pool %s: VRF above %d (conntrack zones are 16 bits)", p.Name, maxZone)
	case len(poolElems(1<<24-1, p)) > maxPoolParts:
		return unsupported("pool %s: too many address ranges for the kernel dataplane's record (%d bytes of %d)",
			p.Name, len(poolComment(1<<24-1, p)), maxPoolParts*poolPart)
	}
	for _, r := range p.Ranges {
		for _, s := range c.cg.statics {
			if s.OutsideVRF == p.OutsideVRF && rangesOverlap([]model.AddrRange{r}, s.Outside) {
				return fmt.Errorf("kernel: pool %s: %w (static nat %s)", p.Name, dataplane.ErrAddressInUse, s)
			}
		}
	}
	if old := c.cg.pools[p.Name]; old != nil && old.p.StaticBlocksOnly != p.StaticBlocksOnly && c.bound(p.Name) {
		return unsupported("pool %s: a bound pool cannot switch between static and dynamic blocks on the kernel dataplane", p.Name)
	}
	if old := c.cg.pools[p.Name]; old != nil && old.p.OutsideVRF != p.OutsideVRF && len(c.blocksOf(p.Name)) > 0 {
		return unsupported("pool %s: the outside table of a pool with static blocks cannot change on the kernel dataplane", p.Name)
	}
	for _, bd := range c.cg.bindings {
		if bd.Pool == p.Name && bd.VRF != p.OutsideVRF && p.OutsideVRF != 0 {
			return unsupported("pool %s: binding %s is in another table and the outside table is not 0", p.Name, bd.Key())
		}
	}
	return nil
}

func blockFits(p model.Pool, b model.StaticBlock) error {
	p = p.WithDefaults()
	if b.PortStart < p.PortMin || uint32(b.PortStart)+uint32(p.BlockSize)-1 > uint32(p.PortMax) {
		return fmt.Errorf("ports %d-%d outside the pool's %d-%d", b.PortStart, uint32(b.PortStart)+uint32(p.BlockSize)-1, p.PortMin, p.PortMax)
	}
	if (b.PortStart-p.PortMin)%p.BlockSize != 0 {
		return fmt.Errorf("port %d is not the start of a block (size %d from %d)", b.PortStart, p.BlockSize, p.PortMin)
	}
	for _, r := range p.Ranges {
		if r.First.Compare(b.OutsideAddr) <= 0 && b.OutsideAddr.Compare(r.Last) <= 0 {
			return nil
		}
	}
	return fmt.Errorf("address %s is not in the pool", b.OutsideAddr)
}

func (c *cache) allocPoolID() uint32 {
	for id := uint32(1); ; id++ {
		if _, used := c.cg.poolIDs[id]; !used {
			return id
		}
	}
}

// putPool adds or replaces a pool. Blocks of the pool that no longer fit
// it are released (the reconciler puts the new ones; a dynamic pool's
// bound addresses get new ones at once, as far as blocks are free).
func (c *cache) putPool(b *batch, p model.Pool) []model.BlockLogRecord {
	c.ensureTable(b)
	c.ensureCGSet(b, setCGPool)
	old := c.cg.pools[p.Name]
	id := uint32(0)
	if old != nil {
		if poolComment(old.id, old.p) == poolComment(old.id, p) {
			return nil
		}
		id = old.id
		b.delElems(named(setCGPool), poolKeys(old.id, old.p)...)
	} else {
		id = c.allocPoolID()
	}
	b.addElems(named(setCGPool), poolElems(id, p)...)
	c.cg.pools[p.Name] = &cgPool{id: id, p: p}
	c.cg.poolIDs[id] = p.Name
	if old == nil {
		return nil
	}
	var recs []model.BlockLogRecord
	for _, blk := range c.blocksOf(p.Name) {
		switch {
		case blockFits(p, blk) != nil:
			c.cg.pools[p.Name].p = old.p // the elements to delete are the old ones
			c.deleteBlock(b, blk)
			c.cg.pools[p.Name].p = p
			recs = append(recs, *blockRecord(blk, old.p, false))
		case old.p.WithDefaults().BlockSize != p.WithDefaults().BlockSize:
			// A new block size changes the block's data and re-zoning key.
			c.blockElems(b, actDelElems, blk, old.p)
			c.blockElems(b, actAddElems, blk, p)
		}
	}
	if !p.StaticBlocksOnly {
		for _, bd := range c.bindingList() {
			if bd.Pool == p.Name {
				if blks, err := c.detPlan(bd); err == nil {
					recs = append(recs, c.putDetBlocks(b, blks)...)
				}
			}
		}
	}
	c.cgReshape(b)
	return recs
}

func (c *cache) bound(pool string) bool {
	for _, bd := range c.cg.bindings {
		if bd.Pool == pool {
			return true
		}
	}
	return false
}

func (c *cache) blocksOf(pool string) []model.StaticBlock {
	var out []model.StaticBlock
	for _, blk := range c.cg.blocks {
		if blk.Pool == pool {
			out = append(out, blk)
		}
	}
	return out
}

// deletePool refuses while bindings or blocks use the pool.
func (c *cache) deletePool(b *batch, name string) error {
	old := c.cg.pools[name]
	if old == nil || !c.exists {
		return nil
	}
	nb := 0
	for _, bd := range c.cg.bindings {
		if bd.Pool == name {
			nb++
		}
	}
	if n := len(c.blocksOf(name)); nb > 0 || n > 0 {
		return fmt.Errorf("kernel: pool %s still has %d bindings and %d static blocks: delete them first", name, nb, n)
	}
	b.delElems(named(setCGPool), poolKeys(old.id, old.p)...)
	delete(c.cg.pools, name)
	delete(c.cg.poolIDs, old.id)
	return nil
}

func (c *cache) poolList() []model.PoolStatus {
	out := make([]model.PoolStatus, 0, len(c.cg.pools))
	subs := map[string]uint32{}
	for _, blk := range c.cg.blocks {
		subs[blk.Pool]++
	}
	for _, p := range c.cg.pools {
		ps := model.PoolStatus{Pool: p.p}
		ps.Counters.Subscribers, ps.Counters.BlocksUsed = subs[p.p.Name], subs[p.p.Name]
		ps.Counters.Blocks = poolBlocks(p.p)
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b model.PoolStatus) int { return cmp.Compare(a.Pool.Name, b.Pool.Name) })
	return out
}

// poolBlocks is the number of blocks of p (addresses x blocks per address).
func poolBlocks(p model.Pool) uint32 {
	p = p.WithDefaults()
	per := (uint64(p.PortMax) - uint64(p.PortMin) + 1) / uint64(max(p.BlockSize, 1))
	n := uint64(0)
	for _, r := range p.Ranges {
		n += addrCount(r) * per
	}
	return uint32(min(n, 1<<32-1))
}

func addrCount(r model.AddrRange) uint64 {
	a, b := r.First.As16(), r.Last.As16()
	var x, y uint64
	for i := 8; i < 16; i++ {
		x, y = x<<8|uint64(a[i]), y<<8|uint64(b[i])
	}
	if y < x {
		return 0
	}
	return y - x + 1
}

// Bindings.

func bindCross(bd model.PoolBinding, p model.Pool) bool { return bd.VRF != p.OutsideVRF }

func (c *cache) checkBinding(bd model.PoolBinding) error {
	p := c.cg.pools[bd.Pool]
	if p == nil {
		return fmt.Errorf("kernel: binding %s: pool %s does not exist", bd.Key(), bd.Pool)
	}
	if bd.VRF > maxZone {
		return unsupported("binding %s: VRF above %d (conntrack zones are 16 bits)", bd.Key(), maxZone)
	}
	if bindCross(bd, p.p) && p.p.OutsideVRF != 0 {
		return unsupported("binding %s: between two tables the pool's outside table must be 0 on the kernel dataplane", bd.Key())
	}
	if k, ok := c.bindingOverlap(bd); ok {
		return fmt.Errorf("kernel: binding %s: overlaps binding %s", bd.Key(), k)
	}
	for _, s := range c.cg.statics {
		if s.InsideVRF == bd.VRF && s.Inside.Overlaps(bd.Prefix) {
			return fmt.Errorf("kernel: binding %s: %w (static nat %s)", bd.Key(), dataplane.ErrAddressInUse, s)
		}
	}
	return nil
}

// bindingOverlap finds a binding of bd's VRF, other than bd's key, that
// overlaps it: shorter or equal ones by lookup (one per length in use),
// longer ones by a scan (only when some exist).
func (c *cache) bindingOverlap(bd model.PoolBinding) (model.PoolBindingKey, bool) {
	f := familyOf(bd.Prefix.Addr())
	longer := false
	for _, bits := range keysOf(c.cg.lens.bd[fi(f)]) {
		if bits > bd.Prefix.Bits() {
			longer = true
			continue
		}
		k := model.PoolBindingKey{VRF: bd.VRF, Prefix: netip.PrefixFrom(bd.Prefix.Addr(), bits).Masked()}
		if _, ok := c.cg.bindings[k]; ok && k != bd.Key() {
			return k, true
		}
	}
	if longer {
		for k, x := range c.cg.bindings {
			if k != bd.Key() && x.VRF == bd.VRF && x.Prefix.Overlaps(bd.Prefix) {
				return k, true
			}
		}
	}
	return model.PoolBindingKey{}, false
}

func (c *cache) bindElem(bd model.PoolBinding) nftables.SetElement {
	p := c.cg.pools[bd.Pool]
	return nftables.SetElement{Key: cgKey(bd.VRF, bd.Prefix.Masked().Addr(), p != nil && bindCross(bd, p.p)),
		Comment: "cn:b " + bd.Pool}
}

func (c *cache) bindingElems(b *batch, op actOp, bd model.PoolBinding) {
	f, bits := familyOf(bd.Prefix.Addr()), bd.Prefix.Bits()
	name := setBind(f, bits)
	el := c.bindElem(bd)
	if op == actAddElems {
		c.ensureCGSet(b, name)
		count(c.cg.lens.bd[fi(f)], bits, 1)
	} else {
		el.Comment = ""
		count(c.cg.lens.bd[fi(f)], bits, -1)
	}
	b.elems(op, named(name), el)
}

func (c *cache) putBinding(b *batch, bd model.PoolBinding) {
	c.ensureTable(b)
	if old, ok := c.cg.bindings[bd.Key()]; ok {
		if old == bd {
			return
		}
		c.bindingElems(b, actDelElems, old)
	}
	c.bindingElems(b, actAddElems, bd)
	c.cg.bindings[bd.Key()] = bd
	c.ensureCGSet(b, setBlk(familyOf(bd.Prefix.Addr())))
	c.cgReshape(b)
}

func (c *cache) deleteBinding(b *batch, k model.PoolBindingKey) {
	old, ok := c.cg.bindings[k]
	if !ok || !c.exists {
		return
	}
	c.bindingElems(b, actDelElems, old)
	delete(c.cg.bindings, k)
	c.cgReshape(b)
}

func (c *cache) bindingList() []model.PoolBinding {
	return sortedValues(c.cg.bindings, func(a, b model.PoolBinding) int {
		return cmp.Or(cmp.Compare(a.VRF, b.VRF), a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
}

// Static blocks.

// blockCross: a block is cross-table when its subscriber's VRF is not the
// pool's outside VRF.
func blockCross(blk model.StaticBlock, p model.Pool) bool { return blk.VRF != p.OutsideVRF }

func (c *cache) checkBlock(blk model.StaticBlock) error {
	p := c.cg.pools[blk.Pool]
	if p == nil {
		return fmt.Errorf("kernel: static block %s: pool %s does not exist", blk, blk.Pool)
	}
	if blk.VRF > maxZone {
		return unsupported("static block %s: VRF above %d (conntrack zones are 16 bits)", blk, maxZone)
	}
	if familyOf(blk.InsideAddr) != familyOf(blk.OutsideAddr) {
		return unsupported("static block %s: inside and outside addresses of different families", blk)
	}
	if blockCross(blk, p.p) && p.p.OutsideVRF != 0 {
		return unsupported("static block %s: between two tables the pool's outside table must be 0 on the kernel dataplane", blk)
	}
	if err := blockFits(p.p, blk); err != nil {
		return fmt.Errorf("kernel: static block %s: %w", blk, err)
	}
	sk := subKey{blk.VRF, blk.InsideAddr}
	if old, ok := c.cg.blocks[sk]; ok && old != blk && !c.cg.det[sk] {
		return unsupported("static block %s: the subscriber already has block %s; the kernel dataplane holds one block per subscriber", blk, old)
	}
	if x, ok := c.cg.used[usedKey{p.p.OutsideVRF, blk.OutsideAddr, blk.PortStart}]; ok && x != sk {
		return fmt.Errorf("kernel: static block %s: %w (held by vrf %d %s)", blk, dataplane.ErrAddressInUse, x.vrf, x.addr)
	}
	return nil
}

func (c *cache) blockElems(b *batch, op actOp, blk model.StaticBlock, p model.Pool) {
	f := familyOf(blk.InsideAddr)
	size := p.WithDefaults().BlockSize
	el := nftables.SetElement{Key: append(zoneField(blk.VRF), blk.InsideAddr.AsSlice()...)}
	delta := -1
	if op == actAddElems {
		el.Val, el.Comment, delta = blockData(blk, size), "cn:k "+blk.Pool, 1
		if c.cg.det[subKey{blk.VRF, blk.InsideAddr}] {
			el.Comment = "cn:d " + blk.Pool
		}
		c.ensureCGSet(b, setBlk(f))
	}
	b.elems(op, named(setBlk(f)), el)
	if uk := (usedKey{p.OutsideVRF, blk.OutsideAddr, blk.PortStart}); delta > 0 {
		c.cg.used[uk] = subKey{blk.VRF, blk.InsideAddr}
	} else {
		delete(c.cg.used, uk)
	}
	if blockCross(blk, p) {
		lg := blockLog2(size)
		rb := nftables.SetElement{Key: rbKey(blk.OutsideAddr, blk.PortStart)}
		if op == actAddElems {
			rb.Val = zoneField(blk.VRF)
			c.ensureCGSet(b, setRB(f, lg))
		}
		b.elems(op, named(setRB(f, lg)), rb)
		count(c.cg.lens.rb[fi(f)], lg, delta)
		c.route(f, blk.VRF, delta)
	}
}

func (c *cache) putBlock(b *batch, blk model.StaticBlock) {
	c.ensureTable(b)
	sk := subKey{blk.VRF, blk.InsideAddr}
	if old, ok := c.cg.blocks[sk]; ok {
		if old == blk {
			return
		}
		c.blockElems(b, actDelElems, old, c.cg.pools[old.Pool].p)
	}
	c.blockElems(b, actAddElems, blk, c.cg.pools[blk.Pool].p)
	c.cg.blocks[sk] = blk
	c.cgReshape(b)
}

// deleteBlock removes blk; ok says it was there.
func (c *cache) deleteBlock(b *batch, blk model.StaticBlock) bool {
	sk := subKey{blk.VRF, blk.InsideAddr}
	old, ok := c.cg.blocks[sk]
	if !ok || old != blk || !c.exists {
		return false
	}
	p := model.Pool{Name: old.Pool}
	if cp := c.cg.pools[old.Pool]; cp != nil {
		p = cp.p
	}
	c.blockElems(b, actDelElems, old, p)
	delete(c.cg.blocks, sk)
	delete(c.cg.det, sk)
	c.cgReshape(b)
	return true
}

func (c *cache) blockList() []model.StaticBlock {
	out := make([]model.StaticBlock, 0, len(c.cg.blocks))
	for sk, blk := range c.cg.blocks {
		if !c.cg.det[sk] {
			out = append(out, blk)
		}
	}
	slices.SortFunc(out, func(a, b model.StaticBlock) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.VRF, b.VRF), a.InsideAddr.Compare(b.InsideAddr))
	})
	return out
}

// writeCG puts every cg object of old into c (a rewrite), pools first.
func (c *cache) writeCG(old *cgState, b func() *batch) {
	names := make([]string, 0, len(old.pools))
	for n := range old.pools {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		c.putPool(b(), old.pools[n].p)
	}
	for sk, blk := range old.blocks {
		if old.det[sk] {
			c.cg.det[sk] = true
		}
		c.putBlock(b(), blk)
	}
	for _, bd := range old.bindings {
		c.putBinding(b(), bd)
	}
	for _, s := range old.statics {
		c.putStatic(b(), s)
	}
	c.ensureCGSet(b(), setVIF)
	c.refillVIF(b())
}

// vifElems are the interfaces of a non-default VRF.
func (c *cache) vifNames() []string {
	var out []string
	for n := range c.host.vrfOf {
		if c.ifaceVRF(n) != 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (c *cache) refillVIF(b *batch) {
	b.add(action{op: actFlushSet, set: named(setVIF)})
	for _, n := range c.vifNames() {
		b.addElems(named(setVIF), nftables.SetElement{Key: ifname(n)})
	}
}
