package validate

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func TestStaticNAT(t *testing.T) {
	tcp := pb.Protocol_PROTOCOL_TCP
	for _, tc := range []struct {
		name string
		in   *pb.StaticNAT
		err  string // substring; "" = valid
	}{
		{"host", &pb.StaticNAT{InsideVrf: 1, Inside: "10.1.0.5", OutsideVrf: 2, Outside: "172.16.0.5/32"}, ""},
		{"prefix v6", &pb.StaticNAT{Inside: "fd00::/120", Outside: "2001:db8::/120"}, ""},
		{"port pair", &pb.StaticNAT{Inside: "10.1.0.5/32", Outside: "172.16.0.5/32", Proto: tcp, InsidePort: 80, OutsidePort: 8080}, ""},
		{"4096 addresses", &pb.StaticNAT{Inside: "10.0.0.0/20", Outside: "172.16.0.0/20"}, ""},
		{"too many", &pb.StaticNAT{Inside: "10.0.0.0/19", Outside: "172.16.0.0/19"}, "more than 4096"},
		{"lengths", &pb.StaticNAT{Inside: "10.0.0.0/24", Outside: "172.16.0.0/25"}, "not as long as"},
		{"families", &pb.StaticNAT{Inside: "10.0.0.1", Outside: "2001:db8::1"}, "not of the family"},
		{"host bits", &pb.StaticNAT{Inside: "10.0.0.1/24", Outside: "172.16.0.0/24"}, "host bits"},
		{"missing", nil, "required"},
		{"no outside", &pb.StaticNAT{Inside: "10.0.0.1"}, "outside: required"},
		{"ports without proto", &pb.StaticNAT{Inside: "10.0.0.1", Outside: "172.16.0.1", InsidePort: 80, OutsidePort: 80}, "need proto"},
		{"one port", &pb.StaticNAT{Inside: "10.0.0.1", Outside: "172.16.0.1", Proto: tcp, InsidePort: 80}, "both"},
		{"icmp", &pb.StaticNAT{Inside: "10.0.0.1", Outside: "172.16.0.1", Proto: pb.Protocol_PROTOCOL_ICMP}, "only tcp or udp"},
		{"reserved vrf", &pb.StaticNAT{InsideVrf: model.AllVRFs, Inside: "10.0.0.1", Outside: "172.16.0.1"}, "reserved"},
	} {
		_, err := StaticNAT("s", tc.in)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
		}
	}
}

func sn(vrf uint32, in string, ovrf uint32, out string) model.StaticNAT {
	return model.StaticNAT{InsideVRF: vrf, Inside: netip.MustParsePrefix(in), OutsideVRF: ovrf, Outside: netip.MustParsePrefix(out)}
}

func TestStaticNATFits(t *testing.T) {
	port := func(s model.StaticNAT, in, out uint16) model.StaticNAT {
		s.Proto, s.InsidePort, s.OutsidePort = model.ProtoTCP, in, out
		return s
	}
	d := &model.Desired{
		StaticNATs:   []model.StaticNAT{sn(1, "10.1.0.0/30", 2, "172.16.0.0/30"), port(sn(1, "10.1.0.9/32", 2, "172.16.0.9/32"), 80, 80)},
		Pools:        []model.Pool{{Name: "cgnat", OutsideVRF: 2, Ranges: []model.AddrRange{{First: netip.MustParseAddr("198.51.100.10"), Last: netip.MustParseAddr("198.51.100.20")}}}},
		PoolBindings: []model.PoolBinding{{VRF: 1, Prefix: netip.MustParsePrefix("100.64.0.0/10"), Pool: "cgnat"}},
		Translations: []model.Translation{{Key: model.TranslationKey{VRF: 2, VIP: netip.MustParseAddr("172.16.5.5"), Port: 80, Proto: model.ProtoTCP}}},
	}
	gw := Claims{StaticNATs: []model.StaticNAT{sn(7, "10.7.0.3/32", 2, "172.16.7.3/32")},
		Pools: []model.Pool{{Name: "natgw.gw.v4", OutsideVRF: 2, Ranges: []model.AddrRange{{First: netip.MustParseAddr("192.0.2.1"), Last: netip.MustParseAddr("192.0.2.1")}}}}}
	for _, tc := range []struct {
		name string
		s    model.StaticNAT
		err  string
	}{
		{"free", sn(1, "10.1.1.0/30", 2, "172.16.1.0/30"), ""},
		{"same outside other vrf", sn(1, "10.1.1.0/30", 3, "172.16.0.0/30"), ""},
		{"replace itself", sn(1, "10.1.0.0/30", 2, "172.16.0.0/30"), ""},
		{"outside of another mapping", sn(1, "10.1.1.0/32", 2, "172.16.0.2/32"), "already claimed by the static nat"},
		{"other port of a port mapping", port(sn(1, "10.1.1.9/32", 2, "172.16.0.9/32"), 80, 81), ""},
		{"same port", port(sn(1, "10.1.1.9/32", 2, "172.16.0.9/32"), 22, 80), "already claimed"},
		{"pool range", sn(1, "10.1.1.0/28", 2, "198.51.100.16/28"), "range 198.51.100.10-198.51.100.20 of pool cgnat"},
		{"translation VIP", sn(1, "10.1.1.5/32", 2, "172.16.5.5/32"), "contains the translation"},
		{"binding", sn(1, "100.64.0.1/32", 2, "172.16.9.1/32"), "overlaps the binding vrf 1 100.64.0.0/10"},
		{"binding other vrf", sn(3, "100.64.0.1/32", 2, "172.16.9.1/32"), ""},
		{"gateway VIP", sn(1, "10.1.2.1/32", 2, "172.16.7.3/32"), "NAT gateway's virtual IP"},
		{"gateway pool", sn(1, "10.1.2.1/32", 2, "192.0.2.1/32"), "pool natgw.gw.v4"},
	} {
		err := StaticNATFits(d, gw, tc.s)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestReservedPoolName(t *testing.T) {
	if _, err := Pool("pool", &pb.Pool{Name: "natgw.x.v4", Ranges: []string{"192.0.2.1"}}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("natgw. pool name accepted: %v", err)
	}
}

func TestPoolsAgainstStaticNAT(t *testing.T) {
	d := &model.Desired{
		StaticNATs: []model.StaticNAT{sn(1, "10.1.0.0/30", 2, "172.16.0.0/30")},
		Pools:      []model.Pool{{Name: "cgnat", OutsideVRF: 2, Ranges: []model.AddrRange{{First: netip.MustParseAddr("198.51.100.1"), Last: netip.MustParseAddr("198.51.100.1")}}}},
	}
	err := PoolBindingFits(d, model.PoolBinding{VRF: 1, Prefix: netip.MustParsePrefix("10.1.0.0/24"), Pool: "cgnat"})
	if err == nil || !strings.Contains(err.Error(), "overlaps the inside of the static nat") {
		t.Errorf("binding over a static inside: %v", err)
	}
	p := model.Pool{Name: "x", OutsideVRF: 2, Ranges: []model.AddrRange{{First: netip.MustParseAddr("172.16.0.3"), Last: netip.MustParseAddr("172.16.0.9")}}}
	if err := PoolFits(d, p); err == nil || !strings.Contains(err.Error(), "overlaps the outside of the static nat") {
		t.Errorf("pool over a static outside: %v", err)
	}
	p.OutsideVRF = 3
	if err := PoolFits(d, p); err != nil {
		t.Errorf("pool of another vrf: %v", err)
	}
}
