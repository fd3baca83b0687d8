package kernel

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func TestDetBlocks(t *testing.T) {
	c, sim := newCache(), newSim()
	c.host = sampleHost
	populate(t, c, sim)
	apply := func(what string, f func(b *batch) error) error {
		t.Helper()
		b := &batch{}
		if err := f(b); err != nil {
			if !b.empty() {
				t.Fatalf("%s: refused but planned %d actions", what, len(b.acts))
			}
			return err
		}
		if err := sim.apply(b); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return nil
	}
	dyn := model.Pool{Name: "dyn", Ranges: []model.AddrRange{{First: ip("198.51.100.32"), Last: ip("198.51.100.33")}}, BlockSize: 4096}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.checkPool(dyn))
	must(apply("pool", func(b *batch) error { c.putPool(b, dyn); return nil }))
	// 15 blocks per address (1024-65535 / 4096) x 2 addresses = 30.
	bind := func(p string) model.PoolBinding {
		return model.PoolBinding{VRF: 9, Prefix: netip.MustParsePrefix(p), Pool: "dyn"}
	}
	var recs []model.BlockLogRecord
	must(apply("bind /28", func(b *batch) error {
		if err := c.checkBinding(bind("100.66.0.0/28")); err != nil {
			return err
		}
		var err error
		recs, err = c.bindWithDet(b, bind("100.66.0.0/28"))
		return err
	}))
	if len(recs) != 16 || recs[0].OutsideAddr != ip("198.51.100.32") || recs[1].OutsideAddr != ip("198.51.100.33") ||
		recs[2].PortStart != 1024+4096 || !recs[0].Alloc {
		t.Fatalf("records %+v", recs)
	}
	checkDecode(t, c, sim)
	err := apply("bind /27 more", func(b *batch) error { _, err := c.bindWithDet(b, bind("100.66.1.0/28")); return err })
	if !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("binding beyond the pool's blocks: %v", err)
	}
	// A static block replaces a subscriber's dynamic one; deleting it
	// gives a dynamic block back.
	st := model.StaticBlock{Pool: "dyn", VRF: 9, InsideAddr: ip("100.66.0.5"), OutsideAddr: ip("198.51.100.33"), PortStart: 1024 + 14*4096}
	must(c.checkBlock(st))
	must(apply("static", func(b *batch) error { c.putStaticBlockDet(b, st); return nil }))
	if got := c.blockList(); len(got) != len(sampleBlocks())+1 {
		t.Fatalf("static blocks %+v", got)
	}
	checkDecode(t, c, sim)
	must(apply("static deleted", func(b *batch) error { c.deleteStaticBlockDet(b, st); return nil }))
	if blk := c.cg.blocks[subKey{9, ip("100.66.0.5")}]; !c.cg.det[subKey{9, ip("100.66.0.5")}] || !blk.InsideAddr.IsValid() {
		t.Fatalf("no dynamic block back: %+v", blk)
	}
	checkDecode(t, c, sim)
	// A rewrite keeps the same blocks.
	want := lists(c)
	sim2 := newSim()
	for _, b := range c.writeAll("cloudnat", 50) {
		must(sim2.apply(b))
	}
	checkDecode(t, c, sim2)
	if got := lists(c); len(got.K) != len(want.K) {
		t.Fatal("rewrite changed the blocks")
	}
	must(apply("unbind", func(b *batch) error { recs = c.unbindWithDet(b, bind("100.66.0.0/28").Key()); return nil }))
	if len(recs) != 16 || recs[0].Alloc {
		t.Fatalf("release records %+v", recs)
	}
	checkDecode(t, c, sim)
	if n := len(c.cg.blocks); n != len(sampleBlocks()) {
		t.Fatalf("%d blocks left", n)
	}
	// Too large a binding for a dynamic pool.
	if _, err := c.detPlan(bind("100.0.0.0/8")); !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("a /8 to a dynamic pool: %v", err)
	}
}

// TestPoolResize: blocks that no longer fit a changed pool are released;
// a dynamic pool's bound addresses get new blocks at once.
func TestPoolResize(t *testing.T) {
	c, sim := newCache(), newSim()
	c.host = sampleHost
	populate(t, c, sim)
	step := func(f func(b *batch)) {
		t.Helper()
		b := &batch{}
		f(b)
		if err := sim.apply(b); err != nil {
			t.Fatal(err)
		}
		checkDecode(t, c, sim)
	}
	p := samplePools()[1] // gw4: blocks at 1024 (x2) and 1088
	p.BlockSize = 128
	var recs []model.BlockLogRecord
	step(func(b *batch) { recs = c.putPool(b, p) })
	if len(recs) != 1 || recs[0].PortStart != 1088 || recs[0].Alloc {
		t.Fatalf("released %+v", recs)
	}
	dyn := model.Pool{Name: "dyn", Ranges: []model.AddrRange{{First: ip("198.51.100.32"), Last: ip("198.51.100.32")}}, BlockSize: 1024}
	step(func(b *batch) { c.putPool(b, dyn) })
	step(func(b *batch) {
		c.bindWithDet(b, model.PoolBinding{VRF: 9, Prefix: netip.MustParsePrefix("100.66.0.0/30"), Pool: "dyn"})
	})
	dyn.BlockSize = 2048
	dyn.PortMin, dyn.PortMax = 2048, 65535
	step(func(b *batch) { recs = c.putPool(b, dyn) })
	alloc := 0
	for _, r := range recs {
		if r.Alloc {
			alloc++
			if r.PortStart%2048 != 0 {
				t.Fatalf("new block %+v", r)
			}
		}
	}
	if len(recs) != 4 || alloc != 2 { // 2048 and 4096 still fit
		t.Fatalf("records %+v", recs)
	}
}
