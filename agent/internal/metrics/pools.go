package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudnat/cloudnat/agent/internal/blocklog"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// SubscriberPollInterval is how old the per-pool ports-in-use figure (a
// dump of every subscriber) may get; pool counters are read every scrape.
const SubscriberPollInterval = 30 * time.Second

// AddPools registers the carrier-grade NAT metrics: per pool (from the
// dataplane's pool dump at scrape time, and its subscriber dump at most
// every SubscriberPollInterval) and the block log's (hub may be nil).
func (m *Metrics) AddPools(dp dataplane.Pools, hub *blocklog.Hub) {
	m.Registry.MustRegister(&poolCollector{dp: dp, hub: hub})
}

var (
	descPoolBlocks      = prometheus.NewDesc("cloudnat_pool_blocks", "Port blocks of a pool, by state (used: held by subscribers, cooling: released and waiting the reuse delay, free).", []string{"pool", "state"}, nil)
	descPoolSubscribers = prometheus.NewDesc("cloudnat_pool_subscribers", "Subscribers holding blocks of a pool.", []string{"pool"}, nil)
	descPoolSessions    = prometheus.NewDesc("cloudnat_pool_sessions", "Sessions translated with a pool.", []string{"pool"}, nil)
	descPoolExhausted   = prometheus.NewDesc("cloudnat_pool_exhausted_drops_total", "New flows dropped because no block was left or a subscriber cap was reached.", []string{"pool"}, nil)
	descPoolPortsInUse  = prometheus.NewDesc("cloudnat_pool_ports_in_use", "Ports of a pool in use by sessions (polled from the subscriber dump).", []string{"pool"}, nil)
	descPoolsUp         = prometheus.NewDesc("cloudnat_pools_up", "1 when the dataplane's pools could be read.", nil, nil)
	descBlockLogRecords = prometheus.NewDesc("cloudnat_blocklog_records_total", "Block allocation and release records read from the dataplane.", nil, nil)
	descBlockLogLost    = prometheus.NewDesc("cloudnat_blocklog_lost_records_total", "Block log records lost: by the dataplane (its consumer was slow) or by slow gRPC streams.", []string{"where"}, nil)
)

type poolCollector struct {
	dp  dataplane.Pools
	hub *blocklog.Hub

	mu        sync.Mutex
	portsAt   time.Time
	portsByPl map[string]uint64
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPoolBlocks, descPoolSubscribers, descPoolSessions, descPoolExhausted, descPoolPortsInUse, descPoolsUp, descBlockLogRecords, descBlockLogLost} {
		ch <- d
	}
}

// portsInUse sums the subscribers' ports in use by pool, polling the
// dataplane at most every SubscriberPollInterval.
func (c *poolCollector) portsInUse(ctx context.Context) map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.portsByPl != nil && time.Since(c.portsAt) < SubscriberPollInterval {
		return c.portsByPl
	}
	subs, err := c.dp.ListSubscribers(ctx, model.SubscriberFilter{VRF: model.AllVRFs})
	if err != nil {
		return c.portsByPl
	}
	by := map[string]uint64{}
	for _, s := range subs {
		by[s.Pool] += uint64(s.PortsInUse)
	}
	c.portsByPl, c.portsAt = by, time.Now()
	return by
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c.dp != nil {
		pools, err := c.dp.ListPools(ctx)
		ch <- prometheus.MustNewConstMetric(descPoolsUp, prometheus.GaugeValue, b2f(err == nil))
		if err == nil {
			var ports map[string]uint64
			if len(pools) > 0 {
				ports = c.portsInUse(ctx)
			}
			for _, p := range pools {
				n, k := p.Pool.Name, p.Counters
				free := float64(k.Blocks) - float64(k.BlocksUsed) - float64(k.BlocksCooling)
				ch <- prometheus.MustNewConstMetric(descPoolBlocks, prometheus.GaugeValue, float64(k.BlocksUsed), n, "used")
				ch <- prometheus.MustNewConstMetric(descPoolBlocks, prometheus.GaugeValue, float64(k.BlocksCooling), n, "cooling")
				ch <- prometheus.MustNewConstMetric(descPoolBlocks, prometheus.GaugeValue, max(free, 0), n, "free")
				ch <- prometheus.MustNewConstMetric(descPoolSubscribers, prometheus.GaugeValue, float64(k.Subscribers), n)
				ch <- prometheus.MustNewConstMetric(descPoolSessions, prometheus.GaugeValue, float64(k.Sessions), n)
				ch <- prometheus.MustNewConstMetric(descPoolExhausted, prometheus.CounterValue, float64(k.Exhausted), n)
				ch <- prometheus.MustNewConstMetric(descPoolPortsInUse, prometheus.GaugeValue, float64(ports[n]), n)
			}
		}
	}
	if c.hub != nil {
		k := c.hub.Counts()
		ch <- prometheus.MustNewConstMetric(descBlockLogRecords, prometheus.CounterValue, float64(k.Records))
		ch <- prometheus.MustNewConstMetric(descBlockLogLost, prometheus.CounterValue, float64(k.LostUpstream), "dataplane")
		ch <- prometheus.MustNewConstMetric(descBlockLogLost, prometheus.CounterValue, float64(k.LostFanout), "stream")
	}
}
