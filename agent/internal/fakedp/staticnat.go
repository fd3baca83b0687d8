package fakedp

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Static NAT operation names.
const (
	OpListStaticNATs  = "ListStaticNATs"
	OpPutStaticNAT    = "PutStaticNAT"
	OpDeleteStaticNAT = "DeleteStaticNAT"
)

var _ dataplane.StaticNATs = (*DP)(nil)

// StaticNATSnapshot returns the dataplane's static mappings, sorted.
func (d *DP) StaticNATSnapshot() []model.StaticNAT {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.staticNATsLocked()
}

func (d *DP) staticNATsLocked() []model.StaticNAT {
	out := make([]model.StaticNAT, 0, len(d.pools.staticNATs))
	for _, s := range d.pools.staticNATs {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b model.StaticNAT) int {
		return cmp.Or(cmp.Compare(a.InsideVRF, b.InsideVRF), a.Inside.Addr().Compare(b.Inside.Addr()),
			cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.InsidePort, b.InsidePort))
	})
	return out
}

// ListStaticNATs implements dataplane.StaticNATs.
func (d *DP) ListStaticNATs(ctx context.Context) ([]model.StaticNAT, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListStaticNATs, nil); err != nil {
		return nil, err
	}
	return d.staticNATsLocked(), nil
}

// PutStaticNAT implements dataplane.StaticNATs; like the plugin it
// refuses an outside prefix another mapping or a pool range of the outside
// VRF claims, and an inside prefix a binding of the inside VRF covers.
func (d *DP) PutStaticNAT(ctx context.Context, s model.StaticNAT) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpPutStaticNAT, s); err != nil {
		return err
	}
	refuse := func(what string) error {
		return fmt.Errorf("fakedp %s %s: %w (%s)", OpPutStaticNAT, s, dataplane.ErrAddressInUse, what)
	}
	for k, x := range d.pools.staticNATs {
		if k != s.Key() && x.OutsideVRF == s.OutsideVRF && x.Outside.Overlaps(s.Outside) &&
			(x.Proto == 0 || s.Proto == 0 || x.Proto == s.Proto && x.OutsidePort == s.OutsidePort) {
			return refuse("static nat " + x.String())
		}
	}
	for _, p := range d.pools.pools {
		if p.Pool.OutsideVRF != s.OutsideVRF {
			continue
		}
		for _, r := range p.Pool.Ranges {
			if s.Outside.Contains(r.First) || s.Outside.Contains(r.Last) ||
				r.First.Compare(s.Outside.Addr()) <= 0 && s.Outside.Addr().Compare(r.Last) <= 0 {
				return refuse("pool " + p.Pool.Name)
			}
		}
	}
	for _, b := range d.pools.bindings {
		if b.VRF == s.InsideVRF && b.Prefix.Overlaps(s.Inside) {
			return refuse("binding " + b.Key().String())
		}
	}
	d.pools.staticNATs[s.Key()] = s
	return nil
}

// DeleteStaticNAT implements dataplane.StaticNATs.
func (d *DP) DeleteStaticNAT(ctx context.Context, k model.StaticNATKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpDeleteStaticNAT, k); err != nil {
		return err
	}
	delete(d.pools.staticNATs, k)
	return nil
}
