package vpptest_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	agenttest "github.com/cloudnat/cloudnat/test/agent"
	"github.com/cloudnat/cloudnat/test/vppharness"
)

// TestBlockLogWithTraffic: a subscriber's first packet leaves with the
// pool's address, allocates a block, and the allocation reaches the agent
// as a block log record; the subscriber is listed with its block.
func TestBlockLogWithTraffic(t *testing.T) {
	var in, out *vppharness.PG
	r := agenttest.NewRig(t, func(v *vppharness.VPP) {
		in = v.NewPG(t, vppharness.PGConfig{IP4: "10.0.0.1/24", Hosts: 2})
		out = v.NewPG(t, vppharness.PGConfig{IP4: "20.0.0.254/24", Hosts: 2})
	})
	d := openDP(t, r)
	ctx := agenttest.Context(t)
	a := netip.MustParseAddr
	pool := model.Pool{Name: "cgnat", Ranges: []model.AddrRange{{First: a("20.0.0.100"), Last: a("20.0.0.100")}}, BlockSize: 512}
	if err := d.PutPool(ctx, pool.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	if err := d.PutPoolBinding(ctx, model.PoolBinding{VRF: 0, Prefix: netip.MustParsePrefix("10.0.0.0/24"), Pool: "cgnat"}); err != nil {
		t.Fatal(err)
	}

	recs := make(chan model.BlockLogRecord, 16)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.WatchBlockLog(wctx, func(r model.BlockLogRecord) { recs <- r }) }()
	defer func() { stop(); <-done }()
	time.Sleep(300 * time.Millisecond) // the subscription is in place

	udp := in.From(1, false)
	udp.Dst, udp.Proto, udp.SrcPort, udp.DstPort = out.Hosts[1].IP4, vppharness.UDP, 5000, 53
	got := r.VPP.SendAndExpect(t, in, []vppharness.Pkt{udp}, out)
	if got[0].Src != a("20.0.0.100") {
		t.Fatalf("source = %v, want the pool's 20.0.0.100", got[0].Src)
	}
	select {
	case rec := <-recs:
		t.Logf("block log: %+v", rec)
		if !rec.Alloc || rec.Pool != "cgnat" || rec.VRF != 0 || rec.InsideAddr != in.Hosts[1].IP4 || rec.OutsideAddr != a("20.0.0.100") ||
			int(rec.PortEnd)-int(rec.PortStart)+1 != 512 || rec.Time.IsZero() {
			t.Errorf("record %+v", rec)
		}
	case err := <-done:
		t.Fatalf("WatchBlockLog ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no block log record within 5 s of the first packet")
	}
	subs, err := d.ListSubscribers(ctx, model.SubscriberFilter{VRF: model.AllVRFs})
	if err != nil || len(subs) != 1 || len(subs[0].Blocks) != 1 || subs[0].OutsideAddr != a("20.0.0.100") || subs[0].Sessions != 1 {
		t.Fatalf("subscribers: %+v, %v", subs, err)
	}
	pools, err := d.ListPools(ctx)
	if err != nil || len(pools) != 1 || pools[0].Counters.BlocksUsed != 1 || pools[0].Counters.Subscribers != 1 {
		t.Fatalf("pool counters: %+v, %v", pools, err)
	}
}
