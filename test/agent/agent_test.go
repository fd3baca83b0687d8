package agenttest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
	agenttest "github.com/cloudnat/cloudnat/test/agent"
	"github.com/cloudnat/cloudnat/test/vppharness"
)

func TestMain(m *testing.M) { vppharness.Main(m, "test/agent") }

func pbTranslation(vip string, port uint32, backends ...string) *pb.Translation {
	t := &pb.Translation{Vip: vip, Port: port, Proto: pb.Protocol_PROTOCOL_TCP, Kind: pb.TranslationKind_TRANSLATION_KIND_VIP}
	for _, b := range backends {
		ap := netip.MustParseAddrPort(b)
		t.Backends = append(t.Backends, &pb.Backend{DstAddr: ap.Addr().String(), DstPort: uint32(ap.Port())})
	}
	return t
}

// pbTranslations builds n translations of b backends each: VIPs 30.x.y.z
// port 80, backends 20.j.y.z:8080.
func pbTranslations(n, b int) []*pb.Translation {
	ts := make([]*pb.Translation, n)
	for i := range ts {
		vip := netip.AddrFrom4([4]byte{30, byte(i >> 16), byte(i >> 8), byte(i)})
		var bs []string
		for j := 0; j < b; j++ {
			bs = append(bs, netip.AddrPortFrom(netip.AddrFrom4([4]byte{20, byte(j), byte(i >> 8), byte(i)}), 8080).String())
		}
		ts[i] = pbTranslation(vip.String(), 80, bs...)
	}
	return ts
}

// create sends CreateTranslation for every translation, a few at a time.
func create(tb testing.TB, a *agenttest.Agent, ts []*pb.Translation) {
	tb.Helper()
	ctx := agenttest.Context(tb)
	var wg sync.WaitGroup
	errc := make(chan error, len(ts))
	work := make(chan *pb.Translation)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				r, err := a.Tr.CreateTranslation(ctx, &pb.CreateTranslationRequest{Translation: t})
				if err == nil && r.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
					err = fmt.Errorf("%s: sync %v", t.GetVip(), r.GetSync())
				}
				if err != nil {
					errc <- err
				}
			}
		}()
	}
	for _, t := range ts {
		work <- t
	}
	close(work)
	wg.Wait()
	close(errc)
	for err := range errc {
		tb.Fatalf("CreateTranslation: %v", err)
	}
}

// TestGRPCToPackets: a translation created through the gRPC API is
// programmed into VPP by the agent, and VPP translates real packets with it
// both ways; the session and counters show through the API.
func TestGRPCToPackets(t *testing.T) {
	var client, servers *vppharness.PG
	r := agenttest.NewRig(t, func(v *vppharness.VPP) {
		client = v.NewPG(t, vppharness.PGConfig{IP4: "10.0.0.1/24", Hosts: 1})
		servers = v.NewPG(t, vppharness.PGConfig{IP4: "20.0.0.254/24", Hosts: 2})
	})
	a := agenttest.StartAgent(t, r, filepath.Join(r.Dir, "state.json"))
	a.WaitConnected(15 * time.Second)
	ctx := agenttest.Context(t)

	vip := netip.MustParseAddr("30.0.0.2")
	backend := netip.AddrPortFrom(servers.Hosts[0].IP4, 8080)
	resp, err := a.Tr.CreateTranslation(ctx, &pb.CreateTranslationRequest{Translation: pbTranslation(vip.String(), 80, backend.String())})
	if err != nil {
		t.Fatalf("CreateTranslation: %v", err)
	}
	if s := resp.GetSync().GetState(); s != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("sync = %v (%s), want SYNCED", s, resp.GetSync().GetError())
	}

	c := client.Hosts[0].IP4
	syn := client.From(0, false)
	syn.Dst, syn.Proto, syn.SrcPort, syn.DstPort, syn.TCPFlags = vip, vppharness.TCP, 40000, 80, vppharness.SYN
	out := r.VPP.SendAndExpect(t, client, []vppharness.Pkt{syn}, servers)
	if p := out[0]; p.Src != c || p.SrcPort != 40000 || p.Dst != backend.Addr() || p.DstPort != backend.Port() {
		t.Fatalf("forward packet %v:%d -> %v:%d, want %v:40000 -> %v", p.Src, p.SrcPort, p.Dst, p.DstPort, c, backend)
	}
	synack := servers.From(0, false)
	synack.Dst, synack.Proto, synack.SrcPort, synack.DstPort, synack.TCPFlags = c, vppharness.TCP, 8080, 40000, vppharness.SYN|vppharness.ACK
	back := r.VPP.SendAndExpect(t, servers, []vppharness.Pkt{synack}, client)
	if p := back[0]; p.Src != vip || p.SrcPort != 80 || p.Dst != c || p.DstPort != 40000 {
		t.Fatalf("reply packet %v:%d -> %v:%d, want %v:80 -> %v:40000", p.Src, p.SrcPort, p.Dst, p.DstPort, vip, c)
	}

	st, err := a.Sess.ListSessions(ctx, &pb.ListSessionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var sessions []*pb.Session
	for {
		s, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	if len(sessions) != 1 || sessions[0].GetNewDstAddr() != backend.Addr().String() || sessions[0].GetSrcAddr() != c.String() {
		t.Errorf("sessions = %v", sessions)
	}
	sr, err := a.Status.GetStatus(ctx, &pb.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if dp := sr.GetDataplane(); !dp.GetConnected() || dp.GetKind() != "vpp" || dp.GetVersion() == "" {
		t.Errorf("status dataplane = %v", dp)
	}
	if cn := sr.GetCounters(); cn.GetTranslations() != 1 || cn.GetSessions() != 1 {
		t.Errorf("status counters = %v", cn)
	}
	t.Logf("status: %v; counters: %v", sr.GetDataplane(), sr.GetCounters())

	// Deleting through the API removes it from VPP: the flow's next new
	// connection is dropped (no translation on the VIP port).
	if _, err := a.Tr.DeleteTranslation(ctx, &pb.DeleteTranslationRequest{Key: &pb.TranslationKey{
		Vip: vip.String(), Port: 80, Proto: pb.Protocol_PROTOCOL_TCP}}); err != nil {
		t.Fatal(err)
	}
	if n, err := r.CountTranslations(ctx); err != nil || n != 0 {
		t.Errorf("VPP translations after delete: %d, %v", n, err)
	}
	syn.SrcPort = 40001
	r.VPP.SendAndExpectNone(t, client, []vppharness.Pkt{syn})
}

// TestVPPRestartResync: VPP is killed and restarted (empty) under an agent
// holding 1,000 translations; the agent notices, reconnects and reprograms
// them all, with no operator action, within 2 s of VPP being back.
func TestVPPRestartResync(t *testing.T) {
	const n = 1000
	r := agenttest.NewRig(t, nil)
	a := agenttest.StartAgent(t, r, filepath.Join(r.Dir, "state.json"))
	a.WaitConnected(15 * time.Second)
	create(t, a, pbTranslations(n, 8))
	ctx := agenttest.Context(t)
	if _, err := r.WaitTranslations(ctx, n, 30*time.Second); err != nil {
		t.Fatalf("before restart: %v", err)
	}

	r.Restart()
	seen, err := r.WaitTranslations(ctx, n, 30*time.Second)
	if err != nil {
		t.Fatalf("after restart: %v\nagent log:\n%s", err, a.LogTail(30))
	}
	took := seen.Sub(r.UpAt)
	t.Logf("%d translations of 8 backends back %v after the new VPP answered (%v after the kill)",
		n, took.Round(time.Millisecond), seen.Sub(r.KilledAt).Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("resync took %v, want under 2 s", took)
	}
	a.WaitConnected(10 * time.Second)
}

// TestAgentRestart: the agent stops, VPP loses its state meanwhile, and a
// new agent on the same state file reprograms the intent.
func TestAgentRestart(t *testing.T) {
	r := agenttest.NewRig(t, nil)
	state := filepath.Join(r.Dir, "state.json")
	a1 := agenttest.StartAgent(t, r, state)
	a1.WaitConnected(15 * time.Second)
	ctx := agenttest.Context(t)
	create(t, a1, []*pb.Translation{
		pbTranslation("30.0.0.2", 80, "20.0.0.1:8080", "20.0.0.2:8080"),
		pbTranslation("30.0.0.3", 443, "20.0.0.3:8443"),
	})
	if _, err := a1.SNAT.SetSNATAddresses(ctx, &pb.SetSNATAddressesRequest{Addrs: []string{"30.0.0.1", "30::1"}}); err != nil {
		t.Fatal(err)
	}
	a1.Kill()
	r.Restart() // VPP comes back empty while no agent runs

	a2 := agenttest.StartAgent(t, r, state)
	a2.WaitConnected(15 * time.Second)
	if n, err := r.CountTranslations(ctx); err != nil || n != 2 {
		t.Fatalf("VPP translations after agent restart: %d, %v", n, err)
	}
	lr, err := a2.Tr.ListTranslations(ctx, &pb.ListTranslationsRequest{})
	if err != nil || len(lr.GetTranslations()) != 2 {
		t.Fatalf("gRPC ListTranslations = %v, %v", lr, err)
	}
	for _, tr := range lr.GetTranslations() {
		if tr.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
			t.Errorf("%v: sync %v", tr.GetTranslation().GetVip(), tr.GetSync())
		}
	}
	sn, err := a2.SNAT.GetSNAT(ctx, &pb.GetSNATRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if out := r.VPP.MustCLI(t, "cnat show snat"); !bytes.Contains([]byte(out), []byte("30.0.0.1")) {
		t.Errorf("SNAT address not back in VPP:\n%s\n(agent: %v)", out, sn)
	}
}

// TestBadRequestsChangeNothing: invalid requests are refused (with
// INVALID_ARGUMENT, ALREADY_EXISTS or FAILED_PRECONDITION) and neither the
// state file nor VPP changes.
func TestBadRequestsChangeNothing(t *testing.T) {
	r := agenttest.NewRig(t, nil)
	state := filepath.Join(r.Dir, "state.json")
	a := agenttest.StartAgent(t, r, state)
	a.WaitConnected(15 * time.Second)
	ctx := agenttest.Context(t)
	create(t, a, []*pb.Translation{pbTranslation("30.0.0.2", 80, "20.0.0.1:8080")})
	before, _ := os.ReadFile(state)
	cliBefore := r.VPP.MustCLI(t, "cnat show translation")
	snatBefore := r.VPP.MustCLI(t, "cnat show snat")

	many := pbTranslation("30.0.0.9", 80)
	for i := 0; i < 256; i++ {
		many.Backends = append(many.Backends, &pb.Backend{DstAddr: netip.AddrFrom4([4]byte{20, 0, 1 + byte(i/200), byte(i%200 + 1)}).String(), DstPort: 80})
	}
	icmpPort := pbTranslation("30.0.0.4", 7, "20.0.0.1:0")
	icmpPort.Proto = pb.Protocol_PROTOCOL_ICMP
	tr := func(t *pb.Translation) func() error {
		return func() error {
			_, err := a.Tr.CreateTranslation(ctx, &pb.CreateTranslationRequest{Translation: t})
			return err
		}
	}
	bad := []struct {
		name string
		call func() error
	}{
		{"bad vip", tr(pbTranslation("30.0.0.300", 80, "20.0.0.1:80"))},
		{"no backends", tr(pbTranslation("30.0.0.5", 80))},
		{"mixed families", tr(pbTranslation("30.0.0.5", 80, "[2001:db8::1]:80"))},
		{"port on icmp", tr(icmpPort)},
		{"256 backends (limit 255)", tr(many)},
		{"duplicate key", tr(pbTranslation("30.0.0.2", 80, "20.0.0.7:8080"))},
		{"exclusion with host bits", func() error {
			_, err := a.SNAT.AddSNATExclusion(ctx, &pb.AddSNATExclusionRequest{Prefix: "10.0.0.1/8"})
			return err
		}},
		{"bad SNAT address", func() error {
			_, err := a.SNAT.SetSNATAddresses(ctx, &pb.SetSNATAddressesRequest{Addrs: []string{"nope"}})
			return err
		}},
	}
	for _, b := range bad {
		err := b.call()
		switch code := status.Code(err); code {
		case codes.InvalidArgument, codes.AlreadyExists, codes.FailedPrecondition:
			t.Logf("%s: %v", b.name, err)
		default:
			t.Errorf("%s: %v (code %v), want a refusal", b.name, err, code)
		}
	}
	if after, _ := os.ReadFile(state); !bytes.Equal(before, after) {
		t.Errorf("state file changed:\nbefore %s\nafter  %s", before, after)
	}
	if after := r.VPP.MustCLI(t, "cnat show translation"); after != cliBefore {
		t.Errorf("VPP translations changed:\nbefore\n%s\nafter\n%s", cliBefore, after)
	}
	if after := r.VPP.MustCLI(t, "cnat show snat"); after != snatBefore {
		t.Errorf("VPP SNAT changed:\nbefore\n%s\nafter\n%s", snatBefore, after)
	}

}
