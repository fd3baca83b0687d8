package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/natgw"
	"github.com/cloudnat/cloudnat/agent/internal/natgw/natgwdp"
)

// Static 1:1 NAT, keyed by inside VRF, inside prefix, proto and inside
// port. A mapping is put after pools, bindings and static blocks and
// deleted before them (stage), so an address moving between a pool and a
// mapping is never claimed twice.
const KindStaticNAT Kind = "static-nat"

func init() { kindOrder[KindStaticNAT] = 9 }

// StaticNATID is the ID of the mapping with key k.
func StaticNATID(k model.StaticNATKey) ID {
	k = model.StaticNAT{InsideVRF: k.InsideVRF, Inside: k.Inside, Outside: k.Inside, Proto: k.Proto, InsidePort: k.InsidePort}.Normalize().Key()
	return ID{Kind: KindStaticNAT, StaticNAT: k}
}

// EqualStaticNATs compares mappings semantically.
func EqualStaticNATs(a, b model.StaticNAT) bool { return a.Normalize() == b.Normalize() }

func indexStaticNATs(s *State, list []model.StaticNAT) {
	for _, x := range list {
		x = x.Normalize()
		s.StaticNATs[x.Key()] = x
	}
}

// indexDerived adds what the NAT gateways ask for. The user's own objects
// are indexed after it and win a (refused at the API) key collision.
func indexDerived(s *State, d *model.Desired) {
	o := natgwdp.Derive(&d.NATGW)
	indexPools(s, &model.Desired{Pools: o.Pools, PoolBindings: o.Bindings, StaticBlocks: o.StaticBlocks})
	indexStaticNATs(s, o.StaticNATs)
}

func diffStaticNATs(desired, actual *State, ops *[]Op) {
	for k, x := range desired.StaticNATs {
		if a, ok := actual.StaticNATs[k]; !ok || !EqualStaticNATs(a, x) {
			*ops = append(*ops, Op{ID: StaticNATID(k), StaticNAT: x})
		}
	}
	for k := range actual.StaticNATs {
		if _, ok := desired.StaticNATs[k]; !ok {
			*ops = append(*ops, Op{ID: StaticNATID(k), Delete: true})
		}
	}
}

func appendStaticNATOp(ops []Op, desired, actual *State, id ID) []Op {
	k := id.StaticNAT
	if x, ok := desired.StaticNATs[k]; ok {
		if a, ok := actual.StaticNATs[k]; !ok || !EqualStaticNATs(a, x) {
			ops = append(ops, Op{ID: id, StaticNAT: x})
		}
		return ops
	}
	return append(ops, Op{ID: id, Delete: true})
}

func compareStaticNATKeys(x, y model.StaticNATKey) int {
	return cmp.Or(cmp.Compare(x.InsideVRF, y.InsideVRF), x.Inside.Addr().Compare(y.Inside.Addr()),
		cmp.Compare(x.Inside.Bits(), y.Inside.Bits()), cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.InsidePort, y.InsidePort))
}

func (r *Reconciler) callStaticNAT(ctx context.Context, op Op) error {
	sn, ok := r.dp.(dataplane.StaticNATs)
	if !ok {
		if op.Delete {
			return nil // it cannot hold one
		}
		return fmt.Errorf("static nat: %w", dataplane.ErrUnsupported)
	}
	if op.Delete {
		return sn.DeleteStaticNAT(ctx, op.ID.StaticNAT)
	}
	return sn.PutStaticNAT(ctx, op.StaticNAT)
}

func rememberStaticNAT(a *State, op Op) {
	if op.Delete {
		delete(a.StaticNATs, op.ID.StaticNAT)
	} else {
		a.StaticNATs[op.ID.StaticNAT] = op.StaticNAT
	}
}

// dumpStaticNATs adds the dataplane's mappings to s; a dataplane without
// them has none.
func (r *Reconciler) dumpStaticNATs(ctx context.Context, s *State) error {
	sn, ok := r.dp.(dataplane.StaticNATs)
	if !ok {
		return nil
	}
	list, err := sn.ListStaticNATs(ctx)
	if errors.Is(err, dataplane.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing static nat: %w", err)
	}
	indexStaticNATs(s, list)
	return nil
}

// DerivedChanges names the objects derived from the NAT gateways (pools,
// bindings, static blocks, static mappings) that differ between old and
// next: what a targeted sync after a gateway change must apply.
func DerivedChanges(old, next *natgw.State) []ID {
	a, b := NewState(), NewState()
	indexDerived(a, &model.Desired{NATGW: *old})
	indexDerived(b, &model.Desired{NATGW: *next})
	ops := Diff(b, a)
	ids := make([]ID, len(ops))
	for i, op := range ops {
		ids[i] = op.ID
	}
	return ids
}
