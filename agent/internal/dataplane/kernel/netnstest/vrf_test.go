package netnstest

import (
	"slices"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/test/kernel/nslab"
)

// vrfLab builds two inside networks with the SAME addresses in two VRFs of
// one router, each VRF with its own way out to one extranet server:
//
//	c1 192.168.50.2 ── r-v1 ┐ VRF 101 ┌ r-o1 10.201.1.1 ── x-o1 10.201.1.2 ┐
//	                        r                                              x (10.250.0.1)
//	c2 192.168.50.2 ── r-v2 ┘ VRF 102 └ r-o2 10.201.2.1 ── x-o2 10.201.2.2 ┘
//
// A VRF is a Linux VRF device when the kernel has the vrf module, otherwise
// `ip rule iif <dev> lookup <table>` rules (policy routing); the dataplane
// reads either.
func vrfLab(t *testing.T) (*nslab.Lab, string) {
	lab := nslab.New(t)
	for _, ns := range []string{"r", "c1", "c2", "x"} {
		lab.AddNS(ns)
	}
	lab.Link("c1", "c0", []string{"192.168.50.2/24"}, "r", "r-v1", []string{"192.168.50.1/24"})
	lab.Link("c2", "c0", []string{"192.168.50.2/24"}, "r", "r-v2", []string{"192.168.50.1/24"})
	lab.Link("x", "x-o1", []string{"10.201.1.2/24"}, "r", "r-o1", []string{"10.201.1.1/24"})
	lab.Link("x", "x-o2", []string{"10.201.2.2/24"}, "r", "r-o2", []string{"10.201.2.1/24"})
	lab.Sh("x", "ip", "addr", "add", "10.250.0.1/32", "dev", "lo")
	for _, c := range []string{"c1", "c2"} {
		lab.Sh(c, "ip", "route", "add", "default", "via", "192.168.50.1")
	}
	mode := "vrf-device"
	if _, err := lab.Try("r", "ip", "link", "add", "vrf101", "type", "vrf", "table", "101"); err != nil {
		mode = "ip-rule"
	}
	for i, table := range []string{"101", "102"} {
		n := string(rune('1' + i))
		if mode == "vrf-device" {
			if i == 1 {
				lab.Sh("r", "ip", "link", "add", "vrf102", "type", "vrf", "table", "102")
			}
			lab.Sh("r", "ip", "link", "set", "vrf"+table, "up")
			lab.Sh("r", "ip", "link", "set", "r-v"+n, "master", "vrf"+table)
			lab.Sh("r", "ip", "link", "set", "r-o"+n, "master", "vrf"+table)
		} else {
			lab.Sh("r", "ip", "rule", "add", "pref", "100"+n, "iif", "r-v"+n, "lookup", table)
			lab.Sh("r", "ip", "rule", "add", "pref", "110"+n, "iif", "r-o"+n, "lookup", table)
			lab.Sh("r", "ip", "route", "add", "192.168.50.0/24", "dev", "r-v"+n, "table", table)
			lab.Sh("r", "ip", "route", "add", "10.201."+n+".0/24", "dev", "r-o"+n, "table", table)
		}
		lab.Sh("r", "ip", "route", "add", "10.250.0.0/24", "via", "10.201."+n+".2", "table", table)
	}
	lab.Serve("x", "ext", "10.250.0.1:7100")
	return lab, mode
}

func TestVRFZones(t *testing.T) {
	lab, mode := vrfLab(t)
	t.Logf("VRFs made with %s", mode)
	d := openIn(t, lab, "r", kernel.WithHostCheck(200*time.Millisecond))
	c := ctx(t)

	ifs, err := d.ListInterfaces(c)
	must(t, err)
	vrfs := map[string]uint32{}
	for _, i := range ifs {
		vrfs[i.Name] = i.VRF4
		if i.Name == "r-v1" && (!i.Up || !slices.Contains(i.Addrs, prefix("192.168.50.1/24"))) {
			t.Fatalf("interface %+v", i)
		}
	}
	if vrfs["r-v1"] != 101 || vrfs["r-o1"] != 101 || vrfs["r-v2"] != 102 || vrfs["r-o2"] != 102 || vrfs["lo"] != 0 {
		t.Fatalf("interface VRFs %v", vrfs)
	}

	must(t, d.PutSNATAddress(c, model.SNATAddress{VRF: 101, Addr: ip("10.201.1.1")}))
	must(t, d.PutSNATAddress(c, model.SNATAddress{VRF: 102, Addr: ip("10.201.2.1")}))
	must(t, d.PutSNATInterface(c, model.SNATInterface{Interface: "r-v1", Family: model.IPv4}))
	must(t, d.PutSNATInterface(c, model.SNATInterface{Interface: "r-v2", Family: model.IPv4}))

	// The same 5-tuple from both clients at once: only zones keep them apart.
	c1, err := lab.DialTCP("c1", "10.250.0.1:7100", "192.168.50.2:42000")
	must(t, err)
	defer c1.Close()
	c2, err := lab.DialTCP("c2", "10.250.0.1:7100", "192.168.50.2:42000")
	must(t, err)
	defer c2.Close()
	if c1.Reply.PeerIP() != "10.201.1.1" || c2.Reply.PeerIP() != "10.201.2.1" {
		t.Fatalf("extranet saw %s and %s, want 10.201.1.1 and 10.201.2.1", c1.Reply.Peer, c2.Reply.Peer)
	}
	must(t, c1.Echo("one"))
	must(t, c2.Echo("two"))
	for _, v := range []struct {
		vrf uint32
		src string
	}{{101, "10.201.1.1"}, {102, "10.201.2.1"}} {
		ss := sessions(t, d, model.SessionFilter{VRF: v.vrf, Proto: model.ProtoTCP})
		if len(ss) != 1 || ss[0].Src != ap("192.168.50.2:42000") || ss[0].NewSrc.Addr().String() != v.src {
			t.Fatalf("VRF %d sessions %+v", v.vrf, ss)
		}
	}
	if ss := sessions(t, d, allVRFs()); len(ss) != 2 {
		t.Fatalf("all sessions %+v", ss)
	}
	// UDP and ICMP from both VRFs too.
	for _, cl := range []string{"c1", "c2"} {
		if _, err := lab.UDP(cl, "10.250.0.1:7100"); err != nil {
			t.Fatal(err)
		}
		must(t, lab.Ping(cl, "10.250.0.1"))
	}
	n, err := d.PurgeSessions(c, 101)
	must(t, err)
	if n == 0 {
		t.Fatal("purge of VRF 101 deleted nothing")
	}
	if ss := sessions(t, d, model.SessionFilter{VRF: 101}); len(ss) != 0 {
		t.Fatalf("VRF 101 sessions after purge: %+v", ss)
	}
	if ss := sessions(t, d, model.SessionFilter{VRF: 102}); len(ss) == 0 {
		t.Fatal("purge of VRF 101 took VRF 102's sessions")
	}
	must(t, c2.Echo("still"))

	// An interface that joins VRF 101 after the table was written gets the
	// zone and the VRF's SNAT address without any call (the dataplane
	// watches links and ip rules).
	lab.AddNS("c3")
	lab.Link("c3", "c0", []string{"192.168.52.2/24"}, "r", "r-v3", []string{"192.168.52.1/24"})
	lab.Sh("c3", "ip", "route", "add", "default", "via", "192.168.52.1")
	must(t, d.PutSNATInterface(c, model.SNATInterface{Interface: "r-v3", Family: model.IPv4}))
	if mode == "vrf-device" {
		lab.Sh("r", "ip", "link", "set", "r-v3", "master", "vrf101")
	} else {
		lab.Sh("r", "ip", "rule", "add", "pref", "1003", "iif", "r-v3", "lookup", "101")
		lab.Sh("r", "ip", "route", "add", "192.168.52.0/24", "dev", "r-v3", "table", "101")
	}
	nc := nftConn(t, lab, "r")
	if !eventually(3*time.Second, func() bool { return zoneHas(t, nc, "r-v3") }) {
		t.Fatal("r-v3 joined VRF 101 but got no zone")
	}
	r, err := lab.TCP("c3", "10.250.0.1:7100")
	must(t, err)
	if r.PeerIP() != "10.201.1.1" {
		t.Fatalf("c3 seen as %s, want VRF 101's 10.201.1.1", r.Peer)
	}
}
