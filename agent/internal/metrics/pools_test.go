package metrics

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/blocklog"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func TestPoolMetrics(t *testing.T) {
	dp := fakedp.New()
	p := model.Pool{Name: "cgnat", Ranges: []model.AddrRange{{First: netip.MustParseAddr("198.51.100.0"), Last: netip.MustParseAddr("198.51.100.3")}}}
	if err := dp.PutPool(context.Background(), p.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	dp.SetPoolCounters("cgnat", model.PoolCounters{Subscribers: 2, Blocks: 100, BlocksUsed: 3, BlocksCooling: 1, Sessions: 9, Exhausted: 4})
	dp.SetSubscribers([]model.Subscriber{
		{Pool: "cgnat", VRF: 1, PortsInUse: 5}, {Pool: "cgnat", VRF: 2, PortsInUse: 6},
	})
	hub := blocklog.New(nil, blocklog.Options{Buffer: 1})
	sub := hub.Subscribe()
	defer sub.Close()
	hub.Publish(model.BlockLogRecord{Lost: 3})
	hub.Publish(model.BlockLogRecord{Lost: 3}) // does not fit the buffer

	m := New(Sources{})
	m.AddPools(dp, hub)
	rr := httptest.NewRecorder()
	m.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	body := rr.Body.String()
	for _, want := range []string{
		`cloudnat_pool_blocks{pool="cgnat",state="used"} 3`,
		`cloudnat_pool_blocks{pool="cgnat",state="cooling"} 1`,
		`cloudnat_pool_blocks{pool="cgnat",state="free"} 96`,
		`cloudnat_pool_subscribers{pool="cgnat"} 2`,
		`cloudnat_pool_sessions{pool="cgnat"} 9`,
		`cloudnat_pool_exhausted_drops_total{pool="cgnat"} 4`,
		`cloudnat_pool_ports_in_use{pool="cgnat"} 11`,
		`cloudnat_pools_up 1`,
		`cloudnat_blocklog_records_total 2`,
		`cloudnat_blocklog_lost_records_total{where="dataplane"} 3`,
		`cloudnat_blocklog_lost_records_total{where="stream"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
