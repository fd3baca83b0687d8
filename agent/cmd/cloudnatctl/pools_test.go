package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func TestPoolCommands(t *testing.T) {
	dp, run := agent(t)
	dp.SetSubscribers([]model.Subscriber{{Pool: "cgnat", VRF: 1, InsideAddr: netip.MustParseAddr("100.64.0.1"),
		OutsideAddr: netip.MustParseAddr("198.51.100.1"), Sessions: 3, PortsInUse: 3,
		Blocks: []model.PortBlock{{Start: 1024, End: 1535}, {Start: 2048, End: 2559, Static: true}}}})
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string
		json     bool
	}{
		{args: []string{"pool", "create", "cgnat", "--outside-vrf", "0", "--range", "198.51.100.0/30", "--range", "203.0.113.10-203.0.113.12",
			"--block-size", "512", "--max-blocks", "2"}, out: "198.51.100.0-198.51.100.3,203.0.113.10-203.0.113.12"},
		{args: []string{"pool", "create", "cgnat", "--range", "10.0.0.1"}, code: 1, err: "pool cgnat already exists"},
		{args: []string{"pool", "create", "x", "--range", "10.0.0.1", "--block-size", "300"}, code: 1, err: "pool.block_size: 300 is not a power of two"},
		{args: []string{"pool", "create", "x"}, code: 2, err: "give the pool's addresses with --range or --interface"},
		{args: []string{"pool", "create", "x", "--range", "10.0.0.1", "--filtering", "full-cone"}, code: 2, err: `--filtering: "full-cone" is not`},
		{args: []string{"pool", "create"}, code: 2, err: "want the pool's name"},
		{args: []string{"pool", "update", "cgnat", "--range", "198.51.100.0/30", "--block-size", "512", "--max-blocks", "2", "--filtering", "endpoint", "--reuse-delay", "30s"},
			out: "endpoint"},
		{args: []string{"pool", "bind", "cgnat", "--vrf", "1", "--prefix", "100.64.0.0/10"}, out: "bound vrf 1 100.64.0.0/10 to cgnat (synced)"},
		{args: []string{"pool", "bind", "cgnat", "--vrf", "2", "--prefix", "100.64.0.0/10"}, out: "synced"},
		{args: []string{"pool", "bind", "cgnat", "--vrf", "1", "--prefix", "100.64.3.0/24"}, code: 1, err: "overlaps the binding vrf 1 100.64.0.0/10"},
		{args: []string{"pool", "bind", "cgnat", "--vrf", "1"}, code: 2, err: "--prefix is required"},
		{args: []string{"pool", "bindings"}, out: "2    100.64.0.0/10  cgnat  synced"},
		{args: []string{"-o", "json", "pool", "bindings", "--vrf", "1"}, out: `"prefix": "100.64.0.0/10"`, json: true},
		{args: []string{"pool", "static", "add", "cgnat", "--vrf", "1", "--inside", "100.64.0.1", "--outside", "198.51.100.1", "--port", "2048"}, out: "added (synced)"},
		{args: []string{"pool", "static", "list"}, out: "100.64.0.1  198.51.100.1  2048"},
		{args: []string{"pool", "static", "add", "cgnat", "--inside", "100.64.0.1"}, code: 2, err: "--outside is required"},
		{args: []string{"pool", "list"}, out: "cgnat"},
		{args: []string{"pool", "get", "cgnat"}, out: "1024-65535"},
		{args: []string{"-o", "json", "pool", "get", "cgnat"}, out: `"block_size": 512`, json: true},
		{args: []string{"pool", "delete", "cgnat"}, code: 1, err: "pool cgnat is bound by vrf 1 100.64.0.0/10, vrf 2 100.64.0.0/10: unbind first"},
		{args: []string{"subscriber", "list", "--vrf", "1"}, out: "1024-1535,2048-2559(static)"},
		{args: []string{"subscriber", "list", "--pool", "other"}, out: "POOL"},
		{args: []string{"blocklog"}, out: "198.51.100.1  2048-2559  on"},
		{args: []string{"-o", "json", "blocklog"}, out: `"port_start":1024`},
		{args: []string{"pool", "static", "del", "cgnat", "--vrf", "1", "--inside", "100.64.0.1", "--outside", "198.51.100.1", "--port", "2048"}, out: "deleted"},
		{args: []string{"pool", "unbind", "cgnat", "--vrf", "1", "--prefix", "100.64.0.0/10"}, out: "unbound vrf 1 100.64.0.0/10"},
		{args: []string{"pool", "unbind", "--vrf", "2", "--prefix", "100.64.0.0/10"}, out: "unbound"},
		{args: []string{"pool", "delete", "cgnat"}, out: "deleted (synced)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			checkRun(t, run, append([]string{"--token", "tok"}, tc.args...), tc.code, tc.out, tc.err, tc.json)
		})
	}
	if s := dp.PoolSnapshot(); len(s.Pools)+len(s.PoolBindings)+len(s.StaticBlocks) != 0 {
		t.Fatalf("dataplane %+v", s)
	}
}
