package natgw

import (
	"fmt"
	"net/netip"
	"testing"
)

// scaleGateway has 10 addresses x 1008 blocks of 64 ports: 10,080 slots.
func scaleGateway() NATGateway {
	g := NATGateway{
		Name: "big", Type: TypePublic, IPFamilies: []Family{IPv4}, Network: 1, PortsPerNetworkInterface: 64,
		NetworkInterfaceSelector: &Selector{MatchExpressions: []Requirement{{Key: "natgw", Operator: OpIn, Values: []string{"big"}}}},
	}
	for i := range 10 {
		g.IPs = append(g.IPs, GatewayIP{Name: fmt.Sprintf("ip%d", i), Addresses: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})}})
	}
	return g
}

func scaleInterfaces(n int) []NetworkInterface {
	nics := make([]NetworkInterface, n)
	for i := range nics {
		nics[i] = NetworkInterface{
			Name: fmt.Sprintf("nic-%05d", i), Network: 1,
			Labels: map[string]string{"natgw": "big", "shard": fmt.Sprint(i % 4)},
			IPs:    []netip.Addr{netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})},
		}
	}
	return nics
}

// selectorChange drops shard 0 from the gateway.
func selectorChange(g *NATGateway) {
	g.NetworkInterfaceSelector = &Selector{MatchExpressions: []Requirement{
		{Key: "natgw", Operator: OpIn, Values: []string{"big"}},
		{Key: "shard", Operator: OpNotIn, Values: []string{"0"}},
	}}
}

// TestPlan10k checks correctness (not timing) at 10,000 interfaces.
func TestPlan10k(t *testing.T) {
	g := scaleGateway()
	nics := scaleInterfaces(10000)
	st := Plan(&g, nics, nil)
	if len(st.Members) != 10000 || len(st.Unassigned) != 0 || st.PortsUsed != 640000 {
		t.Fatalf("members %d unassigned %d portsUsed %d", len(st.Members), len(st.Unassigned), st.PortsUsed)
	}
	seen := map[string]bool{}
	for _, m := range st.Members {
		k := m.IPName + m.Ports.String()
		if seen[k] {
			t.Fatalf("block %s handed out twice", k)
		}
		seen[k] = true
		if m.Ports.Start < FirstPort || m.Ports.End-m.Ports.Start != 63 || (m.Ports.Start-FirstPort)%64 != 0 {
			t.Fatalf("bad block %+v", m)
		}
	}
	// The 10,081st interface finds the gateway full.
	more := append(nics, NetworkInterface{Name: "nic-x1", Network: 1, Labels: map[string]string{"natgw": "big"}, IPs: []netip.Addr{netip.MustParseAddr("10.9.0.1")}})
	for i := range 80 {
		more = append(more, NetworkInterface{Name: fmt.Sprintf("nic-y%02d", i), Network: 1, Labels: map[string]string{"natgw": "big"}, IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 10, 0, byte(i)})}})
	}
	full := Plan(&g, more, &st)
	if len(full.Members) != 10080 || len(full.Unassigned) != 1 || full.Unassigned[0].Reason != ReasonGatewayFull || len(full.Drained) != 0 {
		t.Fatalf("full: members %d unassigned %v drained %d", len(full.Members), full.Unassigned, len(full.Drained))
	}

	// Selector change: a quarter leaves and drains; the rest keep their blocks.
	before := map[string]Member{}
	for _, m := range st.Members {
		before[m.Interface] = m
	}
	selectorChange(&g)
	st2 := Plan(&g, nics, &st)
	if len(st2.Members) != 7500 || len(st2.Drained) != 2500 || st2.DrainedTotal != 2500 {
		t.Fatalf("after selector change: members %d drained %d", len(st2.Members), len(st2.Drained))
	}
	for _, m := range st2.Members {
		if b := before[m.Interface]; b.IPName != m.IPName || b.Ports != m.Ports {
			t.Fatalf("%s moved from %s %s to %s %s", m.Interface, b.IPName, b.Ports, m.IPName, m.Ports)
		}
	}
	// Same inputs, same plan.
	if again := Plan(&g, nics, &st); again.Generation != st2.Generation || len(again.Members) != len(st2.Members) {
		t.Fatal("re-plan not reproducible")
	}
}

func BenchmarkPlan10k(b *testing.B) {
	g := scaleGateway()
	nics := scaleInterfaces(10000)
	b.ReportAllocs()
	for b.Loop() {
		st := Plan(&g, nics, nil)
		if len(st.Members) != 10000 {
			b.Fatal(len(st.Members))
		}
	}
}

func BenchmarkReplanSelectorChange10k(b *testing.B) {
	g := scaleGateway()
	nics := scaleInterfaces(10000)
	prev := Plan(&g, nics, nil)
	changed := g
	selectorChange(&changed)
	b.ReportAllocs()
	for b.Loop() {
		st := Plan(&changed, nics, &prev)
		if len(st.Drained) != 2500 {
			b.Fatal(len(st.Drained))
		}
	}
}

// BenchmarkStatePut10k is one interface write (conflict check and re-plan
// of the gateway) into a State that holds 10,000 interfaces.
func BenchmarkStatePut10k(b *testing.B) {
	g := scaleGateway()
	nics := scaleInterfaces(10000)
	var s State
	if _, err := s.PutGateway(g); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Apply(nics, nil); err != nil {
		b.Fatal(err)
	}
	n := nics[5000]
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n.Labels = map[string]string{"natgw": "big", "round": fmt.Sprint(i % 2)}
		if _, err := s.PutInterface(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStateApply10k programs 10,000 interfaces into a gateway in one
// Apply (one conflict check, one plan), as `cloudnatctl apply` does.
func BenchmarkStateApply10k(b *testing.B) {
	g := scaleGateway()
	nics := scaleInterfaces(10000)
	b.ReportAllocs()
	for b.Loop() {
		var s State
		if _, err := s.Apply(nics, []NATGateway{g}); err != nil {
			b.Fatal(err)
		}
		if len(s.Plans[0].Members) != 10000 {
			b.Fatal(len(s.Plans[0].Members))
		}
	}
}
