package plugin

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// Fragments (issue 13): every fragment of a translated flow leaves
// translated, whatever the order; fragments before their first are held
// and sent on when it comes; what never matches is dropped and counted.

// Drop reasons of the fragment tracker as "show errors" describes them
// (it shows the first 35 characters of a description).
const (
	reasonFragTimeout   = "first fragment never came" // frag_timeout
	reasonFragTiny      = "too short for its L4"      // frag_tiny
	reasonFragTooMany   = "max-per-datagram"          // frag_too_many
	reasonFragHoldFull  = "max-held"                  // frag_hold_full
	reasonFragTableFull = "max-in-flight"             // frag_table_full
)

// payloadN is n bytes of a pattern that depends on seed.
func payloadN(n int, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed*13 + i>>8)
	}
	return b
}

// fragment cuts p, failing the test on a bad description.
func fragment(t *testing.T, p vh.Pkt, o vh.FragOptions) []vh.Pkt {
	t.Helper()
	fs, err := p.Fragment(o)
	if err != nil {
		t.Fatalf("fragment %v: %v", p, err)
	}
	return fs
}

// fragOrder is an order of sending a datagram's n fragments.
type fragOrder struct {
	name string
	perm func(n int) []int
}

var fragOrders = []fragOrder{
	{"in-order", func(n int) []int {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		return p
	}},
	{"first-last", func(n int) []int { // reversed: the first fragment arrives last
		p := make([]int, n)
		for i := range p {
			p[i] = n - 1 - i
		}
		return p
	}},
	{"first-in-middle", func(n int) []int {
		p := []int{1, 2, 0}
		for i := 3; i < n; i++ {
			p = append(p, i)
		}
		return p
	}},
	{"last-then-first", func(n int) []int {
		p := []int{n - 1}
		for i := 0; i < n-1; i++ {
			p = append(p, i)
		}
		return p
	}},
}

func permute(fs []vh.Pkt, perm []int) []vh.Pkt {
	out := make([]vh.Pkt, len(perm))
	for i, j := range perm {
		out[i] = fs[j]
	}
	return out
}

// destOptsVariants are the IPv6 header layouts tried.
func destOptsVariants(f family) []int {
	if f.v6 {
		return []int{vh.NoDestOpts, vh.DestOptsBeforeFrag, vh.DestOptsAfterFrag}
	}
	return []int{vh.NoDestOpts}
}

func destOptsName(d int) string {
	return [...]string{"frag-hdr", "dstopts-before-frag", "dstopts-after-frag"}[d]
}

// noInsideLeak fails the test for every packet out of out whose source is
// one of the inside addresses (an untranslated fragment).
func noInsideLeak(t *testing.T, c vh.Capture, out *vh.PG, inside ...netip.Addr) {
	t.Helper()
	for _, pkt := range c[out] {
		p, err := vh.Parse(pkt)
		if err != nil {
			continue
		}
		for _, a := range inside {
			if p.Src == a {
				t.Errorf("a packet left %s with the inside source address %s: %s", out.Name, a, p)
			}
		}
	}
}

// parsedOut parses what came out of pg in a capture.
func parsedOut(t *testing.T, c vh.Capture, pg *vh.PG) []*vh.Parsed {
	t.Helper()
	return vh.ParseAll(t, c[pg])
}

// describeAll lists parsed packets, for messages.
func describeAll(ps []*vh.Parsed) string {
	s := ""
	for _, p := range ps {
		s += "  " + p.String() + "\n"
	}
	if s == "" {
		return "  (nothing)\n"
	}
	return s
}

// oneDatagram reassembles captured fragments that must all belong to one
// datagram and returns it parsed, with its L4 checksum checked.
func oneDatagram(t *testing.T, what string, got []*vh.Parsed) *vh.Parsed {
	t.Helper()
	ds, whole := vh.ReassembleAll(got)
	if len(whole) > 0 {
		t.Errorf("%s: %d packet(s) that are not fragments:\n%s", what, len(whole), describeAll(whole))
	}
	if len(ds) != 1 {
		t.Fatalf("%s: fragments of %d datagrams, want 1:\n%s", what, len(ds), describeAll(got))
	}
	for _, d := range ds {
		if d.Err != nil {
			t.Fatalf("%s: reassembly: %v\n%s", what, d.Err, describeAll(got))
		}
		if errs := vh.IPChecksumErrors(d.IP); len(errs) > 0 {
			t.Errorf("%s: reassembled datagram %s: %v", what, d.Parsed, errs)
		}
		return d.Parsed
	}
	return nil
}

// wantDatagram checks a reassembled datagram's tuple and payload (ICMP:
// sport is the echo id; 0 = any).
func wantDatagram(t *testing.T, what string, d *vh.Parsed, pr vh.Proto, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, payload []byte) {
	t.Helper()
	if d.Proto != pr {
		t.Errorf("%s: reassembled %s, want protocol %s", what, d, pr)
	}
	want(t, what, d, src, sport, dst, dport)
	if payload != nil && !bytes.Equal(d.Payload, payload) {
		t.Errorf("%s: reassembled payload (%d bytes) differs from what was sent (%d bytes)", what, len(d.Payload), len(payload))
	}
}

// allFrom checks that every packet has source src and destination dst.
func allFrom(t *testing.T, what string, got []*vh.Parsed, src, dst netip.Addr) {
	t.Helper()
	for _, p := range got {
		if p.Src != src || p.Dst != dst {
			t.Errorf("%s: fragment %s, want %s -> %s", what, p, src, dst)
		}
	}
}

// waitFor polls cond (the scanner runs every 0.1 s) for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("after 5 s: %s", what)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var fragShowRe = regexp.MustCompile(`datagrams in flight (\d+), fragments held (\d+), dropped on timeout (\d+)`)

// fragState is "cnat show fragments": datagrams in flight, fragments held,
// dropped on timeout.
func fragState(t *testing.T, v *vh.VPP) (inFlight, held, timedOut int) {
	t.Helper()
	out := v.MustCLI(t, "cnat show fragments")
	m := fragShowRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cnat show fragments: unexpected output:\n%s", out)
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	c, _ := strconv.Atoi(m[3])
	return a, b, c
}

// TestFragSNAT: a fragmented datagram from inside leaves with every
// fragment translated to the SNAT address, in every order and IPv6 header
// layout; the reassembled datagram has the inside port (free) and a valid
// L4 checksum, and the outside's fragmented reply comes back to the
// client whole.
func TestFragSNAT(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	sport := uint16(3000)
	for _, f := range families {
		for _, pr := range protos {
			for _, do := range destOptsVariants(f) {
				for _, o := range fragOrders {
					sport++
					sp := sport
					t.Run(name(f.name, pr, destOptsName(do), o.name), func(t *testing.T) {
						c := tp.client(0, f)
						far := tp.far(f).IP(f.v6)
						p := flow(c, far, pr, sp, 53)
						p.IPID = sp
						p.Payload = payloadN(1000, int(sp))
						fs := fragment(t, p, vh.FragOptions{Size: 256, DestOpts: do})
						cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, permute(fs, o.perm(len(fs)))...))
						noInsideLeak(t, cap1, tp.pg1, c.Src)
						got := parsedOut(t, cap1, tp.pg1)
						if len(got) != len(fs) {
							t.Fatalf("sent %d fragments (%s): %d out of pg1, want all:\n%s%s", len(fs), o.name, len(got), cap1,
								tp.cli(t, "show errors"))
						}
						for pg, ps := range cap1 {
							if pg != tp.pg1 {
								t.Errorf("unexpected %d packet(s) out of %s", len(ps), pg.Name)
							}
						}
						allFrom(t, "forward fragment", got, f.snat(), far)
						d := oneDatagram(t, "forward datagram", got)
						wantDatagram(t, "forward datagram", d, pr, f.snat(), sp, far, p.DstPort, p.Payload)

						// the reply, fragmented, first fragment last
						r := replyTo(tp.pg1, d, vh.SYN|vh.ACK)
						r.IPID = sp + 1
						r.Payload = payloadN(700, int(sp)+1)
						rfs := fragment(t, r, vh.FragOptions{Size: 200, DestOpts: do})
						cap2 := tp.v.Send(t, tp.pg1, vh.Frames(t, permute(rfs, fragOrders[1].perm(len(rfs)))...))
						back := parsedOut(t, cap2, tp.pg0)
						if len(back) != len(rfs) {
							t.Fatalf("reply: sent %d fragments (first last): %d out of pg0, want all:\n%s%s", len(rfs), len(back), cap2, tp.cli(t, "show errors"))
						}
						allFrom(t, "reply fragment", back, far, c.Src)
						rd := oneDatagram(t, "reply datagram", back)
						wantDatagram(t, "reply datagram", rd, pr, far, cliPort(pr, r.SrcPort), c.Src, sp, r.Payload)
						if pr == vh.ICMP && rd.ICMP != vh.EchoReply {
							t.Errorf("reply datagram: %s, want an echo reply", rd)
						}
					})
				}
			}
		}
	}
}

// TestFragSNATHeldUntilFirst: later fragments sent on their own are held
// (nothing leaves); when the first fragment comes, all leave translated.
func TestFragSNATHeldUntilFirst(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		for i, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				c := tp.client(0, f)
				far := tp.far(f).IP(f.v6)
				sp := uint16(3500 + i)
				p := flow(c, far, pr, sp, 53)
				p.IPID = sp
				p.Payload = payloadN(900, i)
				fs := fragment(t, p, vh.FragOptions{Size: 256})
				tp.v.SendAndExpectNone(t, tp.pg0, fs[1:])
				_, held, _ := fragState(t, tp.v)
				if held != len(fs)-1 {
					t.Errorf("cnat show fragments: %d fragments held, want %d", held, len(fs)-1)
				}
				cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, fs[0]))
				noInsideLeak(t, cap1, tp.pg1, c.Src)
				got := parsedOut(t, cap1, tp.pg1)
				if len(got) != len(fs) {
					t.Fatalf("first fragment after %d held ones: %d fragments out of pg1, want %d:\n%s%s", len(fs)-1, len(got), len(fs), cap1, tp.cli(t, "show errors"))
				}
				allFrom(t, "fragment", got, f.snat(), far)
				wantDatagram(t, "datagram", oneDatagram(t, "datagram", got), pr, f.snat(), sp, far, p.DstPort, p.Payload)
				if _, held, _ := fragState(t, tp.v); held != 0 {
					t.Errorf("cnat show fragments: %d fragments still held after their first came", held)
				}
			})
		}
	}
}

// TestFragSNATDuplicates: duplicated fragments (the first one too) and
// overlapping ones are all translated; the datagram reassembles.
func TestFragSNATDuplicates(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		for i, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				c := tp.client(0, f)
				far := tp.far(f).IP(f.v6)
				sp := uint16(3600 + i)
				p := flow(c, far, pr, sp, 53)
				p.IPID = sp
				p.Payload = payloadN(1000, i)
				fs := fragment(t, p, vh.FragOptions{Size: 256})
				n := len(fs)
				send := []vh.Pkt{fs[1], fs[0], fs[1], fs[2], fs[0]}
				send = append(send, fs[3:]...)
				send = append(send, fs[n-1], fs[2])
				cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, send...))
				noInsideLeak(t, cap1, tp.pg1, c.Src)
				got := parsedOut(t, cap1, tp.pg1)
				if len(got) != len(send) {
					t.Errorf("sent %d fragments (%d distinct, duplicates of the first, a middle and the last): %d out of pg1, want all:\n%s%s",
						len(send), n, len(got), cap1, tp.cli(t, "show errors"))
				}
				allFrom(t, "fragment", got, f.snat(), far)
				wantDatagram(t, "datagram", oneDatagram(t, "datagram", got), pr, f.snat(), sp, far, p.DstPort, p.Payload)
			})
			t.Run(name(f.name, pr, "overlapping"), func(t *testing.T) {
				// two cuts of one datagram (256 and 96 bytes), interleaved:
				// the fragments overlap, with the same bytes
				c := tp.client(0, f)
				far := tp.far(f).IP(f.v6)
				sp := uint16(3700 + i)
				p := flow(c, far, pr, sp, 53)
				p.IPID = sp
				p.Payload = payloadN(1000, i)
				a := fragment(t, p, vh.FragOptions{Size: 256})
				b := fragment(t, p, vh.FragOptions{Size: 96})
				send := []vh.Pkt{b[2], a[0], b[1], a[1], b[5], a[2], b[0], a[3]}
				send = append(send, a[4:]...)
				send = append(send, b[len(b)-1])
				cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, send...))
				noInsideLeak(t, cap1, tp.pg1, c.Src)
				got := parsedOut(t, cap1, tp.pg1)
				if len(got) != len(send) {
					t.Errorf("sent %d overlapping fragments: %d out of pg1, want all:\n%s%s", len(send), len(got), cap1, tp.cli(t, "show errors"))
				}
				allFrom(t, "fragment", got, f.snat(), far)
				wantDatagram(t, "datagram", oneDatagram(t, "datagram", got), pr, f.snat(), sp, far, p.DstPort, p.Payload)
			})
		}
	}
}

// TestFragSNATInterleaved: fragments of four datagrams (two clients, two
// protocols, the same source port) interleaved in one frame, one of them
// first fragment last: each leaves translated with its own flow's port
// and reassembles.
func TestFragSNATInterleaved(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			far := tp.far(f).IP(f.v6)
			type dg struct {
				p   vh.Pkt
				fs  []vh.Pkt
				key string
			}
			var dgs []*dg
			k := 0
			for ci := 0; ci < 2; ci++ {
				for _, pr := range []vh.Proto{vh.UDP, vh.TCP} {
					k++
					p := flow(tp.client(ci, f), far, pr, 4000, 53)
					p.IPID = uint16(4100 + k)
					p.Payload = payloadN(600+100*k, k)
					fs := fragment(t, p, vh.FragOptions{Size: 128, DestOpts: map[bool]int{false: vh.NoDestOpts, true: vh.DestOptsBeforeFrag}[f.v6 && k == 3]})
					if k == 2 {
						fs = permute(fs, fragOrders[1].perm(len(fs)))
					}
					dgs = append(dgs, &dg{p: p, fs: fs})
				}
			}
			var send []vh.Pkt
			for i := 0; ; i++ {
				added := false
				for _, d := range dgs {
					if i < len(d.fs) {
						send = append(send, d.fs[i])
						added = true
					}
				}
				if !added {
					break
				}
			}
			cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, send...))
			noInsideLeak(t, cap1, tp.pg1, tp.client(0, f).Src, tp.client(1, f).Src)
			got := parsedOut(t, cap1, tp.pg1)
			if len(got) != len(send) {
				t.Fatalf("sent %d interleaved fragments of 4 datagrams: %d out of pg1:\n%s%s", len(send), len(got), cap1, tp.cli(t, "show errors"))
			}
			ds, whole := vh.ReassembleAll(got)
			if len(whole) > 0 || len(ds) != 4 {
				t.Fatalf("out of pg1: %d datagrams and %d whole packets, want 4 datagrams:\n%s", len(ds), len(whole), describeAll(got))
			}
			ports := map[string]bool{}
			for _, d := range dgs {
				var found *vh.Datagram
				for _, x := range ds {
					if x.Err == nil && x.Parsed.Proto == d.p.Proto && bytes.Equal(x.Parsed.Payload, d.p.Payload) {
						found = x
					}
				}
				if found == nil {
					t.Errorf("datagram %s id %d: not among the reassembled ones", d.p.Proto, d.p.IPID)
					for k, x := range ds {
						t.Logf("  %s: %v %s", k, x.Err, x.Parsed)
					}
					continue
				}
				if errs := vh.IPChecksumErrors(found.IP); len(errs) > 0 {
					t.Errorf("datagram %s from %s: %v", d.p.Proto, d.p.Src, errs)
				}
				if found.Parsed.Src != f.snat() || found.Parsed.Dst != far {
					t.Errorf("datagram %s from %s left as %s", d.p.Proto, d.p.Src, found.Parsed)
				}
				key := fmt.Sprintf("%s %d", found.Parsed.Proto, found.Parsed.SrcPort)
				if ports[key] {
					t.Errorf("two inside hosts' %s flows share the outside port %d", found.Parsed.Proto, found.Parsed.SrcPort)
				}
				ports[key] = true
			}
		})
	}
}

// TestFragVIP: a fragmented datagram to a VIP reaches the backend with
// every fragment translated; the backend's fragmented reply reaches the
// client from the VIP.
func TestFragVIP(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	addVIPsToBackend0(t, tp)
	for _, f := range families {
		for i, pr := range protos {
			for _, do := range destOptsVariants(f) {
				t.Run(name(f.name, pr, destOptsName(do)), func(t *testing.T) {
					c := tp.client(0, f)
					b := tp.pg1.Hosts[0].IP(f.v6)
					sp := uint16(5000 + 10*i + do)
					p := flow(c, f.vip(), pr, sp, 80)
					p.IPID = sp
					p.Payload = payloadN(800, int(sp))
					fs := fragment(t, p, vh.FragOptions{Size: 200, DestOpts: do})
					cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, permute(fs, fragOrders[2].perm(len(fs)))...))
					got := parsedOut(t, cap1, tp.pg1)
					if len(got) != len(fs) {
						t.Fatalf("sent %d fragments to the VIP: %d out of pg1:\n%s%s", len(fs), len(got), cap1, tp.cli(t, "show errors"))
					}
					for _, g := range got {
						if g.Dst != b {
							t.Errorf("fragment to the VIP left as %s, want destination %s", g, b)
						}
					}
					d := oneDatagram(t, "to the backend", got)
					wantDatagram(t, "to the backend", d, pr, c.Src, sp, b, cliPort(pr, 8080), p.Payload)

					r := replyTo(tp.pg1, d, vh.SYN|vh.ACK)
					r.IPID = sp + 1
					r.Payload = payloadN(600, int(sp)+1)
					rfs := fragment(t, r, vh.FragOptions{Size: 200, DestOpts: do})
					cap2 := tp.v.Send(t, tp.pg1, vh.Frames(t, permute(rfs, fragOrders[3].perm(len(rfs)))...))
					noInsideLeak(t, cap2, tp.pg0, b) // the backend hides behind the VIP
					back := parsedOut(t, cap2, tp.pg0)
					if len(back) != len(rfs) {
						t.Fatalf("backend's reply: sent %d fragments: %d out of pg0:\n%s%s", len(rfs), len(back), cap2, tp.cli(t, "show errors"))
					}
					allFrom(t, "reply fragment", back, f.vip(), c.Src)
					wantDatagram(t, "reply datagram", oneDatagram(t, "reply", back), pr, f.vip(), cliPort(pr, 80), c.Src, sp, r.Payload)
				})
			}
		}
	}
}

// TestFragOrphanTimeout: fragments whose first never comes leave nothing
// (from inside, nor from outside to the SNAT address), are dropped and
// counted after the timeout, and free their slots; a first fragment
// after that leaves alone.
func TestFragOrphanTimeout(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	tp.cli(t, "cnat fragments timeout 1000")
	for _, f := range families {
		for i, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				c := tp.client(0, f)
				far := tp.far(f).IP(f.v6)
				sp := uint16(6000 + i)
				p := flow(c, far, pr, sp, 53)
				p.IPID = sp
				p.Payload = payloadN(700, i)
				fs := fragment(t, p, vh.FragOptions{Size: 200})
				// from outside: fragments of a "reply" to the SNAT address
				// for a flow that does not exist
				r := vh.Pkt{SrcMAC: tp.pg1.Hosts[farHost].MAC, DstMAC: tp.pg1.MAC, Src: far, Dst: f.snat(), Proto: pr,
					SrcPort: 53, DstPort: sp, ICMP: vh.EchoReply, IPID: sp, Payload: payloadN(500, i)}
				if pr == vh.ICMP {
					r.DstPort = sp
					r.SrcPort = sp
				}
				rfs := fragment(t, r, vh.FragOptions{Size: 200})
				before := cnatErrors(t, tp.v, reasonFragTimeout)
				_, _, showBefore := fragState(t, tp.v)
				tp.v.SendAndExpectNone(t, tp.pg0, fs[1:])
				tp.v.SendAndExpectNone(t, tp.pg1, rfs[1:])
				n := len(fs) - 1 + len(rfs) - 1
				if _, held, _ := fragState(t, tp.v); held != n {
					t.Errorf("cnat show fragments: %d held, want %d", held, n)
				}
				clock(t, tp.v, 2)
				waitFor(t, fmt.Sprintf("'%s' drop counter grew by %d", reasonFragTimeout, n), func() bool {
					return cnatErrors(t, tp.v, reasonFragTimeout)-before >= uint64(n)
				})
				if d := cnatErrors(t, tp.v, reasonFragTimeout) - before; d != uint64(n) {
					t.Errorf("%d orphan fragments timed out: '%s' counter grew by %d, want %d:\n%s", n, reasonFragTimeout, d, n, tp.cli(t, "show errors"))
				}
				inFlight, held, timedOut := fragState(t, tp.v)
				if held != 0 || inFlight != 0 || timedOut-showBefore != n {
					t.Errorf("cnat show fragments after the timeout: in flight %d, held %d, timed out +%d; want 0, 0, +%d", inFlight, held, timedOut-showBefore, n)
				}
				// the first fragment now: it alone leaves, translated
				cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, fs[0]))
				noInsideLeak(t, cap1, tp.pg1, c.Src)
				got := parsedOut(t, cap1, tp.pg1)
				if len(got) != 1 {
					t.Errorf("first fragment after its others timed out: %d out of pg1, want 1 (itself):\n%s", len(got), cap1)
				}
				allFrom(t, "first fragment", got, f.snat(), far)
			})
		}
	}
}

// TestFragTiny: a first fragment too short for its L4 header is dropped
// and counted (frag_tiny); its other fragments never leave.
func TestFragTiny(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	tp.cli(t, "cnat fragments timeout 1000")
	type tc struct {
		name string
		pr   vh.Proto
		o    vh.FragOptions
		v6   bool
	}
	cases := []tc{
		{"ip4/tcp-8-bytes", vh.TCP, vh.FragOptions{Sizes: []int{8, 64}}, false},
		{"ip6/tcp-8-bytes", vh.TCP, vh.FragOptions{Sizes: []int{8, 64}}, true},
		{"ip6/only-dstopts-in-first", vh.UDP, vh.FragOptions{Sizes: []int{8, 64}, DestOpts: vh.DestOptsAfterFrag}, true},
	}
	for i, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			f := families[0]
			if k.v6 {
				f = families[1]
			}
			c := tp.client(0, f)
			far := tp.far(f).IP(f.v6)
			p := flow(c, far, k.pr, uint16(6500+i), 53)
			p.IPID = uint16(6500 + i)
			p.Payload = payloadN(200, i)
			fs := fragment(t, p, k.o)
			before := cnatErrors(t, tp.v, reasonFragTiny)
			beforeTO := cnatErrors(t, tp.v, reasonFragTimeout)
			tp.v.SendAndExpectNone(t, tp.pg0, fs)
			if d := cnatErrors(t, tp.v, reasonFragTiny) - before; d != 1 {
				t.Errorf("tiny first fragment (%d bytes): '%s' counter grew by %d, want 1:\n%s", len(fs[0].Raw), reasonFragTiny, d, tp.cli(t, "show errors"))
			}
			clock(t, tp.v, 2)
			rest := uint64(len(fs) - 1)
			if !k.v6 {
				// VPP's ip4-input drops the fragment at offset 8 itself
				// (RFC 1858: "ip4 fragment offset == 1")
				rest--
			}
			waitFor(t, "the tiny fragment's other fragments time out", func() bool {
				return cnatErrors(t, tp.v, reasonFragTimeout)-beforeTO >= rest
			})
			// the same fragments again, in the other order: still nothing
			tp.v.SendAndExpectNone(t, tp.pg0, []vh.Pkt{fs[1], fs[0]})
		})
	}
}

// TestFragLimits: max-per-datagram, max-held and max-in-flight drop and
// count; other traffic flows while the tracker is full; out-of-range
// settings are refused.
func TestFragLimits(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	f := families[0]
	c := tp.client(0, f)
	far := tp.far(f).IP(f.v6)
	mk := func(sp uint16, n int) []vh.Pkt {
		p := flow(c, far, vh.UDP, sp, 53)
		p.IPID = sp
		p.Payload = payloadN(n*64-8, int(sp))
		return fragment(t, p, vh.FragOptions{Size: 64})
	}

	t.Run("refused", func(t *testing.T) {
		show := tp.cli(t, "cnat show fragments")
		for _, cmd := range []string{
			"cnat fragments timeout 60001",
			"cnat fragments max-per-datagram 65",
			"cnat fragments max-in-flight 2000000",
			"cnat fragments",
		} {
			if out, err := tp.v.CLI(cmd); err == nil {
				t.Errorf("%q accepted: %s", cmd, out)
			}
		}
		if got := tp.cli(t, "cnat show fragments"); got != show {
			t.Errorf("refused settings changed cnat show fragments:\n%s\nwas:\n%s", got, show)
		}
	})

	t.Run("max-per-datagram", func(t *testing.T) {
		tp.cli(t, "cnat fragments max-per-datagram 4")
		defer tp.cli(t, "cnat fragments max-per-datagram 64")
		fs := mk(7000, 6)
		before := cnatErrors(t, tp.v, reasonFragTooMany)
		cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, fs...))
		noInsideLeak(t, cap1, tp.pg1, c.Src)
		if n := len(cap1[tp.pg1]); n != 4 {
			t.Errorf("6 fragments with max-per-datagram 4: %d out, want 4:\n%s", n, cap1)
		}
		if d := cnatErrors(t, tp.v, reasonFragTooMany) - before; d != 2 {
			t.Errorf("'%s' counter grew by %d, want 2", reasonFragTooMany, d)
		}
	})

	t.Run("max-held", func(t *testing.T) {
		tp.cli(t, "cnat fragments max-held 2")
		defer tp.cli(t, "cnat fragments max-held 1024")
		fs := mk(7100, 5)
		before := cnatErrors(t, tp.v, reasonFragHoldFull)
		tp.v.SendAndExpectNone(t, tp.pg0, fs[1:])
		if d := cnatErrors(t, tp.v, reasonFragHoldFull) - before; d != 2 {
			t.Errorf("4 later fragments with max-held 2: '%s' counter grew by %d, want 2:\n%s", reasonFragHoldFull, d, tp.cli(t, "show errors"))
		}
		cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, fs[0]))
		noInsideLeak(t, cap1, tp.pg1, c.Src)
		got := parsedOut(t, cap1, tp.pg1)
		if len(got) != 3 {
			t.Errorf("first fragment after 2 held and 2 dropped: %d out, want 3 (it and the held two):\n%s", len(got), describeAll(got))
		}
		allFrom(t, "fragment", got, f.snat(), far)
	})

	t.Run("max-in-flight", func(t *testing.T) {
		tp.cli(t, "cnat fragments max-in-flight 2")
		defer tp.cli(t, "cnat fragments max-in-flight 1024")
		before := cnatErrors(t, tp.v, reasonFragTableFull)
		var orphans []vh.Pkt
		for i := 0; i < 3; i++ {
			orphans = append(orphans, mk(uint16(7200+i), 3)[1])
		}
		tp.v.SendAndExpectNone(t, tp.pg0, orphans)
		if d := cnatErrors(t, tp.v, reasonFragTableFull) - before; d != 1 {
			t.Errorf("later fragments of 3 datagrams with max-in-flight 2: '%s' counter grew by %d, want 1:\n%s", reasonFragTableFull, d, tp.cli(t, "show errors"))
		}
		if inFlight, _, _ := fragState(t, tp.v); inFlight != 2 {
			t.Errorf("cnat show fragments: %d datagrams in flight, want 2", inFlight)
		}
		// whole packets are not held up by a full tracker
		got := tp.one(t, tp.pg0, flow(c, far, vh.UDP, 7300, 53), tp.pg1)
		want(t, "whole packet while the tracker is full", got, f.snat(), 7300, far, 53)
	})
}

// TestFragICMPErrorQuotingFirstFragment: an outside router's ICMP error
// quoting the translated first fragment of a datagram reaches the client
// about its own flow.
func TestFragICMPErrorQuotingFirstFragment(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		for i, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				c := tp.client(0, f)
				far := tp.far(f).IP(f.v6)
				sp := uint16(8000 + i)
				p := flow(c, far, pr, sp, 53)
				p.IPID = sp
				p.Payload = payloadN(600, i)
				fs := fragment(t, p, vh.FragOptions{Size: 256})
				got := tp.v.SendAndExpect(t, tp.pg0, fs, tp.pg1)
				var first *vh.Parsed
				for _, g := range got {
					if g.Frag != nil && g.Frag.Offset == 0 {
						first = g
					}
				}
				if first == nil {
					t.Fatalf("no first fragment among:\n%s", describeAll(got))
				}
				e := icmpErr{"time-exceeded/reassembly", vh.TimeExceeded, 1, 0}
				r := tp.router(f)
				// the quote: IP header(s), fragment header, 8 bytes of L4
				quote := append([]byte{}, first.Raw[:first.Frag.HdrLen+8]...)
				back := tp.one(t, tp.pg1, icmpError(r, f.snat(), e, quote), tp.pg0)
				checkError(t, "error quoting the first fragment", back, e, r.Src, c.Src, c.Src, sp, far, p.DstPort, pr)
			})
		}
	}
}

// TestFragSNATSameIPIDTwoClients: two inside hosts send fragmented
// datagrams with the same IP identification to the same destination.
// After source NAT both have the same source address: unless the NAT
// makes their identifications differ, the receiver cannot tell their
// fragments apart (RFC 6864 section 4.2 / RFC 4787 considerations): the
// datagrams must still reassemble separately and correctly downstream.
func TestFragSNATSameIPIDTwoClients(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			far := tp.far(f).IP(f.v6)
			var send []vh.Pkt
			var sent []vh.Pkt
			var fss [][]vh.Pkt
			for ci := 0; ci < 2; ci++ {
				p := flow(tp.client(ci, f), far, vh.UDP, uint16(4500+ci), 53)
				p.IPID = 4444
				p.Payload = payloadN(600, 40+ci)
				sent = append(sent, p)
				fss = append(fss, fragment(t, p, vh.FragOptions{Size: 128}))
			}
			for i := range fss[0] {
				send = append(send, fss[0][i], fss[1][i])
			}
			cap1 := tp.v.Send(t, tp.pg0, vh.Frames(t, send...))
			noInsideLeak(t, cap1, tp.pg1, tp.client(0, f).Src, tp.client(1, f).Src)
			got := parsedOut(t, cap1, tp.pg1)
			if len(got) != len(send) {
				t.Fatalf("sent %d fragments: %d out:\n%s", len(send), len(got), cap1)
			}
			ds, _ := vh.ReassembleAll(got)
			if len(ds) != 2 {
				t.Fatalf("the fragments of 2 datagrams (2 inside hosts, both IP id 4444, to %s) left as %d datagram(s) after source NAT to %s: the receiver cannot reassemble them apart:\n%s",
					far, len(ds), f.snat(), describeAll(got))
			}
			for _, p := range sent {
				ok := false
				for _, d := range ds {
					if d.Err == nil && bytes.Equal(d.Parsed.Payload, p.Payload) && len(vh.IPChecksumErrors(d.IP)) == 0 {
						ok = true
					}
				}
				if !ok {
					t.Errorf("the datagram of %s does not reassemble intact downstream", p.Src)
				}
			}
		})
	}
}

// TestFragPool: fragments of a pool subscriber's datagram leave the uplink
// translated to the pool; a fragmented reply goes back into the right
// table, for the same client address in two tables.
func TestFragPool(t *testing.T) {
	t.Parallel()
	pt := newPoolTopo(t, "range 198.51.100.1-198.51.100.2 block-size 64", true)
	far := pt.far.IP4
	for i, pr := range protos {
		for tbl := 1; tbl <= 2; tbl++ {
			t.Run(name(pr, fmt.Sprintf("table%d", tbl)), func(t *testing.T) {
				sp := uint16(1500 + i)
				p := flow(from(pt.in(tbl), 0), far, pr, sp, 53)
				p.IPID = uint16(100*tbl + i)
				p.Payload = payloadN(900, 10*tbl+i)
				fs := fragment(t, p, vh.FragOptions{Size: 256})
				cap1 := pt.v.Send(t, pt.in(tbl), vh.Frames(t, permute(fs, fragOrders[1].perm(len(fs)))...))
				noInsideLeak(t, cap1, pt.up, pt.clientIP)
				got := parsedOut(t, cap1, pt.up)
				if len(got) != len(fs) {
					t.Fatalf("sent %d fragments from table %d (first last): %d out of the uplink:\n%s%s", len(fs), tbl, len(got), cap1, pt.v.MustCLI(t, "show errors"))
				}
				d := oneDatagram(t, "to the uplink", got)
				if d.Dst != far || !bytes.Equal(d.Payload, p.Payload) {
					t.Errorf("reassembled %s", d)
				}
				checkInBlock(t, "reassembled datagram", pt.v, d, tbl, pt.clientIP)
				allFrom(t, "fragment", got, d.Src, far)

				r := replyTo(pt.up, d, vh.SYN|vh.ACK)
				r.IPID = p.IPID + 1
				r.Payload = payloadN(500, i)
				rfs := fragment(t, r, vh.FragOptions{Size: 128})
				cap2 := pt.v.Send(t, pt.up, vh.Frames(t, permute(rfs, fragOrders[3].perm(len(rfs)))...))
				back := parsedOut(t, cap2, pt.in(tbl))
				if len(back) != len(rfs) {
					t.Fatalf("reply: sent %d fragments: %d out of table %d's link:\n%s%s", len(rfs), len(back), tbl, cap2, pt.v.MustCLI(t, "show errors"))
				}
				allFrom(t, "reply fragment", back, far, pt.clientIP)
				// (ICMP: the echo id restored to the client's)
				wantDatagram(t, "reply", oneDatagram(t, "reply", back), pr, far, cliPort(pr, r.SrcPort), pt.clientIP, sp, r.Payload)
			})
		}
	}
}

// TestFragIPv6AtomicFragment: an IPv6 packet with a fragment header of
// offset 0 and M clear (an atomic fragment, RFC 6946) is a whole packet:
// it leaves translated at once with a valid checksum, both ways.
func TestFragIPv6AtomicFragment(t *testing.T) {
	t.Parallel()
	tp := newSNATTopo(t)
	f := families[1]
	for i, pr := range protos {
		t.Run(pr.String(), func(t *testing.T) {
			c := tp.client(0, f)
			far := tp.far(f).IP(f.v6)
			sp := uint16(9000 + i)
			p := flow(c, far, pr, sp, 53)
			p.Payload = payloadN(100, i)
			p.Raw = atomicFragment(p.MustIP(), uint32(0xa70+i))
			got := tp.one(t, tp.pg0, p, tp.pg1)
			d, err := vh.Reassemble([][]byte{got.Raw})
			if err != nil {
				t.Fatalf("atomic fragment left as %s: %v", got, err)
			}
			if errs := vh.IPChecksumErrors(d); len(errs) > 0 {
				t.Errorf("atomic fragment left as %s: %v", got, errs)
			}
			want(t, "atomic fragment", got, f.snat(), sp, far, p.DstPort)
			r := replyTo(tp.pg1, got, vh.SYN|vh.ACK)
			r.Raw = atomicFragment(r.MustIP(), uint32(0xb70+i))
			back := tp.one(t, tp.pg1, r, tp.pg0)
			want(t, "atomic fragment reply", back, far, cliPort(pr, 53), c.Src, sp)
			if d, err := vh.Reassemble([][]byte{back.Raw}); err != nil {
				t.Errorf("reply left as %s: %v", back, err)
			} else if errs := vh.IPChecksumErrors(d); len(errs) > 0 {
				t.Errorf("reply left as %s: %v", back, errs)
			}
		})
	}
}

// atomicFragment inserts a fragment header (offset 0, M clear) after the
// IPv6 header of b.
func atomicFragment(b []byte, id uint32) []byte {
	out := append([]byte{}, b[:40]...)
	fh := []byte{b[6], 0, 0, 0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	out[6] = 44
	out = append(out, fh...)
	out = append(out, b[40:]...)
	pl := len(out) - 40
	out[4], out[5] = byte(pl>>8), byte(pl)
	return out
}
