package vpptest_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/server"
	"github.com/cloudnat/cloudnat/agent/internal/store"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
	agenttest "github.com/cloudnat/cloudnat/test/agent"
	"github.com/cloudnat/cloudnat/test/vppharness"
)

// TestPoolsThroughTheAgent creates a pool, two bindings (the same shared
// prefix in two tables) and a static block through the agent's
// PoolService on the VPP dataplane, lists them back from VPP, checks a
// resync changes nothing and that the refusals reach the caller, then
// tears everything down in order.
func TestPoolsThroughTheAgent(t *testing.T) {
	r := agenttest.NewRig(t, func(v *vppharness.VPP) {
		v.Table(t, 1)
		v.Table(t, 2)
	})
	d := openDP(t, r)
	ctx := agenttest.Context(t)
	if _, err := d.ListPools(ctx); errors.Is(err, dataplane.ErrUnsupported) {
		t.Skipf("SKIP: the running plugin has no pools (cloudnat API 0.3.0): %v", err)
	}

	st, err := store.Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ops int
	rec := reconcile.New(d, st, reconcile.Options{Logger: logger(),
		Observe: func(full bool, _ time.Duration, n int, _ error) {
			if full {
				ops = n
			}
		}})
	if err := rec.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	ps := server.NewPoolServer(server.New(server.Config{Store: st, Reconciler: rec, Dataplane: d, Logger: logger()}), nil)

	pool := &pb.Pool{Name: "cgnat", Ranges: []string{"198.51.100.0/30", "203.0.113.10-203.0.113.12"}, BlockSize: 512, MaxBlocksPerSubscriber: 2}
	resp, err := ps.CreatePool(ctx, &pb.CreatePoolRequest{Pool: pool})
	if err != nil || resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("create pool: %v, %v", resp, err)
	}
	for _, vrf := range []uint32{1, 2} {
		b, err := ps.CreatePoolBinding(ctx, &pb.CreatePoolBindingRequest{Binding: &pb.PoolBinding{Vrf: vrf, Prefix: "100.64.0.0/10", Pool: "cgnat"}})
		if err != nil || b.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
			t.Fatalf("bind vrf %d: %v, %v", vrf, b, err)
		}
	}
	sb := &pb.StaticBlock{Pool: "cgnat", Vrf: 1, InsideAddr: "100.64.0.1", OutsideAddr: "198.51.100.1", PortStart: 1536}
	if b, err := ps.CreateStaticBlock(ctx, &pb.StaticBlockRequest{Block: sb}); err != nil || b.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("static block: %v, %v", b, err)
	}

	// Listed back from VPP as intended.
	pools, err := d.ListPools(ctx)
	if err != nil || len(pools) != 1 {
		t.Fatalf("ListPools: %+v, %v", pools, err)
	}
	var want model.Pool
	st.View(func(dd *model.Desired) { want = dd.Pools[0] })
	if !reconcile.EqualPools(pools[0].Pool, want) {
		t.Fatalf("VPP has pool %+v, want %+v", pools[0].Pool, want)
	}
	if pools[0].Counters.Blocks == 0 {
		t.Errorf("pool counters %+v: no blocks", pools[0].Counters)
	}
	bs, err := d.ListPoolBindings(ctx)
	if err != nil || len(bs) != 2 {
		t.Fatalf("ListPoolBindings: %+v, %v", bs, err)
	}
	for _, b := range bs {
		if b.Prefix != netip.MustParsePrefix("100.64.0.0/10") || b.Pool != "cgnat" {
			t.Errorf("binding %+v", b)
		}
	}
	if sbs, err := d.ListStaticBlocks(ctx); err != nil || len(sbs) != 1 || sbs[0].PortStart != 1536 {
		t.Fatalf("ListStaticBlocks: %+v, %v", sbs, err)
	}
	subs, err := ps.ListSubscribers(ctx, &pb.ListSubscribersRequest{Pool: "cgnat"})
	if err != nil || len(subs.GetSubscribers()) != 1 || subs.GetSubscribers()[0].GetPublicAddr() != "198.51.100.1" {
		t.Fatalf("subscribers: %v, %v", subs, err)
	}

	// In sync: a full resync changes nothing.
	if err := rec.SyncAll(ctx); err != nil || ops != 0 {
		t.Fatalf("resync: %d ops, %v", ops, err)
	}

	// Refusals.
	_, err = ps.CreatePool(ctx, &pb.CreatePoolRequest{Pool: &pb.Pool{Name: "far", OutsideVrf: 9, Ranges: []string{"192.0.2.1"}}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("pool in a missing table: %v", err)
	}
	_, err = ps.DeletePool(ctx, &pb.DeletePoolRequest{Name: "cgnat"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("delete of a bound pool: %v", err)
	}

	// The block log subscription is accepted.
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = d.WatchBlockLog(wctx, func(model.BlockLogRecord) {})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WatchBlockLog: %v", err)
	}

	// Teardown in order.
	if _, err := ps.DeleteStaticBlock(ctx, &pb.StaticBlockRequest{Block: sb}); err != nil {
		t.Fatal(err)
	}
	for _, vrf := range []uint32{1, 2} {
		if _, err := ps.DeletePoolBinding(ctx, &pb.DeletePoolBindingRequest{Vrf: vrf, Prefix: "100.64.0.0/10"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ps.DeletePool(ctx, &pb.DeletePoolRequest{Name: "cgnat"}); err != nil {
		t.Fatal(err)
	}
	if ps, err := d.ListPools(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("pools after the teardown: %+v, %v", ps, err)
	}
	if bs, err := d.ListPoolBindings(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("bindings after the teardown: %+v, %v", bs, err)
	}
	// Deleting again is not an error.
	if err := d.DeletePool(ctx, "cgnat"); err != nil {
		t.Fatal(err)
	}
}
