#!/usr/bin/env bash
# scripts/bench-natgw.sh: the NAT gateway's control-plane figures (issue 12):
# programming 10,000 interfaces into one gateway and re-planning after a
# selector change, each against the 1 s target, planner alone and through
# the agent's service (validation, plan, store write with fsync).
# Prints one PASS/FAIL line per benchmark; exits 1 when one misses the target.
# BENCH_NATGW_TIME sets go test's -benchtime (default 5x).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"
export PATH=/usr/local/go/bin:$PATH
target_ns=1000000000
out=$(go test -run '^$' -bench 'Plan10k|ReplanSelectorChange10k|StateApply10k|Service' \
	-benchtime "${BENCH_NATGW_TIME:-5x}" ./agent/internal/natgw/ ./agent/internal/server/)
status=0
while read -r name _ ns _; do
	[[ $name == Benchmark* ]] || continue
	ms=$(awk -v ns="$ns" 'BEGIN { printf "%.1f", ns / 1e6 }')
	if ((${ns%.*} < target_ns)); then
		echo "PASS ${name%-*}: ${ms} ms (target < 1000 ms)"
	else
		echo "FAIL ${name%-*}: ${ms} ms (target < 1000 ms)"
		status=1
	fi
done <<<"$out"
exit "$status"
