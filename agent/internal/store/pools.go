package store

import (
	"slices"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// clonePools deep-copies d's pool intent into out.
func clonePools(out *model.Desired, d model.Desired) {
	out.Pools = slices.Clone(d.Pools)
	for i := range out.Pools {
		out.Pools[i].Ranges = slices.Clone(out.Pools[i].Ranges)
	}
	out.PoolBindings = slices.Clone(d.PoolBindings)
	out.StaticBlocks = slices.Clone(d.StaticBlocks)
}
