package vpp

import (
	"fmt"
	"path"
	"strings"
	"time"

	"go.fd.io/govpp/adapter"
	"go.fd.io/govpp/adapter/statsclient"
)

// isCloudnatNode: the plugin's graph nodes carry "cnat" or "cloudnat" in
// their names (VPP's own cnat plugin cannot run beside cloudnat).
func isCloudnatNode(node string) bool {
	return strings.Contains(node, "cnat") || strings.Contains(node, "cloudnat")
}

// readDrops reads the error counters of cloudnat's nodes, summed over
// threads, from the stats segment ("/err/<node>/<counter>").
func (d *Dataplane) readDrops() (map[string]uint64, error) {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	if d.stats == nil {
		sc := statsclient.NewStatsClient(d.opts.StatsSocket, statsclient.SetSocketRetryTimeout(500*time.Millisecond))
		if err := sc.Connect(); err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		d.stats = sc
	}
	entries, err := d.stats.DumpStats("^/err/")
	if err != nil {
		// The segment may have been remapped (VPP restarted): reconnect
		// next time.
		_ = d.stats.Disconnect()
		d.stats = nil
		return nil, fmt.Errorf("dump /err/: %w", err)
	}
	return dropsFromEntries(entries), nil
}

// infoCounters are the plugin's node counters of severity INFO
// (foreach_cn_error in vpp-plugin/cloudnat/cloudnat_priv.h): they count
// traffic handled, not drops, so they stay out of Stats.Drops. The stats
// segment does not carry severities; TestInfoCountersMatchPlugin keeps
// this list equal to the C one.
var infoCounters = map[string]bool{
	"session_hit":           true,
	"session_created":       true,
	"icmp_error_translated": true,
	"passed":                true,
	"snat_excluded":         true,
	"no_snat_address":       true,
	"client_wait":           true,
	"fragments":             true,
	"frag_held":             true,
	"static_translated":     true,
	"hairpinned":            true,
	"filter_admitted":       true,
	"too_big":               true,
	"ttl_expired":           true,
	"pool_inside":           true,
}

func dropsFromEntries(entries []adapter.StatEntry) map[string]uint64 {
	drops := map[string]uint64{}
	for _, e := range entries {
		name := strings.TrimPrefix(string(e.Name), "/err/")
		node, _, ok := strings.Cut(name, "/")
		if !ok || !isCloudnatNode(node) || infoCounters[path.Base(name)] {
			continue
		}
		var sum uint64
		switch v := e.Data.(type) {
		case adapter.ErrorStat:
			for _, c := range v {
				sum += uint64(c)
			}
		case adapter.SimpleCounterStat:
			for _, w := range v {
				for _, c := range w {
					sum += uint64(c)
				}
			}
		case adapter.ScalarStat:
			sum = uint64(v)
		default:
			continue
		}
		drops[name] = sum
	}
	return drops
}
