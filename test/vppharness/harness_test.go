package vppharness

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// noVPP is why the VPP-backed self-tests cannot run ("" when they can). The
// pure tests of this package run anyway.
var noVPP string

func TestMain(m *testing.M) {
	if noVPP = CannotRunVPP(); noVPP != "" {
		fmt.Printf("SKIP test/vppharness: %s; VPP-in-the-loop tests not run\n", noVPP)
	}
	os.Exit(m.Run())
}

func needVPP(t *testing.T) {
	if noVPP != "" {
		t.SkipNow()
	}
}

var (
	a4 = netip.MustParseAddr("10.0.0.2")
	b4 = netip.MustParseAddr("20.0.0.1")
	a6 = netip.MustParseAddr("fd00::2")
	b6 = netip.MustParseAddr("fd20::1")
)

func TestChecksumsOfBuiltPacketsAreValid(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		src, dst := a4, b4
		if v6 {
			src, dst = a6, b6
		}
		for _, pr := range []Proto{TCP, UDP, ICMP} {
			p := Pkt{Src: src, Dst: dst, Proto: pr, SrcPort: 1234, DstPort: 80, TCPFlags: SYN, Payload: []byte("hello")}
			b, err := p.Frame()
			if err != nil {
				t.Fatal(err)
			}
			if errs := ChecksumErrors(b); len(errs) > 0 {
				t.Errorf("v6=%v %s: %v", v6, pr, errs)
			}
			// An ICMP error quoting the whole packet, and one quoting 8 bytes of L4.
			inner := p.MustIP()
			hl := 20
			if v6 {
				hl = 40
			}
			for _, q := range [][]byte{inner, inner[:hl+8]} {
				e := Pkt{Src: dst, Dst: src, Proto: ICMP, ICMP: DestUnreach, ICMPCode: 3, Inner: q}
				eb, err := e.Frame()
				if err != nil {
					t.Fatal(err)
				}
				if errs := ChecksumErrors(eb); len(errs) > 0 {
					t.Errorf("v6=%v %s error: %v", v6, pr, errs)
				}
				parsed, err := ParseFrame(eb)
				if err != nil {
					t.Fatal(err)
				}
				if parsed.Inner == nil || parsed.Inner.SrcPort != p.SrcPort || parsed.Inner.Src != src {
					t.Errorf("v6=%v %s: inner not parsed: %s", v6, pr, parsed)
				}
			}
			// Corruptions are detected: L4 checksum, inner IPv4 header, inner L4.
			bad := append([]byte{}, b...)
			bad[14+len(inner)-1] ^= 0xff // the last payload byte (v4 frames are padded)
			if errs := ChecksumErrors(bad); len(errs) == 0 {
				t.Errorf("v6=%v %s: corrupted payload not detected", v6, pr)
			}
			badInner := append([]byte{}, inner...)
			badInner[len(badInner)-1] ^= 0x55
			if !v6 {
				badInner[8] ^= 1 // TTL: breaks the inner header checksum too
			}
			e := Pkt{Src: dst, Dst: src, Proto: ICMP, ICMP: TimeExceeded, Inner: badInner}
			eb, _ := e.Frame()
			errs := ChecksumErrors(eb)
			want := 1
			if !v6 {
				want = 2
			}
			if len(errs) != want {
				t.Errorf("v6=%v %s: corrupted inner packet: got %d errors %v, want %d", v6, pr, len(errs), errs, want)
			}
		}
	}
}

func TestChecksumsAgreeWithGopacket(t *testing.T) {
	// gopacket decodes what we build, with the fields we set.
	p := Pkt{Src: a6, Dst: b6, Proto: ICMP, SrcPort: 77, ICMPSeq: 3}
	b, _ := p.Frame()
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	echo, ok := pkt.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
	if !ok || echo.Identifier != 77 || echo.SeqNumber != 3 {
		t.Fatalf("gopacket sees %v", pkt)
	}
	AssertChecksumsValid(t, pkt)
}

func TestParseErrors(t *testing.T) {
	out := `   Count                  Node                              Reason               Severity
         3             ip4-cnat-snat              port exhausted                  error
        12                ip4-input             ip4 ttl <= 1                     error
`
	cs := ParseErrors(out)
	if len(cs) != 2 || cs[0].Count != 3 || cs[0].Node != "ip4-cnat-snat" || cs[0].Reason != "port exhausted" || cs[1].Reason != "ip4 ttl <= 1" {
		t.Fatalf("got %+v", cs)
	}
}

// routed is a VPP with pg0 (10.0.0.1/24, fd00::1/64) and pg1 (20.0.0.254/24,
// fd20::ffff/64) and no NAT plugin.
func routed(t *testing.T) (*VPP, *PG, *PG) {
	needVPP(t)
	v := Start(t, Options{Plugins: []string{"ping_plugin.so"}})
	pg0 := v.NewPG(t, PGConfig{IP4: "10.0.0.1/24", IP6: "fd00::1/64"})
	pg1 := v.NewPG(t, PGConfig{IP4: "20.0.0.254/24", IP6: "fd20::ffff/64"})
	return v, pg0, pg1
}

func TestHarnessForwardsThroughVPP(t *testing.T) {
	v, pg0, pg1 := routed(t)
	if pg1.Hosts[0].IP4 != b4 || pg0.Hosts[0].IP4 != a4 || pg1.Hosts[0].IP6 != netip.MustParseAddr("fd20::1") {
		t.Fatalf("host addressing: %v %v", pg0.Hosts, pg1.Hosts)
	}
	for _, v6 := range []bool{false, true} {
		for _, pr := range []Proto{TCP, UDP, ICMP} {
			t.Run(fmt.Sprintf("v6=%v/%s", v6, pr), func(t *testing.T) {
				p := pg0.From(0, v6)
				p.Dst, p.Proto, p.SrcPort, p.DstPort, p.TCPFlags = pg1.Hosts[0].IP(v6), pr, 1234, 80, SYN
				pkts := []Pkt{p, p, p}
				got := v.SendAndExpect(t, pg0, pkts, pg1)
				for _, g := range got {
					if g.Src != p.Src || g.Dst != p.Dst || g.TTL != 63 || g.SrcPort != 1234 {
						t.Errorf("got %s", g)
					}
				}
			})
		}
	}
}

func TestHarnessSeesICMPErrorsFromVPP(t *testing.T) {
	v, pg0, pg1 := routed(t)
	for _, v6 := range []bool{false, true} {
		p := pg0.From(0, v6)
		p.Dst, p.Proto, p.SrcPort, p.DstPort, p.TTL = pg1.Hosts[0].IP(v6), UDP, 1234, 53, 1
		got := v.SendAndExpect(t, pg0, []Pkt{p}, pg0, SendOptions{Trace: 5})
		g := got[0]
		if g.ICMP != TimeExceeded || g.Inner == nil || g.Inner.Src != p.Src || g.Inner.DstPort != 53 {
			t.Errorf("v6=%v: got %s", v6, g)
		}
		if tr := v.ShowTrace(t); !strings.Contains(tr, "pg-input") {
			t.Errorf("trace has no pg-input:\n%s", tr)
		}
	}
}

func TestHarnessSendAndExpectNone(t *testing.T) {
	v, pg0, _ := routed(t)
	p := pg0.From(0, false)
	p.Dst, p.Proto, p.SrcPort, p.DstPort = netip.MustParseAddr("192.0.2.1"), UDP, 1, 2
	v.SendAndExpectNone(t, pg0, []Pkt{p, p})
	if n := v.ErrorCount(t, "", ""); n < 2 {
		t.Errorf("the 2 drops are not counted; show errors:\n%s", v.MustCLI(t, "show errors"))
	}
}

func TestCLIErrorsAreReported(t *testing.T) {
	v, _, _ := routed(t)
	if _, err := v.CLI("show no-such-thing"); err == nil {
		t.Errorf("unknown command: no error")
	}
	out, err := v.CLI("show version")
	if err != nil || !strings.Contains(out, "vpp") {
		t.Errorf("show version: %q %v", out, err)
	}
}

func TestFindCloudnatPlugin(t *testing.T) {
	root := t.TempDir()
	if _, err := findCloudnatPlugin(root); err == nil {
		t.Fatal("found a plugin in an empty tree")
	}
	other := root + "/build/vpp-plugin/x/lib64/vpp_plugins"
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other+"/cloudnat_plugin.so", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := findCloudnatPlugin(root); err != nil || d != other {
		t.Fatalf("walk: got %q %v", d, err)
	}
	pref := root + "/build/vpp-plugin/lib/vpp_plugins"
	_ = os.MkdirAll(pref, 0o755)
	_ = os.WriteFile(pref+"/cloudnat_plugin.so", nil, 0o644)
	if d, err := findCloudnatPlugin(root); err != nil || d != pref {
		t.Fatalf("preferred: got %q %v", d, err)
	}
}
