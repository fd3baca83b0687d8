package netnstest

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/test/kernel/nslab"
)

// natLab builds:
//
//	c (client) ── r (router, cloudnat) ── x (extranet)
//	                 │          │
//	                b1          b2  (backends)
//
// c: 10.10.0.2/24 fd10::2/64       r-c: 10.10.0.1/24 fd10::1/64
// b1: 10.20.1.2/24                 r-b1: 10.20.1.1/24
// b2: 10.20.2.2/24                 r-b2: 10.20.2.1/24
// x: 203.0.113.2/24 2001:db8:ff::2 r-x: 203.0.113.1/24 2001:db8:ff::1
// x also owns 198.51.100.1 and 2001:db8:ee::1 (the excluded prefixes) and
// routes the SNAT pools (203.0.113.100/31, 2001:db8:ff::100) to r.
func natLab(t testing.TB) *nslab.Lab {
	lab := nslab.New(t)
	for _, ns := range []string{"r", "c", "b1", "b2", "x"} {
		lab.AddNS(ns)
	}
	lab.Link("c", "c0", []string{"10.10.0.2/24", "fd10::2/64"}, "r", "r-c", []string{"10.10.0.1/24", "fd10::1/64"})
	lab.Link("b1", "b0", []string{"10.20.1.2/24"}, "r", "r-b1", []string{"10.20.1.1/24"})
	lab.Link("b2", "b0", []string{"10.20.2.2/24"}, "r", "r-b2", []string{"10.20.2.1/24"})
	lab.Link("x", "x0", []string{"203.0.113.2/24", "2001:db8:ff::2/64"}, "r", "r-x",
		[]string{"203.0.113.1/24", "2001:db8:ff::1/64"})
	lab.Sh("c", "ip", "route", "add", "default", "via", "10.10.0.1")
	lab.Sh("c", "ip", "-6", "route", "add", "default", "via", "fd10::1")
	lab.Sh("b1", "ip", "route", "add", "default", "via", "10.20.1.1")
	lab.Sh("b2", "ip", "route", "add", "default", "via", "10.20.2.1")
	lab.Sh("x", "ip", "addr", "add", "198.51.100.1/32", "dev", "lo")
	lab.Sh("x", "ip", "addr", "add", "2001:db8:ee::1/128", "dev", "lo", "nodad")
	lab.Sh("x", "ip", "route", "add", "10.10.0.0/24", "via", "203.0.113.1")
	lab.Sh("x", "ip", "route", "add", "203.0.113.100/31", "via", "203.0.113.1")
	lab.Sh("x", "ip", "-6", "route", "add", "fd10::/64", "via", "2001:db8:ff::1")
	lab.Sh("x", "ip", "-6", "route", "add", "2001:db8:ff::100/128", "via", "2001:db8:ff::1")
	lab.Sh("r", "ip", "route", "add", "198.51.100.0/24", "via", "203.0.113.2")
	lab.Sh("r", "ip", "-6", "route", "add", "2001:db8:ee::/48", "via", "2001:db8:ff::2")

	lab.Serve("b1", "be1", "0.0.0.0:8000")
	lab.Serve("b2", "be2", "0.0.0.0:8000")
	lab.Serve("b1", "web1", "10.20.1.2:80")
	lab.Serve("x", "ext", ":7000")
	lab.Serve("r", "router", "203.0.113.1:9000")
	return lab
}

var vip = model.TranslationKey{VIP: ip("10.99.0.10"), Port: 80, Proto: model.ProtoTCP}

func TestKernelNAT(t *testing.T) {
	lab := natLab(t)
	nc := nftConn(t, lab, "r")
	addForeignTable(t, nc)
	d := openIn(t, lab, "r")
	if ev := <-d.Events(); ev != dataplane.Connected {
		t.Fatalf("first event %v, want Connected", ev)
	}
	if info := d.Info(ctx(t)); info.Name != "kernel" || info.Version == "" {
		t.Fatalf("info %+v", info)
	}

	t.Run("unsupported", func(t *testing.T) {
		err := d.PutTranslation(ctx(t), model.Translation{Key: vip, LB: model.LBMaglev,
			Backends: []model.Backend{{DstAddr: ip("10.20.1.2")}}})
		if !errors.Is(err, dataplane.ErrUnsupported) {
			t.Fatalf("maglev: %v, want ErrUnsupported", err)
		}
		err = d.PutTranslation(ctx(t), model.Translation{Key: model.TranslationKey{VIP: ip("10.99.0.10"), Proto: model.ProtoICMP},
			Backends: []model.Backend{{DstAddr: ip("10.20.1.2"), DstPort: 7}}})
		if !errors.Is(err, dataplane.ErrUnsupported) {
			t.Fatalf("icmp id rewrite: %v, want ErrUnsupported", err)
		}
		if tableExists(t, nc, "cloudnat") {
			t.Fatal("a refused request created the table")
		}
	})

	t.Run("vip-load-balanced", func(t *testing.T) {
		c := ctx(t)
		backends := []model.Backend{{DstAddr: ip("10.20.1.2"), DstPort: 8000}, {DstAddr: ip("10.20.2.2"), DstPort: 8000}}
		must(t, d.PutTranslation(c, model.Translation{Key: vip, Backends: backends}))
		must(t, d.PutTranslation(c, model.Translation{Key: model.TranslationKey{VIP: ip("10.99.0.10"), Port: 53, Proto: model.ProtoUDP},
			Backends: backends}))
		must(t, d.PutTranslation(c, model.Translation{Key: model.TranslationKey{VIP: ip("10.99.0.10"), Proto: model.ProtoICMP},
			Backends: []model.Backend{{DstAddr: ip("10.20.2.2")}}}))
		seen := map[string]int{}
		for i := 0; i < 16; i++ {
			r, err := lab.TCP("c", "10.99.0.10:80")
			must(t, err)
			if r.PeerIP() != "10.10.0.2" {
				t.Fatalf("backend saw %s, want the client 10.10.0.2", r.Peer)
			}
			seen[r.Server]++
		}
		if seen["be1"] == 0 || seen["be2"] == 0 {
			t.Fatalf("connections per backend %v, want both", seen)
		}
		r, err := lab.UDP("c", "10.99.0.10:53")
		must(t, err)
		if r.Server != "be1" && r.Server != "be2" {
			t.Fatalf("udp reached %q", r.Server)
		}
		must(t, lab.Ping("c", "10.99.0.10"))
		// A VIP port without translation is dropped and counted.
		if _, err := lab.TCP("c", "10.99.0.10:81"); err == nil {
			t.Fatal("connection to an untranslated VIP port succeeded")
		}
		st, err := d.Stats(c)
		must(t, err)
		if st.Translations != 3 || st.Drops["vip-no-translation"] == 0 {
			t.Fatalf("stats %+v", st)
		}
		ts, err := d.ListTranslations(c)
		must(t, err)
		if len(ts) != 3 || ts[0].Key != vip || !slices.Equal(ts[0].Backends, backends) {
			t.Fatalf("translations read back: %+v", ts)
		}
	})

	t.Run("backend-source-rewrite", func(t *testing.T) {
		c := ctx(t)
		k := model.TranslationKey{VIP: ip("10.99.0.12"), Port: 80, Proto: model.ProtoTCP}
		must(t, d.PutTranslation(c, model.Translation{Key: k, Backends: []model.Backend{
			{DstAddr: ip("10.20.2.2"), DstPort: 8000, SrcAddr: ip("10.20.2.1"), SrcPort: 33333}}}))
		r, err := lab.TCP("c", "10.99.0.12:80")
		must(t, err)
		if r.Server != "be2" || r.Peer != "10.20.2.1:33333" {
			t.Fatalf("backend saw %+v, want be2 reached from 10.20.2.1:33333", r)
		}
		must(t, d.DeleteTranslation(c, k))
		must(t, d.DeleteTranslation(c, k)) // absent: nil
	})

	pool := []string{"203.0.113.100", "203.0.113.101"}
	t.Run("snat-ipv4", func(t *testing.T) {
		c := ctx(t)
		for _, a := range pool {
			must(t, d.PutSNATAddress(c, model.SNATAddress{Addr: ip(a)}))
		}
		must(t, d.PutSNATExclusion(c, model.SNATExclusion{Prefix: prefix("198.51.100.0/24")}))
		must(t, d.PutSNATInterface(c, model.SNATInterface{Interface: "r-c", Family: model.IPv4}))
		var first string
		for i := 0; i < 4; i++ {
			r, err := lab.TCP("c", "203.0.113.2:7000")
			must(t, err)
			if !slices.Contains(pool, r.PeerIP()) {
				t.Fatalf("extranet saw %s, want an address of %v", r.Peer, pool)
			}
			if first == "" {
				first = r.PeerIP()
			} else if r.PeerIP() != first {
				t.Fatalf("paired pooling broken: %s then %s", first, r.PeerIP())
			}
		}
		r, err := lab.UDP("c", "203.0.113.2:7000")
		must(t, err)
		if r.PeerIP() != first {
			t.Fatalf("udp: extranet saw %s, want %s", r.Peer, first)
		}
		r, err = lab.TCP("c", "198.51.100.1:7000")
		must(t, err)
		if r.PeerIP() != "10.10.0.2" {
			t.Fatalf("excluded destination: extranet saw %s, want 10.10.0.2", r.Peer)
		}
		must(t, lab.Ping("c", "203.0.113.2"))
		icmp := sessions(t, d, model.SessionFilter{VRF: 0, Proto: model.ProtoICMP, Addr: prefix("203.0.113.2/32")})
		if len(icmp) == 0 || !icmp[0].SNAT || icmp[0].NewSrc.Addr().String() != first ||
			icmp[0].ExpiresIn > model.DefaultTimeouts.ICMP || icmp[0].ExpiresIn < model.DefaultTimeouts.ICMP-10*time.Second {
			t.Fatalf("icmp sessions %+v", icmp)
		}
		udp := sessions(t, d, model.SessionFilter{VRF: 0, Proto: model.ProtoUDP, Addr: prefix("203.0.113.2/32")})
		if len(udp) == 0 || udp[0].ExpiresIn > model.DefaultTimeouts.UDP || udp[0].ExpiresIn < model.DefaultTimeouts.UDP-10*time.Second {
			t.Fatalf("udp sessions %+v (want the cn_udp timeout of %v)", udp, model.DefaultTimeouts.UDP)
		}
	})

	t.Run("port-forward-real", func(t *testing.T) {
		c := ctx(t)
		must(t, d.PutTranslation(c, model.Translation{Kind: model.KindReal,
			Key:      model.TranslationKey{VIP: ip("203.0.113.1"), Port: 8080, Proto: model.ProtoTCP},
			Backends: []model.Backend{{DstAddr: ip("10.20.1.2"), DstPort: 80}}}))
		r, err := lab.TCP("x", "203.0.113.1:8080")
		must(t, err)
		if r.Server != "web1" || r.PeerIP() != "203.0.113.2" {
			t.Fatalf("port forward reached %+v", r)
		}
		r, err = lab.TCP("x", "203.0.113.1:9000")
		must(t, err)
		if r.Server != "router" {
			t.Fatalf("other port of a real address reached %+v, want the router itself", r)
		}
	})

	t.Run("snat-ipv6", func(t *testing.T) {
		c := ctx(t)
		must(t, d.PutSNATAddress(c, model.SNATAddress{Addr: ip("2001:db8:ff::100")}))
		must(t, d.PutSNATExclusion(c, model.SNATExclusion{Prefix: prefix("2001:db8:ee::/48")}))
		must(t, d.PutSNATInterface(c, model.SNATInterface{Interface: "r-c", Family: model.IPv6}))
		r, err := lab.TCP("c", "[2001:db8:ff::2]:7000")
		must(t, err)
		if r.PeerIP() != "2001:db8:ff::100" {
			t.Fatalf("extranet saw %s, want 2001:db8:ff::100", r.Peer)
		}
		r, err = lab.UDP("c", "[2001:db8:ff::2]:7000")
		must(t, err)
		if r.PeerIP() != "2001:db8:ff::100" {
			t.Fatalf("udp: extranet saw %s", r.Peer)
		}
		r, err = lab.TCP("c", "[2001:db8:ee::1]:7000")
		must(t, err)
		if r.PeerIP() != "fd10::2" {
			t.Fatalf("excluded destination: extranet saw %s, want fd10::2", r.Peer)
		}
		must(t, lab.Ping("c", "2001:db8:ff::2"))
	})

	t.Run("sessions-and-timeouts", func(t *testing.T) {
		c := ctx(t)
		must(t, d.SetTimeouts(c, model.Timeouts{TCPEstablished: 600 * time.Second}))
		to, err := d.GetTimeouts(c)
		must(t, err)
		want := model.DefaultTimeouts
		want.TCPEstablished = 600 * time.Second
		if to != want {
			t.Fatalf("timeouts read back %+v, want %+v", to, want)
		}
		conn, err := lab.DialTCP("c", "203.0.113.2:7000", "10.10.0.2:41000")
		must(t, err)
		defer conn.Close()
		vconn, err := lab.DialTCP("c", "10.99.0.10:80", "10.10.0.2:41001")
		must(t, err)
		defer vconn.Close()
		ss := sessions(t, d, model.SessionFilter{VRF: 0, Proto: model.ProtoTCP, Port: 41000})
		if len(ss) != 1 {
			t.Fatalf("sessions for port 41000: %+v", ss)
		}
		s := ss[0]
		if !s.SNAT || s.Src != ap("10.10.0.2:41000") || s.Dst != ap("203.0.113.2:7000") ||
			!slices.Contains(pool, s.NewSrc.Addr().String()) || s.NewDst != s.Dst ||
			s.TCPState != model.TCPEstablished || s.ExpiresIn > 600*time.Second || s.ExpiresIn < 590*time.Second {
			t.Fatalf("snat session %+v", s)
		}
		vs := sessions(t, d, model.SessionFilter{VRF: 0, Port: 41001})
		if len(vs) != 1 || vs[0].SNAT || vs[0].TranslationID == 0 || vs[0].Dst != ap("10.99.0.10:80") ||
			(vs[0].NewDst != ap("10.20.1.2:8000") && vs[0].NewDst != ap("10.20.2.2:8000")) {
			t.Fatalf("translation session %+v", vs)
		}
		// Delete by the reply direction's 5-tuple.
		must(t, d.DeleteSession(c, model.SessionKey{Proto: model.ProtoTCP, Src: s.NewDst, Dst: s.NewSrc}))
		if ss := sessions(t, d, model.SessionFilter{VRF: 0, Port: 41000}); len(ss) != 0 {
			t.Fatalf("session not deleted: %+v", ss)
		}
		if ss := sessions(t, d, model.SessionFilter{VRF: 0, Port: 41001}); len(ss) != 1 {
			t.Fatalf("delete took another session too: %+v", ss)
		}
		n, err := d.PurgeSessions(c, 0)
		must(t, err)
		if n == 0 {
			t.Fatal("purge deleted nothing")
		}
		if ss := sessions(t, d, allVRFs()); len(ss) != 0 {
			t.Fatalf("sessions left after purge: %+v", ss)
		}
	})

	t.Run("rebuild-atomic", func(t *testing.T) {
		c := ctx(t)
		held, err := lab.DialTCP("c", "203.0.113.2:7000", "")
		must(t, err)
		defer held.Close()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var fails, ok atomic.Int32
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := lab.TCP("c", "10.99.0.10:80"); err != nil {
					fails.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
		extra := model.TranslationKey{VIP: ip("10.99.0.11"), Port: 80, Proto: model.ProtoTCP}
		// Changes are small transactions now: go on until connections
		// have been made during them.
		n := 0
		for ; n < 40 || (ok.Load() < 20 && n < 20000); n += 2 {
			must(t, d.PutTranslation(c, model.Translation{Key: extra, Backends: []model.Backend{{DstAddr: ip("10.20.2.2"), DstPort: 8000}}}))
			must(t, d.DeleteTranslation(c, extra))
		}
		close(stop)
		wg.Wait()
		if fails.Load() != 0 || ok.Load() == 0 {
			t.Fatalf("during %d changes: %d connections failed, %d succeeded", n, fails.Load(), ok.Load())
		}
		must(t, held.Echo("still there"))
		foreignIntact(t, nc)
	})

	t.Run("session-limit", func(t *testing.T) {
		c := ctx(t)
		must(t, d.SetSessionLimit(c, model.SessionLimit{VRF: 0, Max: 1}))
		held, err := lab.DialTCP("c", "203.0.113.2:7000", "")
		must(t, err)
		defer held.Close()
		if _, err := lab.TCP("c", "10.99.0.10:80"); err == nil {
			t.Fatal("second session allowed past a limit of 1")
		}
		ls, err := d.ListSessionLimits(c)
		must(t, err)
		if len(ls) != 1 || ls[0] != (model.SessionLimit{VRF: 0, Max: 1}) {
			t.Fatalf("limits %+v", ls)
		}
		must(t, d.SetSessionLimit(c, model.SessionLimit{VRF: 0, Max: 0}))
		_, err = lab.TCP("c", "10.99.0.10:80")
		must(t, err)
	})

	t.Run("restart-and-remove", func(t *testing.T) {
		c := ctx(t)
		before := dump(t, d)
		must(t, d.Close())
		d2 := openIn(t, lab, "r")
		if after := dump(t, d2); !equalDump(before, after) {
			t.Fatalf("after reopen:\n%+v\nbefore:\n%+v", after, before)
		}
		r, err := lab.TCP("c", "203.0.113.2:7000")
		must(t, err)
		if !slices.Contains(pool, r.PeerIP()) {
			t.Fatalf("after reopen extranet saw %s", r.Peer)
		}
		must(t, d2.Remove(c))
		if tableExists(t, nc, "cloudnat") {
			t.Fatal("table still there after Remove")
		}
		foreignIntact(t, nc)
		if ts, err := d2.ListTranslations(c); err != nil || len(ts) != 0 {
			t.Fatalf("after Remove: %v %v", ts, err)
		}
	})
}

type stateDump struct {
	T  []model.Translation
	A  []model.SNATAddress
	X  []model.SNATExclusion
	I  []model.SNATInterface
	TO model.Timeouts
}

func dump(t *testing.T, full dataplane.Dataplane) stateDump {
	t.Helper()
	c := ctx(t)
	var s stateDump
	var err error
	s.T, err = full.ListTranslations(c)
	must(t, err)
	s.A, err = full.ListSNATAddresses(c)
	must(t, err)
	s.X, err = full.ListSNATExclusions(c)
	must(t, err)
	s.I, err = full.ListSNATInterfaces(c)
	must(t, err)
	s.TO, err = full.GetTimeouts(c)
	must(t, err)
	return s
}

func equalDump(a, b stateDump) bool {
	if len(a.T) != len(b.T) {
		return false
	}
	for i := range a.T {
		if a.T[i].Key != b.T[i].Key || a.T[i].Kind != b.T[i].Kind || !slices.Equal(a.T[i].Backends, b.T[i].Backends) {
			return false
		}
	}
	return slices.Equal(a.A, b.A) && slices.Equal(a.X, b.X) && slices.Equal(a.I, b.I) && a.TO == b.TO
}
