package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/cloudnat/cloudnat/agent/internal/blocklog"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/store"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func cgnat() *pb.Pool {
	return &pb.Pool{Name: "cgnat", Ranges: []string{"198.51.100.0/30", "203.0.113.10-203.0.113.12"}, BlockSize: 512, MaxBlocksPerSubscriber: 2}
}

func bind(vrf uint32, prefix string) *pb.CreatePoolBindingRequest {
	return &pb.CreatePoolBindingRequest{Binding: &pb.PoolBinding{Vrf: vrf, Prefix: prefix, Pool: "cgnat"}}
}

func TestPoolLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e := newEnv(t, withPath(path))
	ps := pb.NewPoolServiceClient(e.conn)
	e.dp.SetVRFs(0, 1, 2)

	resp, err := ps.CreatePool(ctx(), &pb.CreatePoolRequest{Pool: cgnat()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED || resp.GetPool().GetPortMin() != 1024 || resp.GetPool().GetReuseDelay().AsDuration() != 2*time.Minute {
		t.Fatalf("create %v", resp)
	}
	_, err = ps.CreatePool(ctx(), &pb.CreatePoolRequest{Pool: cgnat()})
	wantCode(t, err, codes.AlreadyExists, "pool cgnat already exists")
	bad := cgnat()
	bad.BlockSize = 300
	_, err = ps.CreatePool(ctx(), &pb.CreatePoolRequest{Pool: bad})
	wantCode(t, err, codes.InvalidArgument, "pool.block_size: 300 is not a power of two")
	novrf := cgnat()
	novrf.Name, novrf.OutsideVrf = "far", 9
	_, err = ps.CreatePool(ctx(), &pb.CreatePoolRequest{Pool: novrf})
	wantCode(t, err, codes.FailedPrecondition, "outside vrf 9 does not exist")
	_, err = ps.UpdatePool(ctx(), &pb.UpdatePoolRequest{Pool: &pb.Pool{Name: "nope", Ranges: []string{"10.0.0.1"}}})
	wantCode(t, err, codes.NotFound, "pool nope not found")

	if _, err := ps.CreatePoolBinding(ctx(), bind(1, "100.64.0.0/10")); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.CreatePoolBinding(ctx(), bind(1, "100.64.0.0/10")); err != nil {
		t.Fatalf("binding again (idempotent): %v", err)
	}
	_, err = ps.CreatePoolBinding(ctx(), bind(1, "100.64.1.0/24"))
	wantCode(t, err, codes.FailedPrecondition, "binding vrf 1 100.64.1.0/24 overlaps the binding vrf 1 100.64.0.0/10 (pool cgnat) of the same vrf")
	if _, err := ps.CreatePoolBinding(ctx(), bind(2, "100.64.0.0/10")); err != nil {
		t.Fatal(err)
	}
	_, err = ps.CreatePoolBinding(ctx(), &pb.CreatePoolBindingRequest{Binding: &pb.PoolBinding{Vrf: 3, Prefix: "10.0.0.0/8", Pool: "nope"}})
	wantCode(t, err, codes.FailedPrecondition, "pool nope does not exist")
	_, err = ps.DeletePool(ctx(), &pb.DeletePoolRequest{Name: "cgnat"})
	wantCode(t, err, codes.FailedPrecondition, "pool cgnat is bound by vrf 1 100.64.0.0/10, vrf 2 100.64.0.0/10: unbind first")

	bl, err := ps.ListPoolBindings(ctx(), &pb.ListPoolBindingsRequest{Vrf: u32(2)})
	if err != nil || len(bl.GetBindings()) != 1 || bl.GetBindings()[0].GetPrefix() != "100.64.0.0/10" || bl.GetBindings()[0].GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("bindings %v, %v", bl, err)
	}

	sb := &pb.StaticBlock{Pool: "cgnat", Vrf: 1, InsideAddr: "100.64.0.1", OutsideAddr: "198.51.100.1", PortStart: 1536}
	if _, err := ps.CreateStaticBlock(ctx(), &pb.StaticBlockRequest{Block: sb}); err != nil {
		t.Fatal(err)
	}
	badBlock := &pb.StaticBlock{Pool: "cgnat", Vrf: 1, InsideAddr: "100.64.0.2", OutsideAddr: "198.51.100.1", PortStart: 1500}
	_, err = ps.CreateStaticBlock(ctx(), &pb.StaticBlockRequest{Block: badBlock})
	wantCode(t, err, codes.FailedPrecondition, "port 1500 does not start a block")
	if sl, err := ps.ListStaticBlocks(ctx(), &pb.ListStaticBlocksRequest{}); err != nil || len(sl.GetBlocks()) != 1 {
		t.Fatalf("static blocks %v, %v", sl, err)
	}

	e.dp.SetPoolCounters("cgnat", model.PoolCounters{Subscribers: 1, Blocks: 882, BlocksUsed: 2})
	e.dp.SetSubscribers([]model.Subscriber{{Pool: "cgnat", VRF: 1, InsideAddr: addr("100.64.0.1"), OutsideAddr: addr("198.51.100.1"),
		Sessions: 2, PortsInUse: 2, Blocks: []model.PortBlock{{Start: 1536, End: 2047, Static: true}}}})
	g, err := ps.GetPool(ctx(), &pb.GetPoolRequest{Name: "cgnat"})
	if err != nil || g.GetCounters().GetBlocks() != 882 || len(g.GetPool().GetRanges()) != 2 {
		t.Fatalf("get %v, %v", g, err)
	}
	subs, err := ps.ListSubscribers(ctx(), &pb.ListSubscribersRequest{Vrf: u32(1)})
	if err != nil || len(subs.GetSubscribers()) != 1 || subs.GetSubscribers()[0].GetPublicAddr() != "198.51.100.1" || !subs.GetSubscribers()[0].GetBlocks()[0].GetStatic() {
		t.Fatalf("subscribers %v, %v", subs, err)
	}
	if subs, _ := ps.ListSubscribers(ctx(), &pb.ListSubscribersRequest{Vrf: u32(2)}); len(subs.GetSubscribers()) != 0 {
		t.Fatalf("vrf 2 subscribers %v", subs)
	}
	_, err = ps.DeletePool(ctx(), &pb.DeletePoolRequest{Name: "nope"})
	wantCode(t, err, codes.NotFound, "pool nope not found")

	// A new agent on the same state and an empty dataplane puts it all back.
	dp := fakedp.New()
	newEnv(t, withPath(path), withDP(dp))
	if s := dp.PoolSnapshot(); len(s.Pools) != 1 || len(s.PoolBindings) != 2 || len(s.StaticBlocks) != 1 {
		t.Fatalf("dataplane after an agent restart %+v", s)
	}

	// Tear down in order: the pool goes once nothing uses it.
	if _, err := ps.DeleteStaticBlock(ctx(), &pb.StaticBlockRequest{Block: sb}); err != nil {
		t.Fatal(err)
	}
	for _, vrf := range []uint32{1, 2} {
		if _, err := ps.DeletePoolBinding(ctx(), &pb.DeletePoolBindingRequest{Vrf: vrf, Prefix: "100.64.0.0/10"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ps.DeletePool(ctx(), &pb.DeletePoolRequest{Name: "cgnat"}); err != nil {
		t.Fatal(err)
	}
	if s := e.dp.PoolSnapshot(); len(s.Pools)+len(s.PoolBindings)+len(s.StaticBlocks) != 0 {
		t.Fatalf("dataplane after the teardown %+v", s)
	}
}

func TestPoolUnsupportedRollsBack(t *testing.T) {
	e := newEnv(t)
	e.dp.SetFail(func(op string, _ any) error {
		if op == fakedp.OpPutPool {
			return fmt.Errorf("pools are not supported by the kernel dataplane yet: %w", dataplane.ErrUnsupported)
		}
		return nil
	})
	_, err := pb.NewPoolServiceClient(e.conn).CreatePool(ctx(), &pb.CreatePoolRequest{Pool: cgnat()})
	wantCode(t, err, codes.FailedPrecondition, "pools are not supported by the kernel dataplane yet")
	if d := e.st.Get(); len(d.Pools) != 0 {
		t.Fatalf("intent kept the refused pool: %+v", d.Pools)
	}
}

func TestStreamBlockLog(t *testing.T) {
	dp := fakedp.New()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec := reconcile.New(dp, st, reconcile.Options{})
	hub := blocklog.New(dp, blocklog.Options{MinBackoff: 10 * time.Millisecond})
	hctx, stop := context.WithCancel(ctx())
	defer stop()
	go hub.Run(hctx)
	g, _ := NewGRPC(New(Config{Store: st, Reconciler: rec, Dataplane: dp}), GRPCOptions{BlockLog: hub})
	lis := bufconn.Listen(1 << 20)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx, cancel := context.WithTimeout(ctx(), 10*time.Second)
	defer cancel()
	stream, err := pb.NewPoolServiceClient(conn).StreamBlockLog(sctx, &pb.StreamBlockLogRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *pb.BlockLogRecord, 1)
	go func() {
		r, err := stream.Recv()
		if err == nil {
			got <- r
		}
	}()
	r := model.BlockLogRecord{Time: time.Unix(1700000000, 0), Alloc: true, Pool: "cgnat", VRF: 2,
		InsideAddr: addr("100.64.0.1"), OutsideAddr: addr("198.51.100.2"), PortStart: 1024, PortEnd: 1535, Lost: 1}
	for {
		dp.EmitBlockLog(r) // until the stream has subscribed
		select {
		case m := <-got:
			if m.GetPool() != "cgnat" || m.GetVrf() != 2 || m.GetPublicAddr() != "198.51.100.2" || m.GetPortEnd() != 1535 ||
				!m.GetAlloc() || m.GetLost() != 1 || m.GetTime().AsTime().Unix() != 1700000000 {
				t.Fatalf("record %v", m)
			}
			return
		case <-sctx.Done():
			t.Fatal("no record arrived")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
