// Package vpptest runs the VPP dataplane (package vpp) against a private
// VPP with the cloudnat plugin. Without VPP, the plugin or root, TestMain
// prints one line and the package passes.
//
// Benchmark: go test -run '^$' -bench Program ./agent/internal/dataplane/vpp/vpptest/
package vpptest_test

import (
	"cmp"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/vpp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	agenttest "github.com/cloudnat/cloudnat/test/agent"
	"github.com/cloudnat/cloudnat/test/vppharness"
)

func TestMain(m *testing.M) { vppharness.Main(m, "agent/internal/dataplane/vpp/vpptest") }

func logger() *slog.Logger {
	if os.Getenv("CLOUDNAT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// openDP opens the VPP dataplane on the rig and waits for Connected.
func openDP(tb testing.TB, r *agenttest.Rig) *vpp.Dataplane {
	tb.Helper()
	d := vpp.New(vpp.Options{APISocket: r.APISock, StatsSocket: r.StatsSock, Logger: logger()})
	tb.Cleanup(func() { _ = d.Close() })
	waitEvent(tb, d.Events(), dataplane.Connected, 15*time.Second)
	if m := d.Mismatches(); len(m) > 0 {
		tb.Fatalf("binary API mismatch with the running plugin: %v", m)
	}
	return d
}

func waitEvent(tb testing.TB, evs <-chan dataplane.Event, want dataplane.Event, timeout time.Duration) {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				tb.Fatalf("events closed waiting for %v", want)
			}
			if ev == want {
				return
			}
		case <-deadline:
			tb.Fatalf("no %v event within %v", want, timeout)
		}
	}
}

// translations builds n translations of b backends each: VIPs 30.x.y.z
// port 80, backends 20.j.y.z:8080.
func translations(n, b int) []model.Translation {
	ts := make([]model.Translation, n)
	for i := range ts {
		vip := netip.AddrFrom4([4]byte{30, byte(i >> 16), byte(i >> 8), byte(i)})
		ts[i] = model.Translation{Key: model.TranslationKey{VIP: vip, Port: 80, Proto: model.ProtoTCP}}
		for j := 0; j < b; j++ {
			ts[i].Backends = append(ts[i].Backends, model.Backend{
				DstAddr: netip.AddrFrom4([4]byte{20, byte(j), byte(i >> 8), byte(i)}), DstPort: 8080})
		}
	}
	return ts
}

func keyOrder(a, b model.Translation) int {
	return cmp.Or(
		cmp.Compare(a.Key.VRF, b.Key.VRF),
		a.Key.VIP.Compare(b.Key.VIP),
		cmp.Compare(a.Key.Port, b.Key.Port),
		cmp.Compare(a.Key.Proto, b.Key.Proto))
}

// sameTranslation compares as the reconciler does (hash fields 0 = all,
// ICMP = ICMPv6 for an IPv6 VIP, backend order), and keys exactly after
// normalization.
func sameTranslation(a, b model.Translation) bool {
	return reconcile.NormalizeKey(a.Key) == reconcile.NormalizeKey(b.Key) && reconcile.EqualTranslations(a, b)
}

// TestDataplaneRoundTrips drives the VPP dataplane directly: every object
// kind is put, read back, replaced where that applies and deleted twice
// (the second delete of an absent object must succeed).
func TestDataplaneRoundTrips(t *testing.T) {
	var pg0 *vppharness.PG
	r := agenttest.NewRig(t, func(v *vppharness.VPP) {
		pg0 = v.NewPG(t, vppharness.PGConfig{IP4: "10.0.0.1/24", IP6: "2001:db8:10::1/64"})
		v.Table(t, 7)
	})
	d := openDP(t, r)
	ctx := agenttest.Context(t)

	info := d.Info(ctx)
	t.Logf("VPP %q, plugin %q", info.Version, info.Plugin)
	if !info.Connected || info.Name != "vpp" || info.Version == "" || info.Plugin == "" {
		t.Errorf("Info = %+v", info)
	}

	a := netip.MustParseAddr
	ts := []model.Translation{
		{Key: model.TranslationKey{VIP: a("30.0.0.2"), Port: 80, Proto: model.ProtoTCP},
			Backends: []model.Backend{{DstAddr: a("20.0.0.1"), DstPort: 8080}, {DstAddr: a("20.0.0.2"), DstPort: 8080}}},
		{Key: model.TranslationKey{VIP: a("30.0.0.2"), Port: 53, Proto: model.ProtoUDP}, HashFields: model.HashSrcAddr | model.HashSrcPort,
			Backends: []model.Backend{{SrcAddr: a("1.2.3.4"), SrcPort: 4000, DstAddr: a("20.0.0.3"), DstPort: 5353}}},
		{Key: model.TranslationKey{VIP: a("30.0.0.3"), Proto: model.ProtoICMP},
			Backends: []model.Backend{{DstAddr: a("20.0.0.4")}}},
		{Key: model.TranslationKey{VRF: 7, VIP: a("2001:db8:30::2"), Port: 443, Proto: model.ProtoTCP}, LB: model.LBMaglev, MaglevLen: 251,
			Backends: []model.Backend{{DstAddr: a("2001:db8:20::1"), DstPort: 8443}, {DstAddr: a("2001:db8:20::2")}}},
		{Key: model.TranslationKey{VIP: a("2001:db8:30::3"), Proto: model.ProtoICMPv6},
			Backends: []model.Backend{{DstAddr: a("2001:db8:20::4")}}},
		{Key: model.TranslationKey{VIP: pg0.IP4, Port: 8080, Proto: model.ProtoTCP}, Kind: model.KindReal,
			Backends: []model.Backend{{SrcAddr: a("1.2.3.4"), DstAddr: a("20.0.0.1"), DstPort: 80}}},
	}
	for _, tr := range ts {
		if err := d.PutTranslation(ctx, tr); err != nil {
			t.Fatalf("PutTranslation(%s): %v", tr.Key, err)
		}
	}
	// Put again (idempotent) and replace one's backends.
	ts[0].Backends = append(ts[0].Backends, model.Backend{DstAddr: a("20.0.0.9"), DstPort: 8080})
	for _, tr := range ts {
		if err := d.PutTranslation(ctx, tr); err != nil {
			t.Fatalf("PutTranslation(%s) again: %v", tr.Key, err)
		}
	}
	got, err := d.ListTranslations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, keyOrder)
	want := slices.Clone(ts)
	slices.SortFunc(want, keyOrder)
	if len(got) != len(want) {
		t.Fatalf("ListTranslations: %d, want %d:\n%v", len(got), len(want), got)
	}
	for i := range want {
		if !sameTranslation(got[i], want[i]) {
			t.Errorf("read back\n got %+v\nwant %+v", got[i], want[i])
		}
	}
	for _, tr := range ts {
		for i := 0; i < 2; i++ {
			if err := d.DeleteTranslation(ctx, tr.Key); err != nil {
				t.Fatalf("DeleteTranslation(%s) #%d: %v", tr.Key, i+1, err)
			}
		}
	}
	// Absent in a table that does not exist is absent too.
	if err := d.DeleteTranslation(ctx, model.TranslationKey{VRF: 99, VIP: a("1.1.1.1"), Port: 1, Proto: model.ProtoUDP}); err != nil {
		t.Errorf("DeleteTranslation in a missing table: %v", err)
	}
	if got, err := d.ListTranslations(ctx); err != nil || len(got) != 0 {
		t.Fatalf("after deletes: %v, %v", got, err)
	}

	// Source NAT.
	addrs := []model.SNATAddress{{Addr: a("30.0.0.1")}, {Addr: a("30::1")}, {VRF: 7, Addr: a("31.0.0.1")}}
	excl := []model.SNATExclusion{{Prefix: netip.MustParsePrefix("20::/100")}, {VRF: 7, Prefix: netip.MustParsePrefix("10.0.0.0/8")}}
	ifs := []model.SNATInterface{{Interface: pg0.Name, Family: model.IPv4}, {Interface: pg0.Name, Family: model.IPv6}}
	for i := 0; i < 2; i++ {
		for _, x := range addrs {
			if err := d.PutSNATAddress(ctx, x); err != nil {
				t.Fatalf("PutSNATAddress(%v) #%d: %v", x, i+1, err)
			}
		}
		for _, x := range excl {
			if err := d.PutSNATExclusion(ctx, x); err != nil {
				t.Fatalf("PutSNATExclusion(%v) #%d: %v", x, i+1, err)
			}
		}
		for _, x := range ifs {
			if err := d.PutSNATInterface(ctx, x); err != nil {
				t.Fatalf("PutSNATInterface(%v) #%d: %v", x, i+1, err)
			}
		}
	}
	gotA, err := d.ListSNATAddresses(ctx)
	if err != nil || !sameSet(gotA, addrs) {
		t.Errorf("ListSNATAddresses = %v, %v; want %v", gotA, err, addrs)
	}
	gotE, err := d.ListSNATExclusions(ctx)
	if err != nil || !sameSet(gotE, excl) {
		t.Errorf("ListSNATExclusions = %v, %v; want %v", gotE, err, excl)
	}
	gotI, err := d.ListSNATInterfaces(ctx)
	if err != nil || !sameSet(gotI, ifs) {
		t.Errorf("ListSNATInterfaces = %v, %v; want %v", gotI, err, ifs)
	}
	if out := r.VPP.MustCLI(t, "show interface features "+pg0.Name); !strings.Contains(out, "ip4-cnat-snat") {
		t.Errorf("ip4-cnat-snat not on %s:\n%s", pg0.Name, out)
	}
	for i := 0; i < 2; i++ {
		for _, x := range addrs {
			if err := d.DeleteSNATAddress(ctx, x); err != nil {
				t.Fatalf("DeleteSNATAddress(%v) #%d: %v", x, i+1, err)
			}
		}
		for _, x := range excl {
			if err := d.DeleteSNATExclusion(ctx, x); err != nil {
				t.Fatalf("DeleteSNATExclusion(%v) #%d: %v", x, i+1, err)
			}
		}
		for _, x := range ifs {
			if err := d.DeleteSNATInterface(ctx, x); err != nil {
				t.Fatalf("DeleteSNATInterface(%v) #%d: %v", x, i+1, err)
			}
		}
	}
	if err := d.DeleteSNATInterface(ctx, model.SNATInterface{Interface: "nosuch0", Family: model.IPv4}); err != nil {
		t.Errorf("DeleteSNATInterface(unknown interface) = %v", err)
	}
	gotA, _ = d.ListSNATAddresses(ctx)
	gotE, _ = d.ListSNATExclusions(ctx)
	gotI, _ = d.ListSNATInterfaces(ctx)
	if len(gotA)+len(gotE)+len(gotI) != 0 {
		t.Errorf("left after deletes: %v %v %v", gotA, gotE, gotI)
	}

	// Timeouts.
	tos, err := d.GetTimeouts(ctx)
	if err != nil || tos != model.DefaultTimeouts {
		t.Errorf("GetTimeouts = %+v, %v; want defaults %+v", tos, err, model.DefaultTimeouts)
	}
	if err := d.SetTimeouts(ctx, model.Timeouts{UDP: 100 * time.Second, ICMP: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	wantT := model.DefaultTimeouts
	wantT.UDP, wantT.ICMP = 100*time.Second, 30*time.Second
	if tos, err := d.GetTimeouts(ctx); err != nil || tos != wantT {
		t.Errorf("GetTimeouts after set = %+v, %v; want %+v", tos, err, wantT)
	}
	if err := d.SetTimeouts(ctx, model.DefaultTimeouts); err != nil {
		t.Fatal(err)
	}

	// Session limits.
	for _, l := range []model.SessionLimit{{VRF: model.AllVRFs, Max: 100000}, {VRF: 7, Max: 50}} {
		if err := d.SetSessionLimit(ctx, l); err != nil {
			t.Fatalf("SetSessionLimit(%+v): %v", l, err)
		}
	}
	ls, err := d.ListSessionLimits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []model.SessionLimit{{VRF: model.AllVRFs, Max: 100000}, {VRF: 7, Max: 50}} {
		if !slices.Contains(ls, want) {
			t.Errorf("ListSessionLimits = %v, missing %v", ls, want)
		}
	}
	if err := d.SetSessionLimit(ctx, model.SessionLimit{VRF: 99, Max: 1}); err == nil {
		t.Error("SetSessionLimit on a table that does not exist succeeded")
	}

	// Sessions: none yet; deletes of absent ones and purges succeed.
	n := 0
	if err := d.ListSessions(ctx, model.SessionFilter{VRF: model.AllVRFs}, func(model.Session) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("ListSessions = %d, %v", n, err)
	}
	if err := d.DeleteSession(ctx, model.SessionKey{Proto: model.ProtoTCP,
		Src: netip.MustParseAddrPort("10.0.0.2:1000"), Dst: netip.MustParseAddrPort("30.0.0.2:80")}); err != nil {
		t.Errorf("DeleteSession(absent) = %v", err)
	}
	if n, err := d.PurgeSessions(ctx, model.AllVRFs); err != nil || n != 0 {
		t.Errorf("PurgeSessions = %d, %v", n, err)
	}

	// Interfaces.
	ifl, err := d.ListInterfaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ifl, func(i model.Interface) bool { return i.Name == pg0.Name })
	if i < 0 {
		t.Fatalf("%s not in %v", pg0.Name, ifl)
	}
	if p := ifl[i]; !p.Up || p.Index != pg0.SwIfIndex || !slices.Contains(p.Addrs, netip.MustParsePrefix("10.0.0.1/24")) ||
		!slices.Contains(p.Addrs, netip.MustParsePrefix("2001:db8:10::1/64")) {
		t.Errorf("%s = %+v", pg0.Name, p)
	}

	// Stats.
	st, err := d.Stats(ctx)
	if err != nil {
		t.Errorf("Stats: %v", err)
	}
	t.Logf("stats: %d translations, %d sessions, %d drop counters", st.Translations, st.Sessions, len(st.Drops))
	if len(st.Drops) == 0 {
		t.Errorf("no error counters of cloudnat's nodes in the stats segment")
	}
	// the plugin's fixed-size session tables, both families, less than full
	for _, fam := range []string{"ip4", "ip6"} {
		if fill, ok := st.SessionTableFill[fam]; !ok || fill < 0 || fill >= 1 {
			t.Errorf("Stats: session table fill of %s = %v (present %v), want a share in [0, 1): %v", fam, fill, ok, st.SessionTableFill)
		}
	}
}

func sameSet[T comparable](got, want []T) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// TestDataplaneRefusals: what the plugin refuses comes back as a precise
// error and changes nothing.
func TestDataplaneRefusals(t *testing.T) {
	r := agenttest.NewRig(t, nil)
	d := openDP(t, r)
	ctx := agenttest.Context(t)
	a := netip.MustParseAddr
	bad := []struct {
		name string
		tr   model.Translation
	}{
		{"mixed families", model.Translation{Key: model.TranslationKey{VIP: a("30.0.0.2"), Port: 80, Proto: model.ProtoTCP},
			Backends: []model.Backend{{DstAddr: a("2001:db8::1")}}}},
		{"missing table", model.Translation{Key: model.TranslationKey{VRF: 99, VIP: a("30.0.0.2"), Port: 80, Proto: model.ProtoTCP},
			Backends: []model.Backend{{DstAddr: a("20.0.0.1")}}}},
		{"port on icmp", model.Translation{Key: model.TranslationKey{VIP: a("30.0.0.2"), Port: 80, Proto: model.ProtoICMP},
			Backends: []model.Backend{{DstAddr: a("20.0.0.1")}}}},
		{"no backends", model.Translation{Key: model.TranslationKey{VIP: a("30.0.0.2"), Port: 80, Proto: model.ProtoTCP}}},
		{"maglev not prime", model.Translation{Key: model.TranslationKey{VIP: a("30.0.0.2"), Port: 80, Proto: model.ProtoTCP},
			LB: model.LBMaglev, MaglevLen: 1000, Backends: []model.Backend{{DstAddr: a("20.0.0.1")}}}},
	}
	for _, b := range bad {
		if err := d.PutTranslation(ctx, b.tr); err == nil {
			t.Errorf("%s: accepted", b.name)
		} else {
			t.Logf("%s: %v", b.name, err)
		}
	}
	tooMany := model.Translation{Key: model.TranslationKey{VIP: a("30.0.0.2"), Port: 80, Proto: model.ProtoTCP}}
	for i := 0; i < 256; i++ {
		tooMany.Backends = append(tooMany.Backends, model.Backend{DstAddr: netip.AddrFrom4([4]byte{20, 0, 1, byte(i + 1)})})
	}
	if err := d.PutTranslation(ctx, tooMany); !errors.Is(err, dataplane.ErrUnsupported) {
		t.Errorf("256 backends: %v, want ErrUnsupported", err)
	}
	if err := d.PutSNATExclusion(ctx, model.SNATExclusion{Prefix: netip.MustParsePrefix("10.0.0.1/8")}); err == nil {
		t.Error("exclusion with host bits accepted")
	}
	if err := d.PutSNATInterface(ctx, model.SNATInterface{Interface: "nosuch0", Family: model.IPv4}); err == nil {
		t.Error("SNAT on a missing interface accepted")
	}
	if got, err := d.ListTranslations(ctx); err != nil || len(got) != 0 {
		t.Errorf("refused requests left translations: %v, %v", got, err)
	}
	if got, err := d.ListSNATExclusions(ctx); err != nil || len(got) != 0 {
		t.Errorf("refused requests left exclusions: %v, %v", got, err)
	}
}

// TestDataplaneBatch programs and removes 2,000 translations of 8
// backends pipelined, as a resync does.
func TestDataplaneBatch(t *testing.T) {
	r := agenttest.NewRig(t, nil)
	d := openDP(t, r)
	ctx := agenttest.Context(t)
	ts := translations(2000, 8)
	start := time.Now()
	for i, err := range d.PutTranslations(ctx, ts) {
		if err != nil {
			t.Fatalf("translation %d: %v", i, err)
		}
	}
	took := time.Since(start)
	got, err := d.ListTranslations(ctx)
	if err != nil || len(got) != len(ts) {
		t.Fatalf("ListTranslations = %d, %v", len(got), err)
	}
	t.Logf("2000 translations x 8 backends programmed in %v", took)
	keys := make([]model.TranslationKey, len(ts))
	for i := range ts {
		keys[i] = ts[i].Key
	}
	for i, err := range d.DeleteTranslations(ctx, keys) {
		if err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if got, _ := d.ListTranslations(ctx); len(got) != 0 {
		t.Fatalf("%d left", len(got))
	}
}
