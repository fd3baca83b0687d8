package natgw

import (
	"cmp"
	"net/netip"
	"slices"
)

// What a dataplane is given, in terms of the pool machinery (issue 11):
//
//   - PoolSpec: one pool per gateway and family, named PoolName(gateway,
//     family) ("natgw.<gateway>.v4" / ".v6"), in the gateway's OutsideVRF,
//     holding the gateway's addresses of that family, with block size
//     portsPerNetworkInterface and the aligned port range of BlockLayout
//     (first block start .. 65535). StaticOnly: the pool never allocates a
//     block on a first packet; a source without a static block is dropped
//     and counted, like any pool exhaustion (the plugin's static-only
//     pool, `cnat pool add ... static-only`).
//   - BindingSpec: one per member and family: the member's first private
//     address of the family as a /32 or /128 in the gateway's Network,
//     bound to the pool. Only bound sources are translated. Selected
//     interfaces left without ports because the gateway is full are bound
//     too, without a block: their flows are dropped and counted.
//   - StaticBlockSpec: one per member and family: the subscriber (VRF,
//     inside address) gets the block starting at PortStart on Outside. The
//     pool's paired pooling then uses exactly that address and block.
//   - StaticNATSpec: one per interface with a virtual IP: its first private
//     address of the VIP's family in Network <-> the VIP in OutsideVRF,
//     all ports, both directions (static 1:1 NAT).
//
// Drained blocks (Status.Drained) are released through the pool API like a
// dynamic block whose last session ended: sessions cleared, ports kept out
// of use for the pool's reuse delay. Replies to members' flows come back
// through the pool's sessions; unsolicited inbound traffic to a gateway
// address matches no session and is dropped and counted by the pool.

// PoolSpec is a pool for one gateway and family.
type PoolSpec struct {
	Name       string
	Family     Family
	OutsideVRF uint32
	Addresses  []netip.Addr
	BlockSize  uint32
	PortMin    uint16 // first port of the first block
	PortMax    uint16 // always LastPort
	StaticOnly bool   // always true: blocks come only from StaticBlockSpecs
}

// BindingSpec binds a member's private address to its gateway's pool.
type BindingSpec struct {
	Pool   string
	VRF    uint32
	Prefix netip.Prefix // /32 or /128
}

// StaticBlockSpec assigns a subscriber (VRF, Inside) the block starting at
// PortStart on Outside.
type StaticBlockSpec struct {
	Pool      string
	VRF       uint32
	Inside    netip.Addr
	Outside   netip.Addr
	PortStart uint16
}

// StaticNATSpec is a 1:1 NAT between Inside in InsideVRF and Outside in
// OutsideVRF.
type StaticNATSpec struct {
	InsideVRF  uint32
	Inside     netip.Addr
	OutsideVRF uint32
	Outside    netip.Addr
}

// Specs is everything a set of gateways and interfaces asks of a
// dataplane, each list in a stable order.
type Specs struct {
	Pools        []PoolSpec
	Bindings     []BindingSpec
	StaticBlocks []StaticBlockSpec
	StaticNATs   []StaticNATSpec
}

// PoolName is the name of gateway's pool of family f.
func PoolName(gateway string, f Family) string { return "natgw." + gateway + "." + f.Short() }

// GatewaySpecs is what one gateway and its plan ask of a dataplane.
func GatewaySpecs(g *NATGateway, st *Status, out *Specs) {
	first, _ := BlockLayout(g.PortsPerNetworkInterface)
	for _, f := range g.IPFamilies {
		pool := PoolSpec{
			Name: PoolName(g.Name, f), Family: f, OutsideVRF: g.OutsideVRF,
			BlockSize: g.PortsPerNetworkInterface, PortMin: uint16(first), PortMax: LastPort, StaticOnly: true,
		}
		for _, ip := range g.IPs {
			if a, ok := ip.Addr(f); ok {
				pool.Addresses = append(pool.Addresses, a)
			}
		}
		out.Pools = append(out.Pools, pool)
	}
	if st == nil {
		return
	}
	for _, m := range st.Members {
		for _, a := range m.Addresses {
			pool := PoolName(g.Name, a.Family)
			out.Bindings = append(out.Bindings, BindingSpec{Pool: pool, VRF: g.Network, Prefix: netip.PrefixFrom(a.Inside, a.Inside.BitLen())})
			out.StaticBlocks = append(out.StaticBlocks, StaticBlockSpec{Pool: pool, VRF: g.Network, Inside: a.Inside, Outside: a.Outside, PortStart: m.Ports.Start})
		}
	}
	for _, u := range st.Unassigned {
		for _, in := range u.Inside {
			out.Bindings = append(out.Bindings, BindingSpec{Pool: PoolName(g.Name, FamilyOf(in)), VRF: g.Network, Prefix: netip.PrefixFrom(in, in.BitLen())})
		}
	}
}

// StaticNATs is the 1:1 NAT of every interface with a virtual IP, in
// interface name order.
func StaticNATs(nics []NetworkInterface) []StaticNATSpec {
	var out []StaticNATSpec
	idx := make([]int, 0)
	for i := range nics {
		if nics[i].VirtualIP != nil {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(nics[a].Name, nics[b].Name) })
	for _, i := range idx {
		n := &nics[i]
		in, ok := n.FirstIP(FamilyOf(*n.VirtualIP))
		if !ok {
			continue // refused by ValidateInterface
		}
		out = append(out, StaticNATSpec{InsideVRF: n.Network, Inside: in, OutsideVRF: n.OutsideVRF, Outside: *n.VirtualIP})
	}
	return out
}
