package netnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/test/kernel/nslab"
)

// cgLab is the carrier-grade scenario: two inside tables with the SAME
// client address behind one uplink in table 0, public addresses routed to
// the router by the internet host:
//
//	c1 100.64.0.1 ── r-b (VRF 1, "blue") ┐
//	                                     r ── r-up 203.0.113.1 ── x-up 203.0.113.2 (x; 192.0.2.0/24 via r)
//	c2 100.64.0.1 ── r-r (VRF 2, "red")  ┘
//
// Each client table's default route leaks into the uplink (`ip route add
// table N default via 203.0.113.2 dev r-up`).
func cgLab(t *testing.T) (*nslab.Lab, string) {
	lab := nslab.New(t)
	for _, ns := range []string{"r", "c1", "c2", "x"} {
		lab.AddNS(ns)
	}
	lab.Link("c1", "c0", []string{"100.64.0.1/24", "fd64::1/64"}, "r", "r-b", []string{"100.64.0.254/24", "fd64::fe/64"})
	lab.Link("c2", "c0", []string{"100.64.0.1/24", "fd64::1/64"}, "r", "r-r", []string{"100.64.0.254/24", "fd64::fe/64"})
	lab.Link("x", "x-up", []string{"203.0.113.2/24", "2001:db8:ff::2/64"}, "r", "r-up", []string{"203.0.113.1/24", "2001:db8:ff::1/64"})
	lab.Sh("x", "ip", "route", "add", "192.0.2.0/24", "via", "203.0.113.1")
	lab.Sh("x", "ip", "-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:ff::1")
	// x answers 198.18.0.1 and 2001:db8:99::1 with destination
	// unreachable (an nf_tables reject: the kernel's own unreachable route
	// answers one packet a second per destination, and both tables' clients
	// are one public address), without an ICMP rate limit.
	lab.Sh("x", "ip", "addr", "add", "198.18.0.1/32", "dev", "lo")
	lab.Sh("x", "ip", "addr", "add", "2001:db8:99::1/128", "dev", "lo")
	lab.Sh("x", "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0")
	lab.Sh("x", "nft", "add table inet unreach; add chain inet unreach in { type filter hook input priority 0; }; "+
		"add rule inet unreach in ip daddr 198.18.0.1 reject with icmpx host-unreachable; "+
		"add rule inet unreach in ip6 daddr 2001:db8:99::1 reject with icmpx host-unreachable")
	for _, c := range []string{"c1", "c2"} {
		lab.Sh(c, "ip", "route", "add", "default", "via", "100.64.0.254")
		lab.Sh(c, "ip", "-6", "route", "add", "default", "via", "fd64::fe")
	}
	mode := "vrf-device"
	if _, err := lab.Try("r", "ip", "link", "add", "vrf1", "type", "vrf", "table", "1"); err != nil {
		mode = "ip-rule"
	}
	for i, ifc := range []string{"r-b", "r-r"} {
		table := strconv.Itoa(i + 1)
		if mode == "vrf-device" {
			if i == 1 {
				lab.Sh("r", "ip", "link", "add", "vrf2", "type", "vrf", "table", "2")
			}
			lab.Sh("r", "ip", "link", "set", "vrf"+table, "up")
			lab.Sh("r", "ip", "link", "set", ifc, "master", "vrf"+table)
		} else {
			lab.Sh("r", "ip", "rule", "add", "pref", "100"+table, "iif", ifc, "lookup", table)
			lab.Sh("r", "ip", "-6", "rule", "add", "pref", "100"+table, "iif", ifc, "lookup", table)
			lab.Sh("r", "ip", "route", "add", "100.64.0.0/24", "dev", ifc, "table", table)
			lab.Sh("r", "ip", "-6", "route", "add", "fd64::/64", "dev", ifc, "table", table)
		}
		lab.Sh("r", "ip", "route", "add", "default", "via", "203.0.113.2", "dev", "r-up", "table", table)
		lab.Sh("r", "ip", "-6", "route", "add", "default", "via", "2001:db8:ff::2", "dev", "r-up", "table", table)
	}
	lab.Serve("x", "ext", "203.0.113.2:7100")
	lab.Serve("x", "ext6", "[2001:db8:ff::2]:7100")
	return lab, mode
}

func inRange(t *testing.T, peer string, lo, hi int) {
	t.Helper()
	h, p, err := net.SplitHostPort(peer)
	must(t, err)
	port, _ := strconv.Atoi(p)
	if h != "192.0.2.1" || port < lo || port > hi {
		t.Fatalf("peer %s, want 192.0.2.1 with a port in %d-%d", peer, lo, hi)
	}
}

// TestStaticBlocks: a static-only pool shared by two tables whose clients
// have the same address; each gets its static block, replies return to the
// right table, a bound source without a block is dropped and counted.
func TestStaticBlocks(t *testing.T) {
	lab, mode := cgLab(t)
	t.Logf("VRFs made with %s", mode)
	d := openIn(t, lab, "r", kernel.WithHostCheck(200*time.Millisecond))
	c := ctx(t)
	pool := model.Pool{Name: "gw", OutsideVRF: 0, Ranges: []model.AddrRange{{First: ip("192.0.2.1"), Last: ip("192.0.2.1")}},
		PortMin: 1024, PortMax: 65535, BlockSize: 64, MaxBlocksPerSubscriber: 1, StaticBlocksOnly: true}
	must(t, d.PutPool(c, pool))
	for vrf := uint32(1); vrf <= 2; vrf++ {
		must(t, d.PutPoolBinding(c, model.PoolBinding{VRF: vrf, Prefix: prefix("100.64.0.0/30"), Pool: "gw"}))
		must(t, d.PutStaticBlock(c, model.StaticBlock{Pool: "gw", VRF: vrf, InsideAddr: ip("100.64.0.1"),
			OutsideAddr: ip("192.0.2.1"), PortStart: uint16(1024 + 64*(vrf-1))}))
	}
	// The same 5-tuple from both tables at once.
	c1, err := lab.DialTCP("c1", "203.0.113.2:7100", "100.64.0.1:42000")
	must(t, err)
	defer c1.Close()
	c2, err := lab.DialTCP("c2", "203.0.113.2:7100", "100.64.0.1:42000")
	must(t, err)
	defer c2.Close()
	inRange(t, c1.Reply.Peer, 1024, 1087)
	inRange(t, c2.Reply.Peer, 1088, 1151)
	must(t, c1.Echo("blue"))
	must(t, c2.Echo("red"))
	for i, cl := range []string{"c1", "c2"} {
		r, err := lab.UDP(cl, "203.0.113.2:7100")
		must(t, err)
		inRange(t, r.Peer, 1024+64*i, 1087+64*i)
		must(t, lab.Ping(cl, "203.0.113.2"))
	}
	// ICMP errors come back through the block too (port unreachable from
	// the internet host, re-zoned by the quoted packet's source port).
	for _, cl := range []string{"c1", "c2"} {
		if err := udpRefused(lab, cl, "203.0.113.2:7999"); err != nil {
			t.Fatalf("%s: %v", cl, err)
		}
		// And an error quoting an echo request, re-zoned by its echo id.
		if err := pingUnreachable(lab, cl, "198.18.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	subs, err := d.ListSubscribers(c, model.SubscriberFilter{VRF: model.AllVRFs})
	must(t, err)
	if len(subs) != 2 || subs[0].Sessions == 0 || subs[1].Sessions == 0 || subs[0].Blocks[0].End != 1087 {
		t.Fatalf("subscribers %+v", subs)
	}
	// A bound source without a block: dropped and counted.
	lab.Sh("c1", "ip", "addr", "add", "100.64.0.2/24", "dev", "c0")
	start := time.Now()
	if _, err := lab.DialTCP("c1", "203.0.113.2:7100", "100.64.0.2:0"); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("a bound source without a block: %v, want host unreachable (ICMP administratively prohibited)", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("the refusal took %v: no ICMP error", time.Since(start))
	}
	ps, err := d.ListPools(c)
	must(t, err)
	if len(ps) != 1 || ps[0].Counters.Exhausted == 0 || ps[0].Counters.Subscribers != 2 || ps[0].Pool.Name != "gw" {
		t.Fatalf("pools %+v", ps)
	}
	// Unsolicited inbound traffic to a block is dropped and counted.
	if _, err := lab.UDP("x", "192.0.2.1:1030"); err == nil {
		t.Fatal("an unsolicited packet to a block was answered")
	}
	st, err := d.Stats(c)
	must(t, err)
	if st.Drops[kernel.DropUnsolicited] == 0 || st.Drops[kernel.DropPoolExhausted] == 0 {
		t.Fatalf("drops %v", st.Drops)
	}
	// Reopened: the same objects are listed back.
	d2 := openIn(t, lab, "r")
	bs, err := d2.ListStaticBlocks(c)
	must(t, err)
	bds, err := d2.ListPoolBindings(c)
	must(t, err)
	ps2, err := d2.ListPools(c)
	must(t, err)
	if len(bs) != 2 || len(bds) != 2 || len(ps2) != 1 || ps2[0].Pool.Name != pool.Name || ps2[0].Pool.BlockSize != 64 {
		t.Fatalf("reloaded: blocks %+v bindings %+v pools %+v", bs, bds, ps2)
	}
	must(t, c1.Echo("still"))
	// Deletes, then the pool.
	if err := d.DeletePool(c, "gw"); err == nil {
		t.Fatal("a bound pool was deleted")
	}
	for _, b := range bs {
		must(t, d.DeleteStaticBlock(c, b))
	}
	for _, b := range bds {
		must(t, d.DeletePoolBinding(c, b))
	}
	must(t, d.DeletePool(c, "gw"))
	if ps, _ := d.ListPools(c); len(ps) != 0 {
		t.Fatalf("pools after delete %+v", ps)
	}
	// A dynamic pool: each bound address gets a block when bound.
	dyn := model.Pool{Name: "dyn", Ranges: pool.Ranges, BlockSize: 1024}
	must(t, d.PutPool(c, dyn))
	for vrf := uint32(1); vrf <= 2; vrf++ {
		must(t, d.PutPoolBinding(c, model.PoolBinding{VRF: vrf, Prefix: prefix("100.64.0.0/30"), Pool: "dyn"}))
	}
	subs, err = d.ListSubscribers(c, model.SubscriberFilter{VRF: model.AllVRFs, Pool: "dyn"})
	must(t, err)
	if len(subs) != 8 || subs[0].Blocks[0].Static {
		t.Fatalf("dynamic subscribers %+v", subs)
	}
	for _, s := range subs {
		if s.InsideAddr != ip("100.64.0.1") {
			continue
		}
		cl := "c" + strconv.Itoa(int(s.VRF))
		r, err := lab.UDP(cl, "203.0.113.2:7100")
		must(t, err)
		inRange(t, r.Peer, int(s.Blocks[0].Start), int(s.Blocks[0].End))
	}
	if err := d.PutPoolBinding(c, model.PoolBinding{VRF: 3, Prefix: prefix("100.64.0.0/16"), Pool: "dyn"}); !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("a binding beyond the pool's blocks: %v", err)
	}
}

// TestStaticNATCrossTable: 100.64.0.1 of table 1 is 192.0.2.10 in table 0,
// both directions; the same address in table 2 is not translated by it.
func TestStaticNATCrossTable(t *testing.T) {
	lab, _ := cgLab(t)
	d := openIn(t, lab, "r", kernel.WithHostCheck(200*time.Millisecond))
	c := ctx(t)
	s := model.StaticNAT{InsideVRF: 1, Inside: prefix("100.64.0.1/32"), OutsideVRF: 0, Outside: prefix("192.0.2.10/32")}
	must(t, d.PutStaticNAT(c, s))
	lab.Serve("c1", "blue", "100.64.0.1:7200")
	lab.Serve("c2", "red", "100.64.0.1:7200")
	// Leaving: the source is mapped, port kept.
	r, err := lab.DialTCP("c1", "203.0.113.2:7100", "100.64.0.1:42001")
	must(t, err)
	defer r.Close()
	if r.Reply.Peer != "192.0.2.10:42001" {
		t.Fatalf("outbound seen as %s, want 192.0.2.10:42001", r.Reply.Peer)
	}
	must(t, r.Echo("out"))
	u, err := lab.UDP("c1", "203.0.113.2:7100")
	must(t, err)
	if u.PeerIP() != "192.0.2.10" {
		t.Fatalf("outbound UDP seen as %s", u.Peer)
	}
	must(t, lab.Ping("c1", "203.0.113.2"))
	// Entering: the destination is mapped back, into table 1 (not 2).
	in, err := lab.DialTCP("x", "192.0.2.10:7200", "")
	must(t, err)
	defer in.Close()
	if in.Reply.Server != "blue" || in.Reply.PeerIP() != "203.0.113.2" {
		t.Fatalf("inbound reached %+v", in.Reply)
	}
	must(t, in.Echo("in"))
	ui, err := lab.UDP("x", "192.0.2.10:7200")
	must(t, err)
	if ui.Server != "blue" {
		t.Fatalf("inbound UDP reached %+v", ui)
	}
	must(t, lab.Ping("x", "192.0.2.10"))
	// A policy routing rule deleted by someone else is put back.
	lab.Sh("r", "ip", "rule", "del", "pref", "990")
	if !eventually(3*time.Second, func() bool {
		return strings.Contains(lab.Sh("r", "ip", "rule", "list", "pref", "990"), "lookup 1")
	}) {
		t.Fatal("deleted ip rule not put back")
	}
	// Conflicts are refused.
	err = d.PutStaticNAT(c, model.StaticNAT{InsideVRF: 2, Inside: prefix("100.64.0.0/30"), OutsideVRF: 0, Outside: prefix("192.0.2.8/30")})
	if !errors.Is(err, dataplane.ErrAddressInUse) {
		t.Fatalf("overlapping outside prefix: %v", err)
	}
	ls, err := d.ListStaticNATs(c)
	must(t, err)
	if len(ls) != 1 || ls[0] != s {
		t.Fatalf("listed %+v", ls)
	}
	// A /30 in table 2 too (prefix arithmetic), then deleted.
	s2 := model.StaticNAT{InsideVRF: 2, Inside: prefix("100.64.0.0/30"), OutsideVRF: 0, Outside: prefix("192.0.2.20/30")}
	must(t, d.PutStaticNAT(c, s2))
	in2, err := lab.DialTCP("x", "192.0.2.21:7200", "")
	must(t, err)
	in2.Close()
	if in2.Reply.Server != "red" {
		t.Fatalf("192.0.2.21 reached %+v", in2.Reply)
	}
	must(t, d.DeleteStaticNAT(c, s2.Key()))
	// One port: 192.0.2.30:8080/tcp is 100.64.0.1:7200 of table 2 (the
	// server "red"), other ports of 192.0.2.30 are not translated.
	pm := model.StaticNAT{InsideVRF: 2, Inside: prefix("100.64.0.1/32"), OutsideVRF: 0, Outside: prefix("192.0.2.30/32"),
		Proto: model.ProtoTCP, InsidePort: 7200, OutsidePort: 8080}
	must(t, d.PutStaticNAT(c, pm))
	in3, err := lab.DialTCP("x", "192.0.2.30:8080", "")
	must(t, err)
	in3.Close()
	if in3.Reply.Server != "red" || in3.Reply.PeerIP() != "203.0.113.2" {
		t.Fatalf("192.0.2.30:8080 reached %+v", in3.Reply)
	}
	if _, err := lab.UDP("x", "192.0.2.30:8080"); err == nil {
		t.Fatal("UDP to a TCP port mapping was translated")
	}
	// Leaving from a mapped port: the source becomes 192.0.2.30:9090.
	pm2 := pm
	pm2.InsidePort, pm2.OutsidePort = 7300, 9090
	must(t, d.PutStaticNAT(c, pm2))
	out3, err := lab.DialTCP("c2", "203.0.113.2:7100", "100.64.0.1:7300")
	must(t, err)
	must(t, out3.Echo("mapped"))
	out3.Close()
	if out3.Reply.Peer != "192.0.2.30:9090" {
		t.Fatalf("from the mapped port seen as %s", out3.Reply.Peer)
	}
	must(t, d.DeleteStaticNAT(c, pm2.Key()))
	must(t, d.DeleteStaticNAT(c, pm.Key()))
	if got := lab.Sh("r", "ip", "rule", "list", "pref", "990"); !strings.Contains(got, "lookup 1") || strings.Contains(got, "lookup 2") {
		t.Fatalf("policy routing rules with table 1's mapping left:\n%s", got)
	}
	must(t, d.DeleteStaticNAT(c, s.Key()))
	if _, err := lab.DialTCP("x", "192.0.2.10:7200", ""); err == nil {
		t.Fatal("deleted mapping still answers")
	}
	if got := lab.Sh("r", "ip", "rule", "list", "pref", "990"); strings.TrimSpace(got) != "" {
		t.Fatalf("policy routing rules left without mappings:\n%s", got)
	}
}

// TestGatewayScale programs a NAT gateway's worth of members (a binding
// and a static block each, one transaction per object as the reconciler
// puts them), lists them back, reloads them and sends traffic through one.
func TestGatewayScale(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	lab, _ := cgLab(t)
	d := openIn(t, lab, "r", kernel.WithHostCheck(0))
	c := ctx(t)
	pool := model.Pool{Name: "natgw.big.v4", Ranges: []model.AddrRange{{First: ip("192.0.2.1"), Last: ip("192.0.2.16")}},
		PortMin: 1024, PortMax: 65535, BlockSize: 64, MaxBlocksPerSubscriber: 1, StaticBlocksOnly: true}
	must(t, d.PutPool(c, pool))
	member := func(i int) (model.PoolBinding, model.StaticBlock) {
		in := netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
		if i == 0 {
			in = ip("100.64.0.1")
		} else if i == 1 {
			in = ip("100.64.200.200")
		}
		out := netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%16)})
		return model.PoolBinding{VRF: 1, Prefix: netip.PrefixFrom(in, 32), Pool: pool.Name},
			model.StaticBlock{Pool: pool.Name, VRF: 1, InsideAddr: in, OutsideAddr: out, PortStart: uint16(1024 + 64*(i/16))}
	}
	// The first 500 one object per transaction (Put*), the rest as the
	// reconciler sends a large change (ApplyPoolChanges).
	one := 500
	start := time.Now()
	for i := 0; i < one; i++ {
		bd, blk := member(i)
		must(t, d.PutPoolBinding(c, bd))
		must(t, d.PutStaticBlock(c, blk))
	}
	took := time.Since(start)
	t.Logf("%d members (binding + static block) one object per transaction: %v (%v per member)", one, took, took/time.Duration(one))
	var cs []dataplane.PoolChange
	for i := one; i < n; i++ {
		bd, blk := member(i)
		cs = append(cs, dataplane.PoolChange{Block: &blk}, dataplane.PoolChange{Binding: &bd})
	}
	start = time.Now()
	for i, err := range d.ApplyPoolChanges(c, cs) {
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	took = time.Since(start)
	t.Logf("%d members in bulk (ApplyPoolChanges): %v", n-one, took)
	r, err := lab.TCP("c1", "203.0.113.2:7100")
	must(t, err)
	inRange(t, r.Peer, 1024, 1087)
	start = time.Now()
	d2 := openIn(t, lab, "r", kernel.WithHostCheck(0))
	bs, err := d2.ListStaticBlocks(c)
	must(t, err)
	t.Logf("reloaded %d blocks in %v", len(bs), time.Since(start))
	if len(bs) != n {
		t.Fatalf("%d blocks listed back, want %d", len(bs), n)
	}
	start = time.Now()
	blk := bs[len(bs)/2]
	must(t, d.DeleteStaticBlock(c, blk))
	must(t, d.PutStaticBlock(c, blk))
	t.Logf("one block deleted and put back in a table of %d: %v", n, time.Since(start))
}

// pingUnreachable: a ping from ns to addr (which x rejects, see cgLab)
// gets x's destination unreachable back, an ICMP error quoting the
// translated echo request.
func pingUnreachable(lab *nslab.Lab, ns, addr string) error {
	out, err := lab.Try(ns, "ping", "-c", "2", "-i", "0.3", "-W", "1", addr)
	if !strings.Contains(out, "Unreachable") && !strings.Contains(out, "unreachable") {
		return fmt.Errorf("ping %s from %s: no destination unreachable came back (%v):\n%s", addr, ns, err, out)
	}
	return nil
}

// udpRefused sends a datagram from ns to a closed port and expects the
// ICMP port unreachable to come back (ECONNREFUSED on the next read).
func udpRefused(lab *nslab.Lab, ns, addr string) error {
	return lab.Do(ns, func() error {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		buf := make([]byte, 100)
		for i := 0; i < 3; i++ {
			if _, err := conn.Write([]byte("x")); err != nil && errors.Is(err, syscall.ECONNREFUSED) {
				return nil
			}
			_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := conn.Read(buf); errors.Is(err, syscall.ECONNREFUSED) {
				return nil
			}
		}
		return fmt.Errorf("no ICMP port unreachable for udp to %s", addr)
	})
}

// TestStaticBlocksIPv6: NAT66 with static blocks (a dual-stack gateway's
// IPv6 half): the same client address in two tables, each with its block.
func TestStaticBlocksIPv6(t *testing.T) {
	lab, _ := cgLab(t)
	d := openIn(t, lab, "r", kernel.WithHostCheck(200*time.Millisecond))
	c := ctx(t)
	pool := model.Pool{Name: "gw6", Ranges: []model.AddrRange{{First: ip("2001:db8:1::1"), Last: ip("2001:db8:1::1")}},
		PortMin: 1024, PortMax: 65535, BlockSize: 64, MaxBlocksPerSubscriber: 1, StaticBlocksOnly: true}
	must(t, d.PutPool(c, pool))
	for vrf := uint32(1); vrf <= 2; vrf++ {
		must(t, d.PutPoolBinding(c, model.PoolBinding{VRF: vrf, Prefix: prefix("fd64::1/128"), Pool: "gw6"}))
		must(t, d.PutStaticBlock(c, model.StaticBlock{Pool: "gw6", VRF: vrf, InsideAddr: ip("fd64::1"),
			OutsideAddr: ip("2001:db8:1::1"), PortStart: uint16(1024 + 64*(vrf-1))}))
	}
	// IPv6 neighbours need the link-local addresses, whose DAD takes a
	// second or more on a loaded machine: wait for the paths first.
	for _, p := range [][2]string{{"r", "2001:db8:ff::2"}, {"c1", "fd64::fe"}, {"c2", "fd64::fe"}} {
		if !eventually(10*time.Second, func() bool { _, err := lab.Try(p[0], "ping", "-6", "-c1", "-W1", p[1]); return err == nil }) {
			t.Fatalf("no IPv6 path from %s to %s", p[0], p[1])
		}
	}
	c1, err := lab.DialTCP("c1", "[2001:db8:ff::2]:7100", "[fd64::1]:42000")
	must(t, err)
	defer c1.Close()
	c2, err := lab.DialTCP("c2", "[2001:db8:ff::2]:7100", "[fd64::1]:42000")
	must(t, err)
	defer c2.Close()
	for i, r := range []nslab.Reply{c1.Reply, c2.Reply} {
		h, p, _ := net.SplitHostPort(r.Peer)
		port, _ := strconv.Atoi(p)
		if h != "2001:db8:1::1" || port < 1024+64*i || port > 1087+64*i {
			t.Fatalf("table %d seen as %s", i+1, r.Peer)
		}
	}
	must(t, c1.Echo("blue6"))
	must(t, c2.Echo("red6"))
	for _, cl := range []string{"c1", "c2"} {
		if _, err := lab.UDP(cl, "[2001:db8:ff::2]:7100"); err != nil {
			t.Fatal(err)
		}
		must(t, lab.Ping(cl, "2001:db8:ff::2"))
		if err := pingUnreachable(lab, cl, "2001:db8:99::1"); err != nil {
			t.Fatal(err)
		}
	}
}
