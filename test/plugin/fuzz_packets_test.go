package plugin

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/test/fuzzpkt"
	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// TestFuzzPackets drives hostile packets (test/fuzzpkt: truncated headers,
// lying lengths, IHL and options, IPv6 extension-header chains, ICMP
// quoting ICMP, zero and maximum ports, every protocol number, fragments)
// through a VPP with every node kind configured:
//
//	pg0 inside, source NAT (ip4/ip6-cnat-snat feature; cnat snat with 30.0.0.1, 30::1)
//	pg1 outside (20.0.0.0/16, 20::/64)
//	pg2 backends of VIPs 30.0.0.2 / 30::2 (ip4/ip6-cloudnat via the DPO), tcp/udp 80, icmp
//	pg3 pool subscribers in table 1 (100.64.0.0/25, fd64::/65) -> pools cg4/cg6
//	    30.0.0.10-13 / 30::10-13 in table 0, with a static block; static 1:1 NAT
//	    100.64.0.200 -> 30.0.0.40, fd64::8000:0:0:1 -> 30::40
//
// and checks that VPP stays up, that no packet leaves pg1 with an inside
// source address (10.0.0.0/24, 10::/64, 100.64.0.0/24, fd64::/64, also
// as the quoted destination of an ICMP error), and that every packet is
// accounted for: received = transmitted + dropped + punted (interface
// counters), the difference bounded by the fragments the tracker holds.
//
// FUZZ_PACKETS (default 20000; make fuzz: 1000000) and FUZZ_SEED (default
// 1) pick the run; the same seed gives the same packets.
func TestFuzzPackets(t *testing.T) {
	total := fuzzEnvInt(t, "FUZZ_PACKETS", 20000)
	seed := fuzzEnvInt(t, "FUZZ_SEED", 1)
	v := vh.Start(t, vh.Options{})
	pg0 := v.NewPG(t, vh.PGConfig{IP4: "10.0.0.1/24", IP6: "10::1/64", Hosts: 3})
	pg1 := v.NewPG(t, vh.PGConfig{IP4: "20.0.255.254/16", IP6: "20::ffff/64", Hosts: 3})
	pg1.AddHost(t, netip.MustParseAddr("20.0.1.1"), netip.MustParseAddr("20::1:0:1"))
	pg2 := v.NewPG(t, vh.PGConfig{IP4: "40.0.0.254/24", IP6: "40::ffff/64", Hosts: 2})
	pg3 := v.NewPG(t, vh.PGConfig{Table: 1, IP4: "100.64.0.1/24", IP6: "fd64::1/64", Hosts: 3})
	pg3.AddHost(t, netip.MustParseAddr("100.64.0.200"), netip.MustParseAddr("fd64::8000:0:0:1"))
	_ = pg2 // VIP backends: DNAT keeps the client's address there by design, so no leak check
	for _, cmd := range []string{
		"cnat snat with 30.0.0.1",
		"cnat snat with 30::1",
		"set interface feature pg0 ip4-cnat-snat arc ip4-unicast",
		"set interface feature pg0 ip6-cnat-snat arc ip6-unicast",
		"cnat translation add proto udp vip 30.0.0.2 80 to ->40.0.0.1 8080 to ->40.0.0.2 8080",
		"cnat translation add proto tcp vip 30.0.0.2 80 to ->40.0.0.1 8080",
		"cnat translation add proto icmp vip 30.0.0.2 to ->40.0.0.1",
		"cnat translation add proto udp vip 30::2 80 to ->40::1 8080",
		"cnat translation add proto tcp vip 30::2 80 to ->40::1 8080 to ->40::2 8080",
		"cnat translation add proto icmp vip 30::2 to ->40::2",
		"ip route add 0.0.0.0/0 table 1 via ip4-lookup-in-table 0",
		"ip route add ::/0 table 1 via ip6-lookup-in-table 0",
		"cnat pool add cg4 range 30.0.0.10-30.0.0.13 block-size 256 max-blocks 4 max-sessions 3000",
		"cnat pool add cg6 range 30::10-30::13 block-size 256 max-blocks 4",
		"cnat pool bind cg4 table 1 100.64.0.0/25",
		"cnat pool bind cg6 table 1 fd64::/65",
		"cnat pool block cg4 table 1 inside 100.64.0.4 outside 30.0.0.13 port 1024",
		"cnat static add 100.64.0.200/32 table 1 to 30.0.0.40/32 outside-table 0",
		"cnat static add fd64::8000:0:0:1/128 table 1 to 30::40/128 outside-table 0",
	} {
		v.CLIf(t, "%s", cmd)
	}
	t.Logf("FUZZ_SEED=%d FUZZ_PACKETS=%d", seed, total)

	A := func(ss ...string) []netip.Addr { return confAddrs(ss...) }
	ports := []uint16{53, 80, 8080, 1024, 1025, 1026, 4000, 4001, 33000}
	outside := A("20.0.0.1", "20.0.0.2", "20.0.1.1", "20::1", "20::2", "20::1:0:1")
	public := A("30.0.0.1", "30.0.0.2", "30.0.0.10", "30.0.0.11", "30.0.0.12", "30.0.0.13", "30.0.0.40",
		"30::1", "30::2", "30::10", "30::11", "30::13", "30::40")
	sources := []struct {
		pg *vh.PG
		ep fuzzpkt.Endpoints
		// share of the packets
		weight int
	}{
		{pg0, fuzzpkt.Endpoints{Src: A("10.0.0.2", "10.0.0.3", "10.0.0.4", "10::2", "10::3", "10::4"),
			Dst: append(append(append([]netip.Addr{}, outside...), public...),
				A("40.0.0.1", "40::1", "10.0.0.3", "10::3", "10.0.0.1", "10::1")...), Ports: ports}, 40},
		{pg3, fuzzpkt.Endpoints{Src: A("100.64.0.2", "100.64.0.3", "100.64.0.4", "100.64.0.200", "fd64::2", "fd64::3", "fd64::4",
			"fd64::8000:0:0:1"),
			Dst: append(append(append([]netip.Addr{}, outside...), public...),
				A("100.64.0.1", "fd64::1", "100.64.0.3")...), Ports: ports}, 25},
		{pg1, fuzzpkt.Endpoints{Src: outside,
			Dst: append(append([]netip.Addr{}, public...), A("20.0.255.254", "20::ffff")...), Ports: ports}, 35},
	}
	inside := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10::/64"),
		netip.MustParsePrefix("100.64.0.0/24"), netip.MustParsePrefix("fd64::/64")}
	isInside := func(a netip.Addr) bool {
		for _, p := range inside {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}

	gen := fuzzpkt.New(uint64(seed))
	const batch = 6000
	start := time.Now()
	c0 := fuzzReadIfCounters(t, v)
	var sent, out int
	leaks := map[string]int{}
	var leakSamples []string
	sampled := map[string]int{}
	kinds := map[string]int{}
	for done := 0; done < total; {
		n := min(batch, total-done)
		for _, s := range sources {
			k := n * s.weight / 100
			if k == 0 {
				continue
			}
			frames := make([][]byte, 0, k)
			for i := 0; i < k; i++ {
				v6 := gen.V6()
				p := gen.Next(&s.ep, v6)
				kinds[strings.SplitN(p.Kind, "+", 2)[0]]++
				frames = append(frames, fuzzFrame(s.pg, v6, p.IP))
			}
			cp, err := v.SendRaw(s.pg, frames, 5*time.Minute)
			if err != nil || v.Exited() {
				t.Fatalf("FUZZ_SEED=%d: after %d packets, sending %d more into %s: %v (VPP exited: %v)\n%s",
					seed, sent, len(frames), s.pg.Name, err, v.Exited(), v.LogTail(40))
			}
			sent += len(frames)
			for pg, pkts := range cp {
				out += len(pkts)
				if pg != pg1 {
					continue
				}
				for _, pkt := range pkts {
					if why := fuzzLeak(pkt.Data(), isInside); why != "" {
						leaks[why]++
						cat := strings.SplitN(why, ",", 2)[0] + map[bool]string{true: " tcp/udp/icmp", false: ""}[strings.HasSuffix(why, "proto 6") || strings.HasSuffix(why, "proto 17") || strings.HasSuffix(why, "proto 1") || strings.HasSuffix(why, "proto 58")]
						sampled[cat]++
						if sampled[cat] <= 3 {
							leakSamples = append(leakSamples, fmt.Sprintf("%s: %s", why, hex.EncodeToString(pkt.Data()[14:min(len(pkt.Data()), 14+64)])))
						}
					}
				}
			}
		}
		done += n
		if _, err := v.CLI("show version"); err != nil {
			t.Fatalf("FUZZ_SEED=%d: VPP does not answer after %d packets: %v\n%s", seed, sent, err, v.LogTail(40))
		}
	}
	// let held fragments time out (the tracker's timeout is 2 s of the
	// plugin's clock) and be counted, with one more valid packet to run
	// the expiry
	clock(t, v, 10)
	c1 := fuzzReadIfCounters(t, v)
	rx, tx, drops, punts := c1.sum("rx packets")-c0.sum("rx packets"), c1.sum("tx packets")-c0.sum("tx packets"),
		c1.sum("drops")-c0.sum("drops"), c1.sum("punt")-c0.sum("punt")
	t.Logf("fuzz: seed %d, %d packets sent in %s (%v), %d out of the pg interfaces", seed, sent,
		time.Since(start).Round(time.Second), kinds, out)
	t.Logf("interface counters: rx %d, tx %d, drops %d, punt %d; rx - tx - drops - punt = %d",
		rx, tx, drops, punts, int64(rx)-int64(tx)-int64(drops)-int64(punts))
	t.Logf("top drop reasons:\n%s", fuzzTopErrors(t, v, 15))
	t.Logf("cnat show fragments:\n%s", v.MustCLI(t, "cnat show fragments"))
	if rx != uint64(sent) {
		t.Errorf("pg interfaces received %d packets, %d were sent", rx, sent)
	}
	held := fuzzHeldFragments(t, v)
	if miss := int64(rx) - int64(tx) - int64(drops) - int64(punts); miss > int64(held) {
		t.Errorf("FUZZ_SEED=%d: %d packets neither sent, dropped (counted) nor punted, %d fragments still held: uncounted drops",
			seed, miss, held)
	}
	if len(leaks) > 0 {
		t.Errorf("FUZZ_SEED=%d: packets left the outside with an inside address: %v; samples (IP header on):\n  %s",
			seed, leaks, strings.Join(leakSamples, "\n  "))
	}
}

func fuzzEnvInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number", name, s)
	}
	return n
}

// fuzzFrame wraps an IP packet (maybe malformed) from pg's host 0.
func fuzzFrame(pg *vh.PG, v6 bool, ip []byte) []byte {
	et := []byte{0x08, 0x00}
	if v6 {
		et = []byte{0x86, 0xdd}
	}
	f := make([]byte, 0, 14+len(ip))
	f = append(append(append(append(f, pg.MAC...), pg.Hosts[0].MAC...), et...), ip...)
	return f
}

// fuzzLeak says why a frame leaving the outside carries an inside address
// ("" when it does not): the outer source, or the quoted destination of
// an ICMP error (the inside end of the quoted flow).
func fuzzLeak(f []byte, isInside func(netip.Addr) bool) string {
	if len(f) < 14+20 {
		return ""
	}
	ip := f[14:]
	var src netip.Addr
	var proto uint8
	var l4 []byte
	frag := false
	switch ip[0] >> 4 {
	case 4:
		src = netip.AddrFrom4([4]byte(ip[12:16]))
		proto = ip[9]
		ihl := int(ip[0]&0xf) * 4
		frag = binary.BigEndian.Uint16(ip[6:])&0x3fff != 0
		if ihl >= 20 && ihl <= len(ip) {
			l4 = ip[ihl:]
		}
	case 6:
		if len(ip) < 40 {
			return ""
		}
		src = netip.AddrFrom16([16]byte(ip[8:24]))
		proto = ip[6]
		l4 = ip[40:]
		frag = proto == 44
	default:
		return ""
	}
	what := fmt.Sprintf("proto %d", proto)
	if frag {
		what += " fragment"
	}
	if isInside(src) {
		return "source, " + what
	}
	if (proto == 1 || proto == 58) && len(l4) >= 8+20 && !frag {
		q := l4[8:]
		var qd netip.Addr
		if q[0]>>4 == 4 {
			qd = netip.AddrFrom4([4]byte(q[16:20]))
		} else if q[0]>>4 == 6 && len(q) >= 40 {
			qd = netip.AddrFrom16([16]byte(q[24:40]))
		}
		if qd.IsValid() && isInside(qd) && l4[0] != 8 && l4[0] != 0 && l4[0] != 128 && l4[0] != 129 {
			return "quoted destination of ICMP type " + strconv.Itoa(int(l4[0]))
		}
	}
	return ""
}

// fuzzIfCounters are "show interface" counters by interface and name.
type fuzzIfCounters map[string]map[string]uint64

var fuzzIfLineRe = regexp.MustCompile(`^(\S+)\s+\d+\s+(up|down)\s+\S+\s+(.*)$`)

func fuzzReadIfCounters(t *testing.T, v *vh.VPP) fuzzIfCounters {
	t.Helper()
	out := v.MustCLI(t, "show interface")
	cs := fuzzIfCounters{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		rest := line
		if m := fuzzIfLineRe.FindStringSubmatch(line); m != nil {
			cur, rest = m[1], m[3]
			cs[cur] = map[string]uint64{}
		} else if cur == "" || !strings.HasPrefix(line, " ") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			continue
		}
		cs[cur][strings.Join(f[:len(f)-1], " ")] = n
	}
	return cs
}

func (cs fuzzIfCounters) sum(name string) uint64 {
	var n uint64
	for _, c := range cs {
		n += c[name]
	}
	return n
}

var fuzzHeldRe = regexp.MustCompile(`(?i)held\D*(\d+)`)

// fuzzHeldFragments is what cnat show fragments reports as held now (0 when
// it does not say).
func fuzzHeldFragments(t *testing.T, v *vh.VPP) int {
	out, _ := v.CLI("cnat show fragments")
	if m := fuzzHeldRe.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// fuzzTopErrors lists the largest error counters.
func fuzzTopErrors(t *testing.T, v *vh.VPP, n int) string {
	es := v.Errors(t)
	sort.Slice(es, func(i, j int) bool { return es[i].Count > es[j].Count })
	var b strings.Builder
	for i, e := range es {
		if i == n {
			break
		}
		fmt.Fprintf(&b, "  %10d %s %s (%s)\n", e.Count, e.Node, e.Reason, e.Severity)
	}
	return b.String()
}
