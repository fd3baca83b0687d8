package plugin

import (
	"encoding/binary"
	"fmt"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// enableSNAT gives the default table the family's SNAT address and turns the
// feature on for pg0 (inside).
func enableSNAT(t *testing.T, tp *topo, f family) {
	t.Helper()
	tp.cli(t, "cnat snat with %s", f.snat())
	tp.cli(t, "set interface feature pg0 %s arc %s-unicast", f.snatFeature(), f.arc())
}

// newSNATTopo is a topology with source NAT on pg0 in both families.
func newSNATTopo(t *testing.T) *topo {
	t.Helper()
	tp := newTopo(t)
	for _, f := range families {
		enableSNAT(t, tp, f)
	}
	return tp
}

// far is pg1's host outside every exclusion used here.
func (tp *topo) far(f family) vh.Host { return tp.pg1.Hosts[farHost] }

// TestSNAT: new flows from inside leave from the SNAT address keeping their
// source port (echo id); replies are restored; a second destination reuses
// the mapping (endpoint-independent).
func TestSNAT(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				c := tp.client(0, f)
				far := tp.far(f).IP(f.v6)
				p := flow(c, far, pr, 1234, 53)
				got := tp.one(t, tp.pg0, p, tp.pg1)
				want(t, "forward (port kept)", got, f.snat(), 1234, far, p.DstPort)
				back := tp.one(t, tp.pg1, replyTo(tp.pg1, got, vh.SYN|vh.ACK), tp.pg0)
				want(t, "reply restored", back, far, p.DstPort, c.Src, 1234)
				if pr == vh.ICMP && back.ICMP != vh.EchoReply {
					t.Errorf("reply: got %s, want echo reply", back)
				}
				// Same inside endpoint, other destination: same mapping.
				other := tp.pg1.Hosts[0].IP(f.v6)
				got2 := tp.one(t, tp.pg0, flow(c, other, pr, 1234, 54), tp.pg1)
				want(t, "second destination (EIM)", got2, f.snat(), 1234, other, 0)
				back2 := tp.one(t, tp.pg1, replyTo(tp.pg1, got2, vh.SYN|vh.ACK), tp.pg0)
				want(t, "second destination's reply", back2, other, 0, c.Src, 1234)
			})
		}
	}
}

// TestSNATPortInUseGetsAnother: a second inside host with the same source
// port (echo id) gets another one; each reply goes back to its own host.
func TestSNATPortInUseGetsAnother(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				far := tp.far(f).IP(f.v6)
				c0, c1 := tp.client(0, f), tp.client(1, f)
				g0 := tp.one(t, tp.pg0, flow(c0, far, pr, 7, 53), tp.pg1)
				g1 := tp.one(t, tp.pg0, flow(c1, far, pr, 7, 53), tp.pg1)
				want(t, "first host keeps its port", g0, f.snat(), 7, far, 0)
				if g1.Src != f.snat() {
					t.Errorf("second host: source %s, want %s", g1.Src, f.snat())
				}
				p0, p1 := g0.SrcPort, g1.SrcPort
				if pr == vh.ICMP {
					p0, p1 = g0.ICMPID, g1.ICMPID
				}
				if p0 == p1 {
					t.Fatalf("two inside hosts share %s port %d towards the same destination", f.snat(), p1)
				}
				b1 := tp.one(t, tp.pg1, replyTo(tp.pg1, g1, vh.SYN|vh.ACK), tp.pg0)
				want(t, "reply to second host", b1, far, 0, c1.Src, 7)
				b0 := tp.one(t, tp.pg1, replyTo(tp.pg1, g0, vh.SYN|vh.ACK), tp.pg0)
				want(t, "reply to first host", b0, far, 0, c0.Src, 7)
			})
		}
	}
}

// TestSNATPairedPool: with two SNAT addresses, all flows of one inside
// address leave from one of them.
func TestSNATPairedPool(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			tp.cli(t, "cnat snat with %s %s", f.snat(), f.a("30.0.0.5", "30::5"))
			tp.cli(t, "set interface feature pg0 %s arc %s-unicast", f.snatFeature(), f.arc())
			for i := 0; i < 3; i++ {
				c := tp.client(i, f)
				var pkts []vh.Pkt
				for j, pr := range protos {
					for k := 0; k < 4; k++ {
						pkts = append(pkts, flow(c, tp.pg1.Hosts[k%4].IP(f.v6), pr, uint16(6000+10*j+k), 53))
					}
				}
				got := tp.v.SendAndExpect(t, tp.pg0, pkts, tp.pg1)
				srcs := map[string]bool{}
				for _, g := range got {
					srcs[g.Src.String()] = true
				}
				if len(srcs) != 1 {
					t.Errorf("client %s: flows left from %d addresses %v, want 1 (paired pooling)", c.Src, len(srcs), srcs)
				}
			}
		})
	}
}

// TestSNATExclude: destinations in an excluded prefix leave untranslated;
// the seed commands verbatim for IPv6.
func TestSNATExclude(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.cli(t, "cnat snat with 30::1")
	tp.cli(t, "cnat snat exclude 20::/100")
	tp.cli(t, "set interface feature pg0 ip6-cnat-snat arc ip6-unicast")
	tp.cli(t, "cnat snat with 30.0.0.1")
	tp.cli(t, "cnat snat exclude 20.0.0.0/24")
	tp.cli(t, "set interface feature pg0 ip4-cnat-snat arc ip4-unicast")
	for _, f := range families {
		excl := map[bool]string{false: "20.0.0.0/24", true: "20::/100"}[f.v6]
		for _, pr := range []vh.Proto{vh.UDP, vh.TCP} {
			t.Run(name(f.name, pr), func(t *testing.T) {
				c := tp.client(0, f)
				in := tp.pg1.Hosts[0].IP(f.v6) // 20.0.0.1 / 20::1: excluded
				out := tp.far(f).IP(f.v6)      // 20.0.1.1 / 20::1:0:1: not
				got := tp.one(t, tp.pg0, flow(c, in, pr, 1500, 53), tp.pg1)
				want(t, fmt.Sprintf("to %s in excluded %s", in, excl), got, c.Src, 1500, in, 53)
				back := tp.one(t, tp.pg1, replyTo(tp.pg1, got, vh.SYN|vh.ACK), tp.pg0)
				want(t, "reply from excluded", back, in, 53, c.Src, 1500)
				got = tp.one(t, tp.pg0, flow(c, out, pr, 1501, 53), tp.pg1)
				want(t, fmt.Sprintf("to %s outside %s", out, excl), got, f.snat(), 1501, out, 53)
			})
		}
	}
	// Removing the exclusion translates again.
	tp.cli(t, "cnat snat exclude del 20::/100")
	tp.cli(t, "cnat snat exclude del 20.0.0.0/24")
	tp.cli(t, "cnat session purge")
	for _, f := range families {
		c := tp.client(0, f)
		in := tp.pg1.Hosts[0].IP(f.v6)
		got := tp.one(t, tp.pg0, flow(c, in, vh.UDP, 1502, 53), tp.pg1)
		want(t, f.name+": after cnat snat exclude del", got, f.snat(), 1502, in, 53)
	}
}

// TestSNATPortExhaustion: when every port of the SNAT address is mapped, a
// new inside endpoint is dropped and counted; mapped flows keep working.
func TestSNATPortExhaustion(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.cli(t, "cnat session limit 0")
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			enableSNAT(t, tp, f)
			c0 := tp.client(0, f)
			far := tp.far(f).IP(f.v6)
			var frames [][]byte
			for port := 1; port <= 65535; port++ {
				frames = append(frames, vh.Frames(t, flow(c0, far, vh.UDP, uint16(port), 53))...)
			}
			cap1 := tp.v.Send(t, tp.pg0, frames)
			n := len(cap1[tp.pg1])
			if n < 60000 {
				t.Errorf("only %d of 65535 flows from one inside host were translated", n)
			}
			before := cnatErrors(t, tp.v, "no free source port")
			var pkts []vh.Pkt
			for i := 0; i < 10; i++ {
				pkts = append(pkts, flow(tp.client(1, f), far, vh.UDP, uint16(7000+i), 53))
			}
			tp.v.SendAndExpectNone(t, tp.pg0, pkts, tp.pg1)
			if d := cnatErrors(t, tp.v, "no free source port"); d-before != 10 {
				t.Errorf("10 flows with no port left: cloudnat's 'no free source port' drop counter grew by %d, want 10:\n%s", d-before, tp.cli(t, "show errors"))
			}
			// A mapped flow still works both ways.
			got := tp.one(t, tp.pg0, flow(c0, far, vh.UDP, 40000, 53), tp.pg1)
			if got.Src != f.snat() {
				t.Errorf("mapped flow after exhaustion: %s", got)
			}
			want(t, "mapped flow's reply after exhaustion", tp.one(t, tp.pg1, replyTo(tp.pg1, got, 0), tp.pg0), far, 53, c0.Src, 40000)
			tp.cli(t, "cnat session purge")
		})
	}
}

// TestTranslatedUDPChecksumNeverZero: when a translated UDP packet's
// checksum comes out as zero it must be sent as 0xffff (RFC 768; a zero
// UDP checksum is invalid in IPv6, RFC 8200, and means "none" in IPv4).
// The source ports are chosen so that the correct checksum after source
// NAT is 0xffff.
func TestTranslatedUDPChecksumNeverZero(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			far := tp.far(f).IP(f.v6)
			off := 20
			if f.v6 {
				off = 40
			}
			var ports []uint16
			for p := 1024; p < 65536 && len(ports) < 3; p++ {
				b := vh.Pkt{Src: f.snat(), Dst: far, Proto: vh.UDP, SrcPort: uint16(p), DstPort: 53}.MustIP()
				if binary.BigEndian.Uint16(b[off+6:]) == 0xffff {
					ports = append(ports, uint16(p))
				}
			}
			if len(ports) == 0 {
				t.Fatal("no source port gives checksum 0xffff")
			}
			for _, p := range ports {
				got := tp.one(t, tp.pg0, flow(tp.client(0, f), far, vh.UDP, p, 53), tp.pg1)
				if got.SrcPort != p || got.Src != f.snat() {
					t.Errorf("port %d not kept: %s", p, got)
					continue
				}
				if ck := binary.BigEndian.Uint16(got.Raw[off+6:]); ck != 0xffff {
					t.Errorf("udp %s:%d -> %s:53 after source NAT to %s:%d: UDP checksum %#04x, want 0xffff (zero result sent as all ones)",
						tp.client(0, f).Src, p, far, f.snat(), p, ck)
				}
			}
		})
	}
}
