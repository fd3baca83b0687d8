package server

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/store"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func benchService(b *testing.B) *NATGWService {
	b.Helper()
	st, err := store.Open(filepath.Join(b.TempDir(), "state.json"))
	if err != nil {
		b.Fatal(err)
	}
	dp := fakedp.New()
	srv := New(Config{Store: st, Reconciler: reconcile.New(dp, st, reconcile.Options{}), Dataplane: dp})
	return NewNATGWService(srv)
}

func bench10k() *pb.ApplyNATGatewaysRequest {
	g := &pb.NATGateway{Name: "big", Network: 1, PortsPerNetworkInterface: 64,
		NetworkInterfaceSelector: &pb.LabelSelector{MatchLabels: map[string]string{"natgw": "big"}}}
	for i := range 10 {
		g.Ips = append(g.Ips, &pb.NATGatewayIP{Name: fmt.Sprintf("ip%d", i), Addresses: []string{fmt.Sprintf("192.0.2.%d", i+1)}})
	}
	req := &pb.ApplyNATGatewaysRequest{Gateways: []*pb.NATGateway{g}}
	for i := range 10000 {
		req.Interfaces = append(req.Interfaces, &pb.NetworkInterface{
			Name: fmt.Sprintf("nic-%05d", i), Network: 1, Ips: []string{fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)},
			Labels: map[string]string{"natgw": "big", "shard": fmt.Sprint(i % 4)},
		})
	}
	return req
}

// BenchmarkServiceApply10k is one `cloudnatctl apply` of 10,000 interfaces
// and their gateway as the agent runs it: parse, validate, plan, store
// (JSON, fsync).
func BenchmarkServiceApply10k(b *testing.B) {
	req := bench10k()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		n := benchService(b)
		b.StartTimer()
		resp, err := n.ApplyNATGateways(ctx(), req)
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.GetGateways()[0].GetStatus().GetMembers()) != 10000 {
			b.Fatal("members")
		}
	}
}

// BenchmarkServiceSelectorChange10k is an UpdateNATGateway that drops a
// quarter of 10,000 members (re-plan, drain, store), alternating with one
// that takes them back.
func BenchmarkServiceSelectorChange10k(b *testing.B) {
	req := bench10k()
	n := benchService(b)
	if _, err := n.ApplyNATGateways(ctx(), req); err != nil {
		b.Fatal(err)
	}
	narrow := req.Gateways[0]
	wide := &pb.NATGateway{Name: narrow.Name, Network: narrow.Network, PortsPerNetworkInterface: 64, Ips: narrow.Ips,
		NetworkInterfaceSelector: &pb.LabelSelector{MatchLabels: map[string]string{"natgw": "big"},
			MatchExpressions: []*pb.LabelSelectorRequirement{{Key: "shard", Operator: "NotIn", Values: []string{"0"}}}}}
	gws := []*pb.NATGateway{wide, narrow}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := n.UpdateNATGateway(ctx(), &pb.UpdateNATGatewayRequest{Gateway: gws[i%2]}); err != nil {
			b.Fatal(err)
		}
	}
}
