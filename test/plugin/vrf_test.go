package plugin

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// newVRFTopo has identical client and server networks in tables 1 and 2:
//
//	pg0 table 1, pg1 table 2: 10.0.0.1/24 10::1/64 (clients 10.0.0.2.. / 10::2..)
//	pg2 table 1, pg3 table 2: 20.0.255.254/16 20::ffff/64 (20.0.0.1.., far 20.0.1.1 / 20::1:0:1)
func newVRFTopo(t *testing.T) (*vh.VPP, [3]*vh.PG, [3]*vh.PG) {
	t.Helper()
	v := vh.Start(t, vh.Options{})
	var in, out [3]*vh.PG
	for _, tbl := range []uint32{1, 2} {
		in[tbl] = v.NewPG(t, vh.PGConfig{Table: tbl, IP4: "10.0.0.1/24", IP6: "10::1/64", Hosts: 2})
	}
	for _, tbl := range []uint32{1, 2} {
		out[tbl] = v.NewPG(t, vh.PGConfig{Table: tbl, IP4: "20.0.255.254/16", IP6: "20::ffff/64", Hosts: 3})
		out[tbl].AddHost(t, netip.MustParseAddr("20.0.1.1"), netip.MustParseAddr("20::1:0:1"))
	}
	return v, in, out
}

// TestVRFSameInsideAddressesDNAT: the same client flow in two tables makes
// two sessions, each translated by its table's translation and answered in
// its table; purging one table leaves the other.
func TestVRFSameInsideAddressesDNAT(t *testing.T) {
	t.Parallel()
	v, in, out := newVRFTopo(t)
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				v.CLIf(t, "cnat session purge")
				// Table 1 sends to backend 20.0.0.1, table 2 to 20.0.0.2.
				for tbl := uint32(1); tbl <= 2; tbl++ {
					b := out[tbl].Hosts[tbl-1].IP(f.v6)
					v.CLIf(t, "cnat translation add proto %s vip %s%s table %d to %s", pr, f.vip(), pa(pr, 80), tbl, to(b, 8080, pr))
				}
				var got [3]*vh.Parsed
				for tbl := uint32(1); tbl <= 2; tbl++ {
					c := in[tbl].From(0, f.v6)
					got[tbl] = v.SendAndExpect(t, in[tbl], []vh.Pkt{flow(c, f.vip(), pr, 1234, 80)}, out[tbl])[0]
					b := out[tbl].Hosts[tbl-1].IP(f.v6)
					want(t, fmt.Sprintf("table %d forward", tbl), got[tbl], c.Src, 1234, b, 0)
				}
				wantSessions(t, v, "table 1", 1)
				wantSessions(t, v, "table 2", 1)
				wantSessions(t, v, "", 2)
				for tbl := uint32(1); tbl <= 2; tbl++ {
					back := v.SendAndExpect(t, out[tbl], []vh.Pkt{replyTo(out[tbl], got[tbl], vh.SYN|vh.ACK)}, in[tbl])[0]
					want(t, fmt.Sprintf("table %d reply", tbl), back, f.vip(), 0, in[tbl].Hosts[0].IP(f.v6), 1234)
				}
				v.CLIf(t, "cnat session purge table 1")
				wantSessions(t, v, "table 1", 0)
				wantSessions(t, v, "table 2", 1)
				back := v.SendAndExpect(t, out[2], []vh.Pkt{replyTo(out[2], got[2], vh.ACK)}, in[2])[0]
				want(t, "table 2 reply after purging table 1", back, f.vip(), 0, in[2].Hosts[0].IP(f.v6), 1234)
				back = v.SendAndExpect(t, out[1], []vh.Pkt{replyTo(out[1], got[1], vh.ACK)}, in[1])[0]
				if back.Src == f.vip() {
					t.Errorf("table 1 reply after purging table 1 still translated: %s", back)
				}
				for tbl := uint32(1); tbl <= 2; tbl++ {
					v.CLIf(t, "cnat translation del proto %s vip %s%s table %d", pr, f.vip(), pa(pr, 80), tbl)
				}
			})
		}
	}
}

// TestVRFSameInsideAddressesSNAT: each table has its own SNAT address; the
// same inside endpoint in both tables keeps its port in both, and replies
// return in the right table.
func TestVRFSameInsideAddressesSNAT(t *testing.T) {
	t.Parallel()
	v, in, out := newVRFTopo(t)
	for _, f := range families {
		snat := [3]netip.Addr{{}, f.a("31.0.0.1", "31::1"), f.a("32.0.0.1", "32::1")}
		for tbl := uint32(1); tbl <= 2; tbl++ {
			v.CLIf(t, "cnat snat with %s table %d", snat[tbl], tbl)
			v.CLIf(t, "set interface feature %s %s arc %s-unicast", in[tbl].Name, f.snatFeature(), f.arc())
		}
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				var got [3]*vh.Parsed
				for tbl := uint32(1); tbl <= 2; tbl++ {
					c := in[tbl].From(0, f.v6)
					far := out[tbl].Hosts[farHost].IP(f.v6)
					got[tbl] = v.SendAndExpect(t, in[tbl], []vh.Pkt{flow(c, far, pr, 1234, 53)}, out[tbl])[0]
					want(t, fmt.Sprintf("table %d", tbl), got[tbl], snat[tbl], 1234, far, 0)
				}
				for tbl := uint32(1); tbl <= 2; tbl++ {
					back := v.SendAndExpect(t, out[tbl], []vh.Pkt{replyTo(out[tbl], got[tbl], vh.SYN|vh.ACK)}, in[tbl])[0]
					want(t, fmt.Sprintf("table %d reply", tbl), back, got[tbl].Dst, 0, in[tbl].Hosts[0].IP(f.v6), 1234)
				}
			})
		}
	}
}

// TestSessionLimitPerVRF: a table's cap drops its new flows (counted) while
// the other table goes on.
func TestSessionLimitPerVRF(t *testing.T) {
	t.Parallel()
	v, in, out := newVRFTopo(t)
	v.CLIf(t, "cnat session limit 1 table 1")
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			v.CLIf(t, "cnat session purge")
			for tbl := uint32(1); tbl <= 2; tbl++ {
				v.CLIf(t, "cnat translation add proto udp vip %s 80 table %d to %s", f.vip(), tbl, to(out[tbl].Hosts[0].IP(f.v6), 8080, vh.UDP))
			}
			c1, c2 := in[1].From(0, f.v6), in[2].From(0, f.v6)
			v.SendAndExpect(t, in[1], []vh.Pkt{flow(c1, f.vip(), vh.UDP, 1, 80)}, out[1])
			before := cnatErrors(t, v, "session limit")
			v.SendAndExpectNone(t, in[1], []vh.Pkt{flow(c1, f.vip(), vh.UDP, 2, 80)})
			if d := cnatErrors(t, v, "session limit") - before; d != 1 {
				t.Errorf("flow over table 1's limit: cloudnat's 'session limit' drop counter grew by %d, want 1:\n%s", d, v.MustCLI(t, "show errors"))
			}
			v.SendAndExpect(t, in[2], []vh.Pkt{flow(c2, f.vip(), vh.UDP, 1, 80), flow(c2, f.vip(), vh.UDP, 2, 80), flow(c2, f.vip(), vh.UDP, 3, 80)}, out[2])
			wantSessions(t, v, "table 1", 1)
			wantSessions(t, v, "table 2", 3)
			for tbl := uint32(1); tbl <= 2; tbl++ {
				v.CLIf(t, "cnat translation del proto udp vip %s 80 table %d", f.vip(), tbl)
			}
		})
	}
}

// TestSessionLimitPerVRFBothFamilies: a table's limit counts its IPv4 and
// IPv6 sessions together: with "limit 2", one flow of each family fills it
// and a third flow of either family is dropped and counted.
func TestSessionLimitPerVRFBothFamilies(t *testing.T) {
	t.Parallel()
	v, in, out := newVRFTopo(t)
	v.CLIf(t, "cnat session limit 2 table 1")
	for _, f := range families {
		v.CLIf(t, "cnat translation add proto udp vip %s 80 table 1 to %s", f.vip(), to(out[1].Hosts[0].IP(f.v6), 8080, vh.UDP))
		c := in[1].From(0, f.v6)
		v.SendAndExpect(t, in[1], []vh.Pkt{flow(c, f.vip(), vh.UDP, 1, 80)}, out[1])
	}
	wantSessions(t, v, "table 1", 2)
	for _, f := range families {
		before := cnatErrors(t, v, "session limit")
		v.SendAndExpectNone(t, in[1], []vh.Pkt{flow(in[1].From(0, f.v6), f.vip(), vh.UDP, 2, 80)})
		if d := cnatErrors(t, v, "session limit") - before; d != 1 {
			t.Errorf("%s flow over table 1's limit of 2 (one v4 and one v6 session): 'session limit' drop counter grew by %d, want 1", f.name, d)
		}
	}
	wantSessions(t, v, "table 1", 2)
	// a deleted session makes room for either family
	v.CLIf(t, "cnat session purge table 1")
	for _, f := range families {
		v.SendAndExpect(t, in[1], []vh.Pkt{flow(in[1].From(0, f.v6), f.vip(), vh.UDP, 3, 80)}, out[1])
	}
	wantSessions(t, v, "table 1", 2)
}

// TestSessionLimitPerVRFReachesFIBsMadeLater: a table's limit set while the
// table had only its IPv4 FIB also holds for its IPv6 FIB made afterwards
// (and counts both families together).
func TestSessionLimitPerVRFReachesFIBsMadeLater(t *testing.T) {
	t.Parallel()
	v := vh.Start(t, vh.Options{})
	v.CLIf(t, "ip table add 3")
	v.CLIf(t, "cnat session limit 2 table 3")
	// now the interfaces, which make table 3's IPv6 FIB
	in := v.NewPG(t, vh.PGConfig{Table: 3, IP4: "10.0.0.1/24", IP6: "10::1/64", Hosts: 1})
	out := v.NewPG(t, vh.PGConfig{Table: 3, IP4: "20.0.255.254/16", IP6: "20::ffff/64", Hosts: 1})
	// the scanner (every 0.1 s) passes table limits on to new FIBs
	time.Sleep(300 * time.Millisecond)
	f6 := families[1]
	v.CLIf(t, "cnat translation add proto udp vip %s 80 table 3 to %s", f6.vip(), to(out.Hosts[0].IP(true), 8080, vh.UDP))
	c := in.From(0, true)
	v.SendAndExpect(t, in, []vh.Pkt{flow(c, f6.vip(), vh.UDP, 1, 80), flow(c, f6.vip(), vh.UDP, 2, 80)}, out)
	before := cnatErrors(t, v, "session limit")
	v.SendAndExpectNone(t, in, []vh.Pkt{flow(c, f6.vip(), vh.UDP, 3, 80)})
	if d := cnatErrors(t, v, "session limit") - before; d != 1 {
		t.Errorf("third IPv6 flow in table 3 (limit 2, set before its IPv6 FIB existed): 'session limit' drop counter grew by %d, want 1:\n%s",
			d, v.MustCLI(t, "show errors"))
	}
	wantSessions(t, v, "table 3", 2)
	// and the IPv4 FIB counts the IPv6 sessions: no room left for IPv4 either
	f4 := families[0]
	v.CLIf(t, "cnat translation add proto udp vip %s 80 table 3 to %s", f4.vip(), to(out.Hosts[0].IP(false), 8080, vh.UDP))
	v.SendAndExpectNone(t, in, []vh.Pkt{flow(in.From(0, false), f4.vip(), vh.UDP, 1, 80)})
	wantSessions(t, v, "table 3", 2)
}
