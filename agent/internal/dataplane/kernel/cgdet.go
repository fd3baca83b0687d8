package kernel

import (
	"net/netip"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Dynamic pools on the kernel dataplane. nf_tables cannot allocate a block
// at a subscriber's first packet, so the dataplane allocates one when the
// subscriber's prefix is bound: every address of a binding to a dynamic
// pool gets one block of the pool at once, deterministically (the first
// free block in pool order: block i is address i mod A, ports from
// PortMin + (i div A) x BlockSize, so subscribers spread over the
// addresses), programmed like a static block (cn_blk, comment "cn:d") and
// logged as allocated once. Blocks stay while the binding does (no reuse
// delay is needed: a block is never handed to another subscriber while its
// owner is bound) and are released with it. They are persisted in the
// table, so a restarted agent finds the same blocks. Limits: a binding to
// a dynamic pool covers at most maxDetAddrs addresses and needs a free
// block for each, else it is refused; a pool has at most maxDetAddrs
// addresses.

// maxDetAddrs bounds a dynamic binding's addresses and a dynamic pool's.
const maxDetAddrs = 65536

// poolAddrs lists p's addresses (at most maxDetAddrs+1).
func poolAddrs(p model.Pool) []netip.Addr {
	var out []netip.Addr
	for _, r := range p.Ranges {
		for a := r.First; a.IsValid() && a.Compare(r.Last) <= 0; a = a.Next() {
			if out = append(out, a); len(out) > maxDetAddrs {
				return out
			}
		}
	}
	return out
}

// prefixSize is the number of addresses of p, capped at maxDetAddrs+1.
func prefixSize(p netip.Prefix) int {
	host := p.Addr().BitLen() - p.Bits()
	if host >= 17 {
		return maxDetAddrs + 1
	}
	return 1 << host
}

// detPlan lists the blocks a binding to a dynamic pool needs: one for each
// address of the prefix that holds none. It changes nothing.
func (c *cache) detPlan(bd model.PoolBinding) ([]model.StaticBlock, error) {
	cp := c.cg.pools[bd.Pool]
	if cp == nil || cp.p.StaticBlocksOnly {
		return nil, nil
	}
	if n := prefixSize(bd.Prefix); n > maxDetAddrs {
		return nil, unsupported("binding %s: more than %d addresses for dynamic pool %s (the kernel dataplane allocates a block per address when binding)",
			bd.Key(), maxDetAddrs, bd.Pool)
	}
	var subs []netip.Addr
	for a := bd.Prefix.Masked().Addr(); a.IsValid() && bd.Prefix.Contains(a); a = a.Next() {
		if _, ok := c.cg.blocks[subKey{bd.VRF, a}]; !ok {
			subs = append(subs, a)
		}
	}
	p := cp.p.WithDefaults()
	addrs := poolAddrs(p)
	per := (int(p.PortMax) - int(p.PortMin) + 1) / int(max(p.BlockSize, 1))
	var out []model.StaticBlock
	for i := 0; len(out) < len(subs) && i < len(addrs)*per; i++ {
		a, start := addrs[i%len(addrs)], p.PortMin+uint16(i/len(addrs))*p.BlockSize
		if _, held := c.cg.used[usedKey{p.OutsideVRF, a, start}]; held {
			continue
		}
		out = append(out, model.StaticBlock{Pool: bd.Pool, VRF: bd.VRF, InsideAddr: subs[len(out)], OutsideAddr: a, PortStart: start})
	}
	if len(out) < len(subs) {
		return nil, unsupported("binding %s: dynamic pool %s has %d free blocks, the binding needs %d (one per address)",
			bd.Key(), bd.Pool, len(out), len(subs))
	}
	return out, nil
}

// putDetBlocks programs planned blocks as dynamic ones.
func (c *cache) putDetBlocks(b *batch, blks []model.StaticBlock) []model.BlockLogRecord {
	var recs []model.BlockLogRecord
	for _, blk := range blks {
		c.cg.det[subKey{blk.VRF, blk.InsideAddr}] = true
		c.putBlock(b, blk)
		recs = append(recs, *blockRecord(blk, c.cg.pools[blk.Pool].p, true))
	}
	return recs
}

// releaseDet removes the dynamic blocks of the addresses of bd.
func (c *cache) releaseDet(b *batch, bd model.PoolBinding) []model.BlockLogRecord {
	var recs []model.BlockLogRecord
	for sk, blk := range c.cg.blocks {
		if !c.cg.det[sk] || sk.vrf != bd.VRF || !bd.Prefix.Contains(sk.addr) {
			continue
		}
		p := model.Pool{Name: blk.Pool}
		if cp := c.cg.pools[blk.Pool]; cp != nil {
			p = cp.p
		}
		if c.deleteBlock(b, blk) {
			recs = append(recs, *blockRecord(blk, p, false))
		}
	}
	return recs
}

// coveringBinding is the binding of (vrf, a), if any.
func (c *cache) coveringBinding(vrf uint32, a netip.Addr) (model.PoolBinding, bool) {
	for _, bits := range keysOf(c.cg.lens.bd[fi(familyOf(a))]) {
		if bits > a.BitLen() {
			continue
		}
		k := model.PoolBindingKey{VRF: vrf, Prefix: netip.PrefixFrom(a, bits).Masked()}
		if bd, ok := c.cg.bindings[k]; ok {
			return bd, true
		}
	}
	return model.PoolBinding{}, false
}

// bindWithDet puts a binding and the dynamic blocks it needs; refused
// (nothing changed) when they cannot be allocated.
func (c *cache) bindWithDet(b *batch, bd model.PoolBinding) ([]model.BlockLogRecord, error) {
	var recs []model.BlockLogRecord
	if old, ok := c.cg.bindings[bd.Key()]; ok && old.Pool != bd.Pool {
		// Another pool: plan as if the old blocks were gone (conservative:
		// they are released only once the new ones are planned).
		blks, err := c.detPlanWithout(bd, old)
		if err != nil {
			return nil, err
		}
		recs = append(recs, c.releaseDet(b, old)...)
		c.putBinding(b, bd)
		return append(recs, c.putDetBlocks(b, blks)...), nil
	}
	blks, err := c.detPlan(bd)
	if err != nil {
		return nil, err
	}
	c.putBinding(b, bd)
	return c.putDetBlocks(b, blks), nil
}

// detPlanWithout plans bd's blocks as if old's dynamic blocks were
// released.
func (c *cache) detPlanWithout(bd, old model.PoolBinding) ([]model.StaticBlock, error) {
	saved := map[subKey]model.StaticBlock{}
	savedUsed := map[usedKey]subKey{}
	for sk, blk := range c.cg.blocks {
		if c.cg.det[sk] && sk.vrf == old.VRF && old.Prefix.Contains(sk.addr) {
			saved[sk] = blk
			delete(c.cg.blocks, sk)
			if cp := c.cg.pools[blk.Pool]; cp != nil {
				uk := usedKey{cp.p.OutsideVRF, blk.OutsideAddr, blk.PortStart}
				savedUsed[uk] = c.cg.used[uk]
				delete(c.cg.used, uk)
			}
		}
	}
	blks, err := c.detPlan(bd)
	for sk, blk := range saved {
		c.cg.blocks[sk] = blk
	}
	for uk, sk := range savedUsed {
		c.cg.used[uk] = sk
	}
	return blks, err
}

// unbindWithDet deletes a binding and releases its dynamic blocks.
func (c *cache) unbindWithDet(b *batch, k model.PoolBindingKey) []model.BlockLogRecord {
	old, ok := c.cg.bindings[k]
	if !ok || !c.exists {
		return nil
	}
	recs := c.releaseDet(b, old)
	c.deleteBinding(b, k)
	return recs
}

// putStaticBlockDet puts a static block (replacing the subscriber's
// dynamic block, if any).
func (c *cache) putStaticBlockDet(b *batch, blk model.StaticBlock) []model.BlockLogRecord {
	var recs []model.BlockLogRecord
	sk := subKey{blk.VRF, blk.InsideAddr}
	if old, ok := c.cg.blocks[sk]; ok && c.cg.det[sk] {
		p := c.cg.pools[old.Pool].p
		c.deleteBlock(b, old)
		recs = append(recs, *blockRecord(old, p, false))
	}
	c.putBlock(b, blk)
	return append(recs, *blockRecord(blk, c.cg.pools[blk.Pool].p, true))
}

// deleteStaticBlockDet deletes a static block; a subscriber still bound to
// a dynamic pool gets a dynamic block again (if one is free).
func (c *cache) deleteStaticBlockDet(b *batch, blk model.StaticBlock) []model.BlockLogRecord {
	sk := subKey{blk.VRF, blk.InsideAddr}
	if c.cg.det[sk] {
		return nil // not a static block
	}
	p := model.Pool{Name: blk.Pool}
	if cp := c.cg.pools[blk.Pool]; cp != nil {
		p = cp.p
	}
	if !c.deleteBlock(b, blk) {
		return nil
	}
	recs := []model.BlockLogRecord{*blockRecord(blk, p, false)}
	if bd, ok := c.coveringBinding(blk.VRF, blk.InsideAddr); ok {
		one := bd
		one.Prefix = netip.PrefixFrom(blk.InsideAddr, blk.InsideAddr.BitLen())
		if blks, err := c.detPlan(one); err == nil {
			recs = append(recs, c.putDetBlocks(b, blks)...)
		}
	}
	return recs
}
