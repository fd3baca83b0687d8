package vpp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.fd.io/govpp/adapter"
	"go.fd.io/govpp/api"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startFake opens a Dataplane on a fake VPP and waits for Connected.
func startFake(t *testing.T, f *fakeVPP) *Dataplane {
	t.Helper()
	d := New(Options{
		APISocket:    "/nonexistent/api.sock",
		StatsSocket:  "/nonexistent/stats.sock",
		ReplyTimeout: 2 * time.Second,
		Logger:       quietLogger(),
		NewAdapter:   func() adapter.VppAPI { return f },
		MsgTable:     func(context.Context) (map[string]string, error) { return f.msgTable(), nil },
	})
	t.Cleanup(func() { _ = d.Close() })
	select {
	case ev := <-d.Events():
		if ev != dataplane.Connected {
			t.Fatalf("first event = %v, want Connected", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no Connected event")
	}
	return d
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func sampleTranslation(vip string, port uint16, n int) model.Translation {
	t := model.Translation{
		Key:  model.TranslationKey{VRF: 0, VIP: mustAddr(vip), Port: port, Proto: model.ProtoTCP},
		Kind: model.KindVIP,
	}
	for i := 0; i < n; i++ {
		if mustAddr(vip).Is4() {
			t.Backends = append(t.Backends, model.Backend{DstAddr: mustAddr(fmt.Sprintf("20.0.%d.%d", i/250, i%250+1)), DstPort: 8080})
		} else {
			t.Backends = append(t.Backends, model.Backend{DstAddr: mustAddr(fmt.Sprintf("2001:db8::%x", i+1)), DstPort: 8080})
		}
	}
	return t
}

func TestConnectInfo(t *testing.T) {
	d := startFake(t, newFakeVPP())
	info := d.Info(ctx(t))
	want := dataplane.Info{Name: "vpp", Connected: true, Version: "26.06-fake", Plugin: "0.1.0-fake"}
	if info != want {
		t.Fatalf("Info = %+v, want %+v", info, want)
	}
	if m := d.Mismatches(); len(m) != 0 {
		t.Fatalf("Mismatches = %v, want none", m)
	}
}

func TestTranslationRoundTrip(t *testing.T) {
	f := newFakeVPP()
	d := startFake(t, f)
	c := ctx(t)
	ts := []model.Translation{
		sampleTranslation("30.0.0.2", 80, 2),
		{
			Key:        model.TranslationKey{VRF: 7, VIP: mustAddr("2001:db8::1"), Port: 0, Proto: model.ProtoICMPv6},
			Kind:       model.KindReal,
			LB:         model.LBMaglev,
			HashFields: model.HashSrcAddr | model.HashProto,
			MaglevLen:  251,
			Backends: []model.Backend{
				{SrcAddr: mustAddr("2001:db8::5"), SrcPort: 1000, DstAddr: mustAddr("2001:db8::10")},
			},
		},
	}
	for _, tr := range ts {
		if err := d.PutTranslation(c, tr); err != nil {
			t.Fatalf("PutTranslation(%s): %v", tr.Key, err)
		}
	}
	// Replace: same key, other backends.
	ts[0] = sampleTranslation("30.0.0.2", 80, 3)
	if err := d.PutTranslation(c, ts[0]); err != nil {
		t.Fatalf("PutTranslation replace: %v", err)
	}
	got, err := d.ListTranslations(c)
	if err != nil {
		t.Fatalf("ListTranslations: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("ListTranslations = %d translations, want 2: %+v", len(got), got)
	}
	for i := range ts {
		if !equalTranslation(got[i], ts[i]) {
			t.Errorf("translation %d read back\n got %+v\nwant %+v", i, got[i], ts[i])
		}
	}
	// The v6 ICMP translation went out as ICMP6.
	f.mu.Lock()
	var sawICMP6 bool
	for _, tr := range f.translations {
		sawICMP6 = sawICMP6 || tr.Proto == ip_types.IP_API_PROTO_ICMP6
	}
	f.mu.Unlock()
	if !sawICMP6 {
		t.Error("IPv6 ICMP translation not sent as IP_API_PROTO_ICMP6")
	}

	for _, tr := range ts {
		if err := d.DeleteTranslation(c, tr.Key); err != nil {
			t.Fatalf("DeleteTranslation(%s): %v", tr.Key, err)
		}
		// Idempotent.
		if err := d.DeleteTranslation(c, tr.Key); err != nil {
			t.Fatalf("DeleteTranslation(%s) again: %v", tr.Key, err)
		}
	}
	if got, err := d.ListTranslations(c); err != nil || len(got) != 0 {
		t.Fatalf("after delete: %v, %v", got, err)
	}
}

func equalTranslation(a, b model.Translation) bool {
	if a.Key != b.Key || a.Kind != b.Kind || a.LB != b.LB || a.HashFields != b.HashFields ||
		a.MaglevLen != b.MaglevLen || len(a.Backends) != len(b.Backends) {
		return false
	}
	for i := range a.Backends {
		if a.Backends[i] != b.Backends[i] {
			return false
		}
	}
	return true
}

func TestDeleteAbsentIsNotAnError(t *testing.T) {
	for _, rv := range []int32{0, int32(api.NO_SUCH_ENTRY), int32(api.NO_SUCH_FIB)} {
		t.Run(fmt.Sprintf("retval=%d", rv), func(t *testing.T) {
			f := newFakeVPP()
			f.delAbsentRetval = rv
			d := startFake(t, f)
			c := ctx(t)
			checks := map[string]error{
				"translation":       d.DeleteTranslation(c, model.TranslationKey{VIP: mustAddr("1.2.3.4"), Port: 1, Proto: model.ProtoUDP}),
				"snat address":      d.DeleteSNATAddress(c, model.SNATAddress{VRF: 3, Addr: mustAddr("5.6.7.8")}),
				"exclusion":         d.DeleteSNATExclusion(c, model.SNATExclusion{Prefix: netip.MustParsePrefix("10.0.0.0/8")}),
				"interface":         d.DeleteSNATInterface(c, model.SNATInterface{Interface: "tap0", Family: model.IPv4}),
				"unknown interface": d.DeleteSNATInterface(c, model.SNATInterface{Interface: "nope", Family: model.IPv4}),
				"session": d.DeleteSession(c, model.SessionKey{Proto: model.ProtoTCP,
					Src: netip.MustParseAddrPort("1.1.1.1:1"), Dst: netip.MustParseAddrPort("2.2.2.2:2")}),
			}
			for what, err := range checks {
				if err != nil {
					t.Errorf("delete absent %s: %v", what, err)
				}
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	f := newFakeVPP()
	d := startFake(t, f)
	c := ctx(t)

	// A retval is returned wrapped, as govpp's VPPApiError.
	f.mu.Lock()
	f.failWith["cloudnat_translation_add_update"] = int32(api.INVALID_VALUE)
	f.failWith["cloudnat_translation_del"] = int32(api.INVALID_VALUE_2)
	f.mu.Unlock()
	err := d.PutTranslation(c, sampleTranslation("30.0.0.9", 80, 1))
	if !errors.Is(err, api.INVALID_VALUE) || !strings.Contains(err.Error(), "vrf 0 tcp 30.0.0.9:80") {
		t.Errorf("PutTranslation error = %v, want INVALID_VALUE naming the key", err)
	}
	// A delete that fails for another reason than "absent" is an error.
	err = d.DeleteTranslation(c, sampleTranslation("30.0.0.9", 80, 1).Key)
	if !errors.Is(err, api.INVALID_VALUE_2) {
		t.Errorf("DeleteTranslation error = %v, want INVALID_VALUE_2", err)
	}

	tests := []struct {
		name string
		err  error
		want error
	}{
		{"too many backends", d.PutTranslation(c, sampleTranslation("30.0.0.3", 80, maxBackends+1)), dataplane.ErrUnsupported},
		{"sub-second timeout", d.SetTimeouts(c, model.Timeouts{UDP: 1500 * time.Millisecond}), dataplane.ErrUnsupported},
		{"bad family", d.PutSNATInterface(c, model.SNATInterface{Interface: "tap0", Family: 5}), dataplane.ErrUnsupported},
		{"bad protocol", d.PutTranslation(c, model.Translation{Key: model.TranslationKey{VIP: mustAddr("1.1.1.1"), Proto: 47},
			Backends: []model.Backend{{DstAddr: mustAddr("2.2.2.2")}}}), dataplane.ErrUnsupported},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: error = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if err := d.PutSNATInterface(c, model.SNATInterface{Interface: "nope0", Family: model.IPv4}); err == nil ||
		!strings.Contains(err.Error(), `no interface "nope0"`) {
		t.Errorf("PutSNATInterface(unknown) = %v, want no interface error", err)
	}
	// Mixed families: the plugin refuses, nothing is stored.
	mixed := sampleTranslation("30.0.0.4", 80, 1)
	mixed.Backends[0].DstAddr = mustAddr("2001:db8::1")
	if err := d.PutTranslation(c, mixed); !errors.Is(err, api.INVALID_VALUE) {
		t.Errorf("mixed families: %v, want INVALID_VALUE", err)
	}
	if got, _ := d.ListTranslations(c); len(got) != 0 {
		t.Errorf("bad requests left %d translations", len(got))
	}
}

func TestNotConnected(t *testing.T) {
	f := newFakeVPP()
	f.MockConnectError(errors.New("connection refused"))
	d := New(Options{
		Logger:     quietLogger(),
		NewAdapter: func() adapter.VppAPI { return f },
		MsgTable:   func(context.Context) (map[string]string, error) { return nil, nil },
	})
	defer d.Close()
	c := ctx(t)
	if err := d.PutTranslation(c, sampleTranslation("1.1.1.1", 1, 1)); !errors.Is(err, dataplane.ErrNotConnected) {
		t.Errorf("PutTranslation while disconnected = %v, want ErrNotConnected", err)
	}
	if _, err := d.ListTranslations(c); !errors.Is(err, dataplane.ErrNotConnected) {
		t.Errorf("ListTranslations while disconnected = %v, want ErrNotConnected", err)
	}
	if info := d.Info(c); info.Connected || info.Name != "vpp" {
		t.Errorf("Info = %+v", info)
	}
	// Close ends Events.
	_ = d.Close()
	for range d.Events() {
	}
}

func TestCRCMismatchReported(t *testing.T) {
	f := newFakeVPP()
	table := map[string]string{}
	for _, m := range usedMessages() {
		table[m.GetMessageName()] = m.GetCrcString()
	}
	table["cloudnat_translation_add_update"] = "deadbeef"
	delete(table, "cloudnat_session_purge")
	f.crcs = table
	d := startFake(t, f)
	c := ctx(t)

	got := d.Mismatches()
	want := []Mismatch{
		{Name: "cloudnat_session_purge", ExpectedCRC: "0x" + (&cloudnat.CloudnatSessionPurge{}).GetCrcString()},
		{Name: "cloudnat_translation_add_update", ExpectedCRC: "0x" + (&cloudnat.CloudnatTranslationAddUpdate{}).GetCrcString(), VPPCRC: "0xdeadbeef"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Mismatches =\n %v\nwant\n %v", got, want)
	}
	info := d.Info(c)
	if !info.Connected || !strings.Contains(info.Plugin, "INCOMPATIBLE") ||
		!strings.Contains(info.Plugin, "cloudnat_translation_add_update (expected 0x") ||
		!strings.Contains(info.Plugin, "VPP has 0xdeadbeef") {
		t.Errorf("Info.Plugin = %q, want the mismatch named", info.Plugin)
	}
	err := d.PutTranslation(c, sampleTranslation("30.0.0.2", 80, 1))
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "VPP has 0xdeadbeef") {
		t.Errorf("PutTranslation = %v, want ErrIncompatible naming the CRCs", err)
	}
	if _, err := d.PurgeSessions(c, 0); !errors.Is(err, ErrIncompatible) {
		t.Errorf("PurgeSessions = %v, want ErrIncompatible", err)
	}
	// What matches still works.
	if _, err := d.ListTranslations(c); err != nil {
		t.Errorf("ListTranslations = %v", err)
	}
}

func TestSNATRoundTrip(t *testing.T) {
	d := startFake(t, newFakeVPP())
	c := ctx(t)
	addrs := []model.SNATAddress{{VRF: 0, Addr: mustAddr("30.0.0.1")}, {VRF: 2, Addr: mustAddr("30::1")}}
	excl := []model.SNATExclusion{{VRF: 0, Prefix: netip.MustParsePrefix("20::/100")}, {VRF: 2, Prefix: netip.MustParsePrefix("10.0.0.0/8")}}
	ifs := []model.SNATInterface{{Interface: "tap0", Family: model.IPv6}, {Interface: "host-veth1", Family: model.IPv4}}
	for i := 0; i < 2; i++ { // twice: Put is idempotent
		for _, a := range addrs {
			if err := d.PutSNATAddress(c, a); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range excl {
			if err := d.PutSNATExclusion(c, e); err != nil {
				t.Fatal(err)
			}
		}
		for _, x := range ifs {
			if err := d.PutSNATInterface(c, x); err != nil {
				t.Fatal(err)
			}
		}
	}
	gotA, err := d.ListSNATAddresses(c)
	if err != nil || fmt.Sprint(gotA) != fmt.Sprint(addrs) {
		t.Errorf("ListSNATAddresses = %v, %v; want %v", gotA, err, addrs)
	}
	gotE, err := d.ListSNATExclusions(c)
	if err != nil || fmt.Sprint(gotE) != fmt.Sprint(excl) {
		t.Errorf("ListSNATExclusions = %v, %v; want %v", gotE, err, excl)
	}
	gotI, err := d.ListSNATInterfaces(c)
	if err != nil || fmt.Sprint(gotI) != fmt.Sprint(ifs) {
		t.Errorf("ListSNATInterfaces = %v, %v; want %v", gotI, err, ifs)
	}
	for _, a := range addrs {
		if err := d.DeleteSNATAddress(c, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range excl {
		if err := d.DeleteSNATExclusion(c, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range ifs {
		if err := d.DeleteSNATInterface(c, x); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := d.ListSNATAddresses(c)
	e, _ := d.ListSNATExclusions(c)
	i, _ := d.ListSNATInterfaces(c)
	if len(a)+len(e)+len(i) != 0 {
		t.Errorf("left after delete: %v %v %v", a, e, i)
	}
}

func TestTimeoutsLimits(t *testing.T) {
	d := startFake(t, newFakeVPP())
	c := ctx(t)
	got, err := d.GetTimeouts(c)
	if err != nil || got != model.DefaultTimeouts {
		t.Fatalf("GetTimeouts = %+v, %v; want defaults", got, err)
	}
	if err := d.SetTimeouts(c, model.Timeouts{UDP: time.Minute}); err != nil {
		t.Fatal(err)
	}
	want := model.DefaultTimeouts
	want.UDP = time.Minute
	if got, _ := d.GetTimeouts(c); got != want {
		t.Errorf("after SetTimeouts: %+v, want %+v", got, want)
	}
	for _, l := range []model.SessionLimit{{VRF: model.AllVRFs, Max: 1000}, {VRF: 3, Max: 10}} {
		if err := d.SetSessionLimit(c, l); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := d.ListSessionLimits(c)
	if err != nil || len(ls) != 2 {
		t.Fatalf("ListSessionLimits = %v, %v", ls, err)
	}
}

func TestSessions(t *testing.T) {
	f := newFakeVPP()
	mk := func(table uint32, proto ip_types.IPProto, src string, sport uint16) cloudnat.CloudnatSession {
		return cloudnat.CloudnatSession{TableID: table, Proto: proto,
			SrcAddr: toAddress(mustAddr(src)), SrcPort: sport, DstAddr: toAddress(mustAddr("30.0.0.2")), DstPort: 80,
			NewSrcAddr: toAddress(mustAddr(src)), NewSrcPort: sport, NewDstAddr: toAddress(mustAddr("20.0.0.1")), NewDstPort: 8080,
			Flags: cloudnat.CLOUDNAT_SESSION_DNAT, TCPState: cloudnat.CLOUDNAT_TCP_ESTABLISHED, ExpiresIn: 7000, Packets: 5}
	}
	f.sessions = []cloudnat.CloudnatSession{
		mk(0, ip_types.IP_API_PROTO_TCP, "1.1.1.1", 1000),
		mk(0, ip_types.IP_API_PROTO_UDP, "1.1.1.2", 1001),
		mk(5, ip_types.IP_API_PROTO_TCP, "1.1.1.3", 1002),
	}
	d := startFake(t, f)
	c := ctx(t)
	var got []model.Session
	collect := func(s model.Session) error { got = append(got, s); return nil }
	if err := d.ListSessions(c, model.SessionFilter{VRF: model.AllVRFs}, collect); err != nil || len(got) != 3 {
		t.Fatalf("all sessions: %d, %v", len(got), err)
	}
	s := got[0]
	if s.Src != netip.MustParseAddrPort("1.1.1.1:1000") || s.NewDst != netip.MustParseAddrPort("20.0.0.1:8080") ||
		s.TCPState != model.TCPEstablished || s.SNAT || s.ExpiresIn != 7000*time.Second || s.Packets != 5 {
		t.Errorf("session = %+v", s)
	}
	got = nil
	if err := d.ListSessions(c, model.SessionFilter{VRF: 0, Proto: model.ProtoTCP}, collect); err != nil || len(got) != 1 {
		t.Errorf("vrf 0 tcp: %d, %v", len(got), err)
	}
	// fn's error stops the listing and is returned as is.
	stop := errors.New("stop")
	n := 0
	err := d.ListSessions(c, model.SessionFilter{VRF: model.AllVRFs}, func(model.Session) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("early stop: n=%d err=%v", n, err)
	}
	if err := d.DeleteSession(c, model.SessionKey{VRF: 0, Proto: model.ProtoTCP,
		Src: netip.MustParseAddrPort("1.1.1.1:1000"), Dst: netip.MustParseAddrPort("30.0.0.2:80")}); err != nil {
		t.Fatal(err)
	}
	if n, err := d.PurgeSessions(c, 0); err != nil || n != 1 {
		t.Errorf("PurgeSessions(0) = %d, %v; want 1", n, err)
	}
	if n, err := d.PurgeSessions(c, model.AllVRFs); err != nil || n != 1 {
		t.Errorf("PurgeSessions(all) = %d, %v; want 1", n, err)
	}
}

func TestInterfacesAndStats(t *testing.T) {
	d := startFake(t, newFakeVPP())
	c := ctx(t)
	ifs, err := d.ListInterfaces(c)
	if err != nil || len(ifs) != 3 {
		t.Fatalf("ListInterfaces = %v, %v", ifs, err)
	}
	tap := ifs[1]
	if tap.Name != "tap0" || tap.Index != 1 || !tap.Up || tap.VRF4 != 10 || tap.VRF6 != 0 ||
		len(tap.Addrs) != 1 || tap.Addrs[0] != netip.MustParsePrefix("10.0.0.1/24") {
		t.Errorf("tap0 = %+v", tap)
	}
	if err := d.PutTranslation(c, sampleTranslation("30.0.0.2", 80, 1)); err != nil {
		t.Fatal(err)
	}
	st, err := d.Stats(c)
	if st.Translations != 1 {
		t.Errorf("Stats.Translations = %d, want 1", st.Translations)
	}
	if len(st.SessionTableFill) != 2 || st.SessionTableFill["ip4"] != 0 || st.SessionTableFill["ip6"] != 0 {
		t.Errorf("Stats.SessionTableFill = %v, want ip4 and ip6 at 0 (no sessions)", st.SessionTableFill)
	}
	// No stats segment here: best effort, the error says so.
	if err == nil || !strings.Contains(err.Error(), "stats segment") {
		t.Errorf("Stats error = %v, want the stats segment's", err)
	}
}

func TestPipelinedBatch(t *testing.T) {
	f := newFakeVPP()
	d := startFake(t, f)
	c := ctx(t)
	const n = 5000
	ts := make([]model.Translation, n)
	for i := range ts {
		ts[i] = sampleTranslation(fmt.Sprintf("30.%d.%d.%d", i>>16&255, i>>8&255, i&255), 80, 8)
	}
	ts[17].Backends = nil // the fake refuses: one error, the rest go in
	errs := d.PutTranslations(c, ts)
	for i, err := range errs {
		if (err != nil) != (i == 17) {
			t.Fatalf("translation %d: %v", i, err)
		}
	}
	got, err := d.ListTranslations(c)
	if err != nil || len(got) != n-1 {
		t.Fatalf("ListTranslations = %d, %v; want %d", len(got), err, n-1)
	}
	// Concurrent single calls share the pipe.
	errc := make(chan error, 100)
	for i := 0; i < 100; i++ {
		go func() { errc <- d.DeleteTranslation(c, ts[i].Key) }()
	}
	for i := 0; i < 100; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	kerrs := d.DeleteTranslations(c, func() []model.TranslationKey {
		var ks []model.TranslationKey
		for _, t := range ts {
			ks = append(ks, t.Key)
		}
		return ks
	}())
	for _, err := range kerrs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := d.ListTranslations(c); len(got) != 0 {
		t.Fatalf("%d left", len(got))
	}
}
