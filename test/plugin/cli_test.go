package plugin

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// TestSeedCommandsVerbatim runs the seed commands exactly as written
// (pg0 where the seed says tap0) and checks their effect.
func TestSeedCommandsVerbatim(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	f := families[0]
	tp.cli(t, "cnat translation add proto TCP vip 30.0.0.2 80 to ->20.0.0.1 8080")
	c := tp.client(0, f)
	got := tp.one(t, tp.pg0, flow(c, f.vip(), vh.TCP, 1234, 80), tp.pg1)
	want(t, "seed vip translation", got, c.Src, 1234, tp.pg1.Hosts[0].IP4, 8080)

	tr := tp.cli(t, "cnat show translation")
	for _, s := range []string{"30.0.0.2", "20.0.0.1", "80", "8080"} {
		if !strings.Contains(tr, s) {
			t.Errorf("cnat show translation lacks %q:\n%s", s, tr)
		}
	}
	ss := tp.cli(t, "cnat show session verbose")
	for _, s := range []string{c.Src.String(), "30.0.0.2", "20.0.0.1"} {
		if !strings.Contains(ss, s) {
			t.Errorf("cnat show session verbose lacks %q:\n%s", s, ss)
		}
	}

	// the summary ends with the fill of the session tables, which do not
	// grow: one session = 2 entries (forward and reply)
	sum := tp.cli(t, "cnat show session")
	if !strings.Contains(sum, "ip4 session table:") || !strings.Contains(sum, " 2 entries") ||
		!strings.Contains(sum, "ip6 session table:") {
		t.Errorf("cnat show session lacks the session table lines (ip4 with 2 entries):\n%s", sum)
	}

	tp.cli(t, "cnat snat with 30::1")
	tp.cli(t, "cnat snat exclude 20::/100")
	tp.cli(t, "set interface feature pg0 ip6-cnat-snat arc ip6-unicast")
	if feats := tp.cli(t, "show interface features pg0"); !strings.Contains(feats, "ip6-cnat-snat") {
		t.Errorf("show interface features pg0 lacks ip6-cnat-snat:\n%s", feats)
	}
	sn := tp.cli(t, "cnat show snat")
	for _, s := range []string{"30::1", "20::/100"} {
		if !strings.Contains(sn, s) {
			t.Errorf("cnat show snat lacks %q:\n%s", s, sn)
		}
	}
	f6 := families[1]
	c6 := tp.client(0, f6)
	got = tp.one(t, tp.pg0, flow(c6, tp.far(f6).IP6, vh.UDP, 1234, 53), tp.pg1)
	want(t, "seed snat", got, f6.snat(), 1234, tp.far(f6).IP6, 53)
	got = tp.one(t, tp.pg0, flow(c6, tp.pg1.Hosts[0].IP6, vh.UDP, 1234, 53), tp.pg1)
	want(t, "seed snat exclude", got, c6.Src, 1234, tp.pg1.Hosts[0].IP6, 53)
	// The seed's real translation is run in TestRealTranslation.
}

// TestSeveralToClausesAndOptions: several "to" clauses, maglev with a
// length, hash fields; all listed by "cnat show translation".
func TestSeveralToClausesAndOptions(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.cli(t, "cnat translation add proto udp vip 30.0.0.2 80 to ->20.0.0.1 8080 to ->20.0.0.2 8080 to ->20.0.0.3 8081")
	tp.cli(t, "cnat translation add proto udp vip 30.0.0.2 81 maglev len 251 to ->20.0.0.1 8080 to ->20.0.0.2 8080")
	tp.cli(t, "cnat translation add proto tcp vip 30::2 80 hash src-addr,dst-port to ->20::1 8080 to ->20::2 8080")
	tr := tp.cli(t, "show cnat translation")
	for _, s := range []string{"20.0.0.3", "8081", "30::2", "20::2"} {
		if !strings.Contains(tr, s) {
			t.Errorf("show cnat translation lacks %q:\n%s", s, tr)
		}
	}
	if !strings.Contains(strings.ToLower(tr), "maglev") {
		t.Errorf("show cnat translation does not say maglev:\n%s", tr)
	}
}

// translationID adds a translation and returns the id "cnat translation
// add" prints ("translation <id>"), checking "cnat show translation" lists
// it as "[<id>] ...".
func translationID(t *testing.T, tp *topo, add string) string {
	t.Helper()
	out := tp.cli(t, "%s", add)
	m := regexp.MustCompile(`translation (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%q printed no 'translation <id>': %q", add, out)
	}
	if tr := tp.cli(t, "cnat show translation"); !strings.Contains(tr, "["+m[1]+"]") {
		t.Errorf("cnat show translation does not list [%s]:\n%s", m[1], tr)
	}
	return m[1]
}

// TestDeleteForms: "cnat translation del <id>", "cnat snat del",
// "cnat snat exclude del", and disabling the feature.
func TestDeleteForms(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	f := families[0]
	c := tp.client(0, f)
	tp.cli(t, "cnat translation add proto udp vip 30.0.0.2 80 to ->20.0.0.1 8080")
	id := translationID(t, tp, "cnat translation add proto udp vip 30.0.0.2 81 to ->20.0.0.2 8080")
	tp.cli(t, "cnat translation del %s", id)
	tr := tp.cli(t, "cnat show translation")
	if strings.Contains(tr, "20.0.0.2") {
		t.Errorf("cnat translation del %s left the translation:\n%s", id, tr)
	}
	if !strings.Contains(tr, "20.0.0.1") {
		t.Errorf("cnat translation del %s removed the other translation:\n%s", id, tr)
	}
	tp.v.SendAndExpectNone(t, tp.pg0, []vh.Pkt{flow(c, f.vip(), vh.UDP, 1, 81)})

	tp.cli(t, "cnat snat with 30.0.0.1 30.0.0.7")
	tp.cli(t, "cnat snat del 30.0.0.7")
	tp.cli(t, "cnat snat exclude 20.0.0.0/24")
	tp.cli(t, "cnat snat exclude del 20.0.0.0/24")
	sn := tp.cli(t, "cnat show snat")
	if strings.Contains(sn, "30.0.0.7") || strings.Contains(sn, "20.0.0.0/24") || !strings.Contains(sn, "30.0.0.1") {
		t.Errorf("cnat show snat after deletes (want 30.0.0.1 only):\n%s", sn)
	}
	tp.cli(t, "set interface feature pg0 ip4-cnat-snat arc ip4-unicast")
	got := tp.one(t, tp.pg0, flow(c, tp.pg1.Hosts[0].IP4, vh.UDP, 2, 53), tp.pg1)
	want(t, "snat on", got, f.snat(), 2, tp.pg1.Hosts[0].IP4, 53)
	tp.cli(t, "set interface feature pg0 ip4-cnat-snat arc ip4-unicast disable")
	got = tp.one(t, tp.pg0, flow(c, tp.pg1.Hosts[0].IP4, vh.UDP, 3, 53), tp.pg1)
	want(t, "snat feature disabled", got, c.Src, 3, tp.pg1.Hosts[0].IP4, 53)
	tp.cli(t, "cnat snat del 30.0.0.1")
	if sn := tp.cli(t, "cnat show snat"); strings.Contains(sn, "30.0.0.1") {
		t.Errorf("cnat snat del 30.0.0.1 left it:\n%s", sn)
	}
}

// TestCLIRejectsBadInput: malformed commands fail and change nothing.
func TestCLIRejectsBadInput(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, cmd := range []string{
		"cnat translation add proto tcp vip 30.0.0.2 80",
		"cnat translation add proto sctp vip 30.0.0.2 80 to ->20.0.0.1 8080",
		"cnat translation add proto tcp vip 30.0.0.2 80 to ->20::1 8080",
		"cnat translation add proto tcp vip 30.0.0.2 80 to ->20.0.0.1 8080 bogus",
		"cnat snat with 999.0.0.1",
		"cnat timeouts udp abc",
		"test cnat clock advance",
	} {
		if out, err := tp.v.CLI(cmd); err == nil {
			t.Errorf("%q: accepted (output %q), want an error", cmd, out)
		}
	}
	if tr := tp.cli(t, "cnat show translation"); strings.Contains(tr, "30.0.0.2") {
		t.Errorf("a rejected command left a translation:\n%s", tr)
	}
}

// TestTraceShowsRewrite: a packet trace shows cloudnat's node and the
// rewritten destination.
func TestTraceShowsRewrite(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	f := families[0]
	tp.cli(t, "cnat translation add proto udp vip 30.0.0.2 80 to ->20.0.0.1 8080")
	c := tp.client(0, f)
	tp.v.SendAndExpect(t, tp.pg0, []vh.Pkt{flow(c, f.vip(), vh.UDP, 1234, 80)}, tp.pg1, vh.SendOptions{Trace: 10})
	tr := tp.v.ShowTrace(t)
	// cloudnat's node is in the path and the packet leaves it rewritten.
	loc := regexp.MustCompile(`(?m)^\S+ (ip4-cloudnat\S*|ip4-cnat\S*)\s*$`).FindStringSubmatchIndex(tr)
	if loc == nil {
		t.Fatalf("show trace names no cloudnat node (ip4-cloudnat..., ip4-cnat-...):\n%s", tr)
	}
	after := tr[loc[1]:]
	if !strings.Contains(after, "30.0.0.2") || !strings.Contains(after, "20.0.0.1:8080") {
		t.Errorf("the %s trace does not show the rewrite 30.0.0.2:80 => 20.0.0.1:8080:\n%s", tr[loc[2]:loc[3]], tr)
	}
	if i := strings.Index(after, "ip4-rewrite"); i < 0 || !strings.Contains(after[i:], "UDP: 10.0.0.2 -> 20.0.0.1") {
		t.Errorf("after %s the packet is not 10.0.0.2 -> 20.0.0.1:\n%s", tr[loc[2]:loc[3]], tr)
	}
}

// TestRefusesBesideVPPCnat: with VPP's cnat_plugin.so also enabled the
// plugin refuses, with one log line naming cnat_plugin.so and disable.
func TestRefusesBesideVPPCnat(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := vh.StartProcess(ctx, vh.Options{ExtraPlugins: []string{"cnat_plugin.so"}, StartTimeout: 15 * time.Second})
	if v == nil {
		t.Fatalf("VPP did not start at all: %v", err)
	}
	if err == nil {
		// VPP runs: then cloudnat must not be active.
		plugins, _ := v.CLI("show plugins")
		_, cerr := v.CLI("cnat show translation")
		if serr := v.Stop(); serr != nil {
			t.Logf("stop: %v", serr)
		}
		if cerr == nil {
			t.Errorf("VPP runs with both cnat_plugin.so and cloudnat_plugin.so enabled and cnat CLI answering; plugins:\n%s", plugins)
		}
	} else if !errors.Is(err, vh.ErrExited) {
		t.Logf("start error: %v", err)
	}
	defer func() {
		if !t.Failed() {
			_ = os.RemoveAll(v.Dir)
		} else {
			t.Logf("VPP run directory kept: %s", v.Dir)
		}
	}()
	log := v.Log()
	var line string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "cnat_plugin.so") && strings.Contains(strings.ToLower(l), "disable") {
			line = l
		}
	}
	if line == "" {
		t.Errorf("no log line naming cnat_plugin.so and disable; VPP output:\n%s", log)
	} else {
		t.Logf("refusal: %s", strings.TrimSpace(line))
	}
}

// TestTapInterface: the seed's feature command on a real tap0, if taps can
// be created here.
func TestTapInterface(t *testing.T) {
	t.Parallel()
	v := vh.Start(t, vh.Options{ExtraPlugins: []string{"tap_plugin.so"}})
	if _, err := v.CLI("create tap id 0"); err != nil {
		t.Skipf("create tap does not work here (%v); the seed's tap0 commands are run on pg0 instead", err)
	}
	v.CLIf(t, "set interface state tap0 up")
	v.CLIf(t, "set interface ip address tap0 10::1/64")
	v.CLIf(t, "cnat snat with 30::1")
	v.CLIf(t, "cnat snat exclude 20::/100")
	v.CLIf(t, "set interface feature tap0 ip6-cnat-snat arc ip6-unicast")
	if feats := v.MustCLI(t, "show interface features tap0"); !strings.Contains(feats, "ip6-cnat-snat") {
		t.Errorf("show interface features tap0 lacks ip6-cnat-snat:\n%s", feats)
	}
}
