package vpp

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.fd.io/govpp/api"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func TestPoolsRoundTrip(t *testing.T) {
	f := newFakeVPP()
	f.pools.tables = []uint32{7}
	d := startFake(t, f)
	c := ctx(t)

	p := model.Pool{Name: "cgnat", OutsideVRF: 7, Ranges: []model.AddrRange{prange("198.51.100.0", "198.51.100.3")}, BlockSize: 256}
	up := model.Pool{Name: "up", Interface: "tap0", Filtering: model.FilterAddress}
	for _, x := range []model.Pool{p, up} {
		if err := d.CheckPool(c, x); err != nil {
			t.Fatalf("CheckPool(%s): %v", x.Name, err)
		}
		if err := d.PutPool(c, x); err != nil {
			t.Fatalf("PutPool(%s): %v", x.Name, err)
		}
	}
	if err := d.CheckPool(c, model.Pool{Name: "far", OutsideVRF: 9}); err == nil || !strings.Contains(err.Error(), "VPP has no IPv4 table 9") {
		t.Fatalf("CheckPool of a missing table: %v", err)
	}
	if err := d.PutPool(c, model.Pool{Name: "x", Interface: "nope"}); err == nil || !strings.Contains(err.Error(), `no interface "nope"`) {
		t.Fatalf("PutPool on a missing interface: %v", err)
	}
	got, err := d.ListPools(c)
	if err != nil || len(got) != 2 {
		t.Fatalf("ListPools: %+v, %v", got, err)
	}
	if !reflect.DeepEqual(got[0].Pool, p.WithDefaults()) || !reflect.DeepEqual(got[1].Pool, up.WithDefaults()) || got[0].Counters.Blocks != 100 {
		t.Fatalf("ListPools = %+v", got)
	}

	b := model.PoolBinding{VRF: 1, Prefix: netip.MustParsePrefix("100.64.0.0/10"), Pool: "cgnat"}
	if err := d.PutPoolBinding(c, b); err != nil {
		t.Fatal(err)
	}
	if err := d.PutPoolBinding(c, model.PoolBinding{VRF: 2, Prefix: b.Prefix, Pool: "nope"}); err == nil {
		t.Fatal("binding to a missing pool accepted")
	}
	if bs, err := d.ListPoolBindings(c); err != nil || len(bs) != 1 || bs[0] != b {
		t.Fatalf("ListPoolBindings: %+v, %v", bs, err)
	}
	err = d.DeletePool(c, "cgnat")
	if !errors.Is(err, api.INSTANCE_IN_USE) || !strings.Contains(err.Error(), "cloudnat_pool_del cgnat") {
		t.Fatalf("delete of a bound pool: %v", err)
	}

	sb := model.StaticBlock{Pool: "cgnat", VRF: 1, InsideAddr: netip.MustParseAddr("100.64.0.1"), OutsideAddr: netip.MustParseAddr("198.51.100.1"), PortStart: 1024}
	if err := d.PutStaticBlock(c, sb); err != nil {
		t.Fatal(err)
	}
	if sbs, err := d.ListStaticBlocks(c); err != nil || len(sbs) != 1 || sbs[0] != sb {
		t.Fatalf("ListStaticBlocks: %+v, %v", sbs, err)
	}
	subs, err := d.ListSubscribers(c, model.SubscriberFilter{VRF: 1, Pool: "cgnat"})
	if err != nil || len(subs) != 1 || len(subs[0].Blocks) != 2 || subs[0].OutsideAddr != sb.OutsideAddr {
		t.Fatalf("ListSubscribers: %+v, %v", subs, err)
	}
	if subs, _ := d.ListSubscribers(c, model.SubscriberFilter{VRF: 2}); len(subs) != 0 {
		t.Fatalf("vrf 2 subscribers: %+v", subs)
	}

	for _, err := range []error{d.DeleteStaticBlock(c, sb), d.DeletePoolBinding(c, b), d.DeletePool(c, "cgnat"), d.DeletePool(c, "up")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Deleting absent objects is not an error.
	for _, err := range []error{d.DeleteStaticBlock(c, sb), d.DeletePoolBinding(c, b), d.DeletePool(c, "cgnat")} {
		if err != nil {
			t.Fatalf("delete of an absent object: %v", err)
		}
	}
	if ps, err := d.ListPools(c); err != nil || len(ps) != 0 {
		t.Fatalf("pools left: %+v, %v", ps, err)
	}
}

func TestBlockLogSubscription(t *testing.T) {
	f := newFakeVPP()
	d := startFake(t, f)
	c := ctx(t)
	wctx, cancel := context.WithTimeout(c, 300*time.Millisecond)
	defer cancel()
	err := d.WatchBlockLog(wctx, func(model.BlockLogRecord) {})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WatchBlockLog = %v, want the deadline", err)
	}
	if f.count("cloudnat_want_block_log") != 2 {
		t.Fatalf("want_block_log sent %d times, want 2 (enable, disable)", f.count("cloudnat_want_block_log"))
	}
	f.mu.Lock()
	pid := f.pools.logPID
	f.mu.Unlock()
	if pid != 0 {
		t.Fatalf("block log still enabled for pid %d", pid)
	}
}

func TestPoolsWithoutPoolMessages(t *testing.T) {
	f := newFakeVPP()
	crcs := map[string]string{}
	for _, m := range usedMessages() {
		if !strings.Contains(m.GetMessageName(), "pool") && !strings.Contains(m.GetMessageName(), "subscriber") &&
			!strings.Contains(m.GetMessageName(), "block_log") {
			crcs[m.GetMessageName()] = m.GetCrcString()
		}
	}
	f.crcs = crcs
	d := startFake(t, f)
	c := ctx(t)
	if _, err := d.ListPools(c); !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("ListPools on an old plugin: %v, want ErrUnsupported", err)
	}
	if err := d.PutPool(c, model.Pool{Name: "x"}); !errors.Is(err, dataplane.ErrUnsupported) || !strings.Contains(err.Error(), "API 0.3.0") {
		t.Fatalf("PutPool on an old plugin: %v", err)
	}
}
