#!/usr/bin/env bash
# scripts/bench/kernel.sh (the kernel section of make bench): the kernel
# dataplane's scale figures, measured by the Go benchmarks of
# agent/internal/dataplane/kernel/netnstest in network namespaces:
#   - 10,000 translations x 8 backends programmed into an empty table, in
#     bulk (PutTranslations, as a full sync) and one by one (PutTranslation)
#   - a table of 100,000 translations x 4 backends: one more put / delete
#     (median of 30), list, load by a fresh dataplane (agent restart), the
#     repair after `nft delete table inet cloudnat` (delete -> whole again)
#   - the resync of 100,000 x 4 after `nft delete table inet cloudnat`
#     (three times; median wall and CPU time)
#   - 10,000 x 8 created by 16 concurrent clients through the reconciler,
#     each write applied alone vs coalesced (BenchmarkKernelConcurrentCreates)
#   - the reconciler's first full sync of 100,000 x 4 (BenchmarkKernelInitialSync)
#   - the packet rate through a VIP with 10 and with 100,000 translations
#     in the table (BenchmarkKernelRate): iperf3 when installed (UDP 64-byte
#     datagrams received/s, TCP Gbit/s), new TCP connections/s and a Go UDP
#     sender's packets/s; both rates and their ratio (target: >= 0.9)
# Environment: KBENCH_SCALE=n divides the sizes (quick look); BENCH_OUT as
# scripts/bench.sh (default build/bench/kernel-<date>). Needs root; prints
# one line and exits 0 without it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "bench kernel: needs root (network namespaces, nf_tables): skipped"
	exit 0
fi
export PATH=/usr/local/go/bin:$PATH
out=${BENCH_OUT:-$ROOT/build/bench/kernel-$(date -u +%Y%m%dT%H%MZ)}
mkdir -p "$out"
# nft_listeners counts the sockets of the host (all namespaces) that listen
# to nf_tables events: while there is one, the kernel builds a notification
# for every element cloudnat writes (about a third of a bulk write's cost).
nft_listeners() {
	local n=0 g ns
	for ns in "" $(ip netns list 2>/dev/null | awk '{print $1}'); do
		for g in $(if [ -n "$ns" ]; then ip netns exec "$ns" cat /proc/net/netlink; else cat /proc/net/netlink; fi 2>/dev/null |
			awk '$2 == 12 { print $4 }'); do
			if (((16#$g) & 64)); then n=$((n + 1)); fi
		done
	done
	echo "$n"
}
echo "== bench kernel: $(uname -r), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), nf_tables event listeners on the host: $(nft_listeners); results in $out"
cd "$ROOT"
CN_BENCH_SCALE=${KBENCH_SCALE:-1} go test -run '^$' -bench 'BenchmarkKernel' -benchtime 1x -timeout 30m \
	./agent/internal/dataplane/kernel/netnstest/ 2>&1 | tee "$out/kernel.txt" | grep -E '^(Benchmark|--- FAIL|FAIL|ok)' || true
# One figure per line: "<benchmark> <value> <unit>".
awk '/^Benchmark/ { for (i = 5; i < NF; i += 2) printf "%-24s %12s  %s\n", $1, $i, $(i + 1) }' "$out/kernel.txt" |
	tee "$out/kernel-figures.txt"
# The packet-rate pairs and their ratios (100,000 / 10), on one line each.
awk '$1 ~ /^BenchmarkKernelRate/ { for (i = 5; i < NF; i += 2) if ($(i + 1) ~ /^ratio-/) {
	m = substr($(i + 1), 7); printf "rate %-18s 10: %s  100,000: %s  ratio %s\n", m, v[m "-10"], v[m "-100k"], $i }
	else v[$(i + 1)] = $i }' "$out/kernel.txt" | tee -a "$out/kernel-figures.txt"
