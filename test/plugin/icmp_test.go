package plugin

import (
	"fmt"
	"net/netip"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

type icmpErr struct {
	name string
	kind vh.ICMPKind
	code uint8
	rest uint32 // MTU, pointer
}

// icmpErrors are the error messages an outside router may send.
func icmpErrors(v6 bool) []icmpErr {
	if v6 {
		return []icmpErr{
			{"dest-unreach/no-route", vh.DestUnreach, 0, 0},
			{"dest-unreach/admin-prohibited", vh.DestUnreach, 1, 0},
			{"dest-unreach/address-unreach", vh.DestUnreach, 3, 0},
			{"dest-unreach/port-unreach", vh.DestUnreach, 4, 0},
			{"packet-too-big", vh.PacketTooBig, 0, 1280},
			{"time-exceeded/hop-limit", vh.TimeExceeded, 0, 0},
			{"time-exceeded/reassembly", vh.TimeExceeded, 1, 0},
			{"param-problem/header-field", vh.ParamProblem, 0, 6},
		}
	}
	return []icmpErr{
		{"dest-unreach/net-unreach", vh.DestUnreach, 0, 0},
		{"dest-unreach/host-unreach", vh.DestUnreach, 1, 0},
		{"dest-unreach/port-unreach", vh.DestUnreach, 3, 0},
		{"dest-unreach/frag-needed", vh.DestUnreach, 4, 1400},
		{"dest-unreach/admin-prohibited", vh.DestUnreach, 13, 0},
		{"time-exceeded/ttl", vh.TimeExceeded, 0, 0},
		{"time-exceeded/reassembly", vh.TimeExceeded, 1, 0},
		{"param-problem/pointer", vh.ParamProblem, 0, 8 << 24},
	}
}

// portUnreach is the port-unreachable error of the family.
func portUnreach(v6 bool) icmpErr {
	for _, e := range icmpErrors(v6) {
		if e.name == "dest-unreach/port-unreach" {
			return e
		}
	}
	panic("no port-unreach")
}

// router is pg1's host 2, which plays a router on the path.
func (tp *topo) router(f family) vh.Pkt { return tp.backend(2, f) }

// icmpError builds an error from src about the quoted packet.
func icmpError(src vh.Pkt, dst netip.Addr, e icmpErr, quoted []byte) vh.Pkt {
	src.Dst, src.Proto, src.ICMP, src.ICMPCode, src.ICMPRest, src.Inner = dst, vh.ICMP, e.kind, e.code, e.rest, quoted
	return src
}

// checkError checks a translated ICMP error.
func checkError(t *testing.T, what string, got *vh.Parsed, e icmpErr, outerSrc, outerDst netip.Addr,
	innerSrc netip.Addr, innerSport uint16, innerDst netip.Addr, innerDport uint16, pr vh.Proto) {
	t.Helper()
	if got.Proto != vh.ICMP || got.ICMP != e.kind || got.ICMPCode != e.code {
		t.Fatalf("%s: got %s, want %s code %d", what, got, e.kind, e.code)
	}
	if got.ICMPRest != e.rest {
		t.Errorf("%s: MTU/pointer field %#x, want %#x", what, got.ICMPRest, e.rest)
	}
	if outerSrc.IsValid() && got.Src != outerSrc {
		t.Errorf("%s: outer source %s, want %s", what, got.Src, outerSrc)
	}
	if got.Dst != outerDst {
		t.Errorf("%s: outer destination %s, want %s", what, got.Dst, outerDst)
	}
	in := got.Inner
	if in == nil {
		t.Fatalf("%s: no quoted packet: %s", what, got)
	}
	if in.Proto != pr || in.Src != innerSrc || in.Dst != innerDst {
		t.Errorf("%s: quoted packet %s, want %s %s -> %s", what, in, pr, innerSrc, innerDst)
	}
	if pr == vh.ICMP {
		if in.ICMPID != innerSport {
			t.Errorf("%s: quoted echo id %d, want %d", what, in.ICMPID, innerSport)
		}
	} else if in.SrcPort != innerSport || in.DstPort != innerDport {
		t.Errorf("%s: quoted ports %d -> %d, want %d -> %d", what, in.SrcPort, in.DstPort, innerSport, innerDport)
	}
}

func truncate(ip []byte, v6 bool) []byte {
	n := 28
	if v6 {
		n = 48
	}
	return append([]byte{}, ip[:n]...)
}

// TestICMPErrorsThroughSNAT: errors from outside about a source-NATed flow
// reach the inside host with outer destination and quoted packet restored,
// every checksum right; an error from inside about the flow leaves
// translated; no error deletes the session.
func TestICMPErrorsThroughSNAT(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		for i, pr := range protos {
			t.Run(name(f.name, "inner-"+pr.String()), func(t *testing.T) {
				c := tp.client(0, f)
				far := tp.far(f).IP(f.v6)
				sport := uint16(1100 + i)
				got := tp.one(t, tp.pg0, flow(c, far, pr, sport, 53), tp.pg1)
				want(t, "forward", got, f.snat(), 0, far, 0)
				n := nSessions(t, tp.v, "")
				dport := got.DstPort
				// Prerequisite: the flow's plain replies come back.
				want(t, "reply before errors", tp.one(t, tp.pg1, replyTo(tp.pg1, got, vh.SYN|vh.ACK), tp.pg0), far, 0, c.Src, sport)
				for _, e := range icmpErrors(f.v6) {
					for _, quote := range []string{"full", "ip+8"} {
						q := got.Raw
						if quote == "ip+8" {
							q = truncate(q, f.v6)
						}
						t.Run(e.name+"/"+quote, func(t *testing.T) {
							r := tp.router(f)
							back := tp.one(t, tp.pg1, icmpError(r, f.snat(), e, q), tp.pg0)
							checkError(t, "error from outside", back, e, r.Src, c.Src, c.Src, sport, far, dport, pr)
						})
					}
				}
				if m := nSessions(t, tp.v, ""); m != n {
					t.Errorf("ICMP errors changed the session count from %d to %d", n, m)
				}
				// The flow still works both ways.
				want(t, "reply after errors", tp.one(t, tp.pg1, replyTo(tp.pg1, got, vh.SYN|vh.ACK), tp.pg0), far, 0, c.Src, sport)
				want(t, "forward after errors", tp.one(t, tp.pg0, flow(c, far, pr, sport, 53), tp.pg1), f.snat(), 0, far, 0)

				// From inside: the client answers the reply with an error.
				reply := replyTo(tp.pg1, got, vh.SYN|vh.ACK)
				atClient := tp.one(t, tp.pg1, reply, tp.pg0)
				e := portUnreach(f.v6)
				ie := icmpError(c, far, e, atClient.Raw)
				out := tp.one(t, tp.pg0, ie, tp.pg1)
				innerSport := atClient.SrcPort // far's port
				if pr == vh.ICMP {
					innerSport = got.ICMPID // the outside echo id
				}
				checkError(t, "error from inside", out, e, f.snat(), far, far, innerSport, f.snat(), got.SrcPort, pr)
				if m := nSessions(t, tp.v, ""); m != n {
					t.Errorf("ICMP errors changed the session count from %d to %d", n, m)
				}
			})
		}
	}
}

// TestICMPErrorsThroughDNAT: errors from the backend's side about a
// translated flow reach the client about the VIP.
func TestICMPErrorsThroughDNAT(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		for i, pr := range protos {
			t.Run(name(f.name, "inner-"+pr.String()), func(t *testing.T) {
				d := startFlow(t, tp, f, pr, uint16(1200+i))
				c := tp.client(0, f)
				sport := d.fwd.SrcPort
				for _, e := range icmpErrors(f.v6) {
					t.Run(e.name+"/from-router", func(t *testing.T) {
						r := tp.router(f)
						back := tp.one(t, tp.pg1, icmpError(r, c.Src, e, d.got.Raw), tp.pg0)
						checkError(t, "error from a router", back, e, r.Src, c.Src, c.Src, sport, f.vip(), cliPort(pr, 80), pr)
					})
				}
				e := portUnreach(f.v6)
				t.Run(e.name+"/from-backend", func(t *testing.T) {
					b := tp.backend(0, f)
					back := tp.one(t, tp.pg1, icmpError(b, c.Src, e, d.got.Raw), tp.pg0)
					checkError(t, "error from the backend (its address hidden behind the VIP)", back, e, f.vip(), c.Src, c.Src, sport, f.vip(), cliPort(pr, 80), pr)
				})
				d.alive(t, "after ICMP errors", vh.SYN|vh.ACK)
			})
		}
	}
	wantSessions(t, tp.v, "", 6)
}

// TestTracerouteThroughSNAT: TTL 1 gets VPP's own time-exceeded, TTL 2 an
// outside router's; both reach the inside host about its own flow.
func TestTracerouteThroughSNAT(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		for _, pr := range []vh.Proto{vh.UDP, vh.ICMP} {
			t.Run(name(f.name, pr), func(t *testing.T) {
				c := tp.client(0, f)
				far := tp.far(f).IP(f.v6)
				te := icmpErr{"time-exceeded", vh.TimeExceeded, 0, 0}
				for ttl := uint8(1); ttl <= 2; ttl++ {
					p := flow(c, far, pr, 33434+uint16(ttl), 33434)
					p.TTL = ttl
					if ttl == 1 {
						got := tp.one(t, tp.pg0, p, tp.pg0)
						checkError(t, "hop 1 (VPP)", got, te, netip.Addr{}, c.Src, c.Src, p.SrcPort, far, p.DstPort, pr)
						continue
					}
					got := tp.one(t, tp.pg0, p, tp.pg1)
					if got.TTL != 1 || got.Src != f.snat() {
						t.Errorf("hop 2 probe left as %s, want TTL 1 from %s", got, f.snat())
					}
					r := tp.router(f)
					back := tp.one(t, tp.pg1, icmpError(r, f.snat(), te, got.Raw), tp.pg0)
					checkError(t, fmt.Sprintf("hop %d (router %s)", ttl, r.Src), back, te, r.Src, c.Src, c.Src, p.SrcPort, far, p.DstPort, pr)
				}
			})
		}
	}
}

// TestICMPErrorDoesNotRefreshSession: an ICMP error about a flow neither
// refreshes nor deletes its session (RFC 5508 REQ-6, RFC 7857).
func TestICMPErrorDoesNotRefreshSession(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		for i, pr := range []vh.Proto{vh.UDP, vh.ICMP} {
			t.Run(name(f.name, pr), func(t *testing.T) {
				limit := map[vh.Proto]int{vh.UDP: 300, vh.ICMP: 60}[pr]
				d := startFlow(t, tp, f, pr, uint16(1300+i))
				clock(t, tp.v, limit-10)
				r := tp.router(f)
				e := portUnreach(f.v6)
				back := tp.one(t, tp.pg1, icmpError(r, d.fwd.Src, e, d.got.Raw), tp.pg0)
				checkError(t, "error", back, e, r.Src, d.fwd.Src, d.fwd.Src, d.fwd.SrcPort, f.vip(), cliPort(pr, 80), pr)
				wantSessions(t, tp.v, "proto "+pr.String(), 1)
				clock(t, tp.v, 11)
				d.gone(t, fmt.Sprintf("%d s after the last packet, %d s after an ICMP error", limit+1, 11), 0)
				wantSessions(t, tp.v, "proto "+pr.String(), 0)
			})
		}
	}
}

// TestICMPErrorWithoutSessionCreatesNothing: an ICMP error about a flow
// cloudnat does not know, addressed to a VIP, is dropped and counted and
// creates no session.
func TestICMPErrorWithoutSessionCreatesNothing(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			addVIPToBackend0(t, tp, f, vh.UDP)
			c := tp.client(0, f)
			// What the VIP would have sent to the client, had there been a flow.
			quoted := vh.Pkt{Src: f.vip(), Dst: c.Src, Proto: vh.UDP, SrcPort: 80, DstPort: 9999}.MustIP()
			before := cnatErrors(t, tp.v, "")
			tp.v.SendAndExpectNone(t, tp.pg0, []vh.Pkt{icmpError(c, f.vip(), portUnreach(f.v6), quoted)})
			if d := cnatErrors(t, tp.v, "") - before; d != 1 {
				t.Errorf("ICMP error to the VIP without session: cloudnat drop counters grew by %d, want 1:\n%s", d, tp.cli(t, "show errors"))
			}
			wantSessions(t, tp.v, "", 0)
		})
	}
}
