package plugin

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// RFC 4787 (UDP). A VIP translation (`cnat translation add`) is a
// configured destination mapping: clients reach a fixed VIP:port and the
// backend sees the client's own address, so the mapping requirements
// (4787-1 to -4, -9, -11) are about source NAT and pools only; the timer
// and ICMP ones (4787-5, -6, -12) hold for VIP sessions too and are tested
// there by session_test.go and icmp_test.go.

// TestConformance4787_1: endpoint-independent mapping. X:x to Y1:y1, Y1:y2
// and Y2:y1 leaves as one X':x'. VIP: not applicable (the VIP is the
// destination, the client's source is kept).
func TestConformance4787_1(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		confEIM(t, c, f, vh.UDP, 0)
	})
}

// testEIM: one inside endpoint, three destinations, one mapping; every
// answer returns to the inside endpoint.
func confEIM(t *testing.T, c *ctopo, f family, pr vh.Proto, flags uint8) {
	y1, y2 := c.remote(farHost, f), c.remote(0, f)
	var maps []netip.AddrPort
	for _, d := range []struct {
		y     netip.Addr
		yport uint16
	}{{y1, 53}, {y1, 54}, {y2, 53}} {
		got := c.out(t, 0, f, pr, 4000, d.y, d.yport, flags)
		maps = append(maps, confMapping(got))
		c.alive(t, fmt.Sprintf("answer from %s:%d", d.y, d.yport), got, vh.SYN|vh.ACK, c.client(0, f).Src, 4000)
	}
	if maps[0] != maps[1] || maps[0] != maps[2] {
		t.Errorf("%s X:4000 to Y1:53, Y1:54, Y2:53 left as %v, want one mapping (EIM)", pr, maps)
	}
}

// TestConformance4787_2: paired pooling: all flows of one inside address,
// over several protocols and destinations, leave from one X'. VIP: not
// applicable (no outside address is chosen).
func TestConformance4787_2(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		confPaired(t, c, f)
	})
}

func confPaired(t *testing.T, c *ctopo, f family) {
	for i := 0; i < 3; i++ {
		var pkts []vh.Pkt
		for j, pr := range protos {
			for k := 0; k < 4; k++ {
				pkts = append(pkts, flow(c.client(i, f), c.pg1.Hosts[k].IP(f.v6), pr, uint16(6000+10*j+k), 53))
			}
		}
		got := c.v.SendAndExpect(t, c.pg0, pkts, c.pg1)
		srcs := map[netip.Addr]int{}
		for _, g := range got {
			srcs[g.Src]++
			if !c.isOut(g.Src) {
				t.Errorf("left untranslated: %s", g)
			}
		}
		if len(srcs) != 1 {
			t.Errorf("inside %s: %d flows over tcp/udp/icmp left from %d addresses %v, want one (paired pooling)",
				c.client(i, f).Src, len(got), len(srcs), srcs)
		}
	}
}

// TestConformance4787_3: no port overloading: X1:x and X2:x towards one
// Y:y get different mappings and each answer goes back to its own host.
// VIP: not applicable.
func TestConformance4787_3(t *testing.T) {
	confEachModeFamily(t, confOpts{one: true}, func(t *testing.T, c *ctopo, f family) {
		for _, pr := range protos {
			t.Run(pr.String(), func(t *testing.T) {
				y := c.remote(farHost, f)
				g1 := c.out(t, 0, f, pr, 5000, y, 53, 0)
				g2 := c.out(t, 1, f, pr, 5000, y, 53, 0)
				if confMapping(g1) == confMapping(g2) {
					t.Fatalf("X1:5000 and X2:5000 to %s:53 share %s (port overloading)", y, confMapping(g1))
				}
				c.alive(t, "answer to X2", g2, vh.SYN|vh.ACK, c.client(1, f).Src, 5000)
				c.alive(t, "answer to X1", g1, vh.SYN|vh.ACK, c.client(0, f).Src, 5000)
			})
		}
	})
}

// TestConformance4787_4: port parity: an even inside port maps to an even
// outside port, an odd one to an odd one, also when the inside port is
// taken (a second host with the same ports towards the same Y:y, one
// outside address, so the port must move). VIP: not applicable.
func TestConformance4787_4(t *testing.T) {
	confEachModeFamily(t, confOpts{one: true}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		for _, pr := range []vh.Proto{vh.UDP, vh.TCP} {
			for host := 0; host < 3; host++ {
				for _, x := range []uint16{2000, 2001, 2002, 2003, 40001, 65534} {
					g := c.out(t, host, f, pr, x, y, 53, 0)
					if g.SrcPort%2 != x%2 {
						t.Errorf("%s inside host %d port %d (parity %d) mapped to %s (parity %d)",
							pr, host, x, x%2, confMapping(g), g.SrcPort%2)
					}
				}
			}
		}
	})
}

// TestConformance4787_5: the UDP mapping timer: alive after 119 s idle,
// the default is at least 300 s (alive at 299 s, gone after 301 s), and
// it is configurable (150 s: alive at 149 s, gone at 151 s). VIP sessions
// share the timer (TestTimeoutsDefault, TestTimeoutsConfigurable).
func TestConformance4787_5(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		x := c.client(0, f).Src
		g := c.out(t, 0, f, vh.UDP, 3001, y, 53, 0)
		clock(t, c.v, 119)
		c.alive(t, "idle 119 s", g, 0, x, 3001) // refreshes
		g = c.out(t, 0, f, vh.UDP, 3002, y, 53, 0)
		clock(t, c.v, 299)
		c.alive(t, "default timer, idle 299 s", g, 0, x, 3002)
		g = c.out(t, 0, f, vh.UDP, 3003, y, 53, 0)
		clock(t, c.v, 301)
		c.gone(t, "default timer, idle 301 s", g, 0)

		c.cli(t, "cnat timeouts udp 150")
		defer c.cli(t, "cnat timeouts udp 300")
		g = c.out(t, 0, f, vh.UDP, 3004, y, 53, 0)
		clock(t, c.v, 149)
		c.alive(t, "configured 150 s, idle 149 s", g, 0, x, 3004)
		g = c.out(t, 0, f, vh.UDP, 3005, y, 53, 0)
		clock(t, c.v, 151)
		c.gone(t, "configured 150 s, idle 151 s", g, 0)
		if _, err := c.v.CLI("cnat timeouts udp 60"); err == nil {
			t.Log("note: cnat timeouts udp 60 is accepted (below the 2 minutes of RFC 4787 REQ-5; the operator's choice)")
		}
	})
}

// TestConformance4787_6: outbound packets refresh the mapping: one
// outbound packet every 100 s keeps it for 10 minutes (twice the default
// timer). VIP sessions: TestOutboundRefresh-style behaviour is the same
// session code.
func TestConformance4787_6(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		g := c.out(t, 0, f, vh.UDP, 3100, y, 53, 0)
		for i := 0; i < 6; i++ {
			clock(t, c.v, 100)
			g2 := c.out(t, 0, f, vh.UDP, 3100, y, 53, 0)
			if confMapping(g2) != confMapping(g) {
				t.Fatalf("after %d s: the outbound packet left as %s, want %s", 100*(i+1), confMapping(g2), confMapping(g))
			}
		}
		clock(t, c.v, 100) // 700 s after the start, 100 s after the last outbound packet
		c.alive(t, "10 minutes of outbound packets every 100 s", g, 0, c.client(0, f).Src, 3100)
	})
}

// TestConformance4787_8: endpoint-independent or address-dependent
// filtering, configurable. After X:x -> Y1, a packet from Y2 to X':x'
// passes under EIF and is dropped under ADF (which lets Y1 in from another
// port). Source NAT: `cnat snat filtering endpoint|address`; pools: the
// pool's `filtering` (more cases: TestPoolFiltering). VIP: not applicable
// (a VIP takes any client).
func TestConformance4787_8(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y1, y2 := c.remote(farHost, f), c.remote(0, f)
		inbound := func(g *vh.Parsed, from vh.Pkt, sport uint16) bool {
			p := from
			p.Dst, p.Proto, p.SrcPort, p.DstPort = g.Src, vh.UDP, sport, confPort(g)
			return len(c.v.Send(t, c.pg1, vh.Frames(t, p))[c.pg0]) > 0
		}
		g := c.out(t, 0, f, vh.UDP, 3200, y1, 53, 0)
		t.Logf("default filtering: Y2 -> X':x' %s (address-and-port dependent drops it)",
			map[bool]string{true: "reached the inside", false: "was dropped"}[inbound(g, confFromHost(c.pg1, y2), 53)])
		for i, mode := range []string{"endpoint", "address"} {
			if c.m.pool {
				fam := map[bool]string{false: "4", true: "6"}[f.v6]
				c.cli(t, "cnat pool add cg%s range %s block-size 512 max-blocks 4 filtering %s", fam,
					map[bool]string{false: "30.0.0.10-30.0.0.11", true: "30::10-30::11"}[f.v6], mode)
			} else {
				c.cli(t, "cnat snat filtering %s", mode)
			}
			x := uint16(3210 + 10*i)
			g := c.out(t, 0, f, vh.UDP, x, y1, 53, 0)
			if got := inbound(g, confFromHost(c.pg1, y2), 53); got != (mode == "endpoint") {
				t.Errorf("filtering %s: after X:%d -> Y1, Y2 -> X':x' (%s) reached the inside: %v", mode, x, confMapping(g), got)
			}
			if mode == "address" && !inbound(g, confFromHost(c.pg1, y1), 54) {
				t.Errorf("filtering address: Y1 from another port -> X':x' (%s) did not reach the inside", confMapping(g))
			}
		}
	})
}

// TestConformance4787_9: hairpinning: X1 sends to X2's mapping X':x2';
// the packet reaches X2 with X1's outside mapping X1':x1' as its source.
// VIP: an inside client reaching a VIP whose backend is on the same side
// is DNAT, not hairpinning of two mappings.
func TestConformance4787_9(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		for _, pr := range []vh.Proto{vh.UDP, vh.TCP} {
			t.Run(pr.String(), func(t *testing.T) {
				confHairpin(t, c, f, pr, 3300)
			})
		}
	})
}

// testHairpin: X2's mapping from a flow to Y, then X1 -> X2'. Returns the
// packet as X2 got it (nil when it did not).
func confHairpin(t *testing.T, c *ctopo, f family, pr vh.Proto, x uint16) (m2 *vh.Parsed, atX2 *vh.Parsed) {
	y := c.remote(farHost, f)
	m2 = c.out(t, 1, f, pr, x, y, 53, vh.SYN)
	m1 := c.out(t, 0, f, pr, x+1, y, 53, vh.SYN) // X1's own mapping, for the expected source
	p := flow(c.client(0, f), m2.Src, pr, x+1, confPort(m2))
	if pr == vh.TCP {
		p.TCPFlags = vh.SYN
	}
	cp := c.v.Send(t, c.pg0, vh.Frames(t, p))
	if len(cp[c.pg0]) != 1 {
		t.Errorf("hairpin X1 %s:%d -> X2's mapping %s: want one packet back on the inside to X2, got:\n%s%s",
			p.Src, x+1, confMapping(m2), cp, c.dropSummary(t))
		return m2, nil
	}
	atX2 = vh.ParseAll(t, cp[c.pg0])[0]
	if atX2.Dst != c.client(1, f).Src || atX2.DstPort != x {
		t.Errorf("hairpinned packet reached %s, want X2 %s", atX2, netip.AddrPortFrom(c.client(1, f).Src, x))
	}
	if !c.isOut(atX2.Src) {
		t.Errorf("hairpinned packet's source is %s, want X1's outside mapping (%s)", confMapping(atX2), confMapping(m1))
	} else if atX2.Src != m1.Src {
		t.Errorf("hairpinned packet's source address is %s, want X1's outside address %s", atX2.Src, m1.Src)
	}
	return m2, atX2
}

// TestConformance4787_11: deterministic: the mapping rules do not change
// under pressure. X:x's mapping is the same before and after another
// inside host exhausts its ports (pool: all its blocks; source NAT: 3000
// flows), and X:x to a new destination still gets it. VIP: not
// applicable.
func TestConformance4787_11(t *testing.T) {
	confEachModeFamily(t, confOpts{poolArgs: "block-size 256 max-blocks 2", one: true}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		before := confMapping(c.out(t, 0, f, vh.UDP, 3400, y, 53, 0))
		var frames [][]byte
		for i := 0; i < 3000; i++ {
			frames = append(frames, vh.Frames(t, flow(c.client(1, f), y, vh.UDP, uint16(10000+i), 53))...)
		}
		cp := c.v.Send(t, c.pg0, frames)
		t.Logf("pressure: %d of 3000 flows of another host left", len(cp[c.pg1]))
		after := confMapping(c.out(t, 0, f, vh.UDP, 3400, y, 53, 0))
		other := confMapping(c.out(t, 0, f, vh.UDP, 3400, c.remote(0, f), 53, 0))
		if before != after || before != other {
			t.Errorf("X:3400's mapping %s before pressure, %s after, %s to a new destination: want one", before, after, other)
		}
	})
}

// confICMPErrorKinds are the ICMP errors of 4787-12 / 5382-10: every
// destination-unreachable code, time exceeded, parameter problem (and
// packet too big in IPv6).
func confICMPErrorKinds(v6 bool) []struct {
	kind vh.ICMPKind
	code uint8
} {
	var ks []struct {
		kind vh.ICMPKind
		code uint8
	}
	n := uint8(16)
	if v6 {
		n = 8
	}
	for code := uint8(0); code < n; code++ {
		ks = append(ks, struct {
			kind vh.ICMPKind
			code uint8
		}{vh.DestUnreach, code})
	}
	ks = append(ks, struct {
		kind vh.ICMPKind
		code uint8
	}{vh.TimeExceeded, 0}, struct {
		kind vh.ICMPKind
		code uint8
	}{vh.TimeExceeded, 1}, struct {
		kind vh.ICMPKind
		code uint8
	}{vh.ParamProblem, 0})
	if v6 {
		ks = append(ks, struct {
			kind vh.ICMPKind
			code uint8
		}{vh.PacketTooBig, 0})
	}
	return ks
}

// testICMPNeverDeletes: every ICMP error from Y about the flow X':x' -> Y,
// then Y's answer still reaches X.
func confICMPNeverDeletes(t *testing.T, c *ctopo, f family, pr vh.Proto, x uint16) {
	y := c.remote(farHost, f)
	g := c.out(t, 0, f, pr, x, y, 53, vh.SYN)
	if pr == vh.TCP {
		c.alive(t, "SYN-ACK", g, vh.SYN|vh.ACK, c.client(0, f).Src, x)
		c.out(t, 0, f, pr, x, y, 53, vh.ACK)
	}
	var frames [][]byte
	for _, k := range confICMPErrorKinds(f.v6) {
		e := confICMPError(confFromHost(c.pg1, y), g.Src, k.kind, k.code, g.Raw)
		if k.kind == vh.PacketTooBig {
			e.ICMPRest = 1280
		}
		frames = append(frames, vh.Frames(t, e)...)
	}
	cp := c.v.Send(t, c.pg1, frames)
	t.Logf("%d ICMP errors about %s sent, %d reached the inside", len(frames), confMapping(g), len(cp[c.pg0]))
	c.alive(t, "after every ICMP error", g, vh.ACK, c.client(0, f).Src, x)
	g2 := c.out(t, 0, f, pr, x, y, 53, vh.ACK)
	if confMapping(g2) != confMapping(g) {
		t.Errorf("after the ICMP errors X:%d leaves as %s, want the same mapping %s", x, confMapping(g2), confMapping(g))
	}
}

// TestConformance4787_12: no ICMP message deletes a mapping: every
// destination-unreachable code, time exceeded and parameter problem from Y
// about the flow, then Y's answer still reaches X. VIP sessions:
// TestICMPErrorDoesNotRefreshSession.
func TestConformance4787_12(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		confICMPNeverDeletes(t, c, f, vh.UDP, 3500)
	})
}

// TestConformance4787_13: an inside packet above the outside MTU with DF
// set (IPv6: any) gets ICMP fragmentation-needed (type 3 code 4; IPv6
// packet too big) back at the sender, quoting the packet as the sender
// sent it (inside addresses), with the MTU. pg1's MTU is 600 (IPv6: 1280,
// its minimum). VIP: the
// same path (the error is generated after translation and translated back
// as any ICMP error is).
func TestConformance4787_13(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		// IPv4: MTU 600 (the setting); IPv6 has its own MTU and a
		// minimum of 1280
		maxMTU, size := uint32(600), 1000
		if f.v6 {
			maxMTU, size = 1280, 1400
		}
		c.cli(t, "set interface mtu packet %d pg1", maxMTU)
		y := c.remote(farHost, f)
		p := flow(c.client(0, f), y, vh.UDP, 3600, 53)
		p.DF = true
		p.Payload = make([]byte, size)
		cp := c.v.Send(t, c.pg0, vh.Frames(t, p))
		if n := len(cp[c.pg1]); n != 0 {
			t.Errorf("an oversize DF packet left pg1 (MTU %d) %d time(s):\n%s", maxMTU, n, cp)
		}
		if len(cp[c.pg0]) != 1 {
			t.Fatalf("oversize DF packet: want one ICMP error back on pg0, got:\n%s%s", cp, c.dropSummary(t))
		}
		e := vh.ParseAll(t, cp[c.pg0])[0]
		wantKind, wantCode := vh.DestUnreach, uint8(4)
		if f.v6 {
			wantKind, wantCode = vh.PacketTooBig, 0
		}
		if e.Proto != vh.ICMP || e.ICMP != wantKind || e.ICMPCode != wantCode {
			t.Fatalf("got %s, want %s code %d", e, wantKind, wantCode)
		}
		if e.Dst != p.Src {
			t.Errorf("the error goes to %s, want the sender %s", e.Dst, p.Src)
		}
		mtu := e.ICMPRest & 0xffff
		if f.v6 {
			mtu = e.ICMPRest
		}
		if mtu == 0 || mtu > maxMTU {
			t.Errorf("the error carries MTU %d, want at most %d", mtu, maxMTU)
		}
		in := e.Inner
		if in == nil || in.Src != p.Src || in.SrcPort != 3600 || in.Dst != y || in.DstPort != 53 {
			t.Errorf("quoted packet %s, want the packet as sent: %s", in, netip.AddrPortFrom(p.Src, 3600))
		}
	})
}

// TestConformance4787_14: fragments are translated, in order or not:
// a UDP datagram of 1400 bytes in 3 fragments sent first-fragment-last;
// every fragment leaves from the outside address with one
// identification, and the first carries the mapped port. (Fragment
// details for every node kind are i13-tests' frag*_test.go.) VIP: the same
// tracker serves the VIP node.
func TestConformance4787_14(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		p := flow(c.client(0, f), y, vh.UDP, 3700, 53)
		p.Payload = make([]byte, 1400)
		for i := range p.Payload {
			p.Payload[i] = byte(i)
		}
		frags := confFragment(p.MustIP(), 512, 0x4242)
		order := []int{1, 2, 0}
		var frames [][]byte
		for _, i := range order {
			frames = append(frames, confEthFrame(c.pg0, p.Src, frags[i]))
		}
		cp := c.v.Send(t, c.pg0, frames)
		if len(cp[c.pg1]) != len(frags) {
			t.Fatalf("%d fragments sent first-last: %d left pg1:\n%s%s", len(frags), len(cp[c.pg1]), cp, c.dropSummary(t))
		}
		for _, g := range vh.ParseAll(t, cp[c.pg1]) {
			if !c.isOut(g.Src) || g.Dst != y {
				t.Errorf("fragment left as %s -> %s, want from an outside address %v", g.Src, g.Dst, c.outs[f.v6])
			}
		}
		for _, g := range vh.ParseAll(t, cp[c.pg0]) {
			t.Errorf("unexpected packet back on the inside: %s", g)
		}
		if strings.Contains(c.dropSummary(t), "frag") {
			t.Logf("fragment counters:\n%s", c.dropSummary(t))
		}
	})
}
