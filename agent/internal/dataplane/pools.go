package dataplane

import (
	"context"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Pools is the carrier-grade NAT part of a Dataplane: pools, bindings of
// inside prefixes to pools, static blocks, and what the dataplane reports
// about subscribers and block allocations. The reconciler puts pools
// before their bindings and static blocks and deletes them after.
//
// A dataplane without pools returns errors wrapping ErrUnsupported from
// Put* and empty lists from List*.
type Pools interface {
	ListPools(ctx context.Context) ([]model.PoolStatus, error)
	PutPool(ctx context.Context, p model.Pool) error
	DeletePool(ctx context.Context, name string) error

	ListPoolBindings(ctx context.Context) ([]model.PoolBinding, error)
	PutPoolBinding(ctx context.Context, b model.PoolBinding) error
	DeletePoolBinding(ctx context.Context, b model.PoolBinding) error

	ListStaticBlocks(ctx context.Context) ([]model.StaticBlock, error)
	PutStaticBlock(ctx context.Context, b model.StaticBlock) error
	DeleteStaticBlock(ctx context.Context, b model.StaticBlock) error

	ListSubscribers(ctx context.Context, f model.SubscriberFilter) ([]model.Subscriber, error)

	// WatchBlockLog calls fn for every block allocation and release
	// until ctx is done (it then returns ctx's error) or the subscription
	// ends (the dataplane went away: an error wrapping ErrNotConnected).
	// fn must not block; there is one watcher at a time.
	WatchBlockLog(ctx context.Context, fn func(model.BlockLogRecord)) error
}

// PoolChecker is implemented by dataplanes that refuse some pools before
// they are stored (e.g. an outside VRF that does not exist); the server
// answers FAILED_PRECONDITION with the error. A dataplane that cannot tell
// now (not connected) returns nil.
type PoolChecker interface {
	CheckPool(ctx context.Context, p model.Pool) error
}

// StaticNATs is implemented by dataplanes with stateless 1:1 static NAT.
// It is optional: the reconciler treats a dataplane without it as holding
// no mappings and refuses to program them (ErrUnsupported). An
// implementation may also return errors wrapping ErrUnsupported. The
// reconciler puts mappings after pools and bindings and deletes them
// before. Delete of an absent mapping is nil; a mapping whose address
// another mode claims is refused (an error wrapping ErrAddressInUse).
type StaticNATs interface {
	ListStaticNATs(ctx context.Context) ([]model.StaticNAT, error)
	PutStaticNAT(ctx context.Context, s model.StaticNAT) error
	DeleteStaticNAT(ctx context.Context, k model.StaticNATKey) error
}

// PoolChange is one put or delete of a pool binding (Binding set) or a
// static block (Block set).
type PoolChange struct {
	Delete  bool
	Binding *model.PoolBinding
	Block   *model.StaticBlock
}

// BulkPools is implemented by dataplanes that apply many binding and
// static block changes faster together than one by one (the kernel
// dataplane: one netlink transaction per ~60,000 elements instead of one
// per object; a NAT gateway of 10,000 members is 20,000 objects). Changes
// are applied in order, each whole or refused alone (as its Put/Delete
// would); the result has one error per change.
type BulkPools interface {
	ApplyPoolChanges(ctx context.Context, cs []PoolChange) []error
}
