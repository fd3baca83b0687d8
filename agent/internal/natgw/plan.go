package natgw

import (
	"cmp"
	"fmt"
	"slices"
)

// Planning rules (docs/natgw.md tells the same):
//
//   - Candidates are the interfaces of the gateway's network that its
//     selector matches. Those with a virtual IP are not members (they have
//     their own 1:1 NAT). Those without an address of the gateway's
//     families, or claimed by a gateway of the same network whose name sorts
//     first, are listed as unassigned with the reason.
//   - A gateway has len(ips) x BlocksPerAddress(portsPerNetworkInterface)
//     slots: (ips entry, aligned port block). A slot covers the entry's
//     address of every family, so a dual-stack member has the same port
//     range on its IPv4 and its IPv6 address.
//   - A member that had a slot in the previous plan keeps it while the
//     entry's name still exists and the block's first port is still a
//     block start for the current size (members are visited in name order;
//     when a larger block size merges two old blocks, the first name keeps
//     it).
//   - The others, in name order, take the free slots in order (entry order
//     of ips, then ascending ports). Members left over are unassigned with
//     reason "gateway full".
//   - Every (member, family) of the previous plan whose inside address,
//     outside address or ports are not in the new plan is drained.
//
// The plan depends only on the gateway, the interfaces and the previous
// plan: same inputs, same plan.

// BlockLayout is where the blocks of size p lie on one address: the first
// block starts at the first multiple of p at or above FirstPort, and n
// blocks fit below 65536.
func BlockLayout(p uint32) (first uint32, n int) {
	if !IsPowerOfTwo(p) || p > MaxPortsPerInterface {
		return 0, 0
	}
	first = (FirstPort + p - 1) &^ (p - 1)
	return first, int((LastPort + 1 - first) / p)
}

// Candidate is an interface the planner considers for a gateway.
type candidate struct {
	nic    *NetworkInterface
	reason string // non-empty: unassigned for this reason
}

// Plan computes a gateway's plan from all interfaces and its previous
// plan (nil for a new gateway). An interface is considered when it is in
// the gateway's network and the selector matches it.
func Plan(g *NATGateway, nics []NetworkInterface, prev *Status) Status {
	return plan(g, selectFor(g, nics, nil), prev)
}

// selectFor returns the candidates of g in name order; owner (may be nil)
// maps interfaces to the gateway that has them when it is not g.
func selectFor(g *NATGateway, nics []NetworkInterface, owner map[string]string) []candidate {
	var out []candidate
	for i := range nics {
		n := &nics[i]
		if n.Network != g.Network || n.VirtualIP != nil || !g.NetworkInterfaceSelector.Matches(n.Labels) {
			continue
		}
		c := candidate{nic: n}
		if o, ok := owner[n.Name]; ok && o != g.Name {
			c.reason = fmt.Sprintf(claimedByOtherReason, o)
		} else if !hasFamilyAddr(g, n) {
			c.reason = noFamilyAddrReason
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b candidate) int { return cmp.Compare(a.nic.Name, b.nic.Name) })
	return out
}

func hasFamilyAddr(g *NATGateway, n *NetworkInterface) bool {
	for _, f := range g.IPFamilies {
		if _, ok := n.FirstIP(f); ok {
			return true
		}
	}
	return false
}

// plan assigns slots to the candidates (in name order).
func plan(g *NATGateway, cands []candidate, prev *Status) Status {
	p := g.PortsPerNetworkInterface
	first, perAddr := BlockLayout(p)
	st := Status{
		Gateway:                  g.Name,
		IPs:                      cloneGatewayIPs(g.IPs),
		PortsPerNetworkInterface: p,
	}
	ipIndex := make(map[string]int, len(g.IPs))
	for i, ip := range g.IPs {
		ipIndex[ip.Name] = i
	}
	var prevByName map[string]*Member
	if prev != nil && prev.Gateway == g.Name {
		prevByName = make(map[string]*Member, len(prev.Members))
		for i := range prev.Members {
			prevByName[prev.Members[i].Interface] = &prev.Members[i]
		}
	}

	total := len(g.IPs) * perAddr
	taken := make([]bool, total)
	slot := make([]int, len(cands)) // -1: none yet
	// Keep pass: previous slots that still fit.
	for i, c := range cands {
		slot[i] = -1
		if c.reason != "" || prevByName == nil || perAddr == 0 {
			continue // perAddr 0: an unvalidated block size; no slots
		}
		pm, ok := prevByName[c.nic.Name]
		if !ok {
			continue
		}
		ipi, ok := ipIndex[pm.IPName]
		start := uint32(pm.Ports.Start)
		if !ok || start < first || (start-first)%p != 0 {
			continue
		}
		blk := int((start - first) / p)
		if blk >= perAddr {
			continue
		}
		s := ipi*perAddr + blk
		if !taken[s] {
			taken[s] = true
			slot[i] = s
		}
	}
	// Fill pass: the rest take free slots in order.
	next := 0
	for i, c := range cands {
		if c.reason != "" || slot[i] >= 0 {
			continue
		}
		for next < total && taken[next] {
			next++
		}
		if next == total {
			cands[i].reason = gatewayFullReason
			continue
		}
		taken[next] = true
		slot[i] = next
	}

	st.Members = make([]Member, 0, len(cands))
	for i, c := range cands {
		if c.reason != "" {
			u := Unassigned{Interface: c.nic.Name, Reason: c.reason}
			if c.reason == gatewayFullReason {
				// bound without a block: its flows are dropped and
				// counted by the static-only pool, never leaked
				for _, f := range g.IPFamilies {
					if in, ok := c.nic.FirstIP(f); ok {
						u.Inside = append(u.Inside, in)
					}
				}
			}
			st.Unassigned = append(st.Unassigned, u)
			continue
		}
		ip := &g.IPs[slot[i]/perAddr]
		start := first + uint32(slot[i]%perAddr)*p
		m := Member{
			Interface: c.nic.Name,
			IPName:    ip.Name,
			Ports:     PortRange{Start: uint16(start), End: uint16(start + p - 1)},
			Addresses: make([]MemberAddress, 0, len(g.IPFamilies)),
		}
		for _, f := range g.IPFamilies {
			in, ok1 := c.nic.FirstIP(f)
			out, ok2 := ip.Addr(f)
			if ok1 && ok2 {
				m.Addresses = append(m.Addresses, MemberAddress{Family: f, Inside: in, Outside: out})
			}
		}
		st.Members = append(st.Members, m)
	}
	st.PortsUsed = uint64(p) * uint64(len(st.Members))

	if prev == nil || prev.Gateway != g.Name {
		st.Generation = 1
		return st
	}
	if samePlan(&st, prev) {
		return *prev
	}
	st.Drained = drained(prev, &st)
	st.DrainedTotal = prev.DrainedTotal + uint64(len(st.Drained))
	st.Generation = prev.Generation + 1
	return st
}

// drained lists the blocks of prev that next no longer has.
func drained(prev, next *Status) []Block {
	nextByName := make(map[string]*Member, len(next.Members))
	for i := range next.Members {
		nextByName[next.Members[i].Interface] = &next.Members[i]
	}
	var out []Block
	for _, pm := range prev.Members {
		nm := nextByName[pm.Interface]
		for _, pa := range pm.Addresses {
			if nm != nil && nm.Ports == pm.Ports && slices.Contains(nm.Addresses, pa) {
				continue
			}
			out = append(out, Block{Interface: pm.Interface, Inside: pa.Inside, Outside: pa.Outside, Ports: pm.Ports})
		}
	}
	return out
}

// samePlan compares what a plan decides (not its history fields).
func samePlan(a, b *Status) bool {
	return a.Gateway == b.Gateway && a.PortsPerNetworkInterface == b.PortsPerNetworkInterface &&
		slices.EqualFunc(a.IPs, b.IPs, func(x, y GatewayIP) bool { return x.Name == y.Name && slices.Equal(x.Addresses, y.Addresses) }) &&
		slices.EqualFunc(a.Members, b.Members, func(x, y Member) bool {
			return x.Interface == y.Interface && x.IPName == y.IPName && x.Ports == y.Ports && slices.Equal(x.Addresses, y.Addresses)
		}) &&
		slices.EqualFunc(a.Unassigned, b.Unassigned, func(x, y Unassigned) bool {
			return x.Interface == y.Interface && x.Reason == y.Reason && slices.Equal(x.Inside, y.Inside)
		})
}

// PlanAll plans every gateway. An interface selected by several gateways
// of its network belongs to the one whose name sorts first; the others
// list it as unassigned. prev holds the previous plans by gateway name.
// The result is in gateway name order.
func PlanAll(gws []NATGateway, nics []NetworkInterface, prev map[string]*Status) []Status {
	order := make([]*NATGateway, len(gws))
	for i := range gws {
		order[i] = &gws[i]
	}
	slices.SortFunc(order, func(a, b *NATGateway) int { return cmp.Compare(a.Name, b.Name) })
	byNetwork := map[uint32][]NetworkInterface{}
	for _, n := range nics {
		byNetwork[n.Network] = append(byNetwork[n.Network], n)
	}
	owner := map[string]string{}
	out := make([]Status, 0, len(order))
	for _, g := range order {
		cands := selectFor(g, byNetwork[g.Network], owner)
		for _, c := range cands {
			if _, ok := owner[c.nic.Name]; !ok && c.reason == "" {
				owner[c.nic.Name] = g.Name
			}
		}
		out = append(out, plan(g, cands, prev[g.Name]))
	}
	return out
}

func cloneGatewayIPs(ips []GatewayIP) []GatewayIP {
	out := slices.Clone(ips)
	for i := range out {
		out[i].Addresses = slices.Clone(out[i].Addresses)
	}
	return out
}
