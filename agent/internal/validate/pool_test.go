package validate

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func TestPool(t *testing.T) {
	many := make([]string, MaxPoolRanges+1)
	for i := range many {
		many[i] = "10.0.0.1"
	}
	for _, tc := range []struct {
		name string
		p    *pb.Pool
		err  string // substring; "" = valid
		want func(model.Pool) bool
	}{
		{name: "defaults", p: &pb.Pool{Name: "cgnat", Ranges: []string{"198.51.100.0/30"}},
			want: func(p model.Pool) bool {
				return p.PortMin == 1024 && p.PortMax == 65535 && p.BlockSize == 256 && p.MaxBlocksPerSubscriber == 4 &&
					p.ReuseDelay == 120*time.Second && p.Filtering == model.FilterAddressPort &&
					p.Ranges[0] == model.AddrRange{First: netip.MustParseAddr("198.51.100.0"), Last: netip.MustParseAddr("198.51.100.3")}
			}},
		{name: "ranges of every form", p: &pb.Pool{Name: "a.b_c-1", Ranges: []string{"198.51.100.0/30", "203.0.113.10-203.0.113.12", "192.0.2.7"},
			BlockSize: 512, MaxBlocksPerSubscriber: 2, ReuseDelay: durationpb.New(time.Minute), Filtering: pb.Filtering_FILTERING_ENDPOINT},
			want: func(p model.Pool) bool {
				return len(p.Ranges) == 3 && p.Ranges[1].Last == netip.MustParseAddr("203.0.113.12") && p.BlockSize == 512 &&
					p.MaxBlocksPerSubscriber == 2 && p.ReuseDelay == time.Minute && p.Filtering == model.FilterEndpoint
			}},
		{name: "ipv6", p: &pb.Pool{Name: "v6", Ranges: []string{"2001:db8::/126"}}},
		{name: "interface", p: &pb.Pool{Name: "up", Interface: "GigabitEthernet0/8/0", OutsideVrf: 3},
			want: func(p model.Pool) bool { return p.Interface == "GigabitEthernet0/8/0" && p.OutsideVRF == 3 }},
		{name: "nil", p: nil, err: "pool: required"},
		{name: "no name", p: &pb.Pool{Ranges: []string{"10.0.0.1"}}, err: "pool.name: required"},
		{name: "upper case name", p: &pb.Pool{Name: "CGNAT", Ranges: []string{"10.0.0.1"}}, err: "only a-z, 0-9"},
		{name: "long name", p: &pb.Pool{Name: strings.Repeat("a", 64), Ranges: []string{"10.0.0.1"}}, err: "longer than 63"},
		{name: "long name is quoted short", p: &pb.Pool{Name: strings.Repeat("a", 500), Ranges: []string{"10.0.0.1"}}, err: `"` + strings.Repeat("a", 40) + `"...`},
		{name: "no addresses", p: &pb.Pool{Name: "x"}, err: "pool.ranges: a pool needs addresses"},
		{name: "both", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, Interface: "eth0"}, err: "pool.interface: give ranges or an interface, not both"},
		{name: "too many ranges", p: &pb.Pool{Name: "x", Ranges: many}, err: "10001 ranges, at most 10000"},
		{name: "mixed families", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1", "2001:db8::1"}}, err: "pool.ranges[1]: address family IPv6 does not match ranges[0] (IPv4)"},
		{name: "mixed range", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1-2001:db8::1"}}, err: "mixes IPv4 and IPv6"},
		{name: "backwards range", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.9-10.0.0.1"}}, err: "the last address is before the first"},
		{name: "overlap", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.0/30", "10.0.0.3-10.0.0.8"}}, err: "pool.ranges[1]: 10.0.0.3-10.0.0.8 overlaps ranges[0] 10.0.0.0-10.0.0.3"},
		{name: "host bits", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1/30"}}, err: "host bits set (did you mean 10.0.0.0/30?)"},
		{name: "garbage", p: &pb.Pool{Name: "x", Ranges: []string{"nope"}}, err: `"nope" is not an address, prefix or range`},
		{name: "multicast", p: &pb.Pool{Name: "x", Ranges: []string{"224.0.0.0/24"}}, err: "not a unicast prefix"},
		{name: "block not power of two", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, BlockSize: 300}, err: "pool.block_size: 300 is not a power of two"},
		{name: "block larger than range", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, PortMin: 2000, PortMax: 2099, BlockSize: 128},
			err: "pool.block_size: 128 is larger than the port range 2000-2099 (100 ports): the pool would have fewer ports than one block"},
		{name: "block too large", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, BlockSize: 65536}, err: "not a power of two (1..32768)"},
		{name: "ports backwards", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, PortMin: 5000, PortMax: 4000}, err: "pool.port_min: 5000 is above port_max 4000"},
		{name: "port out of range", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, PortMax: 70000}, err: "pool.port_max: 70000 is out of range"},
		{name: "reuse delay fraction", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, ReuseDelay: durationpb.New(1500 * time.Millisecond)}, err: "whole seconds"},
		{name: "reuse delay too long", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, ReuseDelay: durationpb.New(2 * time.Hour)}, err: "must be 1s..1h0m0s"},
		{name: "vrf reserved", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, OutsideVrf: model.AllVRFs}, err: "pool.outside_vrf"},
		{name: "filtering", p: &pb.Pool{Name: "x", Ranges: []string{"10.0.0.1"}, Filtering: 9}, err: "unknown filtering 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pool("pool", tc.p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if err := Request(&pb.CreatePoolRequest{Pool: tc.p}); err == nil {
					t.Fatal("Request accepted it")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !tc.want(got) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func pool(t *testing.T, name, r string) model.Pool {
	t.Helper()
	p, err := Pool("pool", &pb.Pool{Name: name, Ranges: []string{r}, BlockSize: 1024, MaxBlocksPerSubscriber: 2})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPoolConflicts(t *testing.T) {
	d := &model.Desired{
		Pools: []model.Pool{pool(t, "a", "198.51.100.0/30"), pool(t, "v6", "2001:db8::/126")},
		PoolBindings: []model.PoolBinding{
			{VRF: 1, Prefix: netip.MustParsePrefix("100.64.0.0/10"), Pool: "a"},
			{VRF: 2, Prefix: netip.MustParsePrefix("100.64.0.0/16"), Pool: "a"},
		},
		StaticBlocks: []model.StaticBlock{{Pool: "a", VRF: 1, InsideAddr: netip.MustParseAddr("100.64.0.1"), OutsideAddr: netip.MustParseAddr("198.51.100.1"), PortStart: 1024}},
	}
	sb := func(in, out string, port uint16) model.StaticBlock {
		return model.StaticBlock{Pool: "a", VRF: 1, InsideAddr: netip.MustParseAddr(in), OutsideAddr: netip.MustParseAddr(out), PortStart: port}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"delete bound", PoolDeletable(d, "a"), "pool a is bound by vrf 1 100.64.0.0/10, vrf 2 100.64.0.0/16: unbind first"},
		{"delete unbound", PoolDeletable(d, "v6"), ""},
		{"overlap same vrf", PoolBindingFits(d, model.PoolBinding{VRF: 1, Prefix: netip.MustParsePrefix("100.64.1.0/24"), Pool: "a"}),
			"binding vrf 1 100.64.1.0/24 overlaps the binding vrf 1 100.64.0.0/10 (pool a) of the same vrf"},
		{"same prefix other vrf", PoolBindingFits(d, model.PoolBinding{VRF: 3, Prefix: netip.MustParsePrefix("100.64.0.0/10"), Pool: "a"}), ""},
		{"no pool", PoolBindingFits(d, model.PoolBinding{VRF: 3, Prefix: netip.MustParsePrefix("10.0.0.0/8"), Pool: "nope"}), "pool nope does not exist"},
		{"family", PoolBindingFits(d, model.PoolBinding{VRF: 3, Prefix: netip.MustParsePrefix("10.0.0.0/8"), Pool: "v6"}), "prefix family IPv4 does not match pool v6 (IPv6)"},
		{"pool family change", PoolFits(d, pool(t, "a", "2001:db8:1::/126")), "pool a: its address family does not match the bindings vrf 1 100.64.0.0/10, vrf 2 100.64.0.0/16"},
		{"pool shrinks under a static block", PoolFits(d, pool(t, "a", "198.51.100.2")), "static blocks pool a vrf 1 100.64.0.1 -> 198.51.100.1 port 1024 would no longer fit"},
		{"static ok", StaticBlockFits(d, sb("100.64.0.1", "198.51.100.1", 2048)), ""},
		{"static not a boundary", StaticBlockFits(d, sb("100.64.0.2", "198.51.100.1", 1500)), "port 1500 does not start a block (ports 1024-65535 in blocks of 1024)"},
		{"static beyond the range", StaticBlockFits(d, sb("100.64.0.2", "198.51.100.1", 65280)), "does not start a block"},
		{"static outside the pool", StaticBlockFits(d, sb("100.64.0.2", "192.0.2.1", 1024)), "outside address 192.0.2.1 is not in the pool"},
		{"static taken", StaticBlockFits(d, sb("100.64.0.2", "198.51.100.1", 1024)), "already assigned to vrf 1 100.64.0.1"},
		{"static paired", StaticBlockFits(d, sb("100.64.0.1", "198.51.100.2", 1024)), "already uses outside address 198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.want == "" && tc.err != nil:
				t.Fatalf("unexpected %v", tc.err)
			case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
				t.Fatalf("err %v, want %q", tc.err, tc.want)
			}
			if tc.err != nil {
				if _, ok := tc.err.(*ConflictError); !ok {
					t.Fatalf("%T is not a *ConflictError", tc.err)
				}
			}
		})
	}
	// The per-subscriber block cap (2 here).
	d2 := *d
	d2.StaticBlocks = append(d2.StaticBlocks, sb("100.64.0.1", "198.51.100.1", 2048))
	if err := StaticBlockFits(&d2, sb("100.64.0.1", "198.51.100.1", 3072)); err == nil || !strings.Contains(err.Error(), "already has 2 blocks") {
		t.Fatalf("cap: %v", err)
	}
}

func TestPoolRequests(t *testing.T) {
	for _, tc := range []struct {
		req any
		err string
	}{
		{&pb.CreatePoolBindingRequest{Binding: &pb.PoolBinding{Vrf: 1, Prefix: "100.64.0.0/10", Pool: "a"}}, ""},
		{&pb.CreatePoolBindingRequest{Binding: &pb.PoolBinding{Vrf: 1, Prefix: "100.64.0.1/10", Pool: "a"}}, "binding.prefix: 100.64.0.1/10 has host bits set"},
		{&pb.CreatePoolBindingRequest{Binding: &pb.PoolBinding{Vrf: 1, Prefix: "100.64.0.0/10"}}, "binding.pool: required"},
		{&pb.DeletePoolBindingRequest{Vrf: 1, Prefix: strings.Repeat("1", 100)}, "prefix: \"1111"},
		{&pb.DeletePoolRequest{Name: "Bad Name"}, "name: \"Bad Name\": only a-z"},
		{&pb.StaticBlockRequest{Block: &pb.StaticBlock{Pool: "a", InsideAddr: "100.64.0.1", OutsideAddr: "198.51.100.1", PortStart: 1024}}, ""},
		{&pb.StaticBlockRequest{Block: &pb.StaticBlock{Pool: "a", InsideAddr: "100.64.0.1", OutsideAddr: "198.51.100.1"}}, "block.port_start: required"},
		{&pb.StaticBlockRequest{Block: &pb.StaticBlock{Pool: "a", InsideAddr: "x", OutsideAddr: "198.51.100.1", PortStart: 1}}, "block.inside_addr"},
		{&pb.ListSubscribersRequest{Pool: "UP"}, "pool: \"UP\""},
		{&pb.ListPoolBindingsRequest{}, ""},
	} {
		err := Request(tc.req)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%T: unexpected %v", tc.req, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%T: err %v, want %q", tc.req, err, tc.err)
		}
	}
}
