package kernel

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func sampleState() *state {
	s := newState()
	s.Translations = []translation{
		{ID: 1, T: model.Translation{Key: model.TranslationKey{VIP: ip("10.99.0.10"), Port: 80, Proto: model.ProtoTCP},
			Backends: []model.Backend{{DstAddr: ip("10.0.0.1"), DstPort: 8080}, {DstAddr: ip("10.0.0.2"), SrcAddr: ip("10.0.0.254"), SrcPort: 1234}}}},
		{ID: 2, T: model.Translation{Key: model.TranslationKey{VRF: 7, VIP: ip("fd00::9"), Port: 53, Proto: model.ProtoUDP},
			Kind: model.KindReal, HashFields: model.HashSrcAddr | model.HashSrcPort,
			Backends: []model.Backend{{DstAddr: ip("fd00::1")}, {DstAddr: ip("fd00::2")}, {DstAddr: ip("fd00::3"), DstPort: 5353}}}},
		{ID: 3, T: model.Translation{Key: model.TranslationKey{VIP: ip("10.99.0.10"), Proto: model.ProtoICMP},
			Backends: []model.Backend{{DstAddr: ip("10.0.0.1")}}}},
	}
	s.Addresses = []model.SNATAddress{{VRF: 7, Addr: ip("192.0.2.1")}, {VRF: 7, Addr: ip("192.0.2.2")}, {Addr: ip("2001:db8::1")}}
	s.Exclusions = []model.SNATExclusion{{VRF: 7, Prefix: netip.MustParsePrefix("10.0.0.0/8")}, {Prefix: netip.MustParsePrefix("2001:db8:ee::/48")}}
	s.Interfaces = []model.SNATInterface{{Interface: "in7", Family: model.IPv4}, {Interface: "eth0", Family: model.IPv6}}
	s.Limits = []model.SessionLimit{{VRF: 7, Max: 100}, {VRF: model.AllVRFs, Max: 1000}}
	s.Timeouts.UDP = 33 * time.Second
	s.sort()
	return s
}

var sampleHost = hostView{vrfOf: map[string]uint32{"in7": 7, "out7": 7, "big": 70000}}

// snapshotOf turns a plan into what readTable would return for it.
func snapshotOf(p *plan) *snapshot {
	snap := &snapshot{exists: true, timeouts: p.timeouts, haveTO: true}
	for _, c := range p.chains {
		for _, r := range c.rules {
			snap.rules = append(snap.rules, tableRule{chain: c.name, comment: r.comment, exprs: r.exprs})
		}
	}
	return snap
}

func TestBuildDecodeRoundTrip(t *testing.T) {
	want := sampleState()
	got, err := decode(snapshotOf(build(sampleState(), sampleHost)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decode(build(s)) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDecodeEmpty(t *testing.T) {
	s, err := decode(&snapshot{})
	if err != nil || len(s.Translations) != 0 || s.Timeouts != model.DefaultTimeouts {
		t.Fatalf("decode(empty) = %+v, %v", s, err)
	}
}

func TestDecodeMissingBackendRule(t *testing.T) {
	snap := snapshotOf(build(sampleState(), sampleHost))
	snap.rules = slices.DeleteFunc(snap.rules, func(r tableRule) bool { return strings.HasPrefix(r.comment, "cn:b 2 1 ") })
	s, err := decode(snap)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.Translations[1].T.Backends); got != 2 {
		t.Fatalf("translation 2 has %d backends after losing a rule, want 2 (so the diff repairs it)", got)
	}
}

func chainNames(p *plan) []string {
	var out []string
	for _, c := range p.chains {
		out = append(out, c.name)
	}
	return out
}

func findExpr[T expr.Any](rule []expr.Any) (T, bool) {
	for _, e := range rule {
		if x, ok := e.(T); ok {
			return x, true
		}
	}
	var zero T
	return zero, false
}

func ruleByComment(t *testing.T, p *plan, chain, prefix string) rulePlan {
	t.Helper()
	for _, r := range p.chain(chain).rules {
		if strings.HasPrefix(r.comment, prefix) {
			return r
		}
	}
	t.Fatalf("no rule %q in chain %s", prefix, chain)
	return rulePlan{}
}

func TestBuildLayout(t *testing.T) {
	p := build(sampleState(), sampleHost)
	want := []string{"zone", "pre", "out", "dnat", "post", "fin_pre", "fin_out", "fin_post", "fin", "snat4_7", "snat6_0"}
	if got := chainNames(p); !slices.Equal(got, want) {
		t.Fatalf("chains %v, want %v", got, want)
	}
	// Zones: only interfaces of VRFs that fit a zone, sorted.
	if n := len(p.chain("zone").rules); n != 2 {
		t.Fatalf("zone rules %d, want 2 (in7, out7; big is over 65535)", n)
	}
	// Two backends: jhash into the mark with modulus 2 and the id's base.
	anchor := ruleByComment(t, p, "dnat", "cn:t 1 ")
	h, ok := findExpr[*expr.Hash](anchor.exprs)
	if !ok || h.Modulus != 2 || h.Offset != translationMark(1) || h.Length != 4+4+4+4+4 {
		t.Fatalf("translation 1 hash %+v", h)
	}
	// IPv6, hashed on saddr . sport: 16 + 4 bytes.
	anchor = ruleByComment(t, p, "dnat", "cn:t 2 ")
	h, _ = findExpr[*expr.Hash](anchor.exprs)
	if h.Modulus != 3 || h.Length != 20 {
		t.Fatalf("translation 2 hash %+v", h)
	}
	// One backend: no hash, a constant mark.
	anchor = ruleByComment(t, p, "dnat", "cn:t 3 ")
	if _, ok := findExpr[*expr.Hash](anchor.exprs); ok {
		t.Fatal("single-backend translation hashes")
	}
	// Backend with a port: dnat to addr and port, family ipv4.
	be := ruleByComment(t, p, "dnat", "cn:b 1 0 ")
	nat, _ := findExpr[*expr.NAT](be.exprs)
	if nat.Type != expr.NATTypeDestNAT || nat.RegAddrMin == 0 || nat.RegProtoMin == 0 || nat.Family != 2 {
		t.Fatalf("backend nat %+v", nat)
	}
	// Source rewrite of backend 1 in postrouting, keyed by its mark.
	var snats int
	for _, r := range p.chain("post").rules {
		if n, ok := findExpr[*expr.NAT](r.exprs); ok && n.Type == expr.NATTypeSourceNAT {
			snats++
		}
	}
	if snats != 1 {
		t.Fatalf("post has %d snat rules, want 1 (backend source rewrite)", snats)
	}
	// One VIP drop for 10.99.0.10 (two translations share it); none for real.
	var drops int
	for _, r := range p.chain("dnat").rules {
		if strings.HasPrefix(r.comment, tagVIPDrop) {
			drops++
		}
	}
	if drops != 1 {
		t.Fatalf("%d VIP drop rules, want 1", drops)
	}
	// SNAT interface in7 goes to VRF 7's chain; eth0 (no VRF) to VRF 0's.
	for name, target := range map[string]string{"cn:i 4 in7": "snat4_7", "cn:i 6 eth0": "snat6_0"} {
		r := ruleByComment(t, p, "post", name)
		v, _ := findExpr[*expr.Verdict](r.exprs)
		if v.Kind != expr.VerdictGoto || v.Chain != target {
			t.Fatalf("%s: verdict %+v, want goto %s", name, v, target)
		}
	}
	// VRF 7 pool of two: exclusion first, then hash over saddr, then one
	// snat per address.
	sc := p.chain("snat4_7").rules
	if len(sc) != 4 || !strings.HasPrefix(sc[0].comment, tagExclusion) || !strings.HasPrefix(sc[2].comment, "cn:a 7 192.0.2.1") {
		t.Fatalf("snat4_7 rules %+v", sc)
	}
	if h, ok := findExpr[*expr.Hash](sc[1].exprs); !ok || h.Modulus != 2 || h.Offset != snatMark() || h.Length != 4 {
		t.Fatalf("pool hash %+v", h)
	}
	// Limits: per-VRF and global connlimit; timeouts for four protocols.
	var limits, timeouts int
	for _, r := range p.chain("fin").rules {
		if c, ok := findExpr[*expr.Connlimit](r.exprs); ok && c.Flags == expr.NFT_CONNLIMIT_F_INV {
			limits++
		}
		if _, ok := findExpr[*expr.Objref](r.exprs); ok {
			timeouts++
		}
	}
	if limits != 2 || timeouts != 4 {
		t.Fatalf("fin: %d limits, %d timeout rules", limits, timeouts)
	}
}

func TestBuildDeterministic(t *testing.T) {
	a := build(sampleState(), sampleHost)
	b := build(sampleState(), sampleHost)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("build is not deterministic")
	}
}

func TestHashFieldsOf(t *testing.T) {
	all := model.HashFields(0)
	for _, tc := range []struct {
		name  string
		fam   model.Family
		proto model.Proto
		hf    model.HashFields
		bytes uint32
	}{
		{"v4 tcp all", model.IPv4, model.ProtoTCP, all, 4 + 4 + 2 + 2 + 1},
		{"v6 udp all", model.IPv6, model.ProtoUDP, all, 16 + 16 + 2 + 2 + 1},
		{"v4 icmp all drops ports", model.IPv4, model.ProtoICMP, all, 4 + 4 + 1},
		{"v4 src only", model.IPv4, model.ProtoTCP, model.HashSrcAddr, 4},
		{"v6 dport+proto", model.IPv6, model.ProtoTCP, model.HashDstPort | model.HashProto, 2 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n uint32
			for _, f := range hashFieldsOf(tc.fam, tc.proto, tc.hf) {
				n += f.length
			}
			if n != tc.bytes {
				t.Fatalf("hash input %d bytes, want %d", n, tc.bytes)
			}
			// It must fit the registers.
			e := setMarkHash(tc.fam, hashFieldsOf(tc.fam, tc.proto, tc.hf), 2, 0)
			for _, x := range e {
				if p, ok := x.(*expr.Payload); ok && p.DestRegister+(p.Len+3)/4-1 > reg32Last {
					t.Fatalf("payload past the last register: %+v", p)
				}
			}
		})
	}
}

func TestNormalizeTranslation(t *testing.T) {
	key := model.TranslationKey{VIP: ip("10.0.0.1"), Port: 80, Proto: model.ProtoTCP}
	be := []model.Backend{{DstAddr: ip("10.1.0.1")}}
	for _, tc := range []struct {
		name        string
		t           model.Translation
		unsupported bool
		bad         bool
	}{
		{"ok", model.Translation{Key: key, Backends: be}, false, false},
		{"maglev", model.Translation{Key: key, LB: model.LBMaglev, Backends: be}, true, false},
		{"vrf over 16 bits", model.Translation{Key: model.TranslationKey{VRF: 70000, VIP: key.VIP, Port: 80, Proto: model.ProtoTCP}, Backends: be}, true, false},
		{"family mix", model.Translation{Key: key, Backends: []model.Backend{{DstAddr: ip("fd00::1")}}}, true, false},
		{"icmp id rewrite", model.Translation{Key: model.TranslationKey{VIP: key.VIP, Proto: model.ProtoICMP},
			Backends: []model.Backend{{DstAddr: ip("10.1.0.1"), DstPort: 9}}}, true, false},
		{"icmp keyed by id", model.Translation{Key: model.TranslationKey{VIP: key.VIP, Port: 5, Proto: model.ProtoICMP}, Backends: be}, true, false},
		{"icmpv6 on v4", model.Translation{Key: model.TranslationKey{VIP: key.VIP, Proto: model.ProtoICMPv6}, Backends: be}, false, true},
		{"sctp", model.Translation{Key: model.TranslationKey{VIP: key.VIP, Port: 1, Proto: 132}, Backends: be}, true, false},
		{"no dst", model.Translation{Key: key, Backends: []model.Backend{{DstPort: 1}}}, false, true},
		{"no vip", model.Translation{Key: model.TranslationKey{Port: 1, Proto: model.ProtoTCP}, Backends: be}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := normalizeTranslation(tc.t)
			switch {
			case tc.unsupported && !errors.Is(err, dataplane.ErrUnsupported):
				t.Fatalf("err %v, want ErrUnsupported", err)
			case tc.bad && (err == nil || errors.Is(err, dataplane.ErrUnsupported)):
				t.Fatalf("err %v, want a validation error", err)
			case !tc.unsupported && !tc.bad && err != nil:
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestCommentRoundTrip(t *testing.T) {
	s := sampleState()
	tr := s.Translations[1]
	for _, tc := range []struct {
		comment string
		check   func(p parsed) bool
	}{
		{translationComment(tr.ID, tr.T), func(p parsed) bool {
			return p.id == tr.ID && p.trans.Key == tr.T.Key && p.trans.Kind == tr.T.Kind &&
				p.trans.HashFields == tr.T.HashFields && p.nbacks == 3
		}},
		{backendComment(2, 1, model.Backend{DstAddr: ip("fd00::2"), SrcPort: 9}), func(p parsed) bool {
			return p.id == 2 && p.idx == 1 && p.back == model.Backend{DstAddr: ip("fd00::2"), SrcPort: 9}
		}},
		{snatAddrComment(s.Addresses[0]), func(p parsed) bool { return p.addr == s.Addresses[0] }},
		{exclusionComment(s.Exclusions[0]), func(p parsed) bool { return p.excl == s.Exclusions[0] }},
		{interfaceComment(s.Interfaces[0]), func(p parsed) bool { return p.iface == s.Interfaces[0] }},
		{limitComment(s.Limits[1]), func(p parsed) bool { return p.limit == s.Limits[1] }},
	} {
		if len(tc.comment) > 127 {
			t.Errorf("comment %q longer than nft allows", tc.comment)
		}
		p, ok, err := parseComment(tc.comment)
		if err != nil || !ok || !tc.check(p) {
			t.Errorf("parseComment(%q) = %+v, %v, %v", tc.comment, p, ok, err)
		}
	}
	for _, c := range []string{"", "hello", "cn:d 0 10.0.0.1"} {
		if _, ok, err := parseComment(c); ok || err != nil {
			t.Errorf("parseComment(%q) = %v, %v; want not an object", c, ok, err)
		}
	}
	if _, _, err := parseComment("cn:t 1 x"); err == nil {
		t.Error("garbled comment accepted")
	}
	long := backendComment(16383, 65535, model.Backend{DstAddr: ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), DstPort: 65535,
		SrcAddr: ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), SrcPort: 65535})
	if len(long) > 127 {
		t.Errorf("longest backend comment is %d bytes", len(long))
	}
}

func TestMergeTimeouts(t *testing.T) {
	got, err := mergeTimeouts(model.DefaultTimeouts, model.Timeouts{UDP: time.Minute})
	if err != nil || got.UDP != time.Minute || got.TCPEstablished != model.DefaultTimeouts.TCPEstablished {
		t.Fatalf("merge %+v %v", got, err)
	}
	for _, bad := range []model.Timeouts{{UDP: 500 * time.Millisecond}, {ICMP: 1500 * time.Millisecond}, {TCPEstablished: 400 * 24 * time.Hour}} {
		if _, err := mergeTimeouts(model.DefaultTimeouts, bad); !errors.Is(err, dataplane.ErrUnsupported) {
			t.Errorf("merge %+v: %v, want ErrUnsupported", bad, err)
		}
	}
	pol := timeoutPolicy(model.ProtoTCP, model.DefaultTimeouts)
	if pol[expr.CtStateTCPESTABLISHED] != 7440 || pol[expr.CtStateTCPSYNSENT] != 240 || pol[expr.CtStateTCPFINWAIT] != 240 {
		t.Fatalf("tcp policy %v", pol)
	}
}

func TestSessionOf(t *testing.T) {
	flow := &netlink.ConntrackFlow{
		Forward: netlink.IPTuple{Protocol: 6, SrcIP: net.ParseIP("10.10.0.2"), SrcPort: 40000, DstIP: net.ParseIP("10.99.0.10"), DstPort: 80},
		Reverse: netlink.IPTuple{Protocol: 6, SrcIP: net.ParseIP("10.20.1.2"), SrcPort: 8000, DstIP: net.ParseIP("10.10.0.2"), DstPort: 40000},
		Mark:    translationMark(5) + 1, Zone: 7, TimeOut: 100, ProtoInfo: &netlink.ProtoInfoTCP{State: 3},
	}
	s, ok := sessionOf(flow)
	want := model.Session{VRF: 7, Proto: model.ProtoTCP, Src: netip.MustParseAddrPort("10.10.0.2:40000"),
		Dst: netip.MustParseAddrPort("10.99.0.10:80"), NewSrc: netip.MustParseAddrPort("10.10.0.2:40000"),
		NewDst: netip.MustParseAddrPort("10.20.1.2:8000"), TCPState: model.TCPEstablished, TranslationID: 5,
		ExpiresIn: 100 * time.Second}
	if !ok || s != want {
		t.Fatalf("sessionOf = %+v, want %+v", s, want)
	}
	if !matchKey(s, model.SessionKey{VRF: 7, Proto: model.ProtoTCP, Src: s.NewDst, Dst: s.NewSrc}) ||
		matchKey(s, model.SessionKey{VRF: 8, Proto: model.ProtoTCP, Src: s.Src, Dst: s.Dst}) {
		t.Fatal("matchKey")
	}
	for _, tc := range []struct {
		f    model.SessionFilter
		want bool
	}{
		{model.SessionFilter{VRF: model.AllVRFs}, true},
		{model.SessionFilter{VRF: 7, Proto: model.ProtoTCP, Port: 80}, true},
		{model.SessionFilter{VRF: 0}, false},
		{model.SessionFilter{VRF: model.AllVRFs, Addr: netip.MustParsePrefix("10.99.0.0/24")}, true},
		{model.SessionFilter{VRF: model.AllVRFs, Addr: netip.MustParsePrefix("10.20.0.0/16")}, false},
		{model.SessionFilter{VRF: model.AllVRFs, Proto: model.ProtoUDP}, false},
	} {
		if got := matchFilter(s, tc.f); got != tc.want {
			t.Errorf("matchFilter(%+v) = %v", tc.f, got)
		}
	}
	flow.Mark = 0x1234
	if _, ok := sessionOf(flow); ok {
		t.Fatal("a flow without cloudnat's mark bit is a session")
	}
	flow.Mark = snatMark() + 1
	if s, _ := sessionOf(flow); !s.SNAT || s.TranslationID != 0 {
		t.Fatalf("snat flow %+v", s)
	}
}

func TestStatePut(t *testing.T) {
	s := newState()
	k := model.TranslationKey{VIP: ip("10.0.0.1"), Port: 1, Proto: model.ProtoTCP}
	s.putTranslation(model.Translation{Key: k})
	s.putTranslation(model.Translation{Key: model.TranslationKey{VIP: ip("10.0.0.2"), Port: 1, Proto: model.ProtoTCP}})
	s.putTranslation(model.Translation{Key: k, Kind: model.KindReal})
	if len(s.Translations) != 2 || s.Translations[0].ID != 1 || s.Translations[0].T.Kind != model.KindReal || s.Translations[1].ID != 2 {
		t.Fatalf("translations %+v", s.Translations)
	}
	s.deleteTranslation(k)
	s.putTranslation(model.Translation{Key: model.TranslationKey{VIP: ip("10.0.0.3"), Port: 1, Proto: model.ProtoTCP}})
	if s.Translations[1].ID != 1 {
		t.Fatalf("freed id not reused: %+v", s.Translations)
	}
}
