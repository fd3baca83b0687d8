package netnstest

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// scaleVIP is the address of translation i: 10.100.0.0 upwards.
func scaleVIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(100 + i>>16), byte(i >> 8), byte(i)})
}

// scaleTranslations are n TCP VIP translations (port 80) with nb backends
// each, alternating between b1 and b2 (port 8000, served by natLab).
func scaleTranslations(n, nb int) []model.Translation {
	out := make([]model.Translation, n)
	for i := range out {
		bs := make([]model.Backend, nb)
		for j := range bs {
			bs[j] = model.Backend{DstAddr: netip.AddrFrom4([4]byte{10, 20, byte(1 + j%2), 2}), DstPort: 8000}
		}
		out[i] = model.Translation{Key: model.TranslationKey{VIP: scaleVIP(i), Port: 80, Proto: model.ProtoTCP},
			LB: model.LBHash, Backends: bs}
	}
	return out
}

func putAll(tb testing.TB, d *kernel.Dataplane, ts []model.Translation) time.Duration {
	tb.Helper()
	c := context.Background()
	start := time.Now()
	for _, t := range ts {
		if err := d.PutTranslation(c, t); err != nil {
			tb.Fatalf("put %s: %v", t.Key, err)
		}
	}
	return time.Since(start)
}

// deleteTableForeign deletes cloudnat's table as an operator would
// (`nft delete table inet cloudnat`), from another socket.
func deleteTableForeign(tb testing.TB, nc *nftables.Conn) {
	tb.Helper()
	nc.DelTable(&nftables.Table{Name: "cloudnat", Family: nftables.TableFamilyINet})
	if err := nc.Flush(); err != nil {
		tb.Fatalf("delete table: %v", err)
	}
}

// waitRepaired waits until the dataplane counted one more drift repair
// and finished it (the lists wait for the repair's lock).
func waitRepaired(tb testing.TB, d *kernel.Dataplane, before uint64, limit time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	if !eventually(limit, func() bool { return d.DriftRepairs() > before }) {
		tb.Fatalf("no drift repair within %v", limit)
	}
	if _, err := d.ListTranslations(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

func TestKernelScale(t *testing.T) {
	lab := natLab(t)
	nc := nftConn(t, lab, "r")
	d := openIn(t, lab, "r")
	<-d.Events()
	const n = 5000
	ts := scaleTranslations(n, 2)
	// Most in bulk, the rest one by one: both paths.
	start := time.Now()
	must(t, d.PutTranslations(ctx(t), ts[:n-500]))
	bulk := time.Since(start)
	took := putAll(t, d, ts[n-500:])
	t.Logf("%d translations x 2 backends in bulk: %v; 500 one by one: %v", n-500, bulk, took)

	check := func(what string) {
		t.Helper()
		got, err := d.ListTranslations(ctx(t))
		must(t, err)
		if len(got) != n {
			t.Fatalf("%s: %d translations listed, want %d", what, len(got), n)
		}
		want := map[model.TranslationKey]model.Translation{}
		for _, x := range ts {
			want[x.Key] = x
		}
		for _, x := range got {
			w := want[x.Key]
			if x.Kind != w.Kind || len(x.Backends) != 2 || x.Backends[0] != w.Backends[0] || x.Backends[1] != w.Backends[1] {
				t.Fatalf("%s: listed %+v, want %+v", what, x, w)
			}
		}
		for _, i := range []int{0, 1234, n - 1} {
			r, err := lab.TCP("c", netip.AddrPortFrom(scaleVIP(i), 80).String())
			if err != nil || (r.Server != "be1" && r.Server != "be2") || r.PeerIP() != "10.10.0.2" {
				t.Fatalf("%s: connection to translation %d: %+v %v", what, i, r, err)
			}
		}
	}
	check("after puts")

	// A fresh dataplane (an agent restart) lists the same from the kernel.
	d2 := openIn(t, lab, "r", kernel.WithHostCheck(0))
	got, err := d2.ListTranslations(ctx(t))
	must(t, err)
	if len(got) != n {
		t.Fatalf("reopened: %d translations", len(got))
	}
	must(t, d2.Close())

	t.Run("nft-list-chain", func(t *testing.T) {
		if _, err := exec.LookPath("nft"); err != nil {
			t.Skip("nft not installed")
		}
		for _, ch := range []string{"cn_dnat", "cn_post", "cn_lb4_2_0"} {
			if ch == "cn_lb4_2_0" {
				ch = "cn_lb4_2_31"
			}
			out, err := exec.Command("ip", "netns", "exec", lab.Name("r"), "nft", "list", "chain", "inet", "cloudnat", ch).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "chain "+ch) {
				t.Fatalf("nft list chain inet cloudnat %s: %v\n%s", ch, err, out)
			}
		}
	})

	t.Run("table-deleted", func(t *testing.T) {
		before := d.DriftRepairs()
		deleteTableForeign(t, nc)
		took := waitRepaired(t, d, before, 2*time.Second)
		t.Logf("deleted table with %d translations rewritten %v after the delete", n, took)
		select {
		case ev := <-d.Events():
			if ev != dataplane.Connected {
				t.Fatalf("event %v", ev)
			}
		case <-time.After(time.Second):
			t.Fatal("no Connected event after the repair")
		}
		check("after the table was deleted")
	})

	t.Run("chain-flushed", func(t *testing.T) {
		before := d.DriftRepairs()
		tb := &nftables.Table{Name: "cloudnat", Family: nftables.TableFamilyINet}
		nc.FlushChain(&nftables.Chain{Name: "cn_dnat", Table: tb})
		must(t, nc.Flush())
		waitRepaired(t, d, before, 2*time.Second)
		<-d.Events()
		check("after cn_dnat was flushed")
	})

	t.Run("elements-deleted", func(t *testing.T) {
		// Someone deletes a translation's map element and a backend
		// element of another: both are put back from the cache.
		before := d.DriftRepairs()
		tb := &nftables.Table{Name: "cloudnat", Family: nftables.TableFamilyINet}
		for _, name := range []string{"cn_tx4", "cn_bp4"} {
			set, err := nc.GetSetByName(tb, name)
			must(t, err)
			els, err := nc.GetSetElements(set)
			must(t, err)
			if len(els) == 0 {
				t.Fatalf("%s is empty", name)
			}
			must(t, nc.SetDeleteElements(set, []nftables.SetElement{{Key: els[len(els)/2].Key}}))
		}
		must(t, nc.Flush())
		waitRepaired(t, d, before, 2*time.Second)
		<-d.Events()
		for _, name := range []string{"cn_tx4", "cn_bp4"} {
			set, err := nc.GetSetByName(tb, name)
			must(t, err)
			els, err := nc.GetSetElements(set)
			must(t, err)
			want := n
			if name == "cn_bp4" {
				want = 2 * n
			}
			if len(els) != want {
				t.Fatalf("%s has %d elements after the repair, want %d", name, len(els), want)
			}
		}
		check("after elements were deleted")
	})

	t.Run("change-and-delete", func(t *testing.T) {
		c := ctx(t)
		x := ts[77]
		x.Backends = x.Backends[:1]
		must(t, d.PutTranslation(c, x))
		must(t, d.DeleteTranslation(c, ts[78].Key))
		got, err := d.ListTranslations(c)
		must(t, err)
		if len(got) != n-1 {
			t.Fatalf("%d listed", len(got))
		}
		if _, err := lab.TCP("c", netip.AddrPortFrom(scaleVIP(78), 80).String()); err == nil {
			t.Fatal("deleted VIP still answers")
		}
		r, err := lab.TCP("c", netip.AddrPortFrom(scaleVIP(77), 80).String())
		if err != nil || r.Server != "be1" {
			t.Fatalf("changed translation: %+v %v", r, err)
		}
	})
}

// TestKernelSNATScale: many exclusions and a large pool, put one by one.
func TestKernelSNATScale(t *testing.T) {
	lab := natLab(t)
	d := openIn(t, lab, "r")
	<-d.Events()
	c := ctx(t)
	const nx, np = 2000, 200
	start := time.Now()
	for i := 0; i < nx; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16 + byte(i>>16), byte(i >> 8), byte(i)}), 32-(i%3)*2).Masked()
		must(t, d.PutSNATExclusion(c, model.SNATExclusion{Prefix: p}))
	}
	must(t, d.PutSNATExclusion(c, model.SNATExclusion{Prefix: prefix("198.51.100.0/24")}))
	tx := time.Since(start)
	start = time.Now()
	for i := 0; i < np; i++ {
		must(t, d.PutSNATAddress(c, model.SNATAddress{Addr: netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})}))
	}
	tp := time.Since(start)
	t.Logf("%d exclusions: %v, %d pool addresses: %v", nx+1, tx, np, tp)
	xs, err := d.ListSNATExclusions(c)
	must(t, err)
	as, err := d.ListSNATAddresses(c)
	must(t, err)
	if len(xs) < nx/2 || len(as) != np {
		t.Fatalf("%d exclusions, %d addresses listed", len(xs), len(as))
	}
	// The pool is then replaced by the lab's address; SNAT works, the
	// excluded prefix is left alone.
	for _, a := range as {
		must(t, d.DeleteSNATAddress(c, a))
	}
	must(t, d.PutSNATAddress(c, model.SNATAddress{Addr: ip("203.0.113.100")}))
	must(t, d.PutSNATInterface(c, model.SNATInterface{Interface: "r-c", Family: model.IPv4}))
	if r, err := lab.TCP("c", "203.0.113.2:7000"); err != nil || r.PeerIP() != "203.0.113.100" {
		t.Fatalf("snat: %+v %v", r, err)
	}
	if r, err := lab.TCP("c", "198.51.100.1:7000"); err != nil || r.PeerIP() != "10.10.0.2" {
		t.Fatalf("excluded: %+v %v", r, err)
	}
}
