package blocklog

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func rec(port uint16) model.BlockLogRecord {
	return model.BlockLogRecord{
		Time: time.Unix(1700000000, 0), Alloc: true, Pool: "cgnat", VRF: 1,
		InsideAddr: netip.MustParseAddr("100.64.0.1"), OutsideAddr: netip.MustParseAddr("198.51.100.1"),
		PortStart: port, PortEnd: port + 255,
	}
}

func TestSlowSubscriberCountsLost(t *testing.T) {
	h := New(nil, Options{Buffer: 2})
	fast, slow := h.Subscribe(), h.Subscribe()
	defer fast.Close()
	defer slow.Close()
	for i := range 5 {
		h.Publish(rec(uint16(1024 + 256*i)))
		<-fast.C() // the fast one keeps up
	}
	if got := slow.Lost(); got != 3 {
		t.Fatalf("slow subscriber lost %d, want 3", got)
	}
	if got := fast.Lost(); got != 0 {
		t.Fatalf("fast subscriber lost %d, want 0", got)
	}
	c := h.Counts()
	if c.Records != 5 || c.LostFanout != 3 || c.Subscribers != 2 {
		t.Fatalf("counts %+v", c)
	}
	if r := <-slow.C(); r.PortStart != 1024 {
		t.Fatalf("slow got port %d first, want 1024", r.PortStart)
	}
}

func TestLogsAndReadsFromDataplane(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	dp := fakedp.New()
	h := New(dp, Options{Logger: log, MinBackoff: 10 * time.Millisecond})
	sub := h.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	r := rec(2048)
	r.Lost = 7
	for !dp.EmitBlockLog(r) {
		if time.Now().After(deadline) {
			t.Fatal("the hub never watched the dataplane")
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := <-sub.C()
	if got.PortStart != 2048 || got.Lost != 7 {
		t.Fatalf("got %+v", got)
	}
	if c := h.Counts(); c.LostUpstream != 7 {
		t.Fatalf("upstream lost %d, want 7", c.LostUpstream)
	}
	for _, want := range []string{"event=alloc", "pool=cgnat", "vrf=1", "inside=100.64.0.1", "public=198.51.100.1", "port_start=2048", "port_end=2303"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q lacks %q", buf.String(), want)
		}
	}
	cancel()
	<-done
}
