package plugin

import (
	"fmt"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// RFC 5382 (TCP) and RFC 7857 (updates). VIP sessions share the TCP state
// machine and its timers (session_test.go covers them through DNAT); the
// confMapping requirements (5382-1, -8) are about source NAT and pools.

// TestConformance5382_1: endpoint-independent mapping for TCP: one X:x
// with SYNs to Y1:y1, Y1:y2, Y2:y1 leaves as one X':x'. VIP: not
// applicable (the client's source is kept).
func TestConformance5382_1(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		confEIM(t, c, f, vh.TCP, vh.SYN)
	})
}

// TestConformance5382_2: every valid TCP sequence, simultaneous open
// included: X sends a SYN, Y's SYN crosses it (a SYN, not a SYN-ACK, to
// X':x'), both answer SYN-ACK, then data flows both ways and the session
// is established. VIP: a backend does not open towards a client.
func TestConformance5382_2(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		x := c.client(0, f).Src
		g := c.out(t, 0, f, vh.TCP, 4100, y, 80, vh.SYN)
		steps := []struct {
			from  string
			flags uint8
		}{
			{"Y", vh.SYN},          // crossed SYN
			{"X", vh.SYN | vh.ACK}, // X answers Y's SYN
			{"Y", vh.SYN | vh.ACK}, // Y answers X's SYN
			{"X", vh.ACK},          // X acknowledges
			{"Y", vh.ACK | vh.PSH}, // data from Y
			{"X", vh.ACK | vh.PSH}, // data from X
			{"Y", vh.ACK | vh.PSH}, // data from Y after both
		}
		for i, s := range steps {
			what := fmt.Sprintf("step %d: %s sends flags %#x", i+1, s.from, s.flags)
			if s.from == "X" {
				g2 := c.out(t, 0, f, vh.TCP, 4100, y, 80, s.flags)
				if confMapping(g2) != confMapping(g) || g2.TCPFlags != s.flags {
					t.Errorf("%s: left as %s, want %s flags %#x", what, g2, confMapping(g), s.flags)
				}
			} else {
				c.alive(t, what, g, s.flags, x, 4100)
			}
		}
		out := c.cli(t, "cnat show session verbose proto tcp")
		if !stateRe.MatchString(out) || !confHasState(out, "established") {
			t.Errorf("after simultaneous open the session is not established:\n%s", out)
		}
	})
}

func confHasState(out, word string) bool {
	for _, m := range stateRe.FindAllStringSubmatch(out, -1) {
		if m[1] == word {
			return true
		}
	}
	return false
}

// TestConformance5382_4: an unsolicited inbound SYN is not answered (no
// RST, no ICMP) for 6 s, and is dropped silently when an outbound SYN of
// the same tuple follows: Y2's SYN to X's mapping X':x' (made by X:x ->
// Y1), then 5 s later (plugin clock) X:x -> Y2 SYN leaves with X':x' and
// nothing else is sent to Y2 at any point. VIP: an inbound SYN to a VIP
// confPort without translation is dropped and counted (no RST) — that is the
// VIP node's own behaviour, tested in translation_test.go.
func TestConformance5382_4(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y1, y2 := c.remote(farHost, f), c.remote(0, f)
		g := c.out(t, 0, f, vh.TCP, 4200, y1, 80, vh.SYN)
		syn := confFromHost(c.pg1, y2)
		syn.Dst, syn.Proto, syn.SrcPort, syn.DstPort, syn.TCPFlags = g.Src, vh.TCP, 443, confPort(g), vh.SYN
		cp := c.v.Send(t, c.pg1, vh.Frames(t, syn))
		if n := len(cp[c.pg1]); n > 0 {
			t.Errorf("unsolicited SYN from Y2 was answered on the outside (RST or ICMP):\n%s", cp)
		}
		if n := len(cp[c.pg0]); n > 0 {
			t.Logf("note: the unsolicited SYN reached the inside (%d packet(s)): filtering passes it", n)
		}
		clock(t, c.v, 5)
		p := flow(c.client(0, f), y2, vh.TCP, 4200, 443)
		cp = c.v.Send(t, c.pg0, vh.Frames(t, p))
		if len(cp[c.pg1]) != 1 {
			t.Fatalf("X's outbound SYN to Y2 5 s later: want it alone on pg1, got:\n%s", cp)
		}
		o := vh.ParseAll(t, cp[c.pg1])[0]
		if confMapping(o) != confMapping(g) || o.TCPFlags&vh.RST != 0 {
			t.Errorf("X's outbound SYN left as %s, want a SYN from %s (EIM)", o, confMapping(g))
		}
	})
}

// TestConformance5382_5: TCP timers: established idle 7439 s alive
// (default 7440 s, at least 2 h 4 min); SYN-sent and closing idle 239 s
// alive (transitory at least 4 min). VIP sessions: TestTimeoutsDefault.
func TestConformance5382_5(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		x := c.client(0, f).Src
		est := c.out(t, 0, f, vh.TCP, 4301, y, 80, vh.SYN)
		c.alive(t, "SYN-ACK", est, vh.SYN|vh.ACK, x, 4301)
		c.out(t, 0, f, vh.TCP, 4301, y, 80, vh.ACK)
		syn := c.out(t, 0, f, vh.TCP, 4302, y, 80, vh.SYN)
		fin := c.out(t, 0, f, vh.TCP, 4303, y, 80, vh.SYN)
		c.alive(t, "SYN-ACK", fin, vh.SYN|vh.ACK, x, 4303)
		c.out(t, 0, f, vh.TCP, 4303, y, 80, vh.ACK)
		c.out(t, 0, f, vh.TCP, 4303, y, 80, vh.FIN|vh.ACK)
		clock(t, c.v, 239)
		c.alive(t, "SYN-sent, idle 239 s", syn, vh.SYN|vh.ACK, x, 4302)
		c.alive(t, "closing (FIN sent), idle 239 s", fin, vh.ACK, x, 4303)
		clock(t, c.v, 7439-239)
		c.alive(t, "established, idle 7439 s", est, vh.ACK, x, 4301)
	})
}

// TestConformance5382_8: TCP hairpinning with a full handshake: X1's SYN
// to X2's mapping reaches X2 from X1's mapping, X2's SYN-ACK reaches X1,
// X1's ACK reaches X2. VIP: not applicable (see 4787-9).
func TestConformance5382_8(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		m2, at := confHairpin(t, c, f, vh.TCP, 4400)
		if at == nil {
			return
		}
		// X2 answers to what it saw (X1's mapping).
		sa := flow(c.client(1, f), at.Src, vh.TCP, 4400, at.SrcPort)
		sa.TCPFlags = vh.SYN | vh.ACK
		cp := c.v.Send(t, c.pg0, vh.Frames(t, sa))
		if len(cp[c.pg0]) != 1 {
			t.Fatalf("X2's SYN-ACK to X1's mapping: want it back on the inside at X1, got:\n%s", cp)
		}
		g := vh.ParseAll(t, cp[c.pg0])[0]
		if g.Dst != c.client(0, f).Src || g.DstPort != 4401 || g.Src != m2.Src || g.SrcPort != confPort(m2) {
			t.Errorf("SYN-ACK reached X1 as %s, want from X2's mapping %s to X1:4401", g, confMapping(m2))
		}
		ack := flow(c.client(0, f), m2.Src, vh.TCP, 4401, confPort(m2))
		ack.TCPFlags = vh.ACK
		cp = c.v.Send(t, c.pg0, vh.Frames(t, ack))
		if len(cp[c.pg0]) != 1 {
			t.Errorf("X1's ACK did not reach X2:\n%s", cp)
		}
	})
}

// TestConformance5382_10: no ICMP message ends a TCP connection: every
// ICMP error about an established connection, then data still flows both
// ways with the same mapping. VIP sessions: TestICMPErrorDoesNotRefreshSession.
func TestConformance5382_10(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		confICMPNeverDeletes(t, c, f, vh.TCP, 4500)
	})
}

// TestConformance7857_tcp: the TCP state machine picks the timeout: after
// SYN, FIN and RST the transitory timer (240 s: gone at 241 s), once
// established the established timer (alive at 241 s and at 7439 s, gone
// at 7441 s). VIP sessions: TestTimeoutsDefault.
func TestConformance7857_tcp(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		x := c.client(0, f).Src
		open := func(p uint16) *vh.Parsed {
			g := c.out(t, 0, f, vh.TCP, p, y, 80, vh.SYN)
			c.alive(t, "SYN-ACK", g, vh.SYN|vh.ACK, x, p)
			c.out(t, 0, f, vh.TCP, p, y, 80, vh.ACK)
			return g
		}
		syn := c.out(t, 0, f, vh.TCP, 4601, y, 80, vh.SYN)
		est := open(4602)
		fin := open(4603)
		c.out(t, 0, f, vh.TCP, 4603, y, 80, vh.FIN|vh.ACK)
		c.alive(t, "FIN-ACK", fin, vh.FIN|vh.ACK, x, 4603)
		c.out(t, 0, f, vh.TCP, 4603, y, 80, vh.ACK)
		rst := open(4604)
		c.out(t, 0, f, vh.TCP, 4604, y, 80, vh.RST)
		clock(t, c.v, 241)
		c.gone(t, "SYN only, idle 241 s", syn, vh.SYN|vh.ACK)
		c.gone(t, "both FINs, idle 241 s", fin, vh.ACK)
		c.gone(t, "after RST, idle 241 s", rst, vh.ACK)
		c.alive(t, "established, idle 241 s", est, vh.ACK, x, 4602)
		clock(t, c.v, 7439)
		c.alive(t, "established, idle 7439 s", est, vh.ACK, x, 4602)
		clock(t, c.v, 7441)
		c.gone(t, "established, idle 7441 s", est, vh.ACK)
	})
}

// TestConformance7857_rst: after a RST the state is kept 4 minutes: X
// resets an established connection; 200 s later Y's retransmission still
// reaches X, and X's retransmitted RST still leaves with the same mapping.
// VIP sessions: TestTimeoutsDefault's RST case.
func TestConformance7857_rst(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		x := c.client(0, f).Src
		g := c.out(t, 0, f, vh.TCP, 4700, y, 80, vh.SYN)
		c.alive(t, "SYN-ACK", g, vh.SYN|vh.ACK, x, 4700)
		c.out(t, 0, f, vh.TCP, 4700, y, 80, vh.ACK)
		c.out(t, 0, f, vh.TCP, 4700, y, 80, vh.RST)
		clock(t, c.v, 200)
		c.alive(t, "Y's retransmission 200 s after X's RST", g, vh.ACK|vh.PSH, x, 4700)
		r := c.out(t, 0, f, vh.TCP, 4700, y, 80, vh.RST)
		if confMapping(r) != confMapping(g) {
			t.Errorf("X's second RST left as %s, want %s", confMapping(r), confMapping(g))
		}
	})
}

// TestConformance7857_overlap: MAY: one outside port serves several inside
// endpoints towards different destinations (X1:x -> Y1 and X2:x -> Y2 on
// one outside address). Either answer conforms; what must hold is that
// each answer goes back to its own host. The test logs which it is. VIP:
// not applicable.
func TestConformance7857_overlap(t *testing.T) {
	confEachModeFamily(t, confOpts{one: true}, func(t *testing.T, c *ctopo, f family) {
		y1, y2 := c.remote(farHost, f), c.remote(0, f)
		g1 := c.out(t, 0, f, vh.UDP, 4800, y1, 53, 0)
		g2 := c.out(t, 1, f, vh.UDP, 4800, y2, 53, 0)
		if confMapping(g1) == confMapping(g2) {
			t.Logf("X1:4800 -> %s and X2:4800 -> %s share %s (overlap used)", y1, y2, confMapping(g1))
		} else {
			t.Logf("X1:4800 and X2:4800 got %s and %s (no overlap: also conforming)", confMapping(g1), confMapping(g2))
		}
		c.alive(t, "answer from Y1", g1, 0, c.client(0, f).Src, 4800)
		c.alive(t, "answer from Y2", g2, 0, c.client(1, f).Src, 4800)
	})
}

// TestConformance7857_refresh: ICMP errors and RSTs that answer inbound
// packets do not refresh a mapping: a UDP mapping 299 s idle gets X's
// port-unreachable about Y's packet and is gone at 301 s; a TCP SYN-sent
// confMapping 230 s idle gets X's RST answering Y's segment and is gone 301 s
// after its SYN (transitory 240 s, not restarted by the RST). VIP sessions: TestICMPErrorDoesNotRefreshSession covers the ICMP
// half.
func TestConformance7857_refresh(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		x := c.client(0, f)
		u := c.out(t, 0, f, vh.UDP, 4900, y, 53, 0)
		s := c.out(t, 0, f, vh.TCP, 4901, y, 80, vh.SYN)
		clock(t, c.v, 230)
		// X's RST answering Y (as if Y's segment had come in).
		rst := flow(x, y, vh.TCP, 4901, 80)
		rst.TCPFlags = vh.RST | vh.ACK
		c.v.Send(t, c.pg0, vh.Frames(t, rst))
		clock(t, c.v, 69) // UDP: 299 s idle
		// X's port unreachable about Y's datagram Y:53 -> X:4900.
		quoted := vh.Pkt{Src: y, Dst: x.Src, Proto: vh.UDP, SrcPort: 53, DstPort: 4900}.MustIP()
		e := confICMPError(x, y, vh.DestUnreach, 3, quoted)
		if f.v6 {
			e.ICMPCode = 4
		}
		c.v.Send(t, c.pg0, vh.Frames(t, e))
		clock(t, c.v, 2) // UDP 301 s; TCP 301 s after its SYN, 71 s after X's RST
		c.gone(t, "UDP 301 s after the last outbound datagram (an ICMP error at 299 s)", u, 0)
		c.gone(t, "TCP SYN-sent 301 s after the SYN (X's RST answering Y at 230 s)", s, vh.SYN|vh.ACK)
	})
}
