package plugin

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// Multi-thread tests: the two directions of every flow are handled by
// different VPP threads.
//
// Two workers would be the natural set-up, but VPP pins the main thread and
// every worker to a CPU of its own and this class of machine (CI, the lab)
// has two vCPUs: "cpu { workers 2 }", "corelist-workers 0-1",
// "main-core 1 corelist-workers 0,1", "skip-cores 0 workers 2" and
// "use-pthreads workers 2" are all refused by vlib_thread_init ("no available
// cpus" / "cpu N is not available"). So VPP runs with one worker and the
// other thread is the main thread, which VPP lets poll an interface
// ("set interface rx-placement <if> main") but which never runs pg streams:
// a pg stream always runs on a worker. The packets reach the main thread
// through a veth pair whose two ends are af_packet interfaces of the same
// VPP, polled by the main thread:
//
//	table 0 (NAT)                                 table 1 (transit, no NAT)
//	pg0 10.0.0.1/24 (worker)                      pg1 20.0.255.254/16 (worker)
//	host-<vB> 192.168.0.1/24 (main) <--veth--> host-<vA> 192.168.0.2/24 (main)
//	20.0.0.0/16 via 192.168.0.2                   10.0.0.0/24, 30.0.0.0/24 via 192.168.0.1
//
// Whatever pg1 sends towards table 0 is plainly routed in table 1 (on the
// worker), crosses the veth and enters table 0 on the main thread, where
// cloudnat handles it; whatever pg0 sends is handled by cloudnat on the
// worker. Each test checks with "show runtime" that cloudnat's nodes ran on
// the thread it means.

// wtopo is the topology above.
type wtopo struct {
	*topo
	// vA (table 1) and vB (table 0) are the VPP names of the veth's ends.
	vA, vB string
}

// cpuOneWorker is the cpu stanza: main thread on CPU 0, one worker on CPU 1.
const cpuOneWorker = "cpu { main-core 0 corelist-workers 1 }"

var vethSeq atomic.Int64

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newWorkersTopo(t *testing.T) *wtopo {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2) to make the veth pair")
	}
	// Interface names are at most 15 characters.
	n := fmt.Sprintf("cnw%d-%d", os.Getpid()%100000, vethSeq.Add(1))
	ka, kb := n+"a", n+"b"
	sh(t, "ip", "link", "add", ka, "type", "veth", "peer", "name", kb)
	// Registered before vh.Start: runs after VPP has stopped.
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", ka).Run() })
	for _, k := range []string{ka, kb} {
		// No IPv6 autoconfiguration chatter from the kernel on the wire.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/disable_ipv6", []byte("1"), 0o644)
		sh(t, "ip", "link", "set", k, "up")
	}

	v := vh.Start(t, vh.Options{ExtraStartup: cpuOneWorker})
	if out := v.MustCLI(t, "show threads"); !strings.Contains(out, "vpp_wk_0") {
		t.Fatalf("VPP started with %q has no worker:\n%s", cpuOneWorker, out)
	}
	w := &wtopo{topo: &topo{v: v, vips: map[string]bool{}}, vA: "host-" + ka, vB: "host-" + kb}
	w.pg0 = v.NewPG(t, vh.PGConfig{IP4: "10.0.0.1/24", IP6: "10::1/64", Hosts: 3})
	w.pg1 = v.NewPG(t, vh.PGConfig{Table: 1, IP4: "20.0.255.254/16", IP6: "20::ffff/64", Hosts: 3})
	w.pg1.AddHost(t, netip.MustParseAddr("20.0.1.1"), netip.MustParseAddr("20::1:0:1"))

	// The veth's kernel MACs differ from VPP's: the kernel sees the frames
	// as not its own (PACKET_OTHERHOST) and never routes them.
	macA, macB := "02:fe:aa:00:00:0a", "02:fe:aa:00:00:0b"
	for _, e := range []struct {
		k, name, mac, ip4, ip6, peer4, peer6, peerMAC string
		table                                         int
	}{
		{ka, w.vA, macA, "192.168.0.2/24", "fd00::2/64", "192.168.0.1", "fd00::1", macB, 1},
		{kb, w.vB, macB, "192.168.0.1/24", "fd00::1/64", "192.168.0.2", "fd00::2", macA, 0},
	} {
		// Checksums are computed in software: no partial checksums cross the veth.
		w.cli(t, "create host-interface name %s hw-addr %s cksum-gso-disable", e.k, e.mac)
		if e.table != 0 {
			w.cli(t, "set interface ip table %s %d", e.name, e.table)
			w.cli(t, "set interface ip6 table %s %d", e.name, e.table)
		}
		w.cli(t, "set interface ip address %s %s", e.name, e.ip4)
		w.cli(t, "set interface ip address %s %s", e.name, e.ip6)
		_, _ = v.CLI("ip6 nd " + e.name + " ra-suppress")
		w.cli(t, "set interface state %s up", e.name)
		w.cli(t, "set ip neighbor %s %s %s static", e.name, e.peer4, e.peerMAC)
		w.cli(t, "set ip neighbor %s %s %s static", e.name, e.peer6, e.peerMAC)
		w.cli(t, "set interface rx-placement %s queue 0 main", e.name)
	}
	w.cli(t, "ip route add 20.0.0.0/16 table 0 via 192.168.0.2 %s", w.vB)
	w.cli(t, "ip route add 20::/64 table 0 via fd00::2 %s", w.vB)
	for _, p := range []string{"10.0.0.0/24", "30.0.0.0/24"} {
		w.cli(t, "ip route add %s table 1 via 192.168.0.1 %s", p, w.vA)
	}
	for _, p := range []string{"10::/64", "30::/64"} {
		w.cli(t, "ip route add %s table 1 via fd00::1 %s", p, w.vA)
	}
	for _, name := range []string{w.vA, w.vB} {
		if th := rxThread(t, v, name); th != "0 (vpp_main)" {
			t.Fatalf("%s is polled by thread %q, want the main thread:\n%s", name, th, w.cli(t, "show interface rx-placement"))
		}
	}
	return w
}

// rxThread is the thread ("1 (vpp_wk_0)") that "show interface
// rx-placement" lists interface name under.
func rxThread(t *testing.T, v *vh.VPP, name string) string {
	t.Helper()
	th := ""
	for _, l := range strings.Split(v.MustCLI(t, "show interface rx-placement"), "\n") {
		l = strings.TrimSpace(l)
		if after, ok := strings.CutPrefix(l, "Thread "); ok {
			th = strings.TrimSuffix(after, ":")
		} else if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return th
		}
	}
	return ""
}

var txRe = regexp.MustCompile(`tx packets\s+(\d+)`)

// txPackets is the tx packet counter of interface name (-1 on error).
func txPackets(v *vh.VPP, name string) int {
	out, err := v.CLI("show interface " + name)
	if err != nil {
		return -1
	}
	m := txRe.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// cnatVectors is the number of packets cloudnat's nodes (ip4/ip6-cloudnat,
// ip4/ip6-cnat-snat) handled per thread since the last "clear runtime".
func cnatVectors(t *testing.T, v *vh.VPP) map[int]uint64 {
	t.Helper()
	out := v.MustCLI(t, "show runtime")
	by := map[int]uint64{}
	thread := -1
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "Thread" {
			thread, _ = strconv.Atoi(f[1])
			continue
		}
		// name state calls vectors suspends clocks vectors/call
		if len(f) >= 7 && (strings.HasSuffix(f[0], "-cloudnat") || strings.HasSuffix(f[0], "-cnat-snat")) {
			n, _ := strconv.ParseUint(f[3], 10, 64)
			by[thread] += n
		}
	}
	return by
}

// across sends pkts into in and expects exactly one packet per sent packet
// out of out, nothing out of any other pg interface, and every one of them
// to have been handled by cloudnat on thread (0: main, 1: the worker). It
// returns the captured packets parsed, in order.
func (w *wtopo) across(t *testing.T, what string, in *vh.PG, pkts []vh.Pkt, out *vh.PG, thread int) []*vh.Parsed {
	t.Helper()
	base := txPackets(w.v, out.Name)
	w.cli(t, "clear runtime")
	deadline := time.Now().Add(5 * time.Second)
	c := w.v.Send(t, in, vh.Frames(t, pkts...), vh.SendOptions{Await: func() bool {
		// What crosses the veth is still in flight when the stream ends.
		return txPackets(w.v, out.Name) >= base+len(pkts) || time.Now().After(deadline)
	}})
	got := c[out]
	if len(got) != len(pkts) {
		t.Fatalf("%s: sent %d packet(s) into %s: want %d out of %s, got %d; captured:\n%s\nshow errors:\n%s",
			what, len(pkts), in.Name, len(pkts), out.Name, len(got), c, w.cli(t, "show errors"))
	}
	for pg, ps := range c {
		if pg != out {
			t.Errorf("%s: unexpected %d packet(s) out of %s:\n%s", what, len(ps), pg.Name, c)
		}
	}
	by := cnatVectors(t, w.v)
	if by[thread] != uint64(len(pkts)) || by[1-thread] != 0 {
		t.Errorf("%s: cloudnat's nodes handled %d packet(s) on thread %d and %d on thread %d, want %d and 0:\n%s",
			what, by[thread], thread, by[1-thread], 1-thread, len(pkts), w.cli(t, "show runtime"))
	}
	return vh.ParseAll(t, got)
}

// waitSessions polls "cnat show session" until it counts n sessions.
func waitSessions(t *testing.T, v *vh.VPP, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for nSessions(t, v, "") < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

const workerFlows = 50

// sport is the client port of flow i (ICMP: the echo id).
func sport(i int) uint16 { return uint16(10000 + i) }

// TestWorkersDNATForwardOnWorkerReplyOnMain: 50 flows per family and
// protocol from clients on pg0 to a VIP whose backend is behind the veth;
// the forward packets are translated on the worker, the replies on the main
// thread, and all of them correctly; one session per flow.
func TestWorkersDNATForwardOnWorkerReplyOnMain(t *testing.T) {
	t.Parallel()
	w := newWorkersTopo(t)
	total := 0
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				addVIPToBackend0(t, w.topo, f, pr)
				b := w.pg1.Hosts[0].IP(f.v6)
				bport := uint16(8080)
				if pr == vh.ICMP {
					bport = 0
				}
				var fwd []vh.Pkt
				for i := 0; i < workerFlows; i++ {
					fwd = append(fwd, flow(w.client(i%3, f), f.vip(), pr, sport(i), 80))
				}
				total += workerFlows
				w.dnatRoundTrip(t, f, pr, fwd, w.pg0, w.pg1, 1, b, bport, total)
			})
		}
	}
}

// dnatRoundTrip sends the forward packets fwd of VIP flows into in, where
// cloudnat handles them on thread fwdOn (0 main, 1 worker), checks that each
// leaves out towards backend b:bport, then sends the backend's replies back
// from out (handled on the other thread) and checks that each client sees
// the VIP. total is the number of sessions there must be afterwards.
func (w *wtopo) dnatRoundTrip(t *testing.T, f family, pr vh.Proto, fwd []vh.Pkt, in, out *vh.PG, fwdOn int,
	b netip.Addr, bport uint16, total int) {
	t.Helper()
	threads := []string{"main", "worker"}
	got := w.across(t, "forward ("+threads[fwdOn]+")", in, fwd, out, fwdOn)
	var replies []vh.Pkt
	for i, g := range got {
		want(t, fmt.Sprintf("forward %d", i), g, fwd[i].Src, fwd[i].SrcPort, b, bport)
		replies = append(replies, replyTo(out, g, vh.SYN|vh.ACK))
	}
	// Replies are sent once the sessions are listed (the replies cross the
	// veth much later anyway); TestWorkersFirstReplyOfNewClientIsCaptured
	// has a backend that answers at once.
	waitSessions(t, w.v, total)
	back := w.across(t, "reply ("+threads[1-fwdOn]+")", out, replies, in, 1-fwdOn)
	for i, g := range back {
		want(t, fmt.Sprintf("reply %d", i), g, f.vip(), cliPort(pr, 80), fwd[i].Src, fwd[i].SrcPort)
		if pr == vh.ICMP && g.ICMP != vh.EchoReply {
			t.Errorf("reply %d: got %s, want echo reply", i, g)
		}
	}
	wantSessions(t, w.v, "", total)
}

// TestWorkersDNATForwardOnMainReplyOnWorker: the other way round: clients
// behind the veth (their packets reach cloudnat on the main thread), the
// backend on pg0 (its replies are translated on the worker).
func TestWorkersDNATForwardOnMainReplyOnWorker(t *testing.T) {
	t.Parallel()
	w := newWorkersTopo(t)
	// Clients 20.0.2.1-3 (20::2:0:1-3) behind the veth; backend pg0 host 2.
	var clients []vh.Host
	for i := 1; i <= 3; i++ {
		clients = append(clients, w.pg1.AddHost(t, netip.MustParseAddr(fmt.Sprintf("20.0.2.%d", i)),
			netip.MustParseAddr(fmt.Sprintf("20::2:0:%d", i))))
	}
	total := 0
	for _, f := range families {
		for _, pr := range protos {
			t.Run(name(f.name, pr), func(t *testing.T) {
				b := w.pg0.Hosts[2].IP(f.v6)
				addVIP(t, w.topo, pr, f.vip(), 80, "", to(b, 8080, pr))
				bport := uint16(8080)
				if pr == vh.ICMP {
					bport = 0
				}
				var fwd []vh.Pkt
				for i := 0; i < workerFlows; i++ {
					c := clients[i%3]
					p := vh.Pkt{SrcMAC: c.MAC, DstMAC: w.pg1.MAC, Src: c.IP(f.v6)}
					fwd = append(fwd, flow(p, f.vip(), pr, sport(i), 80))
				}
				total += workerFlows
				w.dnatRoundTrip(t, f, pr, fwd, w.pg1, w.pg0, 0, b, bport, total)
			})
		}
	}
}

// TestWorkersSNAT: source NAT with the inside interface on one thread and
// the replies on the other, both ways round: inside pg0 (forward on the
// worker, replies on the main thread), then inside the veth's end (forward
// on the main thread, replies on the worker).
func TestWorkersSNAT(t *testing.T) {
	t.Parallel()
	for _, insideOnWorker := range []bool{true, false} {
		t.Run(map[bool]string{true: "inside-on-worker", false: "inside-on-main"}[insideOnWorker], func(t *testing.T) {
			w := newWorkersTopo(t)
			in, out, fwdThread := w.pg0, w.pg1, 1
			inside := w.pg0.Name
			var clients []vh.Host
			if insideOnWorker {
				clients = w.pg0.Hosts
			} else {
				// Clients behind the veth, servers on pg0.
				in, out, fwdThread = w.pg1, w.pg0, 0
				inside = w.vB
				for i := 1; i <= 3; i++ {
					clients = append(clients, w.pg1.AddHost(t, netip.MustParseAddr(fmt.Sprintf("20.0.2.%d", i)),
						netip.MustParseAddr(fmt.Sprintf("20::2:0:%d", i))))
				}
			}
			total := 0
			for _, f := range families {
				w.cli(t, "cnat snat with %s", f.snat())
				w.cli(t, "set interface feature %s %s arc %s-unicast", inside, f.snatFeature(), f.arc())
				server := w.pg1.Hosts[farHost].IP(f.v6)
				if !insideOnWorker {
					server = w.pg0.Hosts[2].IP(f.v6)
				}
				for _, pr := range protos {
					t.Run(name(f.name, pr), func(t *testing.T) {
						var fwd []vh.Pkt
						for i := 0; i < workerFlows; i++ {
							c := clients[i%3]
							p := vh.Pkt{SrcMAC: c.MAC, DstMAC: in.MAC, Src: c.IP(f.v6)}
							fwd = append(fwd, flow(p, server, pr, sport(i), 53))
						}
						got := w.across(t, fmt.Sprintf("forward (thread %d)", fwdThread), in, fwd, out, fwdThread)
						var replies []vh.Pkt
						ports := map[uint16]bool{}
						for i, g := range got {
							want(t, fmt.Sprintf("forward %d", i), g, f.snat(), 0, server, fwd[i].DstPort)
							p := g.SrcPort
							if pr == vh.ICMP {
								p = g.ICMPID
							}
							if ports[p] {
								t.Errorf("forward %d: SNAT port %d used twice: %s", i, p, g)
							}
							ports[p] = true
							replies = append(replies, replyTo(out, g, vh.SYN|vh.ACK))
						}
						total += workerFlows
						waitSessions(t, w.v, total)
						back := w.across(t, fmt.Sprintf("reply (thread %d)", 1-fwdThread), out, replies, in, 1-fwdThread)
						for i, g := range back {
							want(t, fmt.Sprintf("reply %d", i), g, server, fwd[i].DstPort, fwd[i].Src, sport(i))
							if pr == vh.ICMP && g.ICMP != vh.EchoReply {
								t.Errorf("reply %d: got %s, want echo reply", i, g)
							}
						}
						wantSessions(t, w.v, "", total)
					})
				}
			}
		})
	}
}

// TestWorkersFirstReplyOfNewClientIsCaptured: a real backend answers the
// first packet of a client cloudnat has never seen within microseconds;
// that answer must come back translated. The set-up is a deployment's:
// every interface is polled by the worker, so the main thread polls
// nothing and sleeps between events (up to 10 ms). The backend is the
// kernel of a network namespace behind a veth; it answers a SYN to a
// closed port with a RST. Before the worker held such a packet until the
// main thread had captured the client's replies (cloudnat_client.c), the
// RST could be routed past cloudnat and reach the client untranslated.
func TestWorkersFirstReplyOfNewClientIsCaptured(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2) for the backend's namespace")
	}
	n := fmt.Sprintf("cnf%d-%d", os.Getpid()%100000, vethSeq.Add(1))
	ns, kv, kn := n, n+"v", n+"n"
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	sh(t, "ip", "link", "add", kv, "type", "veth", "peer", "name", kn)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", kv).Run() })
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+kv+"/disable_ipv6", []byte("1"), 0o644)
	sh(t, "ip", "link", "set", kn, "netns", ns)
	in := func(args ...string) { sh(t, append([]string{"ip", "netns", "exec", ns}, args...)...) }
	in("ip", "link", "set", "lo", "up")
	in("ip", "link", "set", kn, "address", "02:fe:cc:00:00:01")
	in("ip", "addr", "add", "20.0.0.1/24", "dev", kn)
	in("ip", "-6", "addr", "add", "20::1/64", "dev", kn, "nodad")
	in("ip", "link", "set", kn, "up")
	// The kernel leaves the checksum of the packets it sends (its IPv6 RST)
	// to the device; over a veth into af_packet that means a partial sum on
	// the wire. Checksums in software, as a real NIC's peer would send.
	haveEthtool := exec.Command("ip", "netns", "exec", ns, "ethtool", "-K", kn, "tx", "off").Run() == nil
	in("ip", "route", "add", "default", "via", "20.0.0.254")
	in("ip", "-6", "route", "add", "default", "via", "20::ffff")
	in("ip", "neigh", "replace", "20.0.0.254", "lladdr", "02:fe:cc:00:00:02", "dev", kn, "nud", "permanent")
	in("ip", "-6", "neigh", "replace", "20::ffff", "lladdr", "02:fe:cc:00:00:02", "dev", kn, "nud", "permanent")
	sh(t, "ip", "link", "set", kv, "up")

	v := vh.Start(t, vh.Options{ExtraStartup: cpuOneWorker})
	tp := &topo{v: v, vips: map[string]bool{}}
	const clients = 8
	tp.pg0 = v.NewPG(t, vh.PGConfig{IP4: "10.0.0.1/24", IP6: "10::1/64", Hosts: clients})
	host := "host-" + kv
	tp.cli(t, "create host-interface name %s hw-addr 02:fe:cc:00:00:02 cksum-gso-disable", kv)
	tp.cli(t, "set interface ip address %s 20.0.0.254/24", host)
	tp.cli(t, "set interface ip address %s 20::ffff/64", host)
	_, _ = v.CLI("ip6 nd " + host + " ra-suppress")
	tp.cli(t, "set interface state %s up", host)
	tp.cli(t, "set ip neighbor %s 20.0.0.1 02:fe:cc:00:00:01 static", host)
	tp.cli(t, "set ip neighbor %s 20::1 02:fe:cc:00:00:01 static", host)
	tp.cli(t, "set interface rx-placement %s queue 0 worker 0", host)
	if th := rxThread(t, v, host); th != "1 (vpp_wk_0)" {
		t.Fatalf("%s is polled by thread %q, want the worker:\n%s", host, th, tp.cli(t, "show interface rx-placement"))
	}
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			if f.v6 && !haveEthtool {
				t.Skip("no ethtool to turn the backend's checksum offload off (its IPv6 RST would carry a partial checksum)")
			}
			tp.cli(t, "cnat translation add proto tcp vip %s 80 to ->%s 8080", f.vip(), f.a("20.0.0.1", "20::1"))
			firstReplies(t, tp, f, clients)
		})
	}
}

// firstReplies sends one SYN from each of the first n clients of pg0 (none
// seen before) to the VIP and expects each backend's RST back, translated.
func firstReplies(t *testing.T, tp *topo, f family, n int) {
	t.Helper()
	v := tp.v
	var syns []vh.Pkt
	for i := 0; i < n; i++ {
		syns = append(syns, flow(tp.client(i, f), f.vip(), vh.TCP, sport(i), 80))
	}
	base := txPackets(v, tp.pg0.Name)
	deadline := time.Now().Add(5 * time.Second)
	c := v.Send(t, tp.pg0, vh.Frames(t, syns...), vh.SendOptions{Await: func() bool {
		return txPackets(v, tp.pg0.Name) >= base+n || time.Now().After(deadline)
	}})
	got := vh.ParseAll(t, c[tp.pg0])
	if len(got) != n {
		t.Fatalf("sent %d SYNs: want %d RSTs back out of %s, got %d:\n%s\nshow errors:\n%s", n, n,
			tp.pg0.Name, len(got), c, tp.cli(t, "show errors"))
	}
	seen := map[netip.Addr]bool{}
	for i, g := range got {
		// in the order the backend answered: find the client by address
		j := -1
		for k, s := range syns {
			if s.Src == g.Dst {
				j = k
			}
		}
		if j < 0 || seen[g.Dst] {
			t.Errorf("reply %d: %s is not the answer to one of the SYNs", i, g)
			continue
		}
		seen[g.Dst] = true
		want(t, fmt.Sprintf("reply %d", i), g, f.vip(), 80, syns[j].Src, syns[j].SrcPort)
		if g.TCPFlags&vh.RST == 0 {
			t.Errorf("reply %d: %s, want the backend's RST", i, g)
		}
	}
	node := f.arc() + "-cloudnat"
	if got := v.ErrorCount(t, node, "first packets handed"); got != uint64(n) {
		t.Errorf("%s counted %d first packets handed to the main thread, want %d:\n%s", node, got, n,
			tp.cli(t, "show errors"))
	}
}
