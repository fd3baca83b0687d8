package plugin

import (
	"fmt"
	"net/netip"
	"regexp"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// Inbound filtering of pools (issue 11, RFC 4787 REQ-8, RFC 5382 REQ-3):
// after X:x -> Y1:53 leaves as X':x', who may send to X':x'?
//
//	filtering          Y1:53  Y1:other port  Y2
//	address-port (def.) yes    no             no
//	address             yes    yes            no
//	endpoint            yes    yes            yes
//
// What is admitted reaches X:x (in X's table) with the sender's own address
// and port, and X's answer leaves from the same mapping X':x' (one mapping
// per inside endpoint). Same addresses and ports in two tables stay apart.
func TestPoolFiltering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mode                 string
		y1OtherPort, y2Admit bool
	}{
		{"address-port", false, false},
		{"address", true, false},
		{"endpoint", true, true},
	}
	for ci, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64 filtering "+tc.mode, true)
			if out := pt.v.MustCLI(t, "cnat show pool"); !regexp.MustCompile(`filtering ` + tc.mode + `(\s|,|$)`).MatchString(out) {
				t.Errorf("cnat show pool does not say filtering %s:\n%s", tc.mode, out)
			}
			y1, y2 := pt.far, pt.up.Hosts[0]
			for pi, pr := range []vh.Proto{vh.UDP, vh.TCP} {
				for tbl := 1; tbl <= 2; tbl++ {
					t.Run(name(pr, fmt.Sprintf("table%d", tbl)), func(t *testing.T) {
						x := uint16(4000 + 10*ci + pi)
						g := pt.v.SendAndExpect(t, pt.in(tbl), []vh.Pkt{flow(from(pt.in(tbl), 0), y1.IP4, pr, x, 53)}, pt.up)[0]
						mapped := netip.AddrPortFrom(g.Src, g.SrcPort)
						inbound := func(h vh.Host, sport uint16, admit bool, what string) {
							t.Helper()
							p := fromHost(pt.up, h)
							p.Dst, p.Proto, p.SrcPort, p.DstPort = mapped.Addr(), pr, sport, mapped.Port()
							if pr == vh.TCP {
								p.TCPFlags = vh.SYN
							}
							c := pt.v.Send(t, pt.up, vh.Frames(t, p))
							got := len(c[pt.in(tbl)])
							if !admit {
								if got != 0 {
									t.Errorf("%s: %s:%d -> %s reached the inside under filtering %s", what, h.IP4, sport, mapped, tc.mode)
								}
								return
							}
							if got != 1 {
								t.Fatalf("%s: %s:%d -> %s: want 1 packet to table %d's client, got:\n%s%s",
									what, h.IP4, sport, mapped, tbl, c, pt.v.MustCLI(t, "show errors"))
							}
							in := vh.ParseAll(t, c[pt.in(tbl)])[0]
							want(t, what, in, h.IP4, sport, pt.clientIP, x)
							// the inside answers: it leaves from the same mapping
							r := flow(from(pt.in(tbl), 0), h.IP4, pr, x, sport)
							if pr == vh.TCP {
								r.TCPFlags = vh.SYN | vh.ACK
							}
							out := pt.v.SendAndExpect(t, pt.in(tbl), []vh.Pkt{r}, pt.up)[0]
							want(t, what+": the answer", out, mapped.Addr(), mapped.Port(), h.IP4, sport)
						}
						inbound(y1, 54, tc.y1OtherPort, "Y1 from another port")
						inbound(y2, 53, tc.y2Admit, "Y2")
					})
				}
			}
			// the two clients 100.64.0.1 of tables 1 and 2 have their own mappings
			if n := pt.v.ErrorCount(t, "ip4-cloudnat", "inbound admitted by EIF/ADF"); (tc.y1OtherPort || tc.y2Admit) != (n > 0) {
				t.Errorf("counter \"inbound admitted by EIF/ADF\" is %d under filtering %s", n, tc.mode)
			}
		})
	}
}

// TestPoolInboundTooBig: a reply from outside larger than the inside
// link's MTU (IPv4 with DF) is answered by cloudnat with fragmentation
// needed about the packet as it arrived (to the pool mapping), not by
// VPP's own error quoting the subscriber's inside address (fuzz finding:
// inside addresses in Packet Too Big quotes). Without DF it is fragmented
// and delivered.
func TestPoolInboundTooBig(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	pt.v.CLIf(t, "set interface mtu packet 600 %s", pt.blue.Name)
	g := pt.v.SendAndExpect(t, pt.blue, []vh.Pkt{flow(from(pt.blue, 0), pt.far.IP4, vh.UDP, 4400, 53)}, pt.up)[0]
	r := replyTo(pt.up, g, 0)
	r.DF = true
	r.Payload = make([]byte, 1000)
	c := pt.v.Send(t, pt.up, vh.Frames(t, r))
	if n := len(c[pt.blue]); n != 0 {
		t.Errorf("an oversize DF reply reached the inside link (MTU 600) %d time(s)", n)
	}
	if len(c[pt.up]) != 1 {
		t.Fatalf("oversize DF reply: want one ICMP error back on the uplink, got:\n%s%s", c, pt.v.MustCLI(t, "show errors"))
	}
	e := vh.ParseAll(t, c[pt.up])[0]
	if e.Proto != vh.ICMP || e.ICMP != vh.DestUnreach || e.ICMPCode != 4 || e.Dst != pt.far.IP4 {
		t.Fatalf("got %s, want dest-unreach code 4 to %s", e, pt.far.IP4)
	}
	if mtu := e.ICMPRest & 0xffff; mtu == 0 || mtu > 600 {
		t.Errorf("the error carries MTU %d, want at most 600", mtu)
	}
	if in := e.Inner; in == nil || in.Dst != g.Src || in.DstPort != g.SrcPort || in.Src != pt.far.IP4 {
		t.Errorf("quoted packet %s, want the reply as sent to the mapping %s:%d (never the inside address %s)", in, g.Src, g.SrcPort, pt.clientIP)
	}
	if n := pt.v.ErrorCount(t, "ip4-cloudnat", "inbound over MTU: error sent"); n != 1 {
		t.Errorf("counter \"inbound over MTU: error sent\" is %d, want 1", n)
	}
	// without DF: fragmented to the client
	r.DF = false
	c = pt.v.Send(t, pt.up, vh.Frames(t, r))
	if n := len(c[pt.blue]); n < 2 {
		t.Errorf("an oversize reply without DF: %d packet(s) on the inside, want its fragments:\n%s", n, c)
	}
}
