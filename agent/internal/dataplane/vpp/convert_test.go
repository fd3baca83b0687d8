package vpp

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"go.fd.io/govpp/adapter"
	"go.fd.io/govpp/api"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
)

func TestAddressConversions(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "10.1.2.3", "255.255.255.255", "::", "2001:db8::1", "fe80::1"} {
		a := netip.MustParseAddr(s)
		got, err := fromAddress(toAddress(a))
		if err != nil || got != a {
			t.Errorf("%s: round trip = %v, %v", s, got, err)
		}
	}
	if got := toAddress(netip.MustParseAddr("::ffff:1.2.3.4")); got.Af != ip_types.ADDRESS_IP4 {
		t.Errorf("4-in-6 not unmapped: %+v", got)
	}
	// "keep": invalid <-> all zeros of the VIP's family.
	if got := optAddress(netip.Addr{}, netip.MustParseAddr("2001:db8::1")); got.Af != ip_types.ADDRESS_IP6 {
		t.Errorf("keep for v6 VIP = %+v", got)
	}
	if a, err := fromOptAddress(toAddress(netip.IPv4Unspecified())); err != nil || a.IsValid() {
		t.Errorf("0.0.0.0 -> %v, %v; want invalid", a, err)
	}
	if _, err := fromAddress(ip_types.Address{Af: 7}); err == nil {
		t.Error("unknown family accepted")
	}
	for _, s := range []string{"10.0.0.0/8", "20::/100", "0.0.0.0/0", "1.2.3.4/32"} {
		p := netip.MustParsePrefix(s)
		got, err := fromPrefix(toPrefix(p))
		if err != nil || got != p {
			t.Errorf("%s: round trip = %v, %v", s, got, err)
		}
	}
	if _, err := fromPrefix(ip_types.Prefix{Address: toAddress(netip.MustParseAddr("1.2.3.4")), Len: 33}); err == nil {
		t.Error("/33 accepted")
	}
}

func TestTranslationConversion(t *testing.T) {
	tests := []struct {
		name      string
		in        model.Translation
		wantProto ip_types.IPProto
		wantBack  model.Translation // what reads back; zero = in
		wantErr   error
	}{
		{
			name: "v4 vip tcp hash",
			in: model.Translation{Key: model.TranslationKey{VRF: 3, VIP: mustAddr("30.0.0.2"), Port: 80, Proto: model.ProtoTCP},
				Backends: []model.Backend{{DstAddr: mustAddr("20.0.0.1"), DstPort: 8080}, {DstAddr: mustAddr("20.0.0.2")}}},
			wantProto: ip_types.IP_API_PROTO_TCP,
		},
		{
			name: "v4 real udp maglev with source rewrite",
			in: model.Translation{Key: model.TranslationKey{VIP: mustAddr("30.0.0.2"), Port: 53, Proto: model.ProtoUDP},
				Kind: model.KindReal, LB: model.LBMaglev, MaglevLen: 1009, HashFields: model.HashSrcAddr | model.HashDstPort,
				Backends: []model.Backend{{SrcAddr: mustAddr("1.2.3.4"), SrcPort: 5000, DstAddr: mustAddr("20.0.0.1"), DstPort: 53}}},
			wantProto: ip_types.IP_API_PROTO_UDP,
		},
		{
			name: "v4 icmp",
			in: model.Translation{Key: model.TranslationKey{VIP: mustAddr("30.0.0.2"), Proto: model.ProtoICMP},
				Backends: []model.Backend{{DstAddr: mustAddr("20.0.0.1")}}},
			wantProto: ip_types.IP_API_PROTO_ICMP,
		},
		{
			name: "v6 icmp is icmp6 on the wire and ProtoICMPv6 read back",
			in: model.Translation{Key: model.TranslationKey{VIP: mustAddr("2001:db8::1"), Proto: model.ProtoICMP},
				Backends: []model.Backend{{DstAddr: mustAddr("2001:db8::2")}}},
			wantProto: ip_types.IP_API_PROTO_ICMP6,
			wantBack: model.Translation{Key: model.TranslationKey{VIP: mustAddr("2001:db8::1"), Proto: model.ProtoICMPv6},
				Backends: []model.Backend{{DstAddr: mustAddr("2001:db8::2")}}},
		},
		{
			name:    "no vip",
			in:      model.Translation{Key: model.TranslationKey{Proto: model.ProtoTCP}},
			wantErr: errors.New("any"),
		},
		{
			name: "backend without destination",
			in: model.Translation{Key: model.TranslationKey{VIP: mustAddr("1.1.1.1"), Proto: model.ProtoTCP},
				Backends: []model.Backend{{DstPort: 80}}},
			wantErr: errors.New("any"),
		},
		{
			name: "gre",
			in: model.Translation{Key: model.TranslationKey{VIP: mustAddr("1.1.1.1"), Proto: 47},
				Backends: []model.Backend{{DstAddr: mustAddr("2.2.2.2")}}},
			wantErr: dataplane.ErrUnsupported,
		},
		{
			name: "unknown hash field",
			in: model.Translation{Key: model.TranslationKey{VIP: mustAddr("1.1.1.1"), Proto: model.ProtoTCP}, HashFields: 0x40,
				Backends: []model.Backend{{DstAddr: mustAddr("2.2.2.2")}}},
			wantErr: dataplane.ErrUnsupported,
		},
		{
			name:    "65 backends",
			in:      sampleTranslation("1.1.1.1", 80, maxBackends+1),
			wantErr: dataplane.ErrUnsupported,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := toTranslation(tt.in)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want %v", tt.wantErr)
				}
				if errors.Is(tt.wantErr, dataplane.ErrUnsupported) && !errors.Is(err, dataplane.ErrUnsupported) {
					t.Fatalf("error %v does not wrap ErrUnsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tr.Proto != tt.wantProto || int(tr.NBackends) != len(tt.in.Backends) {
				t.Errorf("proto %v n_backends %d", tr.Proto, tr.NBackends)
			}
			for i, b := range tr.Backends {
				if b.SrcAddr.Af != tr.Vip.Af {
					t.Errorf("backend %d keep-address family %v != VIP's %v", i, b.SrcAddr.Af, tr.Vip.Af)
				}
			}
			back, err := fromTranslation(tr)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.wantBack
			if want.Key.VIP == (netip.Addr{}) {
				want = tt.in
			}
			if !equalTranslation(back, want) {
				t.Errorf("read back\n got %+v\nwant %+v", back, want)
			}
		})
	}
}

func TestTimeoutConversion(t *testing.T) {
	req, err := toTimeoutsSet(model.Timeouts{UDP: 300 * time.Second, ICMP: time.Minute})
	if err != nil || req.UDP != 300 || req.ICMP != 60 || req.TCPEstablished != 0 || req.TCPTransitory != 0 {
		t.Fatalf("toTimeoutsSet = %+v, %v", req, err)
	}
	for _, d := range []time.Duration{time.Millisecond, -time.Second, (1 << 32) * time.Second} {
		if _, err := toTimeoutsSet(model.Timeouts{TCPTransitory: d}); !errors.Is(err, dataplane.ErrUnsupported) {
			t.Errorf("%v: error %v, want ErrUnsupported", d, err)
		}
	}
	got := fromTimeouts(&cloudnat.CloudnatTimeoutsGetReply{UDP: 300, TCPEstablished: 7440, TCPTransitory: 240, ICMP: 60})
	if got != model.DefaultTimeouts {
		t.Errorf("fromTimeouts = %+v", got)
	}
}

func TestSessionFilterConversion(t *testing.T) {
	req, _ := toSessionDump(model.SessionFilter{VRF: model.AllVRFs})
	if req.TableID != allTables || req.Addr.Len != 0 || req.Proto != 0 || req.Port != 0 {
		t.Errorf("match-all filter = %+v", req)
	}
	req, _ = toSessionDump(model.SessionFilter{VRF: 2, Proto: model.ProtoUDP, Addr: netip.MustParsePrefix("10.0.0.0/8"), Port: 53})
	if req.TableID != 2 || req.Proto != ip_types.IP_API_PROTO_UDP || req.Addr.Len != 8 || req.Port != 53 {
		t.Errorf("filter = %+v", req)
	}
	if _, err := toSessionDel(model.SessionKey{Proto: model.ProtoTCP}); err == nil {
		t.Error("session key without addresses accepted")
	}
}

func TestMismatchParsing(t *testing.T) {
	cerr := &api.CompatibilityError{IncompatibleMessages: []string{"cloudnat_get_status_12345678", "show_version_51077d14"}}
	table := map[string]string{"cloudnat_get_status": "87654321", "cloudnat_timeouts_get": "00000000"}
	got := mismatches(cerr, table)
	if len(got) != 2 || got[0] != (Mismatch{"cloudnat_get_status", "0x12345678", "0x87654321"}) ||
		got[1] != (Mismatch{"show_version", "0x51077d14", ""}) {
		t.Fatalf("mismatches = %+v", got)
	}
	s := mismatchSummary(got, table)
	want := "2 incompatible message(s): cloudnat_get_status (expected 0x12345678, VPP has 0x87654321); show_version (expected 0x51077d14, VPP has no such message)"
	if s != want {
		t.Errorf("summary =\n %s\nwant\n %s", s, want)
	}
	if s := mismatchSummary(got, map[string]string{"show_version": "1"}); s[:35] != "cloudnat plugin not loaded in VPP; " {
		t.Errorf("summary without plugin = %s", s)
	}
}

func TestDropsFromEntries(t *testing.T) {
	e := func(name string, data adapter.Stat) adapter.StatEntry {
		return adapter.StatEntry{StatIdentifier: adapter.StatIdentifier{Name: []byte(name)}, Data: data}
	}
	got := dropsFromEntries([]adapter.StatEntry{
		e("/err/ip4-cnat-vip/no translation", adapter.SimpleCounterStat{{1, 2}, {3}}),
		e("/err/ip6-cnat-snat/port exhausted", adapter.ErrorStat{4, 5}),
		e("/err/ip4-input/ip4 ttl <= 1", adapter.ErrorStat{100}),
		e("/err/cloudnat-session/limit", adapter.ScalarStat(7)),
	})
	want := map[string]uint64{"ip4-cnat-vip/no translation": 6, "ip6-cnat-snat/port exhausted": 9, "cloudnat-session/limit": 7}
	if len(got) != len(want) {
		t.Fatalf("drops = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("drops[%q] = %d, want %d", k, got[k], v)
		}
	}
}
