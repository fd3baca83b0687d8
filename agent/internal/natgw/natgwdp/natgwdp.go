// Package natgwdp turns the NAT gateways' plans (natgw.State) into the
// dataplane objects that program them: pools, bindings, static blocks and
// static 1:1 mappings. The reconciler programs them next to the user's
// intent; every pool is named "natgw.<gateway>.<v4|v6>" so it never
// collides with a user's pool (user pool names cannot start with
// "natgw.", see validate.PoolName).
package natgwdp

import (
	"net/netip"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/natgw"
)

// MaxBlocksPerMember is every gateway pool's max blocks per subscriber.
// The plugin has no "static only" pool: a bound source without a block
// gets a dynamic one on its first packet while it holds fewer than this.
// A member holds exactly its static block, so with 1 it never gets a
// dynamic block; a source without a static block is therefore left
// unbound (see Objects).
const MaxBlocksPerMember = 1

// ReuseDelay is how long a drained member's ports wait before reuse.
const ReuseDelay = model.DefaultReuseDelay

// Objects is what the NAT gateways ask of a dataplane.
type Objects struct {
	Pools        []model.Pool
	Bindings     []model.PoolBinding
	StaticBlocks []model.StaticBlock
	StaticNATs   []model.StaticNAT
}

// Derive converts the gateways' specs. Only members that got a block are
// bound (one /32 or /128 binding each) and given their static block;
// members left without ports (gateway full) are not bound, so the pool
// cannot give them a dynamic block.
func Derive(st *natgw.State) Objects {
	if st == nil || (len(st.Gateways) == 0 && len(st.Interfaces) == 0) {
		return Objects{}
	}
	sp := st.Specs()
	var out Objects
	for _, p := range sp.Pools {
		out.Pools = append(out.Pools, Pool(p))
	}
	for _, b := range sp.Bindings {
		out.Bindings = append(out.Bindings, model.PoolBinding{VRF: b.VRF, Prefix: b.Prefix, Pool: b.Pool})
	}
	for _, b := range sp.StaticBlocks {
		out.StaticBlocks = append(out.StaticBlocks, model.StaticBlock{
			Pool: b.Pool, VRF: b.VRF, InsideAddr: b.Inside, OutsideAddr: b.Outside, PortStart: b.PortStart,
		})
	}
	for _, s := range sp.StaticNATs {
		out.StaticNATs = append(out.StaticNATs, model.StaticNAT{
			InsideVRF: s.InsideVRF, Inside: netip.PrefixFrom(s.Inside, s.Inside.BitLen()),
			OutsideVRF: s.OutsideVRF, Outside: netip.PrefixFrom(s.Outside, s.Outside.BitLen()),
		})
	}
	return out
}

// Pool converts a gateway pool spec: its addresses as single-address
// ranges, the gateway's block size and port range, one block per member.
func Pool(p natgw.PoolSpec) model.Pool {
	out := model.Pool{
		Name: p.Name, OutsideVRF: p.OutsideVRF,
		PortMin: p.PortMin, PortMax: p.PortMax, BlockSize: uint16(p.BlockSize),
		MaxBlocksPerSubscriber: MaxBlocksPerMember, ReuseDelay: ReuseDelay,
		StaticBlocksOnly: p.StaticOnly,
	}
	for _, a := range p.Addresses {
		out.Ranges = append(out.Ranges, model.AddrRange{First: a, Last: a})
	}
	return out
}
