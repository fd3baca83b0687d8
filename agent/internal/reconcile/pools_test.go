package reconcile

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func rng(first, last string) model.AddrRange {
	return model.AddrRange{First: netip.MustParseAddr(first), Last: netip.MustParseAddr(last)}
}

func poolDesired() model.Desired {
	return model.Desired{
		Pools: []model.Pool{{Name: "cgnat", Ranges: []model.AddrRange{rng("198.51.100.0", "198.51.100.3")}, BlockSize: 512}},
		PoolBindings: []model.PoolBinding{
			{VRF: 1, Prefix: p("100.64.0.0/10"), Pool: "cgnat"},
			{VRF: 2, Prefix: p("100.64.0.0/10"), Pool: "cgnat"},
		},
		StaticBlocks: []model.StaticBlock{{Pool: "cgnat", VRF: 1, InsideAddr: a("100.64.0.9"), OutsideAddr: a("198.51.100.1"), PortStart: 1024}},
	}
}

func TestEqualPools(t *testing.T) {
	base := model.Pool{Name: "x", Ranges: []model.AddrRange{rng("10.0.0.1", "10.0.0.1"), rng("10.0.1.0", "10.0.1.9")}}
	explicit := base
	explicit.PortMin, explicit.PortMax, explicit.BlockSize, explicit.MaxBlocksPerSubscriber, explicit.ReuseDelay = 1024, 65535, 256, 4, 120*time.Second
	explicit.Ranges = []model.AddrRange{base.Ranges[1], base.Ranges[0]}
	for _, tc := range []struct {
		name string
		b    func(model.Pool) model.Pool
		want bool
	}{
		{"defaults and range order do not matter", func(model.Pool) model.Pool { return explicit }, true},
		{"block size", func(p model.Pool) model.Pool { p.BlockSize = 512; return p }, false},
		{"filtering", func(p model.Pool) model.Pool { p.Filtering = model.FilterEndpoint; return p }, false},
		{"a range", func(p model.Pool) model.Pool { p.Ranges = p.Ranges[:1]; return p }, false},
		{"outside vrf", func(p model.Pool) model.Pool { p.OutsideVRF = 2; return p }, false},
		{"interface", func(p model.Pool) model.Pool { p.Interface = "eth0"; return p }, false},
	} {
		if got := EqualPools(base, tc.b(base)); got != tc.want {
			t.Errorf("%s: EqualPools = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPoolPlanOrder(t *testing.T) {
	d := poolDesired()
	d.SNATAddresses = []model.SNATAddress{{Addr: a("1.1.1.1")}}
	empty := NewState()
	want := []string{"put timeouts timeouts", "put snat-address vrf 0 1.1.1.1", "put pool cgnat", "put pool-binding vrf 1 100.64.0.0/10",
		"put pool-binding vrf 2 100.64.0.0/10", "put static-block pool cgnat vrf 1 100.64.0.9 -> 198.51.100.1 port 1024"}
	if got := opStrings(Diff(IndexDesired(&d), empty)); !slices.Equal(got, want) {
		t.Fatalf("create plan\n got %q\nwant %q", got, want)
	}
	want = []string{"delete static-block pool cgnat vrf 1 100.64.0.9 -> 198.51.100.1 port 1024", "delete pool-binding vrf 1 100.64.0.0/10",
		"delete pool-binding vrf 2 100.64.0.0/10", "delete pool cgnat", "delete snat-address vrf 0 1.1.1.1"}
	if got := opStrings(Diff(empty, IndexDesired(&d))); !slices.Equal(got, want) {
		t.Fatalf("delete plan\n got %q\nwant %q", got, want)
	}
	// A binding narrowed in its VRF: the old one goes before the new one
	// comes (they overlap), and a new pool comes before the binding moving to it.
	next := poolDesired()
	next.SNATAddresses = d.SNATAddresses
	next.Pools = append(next.Pools, model.Pool{Name: "other", Ranges: []model.AddrRange{rng("192.0.2.1", "192.0.2.1")}})
	next.PoolBindings[0] = model.PoolBinding{VRF: 1, Prefix: p("100.64.0.0/16"), Pool: "other"}
	want = []string{"put pool other", "delete pool-binding vrf 1 100.64.0.0/10", "put pool-binding vrf 1 100.64.0.0/16"}
	if got := opStrings(Diff(IndexDesired(&next), IndexDesired(&d))); !slices.Equal(got, want) {
		t.Fatalf("move plan\n got %q\nwant %q", got, want)
	}
	ids := []ID{PoolID("cgnat"), PoolBindingID(model.PoolBindingKey{VRF: 1, Prefix: p("100.64.0.0/10")})}
	want = []string{"delete pool-binding vrf 1 100.64.0.0/10", "delete pool cgnat"}
	if got := opStrings(DiffIDs(empty, IndexDesired(&d), ids)); !slices.Equal(got, want) {
		t.Fatalf("targeted plan\n got %q\nwant %q", got, want)
	}
}

func TestPoolsSyncResyncAndDelete(t *testing.T) {
	ctx := context.Background()
	dp := fakedp.New()
	src := &memSource{d: poolDesired()}
	r := New(dp, src, Options{})
	// The fake refuses a binding without its pool and a pool delete while
	// bound, as the plugin does: success proves the order.
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	checkPools(t, dp, src.d)
	dp.ResetCalls()
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{fakedp.OpPutPool, fakedp.OpPutPoolBinding, fakedp.OpPutStaticBlock, fakedp.OpDeletePool} {
		if n := dp.Calls(op); n != 0 {
			t.Errorf("%s called %d times on an in-sync dataplane", op, n)
		}
	}
	// The dataplane restarts empty: a full sync puts everything back.
	dp.Restart()
	r.Invalidate()
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	checkPools(t, dp, src.d)
	// Intent emptied: a targeted sync of every object deletes in order.
	src.set(func(d *model.Desired) { *d = model.Desired{} })
	ids := []ID{PoolID("cgnat")}
	for _, b := range poolDesired().PoolBindings {
		ids = append(ids, PoolBindingID(b.Key()))
	}
	ids = append(ids, StaticBlockID(poolDesired().StaticBlocks[0]))
	if res := r.Sync(ctx, ids...); res.Err != nil {
		t.Fatal(res.Err)
	}
	checkPools(t, dp, model.Desired{})
}

func checkPools(t *testing.T, dp *fakedp.DP, d model.Desired) {
	t.Helper()
	s := dp.PoolSnapshot()
	if ops := diffPools(IndexDesired(&d), IndexDesired(&s)); len(ops) != 0 {
		t.Fatalf("dataplane pools differ from intent: %q", opStrings(ops))
	}
}

// noPools is a dataplane without pools (an older VPP plugin).
type noPools struct{ *fakedp.DP }

func (noPools) ListPools(context.Context) ([]model.PoolStatus, error) {
	return nil, fmt.Errorf("vpp: %w", dataplane.ErrUnsupported)
}

func TestDataplaneWithoutPools(t *testing.T) {
	ctx := context.Background()
	d := fullDesired()
	r := New(noPools{fakedp.New()}, &memSource{d: d}, Options{})
	if err := r.SyncAll(ctx); err != nil {
		t.Fatalf("a dataplane without pools must still sync the rest: %v", err)
	}
}
