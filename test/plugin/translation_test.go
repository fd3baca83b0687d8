package plugin

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// addTranslation adds a vip translation of one backend list ("->b 8080" parts).
func addVIP(t *testing.T, tp *topo, pr vh.Proto, vip netip.Addr, port uint16, opts string, tos ...string) {
	t.Helper()
	cmd := fmt.Sprintf("cnat translation add proto %s vip %s%s", protoWord(pr), vip, pa(pr, port))
	if opts != "" {
		cmd += " " + opts
	}
	for _, to := range tos {
		cmd += " to " + to
	}
	tp.cli(t, "%s", cmd)
}

// to formats a "to" clause to backend address b and port.
func to(b netip.Addr, port uint16, pr vh.Proto) string {
	return fmt.Sprintf("->%s%s", b, pa(pr, port))
}

// addVIPToBackend0 adds the usual translation: the family's VIP port 80 to
// pg1's host 0 port 8080.
func addVIPToBackend0(t *testing.T, tp *topo, f family, pr vh.Proto) {
	t.Helper()
	addVIP(t, tp, pr, f.vip(), 80, "", to(tp.pg1.Hosts[0].IP(f.v6), 8080, pr))
}

// addVIPsToBackend0 adds the usual translation for every family and protocol.
func addVIPsToBackend0(t *testing.T, tp *topo) {
	t.Helper()
	for _, f := range families {
		for _, pr := range protos {
			addVIPToBackend0(t, tp, f, pr)
		}
	}
}

// TestDNAT: a vip translation rewrites the destination of a client's flow to
// its backend and restores the VIP as the source of the replies, for TCP,
// UDP and ICMP echo, in IPv4 and IPv6.
func TestDNAT(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	addVIPsToBackend0(t, tp)
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				b := tp.pg1.Hosts[0].IP(f.v6)
				c := tp.client(0, f)
				p := flow(c, f.vip(), pr, 1234, 80)
				got := tp.one(t, tp.pg0, p, tp.pg1)
				bport := uint16(8080)
				if pr == vh.ICMP {
					bport = 0
				}
				want(t, "forward", got, c.Src, 1234, b, bport)
				if got.TTL != 63 {
					t.Errorf("forward: TTL %d, want 63", got.TTL)
				}
				r := replyTo(tp.pg1, got, vh.SYN|vh.ACK)
				back := tp.one(t, tp.pg1, r, tp.pg0)
				want(t, "reply", back, f.vip(), cliPort(pr, 80), c.Src, 1234)
				if pr == vh.ICMP && back.ICMP != vh.EchoReply {
					t.Errorf("reply: got %s, want echo reply", back)
				}
				// Later packets of the flow, both ways.
				p.TCPFlags = vh.ACK
				want(t, "second forward", tp.one(t, tp.pg0, p, tp.pg1), c.Src, 1234, b, bport)
				r.TCPFlags = vh.ACK
				want(t, "second reply", tp.one(t, tp.pg1, r, tp.pg0), f.vip(), cliPort(pr, 80), c.Src, 1234)
			})
		}
	}
	wantSessions(t, tp.v, "", 6)
}

// TestDNATFourRewrites: a backend with a source address and port rewrites
// all four fields; replies to the new source come back through cloudnat.
func TestDNATFourRewrites(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		for _, pr := range []vh.Proto{vh.TCP, vh.UDP} {
			t.Run(name(f.name, pr), func(t *testing.T) {
				src := f.a("30.0.0.9", "30::9")
				b := tp.pg1.Hosts[1].IP(f.v6)
				tp.cli(t, "cnat translation add proto %s vip %s 53 to %s 4000->%s 5353", pr, f.vip(), src, b)
				c := tp.client(0, f)
				p := flow(c, f.vip(), pr, 1234, 53)
				got := tp.one(t, tp.pg0, p, tp.pg1)
				want(t, "forward", got, src, 4000, b, 5353)
				back := tp.one(t, tp.pg1, replyTo(tp.pg1, got, vh.SYN|vh.ACK), tp.pg0)
				want(t, "reply", back, f.vip(), 53, c.Src, 1234)
			})
		}
	}
}

// backendsOf sends n flows (source ports base..base+n-1 from client 0) to
// vip:port and returns the backend each landed on.
func backendsOf(t *testing.T, tp *topo, f family, pr vh.Proto, port uint16, base uint16, n int, clients int) map[string]netip.Addr {
	t.Helper()
	var pkts []vh.Pkt
	for i := 0; i < n; i++ {
		c := tp.client(i%clients, f)
		pkts = append(pkts, flow(c, f.vip(), pr, base+uint16(i), port))
	}
	got := tp.v.SendAndExpect(t, tp.pg0, pkts, tp.pg1)
	m := map[string]netip.Addr{}
	for i, g := range got {
		if g.SrcPort != pkts[i].SrcPort && pr != vh.ICMP {
			t.Fatalf("flow %d: source port changed: %s", i, g)
		}
		m[netip.AddrPortFrom(g.Src, g.SrcPort).String()] = g.Dst
	}
	return m
}

func count(m map[string]netip.Addr) map[netip.Addr]int {
	c := map[netip.Addr]int{}
	for _, b := range m {
		c[b]++
	}
	return c
}

// TestDNATSeveralBackends: flows spread over every backend (flow hash and
// Maglev), a flow sticks to its backend, the hash option chooses the fields.
func TestDNATSeveralBackends(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			bs := []netip.Addr{tp.pg1.Hosts[0].IP(f.v6), tp.pg1.Hosts[1].IP(f.v6), tp.pg1.Hosts[2].IP(f.v6)}
			var tos []string
			for _, b := range bs {
				tos = append(tos, to(b, 8080, vh.UDP))
			}
			addVIP(t, tp, vh.UDP, f.vip(), 80, "", tos...)
			addVIP(t, tp, vh.UDP, f.vip(), 81, "maglev", tos...)
			addVIP(t, tp, vh.UDP, f.vip(), 82, "hash src-addr,dst-addr", tos...)
			// Distinct source ports per VIP port: the same client port to the
			// same backend from two VIP ports would share a reply 5-tuple.
			for _, port := range []uint16{80, 81} {
				base := 2000 + 100*(port-80)
				m := backendsOf(t, tp, f, vh.UDP, port, base, 90, 3)
				c := count(m)
				for _, b := range bs {
					if c[b] < 10 {
						t.Errorf("port %d: backend %s got %d of 90 flows: %v", port, b, c[b], c)
					}
				}
				// The same flows again: same backends.
				again := backendsOf(t, tp, f, vh.UDP, port, base, 90, 3)
				for k, b := range m {
					if again[k] != b {
						t.Errorf("port %d: flow %s moved from %s to %s", port, k, b, again[k])
					}
				}
			}
			// hash src-addr,dst-addr: all flows of one client go to one backend.
			m := backendsOf(t, tp, f, vh.UDP, 82, 3000, 30, 1)
			if c := count(m); len(c) != 1 {
				t.Errorf("hash src-addr,dst-addr: one client's flows went to %d backends: %v", len(c), c)
			}
		})
	}
}

// TestMaglevMinimalDisruption: removing one of three Maglev backends moves
// (almost) only the flows that were on it.
func TestMaglevMinimalDisruption(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			bs := []netip.Addr{tp.pg1.Hosts[0].IP(f.v6), tp.pg1.Hosts[1].IP(f.v6), tp.pg1.Hosts[2].IP(f.v6)}
			addVIP(t, tp, vh.UDP, f.vip(), 80, "maglev", to(bs[0], 8080, vh.UDP), to(bs[1], 8080, vh.UDP), to(bs[2], 8080, vh.UDP))
			before := backendsOf(t, tp, f, vh.UDP, 80, 4000, 120, 3)
			tp.cli(t, "cnat session purge")
			addVIP(t, tp, vh.UDP, f.vip(), 80, "maglev", to(bs[0], 8080, vh.UDP), to(bs[1], 8080, vh.UDP))
			after := backendsOf(t, tp, f, vh.UDP, 80, 4000, 120, 3)
			kept, stayed := 0, 0
			for k, b := range before {
				if after[k] == bs[2] {
					t.Errorf("flow %s went to removed backend %s", k, bs[2])
				}
				if b != bs[2] {
					kept++
					if after[k] == b {
						stayed++
					}
				}
			}
			if kept == 0 || stayed*100 < kept*80 {
				t.Errorf("only %d of %d flows on kept backends stayed on them (want >= 80%%)", stayed, kept)
			}
		})
	}
}

// TestTranslationUpdate: replacing a translation keeps the sessions of kept
// backends and drops those of removed backends.
func TestTranslationUpdate(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			b1, b2, b3 := tp.pg1.Hosts[0].IP(f.v6), tp.pg1.Hosts[1].IP(f.v6), tp.pg1.Hosts[2].IP(f.v6)
			addVIP(t, tp, vh.UDP, f.vip(), 80, "", to(b1, 8080, vh.UDP), to(b2, 8080, vh.UDP))
			m := backendsOf(t, tp, f, vh.UDP, 80, 5000, 20, 1)
			var on1, on2 string
			for k, b := range m {
				if b == b1 && on1 == "" {
					on1 = k
				}
				if b == b2 && on2 == "" {
					on2 = k
				}
			}
			if on1 == "" || on2 == "" {
				t.Fatalf("20 flows did not use both backends: %v", count(m))
			}
			c := tp.client(0, f)
			port := func(k string) uint16 { return netip.MustParseAddrPort(k).Port() }
			addVIP(t, tp, vh.UDP, f.vip(), 80, "", to(b1, 8080, vh.UDP), to(b3, 8080, vh.UDP))

			// Session on kept b1: its reply is still translated.
			r1 := vh.Pkt{SrcMAC: tp.pg1.Hosts[0].MAC, DstMAC: tp.pg1.MAC, Src: b1, Dst: c.Src, Proto: vh.UDP, SrcPort: 8080, DstPort: port(on1)}
			want(t, "reply on kept backend after update", tp.one(t, tp.pg1, r1, tp.pg0), f.vip(), 80, c.Src, port(on1))
			want(t, "flow on kept backend after update", tp.one(t, tp.pg0, flow(c, f.vip(), vh.UDP, port(on1), 80), tp.pg1), c.Src, port(on1), b1, 8080)

			// Session on removed b2: gone, so its reply passes untouched and
			// the flow's next packet goes to a live backend.
			r2 := vh.Pkt{SrcMAC: tp.pg1.Hosts[1].MAC, DstMAC: tp.pg1.MAC, Src: b2, Dst: c.Src, Proto: vh.UDP, SrcPort: 8080, DstPort: port(on2)}
			want(t, "reply from removed backend after update (no session: untouched)", tp.one(t, tp.pg1, r2, tp.pg0), b2, 8080, c.Src, port(on2))
			got := tp.one(t, tp.pg0, flow(c, f.vip(), vh.UDP, port(on2), 80), tp.pg1)
			if got.Dst != b1 && got.Dst != b3 {
				t.Errorf("flow of removed backend after update: went to %s, want %s or %s", got.Dst, b1, b3)
			}
			tp.cli(t, "cnat translation del proto udp vip %s 80", f.vip())
		})
	}
}

// TestTranslationDelete: deleting a translation deletes its sessions; the
// VIP is no longer captured.
func TestTranslationDelete(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				b := tp.pg1.Hosts[0].IP(f.v6)
				addVIPToBackend0(t, tp, f, pr)
				c := tp.client(0, f)
				got := tp.one(t, tp.pg0, flow(c, f.vip(), pr, 1234, 80), tp.pg1)
				wantSessions(t, tp.v, "", 1)
				tp.cli(t, "cnat translation del proto %s vip %s%s", pr, f.vip(), pa(pr, 80))
				wantSessions(t, tp.v, "", 0)
				if out := tp.cli(t, "cnat show translation"); strings.Contains(out, f.vip().String()) {
					t.Errorf("deleted translation still shown:\n%s", out)
				}
				// The reply has no session any more: untouched.
				back := tp.one(t, tp.pg1, replyTo(tp.pg1, got, vh.SYN|vh.ACK), tp.pg0)
				want(t, "reply after delete (untouched)", back, b, got.DstPort, c.Src, 1234)
				// Nothing reaches the backend through the VIP.
				tp.v.SendAndExpectNone(t, tp.pg0, []vh.Pkt{flow(c, f.vip(), pr, 1235, 80)}, tp.pg1)
				// Deleting again is fine (idempotent).
				if _, err := tp.v.CLI(fmt.Sprintf("cnat translation del proto %s vip %s%s", pr, f.vip(), pa(pr, 80))); err != nil {
					t.Errorf("second delete: %v", err)
				}
			})
		}
	}
}

// TestVIPPortWithoutTranslationDropped: the VIP captures all its traffic;
// ports and protocols without a translation are dropped and counted.
func TestVIPPortWithoutTranslationDropped(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			b := tp.pg1.Hosts[0].IP(f.v6)
			addVIPToBackend0(t, tp, f, vh.TCP)
			c := tp.client(0, f)
			before := cnatErrors(t, tp.v, "VIP port without")
			pkts := []vh.Pkt{
				flow(c, f.vip(), vh.TCP, 1234, 81),
				flow(c, f.vip(), vh.UDP, 1234, 80),
				flow(c, f.vip(), vh.ICMP, 1234, 0),
			}
			tp.v.SendAndExpectNone(t, tp.pg0, pkts)
			if d := cnatErrors(t, tp.v, "VIP port without") - before; d != 3 {
				t.Errorf("3 packets to untranslated VIP ports: cloudnat's 'VIP port without (translation)' drop counter grew by %d, want 3:\n%s", d, tp.cli(t, "show errors"))
			}
			wantSessions(t, tp.v, "", 0)
			// The translated port still works.
			want(t, "translated port", tp.one(t, tp.pg0, flow(c, f.vip(), vh.TCP, 1234, 80), tp.pg1), c.Src, 1234, b, 8080)
			tp.cli(t, "cnat session purge")
		})
	}
}

// TestBackendWithoutSessionPassesUntouched: traffic from a backend that
// matches no session is forwarded as it is.
func TestBackendWithoutSessionPassesUntouched(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	addVIPsToBackend0(t, tp)
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				c := tp.client(0, f)
				p := flow(tp.backend(0, f), c.Src, pr, 8080, 5555)
				if pr == vh.ICMP {
					p.ICMP = vh.EchoRequest
				}
				got := tp.one(t, tp.pg1, p, tp.pg0)
				want(t, "backend-initiated", got, p.Src, p.SrcPort, c.Src, p.DstPort)
				// And the client's answer is not translated either.
				r := replyTo(tp.pg0, got, vh.SYN|vh.ACK)
				if pr == vh.ICMP {
					r.ICMP = vh.EchoReply
				}
				want(t, "client's answer", tp.one(t, tp.pg0, r, tp.pg1), c.Src, r.SrcPort, p.Src, r.DstPort)
			})
		}
	}
	wantSessions(t, tp.v, "", 0)
}

// TestRealTranslation: a real translation on an interface address takes only
// its port; the seed command verbatim.
func TestRealTranslation(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.cli(t, "set interface ip address pg0 30.0.0.2/24")
	tp.cli(t, "set interface ip address pg0 30::2/64")
	tp.cli(t, "cnat translation add proto TCP real 30.0.0.2 80 to 1.2.3.4->20.0.0.1 8080")
	tp.cli(t, "cnat translation add proto TCP real 30::2 80 to 1:2:3::4->20::1 8080")
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			c := tp.client(0, f)
			real := f.vip()
			src := f.a("1.2.3.4", "1:2:3::4")
			b := f.a("20.0.0.1", "20::1")
			// The rest of the address is delivered locally: VPP answers a ping.
			echo := tp.one(t, tp.pg0, flow(c, real, vh.ICMP, 99, 0), tp.pg0)
			if echo.ICMP != vh.EchoReply || echo.Src != real || echo.ICMPID != 99 {
				t.Errorf("ping of the real address: got %s, want echo reply from %s", echo, real)
			}
			got := tp.one(t, tp.pg0, flow(c, real, vh.TCP, 1234, 80), tp.pg1)
			want(t, "forward", got, src, 0, b, 8080)
			back := tp.one(t, tp.pg1, replyTo(tp.pg1, got, vh.SYN|vh.ACK), tp.pg0)
			want(t, "reply", back, real, 80, c.Src, 1234)
		})
	}
}

// TestShowTranslationCounters: "show cnat translation" counts packets and
// sessions.
func TestShowTranslationCounters(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	f := families[0]
	tp.cli(t, "cnat translation add proto UDP vip 30.0.0.2 80 to ->20.0.0.1 8080")
	c := tp.client(0, f)
	p := flow(c, f.vip(), vh.UDP, 1234, 80)
	tp.one(t, tp.pg0, p, tp.pg1) // creates the session
	var pkts []vh.Pkt
	for i := 0; i < 36; i++ {
		pkts = append(pkts, p)
	}
	tp.v.SendAndExpect(t, tp.pg0, pkts, tp.pg1)
	for _, cmd := range []string{"show cnat translation", "cnat show translation"} {
		out := tp.cli(t, "%s", cmd)
		if !strings.Contains(out, "packets 37") || !strings.Contains(out, "sessions 1") ||
			!strings.Contains(out, "30.0.0.2") || !strings.Contains(out, "20.0.0.1") {
			t.Errorf("%s after 37 packets of one flow: want the translation with 'sessions 1' and 'packets 37':\n%s", cmd, out)
		}
	}
}

// TestBurstOfNewFlowAllTranslated: several packets of one new flow in one
// frame (a burst before the session exists) are all translated by the one
// session the first creates.
func TestBurstOfNewFlowAllTranslated(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				b := tp.pg1.Hosts[0].IP(f.v6)
				addVIPToBackend0(t, tp, f, pr)
				c := tp.client(0, f)
				p := flow(c, f.vip(), pr, 1234, 80)
				var pkts []vh.Pkt
				for i := 0; i < 8; i++ {
					pkts = append(pkts, p)
				}
				for _, g := range tp.v.SendAndExpect(t, tp.pg0, pkts, tp.pg1) {
					want(t, "burst", g, c.Src, 1234, b, map[bool]uint16{true: 0, false: 8080}[pr == vh.ICMP])
				}
				wantSessions(t, tp.v, "", 1)
				tp.cli(t, "cnat translation del proto %s vip %s%s", pr, f.vip(), pa(pr, 80))
			})
		}
	}
}
