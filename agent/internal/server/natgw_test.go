package server

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func natgwClient(e *env) pb.NATGatewayServiceClient { return pb.NewNATGatewayServiceClient(e.conn) }

func testGateway() *pb.NATGateway {
	return &pb.NATGateway{
		Name: "gw", IpFamilies: []string{"IPv4", "IPv6"}, Network: 1, PortsPerNetworkInterface: 1024,
		Ips:                      []*pb.NATGatewayIP{{Name: "ip1", Addresses: []string{"192.0.2.1", "2001:db8::1"}}},
		NetworkInterfaceSelector: &pb.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
	}
}

func testNIC(name, ip string, labels map[string]string) *pb.NetworkInterface {
	return &pb.NetworkInterface{Name: name, Network: 1, Ips: []string{ip}, Labels: labels}
}

func TestNATGatewayLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e := newEnv(t, withPath(path))
	c := natgwClient(e)
	webLabels := map[string]string{"app": "web"}

	resp, err := c.CreateNATGateway(ctx(), &pb.CreateNATGatewayRequest{Gateway: testGateway()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetGateway().GetType() != "Public" || resp.GetStatus().GetGeneration() != 1 || resp.GetStatus().GetPortsUsed() != 0 {
		t.Fatalf("create: %v", resp)
	}
	_, err = c.CreateNATGateway(ctx(), &pb.CreateNATGatewayRequest{Gateway: testGateway()})
	wantCode(t, err, codes.AlreadyExists, "natgw gw already exists")

	for i, name := range []string{"b", "a"} {
		if _, err := c.CreateNetworkInterface(ctx(), &pb.CreateNetworkInterfaceRequest{Interface: testNIC(name, fmt.Sprintf("10.0.0.%d", i+1), webLabels)}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := c.GetNATGateway(ctx(), &pb.GetNATGatewayRequest{Name: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	st := g.GetStatus()
	if st.GetPortsUsed() != 2048 || len(st.GetMembers()) != 2 || st.GetMembers()[0].GetInterface() != "a" ||
		st.GetMembers()[0].GetPortStart() != 2048 || st.GetMembers()[1].GetPortStart() != 1024 {
		t.Fatalf("status: %v", st)
	}

	// A virtual IP takes b out of the gateway: drained.
	vip := testNIC("b", "10.0.0.1", webLabels)
	vip.VirtualIp = "192.0.2.50"
	if _, err := c.UpdateNetworkInterface(ctx(), &pb.UpdateNetworkInterfaceRequest{Interface: vip}); err != nil {
		t.Fatal(err)
	}
	g, _ = c.GetNATGateway(ctx(), &pb.GetNATGatewayRequest{Name: "gw"})
	if len(g.GetStatus().GetMembers()) != 1 || len(g.GetStatus().GetDrained()) != 1 || g.GetStatus().GetDrainedTotal() != 1 {
		t.Fatalf("after vip: %v", g.GetStatus())
	}
	// Conflicts and refusals change nothing.
	bad := testNIC("c", "10.0.0.3", nil)
	bad.VirtualIp = "192.0.2.1"
	_, err = c.CreateNetworkInterface(ctx(), &pb.CreateNetworkInterfaceRequest{Interface: bad})
	wantCode(t, err, codes.FailedPrecondition, "192.0.2.1 in vrf 0: claimed by natgw gw and by the virtual IP of nic c")
	_, err = c.CreateNetworkInterface(ctx(), &pb.CreateNetworkInterfaceRequest{Interface: testNIC("d", "10.0.0.2", nil)})
	wantCode(t, err, codes.FailedPrecondition, "10.0.0.2 in network 1: the address of nic a and of nic d")
	_, err = c.CreateNetworkInterface(ctx(), &pb.CreateNetworkInterfaceRequest{Interface: testNIC("e", "10.0.0.x", nil)})
	wantCode(t, err, codes.InvalidArgument, `interface.ips[0]: "10.0.0.x" is not an IP address`)
	gw := testGateway()
	gw.PortsPerNetworkInterface = 1000
	_, err = c.UpdateNATGateway(ctx(), &pb.UpdateNATGatewayRequest{Gateway: gw})
	wantCode(t, err, codes.InvalidArgument, "gateway.portsPerNetworkInterface: 1000 is not a power of two")
	gw = testGateway()
	gw.Name = "other"
	_, err = c.UpdateNATGateway(ctx(), &pb.UpdateNATGatewayRequest{Gateway: gw})
	wantCode(t, err, codes.NotFound, "natgw other not found")
	_, err = c.GetNetworkInterface(ctx(), &pb.GetNetworkInterfaceRequest{Name: "zz"})
	wantCode(t, err, codes.NotFound, "nic zz not found")
	_, err = c.DeleteNATGateway(ctx(), &pb.DeleteNATGatewayRequest{Name: "Bad_Name"})
	wantCode(t, err, codes.InvalidArgument, "name:")

	list, err := c.ListNetworkInterfaces(ctx(), &pb.ListNetworkInterfacesRequest{})
	if err != nil || len(list.GetInterfaces()) != 2 || list.GetInterfaces()[0].GetName() != "a" || list.GetInterfaces()[1].GetVirtualIp() != "192.0.2.50" {
		t.Fatalf("list nics: %v %v", list, err)
	}
	other := uint32(7)
	if list, _ := c.ListNetworkInterfaces(ctx(), &pb.ListNetworkInterfacesRequest{Network: &other}); len(list.GetInterfaces()) != 0 {
		t.Fatalf("network filter: %v", list)
	}

	// Restart: the plan comes back from the state file unchanged.
	before, _ := c.GetNATGateway(ctx(), &pb.GetNATGatewayRequest{Name: "gw"})
	e2 := newEnv(t, withPath(path))
	after, err := natgwClient(e2).GetNATGateway(ctx(), &pb.GetNATGatewayRequest{Name: "gw"})
	if err != nil || after.String() != before.String() {
		t.Fatalf("after restart:\n%v\nbefore:\n%v (%v)", after, before, err)
	}

	if _, err := c.DeleteNetworkInterface(ctx(), &pb.DeleteNetworkInterfaceRequest{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteNetworkInterface(ctx(), &pb.DeleteNetworkInterfaceRequest{Name: "a"})
	wantCode(t, err, codes.NotFound, "nic a not found")
	if _, err := c.DeleteNetworkInterface(ctx(), &pb.DeleteNetworkInterfaceRequest{Name: "a", AllowMissing: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteNATGateway(ctx(), &pb.DeleteNATGatewayRequest{Name: "gw"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.ListNATGateways(ctx(), &pb.ListNATGatewaysRequest{}); len(l.GetGateways()) != 0 {
		t.Fatalf("gateways left: %v", l)
	}
}

func TestNATGatewayApply(t *testing.T) {
	e := newEnv(t)
	c := natgwClient(e)
	req := &pb.ApplyNATGatewaysRequest{Gateways: []*pb.NATGateway{testGateway()}}
	for i := range 300 {
		req.Interfaces = append(req.Interfaces, testNIC(fmt.Sprintf("nic-%03d", i), fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), map[string]string{"app": "web"}))
	}
	resp, err := c.ApplyNATGateways(ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	// 1024 ports per interface: 63 blocks on one address.
	st := resp.GetGateways()[0].GetStatus()
	if len(st.GetMembers()) != 63 || len(st.GetUnassigned()) != 237 || st.GetUnassigned()[0].GetReason() != "gateway full" || st.GetPortsUsed() != 63*1024 {
		t.Fatalf("apply: members %d unassigned %d", len(st.GetMembers()), len(st.GetUnassigned()))
	}
	// Duplicates and invalid entries refuse the whole request.
	req.Interfaces = append(req.Interfaces, testNIC("nic-000", "10.9.9.9", nil))
	_, err = c.ApplyNATGateways(ctx(), req)
	wantCode(t, err, codes.InvalidArgument, "interfaces[300].name: nic nic-000 is also interfaces[0]")
	_, err = c.ApplyNATGateways(ctx(), &pb.ApplyNATGatewaysRequest{Gateways: []*pb.NATGateway{{Name: "x", Type: "Private"}}})
	wantCode(t, err, codes.InvalidArgument, `gateways[0].type: "Private" is not supported`)
}

func TestNATGatewayWatch(t *testing.T) {
	e := newEnv(t)
	c := natgwClient(e)
	wctx, cancel := context.WithTimeout(ctx(), 10*time.Second)
	defer cancel()
	_, err := func() (*pb.NATGatewayResponse, error) {
		s, err := c.WatchNATGateway(wctx, &pb.WatchNATGatewayRequest{Name: "gw"})
		if err != nil {
			return nil, err
		}
		return s.Recv()
	}()
	wantCode(t, err, codes.NotFound, "natgw gw not found")

	if _, err := c.CreateNATGateway(ctx(), &pb.CreateNATGatewayRequest{Gateway: testGateway()}); err != nil {
		t.Fatal(err)
	}
	s, err := c.WatchNATGateway(wctx, &pb.WatchNATGatewayRequest{Name: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *pb.NATGatewayResponse {
		t.Helper()
		m, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := recv(); m.GetStatus().GetGeneration() != 1 {
		t.Fatalf("first: %v", m)
	}
	// An interface of another network changes nothing; a member does.
	other := testNIC("x", "10.0.0.9", map[string]string{"app": "web"})
	other.Network = 2
	if _, err := c.CreateNetworkInterface(ctx(), &pb.CreateNetworkInterfaceRequest{Interface: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateNetworkInterface(ctx(), &pb.CreateNetworkInterfaceRequest{Interface: testNIC("a", "10.0.0.1", map[string]string{"app": "web"})}); err != nil {
		t.Fatal(err)
	}
	if m := recv(); m.GetStatus().GetGeneration() != 2 || len(m.GetStatus().GetMembers()) != 1 {
		t.Fatalf("second: %v", m)
	}
	if _, err := c.DeleteNATGateway(ctx(), &pb.DeleteNATGatewayRequest{Name: "gw"}); err != nil {
		t.Fatal(err)
	}
	if m := recv(); m.GetGateway().GetName() != "gw" || m.GetStatus() != nil {
		t.Fatalf("deleted: %v", m)
	}
	cancel()
	if _, err := s.Recv(); err == nil {
		t.Fatal("stream did not end")
	}
}
