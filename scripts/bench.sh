#!/usr/bin/env bash
# scripts/bench.sh (make bench): clocks per packet of cloudnat against VPP's
# own cnat (and nat44-ed for source NAT), same VPP build, same streams, same run.
#
# cloudnat refuses to load beside cnat_plugin.so, so "same run" is one
# invocation of this script starting one private VPP after another, each with
# the same startup.conf apart from the plugin line, the same interfaces and
# the same packet-generator streams of 64-byte TCP packets (fed to ip4-input
# on a pg interface, sent out of another pg interface).
#
# Scenarios (each plugin, each a fresh VPP, repeated BENCH_REPS times and the
# median taken; plugins are interleaved so background load hits all alike):
#   VIP DNAT (cnat translation vip 30.0.0.2:80 -> 20.0.0.1:8080)
#   SNAT (to 30.0.0.1: cloudnat "cnat snat with", cnat snat-policy, nat44-ed)
#     1k flows   warm-up stream (1,000 SYNs) then 4M ACKs over the same flows
#     ~1M flows  warm-up stream of 1,032,176 new flows (SYN) = "new sessions",
#                then 3 passes of ACKs over them
#   16M scale (VIP DNAT, cloudnat and cnat): 16,776,960 new flows, then
#     BENCH_REPS passes of ACKs over them
#   Memory per session: main-heap "used" (and RSS) after the warm-ups minus
#     before the NAT was configured, divided by the sessions created.
# Flows are distinct because the pg edits of source address and source port
# (or destination address) step together with coprime periods.
#
# "NAT clocks/pkt" = sum over the NAT plugin's nodes of (clocks/vector x
# vectors) / packets sent; "path clocks/pkt" = the same over every node that
# handled the packets (pg-input .. pg1-tx). Clocks are the TSC, as in
# `show runtime`.
#
# Environment:
#   BENCH_KERNEL=0|only  skip the kernel dataplane's section
#                        (scripts/bench/kernel.sh), or run only it
#   BENCH_QUICK=1        fast subset: 1 repetition, shorter streams, no 16M
#   BENCH_REPS=n         repetitions (default 3)
#   BENCH_PLUGINS="..."  subset of "cloudnat cnat nat44" (default all three)
#   BENCH_SCALE=0|1      run the 16M scale point (default 1, 0 when quick)
#   BENCH_BASE=0         skip the 1k/1M scenarios (e.g. only the 16M point)
#   BENCH_HUGEPAGES=auto|0  main heap on 2 MiB hugepages when the kernel can
#                        give them (vm.nr_hugepages is raised and restored)
#   BENCH_MAIN_CORE=n    VPP main thread core (default 1)
#   BENCH_WORKER_CORE=n  run the data plane on one worker on that core
#                        (default: none, everything on the main thread)
#   BENCH_OUT=dir        results (default build/bench/<date>, build/bench/last)
#   BENCH_PERF=fam/scen  perf record VPP during that scenario's chunks (e.g.
#                        dnat/1m, snat/create): <dir>/<scen>.<chunk>.perf.data,
#                        read with perf report -i ... (needs perf)
#   VPP_PREFIX           see scripts/find-vpp.sh
#   CLOUDNAT_PLUGIN_DIR  measure that cloudnat_plugin.so; otherwise the one in
#                        build/vpp-plugin if it is a Release build, else the
#                        script builds one into build/vpp-plugin-bench
#                        (BENCH_BUILD=0: never build, take what is found)
# Prints the table and writes results.tsv, report.md (and plot.png when
# gnuplot is installed) to the output directory. Exits 0 with one line when
# VPP is not installed or not run as root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_CLOUDNAT_DIR_GIVEN=${CLOUDNAT_PLUGIN_DIR:-}
# shellcheck source=bench/lib.sh
. "$ROOT/scripts/bench/lib.sh"

# The kernel dataplane's section (no VPP needed): BENCH_KERNEL=0 skips it,
# BENCH_KERNEL=only runs nothing else.
if [ "${BENCH_KERNEL:-1}" != 0 ]; then
	"$ROOT/scripts/bench/kernel.sh" || echo "bench kernel: failed"
	[ "${BENCH_KERNEL:-1}" = only ] && exit 0
fi

if ! VPP_ENV=$("$ROOT/scripts/find-vpp.sh" --env 2>/dev/null); then
	echo "VPP not found (set VPP_PREFIX): skipping benchmarks"
	exit 0
fi
eval "$VPP_ENV"
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root to run VPP: skipping benchmarks"
	exit 0
fi
[ -x "$VPPCTL" ] || b_die "no vppctl at $VPPCTL"
[ -n "$VPP_PLUGIN_DIR" ] || b_die "VPP's plugin directory not found under $VPP_PREFIX"

BENCH_QUICK=${BENCH_QUICK:-0}
if [ "$BENCH_QUICK" = 1 ]; then
	BENCH_REPS=${BENCH_REPS:-1}
	BENCH_SCALE=${BENCH_SCALE:-0}
else
	BENCH_REPS=${BENCH_REPS:-3}
	BENCH_SCALE=${BENCH_SCALE:-1}
fi
BENCH_PLUGINS=${BENCH_PLUGINS:-cloudnat cnat nat44}
BENCH_HUGEPAGES=${BENCH_HUGEPAGES:-auto}
BENCH_MAIN_CORE=${BENCH_MAIN_CORE:-1}
BENCH_WORKER_CORE=${BENCH_WORKER_CORE:-}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
start0=$(date +%s)
BENCH_OUT=${BENCH_OUT:-$ROOT/build/bench/$STAMP}
mkdir -p "$BENCH_OUT"
ln -sfn "$BENCH_OUT" "$ROOT/build/bench/last" 2>/dev/null || true
RES=$BENCH_OUT/results.tsv
MEM=$BENCH_OUT/memory.tsv
: >"$RES"
: >"$MEM"

# ---------------------------------------------------------------- flows

N1K=1000                # 10.0.0.1:1024-2023 -> VIP
N1M=$((16 * 64511))     # 16 addresses x ports 1025-65535 (coprime periods)
N16M=$((256 * 65535))   # 256 addresses x ports 1-65535
CNEW=4                 # the 1M warm-up in 4 chunks of 258,044 new flows
if [ "$BENCH_QUICK" = 1 ]; then
	T1K=1000000 C1K=4     # 1k flows: 4 chunks of 250k packets
	T1M=$N1M              # 1M flows: 2 chunks of half the flows
else
	# 250k-packet chunks as in quick runs: on this VM every node's clocks per
	# packet grow with the length of a chunk (500k-packet chunks gave the NAT
	# nodes of all plugins 30-50% more, ip4-* 10-25%; not the scanner, ruled
	# out), so more and shorter chunks make a steadier median
	T1K=4000000 C1K=16
	T1M=$((3 * N1M))      # 6 chunks
fi

# cloudnat is measured as an optimised (Release) build of this tree: the one
# scripts/find-vpp.sh finds when its CMakeCache says Release, else one made
# here in build/vpp-plugin-bench. CLOUDNAT_PLUGIN_DIR, when set, is used as is.
release_build() { # <dir holding cloudnat_plugin.so>: built with CMAKE_BUILD_TYPE Release?
	local d=$1
	while [ "$d" != / ] && [ ! -f "$d/CMakeCache.txt" ]; do d=$(dirname "$d"); done
	grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$d/CMakeCache.txt" 2>/dev/null
}
if [ -z "${BENCH_CLOUDNAT_DIR_GIVEN:-}" ] && [ -d "$ROOT/vpp-plugin" ] && [ "${BENCH_BUILD:-1}" = 1 ] &&
	! { [ -n "$CLOUDNAT_PLUGIN_DIR" ] && release_build "$CLOUDNAT_PLUGIN_DIR"; }; then
	bdir=$ROOT/build/vpp-plugin-bench
	b_log "bench: building cloudnat_plugin.so (Release) in $bdir"
	if PATH=/usr/bin:$PATH cmake -S "$ROOT/vpp-plugin" -B "$bdir" -DCMAKE_PREFIX_PATH="$VPP_PREFIX" \
		-DPython3_EXECUTABLE=/usr/bin/python3 -DCMAKE_BUILD_TYPE=Release >"$BENCH_OUT/plugin-build.log" 2>&1 &&
		PATH=/usr/bin:$PATH cmake --build "$bdir" -j "$(nproc)" >>"$BENCH_OUT/plugin-build.log" 2>&1; then
		f=$(find "$bdir" -name cloudnat_plugin.so -type f -print -quit)
		[ -n "$f" ] && CLOUDNAT_PLUGIN_DIR=$(dirname "$f")
	else
		b_log "bench: that build failed ($BENCH_OUT/plugin-build.log); using ${CLOUDNAT_PLUGIN_DIR:-no cloudnat}"
	fi
fi

# Measure a snapshot: a rebuild of the tree during the run must not mix
# two versions of the plugin.
if [ -n "$CLOUDNAT_PLUGIN_DIR" ] && [ -f "$CLOUDNAT_PLUGIN_DIR/cloudnat_plugin.so" ]; then
	mkdir -p "$BENCH_OUT/plugin"
	cp "$CLOUDNAT_PLUGIN_DIR/cloudnat_plugin.so" "$BENCH_OUT/plugin/"
	CN_SO_INFO="$CLOUDNAT_PLUGIN_DIR/cloudnat_plugin.so, built $(date -u -r "$CLOUDNAT_PLUGIN_DIR/cloudnat_plugin.so" +%Y-%m-%dT%H:%MZ), tree $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo ?)"
	b_log "bench: cloudnat_plugin.so: $CN_SO_INFO"
	CLOUDNAT_PLUGIN_DIR=$BENCH_OUT/plugin
fi

# Plugins present?
plugins=()
for p in $BENCH_PLUGINS; do
	case $p in
	cloudnat)
		if [ -z "$CLOUDNAT_PLUGIN_DIR" ]; then
			b_log "bench: cloudnat_plugin.so not built (make plugin, or CLOUDNAT_PLUGIN_DIR): measuring cnat and nat44-ed only"
			continue
		fi
		;;
	cnat) [ -f "$VPP_PLUGIN_DIR/cnat_plugin.so" ] || { b_log "bench: no cnat_plugin.so in $VPP_PLUGIN_DIR"; continue; } ;;
	nat44) [ -f "$VPP_PLUGIN_DIR/nat_plugin.so" ] || { b_log "bench: no nat_plugin.so in $VPP_PLUGIN_DIR"; continue; } ;;
	*) b_die "unknown plugin $p in BENCH_PLUGINS (cloudnat cnat nat44)" ;;
	esac
	plugins+=("$p")
done
[ ${#plugins[@]} -gt 0 ] || b_die "no plugin to measure"

so_of() {
	case $1 in
	cloudnat) echo cloudnat_plugin.so ;;
	cnat) echo cnat_plugin.so ;;
	nat44) echo nat_plugin.so ;;
	esac
}

# Node names: cloudnat's from its sources (VLIB_REGISTER_NODE .name), the
# others' from VPP v26.06.
cloudnat_nodes_re() {
	local names
	names=$(grep -ho '\.name = "[^"]*"' "$ROOT"/vpp-plugin/cloudnat/*.c 2>/dev/null |
		sed 's/.*"\(.*\)"/\1/' | grep -v process | sort -u | paste -sd'|' || true)
	if [ -n "$names" ]; then echo "^($names)\$"; else echo '^(ip4-cnat-.*|cloudnat-.*|cnat-.*)$'; fi
}
nat_re_of() {
	case $1 in
	cloudnat) cloudnat_nodes_re ;;
	cnat) echo '^(ip4-cnat-tx|ip4-cnat-return|cnat-.*-ip4.*)$' ;;
	nat44) echo '^(nat-pre-in2out|nat-pre-out2in|nat44-.*)$' ;;
	esac
}

# ---------------------------------------------------------------- config

# Three pg interfaces: pg0 = DNAT clients (10.0.0.0/15), pg1 = backends and
# outside (20.0.0.0/24, 40/8 routed via 20.0.0.1), pg2 = SNAT inside.
setup_interfaces() {
	cat >"$B_VPP_DIR/if.cli" <<-EOF
		create packet-generator interface pg0
		create packet-generator interface pg1
		create packet-generator interface pg2
		set interface ip address pg0 10.0.255.254/15
		set interface ip address pg1 20.0.0.254/24
		set interface ip address pg2 10.2.255.254/16
		set interface state pg0 up
		set interface state pg1 up
		set interface state pg2 up
		set ip neighbor pg1 20.0.0.1 02:00:00:00:00:01 static
		ip route add 40.0.0.0/8 via 20.0.0.1 pg1
	EOF
	b_exec "$B_VPP_DIR/if.cli"
}

# config_nat <plugin> <dnat|snat> <sessions>
config_nat() {
	local p=$1 fam=$2 n=$3
	case $p/$fam in
	cloudnat/dnat)
		b_cfg cnat translation add proto tcp vip 30.0.0.2 80 to "->20.0.0.1" 8080
		;;
	cloudnat/snat)
		b_cfg cnat snat with 30.0.0.1 &&
			b_cfg set interface feature pg2 ip4-cnat-snat arc ip4-unicast
		;;
	cnat/dnat)
		b_cfg cnat translation add proto TCP vip 30.0.0.2 80 to "->20.0.0.1" 8080
		;;
	cnat/snat)
		b_cfg set cnat snat-policy addr 30.0.0.1 &&
			b_cfg set interface feature pg2 cnat-snat-ip4 arc ip4-unicast
		;;
	nat44/snat)
		b_cfg nat44 plugin enable sessions "$n" &&
			b_cfg nat44 add address 30.0.0.1 &&
			b_cfg set interface nat44 in pg2 out pg1
		;;
	*) return 2 ;;
	esac
}

# extra_conf_of <plugin> <sessions>: startup-config extras. cnat: timeouts
# long enough that nothing expires mid-run (its tables are sized for 16M
# sessions by default). cloudnat: its session table sized as its startup.conf
# doc says (buckets = sessions / 2.5: two entries a session in buckets of 10
# slots, half of them used). nat44-ed is sized by "nat44 plugin enable
# sessions <n>" (config_nat).
extra_conf_of() {
	case $1 in
	cnat) echo "cnat { session-max-age 3600 tcp-max-age 3600 }" ;;
	cloudnat) echo "cloudnat { session-buckets $(($2 * 2 / 5)) }" ;;
	*) echo "" ;;
	esac
}

declare -A LIMIT
# stream <name> <limit> <dnat|snat> <flows: 1k|1m|16m> <TCP flag>
stream() {
	local name=$1 limit=$2 fam=$3 set=$4 flag=$5 ifc src dst sport w=
	case $fam/$set in
	dnat/1k) ifc=pg0 src=10.0.0.1 dst=30.0.0.2 sport=1024-2023 ;;
	dnat/1m) ifc=pg0 src=10.0.1.0-10.0.1.15 dst=30.0.0.2 sport=1025-65535 ;;
	dnat/16m) ifc=pg0 src=10.1.0.0-10.1.0.255 dst=30.0.0.2 sport=1-65535 ;;
	snat/1k) ifc=pg2 src=10.2.0.1 dst=40.0.0.1 sport=1024-2023 ;;
	snat/1m) ifc=pg2 src=10.2.0.1 dst=40.0.1.0-40.0.1.15 sport=1025-65535 ;;
	esac
	[ -n "$BENCH_WORKER_CORE" ] && w="worker 0"
	LIMIT[$name]=$limit
	b_cfg packet-generator new "{ name $name limit $limit size 64-64 node ip4-input interface $ifc $w" \
		"data { TCP: $src -> $dst TCP: $sport -> 80 $flag incrementing 24 } }"
}

# measure <plugin> <family> <scenario> <rep> <stream> <chunks>: run the
# stream <chunks> times (each run sends its limit and goes on with the flow
# sequence where the previous one stopped), each from a cleared runtime, and
# record every chunk's clocks: the report takes the median over chunks and
# repetitions, which keeps a chunk hit by a burst of other load from moving
# the figure.
measure() {
	local p=$1 fam=$2 scen=$3 rep=$4 s=$5 nch=$6 pk rt sums nat path natv natc txv c re perf_pid
	pk=${LIMIT[$s]}
	re=$(nat_re_of "$p")
	for c in $(seq 1 "$nch"); do
		rt=$B_VPP_DIR/$scen.$s.$c.runtime
		b_ctl clear runtime >/dev/null
		b_ctl clear errors >/dev/null
		perf_pid=
		if [ "${BENCH_PERF:-}" = "$fam/$scen" ] && command -v perf >/dev/null; then
			perf record -q -F 5000 -p "$(cat "$B_VPP_DIR/vpp.pid")" -o "$B_VPP_DIR/$scen.$c.perf.data" 2>/dev/null &
			perf_pid=$!
			sleep 0.5
		fi
		b_ctl packet-generator enable-stream "$s" >/dev/null
		b_stream_wait "$s"
		if [ -n "$perf_pid" ]; then
			kill -INT "$perf_pid" 2>/dev/null || true
			wait "$perf_pid" 2>/dev/null || true
		fi
		b_ctl show runtime >"$rt"
		b_ctl show errors >"$B_VPP_DIR/$scen.$s.$c.errors"
		sums=$(b_runtime_sum "$rt" "$re" pg1-tx)
		read -r nat path natv natc txv <<<"$sums"
		awk -v p="$p" -v f="$fam" -v sc="$scen" -v r="$rep.$c" -v pk="$pk" -v nat="$nat" -v path="$path" \
			-v natv="$natv" -v natc="$natc" -v txv="$txv" 'BEGIN {
			printf "%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.4f\t%d\n", p, f, sc, r, nat / pk, path / pk,
				(natc ? natv / natc : 0), txv / pk, pk }' >>"$RES"
		awk -v pk="$pk" -v nat="$nat" -v path="$path" -v txv="$txv" -v t="$p $fam $scen #$rep.$c" 'BEGIN {
			printf "  %-34s NAT %7.1f  path %7.1f clk/pkt  delivered %5.1f%%\n", t, nat / pk, path / pk, 100 * txv / pk }' >&2
		if [ "$txv" -lt "$pk" ]; then
			b_log "    (not all packets reached pg1-tx; see $B_VPP_DIR/$scen.$s.$c.errors)"
		fi
	done
	b_ctl packet-generator delete "$s" >/dev/null || true
}

# mem_record <plugin> <family> <sessions> <heap0> <rss0>: memory per session,
# (a) main heap in use now minus HEAP_BASE (a VPP with the same interfaces
# and no NAT plugin: so what the plugin allocated at init counts too), and
# (b) minus heap0 (in use before the NAT was configured), both / sessions.
mem_record() {
	local heap1 rss1
	heap1=$(b_heap_used)
	rss1=$(b_rss)
	awk -v p="$1" -v f="$2" -v n="$3" -v h0="$4" -v h1="$heap1" -v r0="$5" -v r1="$rss1" -v hb="${HEAP_BASE:-$4}" 'BEGIN {
		printf "%s\t%s\t%d\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\n", p, f, n, (h1 - hb) / n, (r1 - r0) / n, h1 - h0, r1 - r0, (h1 - h0) / n }' >>"$MEM"
	awk -v t="$1 $2 $3 sessions" -v n="$3" -v h0="$4" -v h1="$heap1" -v hb="${HEAP_BASE:-$4}" 'BEGIN {
		printf "  %-34s memory %.1f B/session (main heap, all the plugin holds; %.1f since the NAT was configured)\n", t, (h1 - hb) / n, (h1 - h0) / n }' >&2
}

HUGE_OK=0
huge_for() { # <heap GiB> -> sets HUGE
	HUGE=0
	if [ "$BENCH_HUGEPAGES" != 0 ] && b_hugepages_want $(($1 * 512 + 128)); then HUGE=1; fi
	[ "$HUGE" = 1 ] && HUGE_OK=1
	return 0
}

# instance <plugin> <family> <rep>: the 1k / 1M / new-session scenarios.
instance() {
	local p=$1 fam=$2 rep=$3 dir heap0 rss0
	dir=$BENCH_OUT/$p-$fam-$rep
	huge_for 4
	b_vpp_start "$dir" "$(so_of "$p")" 4G "$HUGE" "$(extra_conf_of "$p" $((N1K + N1M)))" || return 1
	[ -n "$VPP_VERSION" ] || VPP_VERSION=$(b_ctl show version | awk '{ print $2; exit }')
	setup_interfaces || return 1
	heap0=$(b_heap_used)
	rss0=$(b_rss)
	config_nat "$p" "$fam" $((N1K + N1M + 65536)) || return 1
	stream w1k $N1K "$fam" 1k SYN && stream t1k $((T1K / C1K)) "$fam" 1k ACK &&
		stream w1m $((N1M / CNEW)) "$fam" 1m SYN && stream t1m $((N1M / 2)) "$fam" 1m ACK || return 1
	measure "$p" "$fam" create1k "$rep" w1k 1
	measure "$p" "$fam" 1k "$rep" t1k $C1K
	measure "$p" "$fam" create "$rep" w1m $CNEW
	[ "$rep" = 1 ] && mem_record "$p" "$fam" $((N1K + N1M)) "$heap0" "$rss0"
	measure "$p" "$fam" 1m "$rep" t1m $((2 * T1M / N1M))
	b_vpp_stop
}

# scale <plugin>: 16M VIP DNAT sessions.
scale() {
	local p=$1 dir heap0 rss0 r
	dir=$BENCH_OUT/$p-dnat-16m
	huge_for 12
	b_vpp_start "$dir" "$(so_of "$p")" 12G "$HUGE" "$(extra_conf_of "$p" $N16M)" || return 1
	[ -n "$VPP_VERSION" ] || VPP_VERSION=$(b_ctl show version | awk '{ print $2; exit }')
	setup_interfaces || return 1
	heap0=$(b_heap_used)
	rss0=$(b_rss)
	config_nat "$p" dnat $((2 * N16M)) || return 1
	stream w16m $((N16M / 16)) dnat 16m SYN || return 1
	measure "$p" dnat create16m 1 w16m 16
	mem_record "$p" dnat $N16M "$heap0" "$rss0"
	for r in $(seq 1 "$BENCH_REPS"); do
		stream t16m $((N16M / 8)) dnat 16m ACK || return 1
		measure "$p" dnat 16m "$r" t16m 8
	done
	b_vpp_stop
}

cleanup() {
	b_vpp_stop
	b_hugepages_restore
}
trap cleanup EXIT
trap 'exit 130' INT TERM

VPP_VERSION=
CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
NCPU=$(nproc)

b_log "== bench: VPP at $VPP_PREFIX, $CPU_MODEL x$NCPU, plugins: ${plugins[*]}, reps $BENCH_REPS, output $BENCH_OUT"

# Main heap of a VPP without a NAT plugin, same interfaces: the memory
# baseline.
HEAP_BASE=
if b_vpp_start "$BENCH_OUT/no-nat" "" 4G 0 && setup_interfaces; then
	HEAP_BASE=$(b_heap_used)
	[ -n "$VPP_VERSION" ] || VPP_VERSION=$(b_ctl show version | awk '{ print $2; exit }')
	# VPP's view of the CPU: the CPUID name (lscpu may only say "AMD EPYC")
	# and the TSC rate that show runtime's clocks count.
	CPU_VPP=$(b_ctl show cpu | awk -F': *' '/^Model name/ { m = $2; sub(/[[:space:]]+$/, "", m) } /^Microarch/ { u = $2 }
		/^Base frequency/ { f = $2 } END { printf "%s, %s, TSC %s", m, u, f }')
fi
b_vpp_stop

failed=()
[ "${BENCH_BASE:-1}" = 1 ] || BENCH_REPS_BASE=0
for rep in $(seq 1 "${BENCH_REPS_BASE:-$BENCH_REPS}"); do
	for fam in dnat snat; do
		for p in "${plugins[@]}"; do
			[ "$p/$fam" = nat44/dnat ] && continue
			b_log "-- $p $fam (repetition $rep)"
			if ! instance "$p" "$fam" "$rep"; then
				failed+=("$p/$fam#$rep")
				b_log "   FAILED: $p $fam (logs: $BENCH_OUT/$p-$fam-$rep)"
				b_vpp_stop
			fi
		done
	done
done
# probe_memory: the cost of one random line of a table as large as the 16M
# point's session buckets (scripts/bench/memprobe.c): the floor of what that
# point can add over the 1k point. Needs a C compiler; skipped without one.
MEMPROBE=
probe_memory() {
	local bytes=$(((N16M * 2 / 5 + 32) * 64)) huge=0
	if ! command -v cc >/dev/null 2>&1 ||
		! cc -O2 -o "$BENCH_OUT/memprobe" "$ROOT/scripts/bench/memprobe.c" 2>"$BENCH_OUT/memprobe.log"; then
		b_log "bench: no C compiler for scripts/bench/memprobe.c: memory probe skipped"
		return 0
	fi
	if [ "$BENCH_HUGEPAGES" != 0 ] && b_hugepages_want $((bytes / 2097152 + 8)); then huge=1; fi
	MEMPROBE="$(on_dataplane_core "$BENCH_OUT/memprobe" "$bytes" "$huge" 2>>"$BENCH_OUT/memprobe.log") bytes $bytes" ||
		MEMPROBE=
	b_log "bench: memory probe: ${MEMPROBE:-failed ($BENCH_OUT/memprobe.log)}"
}
on_dataplane_core() { # run on the core VPP's data plane uses
	taskset -c "${BENCH_WORKER_CORE:-$BENCH_MAIN_CORE}" "$@"
}

if [ "$BENCH_SCALE" = 1 ]; then
	probe_memory
	for p in "${plugins[@]}"; do
		[ "$p" = nat44 ] && continue
		b_log "-- $p dnat 16M sessions"
		if ! scale "$p"; then
			failed+=("$p/16m")
			b_log "   FAILED: $p 16M (logs: $BENCH_OUT/$p-dnat-16m)"
			b_vpp_stop
		fi
	done
fi
b_hugepages_restore
elapsed=$(($(date +%s) - start0))

# ---------------------------------------------------------------- report

cat >"$BENCH_OUT/meta.txt" <<EOF
date	$(date -u +%Y-%m-%dT%H:%MZ)
vpp	$VPP_VERSION
cpu	$CPU_MODEL (${CPU_VPP:-?})
cores	$NCPU
hugepages	$HUGE_OK
reps	$BENCH_REPS
quick	$BENCH_QUICK
elapsed	$elapsed
cloudnat	${CN_SO_INFO:-not measured}
memprobe	${MEMPROBE}
EOF
"$ROOT/scripts/bench/report.sh" "$BENCH_OUT"
if [ ${#failed[@]} -gt 0 ]; then
	b_log "bench: failed instances: ${failed[*]}"
fi
b_log "bench: $elapsed s; results in $BENCH_OUT"
exit 0
