package vpptest_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	agenttest "github.com/cloudnat/cloudnat/test/agent"
	"github.com/cloudnat/cloudnat/test/vppharness"
)

// TestSessionsWithTraffic: sessions made by real packets (a DNAT flow and
// a source-NAT flow) are listed with filters, deleted one at a time and
// purged through the dataplane; stats count them.
func TestSessionsWithTraffic(t *testing.T) {
	var in, out *vppharness.PG
	r := agenttest.NewRig(t, func(v *vppharness.VPP) {
		in = v.NewPG(t, vppharness.PGConfig{IP4: "10.0.0.1/24", Hosts: 2})
		out = v.NewPG(t, vppharness.PGConfig{IP4: "20.0.0.254/24", Hosts: 2})
	})
	d := openDP(t, r)
	ctx := agenttest.Context(t)
	a := netip.MustParseAddr
	vip, backend := a("30.0.0.2"), out.Hosts[0].IP4
	if err := d.PutTranslation(ctx, model.Translation{Key: model.TranslationKey{VIP: vip, Port: 80, Proto: model.ProtoTCP},
		Backends: []model.Backend{{DstAddr: backend, DstPort: 8080}}}); err != nil {
		t.Fatal(err)
	}
	// DNAT flow from host 0; then source NAT on the inside interface (it
	// applies to new flows to VIPs too, so it is enabled after the DNAT
	// flow) and a SNAT flow from host 1 (UDP to a host outside).
	syn := in.From(0, false)
	syn.Dst, syn.Proto, syn.SrcPort, syn.DstPort, syn.TCPFlags = vip, vppharness.TCP, 40000, 80, vppharness.SYN
	r.VPP.SendAndExpect(t, in, []vppharness.Pkt{syn}, out)
	if err := d.PutSNATAddress(ctx, model.SNATAddress{Addr: a("20.0.0.100")}); err != nil {
		t.Fatal(err)
	}
	if err := d.PutSNATInterface(ctx, model.SNATInterface{Interface: in.Name, Family: model.IPv4}); err != nil {
		t.Fatal(err)
	}
	udp := in.From(1, false)
	udp.Dst, udp.Proto, udp.SrcPort, udp.DstPort = out.Hosts[1].IP4, vppharness.UDP, 5000, 53
	got := r.VPP.SendAndExpect(t, in, []vppharness.Pkt{udp}, out)
	if got[0].Src != a("20.0.0.100") {
		t.Errorf("SNAT source = %v, want 20.0.0.100", got[0].Src)
	}

	list := func(f model.SessionFilter) []model.Session {
		t.Helper()
		var ss []model.Session
		if err := d.ListSessions(ctx, f, func(s model.Session) error { ss = append(ss, s); return nil }); err != nil {
			t.Fatal(err)
		}
		return ss
	}
	all := list(model.SessionFilter{VRF: model.AllVRFs})
	if len(all) != 2 {
		t.Fatalf("sessions = %+v, want 2", all)
	}
	for _, s := range all {
		t.Logf("session %+v", s)
		switch s.Proto {
		case model.ProtoTCP:
			if s.SNAT || s.Src != netip.AddrPortFrom(in.Hosts[0].IP4, 40000) || s.NewDst != netip.AddrPortFrom(backend, 8080) ||
				s.TCPState != model.TCPSynSent || s.ExpiresIn <= 0 || s.ExpiresIn > 240*time.Second || s.Packets != 1 {
				t.Errorf("DNAT session = %+v", s)
			}
		case model.ProtoUDP:
			if !s.SNAT || s.NewSrc.Addr() != a("20.0.0.100") || s.ExpiresIn <= 240*time.Second || s.ExpiresIn > 300*time.Second {
				t.Errorf("SNAT session = %+v", s)
			}
		default:
			t.Errorf("session %+v", s)
		}
	}
	for _, c := range []struct {
		name string
		f    model.SessionFilter
		want int
	}{
		{"vrf 0", model.SessionFilter{VRF: 0}, 2},
		{"vrf 5", model.SessionFilter{VRF: 5}, 0},
		{"tcp", model.SessionFilter{VRF: model.AllVRFs, Proto: model.ProtoTCP}, 1},
		{"udp port 53", model.SessionFilter{VRF: model.AllVRFs, Port: 53}, 1},
		{"addr of host 1", model.SessionFilter{VRF: model.AllVRFs, Addr: netip.PrefixFrom(in.Hosts[1].IP4, 32)}, 1},
		{"addr 10/8", model.SessionFilter{VRF: model.AllVRFs, Addr: netip.MustParsePrefix("10.0.0.0/8")}, 2},
		{"addr 99/8", model.SessionFilter{VRF: model.AllVRFs, Addr: netip.MustParsePrefix("99.0.0.0/8")}, 0},
	} {
		if n := len(list(c.f)); n != c.want {
			t.Errorf("filter %s: %d sessions, want %d", c.name, n, c.want)
		}
	}
	st, err := d.Stats(ctx)
	if err != nil || st.Sessions != 2 || st.Translations != 1 {
		t.Errorf("Stats = %+v, %v", st, err)
	}

	// Delete the DNAT session by its forward 5-tuple, twice.
	k := model.SessionKey{VRF: 0, Proto: model.ProtoTCP, Src: netip.AddrPortFrom(in.Hosts[0].IP4, 40000), Dst: netip.AddrPortFrom(vip, 80)}
	for i := 0; i < 2; i++ {
		if err := d.DeleteSession(ctx, k); err != nil {
			t.Fatalf("DeleteSession #%d: %v", i+1, err)
		}
	}
	if left := list(model.SessionFilter{VRF: model.AllVRFs}); len(left) != 1 || left[0].Proto != model.ProtoUDP {
		t.Errorf("after delete: %+v", left)
	}
	// Purge never touches translations.
	if n, err := d.PurgeSessions(ctx, model.AllVRFs); err != nil || n != 1 {
		t.Errorf("PurgeSessions = %d, %v; want 1", n, err)
	}
	if left := list(model.SessionFilter{VRF: model.AllVRFs}); len(left) != 0 {
		t.Errorf("after purge: %+v", left)
	}
	if ts, err := d.ListTranslations(ctx); err != nil || len(ts) != 1 {
		t.Errorf("translations after purge: %v, %v", ts, err)
	}
}
