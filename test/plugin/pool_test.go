package plugin

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/interface_types"
	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// Pools (issue 11): the CGNAT scenario with pg interfaces.
//
//	pg0 table 0 (uplink)  20.0.255.254/16  peers 20.0.0.1-3, far 20.0.1.1
//	pg1 table 1 (blue)    100.64.0.254/24  clients 100.64.0.1, 100.64.0.2
//	pg2 table 2 (red)     100.64.0.254/24  client 100.64.0.1
//	pg3 table 1 (blue)    192.0.2.1/24     192.0.2.2: a public host in blue
//
// Tables 1 and 2 route 0.0.0.0/0 into table 0 (ip4-lookup-in-table 0);
// table 0 routes 192.0.2.2/32 into table 1. The pool "cgn" (outside table
// 0, 198.51.100.1-198.51.100.2) is bound to 100.64.0.0/10 of tables 1 and 2.
type poolTopo struct {
	v                   *vh.VPP
	up, blue, red, pub  *vh.PG
	far, router, public vh.Host
	clientIP, client2IP netip.Addr
}

const poolName = "cgn"

var (
	poolA1 = netip.MustParseAddr("198.51.100.1")
	poolA2 = netip.MustParseAddr("198.51.100.2")
)

// newPoolTopo builds the scenario; poolArgs follow "cnat pool add cgn"
// (addresses and options). bind: bind 100.64.0.0/10 of tables 1 and 2.
func newPoolTopo(t *testing.T, poolArgs string, bind bool) *poolTopo {
	t.Helper()
	v := vh.Start(t, vh.Options{})
	pt := &poolTopo{v: v}
	pt.up = v.NewPG(t, vh.PGConfig{IP4: "20.0.255.254/16", Hosts: 3})
	pt.far = pt.up.AddHost(t, netip.MustParseAddr("20.0.1.1"), netip.Addr{})
	pt.router = pt.up.Hosts[2]
	pt.blue = v.NewPG(t, vh.PGConfig{Table: 1, IP4: "100.64.0.254/24", Hosts: 2})
	pt.red = v.NewPG(t, vh.PGConfig{Table: 2, IP4: "100.64.0.254/24", Hosts: 1})
	pt.pub = v.NewPG(t, vh.PGConfig{Table: 1, IP4: "192.0.2.1/24", Hosts: 1})
	pt.public = pt.pub.Hosts[0]
	pt.clientIP, pt.client2IP = pt.blue.Hosts[0].IP4, pt.blue.Hosts[1].IP4
	v.CLIf(t, "ip route add 0.0.0.0/0 table 1 via ip4-lookup-in-table 0")
	v.CLIf(t, "ip route add 0.0.0.0/0 table 2 via ip4-lookup-in-table 0")
	v.CLIf(t, "ip route add 192.0.2.2/32 via ip4-lookup-in-table 1")
	v.CLIf(t, "cnat pool add %s %s", poolName, poolArgs)
	if bind {
		v.CLIf(t, "cnat pool bind %s table 1 100.64.0.0/10", poolName)
		v.CLIf(t, "cnat pool bind %s table 2 100.64.0.0/10", poolName)
	}
	return pt
}

// in returns the inside link of a table (1 blue, 2 red).
func (pt *poolTopo) in(table int) *vh.PG {
	if table == 2 {
		return pt.red
	}
	return pt.blue
}

// from is a packet from host i of pg.
func from(pg *vh.PG, i int) vh.Pkt { return pg.From(i, false) }

// fromHost is a packet from host h on pg.
func fromHost(pg *vh.PG, h vh.Host) vh.Pkt {
	return vh.Pkt{SrcMAC: h.MAC, DstMAC: pg.MAC, Src: h.IP4}
}

// subscriber is one line of "cnat show subscribers".
type subscriber struct {
	pool     string
	table    int
	inside   netip.Addr
	outside  netip.Addr
	sessions int
	blocks   [][2]uint16
	static   []bool
}

var subRe = regexp.MustCompile(`(?m)^(\S+) table (\d+) (\S+) -> (\S+): (\d+) sessions, blocks ?(.*)$`)
var blockRe = regexp.MustCompile(`(\d+)-(\d+)( \(static\))?`)

func subscribers(t *testing.T, v *vh.VPP, args string) ([]subscriber, string) {
	t.Helper()
	out := v.MustCLI(t, strings.TrimSpace("cnat show subscribers "+args))
	var subs []subscriber
	for _, m := range subRe.FindAllStringSubmatch(out, -1) {
		s := subscriber{pool: m[1]}
		s.table, _ = strconv.Atoi(m[2])
		s.inside, _ = netip.ParseAddr(m[3])
		s.outside, _ = netip.ParseAddr(m[4])
		s.sessions, _ = strconv.Atoi(m[5])
		for _, b := range blockRe.FindAllStringSubmatch(m[6], -1) {
			lo, _ := strconv.Atoi(b[1])
			hi, _ := strconv.Atoi(b[2])
			s.blocks = append(s.blocks, [2]uint16{uint16(lo), uint16(hi)})
			s.static = append(s.static, b[3] != "")
		}
		subs = append(subs, s)
	}
	return subs, out
}

// subscriberOf finds the subscriber (table, inside); fails the test when
// there is none.
func subscriberOf(t *testing.T, v *vh.VPP, table int, inside netip.Addr) subscriber {
	t.Helper()
	subs, out := subscribers(t, v, "")
	for _, s := range subs {
		if s.table == table && s.inside == inside {
			return s
		}
	}
	t.Fatalf("no subscriber table %d %s in cnat show subscribers:\n%s", table, inside, out)
	return subscriber{}
}

func (s subscriber) hasPort(p uint16) bool {
	for _, b := range s.blocks {
		if p >= b[0] && p <= b[1] {
			return true
		}
	}
	return false
}

// outPort is the translated source port (ICMP: the echo id).
func outPort(p *vh.Parsed) uint16 {
	if p.Proto == vh.ICMP {
		return p.ICMPID
	}
	return p.SrcPort
}

// checkInBlock checks a translated packet against its subscriber: source
// is the subscriber's public address, port inside one of its blocks.
func checkInBlock(t *testing.T, what string, v *vh.VPP, got *vh.Parsed, table int, inside netip.Addr) subscriber {
	t.Helper()
	s := subscriberOf(t, v, table, inside)
	if got.Src != s.outside {
		t.Errorf("%s: left from %s, the subscriber's public address is %s", what, got.Src, s.outside)
	}
	if got.Src != poolA1 && got.Src != poolA2 {
		t.Errorf("%s: source %s is not a pool address", what, got.Src)
	}
	if !s.hasPort(outPort(got)) {
		t.Errorf("%s: port %d outside the subscriber's blocks %v", what, outPort(got), s.blocks)
	}
	return s
}

// blockLog is one line of "cnat show pool log".
type blockLog struct {
	alloc    bool
	pool     string
	table    int
	inside   netip.Addr
	outside  netip.Addr
	lo, hi   uint16
	original string
}

var logRe = regexp.MustCompile(`(?m)^\S+ (alloc|release) pool (\S+) table (\d+) (\S+) -> (\S+) ports (\d+)-(\d+)\s*$`)

func poolLog(t *testing.T, v *vh.VPP) ([]blockLog, string) {
	t.Helper()
	out := v.MustCLI(t, "cnat show pool log")
	var ls []blockLog
	for _, m := range logRe.FindAllStringSubmatch(out, -1) {
		l := blockLog{alloc: m[1] == "alloc", pool: m[2], original: m[0]}
		l.table, _ = strconv.Atoi(m[3])
		l.inside, _ = netip.ParseAddr(m[4])
		l.outside, _ = netip.ParseAddr(m[5])
		lo, _ := strconv.Atoi(m[6])
		hi, _ := strconv.Atoi(m[7])
		l.lo, l.hi = uint16(lo), uint16(hi)
		ls = append(ls, l)
	}
	return ls, out
}

// waitLog waits for a block log record (the scanner drains the log).
func waitLog(t *testing.T, v *vh.VPP, what string, match func(blockLog) bool) {
	t.Helper()
	found := false
	waitFor(t, "a block log record: "+what, func() bool {
		ls, _ := poolLog(t, v)
		for _, l := range ls {
			if match(l) {
				found = true
			}
		}
		return found
	})
	if !found {
		_, out := poolLog(t, v)
		t.Logf("cnat show pool log:\n%s", out)
	}
}

// TestPoolSameAddressTwoTables: the same client address, source port and
// echo id in tables 1 and 2 at once: both leave translated to pool
// addresses with ports in their own blocks, as two different public
// endpoints; replies, and an outside router's ICMP errors about each flow,
// return to the right table and client. The second blue client gets its
// own subscriber.
func TestPoolSameAddressTwoTables(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	for _, pr := range protos {
		t.Run(pr.String(), func(t *testing.T) {
			far := pt.far.IP4
			var got [3]*vh.Parsed
			for tbl := 1; tbl <= 2; tbl++ {
				p := flow(from(pt.in(tbl), 0), far, pr, 1234, 53)
				got[tbl] = pt.v.SendAndExpect(t, pt.in(tbl), []vh.Pkt{p}, pt.up)[0]
				if got[tbl].Dst != far {
					t.Errorf("table %d: left as %s, want destination %s", tbl, got[tbl], far)
				}
				checkInBlock(t, fmt.Sprintf("table %d %s", tbl, pr), pt.v, got[tbl], tbl, pt.clientIP)
			}
			if got[1].Src == got[2].Src && outPort(got[1]) == outPort(got[2]) {
				t.Errorf("the two tables' flows share the public endpoint %s:%d", got[1].Src, outPort(got[1]))
			}
			// a second client of blue: its own subscriber
			g2 := pt.v.SendAndExpect(t, pt.blue, []vh.Pkt{flow(from(pt.blue, 1), far, pr, 1234, 53)}, pt.up)[0]
			checkInBlock(t, "blue's second client", pt.v, g2, 1, pt.client2IP)

			for tbl := 1; tbl <= 2; tbl++ {
				back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, got[tbl], vh.SYN|vh.ACK)}, pt.in(tbl))[0]
				want(t, fmt.Sprintf("reply to table %d", tbl), back, far, cliPort(pr, 53), pt.clientIP, 1234)
			}
			back2 := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, g2, vh.SYN|vh.ACK)}, pt.blue)[0]
			want(t, "reply to blue's second client", back2, far, cliPort(pr, 53), pt.client2IP, 1234)

			// ICMP errors from a router on the uplink, about each flow
			e := portUnreach(false)
			for tbl := 1; tbl <= 2; tbl++ {
				r := fromHost(pt.up, pt.router)
				back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{icmpError(r, got[tbl].Src, e, got[tbl].Raw)}, pt.in(tbl))[0]
				checkError(t, fmt.Sprintf("ICMP error about table %d's flow", tbl), back, e, pt.router.IP4, pt.clientIP,
					pt.clientIP, 1234, far, cliPort(pr, 53), pr)
			}
		})
	}
	subs, out := subscribers(t, pt.v, "")
	if len(subs) != 3 {
		t.Errorf("want 3 subscribers (blue 100.64.0.1, blue 100.64.0.2, red 100.64.0.1):\n%s", out)
	}
	for _, s := range subs {
		if s.pool != poolName {
			t.Errorf("subscriber of pool %q, want %q", s.pool, poolName)
		}
	}
	// the blocks of different subscribers do not overlap on one address
	for i := range subs {
		for j := range subs {
			if i < j && subs[i].outside == subs[j].outside {
				for _, a := range subs[i].blocks {
					for _, b := range subs[j].blocks {
						if a[0] <= b[1] && b[0] <= a[1] {
							t.Errorf("subscribers %s/%d and %s/%d share ports %v and %v of %s", subs[i].inside, subs[i].table,
								subs[j].inside, subs[j].table, a, b, subs[i].outside)
						}
					}
				}
			}
		}
	}
}

// TestPoolUnboundAndInside: a source outside the bound prefixes (the
// public host of blue) passes untranslated both ways and can be reached
// from the uplink; a client's traffic to an address routed inside its own
// table is not NATed.
func TestPoolUnboundAndInside(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	far := pt.far.IP4
	pub := pt.public.IP4
	for _, pr := range []vh.Proto{vh.UDP, vh.TCP, vh.ICMP} {
		t.Run(pr.String(), func(t *testing.T) {
			// blue's public host to the far host: untranslated
			got := pt.v.SendAndExpect(t, pt.pub, []vh.Pkt{flow(from(pt.pub, 0), far, pr, 2000, 53)}, pt.up)[0]
			want(t, "public host of blue to the uplink", got, pub, 2000, far, 53)
			back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, got, vh.SYN|vh.ACK)}, pt.pub)[0]
			want(t, "its reply", back, far, cliPort(pr, 53), pub, 2000)
			// from the uplink to it
			in := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{flow(fromHost(pt.up, pt.far), pub, pr, 2100, 80)}, pt.pub)[0]
			want(t, "uplink to blue's public host", in, far, 2100, pub, 80)
			out := pt.v.SendAndExpect(t, pt.pub, []vh.Pkt{replyTo(pt.pub, in, vh.SYN|vh.ACK)}, pt.up)[0]
			want(t, "its reply leaves untranslated", out, pub, cliPort(pr, 80), far, 2100)

			// a blue client to blue's public host: routed inside table 1
			before := pt.v.ErrorCount(t, "cnat-snat", "dst inside its table")
			c := pt.v.SendAndExpect(t, pt.blue, []vh.Pkt{flow(from(pt.blue, 0), pub, pr, 2200, 80)}, pt.pub)[0]
			want(t, "blue client to an address of its own table", c, pt.clientIP, 2200, pub, 80)
			if d := pt.v.ErrorCount(t, "cnat-snat", "dst inside its table") - before; d != 1 {
				t.Errorf("'dst inside its table: not NATed' (pool_inside) counter grew by %d, want 1", d)
			}
			r := pt.v.SendAndExpect(t, pt.pub, []vh.Pkt{replyTo(pt.pub, c, vh.SYN|vh.ACK)}, pt.blue)[0]
			want(t, "reply inside table 1", r, pub, cliPort(pr, 80), pt.clientIP, 2200)
		})
	}
	if subs, out := subscribers(t, pt.v, ""); len(subs) != 0 {
		t.Errorf("traffic that is not NATed made subscribers:\n%s", out)
	}
	// the red client has no route to blue's public host other than through
	// table 0, which sends it back into table 1: it is NATed
	got := pt.v.SendAndExpect(t, pt.red, []vh.Pkt{flow(from(pt.red, 0), pub, vh.UDP, 2300, 80)}, pt.pub)[0]
	if got.Src != poolA1 && got.Src != poolA2 {
		t.Errorf("red client to blue's public host (through table 0): source %s, want a pool address", got.Src)
	}
}

// TestPoolBlockLogAndReuse: a block is logged when allocated, and released
// (logged) after the subscriber's last session expires; it cools for
// reuse-delay: another subscriber gets nothing (dropped, pool_exhausted,
// ICMP 3/13) until then, and the block after.
func TestPoolBlockLogAndReuse(t *testing.T) {
	t.Parallel()
	// one address, one block of 64 ports
	pt := newPoolTopo(t, "range 198.51.100.1 ports 1024-1087 block-size 64 reuse-delay 600", true)
	far := pt.far.IP4
	got := pt.v.SendAndExpect(t, pt.blue, []vh.Pkt{flow(from(pt.blue, 0), far, vh.UDP, 3000, 53)}, pt.up)[0]
	s := checkInBlock(t, "blue client", pt.v, got, 1, pt.clientIP)
	isAlloc := func(l blockLog) bool {
		return l.alloc && l.pool == poolName && l.table == 1 && l.inside == pt.clientIP && l.outside == poolA1 && l.lo == 1024 && l.hi == 1087
	}
	waitLog(t, pt.v, "alloc pool cgn table 1 100.64.0.1 -> 198.51.100.1 ports 1024-1087", isAlloc)
	if len(s.blocks) != 1 || s.blocks[0] != [2]uint16{1024, 1087} {
		t.Errorf("subscriber's blocks %v, want [1024 1087]", s.blocks)
	}

	// the pool's only block is taken: the red client gets none
	redFlow := flow(from(pt.red, 0), far, vh.UDP, 3000, 53)
	exhausted := func(what string) {
		t.Helper()
		before := cnatErrors(t, pt.v, "pool has no block")
		c := pt.v.Send(t, pt.red, vh.Frames(t, redFlow))
		if n := len(c[pt.up]); n != 0 {
			t.Errorf("%s: red client's flow left the uplink:\n%s", what, c)
		}
		if d := cnatErrors(t, pt.v, "pool has no block") - before; d != 1 {
			t.Errorf("%s: pool_exhausted counter grew by %d, want 1:\n%s", what, d, pt.v.MustCLI(t, "show errors"))
		}
		icmp := c[pt.red]
		if len(icmp) != 1 {
			t.Errorf("%s: %d packet(s) back to the red client, want 1 ICMP 3/13:\n%s", what, len(icmp), c)
			return
		}
		p := vh.ParseAll(t, icmp)[0]
		checkError(t, what+": ICMP to the red client", p, icmpErr{"admin-prohibited", vh.DestUnreach, 13, 0},
			netip.Addr{}, pt.clientIP, pt.clientIP, 3000, far, 53, vh.UDP)
	}
	exhausted("no block left")

	// the session expires: the block is released and logged
	clock(t, pt.v, 400)
	isRelease := func(l blockLog) bool {
		return !l.alloc && l.pool == poolName && l.table == 1 && l.inside == pt.clientIP && l.outside == poolA1 && l.lo == 1024 && l.hi == 1087
	}
	waitLog(t, pt.v, "release pool cgn table 1 100.64.0.1 -> 198.51.100.1 ports 1024-1087", isRelease)
	waitFor(t, "the subscriber goes with its last block", func() bool {
		subs, _ := subscribers(t, pt.v, "")
		return len(subs) == 0
	})
	if out := pt.v.MustCLI(t, "cnat show pool"); !strings.Contains(out, "1 cooling") {
		t.Errorf("cnat show pool after the release: want 1 block cooling:\n%s", out)
	}
	// still cooling 300 s later
	clock(t, pt.v, 300)
	exhausted("block released 300 s ago, reuse-delay 600 s")
	// after the delay, red gets it
	clock(t, pt.v, 400)
	got = pt.v.SendAndExpect(t, pt.red, []vh.Pkt{redFlow}, pt.up)[0]
	checkInBlock(t, "red client after the reuse delay", pt.v, got, 2, pt.clientIP)
	waitLog(t, pt.v, "alloc pool cgn table 2 100.64.0.1 -> 198.51.100.1 ports 1024-1087", func(l blockLog) bool {
		return l.alloc && l.table == 2 && l.inside == pt.clientIP && l.lo == 1024
	})
	back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, got, 0)}, pt.red)[0]
	want(t, "reply to red", back, far, 53, pt.clientIP, 3000)
}

// TestPoolExhaustion: a subscriber at its cap (max-blocks 1 of 4 ports,
// many flows to one peer; max-sessions) has its new flows dropped,
// counted as pool_exhausted and answered with ICMP 3/13; its mapped flows
// go on.
func TestPoolExhaustion(t *testing.T) {
	t.Parallel()
	for _, k := range []struct {
		name, args string
		ok         int
	}{
		{"max-blocks", "range 198.51.100.1 ports 1024-1031 block-size 4 max-blocks 1", 4},
		{"max-sessions", "range 198.51.100.1 block-size 64 max-sessions 3", 3},
	} {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			pt := newPoolTopo(t, k.args, true)
			far := pt.far.IP4
			var pkts []vh.Pkt
			for i := 0; i < 8; i++ {
				pkts = append(pkts, flow(from(pt.blue, 0), far, vh.UDP, uint16(5000+i), 53))
			}
			before := cnatErrors(t, pt.v, "pool has no block")
			c := pt.v.Send(t, pt.blue, vh.Frames(t, pkts...))
			out := vh.ParseAll(t, c[pt.up])
			if len(out) != k.ok {
				t.Errorf("8 flows from one subscriber (%s): %d left, want %d:\n%s%s", k.args, len(out), k.ok, c, pt.v.MustCLI(t, "show errors"))
			}
			for _, g := range out {
				checkInBlock(t, "flow within the cap", pt.v, g, 1, pt.clientIP)
			}
			drops := uint64(len(pkts) - len(out))
			if d := cnatErrors(t, pt.v, "pool has no block") - before; d != drops {
				t.Errorf("pool_exhausted ('pool has no block ... or its cap is reached') grew by %d, want %d (one per dropped flow):\n%s",
					d, drops, pt.v.MustCLI(t, "show errors"))
			}
			icmp := vh.ParseAll(t, c[pt.blue])
			if len(icmp) == 0 || uint64(len(icmp)) > drops {
				t.Errorf("%d packets back to the client for %d dropped flows, want 1..%d ICMP 3/13", len(icmp), drops, drops)
			}
			for _, p := range icmp {
				if p.Proto != vh.ICMP || p.ICMP != vh.DestUnreach || p.ICMPCode != 13 || p.Dst != pt.clientIP || p.Inner == nil ||
					p.Inner.Src != pt.clientIP || p.Inner.Dst != far {
					t.Errorf("back to the client: %s, want ICMP dest-unreach code 13 quoting its flow", p)
				}
			}
			if !strings.Contains(pt.v.MustCLI(t, "cnat show pool"), fmt.Sprintf("%d exhausted", drops)) {
				t.Errorf("cnat show pool does not count %d exhausted:\n%s", drops, pt.v.MustCLI(t, "cnat show pool"))
			}
			// one exhaustion record for the subscriber (not one per drop)
			waitFor(t, "an exhaustion record in cnat show pool log", func() bool {
				return strings.Contains(pt.v.MustCLI(t, "cnat show pool log"), "exhausted pool "+poolName+" table 1 "+pt.clientIP.String())
			})
			if n := strings.Count(pt.v.MustCLI(t, "cnat show pool log"), " exhausted pool "); n != 1 {
				t.Errorf("%d exhaustion records for %d drops of one subscriber within 10 s, want 1:\n%s", n, drops, pt.v.MustCLI(t, "cnat show pool log"))
			}
			// mapped flows go on both ways
			for _, g := range out {
				back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, g, 0)}, pt.blue)[0]
				if back.Dst != pt.clientIP || back.DstPort < 5000 || back.DstPort > 5007 {
					t.Errorf("reply of a mapped flow: %s", back)
				}
			}
			// another subscriber is not affected
			g := pt.v.SendAndExpect(t, pt.red, []vh.Pkt{flow(from(pt.red, 0), far, vh.UDP, 5000, 53)}, pt.up)[0]
			checkInBlock(t, "another subscriber", pt.v, g, 2, pt.clientIP)
		})
	}
}

// TestPoolStaticBlock: a block assigned with "cnat pool block" is used by
// that subscriber (and shown static); it outlives the subscriber's
// sessions; another subscriber cannot be given it.
func TestPoolStaticBlock(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	far := pt.far.IP4
	pt.v.CLIf(t, "cnat pool block %s table 2 inside 100.64.0.1 outside 198.51.100.2 port 2048", poolName)
	s := subscriberOf(t, pt.v, 2, pt.clientIP)
	if len(s.blocks) != 1 || s.blocks[0] != [2]uint16{2048, 2111} || !s.static[0] || s.outside != poolA2 {
		t.Errorf("static block: subscriber %+v, want 198.51.100.2 block 2048-2111 (static)", s)
	}
	for i, pr := range protos {
		got := pt.v.SendAndExpect(t, pt.red, []vh.Pkt{flow(from(pt.red, 0), far, pr, uint16(6000+i), 53)}, pt.up)[0]
		if got.Src != poolA2 || outPort(got) < 2048 || outPort(got) > 2111 {
			t.Errorf("%s flow of the static subscriber left as %s, want 198.51.100.2 port 2048-2111", pr, got)
		}
		back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, got, vh.SYN|vh.ACK)}, pt.red)[0]
		want(t, "reply", back, far, cliPort(pr, 53), pt.clientIP, uint16(6000+i))
	}
	// the same block for blue's client: refused
	out, err := pt.v.CLI(fmt.Sprintf("cnat pool block %s table 1 inside 100.64.0.1 outside 198.51.100.2 port 2048", poolName))
	if err == nil || !strings.Contains(err.Error(), "belongs to another subscriber") {
		t.Errorf("a static block given to a second subscriber: err %v, out %q; want 'that block belongs to another subscriber'", err, out)
	}
	// the sessions expire (past TCP's established timeout too): the static
	// block stays
	clock(t, pt.v, 8000)
	waitFor(t, "the static subscriber's sessions expire", func() bool {
		return subscriberOf(t, pt.v, 2, pt.clientIP).sessions == 0
	})
	s = subscriberOf(t, pt.v, 2, pt.clientIP)
	if len(s.blocks) != 1 || s.blocks[0] != [2]uint16{2048, 2111} {
		t.Errorf("static block after the sessions expired: %+v", s)
	}
	ls, logOut := poolLog(t, pt.v)
	for _, l := range ls {
		if !l.alloc && l.table == 2 && l.lo == 2048 {
			t.Errorf("static block logged as released after its sessions expired: %s\n%s", l.original, logOut)
		}
	}
	got := pt.v.SendAndExpect(t, pt.red, []vh.Pkt{flow(from(pt.red, 0), far, vh.UDP, 6100, 53)}, pt.up)[0]
	if got.Src != poolA2 || got.SrcPort < 2048 || got.SrcPort > 2111 {
		t.Errorf("after the sessions expired, the static subscriber's flow left as %s", got)
	}
	// del: the block goes
	pt.v.CLIf(t, "cnat pool block %s table 2 inside 100.64.0.1 outside 198.51.100.2 port 2048 del", poolName)
	if subs, out := subscribers(t, pt.v, "table 2"); len(subs) != 0 {
		for _, s := range subs {
			for i, b := range s.blocks {
				if b[0] == 2048 && s.static[i] {
					t.Errorf("static block still there after del:\n%s", out)
				}
			}
		}
	}
}

// TestPoolRefusals: each bad command is refused with its message and
// changes nothing.
func TestPoolRefusals(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	for _, k := range []struct{ cmd, msg string }{
		{"cnat pool add bad range 198.51.100.10 block-size 100", "block size must be a power of two"},
		{"cnat pool add bad range 198.51.100.10 ports 1024-1055 block-size 64", "block size must be a power of two no larger than the port range"},
		{"cnat pool add bad outside-table 77 range 198.51.100.10", "no such table"},
		{"cnat pool bind " + poolName + " table 1 100.64.1.0/24", "overlaps another binding of the table"},
		{"cnat pool bind " + poolName + " table 1 0.0.0.0/0", "overlaps another binding of the table"},
		{"cnat pool bind " + poolName + " table 77 10.0.0.0/8", "no such table"},
		{"cnat pool bind nosuch table 1 10.0.0.0/8", "no such pool"},
		{"cnat pool del " + poolName, "still bound"},
		{"cnat pool add " + poolName + " range 198.51.100.1 block-size 3", "block size must be a power of two"},
		{"cnat pool add bad range 198.51.100.10 max-blocks 9", "max-blocks"},
	} {
		t.Run(k.cmd, func(t *testing.T) {
			show := pt.v.MustCLI(t, "cnat show pool")
			subs := pt.v.MustCLI(t, "cnat show subscribers")
			out, err := pt.v.CLI(k.cmd)
			if err == nil {
				t.Errorf("accepted: %q", out)
			} else if !strings.Contains(err.Error(), k.msg) {
				t.Errorf("refused with %q, want a message containing %q", err, k.msg)
			}
			if got := pt.v.MustCLI(t, "cnat show pool"); got != show {
				t.Errorf("cnat show pool changed:\n%s\nwas:\n%s", got, show)
			}
			if got := pt.v.MustCLI(t, "cnat show subscribers"); got != subs {
				t.Errorf("cnat show subscribers changed:\n%s\nwas:\n%s", got, subs)
			}
		})
	}
	// after unbinding both tables the pool can go
	pt.v.CLIf(t, "cnat pool bind %s table 1 100.64.0.0/10 del", poolName)
	pt.v.CLIf(t, "cnat pool bind %s table 2 100.64.0.0/10 del", poolName)
	pt.v.CLIf(t, "cnat pool del %s", poolName)
	if out := pt.v.MustCLI(t, "cnat show pool"); strings.Contains(out, poolName) {
		t.Errorf("pool still shown after del:\n%s", out)
	}
	// and traffic from the clients is no longer NATed
	got := pt.v.SendAndExpect(t, pt.blue, []vh.Pkt{flow(from(pt.blue, 0), pt.far.IP4, vh.UDP, 7000, 53)}, pt.up)[0]
	want(t, "after unbind and delete", got, pt.clientIP, 7000, pt.far.IP4, 53)
}

// TestPoolAddressEqualsInsideAddress: a pool address may be an inside
// address of another table (100.64.0.1 in the pool and in blue and red).
func TestPoolAddressEqualsInsideAddress(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 100.64.0.1 block-size 64", true)
	far := pt.far.IP4
	for _, pr := range protos {
		t.Run(pr.String(), func(t *testing.T) {
			var got [3]*vh.Parsed
			for tbl := 1; tbl <= 2; tbl++ {
				got[tbl] = pt.v.SendAndExpect(t, pt.in(tbl), []vh.Pkt{flow(from(pt.in(tbl), 0), far, pr, 1234, 53)}, pt.up)[0]
				s := subscriberOf(t, pt.v, tbl, pt.clientIP)
				if got[tbl].Src != pt.clientIP || !s.hasPort(outPort(got[tbl])) {
					t.Errorf("table %d: left as %s, want from the pool address 100.64.0.1 with a port of blocks %v", tbl, got[tbl], s.blocks)
				}
			}
			if outPort(got[1]) == outPort(got[2]) {
				t.Errorf("both tables' flows leave as 100.64.0.1:%d", outPort(got[1]))
			}
			for tbl := 1; tbl <= 2; tbl++ {
				back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, got[tbl], vh.SYN|vh.ACK)}, pt.in(tbl))[0]
				want(t, fmt.Sprintf("reply to table %d", tbl), back, far, cliPort(pr, 53), pt.clientIP, 1234)
			}
		})
	}
}

// TestPoolInterfaceAddress: a pool of an interface's address uses it and
// follows it when it changes.
func TestPoolInterfaceAddress(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "interface pg0 block-size 64", true)
	far := pt.far.IP4
	got := pt.v.SendAndExpect(t, pt.blue, []vh.Pkt{flow(from(pt.blue, 0), far, vh.UDP, 1234, 53)}, pt.up)[0]
	if got.Src != pt.up.IP4 {
		t.Errorf("pool of pg0's address: left as %s, want from %s", got, pt.up.IP4)
	}
	back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, got, 0)}, pt.blue)[0]
	want(t, "reply", back, far, 53, pt.clientIP, 1234)
	// pg0's address changes
	pt.v.CLIf(t, "set interface ip address pg0 20.0.255.253/16")
	pt.v.CLIf(t, "set interface ip address del pg0 20.0.255.254/16")
	newAddr := netip.MustParseAddr("20.0.255.253")
	got = pt.v.SendAndExpect(t, pt.blue, []vh.Pkt{flow(from(pt.blue, 0), far, vh.UDP, 1235, 53)}, pt.up)[0]
	if got.Src != newAddr {
		t.Errorf("after pg0's address changed to %s: left as %s", newAddr, got)
	}
	back = pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, got, 0)}, pt.blue)[0]
	want(t, "reply to the new address", back, far, 53, pt.clientIP, 1235)
}

// TestPoolEndpointIndependentMapping: one inside endpoint keeps one public
// address and port whatever the destination (RFC 4787 REQ-1), in each
// table.
func TestPoolEndpointIndependentMapping(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	for _, pr := range protos {
		for tbl := 1; tbl <= 2; tbl++ {
			t.Run(name(pr, fmt.Sprintf("table%d", tbl)), func(t *testing.T) {
				var pubs []string
				for _, dst := range []vh.Host{pt.far, pt.up.Hosts[0], pt.up.Hosts[1]} {
					g := pt.v.SendAndExpect(t, pt.in(tbl), []vh.Pkt{flow(from(pt.in(tbl), 0), dst.IP4, pr, 2500, 53)}, pt.up)[0]
					pubs = append(pubs, fmt.Sprintf("%s:%d", g.Src, outPort(g)))
					back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, g, vh.SYN|vh.ACK)}, pt.in(tbl))[0]
					want(t, "reply from "+dst.IP4.String(), back, dst.IP4, cliPort(pr, 53), pt.clientIP, 2500)
				}
				if pubs[0] != pubs[1] || pubs[1] != pubs[2] {
					t.Errorf("100.64.0.1:2500 in table %d to three destinations left as %v, want one public endpoint", tbl, pubs)
				}
			})
		}
	}
}

// TestPoolHairpin: a subscriber reaches another subscriber's public
// endpoint and arrives there from its own public mapping, both ways
// (RFC 4787 REQ-9), across tables, once each has sent to the other
// (address-and-port-dependent filtering).
func TestPoolHairpin(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	far := pt.far.IP4
	for i, pr := range []vh.Proto{vh.UDP, vh.TCP} {
		t.Run(pr.String(), func(t *testing.T) {
			pa, pb := uint16(3100+i), uint16(3200+i)
			ga := pt.v.SendAndExpect(t, pt.blue, []vh.Pkt{flow(from(pt.blue, 0), far, pr, pa, 53)}, pt.up)[0]
			gb := pt.v.SendAndExpect(t, pt.red, []vh.Pkt{flow(from(pt.red, 0), far, pr, pb, 53)}, pt.up)[0]
			pubA := netip.AddrPortFrom(ga.Src, ga.SrcPort)
			pubB := netip.AddrPortFrom(gb.Src, gb.SrcPort)
			// B to A's public endpoint: A has not sent to B yet (filtered or
			// not, it must not leave the uplink untranslated)
			c := pt.v.Send(t, pt.red, vh.Frames(t, flow(from(pt.red, 0), pubA.Addr(), pr, pb, pubA.Port())))
			noInsideLeak(t, c, pt.up, pt.clientIP)
			// A to B's public endpoint: reaches B from A's public mapping
			p := flow(from(pt.blue, 0), pubB.Addr(), pr, pa, pubB.Port())
			p.TCPFlags = vh.SYN | vh.ACK
			c = pt.v.Send(t, pt.blue, vh.Frames(t, p), vh.SendOptions{Trace: 10})
			if len(c[pt.red]) != 1 {
				t.Fatalf("hairpin: A (blue 100.64.0.1:%d, public %s) to B's public endpoint %s: want 1 packet to B on %s, got:\n%s%s\n%s",
					pa, pubA, pubB, pt.red.Name, c, pt.v.MustCLI(t, "show errors"), pt.v.ShowTrace(t))
			}
			atB := vh.ParseAll(t, c[pt.red])[0]
			want(t, "hairpin A -> B", atB, pubA.Addr(), pubA.Port(), pt.clientIP, pb)
			// and B back to A's public endpoint reaches A from B's mapping
			q := flow(from(pt.red, 0), pubA.Addr(), pr, pb, pubA.Port())
			q.TCPFlags = vh.ACK
			atA := pt.v.SendAndExpect(t, pt.red, []vh.Pkt{q}, pt.blue)[0]
			want(t, "hairpin B -> A", atA, pubB.Addr(), pubB.Port(), pt.clientIP, pa)
		})
	}
}

// TestPoolTraceroute: TTL 1 gets VPP's own time-exceeded in the client's
// table; TTL 2 leaves translated and the router's error comes back to the
// right table and client, for the same client address in two tables.
func TestPoolTraceroute(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	far := pt.far.IP4
	te := icmpErr{"time-exceeded", vh.TimeExceeded, 0, 0}
	for _, pr := range []vh.Proto{vh.UDP, vh.ICMP} {
		for tbl := 1; tbl <= 2; tbl++ {
			t.Run(name(pr, fmt.Sprintf("table%d", tbl)), func(t *testing.T) {
				for ttl := uint8(1); ttl <= 2; ttl++ {
					p := flow(from(pt.in(tbl), 0), far, pr, 33434+uint16(ttl), 33434)
					p.TTL = ttl
					if ttl == 1 {
						c := pt.v.Send(t, pt.in(tbl), vh.Frames(t, p), vh.SendOptions{Trace: 10})
						if len(c[pt.in(tbl)]) != 1 {
							t.Errorf("TTL 1 probe from table %d: want VPP's time-exceeded back on %s, got:\n%s%s\n%s", tbl, pt.in(tbl).Name, c,
								pt.v.MustCLI(t, "show errors"), pt.v.ShowTrace(t))
							continue
						}
						got := vh.ParseAll(t, c[pt.in(tbl)])[0]
						checkError(t, "hop 1 (VPP)", got, te, netip.Addr{}, pt.clientIP, pt.clientIP, p.SrcPort, far, p.DstPort, pr)
						continue
					}
					got := pt.v.SendAndExpect(t, pt.in(tbl), []vh.Pkt{p}, pt.up)[0]
					if got.TTL != 1 || (got.Src != poolA1 && got.Src != poolA2) {
						t.Errorf("hop 2 probe left as %s, want TTL 1 from a pool address", got)
					}
					r := fromHost(pt.up, pt.router)
					back := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{icmpError(r, got.Src, te, got.Raw)}, pt.in(tbl))[0]
					checkError(t, "hop 2 (router)", back, te, pt.router.IP4, pt.clientIP, pt.clientIP, p.SrcPort, far, p.DstPort, pr)
				}
			})
		}
	}
}

// TestPoolICMPErrorFromInside: a client's ICMP error about a reply it got
// (port unreachable quoting it) leaves the uplink about the public
// endpoint: outer source the pool address, quoted destination the public
// address and port; for the same client address in two tables.
func TestPoolICMPErrorFromInside(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	far := pt.far.IP4
	e := portUnreach(false)
	for _, pr := range protos {
		for tbl := 1; tbl <= 2; tbl++ {
			t.Run(name(pr, fmt.Sprintf("table%d", tbl)), func(t *testing.T) {
				p := flow(from(pt.in(tbl), 0), far, pr, 2700, 53)
				got := pt.v.SendAndExpect(t, pt.in(tbl), []vh.Pkt{p}, pt.up)[0]
				atClient := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{replyTo(pt.up, got, vh.SYN|vh.ACK)}, pt.in(tbl))[0]
				ie := icmpError(from(pt.in(tbl), 0), far, e, atClient.Raw)
				out := pt.v.SendAndExpect(t, pt.in(tbl), []vh.Pkt{ie}, pt.up)[0]
				innerSport := atClient.SrcPort
				if pr == vh.ICMP {
					innerSport = got.ICMPID
				}
				checkError(t, "client's error about the reply", out, e, got.Src, far, far, innerSport, got.Src, got.SrcPort, pr)
			})
		}
	}
}

// TestPoolIPv6Untranslated: IPv6 between the client tables and the uplink
// is routed untranslated (the pool and its bindings are IPv4).
func TestPoolIPv6Untranslated(t *testing.T) {
	t.Parallel()
	v := vh.Start(t, vh.Options{})
	up := v.NewPG(t, vh.PGConfig{IP6: "2001:db8:ff::1/64", Hosts: 1})
	blue := v.NewPG(t, vh.PGConfig{Table: 1, IP4: "100.64.0.254/24", IP6: "2001:db8:1::1/64", Hosts: 1})
	v.CLIf(t, "ip route add 0.0.0.0/0 table 1 via ip4-lookup-in-table 0")
	v.CLIf(t, "ip route add ::/0 table 1 via ip6-lookup-in-table 0")
	v.CLIf(t, "ip route add 2001:db8:1::/64 via ip6-lookup-in-table 1")
	v.CLIf(t, "cnat pool add %s range 198.51.100.1 block-size 64", poolName)
	v.CLIf(t, "cnat pool bind %s table 1 100.64.0.0/10", poolName)
	c := blue.From(0, true)
	peer := up.Hosts[0].IP6
	for i, pr := range protos {
		got := v.SendAndExpect(t, blue, []vh.Pkt{flow(c, peer, pr, uint16(2800+i), 53)}, up)[0]
		want(t, "IPv6 from a client table to the uplink", got, c.Src, uint16(2800+i), peer, 0)
		back := v.SendAndExpect(t, up, []vh.Pkt{replyTo(up, got, vh.SYN|vh.ACK)}, blue)[0]
		want(t, "IPv6 reply", back, peer, 0, c.Src, uint16(2800+i))
	}
}

// TestPoolSecondBlock: a subscriber whose block is full towards one peer
// gets a second block (max-blocks 2) on the same public address (paired
// pooling), logged; its last session's expiry releases both.
func TestPoolSecondBlock(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 ports 1024-1055 block-size 4 max-blocks 2", true)
	far := pt.far.IP4
	var pkts []vh.Pkt
	for i := 0; i < 8; i++ {
		pkts = append(pkts, flow(from(pt.blue, 0), far, vh.UDP, uint16(5100+i), 53))
	}
	c := pt.v.Send(t, pt.blue, vh.Frames(t, pkts...))
	out := vh.ParseAll(t, c[pt.up])
	if len(out) != 8 {
		t.Errorf("8 flows to one peer with 2 blocks of 4 ports allowed: %d left:\n%s%s", len(out), c, pt.v.MustCLI(t, "show errors"))
	}
	s := subscriberOf(t, pt.v, 1, pt.clientIP)
	if len(s.blocks) != 2 {
		t.Errorf("subscriber's blocks %v, want 2", s.blocks)
	}
	seen := map[string]bool{}
	for _, g := range out {
		if g.Src != s.outside || !s.hasPort(g.SrcPort) {
			t.Errorf("flow left as %s; subscriber %s blocks %v", g, s.outside, s.blocks)
		}
		k := netip.AddrPortFrom(g.Src, g.SrcPort).String()
		if seen[k] {
			t.Errorf("two flows to %s share %s", far, k)
		}
		seen[k] = true
	}
	n := 0
	waitFor(t, "two alloc records", func() bool {
		ls, _ := poolLog(t, pt.v)
		n = 0
		for _, l := range ls {
			if l.alloc && l.table == 1 && l.inside == pt.clientIP {
				n++
			}
		}
		return n == 2
	})
	clock(t, pt.v, 400)
	waitFor(t, "two release records after the sessions expired", func() bool {
		ls, _ := poolLog(t, pt.v)
		n = 0
		for _, l := range ls {
			if !l.alloc && l.table == 1 && l.inside == pt.clientIP {
				n++
			}
		}
		return n == 2
	})
}

// TestPoolBlockKeptWhileASessionLives: a block is not released while one
// of its sessions lives (the ICMP one expires after 60 s, the UDP one
// after 300 s).
func TestPoolBlockKeptWhileASessionLives(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1 block-size 64", true)
	far := pt.far.IP4
	pt.v.SendAndExpect(t, pt.blue, []vh.Pkt{flow(from(pt.blue, 0), far, vh.ICMP, 10, 0), flow(from(pt.blue, 0), far, vh.UDP, 5300, 53)}, pt.up)
	clock(t, pt.v, 120)
	waitFor(t, "the ICMP session expires", func() bool {
		return subscriberOf(t, pt.v, 1, pt.clientIP).sessions == 1
	})
	ls, out := poolLog(t, pt.v)
	for _, l := range ls {
		if !l.alloc {
			t.Errorf("a block was released while its UDP session lives: %s\n%s", l.original, out)
		}
	}
	got := pt.v.SendAndExpect(t, pt.up, []vh.Pkt{{SrcMAC: pt.far.MAC, DstMAC: pt.up.MAC, Src: far, Dst: subscriberOf(t, pt.v, 1, pt.clientIP).outside, Proto: vh.UDP, SrcPort: 53,
		DstPort: portOfSession(t, pt, 5300)}}, pt.blue)[0]
	want(t, "reply of the living session", got, far, 53, pt.clientIP, 5300)
}

// portOfSession finds the public port of the client's UDP flow from sport
// in "cnat show session verbose".
func portOfSession(t *testing.T, pt *poolTopo, sport uint16) uint16 {
	t.Helper()
	out := pt.v.MustCLI(t, "cnat show session verbose proto udp")
	re := regexp.MustCompile(`100\.64\.0\.1:` + strconv.Itoa(int(sport)) + `\b.*?198\.51\.100\.\d+:(\d+)`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no session of 100.64.0.1:%d with a pool address in:\n%s", sport, out)
	}
	p, _ := strconv.Atoi(m[1])
	return uint16(p)
}

// TestPoolTTL1PoolAddressInside: a TTL 1 probe of a bound source is
// answered by VPP with time exceeded about the packet as sent, to the client
// that sent it, when the pool address (100.64.0.1) is also an inside host of
// the table: VPP's own error, made after the translation, would go to that
// host (make lab's cgnat scenario).
func TestPoolTTL1PoolAddressInside(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 100.64.0.1 block-size 64", true)
	far := pt.far.IP4
	te := icmpErr{"time-exceeded", vh.TimeExceeded, 0, 0}
	for _, pr := range []vh.Proto{vh.UDP, vh.ICMP} {
		t.Run(pr.String(), func(t *testing.T) {
			p := flow(from(pt.blue, 1), far, pr, 33434, 33434) // from 100.64.0.2
			p.TTL = 1
			c := pt.v.Send(t, pt.blue, vh.Frames(t, p), vh.SendOptions{Trace: 10})
			if len(c[pt.blue]) != 1 {
				t.Fatalf("want VPP's time-exceeded back on %s, got:\n%s%s\n%s", pt.blue.Name, c,
					pt.v.MustCLI(t, "show errors"), pt.v.ShowTrace(t))
			}
			got := vh.ParseAll(t, c[pt.blue])[0]
			checkError(t, "hop 1 (VPP)", got, te, netip.Addr{}, pt.client2IP, pt.client2IP, p.SrcPort, far, p.DstPort, pr)
		})
	}
}

// TestPoolFeatureOwnership: the source-NAT feature a binding turns on for its
// table's interfaces belongs to the binding. cloudnat_snat_interface_dump
// (what the agent reconciles against its own interfaces) leaves it out, so a
// full resync does not turn it off as drift; cnat show snat marks it. An
// operator's enable takes the interface over: listed, and left on by the
// last unbind.
func TestPoolFeatureOwnership(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1", true)
	if got := apiSNATInterfaces(t, pt.v); len(got) != 0 {
		t.Errorf("cloudnat_snat_interface_dump lists %v, want none (the bindings' own)", got)
	}
	if out := pt.v.MustCLI(t, "cnat show snat"); !strings.Contains(out, pt.blue.Name+" ip4-cnat-snat (for its table's pools and static mappings)") {
		t.Errorf("cnat show snat does not mark %s as the bindings':\n%s", pt.blue.Name, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cloudnat.NewServiceClient(pt.v.Conn()).CloudnatSnatInterfaceEnableDisable(ctx,
		&cloudnat.CloudnatSnatInterfaceEnableDisable{Enable: true, SwIfIndex: interface_types.InterfaceIndex(pt.blue.SwIfIndex)}); err != nil {
		t.Fatalf("cloudnat_snat_interface_enable_disable: %v", err)
	}
	if got := apiSNATInterfaces(t, pt.v); len(got) != 1 || uint32(got[0].SwIfIndex) != pt.blue.SwIfIndex || got[0].IsIP6 {
		t.Errorf("after the operator's enable the dump lists %v, want only %s ip4", got, pt.blue.Name)
	}
	pt.v.CLIf(t, "cnat pool bind %s table 1 100.64.0.0/10 del", poolName)
	pt.v.CLIf(t, "cnat pool bind %s table 2 100.64.0.0/10 del", poolName)
	out := pt.v.MustCLI(t, "cnat show snat")
	if !strings.Contains(out, pt.blue.Name+" ip4-cnat-snat\n") && !strings.HasSuffix(out, pt.blue.Name+" ip4-cnat-snat") {
		t.Errorf("the last unbind turned off the operator's %s:\n%s", pt.blue.Name, out)
	}
	if strings.Contains(out, pt.red.Name) {
		t.Errorf("the last unbind left the bindings' feature on %s:\n%s", pt.red.Name, out)
	}
}

// apiSNATInterfaces is the binary API's cloudnat_snat_interface_dump.
func apiSNATInterfaces(t *testing.T, v *vh.VPP) []*cloudnat.CloudnatSnatInterfaceDetails {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := cloudnat.NewServiceClient(v.Conn()).CloudnatSnatInterfaceDump(ctx, &cloudnat.CloudnatSnatInterfaceDump{})
	if err != nil {
		t.Fatalf("cloudnat_snat_interface_dump: %v", err)
	}
	var out []*cloudnat.CloudnatSnatInterfaceDetails
	for {
		d, err := stream.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("cloudnat_snat_interface_dump: %v", err)
		}
		out = append(out, d)
	}
}
