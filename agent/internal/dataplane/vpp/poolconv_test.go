package vpp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
)

func prange(first, last string) model.AddrRange {
	return model.AddrRange{First: netip.MustParseAddr(first), Last: netip.MustParseAddr(last)}
}

func TestPoolConversions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     model.Pool
		ifIdx uint32
		err   string
	}{
		{name: "defaults", p: model.Pool{Name: "cgnat", Ranges: []model.AddrRange{prange("198.51.100.0", "198.51.100.3")}}, ifIdx: noInterface},
		{name: "everything", p: model.Pool{Name: "p.1", OutsideVRF: 7, Ranges: []model.AddrRange{prange("2001:db8::", "2001:db8::3"), prange("2001:db8::10", "2001:db8::10")},
			PortMin: 2048, PortMax: 4095, BlockSize: 64, MaxBlocksPerSubscriber: 3, MaxSessionsPerSubscriber: 100,
			ReuseDelay: 5 * time.Second, Filtering: model.FilterEndpoint}, ifIdx: noInterface},
		{name: "interface", p: model.Pool{Name: "up", Interface: "tap0", Filtering: model.FilterAddress}, ifIdx: 3},
		{name: "long name", p: model.Pool{Name: strings.Repeat("x", 64)}, err: "pool name must be 1-63 bytes"},
		{name: "fractional delay", p: model.Pool{Name: "x", ReuseDelay: 1500 * time.Millisecond}, err: "whole seconds"},
		{name: "mixed range", p: model.Pool{Name: "x", Ranges: []model.AddrRange{prange("10.0.0.1", "2001:db8::1")}}, err: "mixed-family"},
		{name: "bad filtering", p: model.Pool{Name: "x", Filtering: 9}, err: "filtering"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := toPool(tc.p, tc.ifIdx)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, dataplane.ErrUnsupported) {
					t.Fatalf("err %v, want unsupported %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantAf := ip_types.ADDRESS_IP4
			if len(tc.p.Ranges) > 0 && tc.p.Ranges[0].First.Is6() {
				wantAf = ip_types.ADDRESS_IP6
			}
			if m.Af != wantAf {
				t.Fatalf("af %v, want %v", m.Af, wantAf)
			}
			if m.NRanges != uint32(len(m.Ranges)) || uint32(m.SwIfIndex) != tc.ifIdx {
				t.Fatalf("n_ranges %d for %d ranges, sw_if_index %d", m.NRanges, len(m.Ranges), m.SwIfIndex)
			}
			// The message survives the wire.
			wire, err := (&cloudnat.CloudnatPoolAddUpdate{Pool: m}).Marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			var back cloudnat.CloudnatPoolAddUpdate
			if err := back.Unmarshal(wire); err != nil {
				t.Fatal(err)
			}
			got, err := fromPool(back.Pool, tc.p.Interface)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.p.WithDefaults(); !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, want)
			}
		})
	}
	if _, err := fromPool(cloudnat.CloudnatPool{Name: "x", Filtering: 7}, ""); err == nil {
		t.Error("unknown filtering accepted from VPP")
	}
}

func TestPoolBindAndBlockConversions(t *testing.T) {
	b := model.PoolBinding{VRF: 2, Prefix: netip.MustParsePrefix("100.64.0.0/10"), Pool: "cgnat"}
	req, err := toPoolBind(b, true)
	if err != nil || !req.IsAdd || req.TableID != 2 || req.Pool != "cgnat" || req.Prefix.Len != 10 {
		t.Fatalf("bind %+v, %v", req, err)
	}
	got, err := fromPoolBind(&cloudnat.CloudnatPoolBindDetails{TableID: req.TableID, Prefix: req.Prefix, Pool: req.Pool})
	if err != nil || got != b {
		t.Fatalf("bind round trip %+v, %v", got, err)
	}
	if _, err := toPoolBind(model.PoolBinding{Pool: "x"}, true); !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("binding without prefix: %v", err)
	}

	sb := model.StaticBlock{Pool: "cgnat", VRF: 1, InsideAddr: netip.MustParseAddr("100.64.0.1"), OutsideAddr: netip.MustParseAddr("198.51.100.1"), PortStart: 1536}
	sreq, err := toStaticBlock(sb, false)
	if err != nil || sreq.IsAdd || sreq.PortStart != 1536 || sreq.TableID != 1 {
		t.Fatalf("static %+v, %v", sreq, err)
	}
	if _, err := toStaticBlock(model.StaticBlock{Pool: "cgnat"}, true); !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("static block without addresses: %v", err)
	}

	sub, err := fromSubscriber(&cloudnat.CloudnatSubscriberDetails{
		Pool: "cgnat", TableID: 1, InsideAddr: sreq.InsideAddr, OutsideAddr: sreq.OutsideAddr, NSessions: 3, NPortsInUse: 2,
		NBlocks: 2, Blocks: []cloudnat.CloudnatBlock{{PortStart: 1536, PortEnd: 2047, IsStatic: true}, {PortStart: 4096, PortEnd: 4607}},
	})
	if err != nil || sub.Sessions != 3 || sub.PortsInUse != 2 || len(sub.Blocks) != 2 || !sub.Blocks[0].Static {
		t.Fatalf("subscriber %+v, %v", sub, err)
	}
	if got := staticBlocksOf(sub); len(got) != 1 || got[0] != sb {
		t.Fatalf("static blocks of the subscriber: %+v, want [%+v]", got, sb)
	}
	if _, err := fromSubscriber(&cloudnat.CloudnatSubscriberDetails{InsideAddr: ip_types.Address{Af: 9}}); err == nil {
		t.Fatal("bad inside address accepted")
	}

	ev := &cloudnat.CloudnatBlockLogEvent{TimeUs: 1700000000123456, IsAlloc: true, Pool: "cgnat", TableID: 1,
		InsideAddr: sreq.InsideAddr, OutsideAddr: sreq.OutsideAddr, PortStart: 1536, PortEnd: 2047, NLost: 4}
	r, err := fromBlockLog(ev)
	if err != nil || !r.Alloc || r.Time.UnixMicro() != 1700000000123456 || r.Lost != 4 || r.InsideAddr != sb.InsideAddr || r.PortEnd != 2047 {
		t.Fatalf("block log %+v, %v", r, err)
	}
}
