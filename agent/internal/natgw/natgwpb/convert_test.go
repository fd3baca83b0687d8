package natgwpb

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/natgw"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func TestRoundTrip(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.9")
	n := natgw.NetworkInterface{Name: "n1", Network: 1, Labels: map[string]string{"a": "b"}, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, VirtualIP: &vip, OutsideVRF: 3}
	back, err := InterfaceFromPB("interface", InterfacePB(&n))
	if err != nil || !reflect.DeepEqual(back, n) {
		t.Fatalf("interface: %v\n%+v\n%+v", err, back, n)
	}
	g := natgw.NATGateway{
		Name: "gw", Type: natgw.TypePublic, IPFamilies: []natgw.Family{natgw.IPv6}, Network: 2, OutsideVRF: 4,
		IPs:                      []natgw.GatewayIP{{Name: "ip1", Addresses: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}},
		PortsPerNetworkInterface: 256,
		NetworkInterfaceSelector: &natgw.Selector{MatchExpressions: []natgw.Requirement{{Key: "x", Operator: natgw.OpNotIn, Values: []string{"y"}}}},
	}
	gback, err := GatewayFromPB("gateway", GatewayPB(&g))
	if err != nil || !reflect.DeepEqual(gback, g) {
		t.Fatalf("gateway: %v\n%+v\n%+v", err, gback, g)
	}
	if StatusPB(nil) != nil {
		t.Fatal("nil status")
	}
}

func TestFromPBErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func() error
		err  string
	}{
		{"nil interface", func() error { _, err := InterfaceFromPB("interface", nil); return err }, "interface: required"},
		{"bad ip", func() error {
			_, err := InterfaceFromPB("interface", &pb.NetworkInterface{Name: "n", Ips: []string{"x"}})
			return err
		}, `interface.ips[0]: "x" is not an IP address`},
		{"bad vip", func() error {
			_, err := InterfaceFromPB("interface", &pb.NetworkInterface{Name: "n", Ips: []string{"10.0.0.1"}, VirtualIp: "y"})
			return err
		}, `interface.virtual_ip: "y" is not an IP address`},
		{"validation", func() error {
			_, err := InterfaceFromPB("interface", &pb.NetworkInterface{Name: "n"})
			return err
		}, "interface.ips: at least one private address is required"},
		{"nil gateway", func() error { _, err := GatewayFromPB("gateway", nil); return err }, "gateway: required"},
		{"too many families", func() error {
			_, err := GatewayFromPB("gateway", &pb.NATGateway{Name: "g", IpFamilies: []string{"IPv4", "IPv6", "IPv4"}})
			return err
		}, "gateway.ip_families: 3 entries, at most 2"},
		{"bad gateway address", func() error {
			_, err := GatewayFromPB("gateway", &pb.NATGateway{Name: "g", Ips: []*pb.NATGatewayIP{{Name: "a", Addresses: []string{"z"}}}})
			return err
		}, `gateway.ips[0].addresses[0]: "z" is not an IP address`},
		{"defaults then validation", func() error {
			_, err := GatewayFromPB("gateway", &pb.NATGateway{Name: "g", Ips: []*pb.NATGatewayIP{{Name: "a", Addresses: []string{"192.0.2.1"}}}})
			return err
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
}
