package reconcile

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

var (
	a = netip.MustParseAddr
	p = netip.MustParsePrefix
)

func key(vip string, port uint16) model.TranslationKey {
	return model.TranslationKey{VIP: a(vip), Port: port, Proto: model.ProtoTCP}
}

func tr(vip string, port uint16, backends ...string) model.Translation {
	t := model.Translation{Key: key(vip, port)}
	for _, b := range backends {
		ap := netip.MustParseAddrPort(b)
		t.Backends = append(t.Backends, model.Backend{DstAddr: ap.Addr(), DstPort: ap.Port()})
	}
	return t
}

// opStrings renders ops as "put translation vrf 0 tcp 30.0.0.2:80".
func opStrings(ops []Op) []string {
	var out []string
	for _, o := range ops {
		out = append(out, o.verb()+" "+o.ID.String())
	}
	return out
}

func TestDiff(t *testing.T) {
	v4 := model.SNATAddress{Addr: a("1.1.1.1")}
	v4b := model.SNATAddress{Addr: a("1.1.1.2")}
	ex := model.SNATExclusion{Prefix: p("10.0.0.0/8")}
	if4 := model.SNATInterface{Interface: "tap0", Family: model.IPv4}
	if6 := model.SNATInterface{Interface: "tap0", Family: model.IPv6}
	maglev := tr("30.0.0.2", 80, "20.0.0.1:8080", "20.0.0.2:8080")
	maglev.LB = model.LBMaglev

	for _, tc := range []struct {
		name            string
		desired, actual model.Desired
		want            []string
	}{
		{name: "empty", want: nil},
		// translations
		{
			name:    "translation add",
			desired: model.Desired{Translations: []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:8080")}},
			want:    []string{"put translation vrf 0 tcp 30.0.0.2:80"},
		},
		{
			name:    "translation no-op",
			desired: model.Desired{Translations: []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:8080")}},
			actual:  model.Desired{Translations: []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:8080")}},
		},
		{
			name:    "translation change backend",
			desired: model.Desired{Translations: []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:8080")}},
			actual:  model.Desired{Translations: []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:8081")}},
			want:    []string{"put translation vrf 0 tcp 30.0.0.2:80"},
		},
		{
			name:    "translation change lb",
			desired: model.Desired{Translations: []model.Translation{maglev}},
			actual:  model.Desired{Translations: []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:8080", "20.0.0.2:8080")}},
			want:    []string{"put translation vrf 0 tcp 30.0.0.2:80"},
		},
		{
			name:    "translation remove",
			actual:  model.Desired{Translations: []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:8080")}},
			want:    []string{"delete translation vrf 0 tcp 30.0.0.2:80"},
			desired: model.Desired{},
		},
		{
			name:    "translation semantic no-op (order, defaults, keep spelt 0.0.0.0)",
			desired: model.Desired{Translations: []model.Translation{maglev}},
			actual: model.Desired{Translations: []model.Translation{func() model.Translation {
				t := tr("30.0.0.2", 80, "20.0.0.2:8080", "20.0.0.1:8080")
				t.LB, t.MaglevLen, t.HashFields = model.LBMaglev, DefaultMaglevLen, AllHashFields
				t.Backends[0].SrcAddr = a("0.0.0.0")
				return t
			}()}},
		},
		{
			name: "translation icmp6 key same as icmp",
			desired: model.Desired{Translations: []model.Translation{{
				Key: model.TranslationKey{VIP: a("2001:db8::1"), Proto: model.ProtoICMP}, Backends: []model.Backend{{DstAddr: a("2001:db8::2")}},
			}}},
			actual: model.Desired{Translations: []model.Translation{{
				Key: model.TranslationKey{VIP: a("2001:db8::1"), Proto: model.ProtoICMPv6}, Backends: []model.Backend{{DstAddr: a("2001:db8::2")}},
			}}},
		},
		{
			name:    "translation add and remove, puts first",
			desired: model.Desired{Translations: []model.Translation{tr("30.0.0.3", 80, "20.0.0.1:8080")}},
			actual:  model.Desired{Translations: []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:8080")}},
			want:    []string{"put translation vrf 0 tcp 30.0.0.3:80", "delete translation vrf 0 tcp 30.0.0.2:80"},
		},
		// SNAT addresses
		{name: "snat address add", desired: model.Desired{SNATAddresses: []model.SNATAddress{v4}}, want: []string{"put snat-address vrf 0 1.1.1.1"}},
		{name: "snat address no-op", desired: model.Desired{SNATAddresses: []model.SNATAddress{v4}}, actual: model.Desired{SNATAddresses: []model.SNATAddress{v4}}},
		{name: "snat address remove", actual: model.Desired{SNATAddresses: []model.SNATAddress{v4}}, want: []string{"delete snat-address vrf 0 1.1.1.1"}},
		{
			name:    "snat address change (pool never empty)",
			desired: model.Desired{SNATAddresses: []model.SNATAddress{v4b}},
			actual:  model.Desired{SNATAddresses: []model.SNATAddress{v4}},
			want:    []string{"put snat-address vrf 0 1.1.1.2", "delete snat-address vrf 0 1.1.1.1"},
		},
		// exclusions
		{name: "exclusion add", desired: model.Desired{SNATExclusions: []model.SNATExclusion{ex}}, want: []string{"put snat-exclusion vrf 0 10.0.0.0/8"}},
		{name: "exclusion no-op", desired: model.Desired{SNATExclusions: []model.SNATExclusion{ex}}, actual: model.Desired{SNATExclusions: []model.SNATExclusion{ex}}},
		{name: "exclusion remove", actual: model.Desired{SNATExclusions: []model.SNATExclusion{ex}}, want: []string{"delete snat-exclusion vrf 0 10.0.0.0/8"}},
		{
			name:    "exclusion change",
			desired: model.Desired{SNATExclusions: []model.SNATExclusion{{Prefix: p("10.0.0.0/16")}}},
			actual:  model.Desired{SNATExclusions: []model.SNATExclusion{ex}},
			want:    []string{"put snat-exclusion vrf 0 10.0.0.0/16", "delete snat-exclusion vrf 0 10.0.0.0/8"},
		},
		// interfaces
		{name: "interface add", desired: model.Desired{SNATInterfaces: []model.SNATInterface{if4, if6}}, want: []string{"put snat-interface tap0 ipv4", "put snat-interface tap0 ipv6"}},
		{name: "interface no-op", desired: model.Desired{SNATInterfaces: []model.SNATInterface{if4}}, actual: model.Desired{SNATInterfaces: []model.SNATInterface{if4}}},
		{name: "interface remove", actual: model.Desired{SNATInterfaces: []model.SNATInterface{if4}}, want: []string{"delete snat-interface tap0 ipv4"}},
		{
			name:    "interface change family",
			desired: model.Desired{SNATInterfaces: []model.SNATInterface{if6}},
			actual:  model.Desired{SNATInterfaces: []model.SNATInterface{if4}},
			want:    []string{"put snat-interface tap0 ipv6", "delete snat-interface tap0 ipv4"},
		},
		// timeouts (actual from a dump: always complete)
		{name: "timeouts defaults no-op", actual: model.Desired{Timeouts: model.DefaultTimeouts}},
		{name: "timeouts partial equal no-op", desired: model.Desired{Timeouts: model.Timeouts{UDP: 300 * time.Second}}, actual: model.Desired{Timeouts: model.DefaultTimeouts}},
		{name: "timeouts change", desired: model.Desired{Timeouts: model.Timeouts{UDP: 30 * time.Second}}, actual: model.Desired{Timeouts: model.DefaultTimeouts}, want: []string{"put timeouts timeouts"}},
		{name: "timeouts back to default", actual: model.Desired{Timeouts: model.Timeouts{UDP: 30 * time.Second, TCPEstablished: 7440 * time.Second, TCPTransitory: 240 * time.Second, ICMP: time.Minute}}, want: []string{"put timeouts timeouts"}},
		// session limits
		{name: "limit add", desired: model.Desired{SessionLimits: []model.SessionLimit{{VRF: model.AllVRFs, Max: 10}}}, actual: model.Desired{Timeouts: model.DefaultTimeouts}, want: []string{"put session-limit global"}},
		{name: "limit no-op", desired: model.Desired{SessionLimits: []model.SessionLimit{{VRF: 1, Max: 10}}}, actual: model.Desired{Timeouts: model.DefaultTimeouts, SessionLimits: []model.SessionLimit{{VRF: 1, Max: 10}}}},
		{name: "limit change", desired: model.Desired{SessionLimits: []model.SessionLimit{{VRF: 1, Max: 20}}}, actual: model.Desired{Timeouts: model.DefaultTimeouts, SessionLimits: []model.SessionLimit{{VRF: 1, Max: 10}}}, want: []string{"put session-limit vrf 1"}},
		{name: "limit remove", actual: model.Desired{Timeouts: model.DefaultTimeouts, SessionLimits: []model.SessionLimit{{VRF: 1, Max: 10}}}, want: []string{"delete session-limit vrf 1"}},
		{name: "limit 0 is no limit", desired: model.Desired{SessionLimits: []model.SessionLimit{{VRF: 1, Max: 0}}}, actual: model.Desired{Timeouts: model.DefaultTimeouts}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			actual := IndexDesired(&tc.actual) // zero timeouts: the defaults
			got := opStrings(Diff(IndexDesired(&tc.desired), actual))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ops\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestDiffIDs(t *testing.T) {
	desired := IndexDesired(&model.Desired{
		Translations:  []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:8080"), tr("30.0.0.3", 80, "20.0.0.1:8080")},
		SNATAddresses: []model.SNATAddress{{Addr: a("1.1.1.1")}},
	})
	actual := IndexDesired(&model.Desired{
		Translations: []model.Translation{tr("30.0.0.3", 80, "20.0.0.1:8080"), tr("30.0.0.4", 80, "20.0.0.1:8080")},
	})
	for _, tc := range []struct {
		name string
		ids  []ID
		want []string
	}{
		{"missing translation is put", []ID{TranslationID(key("30.0.0.2", 80))}, []string{"put translation vrf 0 tcp 30.0.0.2:80"}},
		{"equal translation untouched", []ID{TranslationID(key("30.0.0.3", 80))}, nil},
		{"extra translation deleted", []ID{TranslationID(key("30.0.0.4", 80))}, []string{"delete translation vrf 0 tcp 30.0.0.4:80"}},
		{"absent everywhere still deleted", []ID{TranslationID(key("30.0.0.9", 80))}, []string{"delete translation vrf 0 tcp 30.0.0.9:80"}},
		{"snat address put", []ID{SNATAddressID(model.SNATAddress{Addr: a("1.1.1.1")})}, []string{"put snat-address vrf 0 1.1.1.1"}},
		{"duplicates once", []ID{TranslationID(key("30.0.0.2", 80)), TranslationID(key("30.0.0.2", 80))}, []string{"put translation vrf 0 tcp 30.0.0.2:80"}},
		{"timeouts equal", []ID{TimeoutsID()}, nil},
		{"limit absent is set to 0", []ID{SessionLimitID(3)}, []string{"delete session-limit vrf 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := opStrings(DiffIDs(desired, actual, tc.ids)); !slices.Equal(got, tc.want) {
				t.Fatalf("ops %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEqualTranslations(t *testing.T) {
	base := tr("30.0.0.2", 80, "20.0.0.1:8080", "20.0.0.2:8080")
	for _, tc := range []struct {
		name   string
		change func(*model.Translation)
		equal  bool
	}{
		{"same", func(*model.Translation) {}, true},
		{"backend order", func(t *model.Translation) { slices.Reverse(t.Backends) }, true},
		{"hash fields all spelt out", func(t *model.Translation) { t.HashFields = AllHashFields }, true},
		{"maglev len ignored for hash", func(t *model.Translation) { t.MaglevLen = 7 }, true},
		{"src keep as ::ffff:0.0.0.0", func(t *model.Translation) { t.Backends[0].SrcAddr = a("0.0.0.0") }, true},
		{"kind", func(t *model.Translation) { t.Kind = model.KindReal }, false},
		{"hash fields", func(t *model.Translation) { t.HashFields = model.HashSrcAddr }, false},
		{"lb", func(t *model.Translation) { t.LB = model.LBMaglev }, false},
		{"backend count", func(t *model.Translation) { t.Backends = t.Backends[:1] }, false},
		{"backend src port", func(t *model.Translation) { t.Backends[1].SrcPort = 5 }, false},
		{"backend src addr", func(t *model.Translation) { t.Backends[1].SrcAddr = a("1.2.3.4") }, false},
		{"key", func(t *model.Translation) { t.Key.VRF = 2 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := base
			other.Backends = slices.Clone(base.Backends)
			tc.change(&other)
			if got := EqualTranslations(base, other); got != tc.equal {
				t.Fatalf("EqualTranslations = %v, want %v", got, tc.equal)
			}
		})
	}
	// Normalize does not modify its argument's backends.
	b := tr("30.0.0.2", 80, "20.0.0.2:8080", "20.0.0.1:8080")
	Normalize(b)
	if b.Backends[0].DstAddr != a("20.0.0.2") {
		t.Fatal("Normalize sorted the caller's backends")
	}
}

func TestDiffIDsPutsFirst(t *testing.T) {
	desired := IndexDesired(&model.Desired{SNATAddresses: []model.SNATAddress{{Addr: a("1.1.1.2")}}})
	actual := IndexDesired(&model.Desired{SNATAddresses: []model.SNATAddress{{Addr: a("1.1.1.1")}}})
	ops := DiffIDs(desired, actual, []ID{
		SNATAddressID(model.SNATAddress{Addr: a("1.1.1.1")}),
		SNATAddressID(model.SNATAddress{Addr: a("1.1.1.2")}),
	})
	want := []string{"put snat-address vrf 0 1.1.1.2", "delete snat-address vrf 0 1.1.1.1"}
	if got := opStrings(ops); !slices.Equal(got, want) {
		t.Fatalf("ops %q, want %q", got, want)
	}
}
