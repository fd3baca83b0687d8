package fuzzpkt

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

var ep = &Endpoints{
	Src:   []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10::2")},
	Dst:   []netip.Addr{netip.MustParseAddr("20.0.0.1"), netip.MustParseAddr("20::1")},
	Ports: []uint16{53, 80},
}

// TestDeterministic: one seed, one sequence; another seed, another.
func TestDeterministic(t *testing.T) {
	a, b, c := New(7), New(7), New(8)
	same := 0
	for i := 0; i < 2000; i++ {
		v6 := i%2 == 1
		pa, pb, pc := a.Next(ep, v6), b.Next(ep, v6), c.Next(ep, v6)
		if !bytes.Equal(pa.IP, pb.IP) || pa.Kind != pb.Kind {
			t.Fatalf("packet %d differs between two generators of seed 7", i)
		}
		if bytes.Equal(pa.IP, pc.IP) {
			same++
		}
	}
	if same > 100 {
		t.Errorf("seeds 7 and 8 gave %d equal packets of 2000", same)
	}
}

// TestCoverage: every generator and mutation shows up, families are
// right, and nothing panics over many packets.
func TestCoverage(t *testing.T) {
	g := New(1)
	kinds := map[string]int{}
	protos := map[uint8]bool{}
	for i := 0; i < 200000; i++ {
		v6 := i%2 == 1
		p := g.Next(ep, v6)
		base, mut, _ := strings.Cut(p.Kind, "+")
		kinds[base]++
		if mut != "" {
			kinds["+"+mut]++
		}
		if len(p.IP) > 0 && !strings.Contains(p.Kind, "+ihl") && !strings.Contains(p.Kind, "+flip") &&
			!strings.Contains(p.Kind, "+trunc") && p.IP[0]>>4 != map[bool]byte{false: 4, true: 6}[v6] {
			t.Fatalf("packet %d (%s) has version %d", i, p.Kind, p.IP[0]>>4)
		}
		if !v6 && len(p.IP) >= 20 {
			protos[p.IP[9]] = true
		}
	}
	for _, k := range []string{"tcp", "udp", "icmp-echo", "icmp-error", "proto", "+trunc", "+len", "+ihl", "+opts",
		"+frag", "+l4sum", "+ipsum", "+ttl", "+flip", "+trail", "+nol4", "+hlim"} {
		if kinds[k] == 0 {
			t.Errorf("no %s packet in 200000: %v", k, kinds)
		}
	}
	if len(protos) < 250 {
		t.Errorf("only %d IPv4 protocol numbers seen", len(protos))
	}
}
