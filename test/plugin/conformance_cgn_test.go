package plugin

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// RFC 6888 (carrier-grade NAT). These are about the outside addresses and
// ports given to subscribers: a VIP translation gives none (the client's
// address is kept), so none of them applies to a VIP. Per-subscriber
// limits and the block log exist only in pools; source NAT (`cnat snat
// with`) is one table's address set without subscribers, so those tests
// run on pools only (6888-4, -5, -12, -13) and say so.

// TestConformance6888_2: paired pooling by default, mixed protocols (as
// 4787-2).
func TestConformance6888_2(t *testing.T) {
	confEachModeFamily(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		confPaired(t, c, f)
	})
}

// TestConformance6888_3: a pool can be any set of addresses, not one
// contiguous range: two disjoint ranges (pool: range 30.0.0.10 range
// 30.0.0.20; source NAT: cnat snat with 30.0.0.1 30.0.0.9); 24 inside
// hosts' flows leave from both, and from nothing else.
func TestConformance6888_3(t *testing.T) {
	o := confOpts{hosts: 21,
		ranges: map[bool]string{false: "range 30.0.0.10 range 30.0.0.20", true: "range 30::10 range 30::20"}}
	for _, m := range confModes {
		t.Run(m.name, func(t *testing.T) {
			oo := o
			if m.pool {
				oo.outs = map[bool][]netip.Addr{false: confAddrs("30.0.0.10", "30.0.0.20"), true: confAddrs("30::10", "30::20")}
			} else {
				oo.outs = map[bool][]netip.Addr{false: confAddrs("30.0.0.1", "30.0.0.9"), true: confAddrs("30::1", "30::9")}
			}
			c := confNew(t, m, oo)
			for _, f := range families {
				t.Run(f.name, func(t *testing.T) {
					seen := map[netip.Addr]int{}
					for i := range c.pg0.Hosts {
						g := c.out(t, i, f, vh.UDP, 6000, c.remote(farHost, f), 53, 0)
						seen[g.Src]++
					}
					if len(seen) != 2 {
						t.Errorf("%d inside hosts left from %v, want both disjoint addresses %v", len(c.pg0.Hosts), seen, c.outs[f.v6])
					}
				})
			}
		})
	}
}

// TestConformance6888_4: outside ports per subscriber are limited: a
// subscriber of a pool with block-size 64 max-blocks 1 gets at most 64
// ports; the next flow fails as 5508-8 (dropped, ICMP 3/13). Pools only:
// source NAT has no subscribers.
func TestConformance6888_4(t *testing.T) {
	confPoolOnly(t, confOpts{poolArgs: "block-size 64 max-blocks 1", one: true}, func(t *testing.T, c *ctopo, f family) {
		left := confExhaustion(t, c, f)
		if left > 64 {
			t.Errorf("%d flows of one subscriber left with a cap of 64 ports", left)
		}
		// another subscriber is not affected
		c.out(t, 1, f, vh.UDP, 20000, c.remote(farHost, f), 53, 0)
	})
}

var confExhaustedRe = regexp.MustCompile(`(\d+) exhausted`)

// confPoolExhausted sums "N exhausted" of cnat show pool.
func confPoolExhausted(t *testing.T, c *ctopo) int {
	n := 0
	for _, m := range confExhaustedRe.FindAllStringSubmatch(c.cli(t, "cnat show pool"), -1) {
		k, _ := strconv.Atoi(m[1])
		n += k
	}
	return n
}

// TestConformance6888_5: sessions per subscriber are limited: max-sessions
// 5, the 6th flow is dropped and the pool's exhausted counter and the
// pool_exhausted drop counter show it. Pools only.
func TestConformance6888_5(t *testing.T) {
	confPoolOnly(t, confOpts{poolArgs: "block-size 512 max-blocks 1 max-sessions 5"}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		ex0, drop0 := confPoolExhausted(t, c), cnatErrors(t, c.v, "pool has no block")
		var pkts []vh.Pkt
		for i := 0; i < 6; i++ {
			pkts = append(pkts, flow(c.client(0, f), y, vh.UDP, uint16(21000+i), 53))
		}
		cp := c.v.Send(t, c.pg0, vh.Frames(t, pkts...))
		if n := len(cp[c.pg1]); n != 5 {
			t.Errorf("6 flows with max-sessions 5: %d left, want 5", n)
		}
		if d := confPoolExhausted(t, c) - ex0; d != 1 {
			t.Errorf("cnat show pool: exhausted grew by %d, want 1:\n%s", d, c.cli(t, "cnat show pool"))
		}
		if d := cnatErrors(t, c.v, "pool has no block") - drop0; d != 1 {
			t.Errorf("pool_exhausted drops grew by %d, want 1:\n%s", d, c.dropSummary(t))
		}
	})
}

// TestConformance6888_6: translation can be turned off for chosen
// destinations: `cnat snat exclude 20.0.0.0/24` (20::/100) — a flow to
// 20.0.0.1 leaves untranslated, one to 20.0.1.1 translated. For a pool the
// same exclusion command of its inside table is used.
func TestConformance6888_6(t *testing.T) {
	confEachMode(t, confOpts{}, func(t *testing.T, c *ctopo) {
		c.cli(t, "cnat snat exclude 20.0.0.0/24")
		c.cli(t, "cnat snat exclude 20::/100")
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				x := c.client(0, f).Src
				in := c.remote(0, f)
				g := c.one(t, c.pg0, flow(c.client(0, f), in, vh.UDP, 6100, 53), c.pg1)
				if g.Src != x || g.SrcPort != 6100 {
					t.Errorf("to excluded %s: left as %s, want untranslated from %s", in, g, x)
				}
				c.out(t, 0, f, vh.UDP, 6101, c.remote(farHost, f), 53, 0)
			})
		}
	})
}

// TestConformance6888_8: a freed outside port is not reused for 120 s.
// Pool (ports 1024-1151, block-size 64: two blocks, one address): A and
// B take both blocks; all sessions are purged (both blocks cool); C gets
// nothing at 119 s and a block at 121 s. Source NAT: X1:x's flow is purged
// and X2:x towards the same Y:y must not get X':x within 120 s.
func TestConformance6888_8(t *testing.T) {
	for _, m := range confModes {
		t.Run(m.name, func(t *testing.T) {
			c := confNew(t, m, confOpts{poolArgs: "ports 1024-1151 block-size 64 max-blocks 1", one: true})
			for _, f := range families {
				t.Run(f.name, func(t *testing.T) {
					y := c.remote(farHost, f)
					if !m.pool {
						g1 := c.out(t, 0, f, vh.UDP, 6200, y, 53, 0)
						c.cli(t, "cnat session purge")
						clock(t, c.v, 1)
						g2 := c.out(t, 1, f, vh.UDP, 6200, y, 53, 0)
						if confMapping(g1) == confMapping(g2) {
							t.Errorf("X1's freed mapping %s was given to X2 1 s later (reuse delay 120 s)", confMapping(g1))
						}
						return
					}
					c.out(t, 0, f, vh.UDP, 6200, y, 53, 0)
					c.out(t, 1, f, vh.UDP, 6200, y, 53, 0)
					c.cli(t, "cnat session purge")
					p := flow(c.client(2, f), y, vh.UDP, 6200, 53)
					clock(t, c.v, 119)
					cp := c.v.Send(t, c.pg0, vh.Frames(t, p))
					if len(cp[c.pg1]) != 0 {
						t.Errorf("a third subscriber got a port 119 s after both blocks were freed:\n%s\n%s", cp,
							c.cli(t, "cnat show pool log"))
					}
					clock(t, c.v, 2)
					cp = c.v.Send(t, c.pg0, vh.Frames(t, p))
					if len(cp[c.pg1]) != 1 {
						t.Errorf("a third subscriber got no port 121 s after both blocks were freed:\n%s%s", cp, c.dropSummary(t))
					}
				})
			}
		})
	}
}

var confLogRe = regexp.MustCompile(`(?m)^\S+ (alloc|release) pool (\S+) table (\d+) (\S+) -> (\S+) ports (\d+)-(\d+)$`)

// confPoolLog waits until cnat show pool log has n records at least (the
// scanner drains the block log ring every 0.1 s of real time: a delivery
// delay, not a timer) and returns it.
func confPoolLog(t *testing.T, c *ctopo, n int, f family) string {
	t.Helper()
	var log string
	for end := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		log = c.cli(t, "cnat show pool log")
		k := 0
		for _, m := range confLogRe.FindAllStringSubmatch(log, -1) {
			if a, err := netip.ParseAddr(m[4]); err == nil && a.Is6() == f.v6 {
				k++
			}
		}
		if k >= n || time.Now().After(end) {
			return log
		}
	}
}

// TestConformance6888_12: logs do not record destinations: after flows
// from two subscribers to several destinations, `cnat show pool log` has
// allocation records naming inside and outside addresses and ports, and
// no destination address. Pools only: source NAT writes no log.
func TestConformance6888_12(t *testing.T) {
	confPoolOnly(t, confOpts{}, func(t *testing.T, c *ctopo, f family) {
		var dsts []netip.Addr
		for i := 0; i < 2; i++ {
			for _, h := range []int{0, 1, farHost} {
				c.out(t, i, f, vh.UDP, 6300, c.remote(h, f), 53, 0)
				dsts = append(dsts, c.remote(h, f))
			}
		}
		log := confPoolLog(t, c, 2, f)
		if len(confLogRe.FindAllString(log, -1)) == 0 {
			t.Fatalf("no block records in cnat show pool log:\n%s", log)
		}
		for _, d := range dsts {
			if strings.Contains(log, " "+d.String()+" ") || strings.Contains(log, " "+d.String()+"\n") {
				t.Errorf("the block log records destination %s:\n%s", d, log)
			}
		}
		if !strings.Contains(log, c.client(0, f).Src.String()) {
			t.Errorf("the block log does not name subscriber %s:\n%s", c.client(0, f).Src, log)
		}
	})
}

// TestConformance6888_13: efficient allocation and small logs: a
// subscriber's 30 flows make one allocation record (one block); the
// first blocks of four subscribers are not handed out in port order from
// the pool's first port (random first block). Pools only.
func TestConformance6888_13(t *testing.T) {
	confPoolOnly(t, confOpts{hosts: 1, one: true}, func(t *testing.T, c *ctopo, f family) {
		y := c.remote(farHost, f)
		var pkts []vh.Pkt
		for i := 0; i < 30; i++ {
			pkts = append(pkts, flow(c.client(0, f), y, vh.UDP, uint16(22000+i), 53))
		}
		c.v.SendAndExpect(t, c.pg0, pkts, c.pg1)
		for i := 1; i < 4; i++ {
			c.out(t, i, f, vh.UDP, 22000, y, 53, 0)
		}
		log := confPoolLog(t, c, 4, f)
		var starts []int
		allocs := map[string]int{}
		for _, m := range confLogRe.FindAllStringSubmatch(log, -1) {
			if m[1] != "alloc" || netip.MustParseAddr(m[4]).Is6() != f.v6 {
				continue
			}
			allocs[m[4]]++
			s, _ := strconv.Atoi(m[6])
			starts = append(starts, s)
		}
		if n := allocs[c.client(0, f).Src.String()]; n != 1 {
			t.Errorf("30 flows of one subscriber: %d allocation records, want 1:\n%s", n, log)
		}
		if len(starts) != 4 {
			t.Fatalf("want 4 allocation records (one per subscriber), got %d:\n%s", len(starts), log)
		}
		seq := true
		for i := range starts {
			if starts[i] != 1024+512*i {
				seq = false
			}
		}
		if seq {
			t.Errorf("the first blocks were handed out in order from the first port %v: guessable", starts)
		}
		t.Logf("first ports of four subscribers: %s", fmt.Sprint(starts))
	})
}
