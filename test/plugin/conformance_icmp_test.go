package plugin

import (
	"encoding/binary"
	"net/netip"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// RFC 5508 (ICMP). ICMP errors about VIP sessions take the same code
// (cn_icmp_error_rewrite4/6) in the VIP node; TestICMPErrorsThroughDNAT
// covers that direction.

// TestConformance5508_1: outbound echo and its replies pass, and the
// query-id mapping does not depend on the remote: echo id 7 to Y1 and Y2
// leaves with one outside id, replies come back with id 7. VIP: an echo
// to a VIP keeps its id (TestSNAT / translation tests).
func TestConformance5508_1(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		x := c.client(0, f).Src
		g1 := c.out(t, 0, f, vh.ICMP, 7, c.remote(farHost, f), 0, 0)
		g2 := c.out(t, 0, f, vh.ICMP, 7, c.remote(0, f), 0, 0)
		if confMapping(g1) != confMapping(g2) {
			t.Errorf("echo id 7 to Y1 and Y2 left as %s and %s, want one mapping", confMapping(g1), confMapping(g2))
		}
		for _, g := range []*vh.Parsed{g1, g2} {
			b := c.back(t, g, 0)
			if b == nil || b.Dst != x || b.ICMPID != 7 || b.ICMP != vh.EchoReply {
				t.Errorf("echo reply from %s: got %v, want an echo reply to %s id 7", g.Dst, b, x)
			}
		}
	})
}

// TestConformance5508_2: the ICMP query timer is at least 60 s: alive at
// 59 s. VIP sessions: TestTimeoutsDefault.
func TestConformance5508_2(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		g := c.out(t, 0, f, vh.ICMP, 8, c.remote(farHost, f), 0, 0)
		clock(t, c.v, 59)
		c.alive(t, "echo idle 59 s", g, 0, c.client(0, f).Src, 8)
	})
}

// confSetIPv4Checksum recomputes an IPv4 header checksum in place.
func confSetIPv4Checksum(h []byte) {
	ihl := int(h[0]&0xf) * 4
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], vh.Checksum(h[:ihl], 0))
}

// confWithIPv4Options returns an IPv4 packet with 8 bytes of options (NOP,
// NOP, NOP, EOL and padding) inserted after the fixed header.
func confWithIPv4Options(ip []byte) []byte {
	out := append(append([]byte{}, ip[:20]...), 1, 1, 1, 0, 0, 0, 0, 0)
	out = append(out, ip[20:]...)
	out[0] = 0x47
	binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
	confSetIPv4Checksum(out)
	return out
}

// TestConformance5508_3: ICMP errors with a bad ICMP checksum or a bad
// quoted IPv4 header checksum are dropped; a quoted header with IP
// options is walked past; 8 bytes of quoted L4 header are enough. The
// error is port-unreachable from Y about X' -> Y. VIP: same code path.
func TestConformance5508_3(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		x := c.client(0, f).Src
		for i, tc := range []struct {
			name string
			pass bool
			// quoted builds the quoted packet from the translated one.
			quoted func(g []byte) []byte
			// frame corrupts the whole frame (nil: none).
			frame  func(b []byte)
			v4only bool
		}{
			{name: "intact", pass: true, quoted: func(g []byte) []byte { return g }},
			{name: "bad ICMP checksum", quoted: func(g []byte) []byte { return g },
				frame: func(b []byte) {
					off := 14 + 20 + 2
					if b[14]>>4 == 6 {
						off = 14 + 40 + 2
					}
					b[off] ^= 0x5a
				}},
			{name: "bad quoted IPv4 header checksum", v4only: true, quoted: func(g []byte) []byte {
				q := append([]byte{}, g...)
				q[10] ^= 0x5a
				return q
			}},
			{name: "quoted IPv4 header with options", v4only: true, pass: true, quoted: confWithIPv4Options},
			{name: "quote of 8 bytes of L4 header", pass: true, quoted: func(g []byte) []byte {
				hl := 20
				if g[0]>>4 == 6 {
					hl = 40
				}
				return append([]byte{}, g[:hl+8]...)
			}},
			{name: "quote of 4 bytes of L4 header (ports only)", pass: false, quoted: func(g []byte) []byte {
				hl := 20
				if g[0]>>4 == 6 {
					hl = 40
				}
				return append([]byte{}, g[:hl+4]...)
			}},
		} {
			if tc.v4only && f.v6 {
				continue
			}
			t.Run(tc.name, func(t *testing.T) {
				sport := uint16(5100 + i)
				g := c.out(t, 0, f, vh.UDP, sport, y, 53, 0)
				code := uint8(3)
				if f.v6 {
					code = 4
				}
				e := confICMPError(confFromHost(c.pg1, y), g.Src, vh.DestUnreach, code, tc.quoted(g.Raw))
				fr := vh.Frames(t, e)
				if tc.frame != nil {
					tc.frame(fr[0])
				}
				cp := c.v.Send(t, c.pg1, fr)
				got := cp[c.pg0]
				if !tc.pass {
					if len(got) != 0 {
						// A 4-byte quote is legal to drop or translate;
						// a corrupt error must not pass.
						if tc.frame != nil || tc.name == "bad quoted IPv4 header checksum" {
							t.Errorf("corrupt ICMP error was forwarded to the inside:\n%s", cp)
						} else {
							t.Logf("note: translated: %s", cp)
						}
					}
					return
				}
				if len(got) != 1 {
					t.Fatalf("ICMP error (%s) about %s: want it at X, got:\n%s%s", tc.name, confMapping(g), cp, c.dropSummary(t))
				}
				b := vh.ParseAll(t, got)[0]
				if b.Dst != x || b.Inner == nil || b.Inner.Src != x || b.Inner.SrcPort != sport {
					t.Errorf("delivered as %s, want to %s quoting %s", b, x, netip.AddrPortFrom(x, sport))
				}
			})
		}
	})
}

// TestConformance5508_4: an error from outside about a mapped flow: Y's
// confPort unreachable about X' -> Y reaches X with the quoted packet
// restored to X:x -> Y:y, type and code kept, outer destination X, every
// checksum right (the harness checks them). VIP:
// TestICMPErrorsThroughDNAT.
func TestConformance5508_4(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		for _, pr := range protos {
			t.Run(pr.String(), func(t *testing.T) {
				y := c.remote(farHost, f)
				x := c.client(0, f).Src
				g := c.out(t, 0, f, pr, 5200, y, 53, vh.SYN)
				code := uint8(3)
				if f.v6 {
					code = 4
				}
				e := confICMPError(confFromHost(c.pg1, y), g.Src, vh.DestUnreach, code, g.Raw)
				cp := c.v.Send(t, c.pg1, vh.Frames(t, e))
				if len(cp[c.pg0]) != 1 {
					t.Fatalf("want the error at X, got:\n%s%s", cp, c.dropSummary(t))
				}
				b := vh.ParseAll(t, cp[c.pg0])[0]
				if b.Dst != x || b.Src != y || b.ICMP != vh.DestUnreach || b.ICMPCode != code {
					t.Errorf("got %s, want dest-unreach code %d from %s to %s", b, code, y, x)
				}
				in := b.Inner
				if in == nil || in.Src != x || confPort(in) != 5200 || in.Dst != y {
					t.Errorf("quoted %v, want %s -> %s", in, netip.AddrPortFrom(x, 5200), y)
				}
			})
		}
	})
}

// TestConformance5508_5: an error from inside about a mapped flow: X's
// confPort unreachable about Y:y -> X:x leaves with the outer source X' and
// the quoted packet Y:y -> X':x'. VIP: TestICMPErrorsThroughDNAT (the
// backend's error about a client's packet).
func TestConformance5508_5(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		for _, pr := range []vh.Proto{vh.UDP, vh.TCP} {
			t.Run(pr.String(), func(t *testing.T) {
				y := c.remote(farHost, f)
				x := c.client(0, f)
				g := c.out(t, 0, f, pr, 5300, y, 53, vh.SYN)
				quoted := vh.Pkt{Src: y, Dst: x.Src, Proto: pr, SrcPort: 53, DstPort: 5300, TCPFlags: vh.SYN | vh.ACK}.MustIP()
				code := uint8(3)
				if f.v6 {
					code = 4
				}
				cp := c.v.Send(t, c.pg0, vh.Frames(t, confICMPError(x, y, vh.DestUnreach, code, quoted)))
				if len(cp[c.pg1]) != 1 {
					t.Fatalf("want X's error on the outside, got:\n%s%s", cp, c.dropSummary(t))
				}
				b := vh.ParseAll(t, cp[c.pg1])[0]
				if b.Src != g.Src || b.Dst != y {
					t.Errorf("error left as %s, want from %s to %s", b, g.Src, y)
				}
				if in := b.Inner; in == nil || in.Dst != g.Src || in.DstPort != confPort(g) || in.Src != y {
					t.Errorf("quoted %v, want %s -> %s", in, y, confMapping(g))
				}
			})
		}
	})
}

// TestConformance5508_6: an error about a query session neither refreshes
// nor deletes it: echo A gets an error at 30 s and is gone at 61 s; echo
// B gets an error at 30 s and its reply right after still passes. VIP:
// TestICMPErrorDoesNotRefreshSession.
func TestConformance5508_6(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		a := c.out(t, 0, f, vh.ICMP, 61, y, 0, 0)
		b := c.out(t, 0, f, vh.ICMP, 62, y, 0, 0)
		clock(t, c.v, 30)
		for _, g := range []*vh.Parsed{a, b} {
			e := confICMPError(confFromHost(c.pg1, y), g.Src, vh.DestUnreach, 1, g.Raw)
			c.v.Send(t, c.pg1, vh.Frames(t, e))
		}
		c.alive(t, "echo B right after an error about it", b, 0, c.client(0, f).Src, 62)
		clock(t, c.v, 31)
		c.gone(t, "echo A 61 s after its request (an error at 30 s)", a, 0)
	})
}

// TestConformance5508_7: hairpinned ICMP errors: X1 -> X2' hairpinned
// (4787-9), then X2's port unreachable about it reaches X1 with the quoted
// packet X1:x1 -> X2':x2'. VIP: not applicable (no hairpin of mappings).
func TestConformance5508_7(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		m2, at := confHairpin(t, c, f, vh.UDP, 5400)
		if at == nil {
			return
		}
		code := uint8(3)
		if f.v6 {
			code = 4
		}
		e := confICMPError(c.client(1, f), at.Src, vh.DestUnreach, code, at.Raw)
		cp := c.v.Send(t, c.pg0, vh.Frames(t, e))
		if len(cp[c.pg0]) != 1 {
			t.Fatalf("X2's error about the hairpinned packet: want it at X1, got:\n%s%s", cp, c.dropSummary(t))
		}
		b := vh.ParseAll(t, cp[c.pg0])[0]
		x1 := c.client(0, f).Src
		if b.Dst != x1 || b.Inner == nil || b.Inner.Src != x1 || b.Inner.SrcPort != 5401 ||
			b.Inner.Dst != m2.Src || b.Inner.DstPort != confPort(m2) {
			t.Errorf("got %s, want to %s quoting %s -> %s", b, x1, netip.AddrPortFrom(x1, 5401), confMapping(m2))
		}
	})
}

// TestConformance5508_8: when no mapping can be made the packet is dropped
// and ICMP destination unreachable code 13 (IPv6: type 1 code 1) comes
// back, rate limited. Pool: a subscriber capped at one block of 64 ports
// (block-size 64 max-blocks 1) sends 70 flows to one Y:y. Source NAT:
// `cnat session limit 8` and 10 flows (source NAT has no per-subscriber
// quota; the global limit is its only cap short of 64K ports). VIP: a
// session limit on a VIP drops without ICMP (not a mapping failure of the
// client's address).
func TestConformance5508_8(t *testing.T) {
	confEachModeFamily(t, confOpts{poolArgs: "block-size 64 max-blocks 1", one: true}, func(t *testing.T, c *ctopo, f family) {
		confExhaustion(t, c, f)
	})
}

// confExhaustion runs past the cap and checks the ICMP answers; it
// returns how many flows left.
func confExhaustion(t *testing.T, c *ctopo, f family) int {
	y := c.remote(farHost, f)
	n := 70
	if !c.m.pool {
		c.cli(t, "cnat session limit 8")
		defer c.cli(t, "cnat session limit 0")
		n = 10
	}
	var pkts []vh.Pkt
	for i := 0; i < n; i++ {
		pkts = append(pkts, flow(c.client(0, f), y, vh.UDP, uint16(20000+i), 53))
	}
	cp := c.v.Send(t, c.pg0, vh.Frames(t, pkts...))
	left := len(cp[c.pg1])
	if left >= n {
		t.Fatalf("all %d flows left: no cap was reached", n)
	}
	var unreach int
	for _, b := range vh.ParseAll(t, cp[c.pg0]) {
		ok := b.Proto == vh.ICMP && b.Dst == c.client(0, f).Src &&
			(!f.v6 && b.ICMP == vh.DestUnreach && b.ICMPCode == 13 || f.v6 && b.ICMP == vh.DestUnreach && b.ICMPCode == 1)
		if ok {
			unreach++
		} else {
			t.Errorf("unexpected packet back on the inside: %s", b)
		}
	}
	if unreach == 0 {
		t.Errorf("%d of %d flows left, the other %d were dropped without ICMP destination unreachable %s (show errors:\n%s)",
			left, n, n-left, map[bool]string{false: "code 13", true: "(IPv6) code 1"}[f.v6], c.dropSummary(t))
	} else {
		t.Logf("%d flows left, %d dropped, %d ICMP unreachable answers (rate limited)", left, n-left, unreach)
	}
	return left
}
