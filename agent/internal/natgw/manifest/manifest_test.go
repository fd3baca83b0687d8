package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/natgw"
)

func TestExampleFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "examples", "natgw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Gateways) != 1 || len(m.Interfaces) != 3 {
		t.Fatalf("gateways %d interfaces %d", len(m.Gateways), len(m.Interfaces))
	}
	g := m.Gateways[0]
	if g.Name != "my-nat" || g.Type != natgw.TypePublic || len(g.IPFamilies) != 2 || g.Network != 1 || len(g.IPs) != 2 ||
		len(g.IPs[1].Addresses) != 2 || g.IPs[1].Addresses[1].String() != "2001:db8::2" || g.PortsPerNetworkInterface != 64 ||
		g.NetworkInterfaceSelector.MatchLabels["foo"] != "bar" || g.NetworkInterfaceSelector.MatchExpressions[0].Operator != natgw.OpIn {
		t.Fatalf("gateway %+v", g)
	}
	if n := m.Interfaces[2]; n.Name != "web-2" || n.Network != 1 || n.VirtualIP == nil || n.VirtualIP.String() != "192.0.2.10" {
		t.Fatalf("web-2 %+v", n)
	}
	// The example plans as the docs say: db-1 and web-1 are members, web-2 has its virtual IP.
	st := natgw.Plan(&g, m.Interfaces, nil)
	if len(st.Members) != 2 || st.Members[0].Interface != "db-1" || len(st.Members[0].Addresses) != 2 || len(st.Members[1].Addresses) != 1 || st.PortsUsed != 128 {
		t.Fatalf("plan %+v", st)
	}
}

func TestParse(t *testing.T) {
	const gwHead = "apiVersion: cloudnat.io/v1alpha1\nkind: NATGateway\nmetadata:\n  name: gw\n"
	const nicHead = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface\nmetadata:\n  name: n1\n"
	for _, tc := range []struct {
		name, in  string
		gws, nics int
		err       string
	}{
		{name: "empty", in: ""},
		{name: "empty documents", in: "---\n---\n" + nicHead + "spec:\n  network: 0\n  ips: [10.0.0.1]\n---\n", nics: 1},
		{name: "defaults", in: gwHead + "spec:\n  network: 1\n  ips:\n    - name: a\n      ip: 192.0.2.1\n", gws: 1},
		{name: "ips synonym", in: gwHead + "spec:\n  network: 1\n  ips:\n    - name: a\n      ips: [192.0.2.1]\n", gws: 1},
		{name: "status ignored", in: gwHead + "spec:\n  network: 1\n  ips: [{name: a, ip: 192.0.2.1}]\nstatus:\n  portsUsed: 5\n  whatever: [1]\n", gws: 1},
		{name: "no apiVersion", in: "kind: NATGateway\n", err: "document 1: apiVersion: required"},
		{name: "bad apiVersion", in: "apiVersion: v1\nkind: NATGateway\n", err: `apiVersion: "v1" is not one of`},
		{name: "no kind", in: "apiVersion: cloudnat.io/v1alpha1\n", err: "kind: required"},
		{name: "bad kind", in: "apiVersion: cloudnat.io/v1alpha1\nkind: Pod\n", err: `kind: "Pod" is not NATGateway or NetworkInterface`},
		{name: "unknown field", in: gwHead + "spec:\n  network: 1\n  portsPerInterface: 64\n", err: "line 7: spec.portsPerInterface: unknown field"},
		{name: "unknown nested field", in: gwHead + "spec:\n  network: 1\n  ips:\n    - name: a\n      address: 1.2.3.4\n", err: "line 9: spec.ips[0].address: unknown field"},
		{name: "unknown selector field", in: gwHead + "spec:\n  network: 1\n  networkInterfaceSelector:\n    matchLabel: {a: b}\n", err: "spec.networkInterfaceSelector.matchLabel: unknown field"},
		{name: "no network", in: gwHead + "spec:\n  ips: [{name: a, ip: 192.0.2.1}]\n", err: "NATGateway gw: spec.network: required"},
		{name: "networkRef not a number", in: gwHead + "spec:\n  networkRef: {name: blue}\n", err: `spec.networkRef.name: "blue" is not a VRF id`},
		{name: "network mismatch", in: gwHead + "spec:\n  network: 2\n  networkRef: {name: \"1\"}\n", err: "spec.network 2 and spec.networkRef.name \"1\" differ"},
		{name: "bad address", in: gwHead + "spec:\n  network: 1\n  ips: [{name: a, ip: 192.0.2.300}]\n", err: `spec.ips[0].ip[0]: "192.0.2.300" is not an IP address`},
		{name: "both ip and ips", in: gwHead + "spec:\n  network: 1\n  ips: [{name: a, ip: 192.0.2.1, ips: [192.0.2.2]}]\n", err: "spec.ips[0]: ip and ips are the same field"},
		{name: "validation", in: gwHead + "spec:\n  network: 1\n  portsPerNetworkInterface: 96\n  ips: [{name: a, ip: 192.0.2.1}]\n", err: "NATGateway gw: spec.portsPerNetworkInterface: 96 is not a power of two"},
		{name: "bad name", in: "apiVersion: cloudnat.io/v1alpha1\nkind: NATGateway\nmetadata:\n  name: GW\nspec:\n  network: 1\n  ips: [{name: a, ip: 192.0.2.1}]\n", err: "metadata.name:"},
		{name: "bad nic label", in: "apiVersion: cloudnat.io/v1alpha1\nkind: NetworkInterface\nmetadata:\n  name: n\n  labels: {a: \"b c\"}\nspec:\n  network: 1\n  ips: [10.0.0.1]\n", err: "NetworkInterface n: metadata.labels[a]"},
		{name: "nic vip", in: nicHead + "spec:\n  network: 1\n  ips: [10.0.0.1]\n  virtualIP: nope\n", err: `spec.virtualIP: "nope" is not an IP address`},
		{name: "second document", in: nicHead + "spec:\n  network: 1\n  ips: [10.0.0.1]\n---\n" + nicHead + "spec:\n  network: 1\n  ips: []\n", err: "document 2: NetworkInterface n1: spec.ips: at least one"},
		{name: "yaml syntax", in: "apiVersion: [\n", err: "document 1:"},
		{name: "wrong type", in: gwHead + "spec:\n  network: one\n", err: "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Gateways) != tc.gws || len(m.Interfaces) != tc.nics {
				t.Fatalf("gateways %d interfaces %d", len(m.Gateways), len(m.Interfaces))
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	one := uint32(1)
	out, err := Marshal(GatewayDocument{
		APIVersion: APIVersion, Kind: KindNATGateway, Metadata: Metadata{Name: "gw"},
		Spec: GatewaySpec{Type: "Public", IPFamilies: []string{"IPv4"}, Network: &one, PortsPerNetworkInterface: 64,
			IPs: []GatewayIP{{Name: "a", IP: AddrList{"192.0.2.1"}}}, NetworkInterfaceSelector: &Selector{}},
		Status: &GatewayStatus{PortsUsed: 64, Members: []StatusMember{{NetworkInterface: "n1", IP: "a", Ports: "1024-1087"}}},
	}, InterfaceDocument{APIVersion: APIVersion, Kind: KindNetworkInterface, Metadata: Metadata{Name: "n1"}, Spec: InterfaceSpec{Network: &one, IPs: AddrList{"10.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "      ip: 192.0.2.1\n") || !strings.Contains(string(out), "\n---\n") {
		t.Fatalf("output:\n%s", out)
	}
	m, err := ParseBytes(out)
	if err != nil || len(m.Gateways) != 1 || len(m.Interfaces) != 1 || m.Gateways[0].NetworkInterfaceSelector == nil {
		t.Fatalf("round trip: %v %+v\n%s", err, m, out)
	}
}
