package vpptest_test

import (
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/natgw"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/store"
	agenttest "github.com/cloudnat/cloudnat/test/agent"
	"github.com/cloudnat/cloudnat/test/vppharness"
)

// TestStaticNATAndGatewayInVPP puts a static mapping (and a port-pair
// mapping) straight through the dataplane and lists them back, sees a
// conflicting mapping refused as address in use, then programs a NAT
// gateway of three interfaces (one with a virtual IP) through the
// reconciler and lists its pool, bindings, static blocks and static
// mapping from VPP; a second full sync changes nothing, and in particular
// leaves on the source-NAT feature the plugin turned on for the gateway's
// network (pg0 in table 1): the plugin does not list it as an SNAT
// interface, so the agent does not take it for stale intent.
func TestStaticNATAndGatewayInVPP(t *testing.T) {
	r := agenttest.NewRig(t, func(v *vppharness.VPP) {
		v.Table(t, 1)
		v.Table(t, 2)
		v.NewPG(t, vppharness.PGConfig{Table: 1, IP4: "10.0.0.254/24", Hosts: 1})
	})
	d := openDP(t, r)
	ctx := agenttest.Context(t)
	if _, err := d.ListStaticNATs(ctx); errors.Is(err, dataplane.ErrUnsupported) {
		t.Skipf("SKIP: the running plugin has no static NAT: %v", err)
	}
	pfx := netip.MustParsePrefix
	all := model.StaticNAT{InsideVRF: 1, Inside: pfx("10.1.0.0/30"), OutsideVRF: 2, Outside: pfx("172.16.0.0/30")}
	port := model.StaticNAT{InsideVRF: 1, Inside: pfx("10.1.0.9/32"), OutsideVRF: 2, Outside: pfx("172.16.0.9/32"),
		Proto: model.ProtoTCP, InsidePort: 80, OutsidePort: 8080}
	for _, s := range []model.StaticNAT{all, port} {
		if err := d.PutStaticNAT(ctx, s); err != nil {
			t.Fatalf("put %s: %v", s, err)
		}
	}
	got, err := d.ListStaticNATs(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("list: %v, %v", got, err)
	}
	for _, s := range got {
		if s != all && s != port {
			t.Errorf("VPP lists %s, not put", s)
		}
	}
	clash := model.StaticNAT{InsideVRF: 1, Inside: pfx("10.1.1.1/32"), OutsideVRF: 2, Outside: pfx("172.16.0.1/32")}
	if err := d.PutStaticNAT(ctx, clash); !errors.Is(err, dataplane.ErrAddressInUse) {
		t.Errorf("conflicting mapping: %v, want address in use", err)
	}
	for _, s := range []model.StaticNAT{all, port} {
		if err := d.DeleteStaticNAT(ctx, s.Key()); err != nil {
			t.Fatalf("delete %s: %v", s, err)
		}
	}
	if err := d.DeleteStaticNAT(ctx, all.Key()); err != nil {
		t.Fatalf("delete of an absent mapping: %v", err)
	}

	// A NAT gateway through the reconciler.
	st, err := store.Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	web := map[string]string{"app": "web"}
	vip := netip.MustParseAddr("172.16.3.3")
	nics := []natgw.NetworkInterface{
		{Name: "a", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}},
		{Name: "b", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}},
		{Name: "c", Network: 1, Labels: web, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.3")}, VirtualIP: &vip, OutsideVRF: 2},
	}
	g := natgw.NATGateway{
		Name: "gw", Type: natgw.TypePublic, IPFamilies: []natgw.Family{natgw.IPv4}, Network: 1, OutsideVRF: 2,
		PortsPerNetworkInterface: 1024, NetworkInterfaceSelector: &natgw.Selector{MatchLabels: web},
		IPs: []natgw.GatewayIP{{Name: "ip1", Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}},
	}
	if _, err := st.Update(func(dd *model.Desired) error {
		_, err := dd.NATGW.Apply(nics, []natgw.NATGateway{g})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rec := reconcile.New(d, st, reconcile.Options{Logger: logger()})
	if err := rec.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	pools, err := d.ListPools(ctx)
	if err != nil || len(pools) != 1 || pools[0].Pool.Name != "natgw.gw.v4" || pools[0].Pool.MaxBlocksPerSubscriber != 1 {
		t.Fatalf("pools %+v, %v", pools, err)
	}
	binds, err := d.ListPoolBindings(ctx)
	if err != nil || len(binds) != 2 {
		t.Fatalf("bindings %v, %v", binds, err)
	}
	blocks, err := d.ListStaticBlocks(ctx)
	if err != nil || len(blocks) != 2 || blocks[0].PortStart == blocks[1].PortStart {
		t.Fatalf("static blocks %v, %v", blocks, err)
	}
	got, err = d.ListStaticNATs(ctx)
	if want := (model.StaticNAT{InsideVRF: 1, Inside: pfx("10.0.0.3/32"), OutsideVRF: 2, Outside: pfx("172.16.3.3/32")}); err != nil ||
		len(got) != 1 || got[0] != want {
		t.Fatalf("static NAT %v, %v; want %v", got, err, want)
	}
	if ifs, err := d.ListSNATInterfaces(ctx); err != nil || len(ifs) != 0 {
		t.Errorf("SNAT interfaces %v, %v; want none (pg0's feature is the plugin's, for table 1)", ifs, err)
	}
	var ops int
	rec2 := reconcile.New(d, st, reconcile.Options{Logger: logger(), Observe: func(_ bool, _ time.Duration, n int, _ error) { ops = n }})
	if err := rec2.SyncAll(ctx); err != nil || ops != 0 {
		t.Fatalf("second full sync: %d ops, %v", ops, err)
	}
	if out, err := r.VPP.CLI("cnat show snat"); err != nil ||
		!strings.Contains(out, "pg0 ip4-cnat-snat (for its table's pools and static mappings)") {
		t.Errorf("after the second full sync, cnat show snat: %v\n%s\nwant pg0's feature on, for the table", err, out)
	}

	// Everything removed, in order.
	if _, err := st.Update(func(dd *model.Desired) error { dd.NATGW = natgw.State{}; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := rec2.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if pools, _ := d.ListPools(ctx); len(pools) != 0 {
		t.Fatalf("pools left: %+v", pools)
	}
	if got, _ := d.ListStaticNATs(ctx); len(got) != 0 {
		t.Fatalf("static NAT left: %v", got)
	}
}
