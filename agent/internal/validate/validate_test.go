package validate

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func goodTranslation() *pb.Translation {
	return &pb.Translation{
		Vip: "30.0.0.2", Port: 80, Proto: pb.Protocol_PROTOCOL_TCP,
		Backends: []*pb.Backend{
			{DstAddr: "20.0.0.1", DstPort: 8080},
			{SrcAddr: "1.2.3.4", SrcPort: 5555, DstAddr: "20.0.0.2", DstPort: 8080},
		},
	}
}

func tmod(f func(t *pb.Translation)) *pb.CreateTranslationRequest {
	t := goodTranslation()
	f(t)
	return &pb.CreateTranslationRequest{Translation: t}
}

func u32(v uint32) *uint32 { return &v }

// TestRequestErrors checks every field error: the message is exactly
// "<field>: <what>".
func TestRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  proto.Message
		want string // "" = valid
	}{
		// translations
		{"translation ok", tmod(func(*pb.Translation) {}), ""},
		{"translation missing", &pb.CreateTranslationRequest{}, "translation: required"},
		{"vrf reserved", tmod(func(t *pb.Translation) { t.Vrf = model.AllVRFs }), "translation.vrf: 4294967295 is reserved (it means all VRFs)"},
		{"vip missing", tmod(func(t *pb.Translation) { t.Vip = "" }), "translation.vip: required"},
		{"vip garbage", tmod(func(t *pb.Translation) { t.Vip = "30.0.0" }), `translation.vip: "30.0.0" is not an IP address`},
		{"vip unspecified", tmod(func(t *pb.Translation) { t.Vip = "0.0.0.0" }), "translation.vip: 0.0.0.0 is the unspecified address"},
		{"vip multicast", tmod(func(t *pb.Translation) { t.Vip = "ff02::1" }), "translation.vip: ff02::1 is a multicast address"},
		{"vip broadcast", tmod(func(t *pb.Translation) { t.Vip = "255.255.255.255" }), "translation.vip: 255.255.255.255 is the broadcast address"},
		{"vip zone", tmod(func(t *pb.Translation) { t.Vip = "fe80::1%eth0" }), "translation.vip: fe80::1%eth0: zones are not supported"},
		{"proto missing", tmod(func(t *pb.Translation) { t.Proto = 0 }), "translation.proto: required (tcp, udp or icmp)"},
		{"proto unknown", tmod(func(t *pb.Translation) { t.Proto = 99 }), "translation.proto: unknown protocol 99"},
		{"icmpv6 on v4", tmod(func(t *pb.Translation) { t.Proto = pb.Protocol_PROTOCOL_ICMPV6 }), "translation.proto: ICMPv6 does not match IPv4 vip 30.0.0.2"},
		{"port missing", tmod(func(t *pb.Translation) { t.Port = 0 }), "translation.port: required (1..65535)"},
		{"port range", tmod(func(t *pb.Translation) { t.Port = 65536 }), "translation.port: 65536 is out of range (0..65535)"},
		{"icmp ok", tmod(func(t *pb.Translation) {
			t.Proto, t.Port = pb.Protocol_PROTOCOL_ICMP, 0
			t.Backends = []*pb.Backend{{DstAddr: "20.0.0.1"}, {SrcAddr: "1.2.3.4", DstAddr: "20.0.0.2"}}
		}), ""},
		{"icmp port", tmod(func(t *pb.Translation) { t.Proto = pb.Protocol_PROTOCOL_ICMP }), "translation.port: must be 0 for icmp (a translation takes every echo identifier)"},
		{"icmp backend port", tmod(func(t *pb.Translation) { t.Proto, t.Port = pb.Protocol_PROTOCOL_ICMP, 0 }), "translation.backends[0].dst_port: must be 0 for icmp (echo identifiers are not rewritten)"},
		{"kind unknown", tmod(func(t *pb.Translation) { t.Kind = 7 }), "translation.kind: unknown kind 7"},
		{"lb unknown", tmod(func(t *pb.Translation) { t.Lb = 7 }), "translation.lb: unknown load-balancing method 7"},
		{"hash field unknown", tmod(func(t *pb.Translation) { t.HashFields = []pb.HashField{pb.HashField_HASH_FIELD_PROTO, 0} }), "translation.hash_fields[1]: unknown hash field 0"},
		{"hash field twice", tmod(func(t *pb.Translation) {
			t.HashFields = []pb.HashField{pb.HashField_HASH_FIELD_SRC_PORT, pb.HashField_HASH_FIELD_SRC_PORT}
		}), "translation.hash_fields[1]: src_port given twice"},
		{"maglev len without maglev", tmod(func(t *pb.Translation) { t.MaglevLen = 1009 }), "translation.maglev_len: only meaningful with lb maglev"},
		{"maglev len not prime", tmod(func(t *pb.Translation) { t.Lb = pb.LBMethod_LB_METHOD_MAGLEV; t.MaglevLen = 1000 }), "translation.maglev_len: 1000 is not a prime"},
		{"maglev len too large", tmod(func(t *pb.Translation) { t.Lb = pb.LBMethod_LB_METHOD_MAGLEV; t.MaglevLen = 65537 }), "translation.maglev_len: 65537 is too large (at most 65521)"},
		{"maglev len too small", tmod(func(t *pb.Translation) {
			t.Lb = pb.LBMethod_LB_METHOD_MAGLEV
			t.MaglevLen = 2
			t.Backends = append(t.Backends, &pb.Backend{DstAddr: "20.0.0.3"})
		}), "translation.maglev_len: 2 is smaller than the number of backends (3)"},
		{"maglev ok", tmod(func(t *pb.Translation) { t.Lb = pb.LBMethod_LB_METHOD_MAGLEV; t.MaglevLen = 1009 }), ""},
		{"no backends", tmod(func(t *pb.Translation) { t.Backends = nil }), "translation.backends: at least one backend is required"},
		{"too many backends", tmod(func(t *pb.Translation) {
			t.Backends = nil
			for i := range MaxBackends + 1 {
				t.Backends = append(t.Backends, &pb.Backend{DstAddr: "20.0.0.1", DstPort: uint32(i + 1)})
			}
		}), "translation.backends: 256 backends, at most 255"},
		{"backend nil", tmod(func(t *pb.Translation) { t.Backends[1] = nil }), "translation.backends[1]: required"},
		{"backend dst missing", tmod(func(t *pb.Translation) { t.Backends[0].DstAddr = "" }), "translation.backends[0].dst_addr: required"},
		{"backend family", tmod(func(t *pb.Translation) { t.Backends[1].DstAddr = "20::1" }), "translation.backends[1].dst_addr: address family IPv6 does not match vip 30.0.0.2"},
		{"backend src family", tmod(func(t *pb.Translation) { t.Backends[1].SrcAddr = "2001:db8::1" }), "translation.backends[1].src_addr: address family IPv6 does not match vip 30.0.0.2"},
		{"backend src garbage", tmod(func(t *pb.Translation) { t.Backends[1].SrcAddr = "x" }), `translation.backends[1].src_addr: "x" is not an IP address`},
		{"backend dst port", tmod(func(t *pb.Translation) { t.Backends[0].DstPort = 70000 }), "translation.backends[0].dst_port: 70000 is out of range (0..65535)"},
		{"backend src port", tmod(func(t *pb.Translation) { t.Backends[1].SrcPort = 70000 }), "translation.backends[1].src_port: 70000 is out of range (0..65535)"},
		{"backend duplicate", tmod(func(t *pb.Translation) {
			t.Backends = append(t.Backends, &pb.Backend{DstAddr: "20.0.0.1", DstPort: 8080})
		}), "translation.backends[2]: duplicates translation.backends[0]"},
		{"update validated too", &pb.UpdateTranslationRequest{Translation: &pb.Translation{Vip: "1.1.1.1"}}, "translation.proto: required (tcp, udp or icmp)"},
		// keys
		{"key missing", &pb.DeleteTranslationRequest{}, "key: required"},
		{"key vip", &pb.GetTranslationRequest{Key: &pb.TranslationKey{Vip: "x", Port: 1, Proto: pb.Protocol_PROTOCOL_UDP}}, `key.vip: "x" is not an IP address`},
		{"key port", &pb.GetTranslationRequest{Key: &pb.TranslationKey{Vip: "1.1.1.1", Proto: pb.Protocol_PROTOCOL_UDP}}, "key.port: required (1..65535)"},
		{"key ok", &pb.DeleteTranslationRequest{Key: &pb.TranslationKey{Vip: "1.1.1.1", Port: 1, Proto: pb.Protocol_PROTOCOL_UDP}}, ""},
		{"list vrf", &pb.ListTranslationsRequest{Vrf: u32(model.AllVRFs)}, "vrf: 4294967295 is reserved (it means all VRFs)"},
		// SNAT
		{"snat ok mixed", &pb.SetSNATAddressesRequest{Addrs: []string{"1.1.1.1", "2001:db8::1"}}, ""},
		{"snat empty ok", &pb.SetSNATAddressesRequest{}, ""},
		{"snat addr", &pb.SetSNATAddressesRequest{Addrs: []string{"1.1.1.1", "bad"}}, `addrs[1]: "bad" is not an IP address`},
		{"snat addr dup", &pb.SetSNATAddressesRequest{Addrs: []string{"1.1.1.1", "::ffff:1.1.1.1"}}, "addrs[1]: 1.1.1.1 duplicates addrs[0]"},
		{"snat vrf", &pb.SetSNATAddressesRequest{Vrf: model.AllVRFs}, "vrf: 4294967295 is reserved (it means all VRFs)"},
		{"exclusion ok", &pb.AddSNATExclusionRequest{Prefix: "10.0.0.0/8"}, ""},
		{"exclusion host ok", &pb.AddSNATExclusionRequest{Prefix: "10.0.0.1"}, ""},
		{"exclusion missing", &pb.AddSNATExclusionRequest{}, "prefix: required"},
		{"exclusion garbage", &pb.DeleteSNATExclusionRequest{Prefix: "10/8"}, `prefix: "10/8" is not a prefix (want address/length)`},
		{"exclusion host bits", &pb.AddSNATExclusionRequest{Prefix: "10.0.0.1/8"}, "prefix: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
		{"interface missing", &pb.SNATInterfaceRequest{}, "interface: required"},
		{"interface space", &pb.SNATInterfaceRequest{Interface: "tap 0"}, `interface: "tap 0" contains a space or control character`},
		{"interface long", &pb.SNATInterfaceRequest{Interface: strings.Repeat("x", 64)}, "interface: \"" + strings.Repeat("x", 64) + "\" is longer than 63 bytes"},
		{"interface ok", &pb.SNATInterfaceRequest{Interface: "host-veth1", Ipv6: true}, ""},
		// sessions
		{"sessions filter ok", &pb.ListSessionsRequest{Vrf: u32(1), Proto: pb.Protocol_PROTOCOL_TCP, Addr: "10.0.0.0/24", Port: 80}, ""},
		{"sessions filter addr", &pb.ListSessionsRequest{Addr: "10.0.0.0/33"}, `addr: "10.0.0.0/33" is not a prefix (want address/length)`},
		{"sessions filter port", &pb.ListSessionsRequest{Port: 1 << 20}, "port: 1048576 is out of range (0..65535)"},
		{"sessions filter proto", &pb.ListSessionsRequest{Proto: 3}, "proto: unknown protocol 3"},
		{"session delete ok", &pb.DeleteSessionRequest{Proto: pb.Protocol_PROTOCOL_TCP, SrcAddr: "10.0.0.1", SrcPort: 1234, DstAddr: "30.0.0.2", DstPort: 80}, ""},
		{"session delete proto", &pb.DeleteSessionRequest{SrcAddr: "10.0.0.1", SrcPort: 1234, DstAddr: "30.0.0.2", DstPort: 80}, "proto: required (tcp, udp or icmp)"},
		{"session delete src", &pb.DeleteSessionRequest{Proto: pb.Protocol_PROTOCOL_TCP, SrcPort: 1234, DstAddr: "30.0.0.2", DstPort: 80}, "src_addr: required"},
		{"session delete family", &pb.DeleteSessionRequest{Proto: pb.Protocol_PROTOCOL_TCP, SrcAddr: "10.0.0.1", SrcPort: 1, DstAddr: "2001:db8::1", DstPort: 80}, "dst_addr: address family IPv6 does not match src_addr 10.0.0.1"},
		{"session delete port", &pb.DeleteSessionRequest{Proto: pb.Protocol_PROTOCOL_UDP, SrcAddr: "10.0.0.1", DstAddr: "30.0.0.2", DstPort: 80}, "src_port: required (1..65535)"},
		{"purge vrf", &pb.PurgeSessionsRequest{Vrf: u32(model.AllVRFs)}, "vrf: 4294967295 is reserved (it means all VRFs)"},
		// timeouts and limits
		{"timeouts missing", &pb.SetTimeoutsRequest{}, "timeouts: required"},
		{"timeouts empty", &pb.SetTimeoutsRequest{Timeouts: &pb.Timeouts{}}, "timeouts: set at least one of udp, tcp_established, tcp_transitory, icmp"},
		{"timeouts short", &pb.SetTimeoutsRequest{Timeouts: &pb.Timeouts{Udp: durationpb.New(time.Millisecond)}}, "timeouts.udp: 1ms is out of range (1s..168h0m0s)"},
		{"timeouts fraction", &pb.SetTimeoutsRequest{Timeouts: &pb.Timeouts{Icmp: durationpb.New(1500 * time.Millisecond)}}, "timeouts.icmp: 1.5s is not a whole number of seconds"},
		{"timeouts long", &pb.SetTimeoutsRequest{Timeouts: &pb.Timeouts{TcpEstablished: durationpb.New(8 * 24 * time.Hour)}}, "timeouts.tcp_established: 192h0m0s is out of range (1s..168h0m0s)"},
		{"timeouts invalid", &pb.SetTimeoutsRequest{Timeouts: &pb.Timeouts{TcpTransitory: &durationpb.Duration{Seconds: 1, Nanos: -1}}}, "timeouts.tcp_transitory: invalid duration (seconds 1, nanos -1)"},
		{"timeouts ok", &pb.SetTimeoutsRequest{Timeouts: &pb.Timeouts{TcpEstablished: durationpb.New(2*time.Hour + 4*time.Minute)}}, ""},
		{"limit vrf", &pb.SetSessionLimitRequest{Vrf: u32(model.AllVRFs), Max: 1}, "vrf: 4294967295 is reserved (it means all VRFs)"},
		{"limit global ok", &pb.SetSessionLimitRequest{Max: 1}, ""},
		// not API requests
		{"other message", &pb.GetStatusRequest{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Request(tc.req)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if _, ok := AsFieldError(err); !ok {
				t.Errorf("error %T is not a *FieldError", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("error\n %q\nwant\n %q", err, tc.want)
			}
		})
	}
}

func TestTranslationConverts(t *testing.T) {
	in := goodTranslation()
	in.Vrf = 3
	in.Kind = pb.TranslationKind_TRANSLATION_KIND_REAL
	in.Lb = pb.LBMethod_LB_METHOD_MAGLEV
	in.HashFields = []pb.HashField{pb.HashField_HASH_FIELD_SRC_ADDR, pb.HashField_HASH_FIELD_PROTO}
	got, err := Translation("translation", in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != (model.TranslationKey{VRF: 3, VIP: netip.MustParseAddr("30.0.0.2"), Port: 80, Proto: model.ProtoTCP}) ||
		got.Kind != model.KindReal || got.LB != model.LBMaglev || got.HashFields != model.HashSrcAddr|model.HashProto ||
		len(got.Backends) != 2 || got.Backends[1] != (model.Backend{
		SrcAddr: netip.MustParseAddr("1.2.3.4"), SrcPort: 5555, DstAddr: netip.MustParseAddr("20.0.0.2"), DstPort: 8080}) ||
		got.Backends[0].SrcAddr.IsValid() {
		t.Fatalf("got %+v", got)
	}
	// ICMPv6 on a v6 VIP is ICMP.
	k, err := TranslationKey("key", &pb.TranslationKey{Vip: "2001:db8::1", Proto: pb.Protocol_PROTOCOL_ICMPV6})
	if err != nil || k.Proto != model.ProtoICMP {
		t.Fatalf("key %+v err %v", k, err)
	}
}

func TestSessionConversions(t *testing.T) {
	k, err := SessionKey(&pb.DeleteSessionRequest{Vrf: 2, Proto: pb.Protocol_PROTOCOL_ICMP, SrcAddr: "2001:db8::1", SrcPort: 7, DstAddr: "2001:db8::2"})
	if err != nil {
		t.Fatal(err)
	}
	if k.Proto != model.ProtoICMPv6 || k.VRF != 2 || k.Src != netip.MustParseAddrPort("[2001:db8::1]:7") {
		t.Fatalf("key %+v", k)
	}
	f, err := SessionFilter(&pb.ListSessionsRequest{Addr: "10.0.0.1"})
	if err != nil || f.VRF != model.AllVRFs || f.Addr != netip.MustParsePrefix("10.0.0.1/32") {
		t.Fatalf("filter %+v err %v", f, err)
	}
	ifs, err := SNATInterfaces(&pb.SNATInterfaceRequest{Interface: "tap0"})
	if err != nil || len(ifs) != 2 {
		t.Fatalf("interfaces %+v err %v", ifs, err)
	}
	l, err := SessionLimit(&pb.SetSessionLimitRequest{Max: 5})
	if err != nil || l.VRF != model.AllVRFs || l.Max != 5 {
		t.Fatalf("limit %+v err %v", l, err)
	}
}
