// Package plugin holds the VPP-in-the-loop tests of cloudnat_plugin.so: each
// test starts a private VPP with the plugin, wires packet-generator
// interfaces, sends packets built with gopacket and checks what comes out
// (addresses, ports, ids, every checksum), the counters and the CLI.
//
// Run as root with VPP installed (VPP_PREFIX) and the plugin built
// (build/vpp-plugin or CLOUDNAT_PLUGIN_DIR):
//
//	go test ./test/plugin/ -v
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
	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

func TestMain(m *testing.M) { vh.Main(m, "test/plugin") }

// family is IPv4 or IPv6 with the addresses a test uses in it.
type family struct {
	name string
	v6   bool
}

var families = []family{{"ip4", false}, {"ip6", true}}

// a picks the IPv4 or IPv6 form of an address.
func (f family) a(v4, v6 string) netip.Addr {
	if f.v6 {
		return netip.MustParseAddr(v6)
	}
	return netip.MustParseAddr(v4)
}

// Well-known addresses (the seed commands use them).
func (f family) vip() netip.Addr     { return f.a("30.0.0.2", "30::2") }
func (f family) snat() netip.Addr    { return f.a("30.0.0.1", "30::1") }
func (f family) arc() string         { return map[bool]string{false: "ip4", true: "ip6"}[f.v6] }
func (f family) snatFeature() string { return f.arc() + "-cnat-snat" }

// protos are the translated protocols.
var protos = []vh.Proto{vh.TCP, vh.UDP, vh.ICMP}

// topo is the usual topology: pg0 with clients (inside), pg1 with backends
// and remote hosts (outside).
//
//	pg0 10.0.0.1/24   10::1/64       hosts 10.0.0.2-4      10::2-4
//	pg1 20.0.255.254/16 20::ffff/64  hosts 20.0.0.1-3      20::1-3
//	                                 far   20.0.1.1        20::1:0:1
type topo struct {
	v        *vh.VPP
	pg0, pg1 *vh.PG
	vips     map[string]bool // translations startFlow added
}

const farHost = 3 // index of pg1's host outside 20.0.0.0/24 and 20::/100

func newTopo(t *testing.T) *topo {
	t.Helper()
	return newTopoWith(t, vh.Options{})
}

// newTopoWith is newTopo with VPP started with opts.
func newTopoWith(t *testing.T, opts vh.Options) *topo {
	t.Helper()
	v := vh.Start(t, opts)
	tp := &topo{v: v, vips: map[string]bool{}}
	tp.pg0 = v.NewPG(t, vh.PGConfig{IP4: "10.0.0.1/24", IP6: "10::1/64", Hosts: 3})
	tp.pg1 = v.NewPG(t, vh.PGConfig{IP4: "20.0.255.254/16", IP6: "20::ffff/64", Hosts: 3})
	tp.pg1.AddHost(t, netip.MustParseAddr("20.0.1.1"), netip.MustParseAddr("20::1:0:1"))
	return tp
}

func (tp *topo) cli(t *testing.T, format string, args ...any) string {
	t.Helper()
	return tp.v.CLIf(t, format, args...)
}

// client is a packet from pg0's host i.
func (tp *topo) client(i int, f family) vh.Pkt { return tp.pg0.From(i, f.v6) }

// backend is a packet from pg1's host i.
func (tp *topo) backend(i int, f family) vh.Pkt { return tp.pg1.From(i, f.v6) }

// flow fills in protocol and ports; for ICMP sport is the echo id.
func flow(p vh.Pkt, dst netip.Addr, pr vh.Proto, sport, dport uint16) vh.Pkt {
	p.Dst, p.Proto, p.SrcPort, p.DstPort = dst, pr, sport, dport
	if pr == vh.ICMP {
		p.DstPort = sport
	}
	if pr == vh.TCP && p.TCPFlags == 0 {
		p.TCPFlags = vh.SYN
	}
	return p
}

// one sends one packet and expects one out of out.
func (tp *topo) one(t *testing.T, in *vh.PG, p vh.Pkt, out *vh.PG) *vh.Parsed {
	t.Helper()
	return tp.v.SendAndExpect(t, in, []vh.Pkt{p}, out)[0]
}

// replyTo builds the packet the receiver of got sends back, from host on
// pg (its MAC must be the one VPP sends to).
func replyTo(pg *vh.PG, got *vh.Parsed, flags uint8) vh.Pkt {
	r := vh.Pkt{Src: got.Dst, Dst: got.Src, Proto: got.Proto, SrcPort: got.DstPort, DstPort: got.SrcPort, TCPFlags: flags}
	for _, h := range pg.Hosts {
		if h.IP4 == got.Dst || h.IP6 == got.Dst {
			r.SrcMAC = h.MAC
		}
	}
	r.DstMAC = pg.MAC
	if got.Proto == vh.ICMP {
		r.ICMP = vh.EchoReply
		r.SrcPort, r.DstPort = got.ICMPID, got.ICMPID
	}
	return r
}

// want checks the 5-tuple of a captured packet.
func want(t *testing.T, what string, got *vh.Parsed, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) {
	t.Helper()
	ok := got.Src == src && got.Dst == dst
	if got.Proto == vh.ICMP {
		// ICMP echo: the one non-zero "port" given is the identifier.
		id := sport
		if id == 0 {
			id = dport
		}
		if id != 0 && got.ICMPID != id {
			ok = false
		}
	} else if (sport != 0 && got.SrcPort != sport) || (dport != 0 && got.DstPort != dport) {
		ok = false
	}
	if !ok {
		t.Errorf("%s: got %s, want %s -> %s", what, got,
			netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport))
	}
}

// protoWord is the CLI's protocol word.
func protoWord(p vh.Proto) string { return p.String() }

// cliPort is a translation's port as packets show it (ICMP: none, 0).
func cliPort(p vh.Proto, port uint16) uint16 {
	if p == vh.ICMP {
		return 0
	}
	return port
}

// pa is the port argument of the CLI: " <port>", or nothing for ICMP,
// whose translations and backends take no port.
func pa(p vh.Proto, port uint16) string {
	if p == vh.ICMP {
		return ""
	}
	return fmt.Sprintf(" %d", port)
}

var ipRe = regexp.MustCompile(`\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})\b`)

var sessionsRe = regexp.MustCompile(`(?m)^sessions: (\d+)`)

// nSessions is the session count of "cnat show session <args>" (its
// summary line "sessions: N (dnat x, snat y)").
func nSessions(t *testing.T, v *vh.VPP, args string) int {
	t.Helper()
	out := v.MustCLI(t, strings.TrimSpace("cnat show session "+args))
	m := sessionsRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cnat show session %s: no 'sessions: N' line:\n%s", args, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func wantSessions(t *testing.T, v *vh.VPP, args string, n int) {
	t.Helper()
	if got := nSessions(t, v, args); got != n {
		t.Errorf("cnat show session %s: %d sessions, want %d (binary API cloudnat_session_dump of all tables: %s):\n%s",
			args, got, n, apiSessionCount(v), v.MustCLI(t, "cnat show session verbose "+args))
	}
}

// apiSessionCount counts sessions with the binary API, for messages.
func apiSessionCount(v *vh.VPP) string {
	conn := v.Conn()
	if conn == nil {
		return "no API connection"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := cloudnat.NewServiceClient(conn).CloudnatSessionDump(ctx, &cloudnat.CloudnatSessionDump{TableID: ^uint32(0)})
	if err != nil {
		return err.Error()
	}
	n := 0
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			return strconv.Itoa(n)
		}
		if err != nil {
			return err.Error()
		}
		n++
	}
}

// cnatErrors sums the error counters of cloudnat's nodes (ip4-cloudnat,
// ip4-cnat-snat, ...) of severity error whose reason contains reason: the
// drops.
func cnatErrors(t *testing.T, v *vh.VPP, reason string) uint64 {
	t.Helper()
	var n uint64
	for _, c := range v.Errors(t) {
		node := strings.ToLower(c.Node)
		if (strings.Contains(node, "cnat") || strings.Contains(node, "cloudnat")) && c.Severity == "error" &&
			strings.Contains(strings.ToLower(c.Reason), strings.ToLower(reason)) {
			n += c.Count
		}
	}
	return n
}

// clock moves the plugin's clock.
func clock(t *testing.T, v *vh.VPP, seconds int) {
	t.Helper()
	v.CLIf(t, "test cnat clock advance %d", seconds)
}

// numbersIn returns the integers in s.
func numbersIn(s string) []uint64 {
	var ns []uint64
	for _, f := range regexp.MustCompile(`\d+`).FindAllString(s, -1) {
		n, err := strconv.ParseUint(f, 10, 64)
		if err == nil {
			ns = append(ns, n)
		}
	}
	return ns
}

func name(parts ...any) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, "/")
}
