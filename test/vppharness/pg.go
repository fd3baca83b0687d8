package vppharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Host is a remote endpoint on a pg interface's link, with a static neighbor
// entry in VPP.
type Host struct {
	MAC      net.HardwareAddr
	IP4, IP6 netip.Addr
}

// IP returns the host's address of the family (v6 or not).
func (h Host) IP(v6 bool) netip.Addr {
	if v6 {
		return h.IP6
	}
	return h.IP4
}

// PGConfig configures one packet-generator interface.
type PGConfig struct {
	// Table is the FIB table id (VRF) of the interface; 0 is the default.
	Table uint32
	// IP4 and IP6 are VPP's address on the link with its length
	// ("10.0.0.1/24"); either may be empty.
	IP4, IP6 string
	// Hosts is the number of remote hosts to set up (default 2). Host i takes
	// the (i+1)-th address of the prefix that is not VPP's own.
	Hosts int
}

// PG is one packet-generator interface.
type PG struct {
	v         *VPP
	Index     int
	Name      string
	SwIfIndex uint32
	MAC       net.HardwareAddr
	Table     uint32
	// Local addresses of VPP on the link (zero when unset) and prefixes.
	IP4, IP6         netip.Addr
	Prefix4, Prefix6 netip.Prefix
	Hosts            []Host
}

// NewPG creates pg<N> (N = number of pg interfaces so far), puts it in the
// table, gives it addresses, brings it up, and adds static neighbors for its
// hosts. IPv6 router advertisements are suppressed.
func (v *VPP) NewPG(t testing.TB, cfg PGConfig) *PG {
	t.Helper()
	idx := len(v.pgs)
	p := &PG{v: v, Index: idx, Name: fmt.Sprintf("pg%d", idx), Table: cfg.Table,
		MAC: net.HardwareAddr{0x02, 0xfe, 0x00, 0x00, 0x00, byte(idx)}}
	v.CLIf(t, "create packet-generator interface %s hw-addr %s", p.Name, p.MAC)
	if out, err := v.CLI("show interface " + p.Name); err == nil {
		p.SwIfIndex = parseSwIfIndex(out, p.Name)
	}
	if cfg.Table != 0 {
		v.ensureTable(t, cfg.Table)
		v.CLIf(t, "set interface ip table %s %d", p.Name, cfg.Table)
		v.CLIf(t, "set interface ip6 table %s %d", p.Name, cfg.Table)
	}
	if cfg.IP4 != "" {
		pfx := netip.MustParsePrefix(cfg.IP4)
		p.IP4, p.Prefix4 = pfx.Addr(), pfx.Masked()
		v.CLIf(t, "set interface ip address %s %s", p.Name, pfx)
	}
	if cfg.IP6 != "" {
		pfx := netip.MustParsePrefix(cfg.IP6)
		p.IP6, p.Prefix6 = pfx.Addr(), pfx.Masked()
		v.CLIf(t, "set interface ip address %s %s", p.Name, pfx)
		// Fewer stray packets in captures; they are filtered anyway.
		_, _ = v.CLI(fmt.Sprintf("ip6 nd %s ra-suppress", p.Name))
	}
	v.CLIf(t, "set interface state %s up", p.Name)
	n := cfg.Hosts
	if n == 0 {
		n = 2
	}
	a4, a6 := p.Prefix4.Addr(), p.Prefix6.Addr()
	for i := 0; i < n; i++ {
		var h4, h6 netip.Addr
		if p.IP4.IsValid() {
			a4 = a4.Next()
			if a4 == p.IP4 {
				a4 = a4.Next()
			}
			h4 = a4
		}
		if p.IP6.IsValid() {
			a6 = a6.Next()
			if a6 == p.IP6 {
				a6 = a6.Next()
			}
			h6 = a6
		}
		p.AddHost(t, h4, h6)
	}
	v.pgs = append(v.pgs, p)
	return p
}

// AddHost adds a remote host with the given addresses (either may be the
// zero Addr) and static neighbor entries; it returns it. The addresses need
// not be in the link's prefix.
func (p *PG) AddHost(t testing.TB, ip4, ip6 netip.Addr) Host {
	t.Helper()
	i := len(p.Hosts)
	h := Host{MAC: net.HardwareAddr{0x02, 0x01, 0x00, byte(p.Index), byte(i >> 8), byte(i)}, IP4: ip4, IP6: ip6}
	for _, a := range []netip.Addr{ip4, ip6} {
		if a.IsValid() {
			p.v.CLIf(t, "set ip neighbor %s %s %s static", p.Name, a, h.MAC)
		}
	}
	p.Hosts = append(p.Hosts, h)
	return h
}

// Local returns VPP's address on the link for the family.
func (p *PG) Local(v6 bool) netip.Addr {
	if v6 {
		return p.IP6
	}
	return p.IP4
}

// From returns a packet template from host i on this link to VPP's MAC.
func (p *PG) From(i int, v6 bool) Pkt {
	h := p.Hosts[i]
	return Pkt{SrcMAC: h.MAC, DstMAC: p.MAC, Src: h.IP(v6)}
}

var swIfIndexRe = regexp.MustCompile(`(?m)^\s*(\S+)\s+(\d+)\s+(up|down)`)

func parseSwIfIndex(out, name string) uint32 {
	for _, m := range swIfIndexRe.FindAllStringSubmatch(out, -1) {
		if m[1] == name {
			n, _ := strconv.ParseUint(m[2], 10, 32)
			return uint32(n)
		}
	}
	return ^uint32(0)
}

// PGs returns the pg interfaces created so far.
func (v *VPP) PGs() []*PG { return v.pgs }

// Capture holds what each pg interface transmitted during one send.
type Capture map[*PG][]gopacket.Packet

// All returns every captured packet.
func (c Capture) All() []gopacket.Packet {
	var all []gopacket.Packet
	for _, ps := range c {
		all = append(all, ps...)
	}
	return all
}

// String lists the captured packets per interface.
func (c Capture) String() string {
	var b strings.Builder
	for pg, ps := range c {
		for _, pkt := range ps {
			d := "?"
			if p, err := Parse(pkt); err == nil {
				d = p.String()
			} else {
				d = err.Error()
			}
			fmt.Fprintf(&b, "  %s: %s\n", pg.Name, d)
		}
	}
	if b.Len() == 0 {
		return "  (nothing)\n"
	}
	return b.String()
}

// SendOptions tune one send.
type SendOptions struct {
	// Trace adds a packet trace of up to Trace packets (trace add pg-input N)
	// after clearing the previous trace; read it with ShowTrace.
	Trace int
	// Await, when set, is polled after the stream has ended and before the
	// captures stop, until it returns true (the send fails when the send's
	// time runs out first): for packets that are still in flight outside
	// the pg path (an af_packet interface on a veth pair, another thread).
	Await func() bool
}

// Send feeds frames into pg interface in and returns what every pg
// interface transmitted. Every captured packet's checksums are validated.
func (v *VPP) Send(t testing.TB, in *PG, frames [][]byte, opts ...SendOptions) Capture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := v.send(ctx, in, frames, opts...)
	if err != nil {
		t.Fatalf("send on %s: %v", in.Name, err)
	}
	for _, pkt := range c.All() {
		AssertChecksumsValid(t, pkt)
	}
	return c
}

// SendRaw is Send without the checksum assertion, for hostile input
// (fuzzing) whose forwarded packets may carry whatever checksum they came
// with; timeout bounds the whole send.
func (v *VPP) SendRaw(in *PG, frames [][]byte, timeout time.Duration) (Capture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return v.send(ctx, in, frames)
}

func (v *VPP) send(ctx context.Context, in *PG, frames [][]byte, opts ...SendOptions) (Capture, error) {
	var o SendOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	inFile := v.path("%s_in.pcap", in.Name)
	if err := writePcap(inFile, frames); err != nil {
		return nil, err
	}
	outFiles := map[*PG]string{}
	for _, pg := range v.pgs {
		f := v.path("%s_out.pcap", pg.Name)
		if _, err := v.CLIContext(ctx, fmt.Sprintf("packet-generator capture %s pcap %s", pg.Name, f)); err != nil {
			return nil, err
		}
		outFiles[pg] = f
	}
	if o.Trace > 0 {
		if _, err := v.CLIContext(ctx, "clear trace"); err != nil {
			return nil, err
		}
		if _, err := v.CLIContext(ctx, fmt.Sprintf("trace add pg-input %d", o.Trace)); err != nil {
			return nil, err
		}
	}
	stream := fmt.Sprintf("s%d", v.seq.Add(1))
	if _, err := v.CLIContext(ctx, fmt.Sprintf("packet-generator new pcap %s source %s name %s", inFile, in.Name, stream)); err != nil {
		return nil, err
	}
	if _, err := v.CLIContext(ctx, "packet-generator enable-stream "+stream); err != nil {
		return nil, err
	}
	if err := v.waitPG(ctx); err != nil {
		return nil, err
	}
	for o.Await != nil && !o.Await() {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("packets still in flight after the stream ended: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	if _, err := v.CLIContext(ctx, "packet-generator delete "+stream); err != nil {
		return nil, err
	}
	c := Capture{}
	for _, pg := range v.pgs {
		if _, err := v.CLIContext(ctx, fmt.Sprintf("packet-generator capture %s disable", pg.Name)); err != nil {
			return nil, err
		}
		pkts, err := readPcap(outFiles[pg])
		if err != nil {
			return nil, fmt.Errorf("capture of %s: %w", pg.Name, err)
		}
		if len(pkts) > 0 {
			c[pg] = pkts
		}
	}
	return c, nil
}

// waitPG waits until no stream is enabled any more.
func (v *VPP) waitPG(ctx context.Context) error {
	for {
		out, err := v.CLIContext(ctx, "show packet-generator")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "Yes") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("packet-generator still running: %w\n%s", ctx.Err(), out)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func writePcap(name string, frames [][]byte) error {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("pcap header: %w", err)
	}
	now := time.Now()
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			return fmt.Errorf("pcap packet: %w", err)
		}
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// readPcap reads a capture; a missing file means nothing was captured.
// IPv6 router/neighbor discovery and MLD packets are filtered out, as VPP's
// Python framework does.
func readPcap(name string) ([]gopacket.Packet, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	var pkts []gopacket.Packet
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		if isIPv6Misc(data) {
			continue
		}
		pkts = append(pkts, gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default))
	}
	return pkts, nil
}

// isIPv6Misc: ICMPv6 RS/RA/NS/NA/redirect and MLD, directly or after a
// hop-by-hop options header (MLD reports carry one).
func isIPv6Misc(f []byte) bool {
	if len(f) < 14+40+1 || f[12] != 0x86 || f[13] != 0xdd {
		return false
	}
	nh, off := f[14+6], 14+40
	if nh == 0 && len(f) >= off+2 { // hop-by-hop options
		nh, off = f[off], off+(int(f[off+1])+1)*8
	}
	if nh != 58 || len(f) <= off {
		return false
	}
	switch f[off] {
	case 130, 131, 132, 133, 134, 135, 136, 137, 143:
		return true
	}
	return false
}

// Frames builds Ethernet frames, failing the test on a bad description.
func Frames(t testing.TB, pkts ...Pkt) [][]byte {
	t.Helper()
	out := make([][]byte, 0, len(pkts))
	for _, p := range pkts {
		f, err := p.Frame()
		if err != nil {
			t.Fatalf("build packet: %v", err)
		}
		out = append(out, f)
	}
	return out
}

// SendAndExpect sends pkts into in and expects exactly len(pkts) packets out
// of out and nothing out of any other pg interface. It returns them parsed,
// in order. Checksums of every captured packet are validated.
func (v *VPP) SendAndExpect(t testing.TB, in *PG, pkts []Pkt, out *PG, opts ...SendOptions) []*Parsed {
	t.Helper()
	return v.SendAndExpectN(t, in, pkts, out, len(pkts), opts...)
}

// SendAndExpectN is SendAndExpect expecting n packets.
func (v *VPP) SendAndExpectN(t testing.TB, in *PG, pkts []Pkt, out *PG, n int, opts ...SendOptions) []*Parsed {
	t.Helper()
	c := v.Send(t, in, Frames(t, pkts...), opts...)
	got := c[out]
	if len(got) != n {
		t.Fatalf("sent %d packet(s) into %s (first: %s): want %d out of %s, got %d; captured:\n%s%s",
			len(pkts), in.Name, describePkt(pkts), n, out.Name, len(got), c, v.dropHint())
	}
	for pg, ps := range c {
		if pg != out {
			t.Errorf("sent into %s: unexpected %d packet(s) out of %s:\n%s", in.Name, len(ps), pg.Name, c)
		}
	}
	return ParseAll(t, got)
}

// SendAndExpectNone sends pkts and expects nothing out of the given pg
// interfaces (all of them when none are given).
func (v *VPP) SendAndExpectNone(t testing.TB, in *PG, pkts []Pkt, outs ...*PG) {
	t.Helper()
	c := v.Send(t, in, Frames(t, pkts...))
	if len(outs) == 0 {
		outs = v.pgs
	}
	for _, pg := range outs {
		if n := len(c[pg]); n > 0 {
			t.Errorf("sent %d packet(s) into %s (first: %s): want none out of %s, got %d:\n%s",
				len(pkts), in.Name, describePkt(pkts), pg.Name, n, c)
		}
	}
}

func describePkt(pkts []Pkt) string {
	if len(pkts) == 0 {
		return "none"
	}
	b, err := pkts[0].IP()
	if err != nil {
		return err.Error()
	}
	p, err := ParseIP(b)
	if err != nil {
		return err.Error()
	}
	return p.String()
}

func (v *VPP) dropHint() string {
	out, err := v.CLI("show errors")
	if err != nil {
		return ""
	}
	return "show errors:\n" + out
}

// ParseAll parses captured packets, failing the test on undecodable ones.
func ParseAll(t testing.TB, pkts []gopacket.Packet) []*Parsed {
	t.Helper()
	out := make([]*Parsed, 0, len(pkts))
	for _, pkt := range pkts {
		p, err := Parse(pkt)
		if err != nil {
			t.Fatalf("captured packet does not parse: %v\n%s", err, pkt.Dump())
		}
		out = append(out, p)
	}
	return out
}

// ShowTrace returns "show trace" output.
func (v *VPP) ShowTrace(t testing.TB) string {
	t.Helper()
	return v.MustCLI(t, "show trace")
}
