package kernel

import (
	"context"
	"fmt"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Carrier-grade NAT pools are not expressed in nf_tables yet: every Put is
// refused (the server answers FAILED_PRECONDITION and stores nothing) and
// every List is empty, so a resync never deletes anything here.

func errNoPools(what string) error {
	return fmt.Errorf("kernel: %s: pools are not supported by the kernel dataplane yet: %w", what, dataplane.ErrUnsupported)
}

// ListPools implements dataplane.Pools.
func (d *Dataplane) ListPools(context.Context) ([]model.PoolStatus, error) { return nil, nil }

// PutPool implements dataplane.Pools.
func (d *Dataplane) PutPool(_ context.Context, p model.Pool) error {
	return errNoPools("pool " + p.Name)
}

// DeletePool implements dataplane.Pools.
func (d *Dataplane) DeletePool(context.Context, string) error { return nil }

// ListPoolBindings implements dataplane.Pools.
func (d *Dataplane) ListPoolBindings(context.Context) ([]model.PoolBinding, error) { return nil, nil }

// PutPoolBinding implements dataplane.Pools.
func (d *Dataplane) PutPoolBinding(_ context.Context, b model.PoolBinding) error {
	return errNoPools("pool binding " + b.Key().String())
}

// DeletePoolBinding implements dataplane.Pools.
func (d *Dataplane) DeletePoolBinding(context.Context, model.PoolBinding) error { return nil }

// ListStaticBlocks implements dataplane.Pools.
func (d *Dataplane) ListStaticBlocks(context.Context) ([]model.StaticBlock, error) { return nil, nil }

// PutStaticBlock implements dataplane.Pools.
func (d *Dataplane) PutStaticBlock(_ context.Context, b model.StaticBlock) error {
	return errNoPools("static block " + b.String())
}

// DeleteStaticBlock implements dataplane.Pools.
func (d *Dataplane) DeleteStaticBlock(context.Context, model.StaticBlock) error { return nil }

// ListSubscribers implements dataplane.Pools.
func (d *Dataplane) ListSubscribers(context.Context, model.SubscriberFilter) ([]model.Subscriber, error) {
	return nil, nil
}

// WatchBlockLog implements dataplane.Pools: there are no blocks, hence no
// records; it waits for ctx.
func (d *Dataplane) WatchBlockLog(ctx context.Context, _ func(model.BlockLogRecord)) error {
	<-ctx.Done()
	return ctx.Err()
}
