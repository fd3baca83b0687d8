package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Carrier-grade NAT objects. A pool is keyed by its name, a binding by
// (VRF, prefix), a static block by all its fields.
//
// Order: a binding or static block needs its pool and a pool cannot be
// deleted while bound, so one plan runs pool puts, static NAT deletes,
// binding deletes (a binding moving to a narrower prefix must not overlap
// its old self), static block deletes, static block puts, binding puts,
// static NAT puts, pool deletes. Static blocks go in before bindings and
// out after them so a subscriber never gets a dynamic block in between
// (a NAT gateway member must hold exactly its static block).
const (
	KindPool        Kind = "pool"
	KindPoolBinding Kind = "pool-binding"
	KindStaticBlock Kind = "static-block"
)

func init() {
	kindOrder[KindPool] = 6
	kindOrder[KindPoolBinding] = 7
	kindOrder[KindStaticBlock] = 8
}

// PoolID and the functions below build IDs.
func PoolID(name string) ID { return ID{Kind: KindPool, Pool: name} }
func PoolBindingID(k model.PoolBindingKey) ID {
	k.Prefix = k.Prefix.Masked()
	return ID{Kind: KindPoolBinding, PoolBinding: k}
}
func StaticBlockID(b model.StaticBlock) ID {
	b.InsideAddr, b.OutsideAddr = b.InsideAddr.Unmap(), b.OutsideAddr.Unmap()
	return ID{Kind: KindStaticBlock, StaticBlock: b}
}

// PoolState is the carrier-grade NAT part of a State.
type PoolState struct {
	Pools        map[string]model.Pool
	PoolBindings map[model.PoolBindingKey]model.PoolBinding
	StaticBlocks map[model.StaticBlock]struct{}
	StaticNATs   map[model.StaticNATKey]model.StaticNAT
}

func newPoolState() PoolState {
	return PoolState{
		Pools:        map[string]model.Pool{},
		PoolBindings: map[model.PoolBindingKey]model.PoolBinding{},
		StaticBlocks: map[model.StaticBlock]struct{}{},
		StaticNATs:   map[model.StaticNATKey]model.StaticNAT{},
	}
}

func indexPools(s *State, d *model.Desired) {
	indexStaticNATs(s, d.StaticNATs)
	for _, p := range d.Pools {
		s.Pools[p.Name] = p
	}
	for _, b := range d.PoolBindings {
		s.PoolBindings[PoolBindingID(b.Key()).PoolBinding] = b
	}
	for _, b := range d.StaticBlocks {
		s.StaticBlocks[StaticBlockID(b).StaticBlock] = struct{}{}
	}
}

// NormalizePool returns p in a canonical form: defaults filled in, ranges
// sorted, addresses unmapped.
func NormalizePool(p model.Pool) model.Pool {
	p = p.WithDefaults()
	r := make([]model.AddrRange, len(p.Ranges))
	for i, x := range p.Ranges {
		r[i] = model.AddrRange{First: x.First.Unmap(), Last: x.Last.Unmap()}
	}
	slices.SortFunc(r, func(a, b model.AddrRange) int { return cmp.Or(a.First.Compare(b.First), a.Last.Compare(b.Last)) })
	p.Ranges = r
	return p
}

// EqualPools compares pools semantically (defaults, range order).
func EqualPools(a, b model.Pool) bool {
	na, nb := NormalizePool(a), NormalizePool(b)
	return slices.Equal(na.Ranges, nb.Ranges) && na.Name == nb.Name && na.OutsideVRF == nb.OutsideVRF &&
		na.Interface == nb.Interface && na.PortMin == nb.PortMin && na.PortMax == nb.PortMax &&
		na.BlockSize == nb.BlockSize && na.MaxBlocksPerSubscriber == nb.MaxBlocksPerSubscriber &&
		na.MaxSessionsPerSubscriber == nb.MaxSessionsPerSubscriber && na.ReuseDelay == nb.ReuseDelay &&
		na.Filtering == nb.Filtering
}

// stage orders ops in a plan (see the comment at the top).
func stage(op Op) int {
	switch op.ID.Kind {
	case KindPool:
		if op.Delete {
			return 8
		}
		return 1
	case KindStaticNAT:
		if op.Delete {
			return 2
		}
		return 7
	case KindPoolBinding:
		if op.Delete {
			return 3
		}
		return 6
	case KindStaticBlock:
		if op.Delete {
			return 4
		}
		return 5
	}
	if op.Delete {
		return 9
	}
	return 0
}

func byStage(a, b Op) int { return cmp.Compare(stage(a), stage(b)) }

// diffPools is Diff for the pool kinds (unordered).
func diffPools(desired, actual *State) []Op {
	var ops []Op
	for name, p := range desired.Pools {
		if a, ok := actual.Pools[name]; !ok || !EqualPools(p, a) {
			ops = append(ops, Op{ID: PoolID(name), Pool: p})
		}
	}
	for name := range actual.Pools {
		if _, ok := desired.Pools[name]; !ok {
			ops = append(ops, Op{ID: PoolID(name), Delete: true})
		}
	}
	for k, b := range desired.PoolBindings {
		if a, ok := actual.PoolBindings[k]; !ok || a.Pool != b.Pool {
			ops = append(ops, Op{ID: PoolBindingID(k), PoolBinding: b})
		}
	}
	for k, b := range actual.PoolBindings {
		if _, ok := desired.PoolBindings[k]; !ok {
			ops = append(ops, Op{ID: PoolBindingID(k), Delete: true, PoolBinding: b})
		}
	}
	diffSet(desired.StaticBlocks, actual.StaticBlocks, StaticBlockID, &ops, &ops)
	diffStaticNATs(desired, actual, &ops)
	sortOps(ops)
	return ops
}

// appendPoolOp is DiffIDs for one pool-kind id.
func appendPoolOp(ops []Op, desired, actual *State, id ID) []Op {
	switch id.Kind {
	case KindPool:
		if p, ok := desired.Pools[id.Pool]; ok {
			if a, ok := actual.Pools[id.Pool]; !ok || !EqualPools(p, a) {
				ops = append(ops, Op{ID: id, Pool: p})
			}
			return ops
		}
		return append(ops, Op{ID: id, Delete: true})
	case KindPoolBinding:
		k := id.PoolBinding
		if b, ok := desired.PoolBindings[k]; ok {
			if a, ok := actual.PoolBindings[k]; !ok || a.Pool != b.Pool {
				ops = append(ops, Op{ID: id, PoolBinding: b})
			}
			return ops
		}
		return append(ops, Op{ID: id, Delete: true, PoolBinding: model.PoolBinding{VRF: k.VRF, Prefix: k.Prefix}})
	case KindStaticBlock:
		return appendSetOp(ops, id, desired.StaticBlocks, actual.StaticBlocks, id.StaticBlock)
	case KindStaticNAT:
		return appendStaticNATOp(ops, desired, actual, id)
	}
	return ops
}

func poolKey(id ID) string {
	switch id.Kind {
	case KindPool:
		return id.Pool
	case KindPoolBinding:
		return id.PoolBinding.String()
	case KindStaticBlock:
		return id.StaticBlock.String()
	case KindStaticNAT:
		return id.StaticNAT.String()
	}
	return "?"
}

func comparePoolID(a, b ID) int {
	switch a.Kind {
	case KindPool:
		return cmp.Compare(a.Pool, b.Pool)
	case KindPoolBinding:
		x, y := a.PoolBinding, b.PoolBinding
		return cmp.Or(cmp.Compare(x.VRF, y.VRF), x.Prefix.Addr().Compare(y.Prefix.Addr()), cmp.Compare(x.Prefix.Bits(), y.Prefix.Bits()))
	case KindStaticBlock:
		x, y := a.StaticBlock, b.StaticBlock
		return cmp.Or(cmp.Compare(x.Pool, y.Pool), cmp.Compare(x.VRF, y.VRF), x.InsideAddr.Compare(y.InsideAddr),
			x.OutsideAddr.Compare(y.OutsideAddr), cmp.Compare(x.PortStart, y.PortStart))
	case KindStaticNAT:
		return compareStaticNATKeys(a.StaticNAT, b.StaticNAT)
	}
	return 0
}

func (r *Reconciler) callPool(ctx context.Context, op Op) error {
	id := op.ID
	switch id.Kind {
	case KindPool:
		if op.Delete {
			return r.dp.DeletePool(ctx, id.Pool)
		}
		return r.dp.PutPool(ctx, op.Pool)
	case KindPoolBinding:
		b := op.PoolBinding
		b.VRF, b.Prefix = id.PoolBinding.VRF, id.PoolBinding.Prefix
		if op.Delete {
			return r.dp.DeletePoolBinding(ctx, b)
		}
		return r.dp.PutPoolBinding(ctx, b)
	case KindStaticBlock:
		if op.Delete {
			return r.dp.DeleteStaticBlock(ctx, id.StaticBlock)
		}
		return r.dp.PutStaticBlock(ctx, id.StaticBlock)
	case KindStaticNAT:
		return r.callStaticNAT(ctx, op)
	}
	return fmt.Errorf("reconcile: unknown kind %q", id.Kind)
}

func rememberPool(a *State, op Op) {
	id := op.ID
	switch id.Kind {
	case KindPool:
		if op.Delete {
			delete(a.Pools, id.Pool)
		} else {
			a.Pools[id.Pool] = op.Pool
		}
	case KindPoolBinding:
		if op.Delete {
			delete(a.PoolBindings, id.PoolBinding)
		} else {
			a.PoolBindings[id.PoolBinding] = op.PoolBinding
		}
	case KindStaticBlock:
		setOp(a.StaticBlocks, id.StaticBlock, op.Delete)
	case KindStaticNAT:
		rememberStaticNAT(a, op)
	}
}

// forgetPool: a failed put may have half-applied.
func forgetPool(a *State, op Op) {
	if op.Delete {
		return
	}
	id := op.ID
	switch id.Kind {
	case KindPool:
		delete(a.Pools, id.Pool)
	case KindPoolBinding:
		delete(a.PoolBindings, id.PoolBinding)
	case KindStaticBlock:
		delete(a.StaticBlocks, id.StaticBlock)
	case KindStaticNAT:
		delete(a.StaticNATs, id.StaticNAT)
	}
}

// dumpPools adds the dataplane's pools, bindings and static blocks to s. A
// dataplane that cannot list them (ErrUnsupported) has none.
func (r *Reconciler) dumpPools(ctx context.Context, s *State) error {
	if err := r.dumpStaticNATs(ctx, s); err != nil {
		return err
	}
	ps, err := r.dp.ListPools(ctx)
	if errors.Is(err, dataplane.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing pools: %w", err)
	}
	for _, p := range ps {
		s.Pools[p.Pool.Name] = p.Pool
	}
	bs, err := r.dp.ListPoolBindings(ctx)
	if err != nil {
		return fmt.Errorf("listing pool bindings: %w", err)
	}
	for _, b := range bs {
		s.PoolBindings[PoolBindingID(b.Key()).PoolBinding] = b
	}
	sbs, err := r.dp.ListStaticBlocks(ctx)
	if err != nil {
		return fmt.Errorf("listing static blocks: %w", err)
	}
	for _, b := range sbs {
		s.StaticBlocks[StaticBlockID(b).StaticBlock] = struct{}{}
	}
	return nil
}

// poolRunEnd is the end of the run of binding and static block ops that
// starts at i.
func poolRunEnd(ops []Op, i int) int {
	for i < len(ops) && (ops[i].ID.Kind == KindPoolBinding || ops[i].ID.Kind == KindStaticBlock) {
		i++
	}
	return i
}

// applyPoolRun applies a run of binding and static block ops through
// dataplane.BulkPools, in order. Called like apply.
func (r *Reconciler) applyPoolRun(ctx context.Context, bp dataplane.BulkPools, run []Op, failed map[ID]error) {
	cs := make([]dataplane.PoolChange, len(run))
	for i, op := range run {
		cs[i].Delete = op.Delete
		switch op.ID.Kind {
		case KindPoolBinding:
			b := op.PoolBinding
			b.VRF, b.Prefix = op.ID.PoolBinding.VRF, op.ID.PoolBinding.Prefix
			cs[i].Binding = &b
		default:
			blk := op.ID.StaticBlock
			cs[i].Block = &blk
		}
	}
	cctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout*time.Duration(1+len(run)/1000))
	defer cancel()
	errs := bp.ApplyPoolChanges(cctx, cs)
	for i, op := range run {
		var err error
		if i < len(errs) {
			err = errs[i]
		} else {
			err = fmt.Errorf("reconcile: no result for %s", op.ID.Kind)
		}
		r.settle(op, err, failed)
	}
}
