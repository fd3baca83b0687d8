package plugin

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// Static 1:1 NAT and its combinations with masquerade (pools) and port
// forwards (translations) on a peering of two tables (issue 12):
//
//	side 1: pg0 table 1 10.1.0.1/24 10:1::1/64   a = 10.1.0.2 10:1::2, router 10.1.0.3 10:1::3
//	side 2: pg1 table 2 10.2.0.1/24 10:2::1/64   b = 10.2.0.2 10:2::2, router 10.2.0.3 10:2::3
//
// a is exposed to side 2 as A = 172.16.0.2 (172:16::2), b to side 1 as
// B = 192.168.0.2 (192:168::2).

type mode string

const (
	static  mode = "static"
	masq    mode = "masquerade"
	portFwd mode = "port-forward"
)

// pside is one side of a peering.
type pside struct {
	pg    *vh.PG
	table uint32
	mode  mode
	name  string // "a" or "b"
	exp   [2]netip.Addr
}

func (s *pside) addr(f family) netip.Addr    { return s.pg.Hosts[0].IP(f.v6) }
func (s *pside) router(f family) vh.Pkt      { return s.pg.From(1, f.v6) }
func (s *pside) host(f family) vh.Pkt        { return s.pg.From(0, f.v6) }
func (s *pside) exposed(f family) netip.Addr { return s.exp[b2i(f.v6)] }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func plen(f family) int {
	if f.v6 {
		return 128
	}
	return 32
}

type peering struct {
	v     *vh.VPP
	sides [2]*pside
}

// newPeering starts VPP with the two sides (no NAT configured).
func newPeering(t *testing.T) *peering {
	t.Helper()
	v := vh.Start(t, vh.Options{})
	p := &peering{v: v}
	p.sides[0] = &pside{table: 1, name: "a",
		pg:  v.NewPG(t, vh.PGConfig{Table: 1, IP4: "10.1.0.1/24", IP6: "10:1::1/64", Hosts: 2}),
		exp: [2]netip.Addr{netip.MustParseAddr("172.16.0.2"), netip.MustParseAddr("172:16::2")}}
	p.sides[1] = &pside{table: 2, name: "b",
		pg:  v.NewPG(t, vh.PGConfig{Table: 2, IP4: "10.2.0.1/24", IP6: "10:2::1/64", Hosts: 2}),
		exp: [2]netip.Addr{netip.MustParseAddr("192.168.0.2"), netip.MustParseAddr("192:168::2")}}
	return p
}

// configure sets up side i's mode for both families and every protocol.
func (p *peering) configure(t *testing.T, i int, m mode) {
	t.Helper()
	s, o := p.sides[i], p.sides[1-i]
	s.mode = m
	for _, f := range families {
		switch m {
		case static:
			p.v.CLIf(t, "cnat static add %s/%d table %d to %s/%d outside-table %d",
				s.addr(f), plen(f), s.table, s.exposed(f), plen(f), o.table)
		case masq:
			pool := fmt.Sprintf("p%d-%s", s.table, f.name)
			p.v.CLIf(t, "cnat pool add %s outside-table %d range %s-%s", pool, o.table, s.exposed(f), s.exposed(f))
			p.v.CLIf(t, "cnat pool bind %s table %d %s/%d", pool, s.table, s.addr(f), plen(f))
		case portFwd:
			// a translation in the destination's own table; the other
			// side reaches the address through a lookup in that table
			for _, pr := range protos {
				p.v.CLIf(t, "cnat translation add proto %s vip %s%s table %d to %s",
					pr, s.exposed(f), pa(pr, 80), s.table, to(s.addr(f), 8080, pr))
			}
			p.v.CLIf(t, "ip route add %s/%d table %d via %s-lookup-in-table %d",
				s.exposed(f), plen(f), o.table, f.arc(), s.table)
		}
	}
}

// send sends one packet into in and expects exactly one out of out (and
// nothing elsewhere); on failure it reports what came out and the trace.
func (p *peering) send(t *testing.T, what string, in *vh.PG, pkt vh.Pkt, out *vh.PG) *vh.Parsed {
	t.Helper()
	c := p.v.Send(t, in, vh.Frames(t, pkt), vh.SendOptions{Trace: 10})
	desc := "?"
	if b, err := pkt.IP(); err == nil {
		if pp, err := vh.ParseIP(b); err == nil {
			desc = pp.String()
		}
	}
	bad := len(c[out]) != 1
	for pg := range c {
		if pg != out {
			bad = true
		}
	}
	if bad {
		tr := p.v.ShowTrace(t)
		if len(tr) > 6000 {
			tr = tr[:6000] + "\n...(trace cut)"
		}
		t.Fatalf("%s: sent %s into %s: want 1 packet out of %s; captured:\n%s\nshow trace:\n%s",
			what, desc, in.Name, out.Name, c, tr)
	}
	return vh.ParseAll(t, c[out])[0]
}

// runFlow runs the flow from side ini's endpoint to the other side's
// exposed address for protocol pr: first packet, reply, second packet both
// ways, then ICMP errors about the flow from both sides.
func (p *peering) runFlow(t *testing.T, ini int, f family, pr vh.Proto, sport uint16) {
	i, r := p.sides[ini], p.sides[1-ini]
	const dport = 80
	rport := uint16(dport) // the port the responder sees
	if r.mode == portFwd {
		rport = 8080
	}
	// what the responder sees as the source (port 0: any, masquerade)
	isport := sport
	if i.mode == masq {
		isport = 0
	}
	if pr == vh.ICMP {
		rport = 0
	}
	fwd := flow(i.host(f), r.exposed(f), pr, sport, dport)
	got := p.send(t, "first packet "+i.name+"->"+strings.ToUpper(r.name), i.pg, fwd, r.pg)
	want(t, "first packet leaves as "+strings.ToUpper(i.name)+"->"+r.name, got, i.exposed(f), isport, r.addr(f), rport)
	if pr == vh.ICMP && got.ICMP != vh.EchoRequest {
		t.Errorf("first packet: got %s, want an echo request", got)
	}

	reply := replyTo(r.pg, got, vh.SYN|vh.ACK)
	back := p.send(t, "reply "+r.name+"->"+strings.ToUpper(i.name), r.pg, reply, i.pg)
	want(t, "reply returns as "+strings.ToUpper(r.name)+"->"+i.name, back, r.exposed(f), cliPort(pr, dport), i.addr(f), sport)
	if pr == vh.ICMP {
		if back.ICMP != vh.EchoReply || back.ICMPID != sport {
			t.Errorf("reply: got %s, want echo reply id %d", back, sport)
		}
	}

	fwd2 := fwd
	fwd2.TCPFlags, fwd2.ICMPSeq = vh.ACK, 2
	got2 := p.send(t, "second packet", i.pg, fwd2, r.pg)
	if got2.Key() != got.Key() {
		t.Errorf("second packet of the flow left as %s, the first as %s", got2, got)
	}
	back2 := p.send(t, "second reply", r.pg, replyTo(r.pg, got, vh.ACK), i.pg)
	if back2.Key() != back.Key() {
		t.Errorf("second reply came back as %s, the first as %s", back2, back)
	}

	// ICMP errors about the forward packet, from the responder's side,
	// reach the initiator about its own packet (a -> B).
	pu := portUnreach(f.v6)
	te := icmpErr{"time-exceeded", vh.TimeExceeded, 0, 0}
	innerSport, innerDport := sport, cliPort(pr, dport)
	t.Run("error-from-"+r.name, func(t *testing.T) {
		e := icmpError(r.host(f), got.Src, pu, got.Raw)
		out := p.send(t, "port unreachable from "+r.name+" about "+got.String(), r.pg, e, i.pg)
		checkError(t, "port unreachable from "+r.name, out, pu, r.exposed(f), i.addr(f),
			i.addr(f), innerSport, r.exposed(f), innerDport, pr)
	})
	t.Run("time-exceeded-from-router-"+r.name, func(t *testing.T) {
		rt := r.router(f)
		e := icmpError(rt, got.Src, te, got.Raw)
		out := p.send(t, "time exceeded from router "+rt.Src.String()+" about "+got.String(), r.pg, e, i.pg)
		checkError(t, "time exceeded from router "+rt.Src.String(), out, te, netip.Addr{}, i.addr(f),
			i.addr(f), innerSport, r.exposed(f), innerDport, pr)
	})
	// ICMP errors about the reply, from the initiator's side, reach the
	// responder about its own reply (b -> A).
	rs, rd := got.DstPort, got.SrcPort
	if pr == vh.ICMP {
		rs, rd = got.ICMPID, got.ICMPID
	}
	t.Run("error-from-"+i.name, func(t *testing.T) {
		e := icmpError(i.host(f), back.Src, pu, back.Raw)
		out := p.send(t, "port unreachable from "+i.name+" about "+back.String(), i.pg, e, r.pg)
		checkError(t, "port unreachable from "+i.name, out, pu, i.exposed(f), r.addr(f),
			r.addr(f), rs, i.exposed(f), rd, pr)
	})
	t.Run("time-exceeded-from-router-"+i.name, func(t *testing.T) {
		rt := i.router(f)
		e := icmpError(rt, back.Src, te, back.Raw)
		out := p.send(t, "time exceeded from router "+rt.Src.String()+" about "+back.String(), i.pg, e, r.pg)
		checkError(t, "time exceeded from router "+rt.Src.String(), out, te, netip.Addr{}, r.addr(f),
			r.addr(f), rs, i.exposed(f), rd, pr)
	})
	// and the flow still works
	got3 := p.send(t, "packet after the errors", i.pg, fwd2, r.pg)
	if got3.Key() != got.Key() {
		t.Errorf("packet after the errors left as %s, the first as %s", got3, got)
	}
}

// runCombination configures side 1 with m1 and side 2 with m2 and runs
// flows from the sides in inis (0: a, 1: b) for every family and protocol.
func runCombination(t *testing.T, m1, m2 mode, inis ...int) *peering {
	p := newPeering(t)
	p.configure(t, 0, m1)
	p.configure(t, 1, m2)
	for _, ini := range inis {
		for _, f := range families {
			for k, pr := range protos {
				ini, f, pr := ini, f, pr
				sport := uint16(1000 + 10*ini + k)
				if f.v6 {
					sport += 100
				}
				t.Run(name(p.sides[ini].name+"-initiates", f.name, pr), func(t *testing.T) {
					p.runFlow(t, ini, f, pr, sport)
				})
			}
		}
	}
	return p
}

// TestStaticStatic: both sides static: flows both ways, and no session.
func TestStaticStatic(t *testing.T) {
	t.Parallel()
	p := runCombination(t, static, static, 0, 1)
	wantSessions(t, p.v, "", 0)
}

// TestStaticMasquerade: side 1 static, side 2 masquerades (b initiates).
func TestStaticMasquerade(t *testing.T) {
	t.Parallel()
	runCombination(t, static, masq, 1)
}

// TestStaticMasqueradeSide: side 1 masquerades, side 2 static (a initiates).
func TestStaticMasqueradeStatic(t *testing.T) {
	t.Parallel()
	runCombination(t, masq, static, 0)
}

// TestStaticPortForward: side 1 static, side 2 a port forward: a to B's
// forwarded port.
func TestStaticPortForward(t *testing.T) {
	t.Parallel()
	runCombination(t, static, portFwd, 0)
}

// TestStaticPortForwardStatic: side 1 a port forward, side 2 static: b to
// A's forwarded port.
func TestStaticPortForwardStatic(t *testing.T) {
	t.Parallel()
	runCombination(t, portFwd, static, 1)
}

// TestStaticMasqueradePortForward: side 1 masquerades to side 2's port
// forward (no static mapping: named TestStatic... to run with them).
func TestStaticMasqueradePortForward(t *testing.T) {
	t.Parallel()
	runCombination(t, masq, portFwd, 0)
}

// TestStaticStateless: a static-only flow creates no session, and its
// mapping counts its packets.
func TestStaticStateless(t *testing.T) {
	t.Parallel()
	p := newPeering(t)
	p.configure(t, 0, static)
	p.configure(t, 1, static)
	for _, f := range families {
		for _, pr := range protos {
			a, b := p.sides[0], p.sides[1]
			got := p.send(t, name("stateless", f.name, pr), a.pg, flow(a.host(f), b.exposed(f), pr, 2000, 80), b.pg)
			want(t, "forward", got, a.exposed(f), 2000, b.addr(f), cliPort(pr, 80))
			back := p.send(t, "reply", b.pg, replyTo(b.pg, got, vh.SYN|vh.ACK), a.pg)
			want(t, "reply", back, b.exposed(f), cliPort(pr, 80), a.addr(f), 2000)
		}
	}
	wantSessions(t, p.v, "", 0)
	out := p.v.MustCLI(t, "cnat show session verbose")
	if strings.Contains(out, "10.1.0.2") || strings.Contains(out, "172.16.0.2") {
		t.Errorf("cnat show session lists a static flow:\n%s", out)
	}
	st := p.v.MustCLI(t, "cnat show static")
	if strings.Contains(st, ": 0 packets") {
		t.Errorf("a mapping that translated packets shows 0 packets:\n%s", st)
	}
}

// TestStaticPortMapping: "proto tcp 80 8080": b -> A:8080 reaches a:80,
// a's reply leaves from A:8080; other ports and UDP are not mapped.
func TestStaticPortMapping(t *testing.T) {
	t.Parallel()
	p := newPeering(t)
	a, b := p.sides[0], p.sides[1]
	for _, f := range families {
		p.v.CLIf(t, "cnat static add %s/%d table 1 to %s/%d outside-table 2 proto tcp 80 8080",
			a.addr(f), plen(f), a.exposed(f), plen(f))
		// a reaches b's own address through table 2
		p.v.CLIf(t, "ip route add %s/%d table 1 via %s-lookup-in-table 2", b.addr(f), plen(f), f.arc())
	}
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			in := p.send(t, "b -> A:8080", b.pg, flow(b.host(f), a.exposed(f), vh.TCP, 3000, 8080), a.pg)
			want(t, "b -> A:8080 reaches a:80", in, b.addr(f), 3000, a.addr(f), 80)
			back := p.send(t, "reply a:80 -> b", a.pg, replyTo(a.pg, in, vh.SYN|vh.ACK), b.pg)
			want(t, "reply leaves from A:8080", back, a.exposed(f), 8080, b.addr(f), 3000)
			in2 := p.send(t, "second packet", b.pg, flow(b.host(f), a.exposed(f), vh.TCP, 3000, 8080), a.pg)
			if in2.Key() != in.Key() {
				t.Errorf("second packet %s, first %s", in2, in)
			}
			// a flow of a from another port is not mapped to A
			c := p.v.Send(t, a.pg, vh.Frames(t, flow(a.host(f), b.addr(f), vh.TCP, 81, 3000)))
			for _, x := range vh.ParseAll(t, c[b.pg]) {
				if x.Src == a.exposed(f) {
					t.Errorf("a's flow from port 81 left as %s: only port 80 is mapped", x)
				}
			}
			// TCP to another port of A, and UDP to A:8080, do not reach a
			for _, pk := range []vh.Pkt{flow(b.host(f), a.exposed(f), vh.TCP, 3001, 22), flow(b.host(f), a.exposed(f), vh.UDP, 3002, 8080)} {
				c := p.v.Send(t, b.pg, vh.Frames(t, pk))
				for _, x := range vh.ParseAll(t, c[a.pg]) {
					if x.Dst == a.addr(f) {
						t.Errorf("%s %d reached a as %s: only tcp 8080 is mapped", pk.Proto, pk.DstPort, x)
					}
				}
			}
		})
	}
	wantSessions(t, p.v, "", 0)
}

// TestStaticPrefix24: a /24 (IPv6 /120) mapping keeps the host bits.
func TestStaticPrefix24(t *testing.T) {
	t.Parallel()
	p := newPeering(t)
	a, b := p.sides[0], p.sides[1]
	pfx := map[bool][3]string{
		false: {"10.1.0.0/24", "172.16.1.0/24", "172.16.1."},
		true:  {"10:1::/120", "172:16::100/120", "172:16::1"},
	}
	for _, f := range families {
		x := pfx[f.v6]
		p.v.CLIf(t, "cnat static add %s table 1 to %s outside-table 2", x[0], x[1])
	}
	p.configure(t, 1, static)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			x := pfx[f.v6]
			for hi := 0; hi < 2; hi++ { // a (.2) and the router (.3)
				h := a.pg.From(hi, f.v6)
				last := h.Src.As16()[15]
				if !f.v6 {
					last = h.Src.As4()[3]
				}
				var A netip.Addr
				if f.v6 {
					A = netip.MustParseAddr(fmt.Sprintf("%s%02x", x[2], last))
				} else {
					A = netip.MustParseAddr(fmt.Sprintf("%s%d", x[2], last))
				}
				got := p.send(t, "forward", a.pg, flow(h, b.exposed(f), vh.UDP, 4000, 53), b.pg)
				want(t, fmt.Sprintf("%s keeps its host bits", h.Src), got, A, 4000, b.addr(f), 53)
				back := p.send(t, "reply", b.pg, replyTo(b.pg, got, 0), a.pg)
				want(t, "reply", back, b.exposed(f), 53, h.Src, 4000)
				// b starts a flow to that address too
				in := p.send(t, "b -> "+A.String(), b.pg, flow(b.host(f), A, vh.TCP, 4001, 22), a.pg)
				want(t, "b's flow to "+A.String(), in, b.exposed(f), 4001, h.Src, 22)
			}
		})
	}
}

// TestStaticSameTable: inside and outside in one table; traffic between
// addresses of the inside prefix is not mapped.
func TestStaticSameTable(t *testing.T) {
	t.Parallel()
	v := vh.Start(t, vh.Options{})
	in := v.NewPG(t, vh.PGConfig{Table: 3, IP4: "10.1.0.1/24", IP6: "10:1::1/64", Hosts: 2})
	out := v.NewPG(t, vh.PGConfig{Table: 3, IP4: "10.2.0.1/24", IP6: "10:2::1/64", Hosts: 2})
	p := &peering{v: v}
	// a (.2) and the other inside host (.3) are both in the mapped /30
	A := map[bool]netip.Addr{false: netip.MustParseAddr("10.9.0.2"), true: netip.MustParseAddr("10:9::2")}
	v.CLIf(t, "cnat static add 10.1.0.0/30 table 3 to 10.9.0.0/30 outside-table 3")
	v.CLIf(t, "cnat static add 10:1::/126 table 3 to 10:9::/126 outside-table 3")
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				a, b := in.From(0, f.v6), out.From(0, f.v6)
				got := p.send(t, "a -> b", in, flow(a, b.Src, pr, 5000, 80), out)
				want(t, "a -> b leaves as A -> b", got, A[f.v6], 5000, b.Src, cliPort(pr, 80))
				back := p.send(t, "reply", out, replyTo(out, got, vh.SYN|vh.ACK), in)
				want(t, "reply", back, b.Src, cliPort(pr, 80), a.Src, 5000)
				bin := p.send(t, "b -> A", out, flow(b, A[f.v6], pr, 5001, 22), in)
				want(t, "b -> A reaches a", bin, b.Src, 5001, a.Src, cliPort(pr, 22))
				// inside to inside is not mapped
				r := in.From(1, f.v6)
				c := v.Send(t, in, vh.Frames(t, flow(a, r.Src, pr, 5002, 80)))
				for _, x := range vh.ParseAll(t, c[in]) {
					if x.Src != a.Src {
						t.Errorf("a -> %s (also in the inside prefix): left as %s, want untranslated", r.Src, x)
					}
				}
			})
		}
	}
	wantSessions(t, v, "", 0)
}

// refuse runs a command that must fail with an error naming the conflict
// (every word of wants) and leave "cnat show static" as it was.
func refuse(t *testing.T, v *vh.VPP, cmd string, wants ...string) {
	t.Helper()
	before := v.MustCLI(t, "cnat show static")
	out, err := v.CLI(cmd)
	after := v.MustCLI(t, "cnat show static")
	if err == nil {
		t.Errorf("%q was accepted (%q), want a refusal naming %q; cnat show static now:\n%s", cmd, out, wants, after)
	} else {
		for _, w := range wants {
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(w)) {
				t.Errorf("%q refused with %q, which does not name %q", cmd, err, w)
			}
		}
	}
	if before != after {
		t.Errorf("after the refused %q, cnat show static changed from\n%s\nto\n%s", cmd, before, after)
	}
}

// TestStaticRefusals: one address, one mode.
func TestStaticRefusals(t *testing.T) {
	t.Parallel()
	p := newPeering(t)
	v := p.v
	v.CLIf(t, "cnat static add 10.1.0.2/32 table 1 to 172.16.0.2/32 outside-table 2")
	v.CLIf(t, "cnat static add 10:1::2/128 table 1 to 172:16::2/128 outside-table 2")
	v.CLIf(t, "cnat pool add pl outside-table 2 range 172.16.0.10-172.16.0.20")
	v.CLIf(t, "cnat pool bind pl table 1 10.1.0.128/25")
	v.CLIf(t, "cnat pool add pl6 outside-table 2 range 172:16::10-172:16::20")
	v.CLIf(t, "cnat pool bind pl6 table 1 10:1::80/121")
	v.CLIf(t, "cnat translation add proto tcp vip 172.16.0.30 80 table 2 to ->10.2.0.2 8080")
	v.CLIf(t, "cnat translation add proto tcp vip 172:16::30 80 table 2 to ->10:2::2 8080")

	t.Run("pool-address", func(t *testing.T) {
		refuse(t, v, "cnat static add 10.1.0.3/32 table 1 to 172.16.0.15/32 outside-table 2", "172.16.0.15", "pool", "pl")
		refuse(t, v, "cnat static add 10:1::3/128 table 1 to 172:16::15/128 outside-table 2", "172:16::15", "pool", "pl6")
	})
	t.Run("vip", func(t *testing.T) {
		refuse(t, v, "cnat static add 10.1.0.3/32 table 1 to 172.16.0.30/32 outside-table 2", "172.16.0.30", "vip")
		refuse(t, v, "cnat static add 10:1::3/128 table 1 to 172:16::30/128 outside-table 2", "172:16::30", "vip")
	})
	t.Run("other-static-mapping", func(t *testing.T) {
		refuse(t, v, "cnat static add 10.1.0.3/32 table 1 to 172.16.0.2/32 outside-table 2", "static mapping", "172.16.0.2")
		refuse(t, v, "cnat static add 10:1::3/128 table 1 to 172:16::2/128 outside-table 2", "static mapping", "172:16::2")
		// from another inside table too
		refuse(t, v, "cnat static add 10.2.0.9/32 table 2 to 172.16.0.2/32 outside-table 2", "static mapping", "172.16.0.2")
		// and a covering prefix
		refuse(t, v, "cnat static add 10.1.0.0/30 table 1 to 172.16.0.0/30 outside-table 2", "static mapping")
	})
	t.Run("inside-overlaps-pool-binding", func(t *testing.T) {
		refuse(t, v, "cnat static add 10.1.0.130/32 table 1 to 172.16.0.50/32 outside-table 2", "pool", "pl", "10.1.0.128/25")
		refuse(t, v, "cnat static add 10.1.0.128/26 table 1 to 172.16.0.64/26 outside-table 2", "pool", "pl", "10.1.0.128/25")
		refuse(t, v, "cnat static add 10:1::81/128 table 1 to 172:16::50/128 outside-table 2", "pool", "pl6", "10:1::80/121")
	})
	t.Run("inside-overlaps-other-mapping", func(t *testing.T) {
		refuse(t, v, "cnat static add 10.1.0.2/32 table 1 to 172.16.0.60/32 outside-table 2", "static mapping", "10.1.0.2")
	})
	t.Run("pool-over-static", func(t *testing.T) {
		// the other way round: a pool taking a mapping's outside address,
		// a VIP on it, a binding over a mapped inside address
		for _, c := range []struct{ cmd, what, undo string }{
			{"cnat pool add px outside-table 2 range 172.16.0.1-172.16.0.3", "pool over a mapping's outside address", "cnat pool del px"},
			{"cnat translation add proto tcp vip 172.16.0.2 80 table 2 to ->10.2.0.2 8080", "VIP on a mapping's outside address",
				"cnat translation del proto tcp vip 172.16.0.2 80 table 2"},
			{"cnat pool bind pl table 1 10.1.0.0/29", "binding over a mapped inside address", "cnat pool bind pl table 1 10.1.0.0/29 del"},
		} {
			before := v.MustCLI(t, "cnat show static") + v.MustCLI(t, "cnat show pool") + v.MustCLI(t, "cnat show translation")
			if out, err := v.CLI(c.cmd); err == nil {
				t.Errorf("%s: %q accepted (%q), want a refusal naming the mapping", c.what, c.cmd, out)
				// undo it, so the next checks start from the same state
				defer v.CLIf(t, "%s", c.undo)
			} else if !strings.Contains(strings.ToLower(err.Error()), "static") {
				t.Errorf("%s: %q refused with %q, which does not name the static mapping", c.what, c.cmd, err)
			}
			after := v.MustCLI(t, "cnat show static") + v.MustCLI(t, "cnat show pool") + v.MustCLI(t, "cnat show translation")
			if before != after {
				t.Errorf("%s: refused %q changed the configuration:\n%s\n->\n%s", c.what, c.cmd, before, after)
			}
		}
	})
	t.Run("delete-idempotent", func(t *testing.T) {
		v.CLIf(t, "cnat static add 10.1.0.4/32 table 1 to 172.16.0.4/32 outside-table 2")
		v.CLIf(t, "cnat static del 10.1.0.4/32 table 1")
		before := v.MustCLI(t, "cnat show static")
		if strings.Contains(before, "10.1.0.4/32") {
			t.Errorf("deleted mapping still shown:\n%s", before)
		}
		if out, err := v.CLI("cnat static del 10.1.0.4/32 table 1"); err != nil {
			t.Errorf("deleting a deleted mapping again: %v (%q), want success (idempotent)", err, out)
		}
		if out, err := v.CLI("cnat static del 10.1.0.77/32 table 1 proto tcp 80"); err != nil {
			t.Errorf("deleting a mapping that never existed: %v (%q), want success (idempotent)", err, out)
		}
		if after := v.MustCLI(t, "cnat show static"); after != before {
			t.Errorf("a repeated delete changed cnat show static:\n%s\n->\n%s", before, after)
		}
		// the address is free again
		v.CLIf(t, "cnat static add 10.1.0.4/32 table 1 to 172.16.0.4/32 outside-table 2")
		v.CLIf(t, "cnat static del 10.1.0.4/32 table 1")
	})
}
