#!/usr/bin/env bash
# scripts/bench/kernel.sh (the kernel section of make bench): the kernel
# dataplane's scale figures, measured by the Go benchmarks of
# agent/internal/dataplane/kernel/netnstest in network namespaces:
#   - 10,000 translations x 8 backends programmed into an empty table, in
#     bulk (PutTranslations, as a full sync) and one by one (PutTranslation)
#   - a table of 100,000 translations x 4 backends: one more put / delete
#     (median of 30), list, load by a fresh dataplane (agent restart), the
#     repair after `nft delete table inet cloudnat` (delete -> whole again)
#   - new TCP connections/s and UDP packets/s through a translation with 10
#     and with 100,000 translations in the table
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
echo "== bench kernel: $(uname -r), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); results in $out"
cd "$ROOT"
CN_BENCH_SCALE=${KBENCH_SCALE:-1} go test -run '^$' -bench 'BenchmarkKernel' -benchtime 1x -timeout 30m \
	./agent/internal/dataplane/kernel/netnstest/ 2>&1 | tee "$out/kernel.txt" | grep -E '^(Benchmark|--- FAIL|FAIL|ok)' || true
# One figure per line: "<benchmark> <value> <unit>".
awk '/^Benchmark/ { for (i = 5; i < NF; i += 2) printf "%-24s %12s  %s\n", $1, $i, $(i + 1) }' "$out/kernel.txt" |
	tee "$out/kernel-figures.txt"
