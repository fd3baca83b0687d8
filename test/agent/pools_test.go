package agenttest_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
	agenttest "github.com/cloudnat/cloudnat/test/agent"
	"github.com/cloudnat/cloudnat/test/vppharness"
)

// TestPoolsThroughTheAgentBinary: a pool and the same shared prefix bound
// in two tables are created over gRPC on the real agent; VPP shows them;
// VPP restarts empty and the agent puts them back; the pool cannot be
// deleted while bound.
func TestPoolsThroughTheAgentBinary(t *testing.T) {
	r := agenttest.NewRig(t, func(v *vppharness.VPP) {
		v.Table(t, 1)
		v.Table(t, 2)
	})
	a := agenttest.StartAgent(t, r, filepath.Join(r.Dir, "state.json"))
	a.WaitConnected(15 * time.Second)
	ctx := agenttest.Context(t)
	ps := pb.NewPoolServiceClient(a.Conn)

	pool := &pb.Pool{Name: "cgnat", Ranges: []string{"198.51.100.0/30"}, BlockSize: 512, MaxBlocksPerSubscriber: 4}
	if resp, err := ps.CreatePool(ctx, &pb.CreatePoolRequest{Pool: pool}); err != nil || resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("CreatePool: %v, %v", resp, err)
	}
	for _, vrf := range []uint32{1, 2} {
		req := &pb.CreatePoolBindingRequest{Binding: &pb.PoolBinding{Vrf: vrf, Prefix: "100.64.0.0/10", Pool: "cgnat"}}
		if resp, err := ps.CreatePoolBinding(ctx, req); err != nil || resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
			t.Fatalf("bind vrf %d: %v, %v", vrf, resp, err)
		}
	}
	check := func(when string) {
		t.Helper()
		out := r.VPP.MustCLI(t, "cnat show pool")
		if !strings.Contains(out, "cgnat") || !strings.Contains(out, "100.64.0.0/10") {
			t.Fatalf("%s: VPP's pools:\n%s", when, out)
		}
		lr, err := ps.ListPools(ctx, &pb.ListPoolsRequest{})
		if err != nil || len(lr.GetPools()) != 1 || lr.GetPools()[0].GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
			t.Fatalf("%s: ListPools %v, %v", when, lr, err)
		}
		br, err := ps.ListPoolBindings(ctx, &pb.ListPoolBindingsRequest{})
		if err != nil || len(br.GetBindings()) != 2 {
			t.Fatalf("%s: ListPoolBindings %v, %v", when, br, err)
		}
	}
	check("created")

	// a pool with endpoint-independent filtering is programmed as such
	p2p := &pb.Pool{Name: "p2p", Ranges: []string{"198.51.100.8"}, Filtering: pb.Filtering_FILTERING_ENDPOINT}
	if resp, err := ps.CreatePool(ctx, &pb.CreatePoolRequest{Pool: p2p}); err != nil || resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("CreatePool p2p (filtering endpoint): %v, %v", resp, err)
	}
	if out := r.VPP.MustCLI(t, "cnat show pool"); !strings.Contains(out, "filtering endpoint") {
		t.Fatalf("VPP's pools do not show filtering endpoint:\n%s", out)
	}
	if _, err := ps.DeletePool(ctx, &pb.DeletePoolRequest{Name: "p2p"}); err != nil {
		t.Fatal(err)
	}

	r.Restart() // VPP comes back empty
	a.WaitConnected(15 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.VPP.MustCLI(t, "cnat show pool"), "cgnat") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	check("after a VPP restart")

	if _, err := ps.DeletePool(ctx, &pb.DeletePoolRequest{Name: "cgnat"}); err == nil || !strings.Contains(err.Error(), "unbind first") {
		t.Fatalf("delete of a bound pool: %v", err)
	}
}
