package server

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func TestStaticNATLifecycle(t *testing.T) {
	e := newEnv(t)
	c := pb.NewStaticNATServiceClient(e.conn)
	m := &pb.StaticNAT{InsideVrf: 1, Inside: "10.1.0.5", OutsideVrf: 2, Outside: "172.16.0.5/32"}
	resp, err := c.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: m})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED || resp.GetStaticNat().GetInside() != "10.1.0.5/32" {
		t.Fatalf("create %v", resp)
	}
	if got := e.dp.StaticNATSnapshot(); len(got) != 1 || got[0].Outside.String() != "172.16.0.5/32" {
		t.Fatalf("dataplane %v", got)
	}
	if _, err := c.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: m}); err != nil {
		t.Fatalf("the same mapping again: %v", err)
	}
	other := &pb.StaticNAT{InsideVrf: 1, Inside: "10.1.0.5", OutsideVrf: 2, Outside: "172.16.0.6"}
	_, err = c.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: other})
	wantCode(t, err, codes.AlreadyExists, "static nat vrf 1 10.1.0.5/32 already exists")
	clash := &pb.StaticNAT{InsideVrf: 1, Inside: "10.1.0.6", OutsideVrf: 2, Outside: "172.16.0.5"}
	_, err = c.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: clash})
	wantCode(t, err, codes.FailedPrecondition, "outside 172.16.0.5/32 is already claimed by the static nat vrf 1 10.1.0.5/32")
	_, err = c.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: &pb.StaticNAT{Inside: "10.0.0.0/24", Outside: "172.16.0.0/25"}})
	wantCode(t, err, codes.InvalidArgument, "not as long as")

	// A pool binding of the inside: refused, nothing stored.
	ps := pb.NewPoolServiceClient(e.conn)
	if _, err := ps.CreatePool(ctx(), &pb.CreatePoolRequest{Pool: cgnat()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.CreatePoolBinding(ctx(), bind(3, "100.64.0.0/10")); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: &pb.StaticNAT{InsideVrf: 3, Inside: "100.64.0.1", Outside: "172.16.9.9"}})
	wantCode(t, err, codes.FailedPrecondition, "overlaps the binding vrf 3 100.64.0.0/10")

	// A translation VIP inside a mapping's outside prefix is refused.
	_, err = e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: &pb.Translation{
		Vrf: 2, Vip: "172.16.0.5", Port: 80, Proto: pb.Protocol_PROTOCOL_TCP, Backends: []*pb.Backend{{DstAddr: "10.9.9.9"}}}})
	wantCode(t, err, codes.FailedPrecondition, "is the outside of the static nat vrf 1 10.1.0.5/32")

	key := &pb.StaticNATKey{InsideVrf: 1, Inside: "10.1.0.5/32"}
	g, err := c.GetStaticNAT(ctx(), &pb.GetStaticNATRequest{Key: key})
	if err != nil || g.GetStaticNat().GetOutside() != "172.16.0.5/32" || g.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("get %v, %v", g, err)
	}
	l, err := c.ListStaticNATs(ctx(), &pb.ListStaticNATsRequest{})
	if err != nil || len(l.GetStaticNats()) != 1 {
		t.Fatalf("list %v, %v", l, err)
	}
	if _, err := c.DeleteStaticNAT(ctx(), &pb.DeleteStaticNATRequest{Key: key}); err != nil {
		t.Fatal(err)
	}
	if got := e.dp.StaticNATSnapshot(); len(got) != 0 {
		t.Fatalf("after delete %v", got)
	}
	_, err = c.DeleteStaticNAT(ctx(), &pb.DeleteStaticNATRequest{Key: key})
	wantCode(t, err, codes.NotFound, "not found")
	if _, err := c.DeleteStaticNAT(ctx(), &pb.DeleteStaticNATRequest{Key: key, AllowMissing: true}); err != nil {
		t.Fatal(err)
	}
}

// TestStaticNATUnsupportedRollsBack: a dataplane without static NAT (the
// kernel's) refuses the mapping; nothing stays stored.
func TestStaticNATUnsupportedRollsBack(t *testing.T) {
	e := newEnv(t, func(c *envConfig) {
		c.wrap = func(dp *fakedp.DP) dataplane.Dataplane { return struct{ dataplane.Dataplane }{dp} }
	})
	c := pb.NewStaticNATServiceClient(e.conn)
	_, err := c.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: &pb.StaticNAT{Inside: "10.1.0.5", Outside: "172.16.0.5"}})
	wantCode(t, err, codes.FailedPrecondition, "not supported")
	if l, _ := c.ListStaticNATs(ctx(), &pb.ListStaticNATsRequest{}); len(l.GetStaticNats()) != 0 {
		t.Fatalf("stored after refusal: %v", l)
	}
}

// TestNATGatewayProgramsDataplane: a gateway with three interfaces, one
// with a virtual IP, becomes a pool, two bindings and static blocks and
// one static mapping; a static mapping claiming the VIP is refused.
func TestNATGatewayProgramsDataplane(t *testing.T) {
	e := newEnv(t)
	c := natgwClient(e)
	gw := testGateway()
	gw.IpFamilies, gw.Ips[0].Addresses = []string{"IPv4"}, []string{"192.0.2.1"}
	if _, err := c.CreateNATGateway(ctx(), &pb.CreateNATGatewayRequest{Gateway: gw}); err != nil {
		t.Fatal(err)
	}
	web := map[string]string{"app": "web"}
	vip := testNIC("c", "10.0.0.3", web)
	vip.VirtualIp = "203.0.113.3"
	for _, n := range []*pb.NetworkInterface{testNIC("a", "10.0.0.1", web), testNIC("b", "10.0.0.2", web), vip} {
		if _, err := c.CreateNetworkInterface(ctx(), &pb.CreateNetworkInterfaceRequest{Interface: n}); err != nil {
			t.Fatal(err)
		}
	}
	s := e.dp.PoolSnapshot()
	if len(s.Pools) != 1 || len(s.PoolBindings) != 2 || len(s.StaticBlocks) != 2 {
		t.Fatalf("dataplane %+v", s)
	}
	if got := e.dp.StaticNATSnapshot(); len(got) != 1 || got[0].Outside.String() != "203.0.113.3/32" {
		t.Fatalf("static NAT %v", got)
	}
	sc := pb.NewStaticNATServiceClient(e.conn)
	_, err := sc.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: &pb.StaticNAT{InsideVrf: 5, Inside: "10.5.0.1", Outside: "203.0.113.3"}})
	wantCode(t, err, codes.FailedPrecondition, "NAT gateway's virtual IP")
	_, err = sc.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: &pb.StaticNAT{InsideVrf: 5, Inside: "10.5.0.1", Outside: "192.0.2.1"}})
	wantCode(t, err, codes.FailedPrecondition, "pool natgw.gw.v4")

	// Deleting the gateway removes its pool, bindings and blocks.
	if _, err := c.DeleteNATGateway(ctx(), &pb.DeleteNATGatewayRequest{Name: "gw"}); err != nil {
		t.Fatal(err)
	}
	if s := e.dp.PoolSnapshot(); len(s.Pools)+len(s.PoolBindings)+len(s.StaticBlocks) != 0 {
		t.Fatalf("left behind %+v", s)
	}
}

// TestNATGatewayRefusesUserClaims: the other way round from
// TestNATGatewayProgramsDataplane: a gateway or interface whose derived
// objects would overlap the user's static mapping, pool or binding is
// refused with FAILED_PRECONDITION naming both, and nothing is stored.
func TestNATGatewayRefusesUserClaims(t *testing.T) {
	e := newEnv(t)
	c := natgwClient(e)
	sc := pb.NewStaticNATServiceClient(e.conn)
	pc := pb.NewPoolServiceClient(e.conn)
	if _, err := sc.CreateStaticNAT(ctx(), &pb.CreateStaticNATRequest{StaticNat: &pb.StaticNAT{InsideVrf: 5, Inside: "10.5.0.1", Outside: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	gw := testGateway()
	gw.IpFamilies, gw.Ips[0].Addresses = []string{"IPv4"}, []string{"192.0.2.1"}
	_, err := c.CreateNATGateway(ctx(), &pb.CreateNATGatewayRequest{Gateway: gw})
	wantCode(t, err, codes.FailedPrecondition, "is the outside of the static nat")
	if _, err := c.GetNATGateway(ctx(), &pb.GetNATGatewayRequest{Name: "gw"}); status.Code(err) != codes.NotFound {
		t.Fatalf("refused gateway stored: %v", err)
	}

	gw.Ips[0].Addresses = []string{"192.0.2.9"}
	if _, err := c.CreateNATGateway(ctx(), &pb.CreateNATGatewayRequest{Gateway: gw}); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.CreatePool(ctx(), &pb.CreatePoolRequest{Pool: &pb.Pool{Name: "cgn", Ranges: []string{"198.51.100.1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.CreatePoolBinding(ctx(), &pb.CreatePoolBindingRequest{Binding: &pb.PoolBinding{Vrf: 1, Prefix: "10.0.0.0/24", Pool: "cgn"}}); err != nil {
		t.Fatal(err)
	}
	// a member inside the user's binding of the network
	_, err = c.CreateNetworkInterface(ctx(), &pb.CreateNetworkInterfaceRequest{Interface: testNIC("a", "10.0.0.1", map[string]string{"app": "web"})})
	wantCode(t, err, codes.FailedPrecondition, "is inside the binding vrf 1 10.0.0.0/24")
	// a gateway address in the user's pool
	gw.Ips[0].Addresses = []string{"198.51.100.1"}
	_, err = c.UpdateNATGateway(ctx(), &pb.UpdateNATGatewayRequest{Gateway: gw})
	wantCode(t, err, codes.FailedPrecondition, "is in the range 198.51.100.1")
}
