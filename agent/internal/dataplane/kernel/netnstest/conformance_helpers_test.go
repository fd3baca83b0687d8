package netnstest

// Helpers of the kernel column of the conformance suite
// (conformance_test.go): the kernel dataplane (nf_tables + conntrack) in a
// namespace lab, driven by real sockets, and by crafted packets sent and
// captured with AF_PACKET sockets where a requirement needs a packet no
// socket sends (ICMP errors, fragments out of order). Timers are measured
// as conntrack's remaining timeout (model.Session.ExpiresIn): the kernel
// has no test clock, and waiting two hours is not a test.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/test/kernel/nslab"
	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// klab:
//
//	c (inside: 10.10.0.2-.24, fd10::2-) ── r (router, kernel dataplane) ── x (outside)
//
// r-c 10.10.0.1/24 fd10::1/64; r-x 203.0.113.1/24 2001:db8:ff::1/64.
// x owns Y1 = 203.0.113.2 / 2001:db8:ff::2 and Y2 = 203.0.113.3 /
// 2001:db8:ff::3, serves TCP and UDP on 7000 and 7001 (nslab.Server: the
// answer names the peer it saw), and routes only the SNAT addresses
// (203.0.113.100/30, 2001:db8:ff::100/126) back to r: the inside is not
// reachable from x, so an untranslated packet finds no way back.
// 192.0.2.0/24 goes from r to x, which blackholes it (SYNs that are never
// answered).
type klab struct {
	*nslab.Lab
	t   *testing.T
	d   *kernel.Dataplane
	mac map[string]net.HardwareAddr // interface name -> MAC ("r-c", "c0", ...)
}

const (
	y1, y2     = "203.0.113.2", "203.0.113.3"
	y16, y26   = "2001:db8:ff::2", "2001:db8:ff::3"
	snat1      = "203.0.113.100"
	snat2      = "203.0.113.101"
	snat16     = "2001:db8:ff::100"
	insideHost = "10.10.0.2"
)

// kfam is a family with its addresses in the lab.
type kfam struct {
	name         string
	v6           bool
	x, x2        string // inside hosts
	y1, y2, snat string
	mf           model.Family
}

var kfams = []kfam{
	{"ip4", false, "10.10.0.2", "10.10.0.3", y1, y2, snat1, model.IPv4},
	{"ip6", true, "fd10::2", "fd10::3", y16, y26, snat16, model.IPv6},
}

func (f kfam) hp(h string, p int) string { return net.JoinHostPort(h, fmt.Sprint(p)) }

// newKLab builds the lab with source NAT on r-c: SNAT addresses as given
// (default 203.0.113.100 and 2001:db8:ff::100).
func newKLab(t *testing.T, snat4 ...string) *klab {
	t.Helper()
	return newKLabN(t, 4, snat4...)
}

// newKLabN is newKLab with inside hosts 10.10.0.2 to 10.10.0.<hosts+1>
// (and fd10::2 up).
func newKLabN(t *testing.T, hosts int, snat4 ...string) *klab {
	t.Helper()
	if len(snat4) == 0 {
		snat4 = []string{snat1}
	}
	lab := nslab.New(t)
	for _, ns := range []string{"r", "c", "x"} {
		lab.AddNS(ns)
	}
	cAddrs := []string{"10.10.0.2/24", "fd10::2/64"}
	for i := 3; i <= hosts+1; i++ {
		cAddrs = append(cAddrs, fmt.Sprintf("10.10.0.%d/24", i), fmt.Sprintf("fd10::%x/64", i))
	}
	lab.Link("c", "c0", cAddrs, "r", "r-c", []string{"10.10.0.1/24", "fd10::1/64"})
	lab.Link("x", "x0", []string{y1 + "/24", y2 + "/24", y16 + "/64", y26 + "/64"}, "r", "r-x",
		[]string{"203.0.113.1/24", "2001:db8:ff::1/64"})
	lab.Sh("c", "ip", "route", "add", "default", "via", "10.10.0.1")
	lab.Sh("c", "ip", "-6", "route", "add", "default", "via", "fd10::1")
	lab.Sh("x", "ip", "route", "add", "203.0.113.100/30", "via", "203.0.113.1")
	lab.Sh("x", "ip", "route", "add", "203.0.113.200/32", "via", "203.0.113.1")
	lab.Sh("x", "ip", "-6", "route", "add", "2001:db8:ff::100/126", "via", "2001:db8:ff::1")
	lab.Sh("x", "ip", "route", "add", "blackhole", "192.0.2.0/24")
	lab.Sh("r", "ip", "route", "add", "192.0.2.0/24", "via", y1)
	lab.Sh("x", "ip", "-6", "route", "add", "blackhole", "2001:db8:99::/64")
	lab.Sh("r", "ip", "-6", "route", "add", "2001:db8:99::/64", "via", y16)
	_ = lab.Do("c", func() error {
		return writeSysctl("ipv4/ping_group_range", "0 2147483647")
	})
	// one server per address: a UDP answer must come from the address the
	// datagram went to, or conntrack does not see it as the reply
	for _, a := range []string{y1, y2, "[" + y16 + "]", "[" + y26 + "]"} {
		lab.Serve("x", "ext", a+":7000")
		lab.Serve("x", "ext2", a+":7001")
	}

	k := &klab{Lab: lab, t: t, mac: map[string]net.HardwareAddr{}}
	for _, e := range []struct{ ns, ifc string }{{"c", "c0"}, {"r", "r-c"}, {"r", "r-x"}, {"x", "x0"}} {
		out := lab.Sh(e.ns, "cat", "/sys/class/net/"+e.ifc+"/address")
		m, err := net.ParseMAC(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("MAC of %s: %v", e.ifc, err)
		}
		k.mac[e.ifc] = m
	}
	k.d = openIn(t, lab, "r")
	c := ctx(t)
	for _, a := range snat4 {
		must(t, k.d.PutSNATAddress(c, model.SNATAddress{Addr: ip(a)}))
	}
	must(t, k.d.PutSNATAddress(c, model.SNATAddress{Addr: ip(snat16)}))
	must(t, k.d.PutSNATInterface(c, model.SNATInterface{Interface: "r-c", Family: model.IPv4}))
	must(t, k.d.PutSNATInterface(c, model.SNATInterface{Interface: "r-c", Family: model.IPv6}))
	return k
}

func writeSysctl(k, v string) error {
	return os.WriteFile("/proc/sys/net/"+k, []byte(v), 0o644)
}

// reuse sets SO_REUSEADDR (several TCP connections from one local port).
func reuse(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// udpFrom sends one datagram from ns's local address to remote and
// returns the peer the server saw.
func (k *klab) udpFrom(ns, local, remote string) (string, error) {
	var c *net.UDPConn
	err := k.Do(ns, func() error {
		la, err := net.ResolveUDPAddr("udp", local)
		if err != nil {
			return err
		}
		ra, err := net.ResolveUDPAddr("udp", remote)
		if err != nil {
			return err
		}
		lc := net.ListenConfig{Control: reuse}
		pc, err := lc.ListenPacket(ctx(k.t), "udp", la.String())
		if err != nil {
			return err
		}
		c = pc.(*net.UDPConn)
		_ = ra
		return nil
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	ra, _ := net.ResolveUDPAddr("udp", remote)
	buf := make([]byte, 1500)
	for i := 0; i < 3; i++ {
		if _, err := c.WriteToUDP([]byte("hi\n"), ra); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
		n, _, err := c.ReadFromUDP(buf)
		if err == nil {
			f := strings.Fields(string(buf[:n]))
			if len(f) == 2 {
				return f[1], nil
			}
			return "", fmt.Errorf("bad answer %q", buf[:n])
		}
	}
	return "", fmt.Errorf("udp %s -> %s: no answer", local, remote)
}

// tconn is a TCP connection and the peer the server saw.
type tconn struct {
	net.Conn
	Peer string
}

// tcpFrom connects from ns's local address (SO_REUSEADDR) and returns the
// open connection with the peer the server saw.
func (k *klab) tcpFrom(ns, local, remote string) (*tconn, error) {
	var c net.Conn
	err := k.Do(ns, func() error {
		la, err := net.ResolveTCPAddr("tcp", local)
		if err != nil {
			return err
		}
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: la, Control: reuse}
		c, err = d.Dial("tcp", remote)
		return err
	})
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 200)
	n, err := c.Read(buf)
	if err != nil {
		c.Close()
		return nil, err
	}
	f := strings.Fields(string(buf[:n]))
	if len(f) != 2 {
		c.Close()
		return nil, fmt.Errorf("bad answer %q", buf[:n])
	}
	_ = c.SetReadDeadline(time.Time{})
	return &tconn{Conn: c, Peer: f[1]}, nil
}

// session returns the conntrack session of the inside endpoint
// src:sport (proto), or false.
func (k *klab) session(pr model.Proto, src string, sport uint16, dst string) (model.Session, bool) {
	for _, s := range sessions(k.t, k.d, model.SessionFilter{VRF: model.AllVRFs, Proto: pr, Port: sport}) {
		if s.Src.Addr() == ip(src) && s.Src.Port() == sport && (dst == "" || s.Dst.Addr() == ip(dst)) {
			return s, true
		}
	}
	return model.Session{}, false
}

// sendFrame sends a crafted packet out of ns's interface ifc towards the
// peer interface peer (its MAC is the destination).
func (k *klab) sendFrame(ns, ifc, peer string, p vh.Pkt) {
	k.t.Helper()
	p.SrcMAC, p.DstMAC = k.mac[ifc], k.mac[peer]
	f, err := p.Frame()
	if err != nil {
		k.t.Fatalf("build frame: %v", err)
	}
	k.sendRaw(ns, ifc, f)
}

// sendRaw sends an Ethernet frame out of ns's interface ifc.
func (k *klab) sendRaw(ns, ifc string, frame []byte) {
	k.t.Helper()
	err := k.Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifi, err := net.InterfaceByName(ifc)
		if err != nil {
			return err
		}
		return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6})
	})
	if err != nil {
		k.t.Fatalf("send on %s in %s: %v", ifc, ns, err)
	}
}

// capture is an AF_PACKET socket on one interface.
type capture struct {
	fd int
}

// capture starts capturing what arrives at ns's interface ifc.
func (k *klab) capture(ns, ifc string) *capture {
	k.t.Helper()
	var c capture
	err := k.Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(ifc)
		if err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		k.t.Fatalf("capture on %s in %s: %v", ifc, ns, err)
	}
	k.t.Cleanup(func() { unix.Close(c.fd) })
	return &c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read returns the IP packets received (not sent) within d that match.
func (c *capture) read(d time.Duration, match func(*vh.Parsed) bool) []*vh.Parsed {
	var out []*vh.Parsed
	end := time.Now().Add(d)
	buf := make([]byte, 65536)
	for {
		left := time.Until(end)
		if left <= 0 {
			return out
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		_ = unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		p, err := vh.ParseFrame(append([]byte{}, buf[:n]...))
		if err != nil || p.Proto == vh.ICMP && p.V6 && (p.ICMPType >= 130 && p.ICMPType <= 143) {
			continue
		}
		if match == nil || match(p) {
			out = append(out, p)
		}
	}
}

// addr parses an address.
func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
