package plugin

// Helpers of the conformance suite (conformance_*_test.go): one test per
// requirement id of ../shared/conformance.md, named TestConformance<id>
// (4787-1 -> TestConformance4787_1), each run against source NAT (`cnat
// snat with` + the ip4/ip6-cnat-snat feature on pg0) and against a pool
// (`cnat pool add` + `cnat pool bind`, CGNAT), in both families where the
// requirement has meaning in both. Every timer is moved with the plugin's
// test clock, never slept. docs/conformance-status.md is generated from
// their results (make conformance).

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// confMode is how the inside (pg0) is translated to the outside (pg1).
type confMode struct {
	name string
	pool bool
}

var confModes = []confMode{{"snat", false}, {"pool", true}}

// confOpts tune one conformance topology.
type confOpts struct {
	// poolArgs are the arguments of `cnat pool add` after the range
	// (default "block-size 512 max-blocks 4").
	poolArgs string
	// one: a single outside address per family (default two, so that
	// paired pooling is visible).
	one bool
	// ranges replaces the pool's address arguments by family (true: IPv6),
	// e.g. "range 30.0.0.10 range 30.0.0.20", with the addresses in outs.
	ranges map[bool]string
	outs   map[bool][]netip.Addr
	// hosts adds inside hosts on pg0 (10.0.0.10 + i, 10::10 + i).
	hosts int
}

// ctopo is the usual topology (pg0 inside, pg1 outside) with NAT.
type ctopo struct {
	*topo
	m    confMode
	outs map[bool][]netip.Addr // outside addresses by family (true: IPv6)
}

var confVersionOnce sync.Once
var confVPPVersion string

// confNew starts VPP with the mode's NAT on pg0 -> pg1 in both families.
//
//	snat: cnat snat with 30.0.0.1 30.0.0.5 / 30::1 30::5, feature on pg0
//	pool: cnat pool add cg4 range 30.0.0.10-30.0.0.11 (cg6: 30::10-30::11),
//	      bound to table 0's 10.0.0.0/24 and 10::/64 (the feature follows)
func confNew(t *testing.T, m confMode, o confOpts) *ctopo {
	t.Helper()
	tp := newTopo(t)
	confVersionOnce.Do(func() {
		out, _ := tp.v.CLI("show version")
		confVPPVersion = strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	})
	t.Logf("VPP version: %s", confVPPVersion)
	c := &ctopo{topo: tp, m: m, outs: map[bool][]netip.Addr{}}
	for i := 0; i < o.hosts; i++ {
		tp.pg0.AddHost(t, netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)}),
			netip.MustParseAddr(fmt.Sprintf("10::%x", 0x10+i)))
	}
	if m.pool && o.ranges != nil {
		args := o.poolArgs
		tp.cli(t, "cnat pool add cg4 %s %s", o.ranges[false], args)
		tp.cli(t, "cnat pool add cg6 %s %s", o.ranges[true], args)
		tp.cli(t, "cnat pool bind cg4 table 0 10.0.0.0/24")
		tp.cli(t, "cnat pool bind cg6 table 0 10::/64")
		c.outs = o.outs
		return c
	}
	if m.pool {
		args := o.poolArgs
		if args == "" {
			args = "block-size 512 max-blocks 4"
		}
		r4, r6 := "30.0.0.10-30.0.0.11", "30::10-30::11"
		c.outs[false] = confAddrs("30.0.0.10", "30.0.0.11")
		c.outs[true] = confAddrs("30::10", "30::11")
		if o.one {
			r4, r6 = "30.0.0.10", "30::10"
			c.outs[false], c.outs[true] = c.outs[false][:1], c.outs[true][:1]
		}
		tp.cli(t, "cnat pool add cg4 range %s %s", r4, args)
		tp.cli(t, "cnat pool add cg6 range %s %s", r6, args)
		tp.cli(t, "cnat pool bind cg4 table 0 10.0.0.0/24")
		tp.cli(t, "cnat pool bind cg6 table 0 10::/64")
		return c
	}
	c.outs[false] = confAddrs("30.0.0.1", "30.0.0.5")
	c.outs[true] = confAddrs("30::1", "30::5")
	if o.outs != nil {
		c.outs = o.outs
	}
	if o.one {
		c.outs[false], c.outs[true] = c.outs[false][:1], c.outs[true][:1]
	}
	for _, f := range families {
		var s []string
		for _, a := range c.outs[f.v6] {
			s = append(s, a.String())
		}
		tp.cli(t, "cnat snat with %s", strings.Join(s, " "))
		tp.cli(t, "set interface feature pg0 %s arc %s-unicast", f.snatFeature(), f.arc())
	}
	return c
}

func confAddrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// confEachMode runs fn for every NAT mode, each with its own VPP.
func confEachMode(t *testing.T, o confOpts, fn func(t *testing.T, c *ctopo)) {
	for _, m := range confModes {
		t.Run(m.name, func(t *testing.T) { fn(t, confNew(t, m, o)) })
	}
}

// confPoolOnly runs fn for the pool mode only, per family: for the
// carrier-grade requirements that only a pool (subscribers, blocks, caps,
// the block log) can express.
func confPoolOnly(t *testing.T, o confOpts, fn func(t *testing.T, c *ctopo, f family)) {
	t.Run("pool", func(t *testing.T) {
		c := confNew(t, confMode{"pool", true}, o)
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) { fn(t, c, f) })
		}
	})
}

// confEachModeFamily runs fn for every NAT mode (own VPP) and family.
func confEachModeFamily(t *testing.T, o confOpts, fn func(t *testing.T, c *ctopo, f family)) {
	confEachMode(t, o, func(t *testing.T, c *ctopo) {
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) { fn(t, c, f) })
		}
	})
}

// isOut: a is one of the family's outside addresses.
func (c *ctopo) isOut(a netip.Addr) bool { return slices.Contains(c.outs[a.Is6()], a) }

// remote is pg1's host i as a destination (farHost: 20.0.1.1 / 20::1:0:1).
func (c *ctopo) remote(i int, f family) netip.Addr { return c.pg1.Hosts[i].IP(f.v6) }

// confPort is the mapped port of a packet (the echo id for ICMP).
func confPort(p *vh.Parsed) uint16 {
	if p.Proto == vh.ICMP {
		return p.ICMPID
	}
	return p.SrcPort
}

// confMapping is a translated packet's outside endpoint X':x'.
func confMapping(p *vh.Parsed) netip.AddrPort { return netip.AddrPortFrom(p.Src, confPort(p)) }

// out sends a flow's packet from pg0's host i and returns it as it left
// pg1, failing when it did not leave or left untranslated.
func (c *ctopo) out(t *testing.T, i int, f family, pr vh.Proto, sport uint16, dst netip.Addr, dport uint16, flags uint8) *vh.Parsed {
	t.Helper()
	p := flow(c.client(i, f), dst, pr, sport, dport)
	if flags != 0 {
		p.TCPFlags = flags
	}
	got := c.one(t, c.pg0, p, c.pg1)
	if !c.isOut(got.Src) {
		t.Fatalf("%s from %s:%d left untranslated or with a wrong source: %s (outside addresses %v)",
			pr, p.Src, sport, got, c.outs[f.v6])
	}
	return got
}

// back sends the remote's answer to a translated packet (TCP flags as
// given; echo reply for ICMP) and returns what pg1 -> pg0 delivered, or
// nil when nothing reached pg0.
func (c *ctopo) back(t *testing.T, got *vh.Parsed, flags uint8) *vh.Parsed {
	t.Helper()
	cp := c.v.Send(t, c.pg1, vh.Frames(t, replyTo(c.pg1, got, flags)))
	if n := len(cp[c.pg0]); n == 0 {
		return nil
	} else if n > 1 {
		t.Errorf("one answer to %s: %d packets reached pg0:\n%s", got, n, cp)
	}
	return vh.ParseAll(t, cp[c.pg0])[0]
}

// alive: the remote's answer to got reaches the inside host dst:dport.
func (c *ctopo) alive(t *testing.T, when string, got *vh.Parsed, flags uint8, dst netip.Addr, dport uint16) {
	t.Helper()
	b := c.back(t, got, flags)
	if b == nil {
		t.Errorf("%s: the mapping %s is gone: the answer from %s did not reach the inside (show errors:\n%s)",
			when, confMapping(got), got.Dst, c.dropSummary(t))
		return
	}
	bport := b.DstPort
	if b.Proto == vh.ICMP {
		bport = b.ICMPID
	}
	if b.Dst != dst || bport != dport {
		t.Errorf("%s: the answer reached the inside as %s, want it to %s", when, b, netip.AddrPortFrom(dst, dport))
	}
}

// gone: the remote's answer to got does not reach the inside.
func (c *ctopo) gone(t *testing.T, when string, got *vh.Parsed, flags uint8) {
	t.Helper()
	if b := c.back(t, got, flags); b != nil {
		t.Errorf("%s: the mapping %s is still alive: the answer reached the inside as %s", when, confMapping(got), b)
	}
}

// dropSummary is the cloudnat lines of "show errors".
func (c *ctopo) dropSummary(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, e := range c.v.Errors(t) {
		if strings.Contains(e.Node, "cnat") || strings.Contains(e.Node, "cloudnat") || e.Severity == "error" {
			fmt.Fprintf(&b, "  %d %s %s\n", e.Count, e.Node, e.Reason)
		}
	}
	return b.String()
}

// icmpErrorAbout builds an ICMP error sent by src (a packet template with
// MACs) to dst quoting the IP packet quoted (as it was seen where the error
// is generated).
func confICMPError(src vh.Pkt, dst netip.Addr, kind vh.ICMPKind, code uint8, quoted []byte) vh.Pkt {
	p := src
	p.Dst, p.Proto, p.ICMP, p.ICMPCode, p.Inner = dst, vh.ICMP, kind, code, quoted
	p.SrcPort, p.DstPort, p.TCPFlags = 0, 0, 0
	return p
}

// confFromHost is a packet template from pg's host with address a.
func confFromHost(pg *vh.PG, a netip.Addr) vh.Pkt {
	for _, h := range pg.Hosts {
		if h.IP4 == a || h.IP6 == a {
			return vh.Pkt{SrcMAC: h.MAC, DstMAC: pg.MAC, Src: a}
		}
	}
	panic(fmt.Sprintf("no host %s on %s", a, pg.Name))
}

// confEthFrame wraps an IP packet for pg's host with address from.
func confEthFrame(pg *vh.PG, from netip.Addr, ip []byte) []byte {
	t := confFromHost(pg, from)
	et := []byte{0x08, 0x00}
	if ip[0]>>4 == 6 {
		et = []byte{0x86, 0xdd}
	}
	f := append(append(append(append([]byte{}, t.DstMAC...), t.SrcMAC...), et...), ip...)
	return f
}

// confFragment splits an IP packet (no extension headers) into fragments of at
// most size bytes of payload (a multiple of 8), with identification id.
func confFragment(ip []byte, size int, id uint32) [][]byte {
	var out [][]byte
	if ip[0]>>4 == 4 {
		ihl := int(ip[0]&0xf) * 4
		pl := ip[ihl:]
		for off := 0; off < len(pl); off += size {
			end := min(off+size, len(pl))
			h := append([]byte{}, ip[:ihl]...)
			binary.BigEndian.PutUint16(h[2:], uint16(ihl+end-off))
			binary.BigEndian.PutUint16(h[4:], uint16(id))
			fo := uint16(off / 8)
			if end < len(pl) {
				fo |= 0x2000
			}
			binary.BigEndian.PutUint16(h[6:], fo)
			h[10], h[11] = 0, 0
			binary.BigEndian.PutUint16(h[10:], vh.Checksum(h, 0))
			out = append(out, append(h, pl[off:end]...))
		}
		return out
	}
	nh, pl := ip[6], ip[40:]
	for off := 0; off < len(pl); off += size {
		end := min(off+size, len(pl))
		h := append([]byte{}, ip[:40]...)
		h[6] = 44
		binary.BigEndian.PutUint16(h[4:], uint16(8+end-off))
		fh := make([]byte, 8)
		fh[0] = nh
		fo := uint16(off/8) << 3
		if end < len(pl) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		out = append(out, append(append(h, fh...), pl[off:end]...))
	}
	return out
}
