package netnstest

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/registry"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/test/kernel/nslab"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func ip(s string) netip.Addr       { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ap(s string) netip.AddrPort   { return netip.MustParseAddrPort(s) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// openIn opens the kernel dataplane inside lab namespace ns and closes it
// (leaving its table, as the agent does) when the test ends.
func openIn(t *testing.T, lab *nslab.Lab, ns string, opts ...kernel.Option) *kernel.Dataplane {
	t.Helper()
	d, err := kernel.Open(ctx(t), registry.Config{}, append([]kernel.Option{kernel.WithNetNS(lab.NS(ns))}, opts...)...)
	must(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

func nftConn(t testing.TB, lab *nslab.Lab, ns string) *nftables.Conn {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(lab.NS(ns))))
	must(t, err)
	return c
}

// addForeignTable creates `table inet foreign` with a counting chain, as
// another program on the host would.
func addForeignTable(t *testing.T, c *nftables.Conn) {
	t.Helper()
	tb := c.AddTable(&nftables.Table{Name: "foreign", Family: nftables.TableFamilyINet})
	ch := c.AddChain(&nftables.Chain{Name: "input", Table: tb, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{&expr.Counter{}}})
	c.AddChain(&nftables.Chain{Name: "mine", Table: tb})
	must(t, c.Flush())
}

// foreignIntact checks the foreign table still has its two chains and rule.
func foreignIntact(t *testing.T, c *nftables.Conn) {
	t.Helper()
	tb, err := c.ListTableOfFamily("foreign", nftables.TableFamilyINet)
	if err != nil {
		t.Fatalf("foreign table gone: %v", err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	must(t, err)
	n := 0
	for _, ch := range chains {
		if ch.Table.Name != "foreign" {
			continue
		}
		n++
		if ch.Name == "input" {
			rules, err := c.GetRules(tb, ch)
			must(t, err)
			if len(rules) != 1 {
				t.Fatalf("foreign chain input has %d rules, want 1", len(rules))
			}
		}
	}
	if n != 2 {
		t.Fatalf("foreign table has %d chains, want 2", n)
	}
}

func tableExists(t *testing.T, c *nftables.Conn, name string) bool {
	t.Helper()
	_, err := c.ListTableOfFamily(name, nftables.TableFamilyINet)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		t.Fatal(err)
	}
	return err == nil
}

// sessions lists the sessions matching f.
func sessions(t *testing.T, d *kernel.Dataplane, f model.SessionFilter) []model.Session {
	t.Helper()
	var out []model.Session
	must(t, d.ListSessions(ctx(t), f, func(s model.Session) error {
		out = append(out, s)
		return nil
	}))
	return out
}

func allVRFs() model.SessionFilter { return model.SessionFilter{VRF: model.AllVRFs} }

// zoneHas says whether cloudnat's zone chain has a rule for interface name.
func zoneHas(t *testing.T, c *nftables.Conn, name string) bool {
	t.Helper()
	tb := &nftables.Table{Name: "cloudnat", Family: nftables.TableFamilyINet}
	rules, err := c.GetRules(tb, &nftables.Chain{Name: "cn_zone", Table: tb})
	must(t, err)
	want := make([]byte, unix.IFNAMSIZ)
	copy(want, name)
	for _, r := range rules {
		for _, e := range r.Exprs {
			if cmp, ok := e.(*expr.Cmp); ok && string(cmp.Data) == string(want) {
				return true
			}
		}
	}
	return false
}

// eventually polls cond for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
