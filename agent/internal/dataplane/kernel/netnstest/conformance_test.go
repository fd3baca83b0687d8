package netnstest

// The kernel column of docs/conformance-status.md: one
// TestConformance<id> per requirement of ../shared/conformance.md, on the
// kernel dataplane's source NAT (the kernel dataplane has no pools). A
// requirement the kernel dataplane cannot express skips with one line
// saying why (scripts/conformance/reasons.go keeps the same reasons for
// the table).

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

func eachFam(t *testing.T, k *klab, fn func(t *testing.T, f kfam)) {
	for _, f := range kfams {
		t.Run(f.name, func(t *testing.T) { fn(t, f) })
	}
}

func peerAP(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatalf("peer %q: %v", s, err)
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// udpPeer sends from local to remote and returns the mapping the server
// saw, failing the test on no answer.
func (k *klab) udpPeer(t *testing.T, local, remote string) netip.AddrPort {
	t.Helper()
	p, err := k.udpFrom("c", local, remote)
	if err != nil {
		t.Fatalf("udp %s -> %s: %v", local, remote, err)
	}
	return peerAP(t, p)
}

// TestConformance4787_1: EIM: X:x to Y1:y1, Y1:y2, Y2:y1 leaves as one X':x'.
func TestConformance4787_1(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		l := f.hp(f.x, 40000)
		a := k.udpPeer(t, l, f.hp(f.y1, 7000))
		b := k.udpPeer(t, l, f.hp(f.y1, 7001))
		c := k.udpPeer(t, l, f.hp(f.y2, 7000))
		if a != b || a != c {
			t.Errorf("X:40000 to Y1:7000, Y1:7001, Y2:7000 left as %s, %s, %s: want one mapping", a, b, c)
		}
	})
}

func testPairedKernel(t *testing.T) {
	k := newKLabN(t, 6, snat1, snat2)
	for i := 2; i <= 6; i++ {
		x := fmt.Sprintf("10.10.0.%d", i)
		seen := map[netip.Addr]bool{}
		for j, y := range []string{y1, y2} {
			seen[k.udpPeer(t, net.JoinHostPort(x, strconv.Itoa(40100+j)), net.JoinHostPort(y, "7000")).Addr()] = true
			conn, err := k.tcpFrom("c", net.JoinHostPort(x, strconv.Itoa(40110+j)), net.JoinHostPort(y, "7001"))
			if err != nil {
				t.Fatal(err)
			}
			seen[peerAP(t, conn.Peer).Addr()] = true
			conn.Close()
		}
		if len(seen) != 1 {
			t.Errorf("inside %s: UDP and TCP flows left from %v, want one address (paired pooling)", x, seen)
		}
	}
}

// TestConformance4787_2: paired pooling: with SNAT addresses .100 and
// .101, all TCP and UDP flows of one inside address leave from one.
func TestConformance4787_2(t *testing.T) { testPairedKernel(t) }

// TestConformance4787_3: no port overloading: X1:x and X2:x to one Y:y
// get different mappings; both get their answer.
func TestConformance4787_3(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		a := k.udpPeer(t, f.hp(f.x, 40200), f.hp(f.y1, 7000))
		b := k.udpPeer(t, f.hp(f.x2, 40200), f.hp(f.y1, 7000))
		if a == b {
			t.Errorf("X1:40200 and X2:40200 to Y1:7000 share %s", a)
		}
	})
}

// TestConformance4787_4: port parity: three inside hosts with the same
// even and odd ports to one Y:y (one SNAT address, so ports must move).
func TestConformance4787_4(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		hosts := []string{f.x, f.x2, map[bool]string{false: "10.10.0.4", true: "fd10::4"}[f.v6]}
		for _, h := range hosts {
			for _, p := range []int{40300, 40301} {
				m := k.udpPeer(t, f.hp(h, p), f.hp(f.y1, 7000))
				if int(m.Port())%2 != p%2 {
					t.Errorf("inside %s port %d (parity %d) mapped to %s (parity %d)", h, p, p%2, m, m.Port()%2)
				}
			}
		}
	})
}

// TestConformance4787_5: UDP timer: after an exchange the mapping's
// remaining time is at least 119 s, the default at least 300 s - 5 s, and
// a configured 150 s shows as at most 150 s (conntrack's timeout; the
// kernel has no test clock).
func TestConformance4787_5(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		k.udpPeer(t, f.hp(f.x, 40400), f.hp(f.y1, 7000))
		s, ok := k.session(model.ProtoUDP, f.x, 40400, "")
		if !ok {
			t.Fatal("no conntrack session for the flow")
		}
		if s.ExpiresIn < 295*time.Second {
			t.Errorf("default UDP timer: %v left right after an exchange, want about 300 s", s.ExpiresIn)
		}
		must(t, k.d.SetTimeouts(ctx(t), model.Timeouts{UDP: 150 * time.Second}))
		defer func() { must(t, k.d.SetTimeouts(ctx(t), model.DefaultTimeouts)) }()
		k.udpPeer(t, f.hp(f.x, 40401), f.hp(f.y1, 7000))
		s, ok = k.session(model.ProtoUDP, f.x, 40401, "")
		if !ok || s.ExpiresIn > 150*time.Second || s.ExpiresIn < 140*time.Second {
			t.Errorf("configured UDP timer 150 s: session %+v (found %v)", s, ok)
		}
	})
}

// TestConformance4787_6: outbound packets refresh the mapping: its
// remaining time goes back up after an outbound datagram 2 s later.
func TestConformance4787_6(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		k.udpPeer(t, f.hp(f.x, 40500), f.hp(f.y1, 7000))
		time.Sleep(2100 * time.Millisecond)
		s0, _ := k.session(model.ProtoUDP, f.x, 40500, "")
		k.udpPeer(t, f.hp(f.x, 40500), f.hp(f.y1, 7000))
		s1, ok := k.session(model.ProtoUDP, f.x, 40500, "")
		if !ok || s1.ExpiresIn <= s0.ExpiresIn {
			t.Errorf("remaining time %v, after another outbound datagram %v: not refreshed", s0.ExpiresIn, s1.ExpiresIn)
		}
	})
}

// TestConformance4787_8: EIF or ADF, configurable.
func TestConformance4787_8(t *testing.T) {
	t.Skip("conntrack NAT filters by the full 5-tuple; the kernel dataplane has no filtering setting")
}

// hairpinUDP: X2:x2 makes a mapping to Y1; X1 sends to it; returns what
// X2 received (its source) or an error.
func (k *klab) hairpinUDP(t *testing.T, f kfam, x2port int) (mapped netip.AddrPort, from netip.AddrPort, err error) {
	var c2 *net.UDPConn
	if err := k.Do("c", func() error {
		pc, err := net.ListenPacket("udp", f.hp(f.x2, x2port))
		if err == nil {
			c2 = pc.(*net.UDPConn)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ra, _ := net.ResolveUDPAddr("udp", f.hp(f.y1, 7000))
	buf := make([]byte, 1500)
	_, _ = c2.WriteToUDP([]byte("hi\n"), ra)
	_ = c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := c2.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("X2's flow to Y1: %v", err)
	}
	var peer string
	fmt.Sscanf(string(buf[:n]), "%s %s", new(string), &peer)
	mapped = peerAP(t, peer)
	// X1 -> X2's mapping
	_, _ = k.udpFrom("c", f.hp(f.x, x2port+1), mapped.String())
	_ = c2.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	n, src, err := c2.ReadFromUDP(buf)
	if err != nil {
		return mapped, netip.AddrPort{}, fmt.Errorf("X1 %s -> X2's mapping %s: nothing reached X2 (%v)", f.x, mapped, err)
	}
	_ = n
	return mapped, peerAP(t, src.String()), nil
}

// TestConformance4787_9: hairpinning: X1 -> X2's mapping reaches X2 from
// X1's outside mapping.
func TestConformance4787_9(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		_, from, err := k.hairpinUDP(t, f, 40600)
		if err != nil {
			t.Fatal(err)
		}
		if from.Addr() != addr(f.snat) {
			t.Errorf("hairpinned packet came from %s, want X1's outside mapping on %s", from, f.snat)
		}
	})
}

// TestConformance4787_11: deterministic: X:x's mapping is the same before
// and after 2000 flows of another inside host, and to a new destination.
func TestConformance4787_11(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		before := k.udpPeer(t, f.hp(f.x, 40700), f.hp(f.y1, 7000))
		err := k.Do("c", func() error {
			for i := 0; i < 2000; i++ {
				c, err := net.Dial("udp", f.hp(f.y1, 7001))
				if err != nil {
					return err
				}
				_, _ = c.Write([]byte("x"))
				c.Close()
			}
			return nil
		})
		must(t, err)
		after := k.udpPeer(t, f.hp(f.x, 40700), f.hp(f.y1, 7000))
		other := k.udpPeer(t, f.hp(f.x, 40700), f.hp(f.y2, 7000))
		if before != after || before != other {
			t.Errorf("mapping %s before pressure, %s after, %s to a new destination", before, after, other)
		}
	})
}

type icmpKind struct {
	kind vh.ICMPKind
	code uint8
}

func errorKinds(v6 bool) []icmpKind {
	var ks []icmpKind
	n := uint8(16)
	if v6 {
		n = 8
	}
	for c := uint8(0); c < n; c++ {
		ks = append(ks, icmpKind{vh.DestUnreach, c})
	}
	ks = append(ks, icmpKind{vh.TimeExceeded, 0}, icmpKind{vh.TimeExceeded, 1}, icmpKind{vh.ParamProblem, 0})
	if v6 {
		ks = append(ks, icmpKind{vh.PacketTooBig, 0})
	}
	return ks
}

// sendErrorsFromY sends every ICMP error from Y1 to the mapping about the
// packet mapping -> Y1:yport.
func (k *klab) sendErrorsFromY(f kfam, pr vh.Proto, m netip.AddrPort, yport uint16) {
	q := vh.Pkt{Src: m.Addr(), Dst: addr(f.y1), Proto: pr, SrcPort: m.Port(), DstPort: yport, TCPFlags: vh.ACK}.MustIP()
	for _, e := range errorKinds(f.v6) {
		p := vh.Pkt{Src: addr(f.y1), Dst: m.Addr(), Proto: vh.ICMP, ICMP: e.kind, ICMPCode: e.code, Inner: q}
		if e.kind == vh.PacketTooBig {
			p.ICMPRest = 1280
		}
		k.sendFrame("x", "x0", "r-x", p)
	}
}

// TestConformance4787_12: no ICMP message deletes a mapping: every error
// from Y about the flow; the conntrack entry stays and the next exchange
// has the same mapping.
func TestConformance4787_12(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		m := k.udpPeer(t, f.hp(f.x, 40800), f.hp(f.y1, 7000))
		k.sendErrorsFromY(f, vh.UDP, m, 7000)
		if _, ok := k.session(model.ProtoUDP, f.x, 40800, f.y1); !ok {
			t.Errorf("the mapping's conntrack entry is gone after the ICMP errors")
		}
		if m2 := k.udpPeer(t, f.hp(f.x, 40800), f.hp(f.y1, 7000)); m2 != m {
			t.Errorf("after the ICMP errors the flow leaves as %s, want %s", m2, m)
		}
	})
}

// TestConformance4787_13: an inside packet above the outside MTU with DF
// gets ICMP fragmentation needed (IPv6: packet too big) back, quoting the
// packet as the sender sent it. r-x's MTU is 600 (IPv6: 1280).
func TestConformance4787_13(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		mtu, size := 600, 1000
		if f.v6 {
			mtu, size = 1280, 1400
		}
		// a route MTU (an interface MTU below 1280 would remove IPv6 from r-x)
		fam := map[bool]string{false: "-4", true: "-6"}[f.v6]
		k.Sh("r", "ip", fam, "route", "add", f.y1, "dev", "r-x", "mtu", "lock", strconv.Itoa(mtu))
		defer k.Sh("r", "ip", fam, "route", "del", f.y1, "dev", "r-x")
		cp := k.capture("c", "c0")
		p := vh.Pkt{Src: addr(f.x), Dst: addr(f.y1), Proto: vh.UDP, SrcPort: 40900, DstPort: 7000, DF: true,
			Payload: make([]byte, size)}
		k.sendFrame("c", "c0", "r-c", p)
		got := cp.read(time.Second, func(p *vh.Parsed) bool { return p.Proto == vh.ICMP })
		if len(got) != 1 {
			t.Fatalf("want one ICMP error back at X, got %d: %v", len(got), got)
		}
		e := got[0]
		want := vh.DestUnreach
		if f.v6 {
			want = vh.PacketTooBig
		}
		if e.ICMP != want || (!f.v6 && e.ICMPCode != 4) || e.Dst != addr(f.x) {
			t.Errorf("got %s, want %s (code 4 in IPv4) to %s", e, want, f.x)
		}
		if in := e.Inner; in == nil || in.Src != addr(f.x) || in.SrcPort != 40900 {
			t.Errorf("quoted %v, want the packet as X sent it", in)
		}
	})
}

// fragments of an IP packet (no extension headers), size bytes each.
func fragments(ip []byte, size int) [][]byte {
	var out [][]byte
	if ip[0]>>4 == 4 {
		pl := ip[20:]
		for off := 0; off < len(pl); off += size {
			end := min(off+size, len(pl))
			h := append([]byte{}, ip[:20]...)
			put16(h[2:], uint16(20+end-off))
			put16(h[4:], 0x4243)
			fo := uint16(off / 8)
			if end < len(pl) {
				fo |= 0x2000
			}
			put16(h[6:], fo)
			h[10], h[11] = 0, 0
			put16(h[10:], vh.Checksum(h, 0))
			out = append(out, append(h, pl[off:end]...))
		}
		return out
	}
	nh, pl := ip[6], ip[40:]
	for off := 0; off < len(pl); off += size {
		end := min(off+size, len(pl))
		h := append([]byte{}, ip[:40]...)
		h[6] = 44
		put16(h[4:], uint16(8+end-off))
		fh := []byte{nh, 0, 0, 0, 0, 0, 0x42, 0x43}
		fo := uint16(off/8) << 3
		if end < len(pl) {
			fo |= 1
		}
		put16(fh[2:], fo)
		out = append(out, append(append(h, fh...), pl[off:end]...))
	}
	return out
}

func put16(b []byte, v uint16) { b[0], b[1] = byte(v>>8), byte(v) }

// TestConformance4787_14: fragments are translated, first fragment last:
// a 1400-byte UDP datagram in three fragments from X; every packet of it
// that reaches Y comes from the SNAT address.
func TestConformance4787_14(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		p := vh.Pkt{Src: addr(f.x), Dst: addr(f.y1), Proto: vh.UDP, SrcPort: 41000, DstPort: 7000,
			Payload: make([]byte, 1400)}
		fr := fragments(p.MustIP(), 512)
		cp := k.capture("x", "x0")
		for _, i := range []int{1, 2, 0} {
			eth := append(append(append([]byte{}, k.mac["r-c"]...), k.mac["c0"]...), 0x08, 0x00)
			if f.v6 {
				eth[12], eth[13] = 0x86, 0xdd
			}
			k.sendRaw("c", "c0", append(eth, fr[i]...))
		}
		got := cp.read(time.Second, func(q *vh.Parsed) bool { return q.Dst == addr(f.y1) })
		if len(got) == 0 {
			t.Fatalf("nothing of the fragmented datagram reached Y")
		}
		for _, g := range got {
			if g.Src != addr(f.snat) {
				t.Errorf("a packet of the datagram reached Y from %s, want %s", g.Src, f.snat)
			}
		}
	})
}

// TestConformance5382_1: EIM for TCP: connections from X:41100 to Y1:7000,
// Y1:7001, Y2:7000, all open at once, leave as one mapping.
func TestConformance5382_1(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		var seen []netip.AddrPort
		for _, r := range []string{f.hp(f.y1, 7000), f.hp(f.y1, 7001), f.hp(f.y2, 7000)} {
			c, err := k.tcpFrom("c", f.hp(f.x, 41100), r)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			seen = append(seen, peerAP(t, c.Peer))
		}
		if seen[0] != seen[1] || seen[0] != seen[2] {
			t.Errorf("TCP from X:41100 left as %v, want one mapping", seen)
		}
	})
}

// TestConformance5382_2: simultaneous open: X's SYN to Y1:7100 leaves
// (making the mapping) and is lost before Y (x drops SYNs to 7100 for a
// moment); Y, bound to Y1:7100, sends its own SYN to X's mapping; the SYNs
// have crossed, and both ends must end up connected and exchange data.
func TestConformance5382_2(t *testing.T) {
	k := newKLab(t)
	k.Sh("x", "nft", "add table inet so")
	k.Sh("x", "nft", "add chain inet so in { type filter hook input priority 0 ; }")
	k.Sh("x", "nft", "add rule inet so in tcp dport 7100 tcp flags & (syn | ack) == syn drop")
	eachFam(t, k, func(t *testing.T, f kfam) {
		var wg sync.WaitGroup
		var xc net.Conn
		var xerr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			xerr = k.Do("c", func() error {
				la, _ := net.ResolveTCPAddr("tcp", f.hp(f.x, 41200))
				d := net.Dialer{Timeout: 6 * time.Second, LocalAddr: la, Control: reuse}
				var err error
				xc, err = d.Dial("tcp", f.hp(f.y1, 7100))
				return err
			})
		}()
		var m netip.AddrPort
		if !eventually(2*time.Second, func() bool {
			s, ok := k.session(model.ProtoTCP, f.x, 41200, "")
			m = s.NewSrc
			return ok
		}) {
			t.Fatal("X's SYN made no mapping")
		}
		var yc net.Conn
		yerr := k.Do("x", func() error {
			la, _ := net.ResolveTCPAddr("tcp", f.hp(f.y1, 7100))
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: la, Control: reuse}
			var err error
			yc, err = d.Dial("tcp", m.String())
			return err
		})
		wg.Wait()
		if xerr != nil || yerr != nil {
			t.Fatalf("simultaneous open through mapping %s: X: %v, Y: %v", m, xerr, yerr)
		}
		defer xc.Close()
		defer yc.Close()
		_, _ = xc.Write([]byte("ping"))
		buf := make([]byte, 4)
		_ = yc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := yc.Read(buf); err != nil || string(buf) != "ping" {
			t.Errorf("data X -> Y after simultaneous open: %q %v", buf, err)
		}
	})
}

// TestConformance5382_4: an unsolicited inbound SYN to the SNAT address
// is not answered (no RST, no ICMP) for 6 s.
func TestConformance5382_4(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		k.udpPeer(t, f.hp(f.x, 41300), f.hp(f.y1, 7000)) // a mapping exists
		cp := k.capture("x", "x0")
		k.sendFrame("x", "x0", "r-x", vh.Pkt{Src: addr(f.y2), Dst: addr(f.snat), Proto: vh.TCP,
			SrcPort: 443, DstPort: 41301, TCPFlags: vh.SYN})
		got := cp.read(6*time.Second, func(p *vh.Parsed) bool {
			return p.Dst == addr(f.y2) && (p.Proto == vh.TCP || p.Proto == vh.ICMP)
		})
		for _, g := range got {
			t.Errorf("within 6 s of an unsolicited SYN, Y got %s", g)
		}
	})
}

// TestConformance5382_5: TCP timers (conntrack's remaining time, read a
// few seconds after the packet, so 5 s of slack): established at least
// 7440 s, SYN-sent and closing at least 240 s.
func TestConformance5382_5(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		testTCPTimers(t, k, f, 41400)
	})
}

func testTCPTimers(t *testing.T, k *klab, f kfam, base int) {
	est, err := k.tcpFrom("c", f.hp(f.x, base), f.hp(f.y1, 7000))
	must(t, err)
	defer est.Close()
	fin, err := k.tcpFrom("c", f.hp(f.x, base+1), f.hp(f.y1, 7000))
	must(t, err)
	fin.Close()
	bh := "192.0.2.9"
	if f.v6 {
		bh = "2001:db8:99::9"
	}
	_ = k.Do("c", func() error {
		la, _ := net.ResolveTCPAddr("tcp", f.hp(f.x, base+2))
		d := net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: la}
		c, err := d.Dial("tcp", f.hp(bh, 80))
		if err == nil {
			c.Close()
		}
		return nil
	})
	for _, c := range []struct {
		what string
		port int
		min  time.Duration
	}{{"established", base, 7435 * time.Second}, {"closing (FIN)", base + 1, 235 * time.Second}, {"SYN-sent", base + 2, 235 * time.Second}} {
		s, ok := k.session(model.ProtoTCP, f.x, uint16(c.port), "")
		if !ok {
			t.Errorf("%s: no conntrack entry", c.what)
			continue
		}
		if s.ExpiresIn < c.min {
			t.Errorf("%s (state %v): %v left, want at least %v", c.what, s.TCPState, s.ExpiresIn, c.min)
		}
	}
}

// TestConformance5382_8: TCP hairpinning: X2 listens on the port of its
// mapping; X1 connects to X2's mapping.
func TestConformance5382_8(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		out, err := k.tcpFrom("c", f.hp(f.x2, 41500), f.hp(f.y1, 7000))
		must(t, err)
		defer out.Close()
		m := peerAP(t, out.Peer)
		var ln net.Listener
		must(t, k.Do("c", func() error {
			lc := net.ListenConfig{Control: reusePort}
			var err error
			ln, err = lc.Listen(ctx(t), "tcp", f.hp(f.x2, 41500))
			return err
		}))
		defer ln.Close()
		err = k.Do("c", func() error {
			d := net.Dialer{Timeout: 2 * time.Second}
			c, err := d.Dial("tcp", m.String())
			if err == nil {
				c.Close()
			}
			return err
		})
		if err != nil {
			t.Errorf("X1 -> X2's mapping %s: %v", m, err)
		}
	})
}

// reusePort sets SO_REUSEADDR and SO_REUSEPORT.
func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
	})
	return errors.Join(err, serr)
}

// TestConformance5382_10: no ICMP message ends a TCP connection: every
// error about an established connection, then it still echoes.
func TestConformance5382_10(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		c, err := k.DialTCP("c", f.hp(f.y1, 7000), f.hp(f.x, 41600))
		must(t, err)
		defer c.Close()
		k.sendErrorsFromY(f, vh.TCP, peerAP(t, c.Reply.Peer), 7000)
		if err := c.Echo("still there"); err != nil {
			t.Errorf("after every ICMP error: %v", err)
		}
	})
}

// ping sends an echo request with identifier id from X (a ping socket
// bound to the id) to dst and waits for the reply.
func (k *klab) ping(t *testing.T, f kfam, id int, dst string) error {
	var fd int
	err := k.Do("c", func() error {
		var err error
		if f.v6 {
			fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_ICMPV6)
			if err == nil {
				err = unix.Bind(fd, &unix.SockaddrInet6{Port: id, Addr: addr(f.x).As16()})
			}
		} else {
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP)
			if err == nil {
				err = unix.Bind(fd, &unix.SockaddrInet4{Port: id, Addr: addr(f.x).As4()})
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ping socket: %w", err)
	}
	defer unix.Close(fd)
	typ := byte(8)
	var sa unix.Sockaddr
	if f.v6 {
		typ = 128
		sa = &unix.SockaddrInet6{Addr: addr(dst).As16()}
	} else {
		sa = &unix.SockaddrInet4{Addr: addr(dst).As4()}
	}
	msg := []byte{typ, 0, 0, 0, 0, 0, 0, 1, 'c', 'n'}
	if err := unix.Sendto(fd, msg, 0, sa); err != nil {
		return err
	}
	tv := unix.NsecToTimeval(int64(time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 200)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return fmt.Errorf("no echo reply from %s: %w", dst, err)
	}
	if n < 8 || buf[0] != map[bool]byte{false: 0, true: 129}[f.v6] {
		return fmt.Errorf("echo reply % x", buf[:n])
	}
	return nil
}

// ctICMP is one ICMP echo entry of conntrack (conntrack -L in r): the
// kernel dataplane's session list does not show echo ids.
type ctICMP struct {
	src, dst  string
	id, outID int
	timeout   time.Duration
}

func (k *klab) icmpEntries(t *testing.T, f kfam) []ctICMP {
	args := []string{"conntrack", "-L", "-p", "icmp"}
	if f.v6 {
		args = []string{"conntrack", "-L", "-f", "ipv6", "-p", "icmpv6"}
	}
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("the conntrack tool is not installed (echo ids are read from conntrack -L)")
	}
	out, err := k.Try("r", args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	var es []ctICMP
	for _, line := range strings.Split(out, "\n") {
		fs := strings.Fields(line)
		if len(fs) < 4 {
			continue
		}
		var e ctICMP
		secs, _ := strconv.Atoi(fs[2])
		e.timeout = time.Duration(secs) * time.Second
		ids := 0
		for _, x := range fs {
			k, v, _ := strings.Cut(x, "=")
			switch {
			case k == "src" && e.src == "":
				e.src = v
			case k == "dst" && e.dst == "":
				e.dst = v
			case k == "id":
				n, _ := strconv.Atoi(v)
				if ids == 0 {
					e.id = n
				} else {
					e.outID = n
				}
				ids++
			}
		}
		es = append(es, e)
	}
	return es
}

func (k *klab) icmpEntry(t *testing.T, f kfam, id int, dst string) (ctICMP, bool) {
	for _, e := range k.icmpEntries(t, f) {
		if e.src == f.x && e.id == id && (dst == "" || e.dst == dst) {
			return e, true
		}
	}
	return ctICMP{}, false
}

// TestConformance5508_1: echo id 7 to Y1 and Y2 leaves with one outside
// id (conntrack's reply tuples); both replies come back to the socket of
// id 7.
func TestConformance5508_1(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		for _, y := range []string{f.y1, f.y2} {
			if err := k.ping(t, f, 7, y); err != nil {
				t.Error(err)
			}
		}
		a, ok1 := k.icmpEntry(t, f, 7, f.y1)
		b, ok2 := k.icmpEntry(t, f, 7, f.y2)
		if !ok1 || !ok2 || a.outID != b.outID {
			t.Errorf("echo id 7: to Y1 outside id %d (%v), to Y2 %d (%v): want one outside id (entries %+v)",
				a.outID, ok1, b.outID, ok2, k.icmpEntries(t, f))
		}
	})
}

// TestConformance5508_2: ICMP query timer at least 60 s: the echo
// entry's remaining time right after the reply is at least 58 s (read a
// moment later).
func TestConformance5508_2(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		must(t, k.ping(t, f, 8, f.y1))
		e, ok := k.icmpEntry(t, f, 8, "")
		if !ok || e.timeout < 58*time.Second {
			t.Errorf("echo entry %+v (found %v): want about 60 s left", e, ok)
		}
	})
}

func withOptions(ip []byte) []byte {
	out := append(append(append([]byte{}, ip[:20]...), 1, 1, 1, 0, 0, 0, 0, 0), ip[20:]...)
	out[0] = 0x47
	put16(out[2:], uint16(len(out)))
	out[10], out[11] = 0, 0
	put16(out[10:], vh.Checksum(out[:28], 0))
	return out
}

// TestConformance5508_3: errors with a bad ICMP checksum or a bad quoted
// IPv4 header checksum are dropped; quoted IPv4 options are walked past;
// 8 bytes of quoted L4 header are enough.
func TestConformance5508_3(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		for i, tc := range []struct {
			name   string
			pass   bool
			quote  func([]byte) []byte
			frame  bool // corrupt the ICMP checksum
			v4only bool
		}{
			{"intact", true, func(b []byte) []byte { return b }, false, false},
			{"bad ICMP checksum", false, func(b []byte) []byte { return b }, true, false},
			{"bad quoted IPv4 header checksum", false, func(b []byte) []byte { b[10] ^= 0x5a; return b }, false, true},
			{"quoted IPv4 options", true, withOptions, false, true},
			{"8 bytes of quoted L4", true, func(b []byte) []byte {
				return b[:map[bool]int{false: 28, true: 48}[b[0]>>4 == 6]]
			}, false, false},
		} {
			if tc.v4only && f.v6 {
				continue
			}
			t.Run(tc.name, func(t *testing.T) {
				xp := 41700 + i
				m := k.udpPeer(t, f.hp(f.x, xp), f.hp(f.y1, 7000))
				q := vh.Pkt{Src: m.Addr(), Dst: addr(f.y1), Proto: vh.UDP, SrcPort: m.Port(), DstPort: 7000}.MustIP()
				p := vh.Pkt{SrcMAC: k.mac["x0"], DstMAC: k.mac["r-x"], Src: addr(f.y1), Dst: m.Addr(), Proto: vh.ICMP,
					ICMP: vh.DestUnreach, ICMPCode: map[bool]uint8{false: 3, true: 4}[f.v6], Inner: tc.quote(q)}
				fr, err := p.Frame()
				must(t, err)
				if tc.frame {
					fr[14+map[bool]int{false: 20, true: 40}[f.v6]+2] ^= 0x5a
				}
				cp := k.capture("c", "c0")
				k.sendRaw("x", "x0", fr)
				got := cp.read(700*time.Millisecond, func(p *vh.Parsed) bool { return p.Proto == vh.ICMP })
				if tc.pass && len(got) != 1 {
					t.Errorf("want the error at X, got %v", got)
				}
				if !tc.pass && len(got) != 0 {
					t.Errorf("a corrupt error reached X: %v", got)
				}
				if tc.pass && len(got) == 1 && (got[0].Inner == nil || got[0].Inner.Src != addr(f.x) || got[0].Inner.SrcPort != uint16(xp)) {
					t.Errorf("delivered %s, want the quote restored to %s", got[0], f.hp(f.x, xp))
				}
			})
		}
	})
}

// TestConformance5508_4: Y's port unreachable about X' -> Y reaches X
// with the quoted packet restored (checksums checked by the parser's
// caller in the VPP suite; here: addresses, ports, type and code).
func TestConformance5508_4(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		m := k.udpPeer(t, f.hp(f.x, 41800), f.hp(f.y1, 7000))
		q := vh.Pkt{Src: m.Addr(), Dst: addr(f.y1), Proto: vh.UDP, SrcPort: m.Port(), DstPort: 7000}.MustIP()
		code := map[bool]uint8{false: 3, true: 4}[f.v6]
		cp := k.capture("c", "c0")
		k.sendFrame("x", "x0", "r-x", vh.Pkt{Src: addr(f.y1), Dst: m.Addr(), Proto: vh.ICMP, ICMP: vh.DestUnreach, ICMPCode: code, Inner: q})
		got := cp.read(700*time.Millisecond, func(p *vh.Parsed) bool { return p.Proto == vh.ICMP })
		if len(got) != 1 {
			t.Fatalf("want the error at X, got %v", got)
		}
		e := got[0]
		if e.Dst != addr(f.x) || e.ICMP != vh.DestUnreach || e.ICMPCode != code || e.Inner == nil ||
			e.Inner.Src != addr(f.x) || e.Inner.SrcPort != 41800 {
			t.Errorf("got %s, want dest-unreach code %d to %s quoting %s", e, code, f.x, f.hp(f.x, 41800))
		}
		if errs := vh.IPChecksumErrors(e.Raw); len(errs) > 0 {
			t.Errorf("checksums: %v", errs)
		}
	})
}

// TestConformance5508_5: X's port unreachable about Y -> X leaves with
// source X' and the quoted packet Y -> X':x'.
func TestConformance5508_5(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		m := k.udpPeer(t, f.hp(f.x, 41900), f.hp(f.y1, 7000))
		q := vh.Pkt{Src: addr(f.y1), Dst: addr(f.x), Proto: vh.UDP, SrcPort: 7000, DstPort: 41900}.MustIP()
		cp := k.capture("x", "x0")
		k.sendFrame("c", "c0", "r-c", vh.Pkt{Src: addr(f.x), Dst: addr(f.y1), Proto: vh.ICMP, ICMP: vh.DestUnreach,
			ICMPCode: map[bool]uint8{false: 3, true: 4}[f.v6], Inner: q})
		got := cp.read(700*time.Millisecond, func(p *vh.Parsed) bool { return p.Proto == vh.ICMP })
		if len(got) != 1 {
			t.Fatalf("want X's error at Y, got %v", got)
		}
		e := got[0]
		if e.Src != m.Addr() || e.Inner == nil || e.Inner.Dst != m.Addr() || e.Inner.DstPort != m.Port() {
			t.Errorf("got %s, want from %s quoting Y -> %s", e, m.Addr(), m)
		}
	})
}

// TestConformance5508_6: an error about an echo session does not refresh
// it (its remaining time keeps falling) nor delete it.
func TestConformance5508_6(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		must(t, k.ping(t, f, 9, f.y1))
		time.Sleep(2100 * time.Millisecond)
		e0, ok := k.icmpEntry(t, f, 9, "")
		if !ok {
			t.Fatal("no echo entry")
		}
		q := vh.Pkt{Src: addr(f.snat), Dst: addr(f.y1), Proto: vh.ICMP, SrcPort: uint16(e0.outID)}.MustIP()
		k.sendFrame("x", "x0", "r-x", vh.Pkt{Src: addr(f.y1), Dst: addr(f.snat), Proto: vh.ICMP,
			ICMP: vh.DestUnreach, ICMPCode: 1, Inner: q})
		e1, ok := k.icmpEntry(t, f, 9, "")
		if !ok {
			t.Fatal("the error deleted the echo entry")
		}
		if e1.timeout > e0.timeout {
			t.Errorf("the error refreshed the echo entry: %v left before, %v after", e0.timeout, e1.timeout)
		}
	})
}

// TestConformance5508_7: hairpinned ICMP errors (needs hairpinning).
func TestConformance5508_7(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		if _, _, err := k.hairpinUDP(t, f, 42000); err != nil {
			t.Fatalf("no hairpinning (4787-9), so no hairpinned error: %v", err)
		}
		t.Skip("hairpinning works; the hairpinned error case is not written for the kernel yet")
	})
}

// TestConformance5508_8: ICMP 3/13 when no mapping can be made.
func TestConformance5508_8(t *testing.T) {
	t.Skip("the kernel dataplane has no port blocks or per-subscriber quotas; masquerade fails a flow without an ICMP answer")
}

// TestConformance6888_2: paired pooling by default (as 4787-2).
func TestConformance6888_2(t *testing.T) { testPairedKernel(t) }

// TestConformance6888_3: any set of addresses: SNAT addresses .100 and
// .103 (not contiguous); 23 inside addresses leave from both.
func TestConformance6888_3(t *testing.T) {
	k := newKLabN(t, 23, snat1, "203.0.113.103")
	seen := map[netip.Addr]int{}
	for i := 2; i <= 24; i++ {
		seen[k.udpPeer(t, net.JoinHostPort(fmt.Sprintf("10.10.0.%d", i), "42100"), net.JoinHostPort(y1, "7000")).Addr()]++
	}
	if len(seen) != 2 {
		t.Errorf("23 inside hosts left from %v, want both addresses", seen)
	}
}

// TestConformance6888_4: ports per subscriber are limited.
func TestConformance6888_4(t *testing.T) {
	t.Skip("the kernel dataplane has no per-subscriber port limit (no pools)")
}

// TestConformance6888_5: sessions per subscriber are limited.
func TestConformance6888_5(t *testing.T) {
	t.Skip("the kernel dataplane has no per-subscriber session limit (no pools)")
}

// TestConformance6888_6: excluded destinations leave untranslated.
func TestConformance6888_6(t *testing.T) {
	k := newKLab(t)
	k.Sh("x", "ip", "route", "add", "10.10.0.0/24", "via", "203.0.113.1")
	k.Sh("x", "ip", "-6", "route", "add", "fd10::/64", "via", "2001:db8:ff::1")
	must(t, k.d.PutSNATExclusion(ctx(t), model.SNATExclusion{Prefix: prefix(y2 + "/32")}))
	must(t, k.d.PutSNATExclusion(ctx(t), model.SNATExclusion{Prefix: prefix(y26 + "/128")}))
	eachFam(t, k, func(t *testing.T, f kfam) {
		if m := k.udpPeer(t, f.hp(f.x, 42200), f.hp(f.y2, 7000)); m.Addr() != addr(f.x) {
			t.Errorf("to excluded %s: seen as %s, want untranslated %s", f.y2, m, f.x)
		}
		if m := k.udpPeer(t, f.hp(f.x, 42201), f.hp(f.y1, 7000)); m.Addr() != addr(f.snat) {
			t.Errorf("to %s: seen as %s, want %s", f.y1, m, f.snat)
		}
	})
}

// TestConformance6888_8: a freed port is not reused for 120 s.
func TestConformance6888_8(t *testing.T) {
	t.Skip("conntrack frees a NAT port with its entry; the kernel dataplane has no reuse delay")
}

// TestConformance6888_12: logs do not record destinations.
func TestConformance6888_12(t *testing.T) {
	t.Skip("the kernel dataplane writes no NAT log")
}

// TestConformance6888_13: block allocation and logging.
func TestConformance6888_13(t *testing.T) {
	t.Skip("the kernel dataplane has no port blocks or block log (no pools)")
}

// TestConformance7857_tcp: the state picks the timeout: SYN-sent and FIN
// transitory (240 s), established 7440 s, after a RST transitory.
func TestConformance7857_tcp(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		testTCPTimers(t, k, f, 42300)
		rstAfter(t, k, f, 42310, 235*time.Second)
	})
}

// rstAfter: an established connection reset by X keeps its entry at
// least min.
func rstAfter(t *testing.T, k *klab, f kfam, port int, min time.Duration) {
	c, err := k.tcpFrom("c", f.hp(f.x, port), f.hp(f.y1, 7000))
	must(t, err)
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close() // RST
	time.Sleep(100 * time.Millisecond)
	s, ok := k.session(model.ProtoTCP, f.x, uint16(port), "")
	if !ok {
		t.Errorf("after X's RST the conntrack entry is gone at once, want it kept %v", min)
		return
	}
	if s.ExpiresIn < min {
		t.Errorf("after X's RST the entry (state %v) has %v left, want at least %v", s.TCPState, s.ExpiresIn, min)
	}
}

// TestConformance7857_rst: after a RST the state is kept 4 minutes (a
// retransmission at 200 s is still translated): the entry's remaining
// time after the RST is at least 200 s.
func TestConformance7857_rst(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		rstAfter(t, k, f, 42400, 200*time.Second)
	})
}

// TestConformance7857_overlap: MAY: X1:x -> Y1 and X2:x -> Y2 may share
// one outside port; either conforms (logged).
func TestConformance7857_overlap(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		a := k.udpPeer(t, f.hp(f.x, 42500), f.hp(f.y1, 7000))
		b := k.udpPeer(t, f.hp(f.x2, 42500), f.hp(f.y2, 7000))
		t.Logf("X1:42500 -> Y1 as %s, X2:42500 -> Y2 as %s (overlap %v)", a, b, a == b)
	})
}

// TestConformance7857_refresh: X's ICMP port unreachable answering Y's
// datagram does not refresh the mapping.
func TestConformance7857_refresh(t *testing.T) {
	k := newKLab(t)
	eachFam(t, k, func(t *testing.T, f kfam) {
		k.udpPeer(t, f.hp(f.x, 42600), f.hp(f.y1, 7000))
		time.Sleep(2100 * time.Millisecond)
		s0, _ := k.session(model.ProtoUDP, f.x, 42600, "")
		q := vh.Pkt{Src: addr(f.y1), Dst: addr(f.x), Proto: vh.UDP, SrcPort: 7000, DstPort: 42600}.MustIP()
		k.sendFrame("c", "c0", "r-c", vh.Pkt{Src: addr(f.x), Dst: addr(f.y1), Proto: vh.ICMP, ICMP: vh.DestUnreach,
			ICMPCode: map[bool]uint8{false: 3, true: 4}[f.v6], Inner: q})
		s1, ok := k.session(model.ProtoUDP, f.x, 42600, "")
		if !ok || s1.ExpiresIn > s0.ExpiresIn {
			t.Errorf("remaining time %v before X's ICMP error, %v after (found %v): refreshed", s0.ExpiresIn, s1.ExpiresIn, ok)
		}
	})
}
