package natgw

import (
	"net/netip"
	"testing"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func addrp(s string) *netip.Addr {
	a := netip.MustParseAddr(s)
	return &a
}

func TestValidateInterface(t *testing.T) {
	ok := func() NetworkInterface {
		return NetworkInterface{Name: "nic-1", Network: 1, Labels: map[string]string{"app": "web"}, IPs: addrs("10.0.0.1", "fd00::1")}
	}
	for _, tc := range []struct {
		name string
		edit func(n *NetworkInterface)
		err  string
	}{
		{"ok", func(*NetworkInterface) {}, ""},
		{"virtual IP ok", func(n *NetworkInterface) { n.VirtualIP = addrp("192.0.2.10") }, ""},
		{"no name", func(n *NetworkInterface) { n.Name = "" }, "name: required"},
		{"reserved network", func(n *NetworkInterface) { n.Network = ^uint32(0) }, "network: 4294967295 is reserved"},
		{"bad name", func(n *NetworkInterface) { n.Name = "Nic_1" }, "name: "},
		{"no ips", func(n *NetworkInterface) { n.IPs = nil }, "ips: at least one private address is required"},
		{"too many ips", func(n *NetworkInterface) { n.IPs = make([]netip.Addr, MaxInterfaceIPs+1) }, "ips: 9 addresses, at most 8"},
		{"invalid ip", func(n *NetworkInterface) { n.IPs = []netip.Addr{{}} }, "ips[0]: not an IP address"},
		{"multicast", func(n *NetworkInterface) { n.IPs = addrs("10.0.0.1", "224.0.0.1") }, "ips[1]: 224.0.0.1 is not a unicast address"},
		{"mapped", func(n *NetworkInterface) { n.IPs = addrs("::ffff:10.0.0.1") }, "IPv4-mapped"},
		{"repeat", func(n *NetworkInterface) { n.IPs = addrs("10.0.0.1", "10.0.0.1") }, "ips[1]: 10.0.0.1 repeats ips[0]"},
		{"bad label", func(n *NetworkInterface) { n.Labels = map[string]string{"app": "we b"} }, "labels[app]"},
		{"vip family", func(n *NetworkInterface) { n.IPs = addrs("10.0.0.1"); n.VirtualIP = addrp("2001:db8::1") }, "virtualIP: 2001:db8::1 is IPv6 but the interface has no IPv6 address"},
		{"vip unspecified", func(n *NetworkInterface) { n.VirtualIP = addrp("0.0.0.0") }, "virtualIP: 0.0.0.0 is not a unicast address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := ok()
			tc.edit(&n)
			checkErr(t, ValidateInterface(&n), tc.err)
		})
	}
}

func TestValidateGateway(t *testing.T) {
	ok := func() NATGateway {
		return NATGateway{
			Name: "gw", Type: TypePublic, IPFamilies: []Family{IPv4, IPv6}, Network: 1,
			IPs:                      []GatewayIP{{Name: "ip1", Addresses: addrs("192.0.2.1", "2001:db8::1")}},
			PortsPerNetworkInterface: 64, NetworkInterfaceSelector: &Selector{MatchLabels: map[string]string{"app": "web"}},
		}
	}
	for _, tc := range []struct {
		name string
		edit func(g *NATGateway)
		err  string
	}{
		{"ok", func(*NATGateway) {}, ""},
		{"max ports", func(g *NATGateway) { g.PortsPerNetworkInterface = MaxPortsPerInterface }, ""},
		{"bad name", func(g *NATGateway) { g.Name = "gw.1" }, `name: "gw.1": character '.'`},
		{"reserved outside vrf", func(g *NATGateway) { g.OutsideVRF = ^uint32(0) }, "outsideVRF: 4294967295 is reserved"},
		{"type", func(g *NATGateway) { g.Type = "Private" }, `type: "Private" is not supported (only "Public")`},
		{"no families", func(g *NATGateway) { g.IPFamilies = nil }, "ipFamilies: required"},
		{"family twice", func(g *NATGateway) { g.IPFamilies = []Family{IPv4, IPv4} }, "ipFamilies: IPv4 twice"},
		{"bad family", func(g *NATGateway) { g.IPFamilies = []Family{"IPv5"} }, `ipFamilies[0]: "IPv5" is not IPv4 or IPv6`},
		{"ports not power of two", func(g *NATGateway) { g.PortsPerNetworkInterface = 100 }, "portsPerNetworkInterface: 100 is not a power of two from 64 to 32768"},
		{"ports too small", func(g *NATGateway) { g.PortsPerNetworkInterface = 32 }, "portsPerNetworkInterface: 32"},
		{"ports too big", func(g *NATGateway) { g.PortsPerNetworkInterface = 65536 }, "portsPerNetworkInterface: 65536"},
		{"no ips", func(g *NATGateway) { g.IPs = nil }, "ips: at least one entry is required"},
		{"one address for two families", func(g *NATGateway) { g.IPs[0].Addresses = addrs("192.0.2.1") }, "ips[0]: 1 address(es) for 2 ip families"},
		{"two v4", func(g *NATGateway) { g.IPs[0].Addresses = addrs("192.0.2.1", "192.0.2.2") }, "ips[0].ip[1]: a second IPv4 address (192.0.2.2)"},
		{"family not served", func(g *NATGateway) {
			g.IPFamilies = []Family{IPv4}
			g.IPs[0].Addresses = addrs("2001:db8::1")
		}, "ips[0].ip[0]: 2001:db8::1 is IPv6, not one of the gateway's ipFamilies [IPv4]"},
		{"name repeats", func(g *NATGateway) {
			g.IPs = append(g.IPs, GatewayIP{Name: "ip1", Addresses: addrs("192.0.2.2", "2001:db8::2")})
		}, `ips[1].name: "ip1" repeats ips[0]`},
		{"address repeats", func(g *NATGateway) {
			g.IPs = append(g.IPs, GatewayIP{Name: "ip2", Addresses: addrs("192.0.2.1", "2001:db8::2")})
		}, "ips[1].ip[0]: 192.0.2.1 is already the address of ips[0]"},
		{"bad ip name", func(g *NATGateway) { g.IPs[0].Name = "" }, "ips[0].name: empty DNS label"},
		{"too many ips", func(g *NATGateway) { g.IPs = make([]GatewayIP, MaxGatewayIPs+1) }, "ips: 65 entries, at most 64"},
		{"bad selector", func(g *NATGateway) {
			g.NetworkInterfaceSelector = &Selector{MatchExpressions: []Requirement{{Key: "a", Operator: OpIn}}}
		}, "networkInterfaceSelector.matchExpressions[0].values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ok()
			tc.edit(&g)
			checkErr(t, ValidateGateway(&g), tc.err)
		})
	}
}

func TestDefaults(t *testing.T) {
	g := NATGateway{Name: "gw", IPs: []GatewayIP{{Name: "a", Addresses: addrs("2001:db8::1")}}}
	Defaults(&g)
	if g.Type != TypePublic || len(g.IPFamilies) != 1 || g.IPFamilies[0] != IPv6 || g.PortsPerNetworkInterface != 64 {
		t.Fatalf("defaults: %+v", g)
	}
	g = NATGateway{Name: "gw"}
	Defaults(&g)
	if len(g.IPFamilies) != 1 || g.IPFamilies[0] != IPv4 {
		t.Fatalf("defaults without ips: %+v", g.IPFamilies)
	}
}

func TestCheckConflicts(t *testing.T) {
	gw := func(name string, vrf uint32, a string) NATGateway {
		return NATGateway{Name: name, OutsideVRF: vrf, IPs: []GatewayIP{{Name: "ip", Addresses: addrs(a)}}}
	}
	for _, tc := range []struct {
		name string
		nics []NetworkInterface
		gws  []NATGateway
		err  string
	}{
		{"ok", []NetworkInterface{{Name: "a", Network: 1, IPs: addrs("10.0.0.1"), VirtualIP: addrp("192.0.2.9")}}, []NATGateway{gw("g1", 0, "192.0.2.1"), gw("g2", 0, "192.0.2.2")}, ""},
		{"same address other vrf", nil, []NATGateway{gw("g1", 0, "192.0.2.1"), gw("g2", 5, "192.0.2.1")}, ""},
		{"two gateways", nil, []NATGateway{gw("g1", 0, "192.0.2.1"), gw("g2", 0, "192.0.2.1")}, "192.0.2.1 in vrf 0: claimed by natgw g1 and by natgw g2"},
		{"gateway and vip", []NetworkInterface{{Name: "a", IPs: addrs("10.0.0.1"), VirtualIP: addrp("192.0.2.1")}}, []NATGateway{gw("g1", 0, "192.0.2.1")}, "claimed by natgw g1 and by the virtual IP of nic a"},
		{"two vips", []NetworkInterface{
			{Name: "a", IPs: addrs("10.0.0.1"), VirtualIP: addrp("192.0.2.1")},
			{Name: "b", IPs: addrs("10.0.0.2"), VirtualIP: addrp("192.0.2.1")},
		}, nil, "claimed by the virtual IP of nic a and by the virtual IP of nic b"},
		{"same private address", []NetworkInterface{{Name: "a", Network: 1, IPs: addrs("10.0.0.1")}, {Name: "b", Network: 1, IPs: addrs("10.0.0.1")}}, nil, "10.0.0.1 in network 1: the address of nic a and of nic b"},
		{"same private address other network", []NetworkInterface{{Name: "a", Network: 1, IPs: addrs("10.0.0.1")}, {Name: "b", Network: 2, IPs: addrs("10.0.0.1")}}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, CheckConflicts(tc.nics, tc.gws), tc.err)
		})
	}
}
