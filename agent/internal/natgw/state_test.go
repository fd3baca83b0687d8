package natgw

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestState(t *testing.T) {
	var s State
	g := gw4(64, "192.0.2.1")
	changed, err := s.PutGateway(g)
	if err != nil || !reflect.DeepEqual(changed, []string{"gw"}) {
		t.Fatalf("put gateway: %v %v", changed, err)
	}
	if changed, err = s.PutInterface(nic("b", 1, web, "10.0.0.2")); err != nil || !reflect.DeepEqual(changed, []string{"gw"}) {
		t.Fatalf("put b: %v %v", changed, err)
	}
	// An interface of another network changes no plan.
	if changed, err = s.PutInterface(nic("a", 2, web, "10.0.0.1")); err != nil || len(changed) != 0 {
		t.Fatalf("put a: %v %v", changed, err)
	}
	if s.Interfaces[0].Name != "a" || s.Interface("b") != 1 || s.Interface("zz") != -1 {
		t.Fatalf("interfaces not in name order: %+v", s.Interfaces)
	}
	if p := s.Plan("gw"); p == nil || len(p.Members) != 1 || p.Generation != 2 {
		t.Fatalf("plan %+v", p)
	}
	// A conflicting virtual IP is refused.
	bad := nic("c", 1, nil, "10.0.0.3")
	bad.VirtualIP = addrp("192.0.2.1")
	c := s.Clone()
	if _, err := c.PutInterface(bad); err == nil || !strings.Contains(err.Error(), "claimed by natgw gw and by the virtual IP of nic c") {
		t.Fatalf("conflict: %v", err)
	}
	// Clone is deep: changing the copy leaves the original.
	c = s.Clone()
	c.Interfaces[1].Labels["app"] = "x"
	c.Gateways[0].NetworkInterfaceSelector.MatchLabels["app"] = "x"
	c.Plans[0].Members[0].Addresses[0].Inside = c.Interfaces[0].IPs[0]
	if s.Interfaces[1].Labels["app"] != "web" || s.Gateways[0].NetworkInterfaceSelector.MatchLabels["app"] != "web" ||
		s.Plans[0].Members[0].Addresses[0].Inside.String() != "10.0.0.2" {
		t.Fatal("Clone shares memory")
	}
	// JSON round trip (the store's format) keeps everything.
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, back, s)
	}
	// Deleting the member drains it; deleting the gateway drops its plan.
	if changed, ok := s.DeleteInterface("b"); !ok || !reflect.DeepEqual(changed, []string{"gw"}) || len(s.Plan("gw").Drained) != 1 {
		t.Fatalf("delete b: %v %v", changed, ok)
	}
	if _, ok := s.DeleteInterface("b"); ok {
		t.Fatal("deleted twice")
	}
	if changed, ok := s.DeleteGateway("gw"); !ok || !reflect.DeepEqual(changed, []string{"gw"}) || s.Plan("gw") != nil || len(s.Plans) != 0 {
		t.Fatalf("delete gw: %v %v %+v", changed, ok, s.Plans)
	}
	if _, ok := s.DeleteGateway("gw"); ok {
		t.Fatal("deleted gateway twice")
	}
}

func TestStateSpecs(t *testing.T) {
	var s State
	v := nic("v", 1, web, "10.0.0.9")
	v.VirtualIP = addrp("192.0.2.99")
	if _, err := s.Apply([]NetworkInterface{nic("m", 1, web, "10.0.0.1"), v}, []NATGateway{gw4(64, "192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	sp := s.Specs()
	if len(sp.Pools) != 1 || len(sp.Bindings) != 1 || len(sp.StaticBlocks) != 1 || len(sp.StaticNATs) != 1 ||
		sp.StaticBlocks[0].PortStart != 1024 || sp.StaticNATs[0].Outside.String() != "192.0.2.99" {
		t.Fatalf("specs %+v", sp)
	}
}
