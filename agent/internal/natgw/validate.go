package natgw

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
)

// ValidateName checks a gateway name: a DNS label (1-63 lower-case
// alphanumerics and '-'), so that pool names derived from it stay short.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("name: required")
	}
	if err := validateDNSLabel(name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	return nil
}

// ValidateInterfaceName checks an interface name: a DNS subdomain of at
// most 253 characters.
func ValidateInterfaceName(name string) error {
	if name == "" {
		return fmt.Errorf("name: required")
	}
	if err := validateDNSSubdomain(name, MaxInterfaceNameLen); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	return nil
}

// privateAddr checks one address of an interface.
func checkAddr(field string, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return fmt.Errorf("%s: not an IP address", field)
	case a.Zone() != "":
		return fmt.Errorf("%s: %s has a zone", field, a)
	case a.Is4In6():
		return fmt.Errorf("%s: %s is an IPv4-mapped IPv6 address; write it as IPv4", field, a)
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback(), a.IsLinkLocalUnicast():
		return fmt.Errorf("%s: %s is not a unicast address", field, a)
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s: %s is the broadcast address", field, a)
	}
	return nil
}

// ValidateInterface checks an interface on its own.
func ValidateInterface(n *NetworkInterface) error {
	if err := ValidateInterfaceName(n.Name); err != nil {
		return err
	}
	if err := checkVRFs(n.Network, n.OutsideVRF); err != nil {
		return err
	}
	if len(n.Labels) > MaxLabels {
		return fmt.Errorf("labels: %d labels, at most %d", len(n.Labels), MaxLabels)
	}
	if err := ValidateLabels("labels", n.Labels); err != nil {
		return err
	}
	switch {
	case len(n.IPs) == 0:
		return fmt.Errorf("ips: at least one private address is required")
	case len(n.IPs) > MaxInterfaceIPs:
		return fmt.Errorf("ips: %d addresses, at most %d", len(n.IPs), MaxInterfaceIPs)
	}
	for i, a := range n.IPs {
		f := fmt.Sprintf("ips[%d]", i)
		if err := checkAddr(f, a); err != nil {
			return err
		}
		if j := slices.Index(n.IPs[:i], a); j >= 0 {
			return fmt.Errorf("%s: %s repeats ips[%d]", f, a, j)
		}
	}
	if n.VirtualIP != nil {
		v := *n.VirtualIP
		if err := checkAddr("virtualIP", v); err != nil {
			return err
		}
		if _, ok := n.FirstIP(FamilyOf(v)); !ok {
			return fmt.Errorf("virtualIP: %s is %s but the interface has no %s address", v, FamilyOf(v), FamilyOf(v))
		}
	}
	return nil
}

// FirstIP is the interface's first address of family f: the one a gateway
// translates and a virtual IP maps.
func (n *NetworkInterface) FirstIP(f Family) (netip.Addr, bool) {
	for _, a := range n.IPs {
		if FamilyOf(a) == f {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// IsPowerOfTwo says whether v is a power of two.
func IsPowerOfTwo(v uint32) bool { return v != 0 && bits.OnesCount32(v) == 1 }

// ValidateGateway checks a gateway on its own. A zero
// PortsPerNetworkInterface must have been defaulted before (Defaults).
func ValidateGateway(g *NATGateway) error {
	if err := ValidateName(g.Name); err != nil {
		return err
	}
	if err := checkVRFs(g.Network, g.OutsideVRF); err != nil {
		return err
	}
	if g.Type != TypePublic {
		return fmt.Errorf("type: %q is not supported (only %q)", g.Type, TypePublic)
	}
	switch len(g.IPFamilies) {
	case 1:
	case 2:
		if g.IPFamilies[0] == g.IPFamilies[1] {
			return fmt.Errorf("ipFamilies: %s twice", g.IPFamilies[0])
		}
	case 0:
		return fmt.Errorf("ipFamilies: required (IPv4, IPv6 or both)")
	default:
		return fmt.Errorf("ipFamilies: %d entries, at most 2 (IPv4, IPv6)", len(g.IPFamilies))
	}
	for i, f := range g.IPFamilies {
		if f != IPv4 && f != IPv6 {
			return fmt.Errorf("ipFamilies[%d]: %q is not IPv4 or IPv6", i, f)
		}
	}
	p := g.PortsPerNetworkInterface
	if !IsPowerOfTwo(p) || p < MinPortsPerInterface || p > MaxPortsPerInterface {
		return fmt.Errorf("portsPerNetworkInterface: %d is not a power of two from %d to %d", p, MinPortsPerInterface, MaxPortsPerInterface)
	}
	switch {
	case len(g.IPs) == 0:
		return fmt.Errorf("ips: at least one entry is required")
	case len(g.IPs) > MaxGatewayIPs:
		return fmt.Errorf("ips: %d entries, at most %d", len(g.IPs), MaxGatewayIPs)
	}
	seen := map[netip.Addr]string{}
	for i, ip := range g.IPs {
		f := fmt.Sprintf("ips[%d]", i)
		if err := validateDNSLabel(ip.Name); err != nil {
			return fmt.Errorf("%s.name: %w", f, err)
		}
		if j := slices.IndexFunc(g.IPs[:i], func(x GatewayIP) bool { return x.Name == ip.Name }); j >= 0 {
			return fmt.Errorf("%s.name: %q repeats ips[%d]", f, ip.Name, j)
		}
		if len(ip.Addresses) != len(g.IPFamilies) {
			return fmt.Errorf("%s: %d address(es) for %d ip famil%s; want one per family %v", f, len(ip.Addresses), len(g.IPFamilies), plural(len(g.IPFamilies), "y", "ies"), g.IPFamilies)
		}
		fams := map[Family]bool{}
		for j, a := range ip.Addresses {
			af := fmt.Sprintf("%s.ip[%d]", f, j)
			if err := checkAddr(af, a); err != nil {
				return err
			}
			fam := FamilyOf(a)
			if !g.HasFamily(fam) {
				return fmt.Errorf("%s: %s is %s, not one of the gateway's ipFamilies %v", af, a, fam, g.IPFamilies)
			}
			if fams[fam] {
				return fmt.Errorf("%s: a second %s address (%s); want one per family", af, fam, a)
			}
			fams[fam] = true
			if other, ok := seen[a]; ok {
				return fmt.Errorf("%s: %s is already the address of %s", af, a, other)
			}
			seen[a] = f
		}
	}
	return ValidateSelector("networkInterfaceSelector", g.NetworkInterfaceSelector)
}

// reservedVRF means "all VRFs" elsewhere in the API.
const reservedVRF = ^uint32(0)

func checkVRFs(network, outside uint32) error {
	if network == reservedVRF {
		return fmt.Errorf("network: %d is reserved (it means all VRFs)", network)
	}
	if outside == reservedVRF {
		return fmt.Errorf("outsideVRF: %d is reserved (it means all VRFs)", outside)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Defaults fills IEP-4's defaults: type Public, ipFamilies [IPv4] (or
// those of the first ips entry), 64 ports per interface.
func Defaults(g *NATGateway) {
	if g.Type == "" {
		g.Type = TypePublic
	}
	if len(g.IPFamilies) == 0 {
		if len(g.IPs) > 0 && len(g.IPs[0].Addresses) > 0 {
			for _, a := range g.IPs[0].Addresses {
				if f := FamilyOf(a); !slices.Contains(g.IPFamilies, f) && a.IsValid() {
					g.IPFamilies = append(g.IPFamilies, f)
				}
			}
		} else {
			g.IPFamilies = []Family{IPv4}
		}
	}
	if g.PortsPerNetworkInterface == 0 {
		g.PortsPerNetworkInterface = DefaultPortsPerInterface
	}
}

// addrKey names a public address in its table.
type addrKey struct {
	vrf  uint32
	addr netip.Addr
}

// CheckConflicts refuses a set of interfaces and gateways in which a
// public address is claimed twice in one outside table (by two gateways,
// a gateway and a virtual IP, or two virtual IPs) or a private address
// belongs to two interfaces of one network. Objects are
// checked in the order given; the error names both claimants.
func CheckConflicts(nics []NetworkInterface, gws []NATGateway) error {
	owner := map[addrKey]string{}
	claim := func(k addrKey, who string) error {
		if prev, ok := owner[k]; ok && prev != who {
			return fmt.Errorf("%s in vrf %d: claimed by %s and by %s", k.addr, k.vrf, prev, who)
		}
		owner[k] = who
		return nil
	}
	for i := range gws {
		g := &gws[i]
		for _, ip := range g.IPs {
			for _, a := range ip.Addresses {
				if err := claim(addrKey{g.OutsideVRF, a}, "natgw "+g.Name); err != nil {
					return err
				}
			}
		}
	}
	type privKey struct {
		network uint32
		addr    netip.Addr
	}
	private := map[privKey]string{}
	for i := range nics {
		n := &nics[i]
		for _, a := range n.IPs {
			k := privKey{n.Network, a}
			if prev, ok := private[k]; ok && prev != n.Name {
				return fmt.Errorf("%s in network %d: the address of nic %s and of nic %s", a, n.Network, prev, n.Name)
			}
			private[k] = n.Name
		}
		if n.VirtualIP != nil {
			if err := claim(addrKey{n.OutsideVRF, *n.VirtualIP}, "the virtual IP of nic "+n.Name); err != nil {
				return err
			}
		}
	}
	return nil
}
