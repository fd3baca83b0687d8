// Package natgw is the agent's model of a public NAT gateway for a network,
// after IronCore's NATGateway (IEP-4): network interfaces with private
// addresses, a gateway that owns public addresses and hands every selected
// interface one fixed block of ports, and the planner that decides which
// interface gets which block.
//
// The package is pure Go: it knows nothing about gRPC, the store or a
// dataplane. Its output for a dataplane are plain specs (spec.go) that map a
// gateway onto the pool machinery of the carrier-grade NAT work: one pool
// per gateway and family whose blocks are only assigned statically, one
// binding and one static block per member, and one static 1:1 NAT per
// interface with a virtual IP.
package natgw

import (
	"fmt"
	"net/netip"
)

// Family is an IP family as IEP-4 spells it.
type Family string

const (
	IPv4 Family = "IPv4"
	IPv6 Family = "IPv6"
)

// FamilyOf is the family of a valid address.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// Short is "v4" or "v6" (pool names).
func (f Family) Short() string {
	if f == IPv6 {
		return "v6"
	}
	return "v4"
}

// GatewayType is a gateway's type; IEP-4 knows only Public.
type GatewayType string

// TypePublic is the only gateway type.
const TypePublic GatewayType = "Public"

// Port space of a gateway address: ports below FirstPort are never handed
// out; blocks are aligned to their size inside [FirstPort, LastPort].
const (
	FirstPort = 1024
	LastPort  = 65535
)

// Bounds of portsPerNetworkInterface (a power of two). 64 ports is the
// smallest block worth a static assignment (and IronCore's default); 32768
// is the largest aligned block that fits above FirstPort (one per address).
const (
	MinPortsPerInterface     = 64
	MaxPortsPerInterface     = 32768
	DefaultPortsPerInterface = 64
)

// Limits on counts and lengths; requests beyond them are refused.
const (
	MaxNameLen           = 63  // gateway names (DNS label: pool names derive from it)
	MaxInterfaceNameLen  = 253 // interface names (DNS subdomain)
	MaxLabels            = 64  // labels of an interface
	MaxInterfaceIPs      = 8   // private addresses of an interface
	MaxGatewayIPs        = 64  // named entries of a gateway's ips
	MaxSelectorLabels    = 32  // matchLabels entries
	MaxSelectorExprs     = 32  // matchExpressions entries
	MaxSelectorValues    = 64  // values of one expression
	MaxInterfaces        = 100000
	MaxGateways          = 1024
	labelNameMaxLen      = 63
	labelPrefixMaxLen    = 253
	labelValueMaxLen     = 63
	gatewayFullReason    = "gateway full"
	noFamilyAddrReason   = "no address of the gateway's ip families"
	claimedByOtherReason = "selected by gateway %q too (the first by name wins)"
)

// ReasonGatewayFull is an unassigned member's reason when every block of
// the gateway is taken.
const ReasonGatewayFull = gatewayFullReason

// NetworkInterface is a machine's network interface: private addresses in
// one network (a VRF), labels for gateway selectors and an optional
// virtual IP. Interfaces are named uniquely per agent.
type NetworkInterface struct {
	Name    string            `json:"name"`
	Network uint32            `json:"network"` // VRF (FIB table id) of its addresses
	Labels  map[string]string `json:"labels,omitempty"`
	IPs     []netip.Addr      `json:"ips"`
	// VirtualIP is a 1:1 static NAT of the interface's first address of
	// the same family, in OutsideVRF. An interface with a virtual IP is
	// never a gateway member.
	VirtualIP *netip.Addr `json:"virtualIP,omitempty"`
	// OutsideVRF is where the virtual IP lives (default 0). An addition to
	// IEP-4, whose networks have one public side.
	OutsideVRF uint32 `json:"outsideVRF,omitempty"`
}

// Operator is a label selector requirement's operator.
type Operator string

const (
	OpIn           Operator = "In"
	OpNotIn        Operator = "NotIn"
	OpExists       Operator = "Exists"
	OpDoesNotExist Operator = "DoesNotExist"
)

// Requirement is one matchExpressions entry.
type Requirement struct {
	Key      string   `json:"key"`
	Operator Operator `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Selector is a Kubernetes label selector. A nil *Selector selects
// nothing; an empty one selects everything (as metav1.LabelSelector).
type Selector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []Requirement     `json:"matchExpressions,omitempty"`
}

// GatewayIP is one named entry of a gateway's ips: one address per family
// of the gateway (a dual-stack gateway has an IPv4 and an IPv6 address).
type GatewayIP struct {
	Name      string       `json:"name"`
	Addresses []netip.Addr `json:"addresses"`
}

// Addr is the entry's address of family f.
func (g GatewayIP) Addr(f Family) (netip.Addr, bool) {
	for _, a := range g.Addresses {
		if FamilyOf(a) == f {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// NATGateway is IEP-4's NATGateway.
type NATGateway struct {
	Name       string      `json:"name"`
	Type       GatewayType `json:"type"`
	IPFamilies []Family    `json:"ipFamilies"`
	Network    uint32      `json:"network"` // VRF of the members' private addresses
	// OutsideVRF is where the gateway's public addresses live (default 0,
	// the uplink table). An addition to IEP-4, whose gateways have one
	// public side.
	OutsideVRF               uint32      `json:"outsideVRF,omitempty"`
	IPs                      []GatewayIP `json:"ips"`
	PortsPerNetworkInterface uint32      `json:"portsPerNetworkInterface"`
	NetworkInterfaceSelector *Selector   `json:"networkInterfaceSelector,omitempty"`
}

// HasFamily says whether the gateway serves family f.
func (g *NATGateway) HasFamily(f Family) bool {
	for _, x := range g.IPFamilies {
		if x == f {
			return true
		}
	}
	return false
}

// PortRange is an inclusive range of ports.
type PortRange struct {
	Start uint16 `json:"start"`
	End   uint16 `json:"end"`
}

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Start, r.End) }

// MemberAddress is one family of a member: its private address and the
// gateway address its flows leave with.
type MemberAddress struct {
	Family  Family     `json:"family"`
	Inside  netip.Addr `json:"inside"`
	Outside netip.Addr `json:"outside"`
}

// Member is an interface with ports: the named gateway address it uses and
// its block (the same port range on each family's address of that name).
type Member struct {
	Interface string          `json:"interface"`
	IPName    string          `json:"ipName"`
	Ports     PortRange       `json:"ports"`
	Addresses []MemberAddress `json:"addresses"`
}

// Unassigned is a selected interface without ports, and why.
type Unassigned struct {
	Interface string `json:"interface"`
	Reason    string `json:"reason"`
	// Inside: its private addresses (one per gateway family) when the
	// gateway is full; they are bound to the gateway's static-only pools
	// without a block, so their flows are dropped and counted instead of
	// leaving untranslated. Empty for an interface another gateway owns.
	Inside []netip.Addr `json:"inside,omitempty"`
}

// Block is a released (drained) block: an address and a port range that
// an interface held. The dataplane ends its sessions and keeps its ports
// out of use for the pool's reuse delay.
type Block struct {
	Interface string     `json:"interface"`
	Inside    netip.Addr `json:"inside"`
	Outside   netip.Addr `json:"outside"`
	Ports     PortRange  `json:"ports"`
}

// Status is a gateway's plan: what IEP-4 calls its status, plus the
// assignments that make the plan reproducible. The previous Status is the
// planner's input for the next plan.
type Status struct {
	Gateway                  string       `json:"gateway"`
	IPs                      []GatewayIP  `json:"ips"`
	PortsPerNetworkInterface uint32       `json:"portsPerNetworkInterface"`
	PortsUsed                uint64       `json:"portsUsed"`
	Members                  []Member     `json:"members,omitempty"`
	Unassigned               []Unassigned `json:"unassigned,omitempty"`
	// Drained lists the blocks the last re-plan released; DrainedTotal
	// counts every block released since the gateway was created.
	Drained      []Block `json:"drained,omitempty"`
	DrainedTotal uint64  `json:"drainedTotal,omitempty"`
	// Generation counts the plans (1 for the first).
	Generation uint64 `json:"generation"`
}
