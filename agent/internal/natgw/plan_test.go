package natgw

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
)

func nic(name string, network uint32, labels map[string]string, ips ...string) NetworkInterface {
	return NetworkInterface{Name: name, Network: network, Labels: labels, IPs: addrs(ips...)}
}

var web = map[string]string{"app": "web"}

func gw4(ports uint32, ips ...string) NATGateway {
	g := NATGateway{
		Name: "gw", Type: TypePublic, IPFamilies: []Family{IPv4}, Network: 1, PortsPerNetworkInterface: ports,
		NetworkInterfaceSelector: &Selector{MatchLabels: map[string]string{"app": "web"}},
	}
	for i, a := range ips {
		g.IPs = append(g.IPs, GatewayIP{Name: fmt.Sprintf("ip%d", i+1), Addresses: addrs(a)})
	}
	return g
}

// assignment is a compact view of a plan: interface -> "ipName:start-end".
func assignment(st Status) map[string]string {
	out := map[string]string{}
	for _, m := range st.Members {
		out[m.Interface] = m.IPName + ":" + m.Ports.String()
	}
	for _, u := range st.Unassigned {
		out[u.Interface] = "unassigned: " + u.Reason
	}
	return out
}

func TestBlockLayout(t *testing.T) {
	for _, tc := range []struct {
		p     uint32
		first uint32
		n     int
	}{
		{64, 1024, 1008}, {1024, 1024, 63}, {2048, 2048, 31}, {32768, 32768, 1}, {100, 0, 0}, {65536, 0, 0},
	} {
		first, n := BlockLayout(tc.p)
		if first != tc.first || n != tc.n {
			t.Errorf("BlockLayout(%d) = %d, %d; want %d, %d", tc.p, first, n, tc.first, tc.n)
		}
	}
}

func TestPlanBasic(t *testing.T) {
	g := gw4(64, "192.0.2.1")
	nics := []NetworkInterface{
		nic("c", 1, web, "10.0.0.3"),
		nic("a", 1, web, "10.0.0.1"),
		nic("b", 1, map[string]string{"app": "db"}, "10.0.0.2"), // not selected
		nic("d", 2, web, "10.1.0.1"),                            // other network
		{Name: "e", Network: 1, Labels: web, IPs: addrs("10.0.0.5"), VirtualIP: addrp("192.0.2.50")}, // virtual IP: not a member
		nic("f", 1, web, "fd00::6"), // no IPv4 address
	}
	st := Plan(&g, nics, nil)
	want := map[string]string{
		"a": "ip1:1024-1087",
		"c": "ip1:1088-1151",
		"f": "unassigned: " + noFamilyAddrReason,
	}
	if got := assignment(st); !reflect.DeepEqual(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	if st.PortsUsed != 128 || st.Generation != 1 || len(st.Drained) != 0 {
		t.Fatalf("portsUsed %d generation %d drained %v", st.PortsUsed, st.Generation, st.Drained)
	}
	m := st.Members[0]
	if len(m.Addresses) != 1 || m.Addresses[0] != (MemberAddress{Family: IPv4, Inside: netip.MustParseAddr("10.0.0.1"), Outside: netip.MustParseAddr("192.0.2.1")}) {
		t.Fatalf("member addresses %+v", m.Addresses)
	}
	// Same inputs, same plan; in any input order.
	rev := append([]NetworkInterface(nil), nics...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if again := Plan(&g, rev, nil); !reflect.DeepEqual(again, st) {
		t.Fatalf("not deterministic:\n%+v\n%+v", again, st)
	}
	// Re-planning without a change keeps the plan and its generation.
	if again := Plan(&g, nics, &st); !reflect.DeepEqual(again, st) {
		t.Fatalf("re-plan without change differs:\n%+v\n%+v", again, st)
	}
}

func TestPlanStabilityAndDrain(t *testing.T) {
	g := gw4(64, "192.0.2.1")
	nics := []NetworkInterface{nic("b", 1, web, "10.0.0.2"), nic("d", 1, web, "10.0.0.4")}
	st1 := Plan(&g, nics, nil)
	if got := assignment(st1); !reflect.DeepEqual(got, map[string]string{"b": "ip1:1024-1087", "d": "ip1:1088-1151"}) {
		t.Fatalf("plan 1: %v", got)
	}
	// "a" sorts first but joins later: b and d keep their blocks, a takes the next free one.
	nics = append(nics, nic("a", 1, web, "10.0.0.1"))
	st2 := Plan(&g, nics, &st1)
	if got := assignment(st2); !reflect.DeepEqual(got, map[string]string{"a": "ip1:1152-1215", "b": "ip1:1024-1087", "d": "ip1:1088-1151"}) {
		t.Fatalf("plan 2: %v", got)
	}
	if st2.Generation != 2 || len(st2.Drained) != 0 {
		t.Fatalf("plan 2: generation %d drained %v", st2.Generation, st2.Drained)
	}
	// b is labelled out: drained; its block is the first free one for a newcomer.
	nics[0].Labels = map[string]string{"app": "db"}
	st3 := Plan(&g, nics, &st2)
	wantDrain := []Block{{Interface: "b", Inside: netip.MustParseAddr("10.0.0.2"), Outside: netip.MustParseAddr("192.0.2.1"), Ports: PortRange{1024, 1087}}}
	if !reflect.DeepEqual(st3.Drained, wantDrain) || st3.DrainedTotal != 1 {
		t.Fatalf("plan 3 drained %+v total %d", st3.Drained, st3.DrainedTotal)
	}
	nics = append(nics, nic("e", 1, web, "10.0.0.5"))
	st4 := Plan(&g, nics, &st3)
	if got := assignment(st4); !reflect.DeepEqual(got, map[string]string{"a": "ip1:1152-1215", "d": "ip1:1088-1151", "e": "ip1:1024-1087"}) {
		t.Fatalf("plan 4: %v", got)
	}
	if len(st4.Drained) != 0 || st4.DrainedTotal != 1 {
		t.Fatalf("plan 4 drained %v total %d", st4.Drained, st4.DrainedTotal)
	}
	// d gets a virtual IP: it leaves the gateway (drained).
	nics[1].VirtualIP = addrp("192.0.2.99")
	st5 := Plan(&g, nics, &st4)
	if _, ok := assignment(st5)["d"]; ok || len(st5.Drained) != 1 || st5.Drained[0].Interface != "d" {
		t.Fatalf("plan 5: %v drained %v", assignment(st5), st5.Drained)
	}
	// A member whose private address changes keeps its block; the old mapping drains.
	nics[2].IPs = addrs("10.0.0.100")
	st6 := Plan(&g, nics, &st5)
	if got := assignment(st6)["a"]; got != "ip1:1152-1215" || len(st6.Drained) != 1 || st6.Drained[0].Inside != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("plan 6: a %s drained %v", got, st6.Drained)
	}
}

func TestPlanFull(t *testing.T) {
	g := gw4(32768, "192.0.2.1", "192.0.2.2") // one block per address: two slots
	nics := []NetworkInterface{nic("c", 1, web, "10.0.0.3"), nic("a", 1, web, "10.0.0.1"), nic("b", 1, web, "10.0.0.2")}
	st := Plan(&g, nics, nil)
	want := map[string]string{"a": "ip1:32768-65535", "b": "ip2:32768-65535", "c": "unassigned: gateway full"}
	if got := assignment(st); !reflect.DeepEqual(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	if st.PortsUsed != 65536 {
		t.Fatalf("portsUsed %d", st.PortsUsed)
	}
	// a leaves: c (still waiting) gets its slot, b keeps its own.
	st2 := Plan(&g, []NetworkInterface{nics[0], nics[2]}, &st)
	want = map[string]string{"b": "ip2:32768-65535", "c": "ip1:32768-65535"}
	if got := assignment(st2); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a left: %v, want %v", got, want)
	}
}

func TestPlanReplanIPsAndPorts(t *testing.T) {
	g := gw4(64, "192.0.2.1", "192.0.2.2")
	var nics []NetworkInterface
	for i := range 4 {
		nics = append(nics, nic(fmt.Sprintf("n%d", i), 1, web, fmt.Sprintf("10.0.0.%d", i+1)))
	}
	st := Plan(&g, nics, nil)
	// Move n1 and n3 to ip2 by hand (as if they had joined when ip1 was full).
	st.Members[1].IPName, st.Members[3].IPName = "ip2", "ip2"
	st = Plan(&g, nics, &st)
	want := map[string]string{"n0": "ip1:1024-1087", "n1": "ip2:1088-1151", "n2": "ip1:1152-1215", "n3": "ip2:1216-1279"}
	if got := assignment(st); !reflect.DeepEqual(got, want) {
		t.Fatalf("kept slots: %v, want %v", got, want)
	}
	// ip2 is removed: n1 and n3 are re-planned into free ip1 blocks, the rest stay.
	g.IPs = g.IPs[:1]
	st2 := Plan(&g, nics, &st)
	want = map[string]string{"n0": "ip1:1024-1087", "n1": "ip1:1088-1151", "n2": "ip1:1152-1215", "n3": "ip1:1216-1279"}
	if got := assignment(st2); !reflect.DeepEqual(got, want) {
		t.Fatalf("ip2 removed: %v, want %v", got, want)
	}
	if len(st2.Drained) != 2 {
		t.Fatalf("drained %v", st2.Drained)
	}
	// Blocks grow to 128: starts aligned to 128 keep their start (n0 1024, n2 1152); n1, n3 move.
	g.PortsPerNetworkInterface = 128
	st3 := Plan(&g, nics, &st2)
	want = map[string]string{"n0": "ip1:1024-1151", "n1": "ip1:1280-1407", "n2": "ip1:1152-1279", "n3": "ip1:1408-1535"}
	if got := assignment(st3); !reflect.DeepEqual(got, want) {
		t.Fatalf("ports 128: %v, want %v", got, want)
	}
	if len(st3.Drained) != 4 || st3.PortsUsed != 512 {
		t.Fatalf("ports 128: drained %d (every range changed), portsUsed %d", len(st3.Drained), st3.PortsUsed)
	}
	// Blocks shrink to 64: every start is still aligned, so everyone keeps its start.
	g.PortsPerNetworkInterface = 64
	st4 := Plan(&g, nics, &st3)
	want = map[string]string{"n0": "ip1:1024-1087", "n1": "ip1:1280-1343", "n2": "ip1:1152-1215", "n3": "ip1:1408-1471"}
	if got := assignment(st4); !reflect.DeepEqual(got, want) {
		t.Fatalf("ports 64: %v, want %v", got, want)
	}
	// An address change under the same name: same slots, old mappings drain.
	g.IPs[0].Addresses = addrs("192.0.2.7")
	st5 := Plan(&g, nics, &st4)
	if got := assignment(st5); !reflect.DeepEqual(got, want) || len(st5.Drained) != 4 || st5.Members[0].Addresses[0].Outside != netip.MustParseAddr("192.0.2.7") {
		t.Fatalf("address change: %v drained %d", got, len(st5.Drained))
	}
}

func TestPlanDualStack(t *testing.T) {
	g := NATGateway{
		Name: "gw", Type: TypePublic, IPFamilies: []Family{IPv4, IPv6}, Network: 1, PortsPerNetworkInterface: 1024,
		IPs:                      []GatewayIP{{Name: "ip1", Addresses: addrs("192.0.2.1", "2001:db8::1")}},
		NetworkInterfaceSelector: &Selector{},
	}
	nics := []NetworkInterface{
		nic("both", 1, nil, "10.0.0.1", "fd00::1", "fd00::2"),
		nic("v6only", 1, nil, "fd00::3"),
	}
	st := Plan(&g, nics, nil)
	want := []Member{
		{Interface: "both", IPName: "ip1", Ports: PortRange{1024, 2047}, Addresses: []MemberAddress{
			{IPv4, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.1")},
			{IPv6, netip.MustParseAddr("fd00::1"), netip.MustParseAddr("2001:db8::1")},
		}},
		{Interface: "v6only", IPName: "ip1", Ports: PortRange{2048, 3071}, Addresses: []MemberAddress{
			{IPv6, netip.MustParseAddr("fd00::3"), netip.MustParseAddr("2001:db8::1")},
		}},
	}
	if !reflect.DeepEqual(st.Members, want) {
		t.Fatalf("members %+v", st.Members)
	}
	var sp Specs
	GatewaySpecs(&g, &st, &sp)
	if len(sp.Pools) != 2 || sp.Pools[0].Name != "natgw.gw.v4" || sp.Pools[1].Name != "natgw.gw.v6" ||
		sp.Pools[0].BlockSize != 1024 || sp.Pools[0].PortMin != 1024 || sp.Pools[0].PortMax != 65535 || !sp.Pools[1].StaticOnly ||
		!reflect.DeepEqual(sp.Pools[1].Addresses, addrs("2001:db8::1")) {
		t.Fatalf("pools %+v", sp.Pools)
	}
	wantB := []BindingSpec{
		{"natgw.gw.v4", 1, netip.MustParsePrefix("10.0.0.1/32")},
		{"natgw.gw.v6", 1, netip.MustParsePrefix("fd00::1/128")},
		{"natgw.gw.v6", 1, netip.MustParsePrefix("fd00::3/128")},
	}
	if !reflect.DeepEqual(sp.Bindings, wantB) {
		t.Fatalf("bindings %+v", sp.Bindings)
	}
	if len(sp.StaticBlocks) != 3 || sp.StaticBlocks[2] != (StaticBlockSpec{"natgw.gw.v6", 1, netip.MustParseAddr("fd00::3"), netip.MustParseAddr("2001:db8::1"), 2048}) {
		t.Fatalf("static blocks %+v", sp.StaticBlocks)
	}
}

func TestPlanAllClaims(t *testing.T) {
	mk := func(name, a string) NATGateway {
		g := gw4(64, a)
		g.Name = name
		return g
	}
	gws := []NATGateway{mk("zeta", "192.0.2.2"), mk("alpha", "192.0.2.1")}
	nics := []NetworkInterface{nic("n1", 1, web, "10.0.0.1")}
	plans := PlanAll(gws, nics, nil)
	if plans[0].Gateway != "alpha" || len(plans[0].Members) != 1 {
		t.Fatalf("alpha %+v", plans[0])
	}
	if len(plans[1].Members) != 0 || len(plans[1].Unassigned) != 1 || plans[1].Unassigned[0].Reason != `selected by gateway "alpha" too (the first by name wins)` {
		t.Fatalf("zeta %+v", plans[1])
	}
}

func TestStaticNATs(t *testing.T) {
	nics := []NetworkInterface{
		{Name: "b", Network: 2, IPs: addrs("10.0.0.2", "fd00::2"), VirtualIP: addrp("2001:db8::9"), OutsideVRF: 7},
		{Name: "a", Network: 1, IPs: addrs("10.0.0.1"), VirtualIP: addrp("192.0.2.9")},
		nic("c", 1, nil, "10.0.0.3"),
	}
	got := StaticNATs(nics)
	want := []StaticNATSpec{
		{1, netip.MustParseAddr("10.0.0.1"), 0, netip.MustParseAddr("192.0.2.9")},
		{2, netip.MustParseAddr("fd00::2"), 7, netip.MustParseAddr("2001:db8::9")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("static NATs %+v", got)
	}
}

// An unvalidated block size gives no slots, never a panic.
func TestPlanInvalidPortsNoPanic(t *testing.T) {
	nics := []NetworkInterface{nic("a", 1, web, "10.0.0.1")}
	for _, p := range []uint32{0, 3, 100, 65536, 1 << 31} {
		g := gw4(64, "192.0.2.1")
		prev := Plan(&g, nics, nil)
		g.PortsPerNetworkInterface = p
		st := Plan(&g, nics, &prev)
		if len(st.Members) != 0 || len(st.Unassigned) != 1 || st.Unassigned[0].Reason != ReasonGatewayFull {
			t.Fatalf("ports %d: %+v", p, st)
		}
	}
}
