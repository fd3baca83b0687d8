package kernel

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Static 1:1 NAT, static-only pools, bindings and static blocks (layout in
// cglayout.go, planning in cgplan.go, records decoded in cgload.go). Pools
// whose blocks would be allocated at a subscriber's first packet are
// refused: nf_tables cannot allocate (docs/kernel-dataplane.md).

var (
	_ dataplane.StaticNATs  = (*Dataplane)(nil)
	_ dataplane.PoolChecker = (*Dataplane)(nil)
)

// CheckPool implements dataplane.PoolChecker: what the kernel cannot
// express is refused before the pool is stored.
func (d *Dataplane) CheckPool(_ context.Context, p model.Pool) error {
	return checkPoolShape(p)
}

// cgChange is change followed by the policy routing rules the objects
// need (cross-table ones).
func (d *Dataplane) cgChange(ctx context.Context, edit func(c *cache, b *batch) error) error {
	if err := d.change(ctx, edit); err != nil {
		return err
	}
	return d.syncRoutes(ctx)
}

// ListPools implements dataplane.Pools.
func (d *Dataplane) ListPools(ctx context.Context) (out []model.PoolStatus, err error) {
	err = d.read(ctx, func(c *cache) { out = c.poolList() })
	if err != nil {
		return nil, err
	}
	nftMu.Lock()
	ex := map[model.Family]uint64{}
	for _, f := range families4and6 {
		n, err1 := counters(d.nft, d.table, chainCGBlock(f), commentExhausted)
		m, err2 := counters(d.nft, d.table, chainCGFwd, fmt.Sprintf("%s%d", commentExhausted, f))
		if err1 == nil && err2 == nil {
			ex[f] = n + m
		}
	}
	nftMu.Unlock()
	// The drop counters are per family, not per pool: a pool of one
	// family (a gateway's) gets its family's count.
	for i := range out {
		if len(out[i].Pool.Ranges) > 0 {
			out[i].Counters.Exhausted = ex[familyOf(out[i].Pool.Ranges[0].First)]
		}
	}
	return out, nil
}

// PutPool implements dataplane.Pools: static-blocks-only pools only.
func (d *Dataplane) PutPool(ctx context.Context, p model.Pool) error {
	if err := checkPoolShape(p); err != nil {
		return err
	}
	var recs []model.BlockLogRecord
	err := d.cgChange(ctx, func(c *cache, b *batch) error {
		if err := c.checkPool(p); err != nil {
			return err
		}
		recs = c.putPool(b, p)
		return nil
	})
	d.emitAll(err, recs)
	return err
}

// checkPoolShape refuses, without the table, what no table can hold.
func checkPoolShape(p model.Pool) error {
	return newCache().checkPool(p)
}

// DeletePool implements dataplane.Pools; a pool still bound or holding
// static blocks is refused (the reconciler deletes those first).
func (d *Dataplane) DeletePool(ctx context.Context, name string) error {
	return d.cgChange(ctx, func(c *cache, b *batch) error { return c.deletePool(b, name) })
}

// ListPoolBindings implements dataplane.Pools.
func (d *Dataplane) ListPoolBindings(ctx context.Context) (out []model.PoolBinding, err error) {
	err = d.read(ctx, func(c *cache) { out = c.bindingList() })
	return out, err
}

func normBinding(bd model.PoolBinding) model.PoolBinding {
	bd.Prefix = netip.PrefixFrom(bd.Prefix.Addr().Unmap(), bd.Prefix.Bits()-unmap96(bd.Prefix)).Masked()
	return bd
}

func unmap96(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return 96
	}
	return 0
}

// PutPoolBinding implements dataplane.Pools.
func (d *Dataplane) PutPoolBinding(ctx context.Context, bd model.PoolBinding) error {
	bd = normBinding(bd)
	var recs []model.BlockLogRecord
	err := d.cgChange(ctx, func(c *cache, b *batch) error {
		if err := c.checkBinding(bd); err != nil {
			return err
		}
		var err error
		recs, err = c.bindWithDet(b, bd)
		return err
	})
	d.emitAll(err, recs)
	return err
}

func (d *Dataplane) emitAll(err error, recs []model.BlockLogRecord) {
	if err != nil {
		return
	}
	for _, r := range recs {
		d.emit(r)
	}
}

// DeletePoolBinding implements dataplane.Pools.
func (d *Dataplane) DeletePoolBinding(ctx context.Context, bd model.PoolBinding) error {
	bd = normBinding(bd)
	var recs []model.BlockLogRecord
	err := d.cgChange(ctx, func(c *cache, b *batch) error {
		recs = c.unbindWithDet(b, bd.Key())
		return nil
	})
	d.emitAll(err, recs)
	return err
}

// ListStaticBlocks implements dataplane.Pools.
func (d *Dataplane) ListStaticBlocks(ctx context.Context) (out []model.StaticBlock, err error) {
	err = d.read(ctx, func(c *cache) { out = c.blockList() })
	return out, err
}

func normBlock(b model.StaticBlock) model.StaticBlock {
	b.InsideAddr, b.OutsideAddr = b.InsideAddr.Unmap(), b.OutsideAddr.Unmap()
	return b
}

// PutStaticBlock implements dataplane.Pools: the subscriber's block is
// programmed at once and logged as allocated.
func (d *Dataplane) PutStaticBlock(ctx context.Context, blk model.StaticBlock) error {
	blk = normBlock(blk)
	var recs []model.BlockLogRecord
	err := d.cgChange(ctx, func(c *cache, b *batch) error {
		var err error
		recs, err = c.poolChange(b, dataplane.PoolChange{Block: &blk})
		return err
	})
	d.emitAll(err, recs)
	return err
}

// DeleteStaticBlock implements dataplane.Pools (logged as released).
func (d *Dataplane) DeleteStaticBlock(ctx context.Context, blk model.StaticBlock) error {
	blk = normBlock(blk)
	var recs []model.BlockLogRecord
	err := d.cgChange(ctx, func(c *cache, b *batch) error {
		recs = c.deleteStaticBlockDet(b, blk)
		return nil
	})
	d.emitAll(err, recs)
	return err
}

func blockRecord(blk model.StaticBlock, p model.Pool, alloc bool) *model.BlockLogRecord {
	size := p.WithDefaults().BlockSize
	return &model.BlockLogRecord{Time: time.Now(), Alloc: alloc, Pool: blk.Pool, VRF: blk.VRF, InsideAddr: blk.InsideAddr,
		OutsideAddr: blk.OutsideAddr, PortStart: blk.PortStart, PortEnd: blk.PortStart + size - 1}
}

func (d *Dataplane) emit(r model.BlockLogRecord) {
	d.logMu.Lock()
	fn := d.logFn
	d.logMu.Unlock()
	if fn != nil {
		fn(r)
	}
}

// ListSubscribers implements dataplane.Pools: the subscribers holding a
// static block, with their conntrack entries counted.
func (d *Dataplane) ListSubscribers(ctx context.Context, f model.SubscriberFilter) ([]model.Subscriber, error) {
	var blocks []model.StaticBlock
	sizes := map[string]uint16{}
	det := map[subKey]bool{}
	err := d.read(ctx, func(c *cache) {
		for _, blk := range c.cg.blocks {
			if (f.Pool == "" || f.Pool == blk.Pool) && (f.VRF == model.AllVRFs || f.VRF == blk.VRF) {
				blocks = append(blocks, blk)
				sizes[blk.Pool] = c.cg.pools[blk.Pool].p.WithDefaults().BlockSize
			}
		}
		maps.Copy(det, c.cg.det)
	})
	slices.SortFunc(blocks, func(a, b model.StaticBlock) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.VRF, b.VRF), a.InsideAddr.Compare(b.InsideAddr))
	})
	if err != nil || len(blocks) == 0 {
		return nil, err
	}
	sessions, err := d.blockSessions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]model.Subscriber, 0, len(blocks))
	for _, blk := range blocks {
		n := sessions[subKey{blk.VRF, blk.InsideAddr}]
		out = append(out, model.Subscriber{Pool: blk.Pool, VRF: blk.VRF, InsideAddr: blk.InsideAddr,
			OutsideAddr: blk.OutsideAddr, Sessions: n, PortsInUse: n,
			Blocks: []model.PortBlock{{Start: blk.PortStart, End: blk.PortStart + sizes[blk.Pool] - 1,
				Static: !det[subKey{blk.VRF, blk.InsideAddr}]}}})
	}
	return out, nil
}

// blockSessions counts the conntrack entries of block flows per subscriber.
func (d *Dataplane) blockSessions(ctx context.Context) (map[subKey]uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx); err != nil {
		return nil, err
	}
	d.deadline(ctx)
	out := map[subKey]uint32{}
	for _, fam := range families {
		flows, err := d.nl.ConntrackTableList(netlink.ConntrackTable, fam)
		if err != nil {
			return nil, fmt.Errorf("kernel dataplane: list conntrack: %w", err)
		}
		for _, fl := range flows {
			if fl.Mark == markCGBlock {
				out[subKey{uint32(fl.Zone), ipAddr(fl.Forward.SrcIP)}]++
			}
		}
	}
	return out, nil
}

// WatchBlockLog implements dataplane.Pools: static blocks are logged when
// programmed and removed (there are no dynamic blocks).
func (d *Dataplane) WatchBlockLog(ctx context.Context, fn func(model.BlockLogRecord)) error {
	d.logMu.Lock()
	d.logFn = fn
	d.logMu.Unlock()
	defer func() {
		d.logMu.Lock()
		d.logFn = nil
		d.logMu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stop:
		return fmt.Errorf("kernel dataplane closed: %w", dataplane.ErrNotConnected)
	}
}

// ListStaticNATs implements dataplane.StaticNATs.
func (d *Dataplane) ListStaticNATs(ctx context.Context) (out []model.StaticNAT, err error) {
	err = d.read(ctx, func(c *cache) { out = c.staticList() })
	return out, err
}

// PutStaticNAT implements dataplane.StaticNATs.
func (d *Dataplane) PutStaticNAT(ctx context.Context, s model.StaticNAT) error {
	s = s.Normalize()
	if s.Inside.Addr().BitLen() != s.Outside.Addr().BitLen() || s.Inside.Bits() != s.Outside.Bits() {
		return fmt.Errorf("kernel: static nat %s: prefixes of different families or lengths", s)
	}
	if err := newCache().checkStatic(s); err != nil {
		return err
	}
	return d.cgChange(ctx, func(c *cache, b *batch) error {
		if err := c.checkStatic(s); err != nil {
			return err
		}
		c.putStatic(b, s)
		return nil
	})
}

// DeleteStaticNAT implements dataplane.StaticNATs.
func (d *Dataplane) DeleteStaticNAT(ctx context.Context, k model.StaticNATKey) error {
	k.Inside = netip.PrefixFrom(k.Inside.Addr().Unmap(), k.Inside.Bits()-unmap96(k.Inside)).Masked()
	return d.cgChange(ctx, func(c *cache, b *batch) error {
		c.deleteStatic(b, k)
		return nil
	})
}

var _ dataplane.BulkPools = (*Dataplane)(nil)

// ApplyPoolChanges implements dataplane.BulkPools: the changes are checked
// and planned in order against the cache and sent in transactions of about
// maxTxnWeight elements (a change never spans two). A refused change
// changes nothing and the others go on; a failed transaction fails its
// changes and the ones after it.
func (d *Dataplane) ApplyPoolChanges(ctx context.Context, cs []dataplane.PoolChange) []error {
	errs := make([]error, len(cs))
	var recs []model.BlockLogRecord
	func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		c, err := d.state(ctx)
		if err != nil {
			for i := range errs {
				errs[i] = err
			}
			return
		}
		run := func() error {
			b := &batch{}
			var inBatch []int
			var pending []model.BlockLogRecord
			flush := func() error {
				if b.empty() {
					return nil
				}
				if err := d.send(b); err != nil {
					d.c = nil
					err = fmt.Errorf("kernel dataplane: %w", err)
					for _, i := range inBatch {
						errs[i] = err
					}
					return err
				}
				recs = append(recs, pending...)
				b, inBatch, pending = &batch{}, inBatch[:0], nil
				return nil
			}
			for i, ch := range cs {
				if err := ctx.Err(); err != nil {
					for j := i; j < len(cs); j++ {
						errs[j] = err
					}
					return flush()
				}
				rs, err := c.poolChange(b, ch)
				if err != nil {
					errs[i] = err
					continue
				}
				inBatch = append(inBatch, i)
				pending = append(pending, rs...)
				if b.weight >= maxTxnWeight {
					if err := flush(); err != nil {
						for j := i + 1; j < len(cs); j++ {
							errs[j] = err
						}
						return err
					}
				}
			}
			return flush()
		}
		if len(cs) < quietAbove {
			_ = run()
		} else {
			_ = d.quiet(run)
		}
	}()
	if err := d.syncRoutes(ctx); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	for _, r := range recs {
		d.emit(r)
	}
	return errs
}

// poolChange checks and plans one change; recs are its block log records.
func (c *cache) poolChange(b *batch, ch dataplane.PoolChange) ([]model.BlockLogRecord, error) {
	switch {
	case ch.Binding != nil && ch.Delete:
		return c.unbindWithDet(b, normBinding(*ch.Binding).Key()), nil
	case ch.Binding != nil:
		bd := normBinding(*ch.Binding)
		if err := c.checkBinding(bd); err != nil {
			return nil, err
		}
		return c.bindWithDet(b, bd)
	case ch.Block != nil && ch.Delete:
		return c.deleteStaticBlockDet(b, normBlock(*ch.Block)), nil
	case ch.Block != nil:
		blk := normBlock(*ch.Block)
		if err := c.checkBlock(blk); err != nil {
			return nil, err
		}
		if old, ok := c.cg.blocks[subKey{blk.VRF, blk.InsideAddr}]; ok && old == blk && !c.cg.det[subKey{blk.VRF, blk.InsideAddr}] {
			return nil, nil
		}
		return c.putStaticBlockDet(b, blk), nil
	}
	return nil, fmt.Errorf("kernel: empty pool change")
}
