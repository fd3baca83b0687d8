package reconcile

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/natgw"
	"github.com/cloudnat/cloudnat/agent/internal/natgw/natgwdp"
)

func staticNAT(vrf uint32, in string, ovrf uint32, out string) model.StaticNAT {
	return model.StaticNAT{InsideVRF: vrf, Inside: netip.MustParsePrefix(in), OutsideVRF: ovrf, Outside: netip.MustParsePrefix(out)}
}

func TestStaticNATSyncCRUD(t *testing.T) {
	ctx := context.Background()
	dp := fakedp.New()
	port := staticNAT(1, "10.1.0.6/32", 2, "172.16.0.6/32")
	port.Proto, port.InsidePort, port.OutsidePort = model.ProtoTCP, 80, 8080
	src := &memSource{d: model.Desired{StaticNATs: []model.StaticNAT{staticNAT(1, "10.1.0.0/30", 2, "172.16.0.0/30"), port}}}
	r := New(dp, src, Options{})
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := dp.StaticNATSnapshot(); len(got) != 2 || got[0] != src.d.StaticNATs[0] || got[1] != port {
		t.Fatalf("dataplane holds %v", got)
	}
	dp.ResetCalls()
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := dp.Calls(fakedp.OpPutStaticNAT) + dp.Calls(fakedp.OpDeleteStaticNAT); n != 0 {
		t.Errorf("%d static NAT calls on an in-sync dataplane", n)
	}
	// Changed outside: replaced in place (same key).
	src.set(func(d *model.Desired) { d.StaticNATs[0].Outside = netip.MustParsePrefix("172.16.1.0/30") })
	if res := r.Sync(ctx, StaticNATID(src.d.StaticNATs[0].Key())); res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := dp.StaticNATSnapshot(); got[0].Outside.String() != "172.16.1.0/30" {
		t.Fatalf("not replaced: %v", got)
	}
	// Deleted.
	src.set(func(d *model.Desired) { d.StaticNATs = d.StaticNATs[1:] })
	if res := r.Sync(ctx, StaticNATID(staticNAT(1, "10.1.0.0/30", 0, "0.0.0.0/30").Key())); res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := dp.StaticNATSnapshot(); len(got) != 1 || got[0] != port {
		t.Fatalf("after delete: %v", got)
	}
}

func TestStaticNATPlanOrder(t *testing.T) {
	d := poolDesired()
	d.StaticNATs = []model.StaticNAT{staticNAT(3, "10.0.0.1/32", 0, "198.51.100.200/32")}
	got := opStrings(Diff(IndexDesired(&d), NewState()))
	if got[len(got)-1] != "put static-nat vrf 3 10.0.0.1/32" {
		t.Errorf("static NAT not put last: %q", got)
	}
	got = opStrings(Diff(NewState(), IndexDesired(&d)))
	if got[0] != "delete static-nat vrf 3 10.0.0.1/32" {
		t.Errorf("static NAT not deleted first: %q", got)
	}
}

// noStatic is a dataplane without static NAT (e.g. the kernel's).
type noStatic struct{ dataplane.Dataplane }

func TestStaticNATUnsupported(t *testing.T) {
	ctx := context.Background()
	src := &memSource{d: model.Desired{StaticNATs: []model.StaticNAT{staticNAT(1, "10.1.0.5/32", 2, "172.16.0.5/32")}}}
	r := New(noStatic{fakedp.New()}, src, Options{})
	err := r.SyncAll(ctx)
	if !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("SyncAll = %v, want unsupported", err)
	}
}

func ptr[T any](v T) *T { return &v }

// gatewayState is a gateway of network 1 with ports for 2 interfaces
// labelled app=web: a and b are members, c has a virtual IP.
func gatewayState(t *testing.T) natgw.State {
	t.Helper()
	web := map[string]string{"app": "web"}
	nics := []natgw.NetworkInterface{
		{Name: "a", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}},
		{Name: "b", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}},
		{Name: "c", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.3")},
			VirtualIP: ptr(netip.MustParseAddr("203.0.113.3"))},
	}
	g := natgw.NATGateway{
		Name: "gw", Type: natgw.TypePublic, IPFamilies: []natgw.Family{natgw.IPv4}, Network: 1, PortsPerNetworkInterface: 1024,
		IPs:                      []natgw.GatewayIP{{Name: "ip1", Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}},
		NetworkInterfaceSelector: &natgw.Selector{MatchLabels: web},
	}
	var st natgw.State
	if _, err := st.Apply(nics, []natgw.NATGateway{g}); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestNATGatewayProgrammed(t *testing.T) {
	ctx := context.Background()
	dp := fakedp.New()
	src := &memSource{d: model.Desired{NATGW: gatewayState(t)}}
	r := New(dp, src, Options{})
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	s := dp.PoolSnapshot()
	if len(s.Pools) != 1 || s.Pools[0].Name != "natgw.gw.v4" || s.Pools[0].MaxBlocksPerSubscriber != natgwdp.MaxBlocksPerMember ||
		s.Pools[0].BlockSize != 1024 {
		t.Fatalf("pools %+v", s.Pools)
	}
	if len(s.PoolBindings) != 2 || len(s.StaticBlocks) != 2 {
		t.Fatalf("bindings %v, static blocks %v", s.PoolBindings, s.StaticBlocks)
	}
	for i, in := range []string{"10.0.0.1", "10.0.0.2"} {
		if b := s.PoolBindings[i]; b.Prefix.String() != in+"/32" || b.VRF != 1 || b.Pool != "natgw.gw.v4" {
			t.Errorf("binding %d = %v", i, b)
		}
		if b := s.StaticBlocks[i]; b.InsideAddr.String() != in || b.OutsideAddr.String() != "192.0.2.1" {
			t.Errorf("block %d = %v", i, b)
		}
	}
	if s.StaticBlocks[0].PortStart == s.StaticBlocks[1].PortStart {
		t.Errorf("members share a block: %v", s.StaticBlocks)
	}
	want := staticNAT(1, "10.0.0.3/32", 0, "203.0.113.3/32")
	if got := dp.StaticNATSnapshot(); len(got) != 1 || got[0] != want {
		t.Fatalf("static NAT %v, want %v", got, want)
	}
	kept := s.StaticBlocks[0]

	// A restart reprograms the same blocks.
	dp.Restart()
	r.Invalidate()
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if again := dp.PoolSnapshot(); !slices.Equal(again.StaticBlocks, s.StaticBlocks) {
		t.Fatalf("after restart %v, before %v", again.StaticBlocks, s.StaticBlocks)
	}

	// b is labelled out: its binding and block go (drained), a keeps its
	// block; a targeted sync of the derived changes does it.
	old := src.d.NATGW.Clone()
	var ids []ID
	src.set(func(d *model.Desired) {
		b := d.NATGW.Interfaces[d.NATGW.Interface("b")]
		b.Labels = map[string]string{"app": "db"}
		if _, err := d.NATGW.PutInterface(b); err != nil {
			t.Fatal(err)
		}
		ids = DerivedChanges(&old, &d.NATGW)
	})
	if len(ids) != 2 {
		t.Fatalf("derived changes %v, want b's binding and block", ids)
	}
	if res := r.Sync(ctx, ids...); res.Err != nil {
		t.Fatal(res.Err)
	}
	s = dp.PoolSnapshot()
	if len(s.PoolBindings) != 1 || len(s.StaticBlocks) != 1 || s.StaticBlocks[0] != kept {
		t.Fatalf("after relabel: bindings %v, blocks %v (kept %v)", s.PoolBindings, s.StaticBlocks, kept)
	}

	// The gateway deleted: everything derived goes, pool last.
	old = src.d.NATGW.Clone()
	src.set(func(d *model.Desired) {
		d.NATGW.DeleteGateway("gw")
		d.NATGW.DeleteInterface("c")
		ids = DerivedChanges(&old, &d.NATGW)
	})
	if res := r.Sync(ctx, ids...); res.Err != nil {
		t.Fatal(res.Err)
	}
	if s = dp.PoolSnapshot(); len(s.Pools)+len(s.PoolBindings)+len(s.StaticBlocks)+len(dp.StaticNATSnapshot()) != 0 {
		t.Fatalf("left behind: %+v %v", s, dp.StaticNATSnapshot())
	}
}
