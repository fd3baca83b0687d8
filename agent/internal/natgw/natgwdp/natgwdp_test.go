package natgwdp

import (
	"net/netip"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/natgw"
)

func TestDerive(t *testing.T) {
	if o := Derive(&natgw.State{}); len(o.Pools)+len(o.Bindings)+len(o.StaticBlocks)+len(o.StaticNATs) != 0 {
		t.Fatalf("empty state derives %+v", o)
	}
	web := map[string]string{"app": "web"}
	vip := netip.MustParseAddr("203.0.113.3")
	nics := []natgw.NetworkInterface{
		{Name: "a", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}},
		{Name: "b", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}, // no IPv6: v4 only
		{Name: "c", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.3")}, VirtualIP: &vip, OutsideVRF: 4},
		{Name: "d", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.4")}}, // gateway full
	}
	g := natgw.NATGateway{
		Name: "gw", Type: natgw.TypePublic, IPFamilies: []natgw.Family{natgw.IPv4, natgw.IPv6}, Network: 1, OutsideVRF: 4,
		PortsPerNetworkInterface: 32768,
		IPs:                      []natgw.GatewayIP{{Name: "ip1", Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}}},
		NetworkInterfaceSelector: &natgw.Selector{MatchLabels: web},
	}
	var st natgw.State
	if _, err := st.Apply(nics, []natgw.NATGateway{g}); err != nil {
		t.Fatal(err)
	}
	o := Derive(&st)
	if len(o.Pools) != 2 {
		t.Fatalf("pools %+v", o.Pools)
	}
	for _, p := range o.Pools {
		if p.MaxBlocksPerSubscriber != MaxBlocksPerMember || p.BlockSize != 32768 || p.PortMin != 32768 || p.PortMax != 65535 ||
			p.OutsideVRF != 4 || len(p.Ranges) != 1 || p.Ranges[0].First != p.Ranges[0].Last {
			t.Errorf("pool %+v", p)
		}
	}
	// One address, one 32768-port block per family: only a (the first
	// by name) gets ports, in both families; b and d (gateway full) are
	// bound without a block, so the static-only pool drops their flows.
	bound := map[string]bool{}
	for _, b := range o.Bindings {
		bound[b.Prefix.Addr().String()] = true
	}
	for _, a := range []string{"10.0.0.1", "fd00::1", "10.0.0.2", "10.0.0.4"} {
		if !bound[a] {
			t.Errorf("%s is not bound (bindings %v)", a, o.Bindings)
		}
	}
	if bound["10.0.0.3"] {
		t.Errorf("c (virtual IP) is bound to the gateway: %v", o.Bindings)
	}
	if len(o.Bindings) != 4 || len(o.StaticBlocks) != 2 {
		t.Errorf("bindings %v, blocks %v", o.Bindings, o.StaticBlocks)
	}
	for _, sb := range o.StaticBlocks {
		if a := sb.InsideAddr.String(); a != "10.0.0.1" && a != "fd00::1" {
			t.Errorf("a member without ports has a block: %v", sb)
		}
	}
	if len(o.StaticNATs) != 1 || o.StaticNATs[0].Outside.String() != "203.0.113.3/32" || o.StaticNATs[0].OutsideVRF != 4 ||
		o.StaticNATs[0].Inside.String() != "10.0.0.3/32" {
		t.Errorf("static NAT %v", o.StaticNATs)
	}
}
