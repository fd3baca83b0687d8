package fakedp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Pool operation names.
const (
	OpListPools         = "ListPools"
	OpPutPool           = "PutPool"
	OpDeletePool        = "DeletePool"
	OpListPoolBindings  = "ListPoolBindings"
	OpPutPoolBinding    = "PutPoolBinding"
	OpDeletePoolBinding = "DeletePoolBinding"
	OpListStaticBlocks  = "ListStaticBlocks"
	OpPutStaticBlock    = "PutStaticBlock"
	OpDeleteStaticBlock = "DeleteStaticBlock"
	OpListSubscribers   = "ListSubscribers"
	OpWatchBlockLog     = "WatchBlockLog"
	OpCheckPool         = "CheckPool"
)

// The plugin's refusals, as the fake reports them.
var (
	ErrPoolInUse      = errors.New("pool in use")
	ErrNoPool         = errors.New("no such pool")
	ErrBindingOverlap = errors.New("prefix overlaps a binding")
)

// poolState is the fake's carrier-grade NAT state; guarded by DP.mu.
type poolState struct {
	pools       map[string]model.PoolStatus
	bindings    map[model.PoolBindingKey]model.PoolBinding
	static      map[model.StaticBlock]bool
	subscribers []model.Subscriber
	vrfs        map[uint32]bool // nil: every VRF exists
	watch       func(model.BlockLogRecord)
	watchGen    int
}

func (p *poolState) reset() {
	vrfs, watch, gen := p.vrfs, p.watch, p.watchGen
	*p = poolState{
		watchGen: gen,
		pools:    map[string]model.PoolStatus{},
		bindings: map[model.PoolBindingKey]model.PoolBinding{},
		static:   map[model.StaticBlock]bool{},
		vrfs:     vrfs,
		watch:    watch,
	}
}

var _ dataplane.PoolChecker = (*DP)(nil)

// SetVRFs makes only these VRFs exist for CheckPool (nil: all of them).
func (d *DP) SetVRFs(vrfs ...uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pools.vrfs = map[uint32]bool{}
	for _, v := range vrfs {
		d.pools.vrfs[v] = true
	}
}

// SetSubscribers sets what ListSubscribers reports.
func (d *DP) SetSubscribers(subs []model.Subscriber) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pools.subscribers = slices.Clone(subs)
}

// SetPoolCounters sets a pool's counters (when the pool exists).
func (d *DP) SetPoolCounters(name string, c model.PoolCounters) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.pools.pools[name]; ok {
		p.Counters = c
		d.pools.pools[name] = p
	}
}

// EmitBlockLog delivers r to the block-log watcher; it reports whether one
// was watching.
func (d *DP) EmitBlockLog(r model.BlockLogRecord) bool {
	d.mu.Lock()
	fn := d.pools.watch
	d.mu.Unlock()
	if fn == nil {
		return false
	}
	fn(r)
	return true
}

// PoolSnapshot returns the dataplane's pools, bindings and static blocks,
// sorted.
func (d *DP) PoolSnapshot() model.Desired {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s model.Desired
	for _, p := range d.pools.pools {
		q := p.Pool
		q.Ranges = slices.Clone(q.Ranges)
		s.Pools = append(s.Pools, q)
	}
	slices.SortFunc(s.Pools, func(a, b model.Pool) int { return cmp.Compare(a.Name, b.Name) })
	for _, b := range d.pools.bindings {
		s.PoolBindings = append(s.PoolBindings, b)
	}
	slices.SortFunc(s.PoolBindings, func(a, b model.PoolBinding) int {
		return cmp.Or(cmp.Compare(a.VRF, b.VRF), a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	s.StaticBlocks = sortedKeys(d.pools.static, func(a, b model.StaticBlock) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.VRF, b.VRF), a.InsideAddr.Compare(b.InsideAddr), cmp.Compare(a.PortStart, b.PortStart))
	})
	return s
}

// CheckPool implements dataplane.PoolChecker: the outside VRF must exist.
func (d *DP) CheckPool(ctx context.Context, p model.Pool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[OpCheckPool]++
	if d.pools.vrfs != nil && !d.pools.vrfs[p.OutsideVRF] {
		return fmt.Errorf("outside vrf %d does not exist in the dataplane", p.OutsideVRF)
	}
	return nil
}

// ListPools implements dataplane.Pools.
func (d *DP) ListPools(ctx context.Context) ([]model.PoolStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListPools, nil); err != nil {
		return nil, err
	}
	out := make([]model.PoolStatus, 0, len(d.pools.pools))
	for _, p := range d.pools.pools {
		p.Pool.Ranges = slices.Clone(p.Pool.Ranges)
		out = append(out, p)
	}
	return out, nil
}

// PutPool implements dataplane.Pools.
func (d *DP) PutPool(ctx context.Context, p model.Pool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpPutPool, p); err != nil {
		return err
	}
	p.Ranges = slices.Clone(p.Ranges)
	old := d.pools.pools[p.Name]
	d.pools.pools[p.Name] = model.PoolStatus{Pool: p, Counters: old.Counters}
	return nil
}

// DeletePool implements dataplane.Pools; refused while bound, as the
// plugin does.
func (d *DP) DeletePool(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpDeletePool, name); err != nil {
		return err
	}
	for _, b := range d.pools.bindings {
		if b.Pool == name {
			return fmt.Errorf("fakedp %s %s: %w (%s)", OpDeletePool, name, ErrPoolInUse, b.Key())
		}
	}
	delete(d.pools.pools, name)
	return nil
}

// ListPoolBindings implements dataplane.Pools.
func (d *DP) ListPoolBindings(ctx context.Context) ([]model.PoolBinding, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListPoolBindings, nil); err != nil {
		return nil, err
	}
	out := make([]model.PoolBinding, 0, len(d.pools.bindings))
	for _, b := range d.pools.bindings {
		out = append(out, b)
	}
	return out, nil
}

// PutPoolBinding implements dataplane.Pools; the pool must exist and the
// prefix may not overlap another binding of its VRF.
func (d *DP) PutPoolBinding(ctx context.Context, b model.PoolBinding) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpPutPoolBinding, b); err != nil {
		return err
	}
	if _, ok := d.pools.pools[b.Pool]; !ok {
		return fmt.Errorf("fakedp %s %s: %w %q", OpPutPoolBinding, b.Key(), ErrNoPool, b.Pool)
	}
	for k := range d.pools.bindings {
		if k != b.Key() && k.VRF == b.VRF && k.Prefix.Overlaps(b.Prefix) {
			return fmt.Errorf("fakedp %s %s: %w %s", OpPutPoolBinding, b.Key(), ErrBindingOverlap, k)
		}
	}
	d.pools.bindings[b.Key()] = b
	return nil
}

// DeletePoolBinding implements dataplane.Pools.
func (d *DP) DeletePoolBinding(ctx context.Context, b model.PoolBinding) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpDeletePoolBinding, b); err != nil {
		return err
	}
	delete(d.pools.bindings, b.Key())
	return nil
}

// ListStaticBlocks implements dataplane.Pools.
func (d *DP) ListStaticBlocks(ctx context.Context) ([]model.StaticBlock, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListStaticBlocks, nil); err != nil {
		return nil, err
	}
	out := make([]model.StaticBlock, 0, len(d.pools.static))
	for b := range d.pools.static {
		out = append(out, b)
	}
	return out, nil
}

// PutStaticBlock implements dataplane.Pools; the pool must exist.
func (d *DP) PutStaticBlock(ctx context.Context, b model.StaticBlock) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpPutStaticBlock, b); err != nil {
		return err
	}
	if _, ok := d.pools.pools[b.Pool]; !ok {
		return fmt.Errorf("fakedp %s %s: %w %q", OpPutStaticBlock, b, ErrNoPool, b.Pool)
	}
	d.pools.static[b] = true
	return nil
}

// DeleteStaticBlock implements dataplane.Pools.
func (d *DP) DeleteStaticBlock(ctx context.Context, b model.StaticBlock) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpDeleteStaticBlock, b); err != nil {
		return err
	}
	delete(d.pools.static, b)
	return nil
}

// ListSubscribers implements dataplane.Pools.
func (d *DP) ListSubscribers(ctx context.Context, f model.SubscriberFilter) ([]model.Subscriber, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListSubscribers, f); err != nil {
		return nil, err
	}
	var out []model.Subscriber
	for _, s := range d.pools.subscribers {
		if (f.VRF == model.AllVRFs || s.VRF == f.VRF) && (f.Pool == "" || s.Pool == f.Pool) {
			s.Blocks = slices.Clone(s.Blocks)
			out = append(out, s)
		}
	}
	return out, nil
}

// WatchBlockLog implements dataplane.Pools: records come from EmitBlockLog.
func (d *DP) WatchBlockLog(ctx context.Context, fn func(model.BlockLogRecord)) error {
	d.mu.Lock()
	if err := d.begin(ctx, OpWatchBlockLog, nil); err != nil {
		d.mu.Unlock()
		return err
	}
	d.pools.watch = fn
	d.pools.watchGen++
	gen := d.pools.watchGen
	d.mu.Unlock()
	<-ctx.Done()
	d.mu.Lock()
	if d.pools.watchGen == gen { // not replaced by a newer watcher
		d.pools.watch = nil
	}
	d.mu.Unlock()
	return ctx.Err()
}
