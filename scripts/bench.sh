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
#   CGNAT (cloudnat pool with port blocks vs nat44-ed across tables vs det44):
#     inside pg2 (table 1) and pg3 (table 2), both 100.64.0.0/10, outside pg1
#     (table 0), default routes of tables 1 and 2 via ip4-lookup-in-table 0.
#     1k flows   1,000 subscribers (100.64.128.0-100.64.131.231) x 1 flow, table 1
#     ~1M flows  32,768 subscribers a table (100.64.0.0-100.64.127.255) x 17
#                source ports (1024-1040) toward 40.0.0.1:80, 2 tables: the
#                first pass (SYN, in chunks of 32,768 alternating the tables)
#                is "new sessions", its first chunk a table "new subscribers"
#                (block allocation), then passes of ACKs
#     det44 has no overlapping tables: table 1 only (557,056 flows).
#     Pool (cloudnat "cnat pool" block-size 256 max-blocks 2, nat44-ed's
#     address pool): 30.0.0.1-30.0.1.12, 268 addresses, enough blocks of
#     ports 1024-65535 for every subscriber (CGNAT_RANGE_END).
#     State per subscriber: main heap grown by the first chunk of each table
#     (65,536 new subscribers, one session each) / subscribers, minus the
#     per-session growth of the other 16 chunks.
#   Static 1:1 NAT (cloudnat "cnat static" 10.2.0.0/20 -> 30.1.0.0/20 vs 4,096
#     nat44-ed static mappings): 1k flows (1,000 hosts x 1 port), ~1M flows
#     (4,096 hosts x 257 ports = 1,052,672), first pass then ACK passes.
#   Fragments (SNAT 1k flows as above, cloudnat and nat44-ed): the 1k ACK
#     stream alone, then together with an equal stream of orphan fragments
#     (non-first fragments, offset 64, ids 1-65535, no first fragment ever):
#     NAT clocks per input packet and per normal packet; cnat show fragments.
#     nat44-ed's NAT nodes here include ip4-sv-reassembly-feature, where its
#     fragment handling is (cloudnat's is in its node).
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
#   BENCH_PLUGINS="..."  subset of "cloudnat cnat nat44 det44" (default all;
#                        each family measures the ones it applies to)
#   BENCH_FAMILIES="..." subset of "dnat snat cgnat static frag" (default all;
#                        the 16M point belongs to dnat)
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
# shellcheck source-path=SCRIPTDIR source=bench/lib.sh
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
BENCH_PLUGINS=${BENCH_PLUGINS:-cloudnat cnat nat44 det44}
BENCH_FAMILIES=${BENCH_FAMILIES:-dnat snat cgnat static frag}
for f in $BENCH_FAMILIES; do
	case $f in
	dnat | snat | cgnat | static | frag) ;;
	*) b_die "unknown family $f in BENCH_FAMILIES (dnat snat cgnat static frag)" ;;
	esac
done
has_family() { case " $BENCH_FAMILIES " in *" $1 "*) return 0 ;; esac; return 1; }
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
SUBS=$BENCH_OUT/subscribers.tsv
FRAG=$BENCH_OUT/fragments.tsv
: >"$RES"
: >"$MEM"
: >"$SUBS"
: >"$FRAG"

# ---------------------------------------------------------------- flows

N1K=1000                # 10.0.0.1:1024-2023 -> VIP
N1M=$((16 * 64511))     # 16 addresses x ports 1025-65535 (coprime periods)
N16M=$((256 * 65535))   # 256 addresses x ports 1-65535
NST=$((4096 * 257))     # static: 4,096 hosts x ports 1024-1280
NCGSUB=32768            # cgnat: subscribers a table (100.64.0.0-100.64.127.255)
NCGPORTS=17             # cgnat: flows a subscriber (ports 1024-1040)
CGNAT_RANGE_END=${CGNAT_RANGE_END:-30.0.1.12} # cgnat pool 30.0.0.1-<this> (cloudnat and nat44-ed)
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
	det44) [ -f "$VPP_PLUGIN_DIR/det44_plugin.so" ] || { b_log "bench: no det44_plugin.so in $VPP_PLUGIN_DIR"; continue; } ;;
	*) b_die "unknown plugin $p in BENCH_PLUGINS (cloudnat cnat nat44 det44)" ;;
	esac
	plugins+=("$p")
done
[ ${#plugins[@]} -gt 0 ] || b_die "no plugin to measure"

so_of() {
	case $1 in
	cloudnat) echo cloudnat_plugin.so ;;
	cnat) echo cnat_plugin.so ;;
	nat44) echo nat_plugin.so ;;
	det44) echo det44_plugin.so ;;
	esac
}

# applies <plugin> <family>: is that plugin measured in that family?
applies() {
	case $2 in
	dnat) [ "$1" = cloudnat ] || [ "$1" = cnat ] ;;
	snat) [ "$1" != det44 ] ;;
	cgnat) [ "$1" != cnat ] ;;
	static | frag) [ "$1" = cloudnat ] || [ "$1" = nat44 ] ;;
	*) return 1 ;;
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
nat_re_of() { # <plugin> [family]
	case $1 in
	cloudnat) cloudnat_nodes_re ;;
	cnat) echo '^(ip4-cnat-tx|ip4-cnat-return|cnat-.*-ip4.*)$' ;;
	nat44)
		# with orphan fragments, nat44-ed's fragment handling (the
		# shallow-virtual reassembly it puts in front of its nodes) counts:
		# cloudnat's is inside its node
		if [ "${2:-}" = frag ]; then
			echo '^(nat-pre-in2out|nat-pre-out2in|nat44-.*|ip4-sv-reassembly-feature)$'
		else
			echo '^(nat-pre-in2out|nat-pre-out2in|nat44-.*)$'
		fi
		;;
	det44) echo '^det44-.*$' ;;
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

# CGNAT: outside pg1 in table 0, inside pg2 in table 1 and pg3 in table 2
# (the same 100.64.0.0/10 subnet in both), the inside tables' default routes
# a lookup in table 0.
setup_cgnat_interfaces() {
	cat >"$B_VPP_DIR/if.cli" <<-EOF
		create packet-generator interface pg1
		create packet-generator interface pg2
		create packet-generator interface pg3
		ip table add 1
		ip table add 2
		set interface ip table pg2 1
		set interface ip table pg3 2
		set interface ip address pg1 20.0.0.254/24
		set interface ip address pg2 100.127.255.254/10
		set interface ip address pg3 100.127.255.254/10
		set interface state pg1 up
		set interface state pg2 up
		set interface state pg3 up
		set ip neighbor pg1 20.0.0.1 02:00:00:00:00:01 static
		ip route add 40.0.0.0/8 via 20.0.0.1 pg1
		ip route add 0.0.0.0/0 table 1 via ip4-lookup-in-table 0
		ip route add 0.0.0.0/0 table 2 via ip4-lookup-in-table 0
	EOF
	b_exec "$B_VPP_DIR/if.cli"
}

# config_nat <plugin> <family> <sessions>
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
	nat44/snat | nat44/frag)
		b_cfg nat44 plugin enable sessions "$n" &&
			b_cfg nat44 add address 30.0.0.1 &&
			b_cfg set interface nat44 in pg2 out pg1
		;;
	cloudnat/frag)
		config_nat cloudnat snat "$n"
		;;
	cloudnat/cgnat)
		# the binds turn ip4-cnat-snat on for the tables' interfaces. 268
		# addresses: with ports 1024-65535 an address holds 252 blocks of
		# 256, and 66,536 subscribers (1k + 64k) need one block each; the
		# 260 of 30.0.0.1-30.0.1.4 (65,520 blocks) would leave 1,016 of them
		# exhausted (CGNAT_RANGE_END overrides, e.g. 30.0.1.4)
		b_cfg cnat pool add cg outside-table 0 range "30.0.0.1-$CGNAT_RANGE_END" block-size 256 max-blocks 2 &&
			b_cfg cnat pool bind cg table 1 100.64.0.0/10 &&
			b_cfg cnat pool bind cg table 2 100.64.0.0/10
		;;
	nat44/cgnat)
		b_cfg nat44 plugin enable sessions "$n" inside-vrf 1 outside-vrf 0 &&
			b_cfg nat44 add address 30.0.0.1 - "$CGNAT_RANGE_END" &&
			b_cfg set interface nat44 in pg2 out pg1 &&
			b_cfg set interface nat44 in pg3
		;;
	det44/cgnat)
		# deterministic: one inside table only (no overlapping inside VRFs)
		b_cfg det44 plugin enable inside vrf 1 outside vrf 0 &&
			b_cfg det44 add in 100.64.0.0/16 out 30.0.0.0/24 &&
			b_cfg set interface det44 inside pg2 outside pg1
		;;
	cloudnat/static)
		# the first mapping turns ip4-cnat-snat on for table 0's interfaces
		b_cfg cnat static add 10.2.0.0/20 table 0 to 30.1.0.0/20 outside-table 0
		;;
	nat44/static)
		# one static mapping a host (4,096), read by one "exec"
		awk 'BEGIN { for (i = 0; i < 4096; i++)
			printf "nat44 add static mapping local 10.2.%d.%d external 30.1.%d.%d\n", i / 256, i % 256, i / 256, i % 256 }' \
			>"$B_VPP_DIR/static.cli"
		b_cfg nat44 plugin enable sessions "$n" &&
			b_cfg exec "$B_VPP_DIR/static.cli" &&
			b_cfg set interface nat44 in pg2 out pg1 || return 1
		if [ "$(b_ctl show nat44 static mappings | grep -c ' local ')" -ne 4096 ]; then
			b_log "bench: nat44-ed static mappings: not 4096 of them"
			return 1
		fi
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
# stream <name> <limit> <family> <flows: 1k|1m|16m|orphan> <TCP flag> [pg interface]
stream() {
	local name=$1 limit=$2 fam=$3 set=$4 flag=$5 ifc src dst sport w=
	case $fam/$set in
	dnat/1k) ifc=pg0 src=10.0.0.1 dst=30.0.0.2 sport=1024-2023 ;;
	dnat/1m) ifc=pg0 src=10.0.1.0-10.0.1.15 dst=30.0.0.2 sport=1025-65535 ;;
	dnat/16m) ifc=pg0 src=10.1.0.0-10.1.0.255 dst=30.0.0.2 sport=1-65535 ;;
	snat/1k | frag/1k) ifc=pg2 src=10.2.0.1 dst=40.0.0.1 sport=1024-2023 ;;
	snat/1m) ifc=pg2 src=10.2.0.1 dst=40.0.1.0-40.0.1.15 sport=1025-65535 ;;
	# static: 1,000 hosts x 1 port; 4,096 hosts x 257 ports (coprime periods)
	static/1k) ifc=pg2 src=10.2.0.0-10.2.3.231 dst=40.0.0.1 sport=2000 ;;
	static/1m) ifc=pg2 src=10.2.0.0-10.2.15.255 dst=40.0.0.1 sport=1024-1280 ;;
	# cgnat: 1,000 subscribers x 1 flow; 32,768 subscribers x 17 ports
	# (the interface, pg2 = table 1 or pg3 = table 2, in $6)
	cgnat/1k) ifc=$6 src=100.64.128.0-100.64.131.231 dst=40.0.0.1 sport=1024 ;;
	cgnat/1m) ifc=$6 src=100.64.0.0-100.64.127.255 dst=40.0.0.1 sport=1024-1040 ;;
	# frag: orphan fragments (offset 64 bytes, no first fragment) with ids 1-65535
	frag/orphan)
		[ -n "$BENCH_WORKER_CORE" ] && w="worker 0"
		LIMIT[$name]=$limit
		b_cfg packet-generator new "{ name $name limit $limit size 64-64 node ip4-input interface pg2 $w" \
			"data { UDP: 10.2.0.2 -> 40.0.0.1 fragment id 1-65535 offset 64 UDP: 1234 -> 80 incrementing 28 } }"
		return
		;;
	*) return 2 ;;
	esac
	[ -n "$BENCH_WORKER_CORE" ] && w="worker 0"
	LIMIT[$name]=$limit
	b_cfg packet-generator new "{ name $name limit $limit size 64-64 node ip4-input interface $ifc $w" \
		"data { TCP: $src -> $dst TCP: $sport -> 80 $flag incrementing 24 } }"
}

# measure <plugin> <family> <scenario> <rep> <stream(s)> <chunks> [keep]: run
# the stream <chunks> times (each run sends its limit and goes on with the flow
# sequence where the previous one stopped), each from a cleared runtime, and
# record every chunk's clocks: the report takes the median over chunks and
# repetitions, which keeps a chunk hit by a burst of other load from moving
# the figure. Several streams ("a b") are enabled together (enable-stream
# without a name: they must be the only ones defined) and divided by all
# their packets; a second row "<scenario>-n" divides by the first stream's.
# "keep": the stream stays defined afterwards (to go on with it later).
measure() {
	local p=$1 fam=$2 scen=$3 rep=$4 s=$5 nch=$6 keep=${7:-} pk pk1 rt sums nat path natv natc txv c re perf_pid x tag
	local -a ss
	read -r -a ss <<<"$s"
	pk=0
	for x in "${ss[@]}"; do pk=$((pk + LIMIT[$x])); done
	pk1=${LIMIT[${ss[0]}]}
	tag=${s// /+}
	re=$(nat_re_of "$p" "$fam")
	for c in $(seq 1 "$nch"); do
		rt=$B_VPP_DIR/$scen.$tag.$rep.$c.runtime
		b_ctl clear runtime >/dev/null
		b_ctl clear errors >/dev/null
		perf_pid=
		if [ "${BENCH_PERF:-}" = "$fam/$scen" ] && command -v perf >/dev/null; then
			perf record -q -F 5000 -p "$(cat "$B_VPP_DIR/vpp.pid")" -o "$B_VPP_DIR/$scen.$c.perf.data" 2>/dev/null &
			perf_pid=$!
			sleep 0.5
		fi
		if [ ${#ss[@]} -gt 1 ]; then
			b_ctl packet-generator enable-stream >/dev/null
		else
			b_ctl packet-generator enable-stream "$s" >/dev/null
		fi
		for x in "${ss[@]}"; do b_stream_wait "$x"; done
		if [ -n "$perf_pid" ]; then
			kill -INT "$perf_pid" 2>/dev/null || true
			wait "$perf_pid" 2>/dev/null || true
		fi
		b_ctl show runtime >"$rt"
		b_ctl show errors >"${rt%.runtime}.errors"
		sums=$(b_runtime_sum "$rt" "$re" pg1-tx)
		read -r nat path natv natc txv <<<"$sums"
		awk -v p="$p" -v f="$fam" -v sc="$scen" -v r="$rep.$c" -v pk="$pk" -v pk1="$pk1" -v n="${#ss[@]}" -v nat="$nat" -v path="$path" \
			-v natv="$natv" -v natc="$natc" -v txv="$txv" 'BEGIN {
			printf "%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.4f\t%d\n", p, f, sc, r, nat / pk, path / pk,
				(natc ? natv / natc : 0), txv / pk, pk
			if (n > 1) printf "%s\t%s\t%s-n\t%s\t%.1f\t%.1f\t%.1f\t%.4f\t%d\n", p, f, sc, r, nat / pk1, path / pk1,
				(natc ? natv / natc : 0), txv / pk1, pk1 }' >>"$RES"
		awk -v pk="$pk" -v nat="$nat" -v path="$path" -v txv="$txv" -v t="$p $fam $scen #$rep.$c" 'BEGIN {
			printf "  %-34s NAT %7.1f  path %7.1f clk/pkt  delivered %5.1f%%\n", t, nat / pk, path / pk, 100 * txv / pk }' >&2
		if [ "$txv" -lt "$pk" ] && [ ${#ss[@]} -eq 1 ]; then
			b_log "    (not all packets reached pg1-tx; see ${rt%.runtime}.errors)"
		fi
	done
	if [ -z "$keep" ]; then
		for x in "${ss[@]}"; do b_ctl packet-generator delete "$x" >/dev/null || true; done
	fi
	return 0
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
	local n1m=$N1M
	[ "$fam" = static ] && n1m=$NST
	config_nat "$p" "$fam" $((N1K + n1m + 65536)) || return 1
	stream w1k $N1K "$fam" 1k SYN && stream t1k $((T1K / C1K)) "$fam" 1k ACK &&
		stream w1m $((n1m / CNEW)) "$fam" 1m SYN && stream t1m $((n1m / 2)) "$fam" 1m ACK || return 1
	measure "$p" "$fam" create1k "$rep" w1k 1
	measure "$p" "$fam" 1k "$rep" t1k $C1K
	measure "$p" "$fam" create "$rep" w1m $CNEW
	[ "$rep" = 1 ] && mem_record "$p" "$fam" $((N1K + n1m)) "$heap0" "$rss0"
	measure "$p" "$fam" 1m "$rep" t1m $((2 * T1M / N1M))
	[ "$fam" = static ] && b_ctl show errors >"$dir/errors.end"
	b_vpp_stop
}

# instance_cgnat <plugin> <rep>: CGNAT, 1k and ~1M flows over two inside
# tables (det44: table 1 only), new sessions and new subscribers, and the
# state a subscriber holds (first repetition).
instance_cgnat() {
	local p=$1 rep=$2 dir ha hb hc ifc c nsub nses
	local -a ifs=(pg2 pg3)
	[ "$p" = det44 ] && ifs=(pg2)
	nsub=$((NCGSUB * ${#ifs[@]}))
	nses=$((N1K + nsub * NCGPORTS))
	dir=$BENCH_OUT/$p-cgnat-$rep
	huge_for 4
	b_vpp_start "$dir" "$(so_of "$p")" 4G "$HUGE" "$(extra_conf_of "$p" "$nses")" || return 1
	[ -n "$VPP_VERSION" ] || VPP_VERSION=$(b_ctl show version | awk '{ print $2; exit }')
	setup_cgnat_interfaces || return 1
	config_nat "$p" cgnat $((nses + 65536)) || return 1
	stream w1k "$N1K" cgnat 1k SYN pg2 && stream t1k $((T1K / C1K)) cgnat 1k ACK pg2 || return 1
	for ifc in "${ifs[@]}"; do
		stream "w1m$ifc" "$NCGSUB" cgnat 1m SYN "$ifc" &&
			stream "t1m$ifc" $((NCGSUB * NCGPORTS / 2)) cgnat 1m ACK "$ifc" || return 1
	done
	measure "$p" cgnat create1k "$rep" w1k 1
	measure "$p" cgnat 1k "$rep" t1k "$C1K"
	ha=$(b_heap_used)
	# first pass: chunks of one packet per subscriber, tables alternating;
	# the first chunk of a table creates its subscribers (and their blocks)
	for c in $(seq 1 "$NCGPORTS"); do
		for ifc in "${ifs[@]}"; do
			if [ "$c" = 1 ]; then
				measure "$p" cgnat newsub "$rep.$ifc" "w1m$ifc" 1 keep
			else
				measure "$p" cgnat create "$rep.$ifc.$c" "w1m$ifc" 1 keep
			fi
		done
		[ "$c" = 1 ] && hb=$(b_heap_used)
	done
	hc=$(b_heap_used)
	if [ "$rep" = 1 ]; then
		printf '%s\t%d\t%d\t%.0f\t%.0f\t%.0f\n' "$p" "$nsub" $((nsub * (NCGPORTS - 1))) "$ha" "$hb" "$hc" >>"$SUBS"
		awk -v t="$p cgnat $nsub subscribers" -v n="$nsub" -v m=$((nsub * (NCGPORTS - 1))) -v ha="$ha" -v hb="$hb" -v hc="$hc" 'BEGIN {
			s = (hc - hb) / m
			printf "  %-34s state %.1f B/subscriber beside its sessions (%.1f B/subscriber with its first session, %.1f B/session)\n", t, (hb - ha) / n - s, (hb - ha) / n, s }' >&2
	fi
	for ifc in "${ifs[@]}"; do b_ctl packet-generator delete "w1m$ifc" >/dev/null || true; done
	for c in $(seq 1 $((2 * T1M / N1M))); do
		for ifc in "${ifs[@]}"; do
			measure "$p" cgnat 1m "$rep.$ifc.$c" "t1m$ifc" 1 keep
		done
	done
	b_ctl show errors >"$dir/errors.end"
	if [ "$p" = cloudnat ]; then
		b_ctl cnat show pool >"$dir/pool.end" 2>&1 || true
		b_ctl cnat show subscribers >"$dir/subscribers.end" 2>&1 || true
	fi
	b_vpp_stop
}

# instance_frag <plugin> <rep>: SNAT 1k flows alone, then with as many
# orphan fragments beside them.
instance_frag() {
	local p=$1 rep=$2 dir
	dir=$BENCH_OUT/$p-frag-$rep
	huge_for 4
	b_vpp_start "$dir" "$(so_of "$p")" 4G "$HUGE" "$(extra_conf_of "$p" 65536)" || return 1
	[ -n "$VPP_VERSION" ] || VPP_VERSION=$(b_ctl show version | awk '{ print $2; exit }')
	setup_interfaces || return 1
	config_nat "$p" frag 65536 || return 1
	stream w1k "$N1K" frag 1k SYN && stream t1k $((T1K / C1K)) frag 1k ACK || return 1
	measure "$p" frag create1k "$rep" w1k 1
	measure "$p" frag 1k "$rep" t1k "$C1K" keep
	stream orph $((T1K / C1K)) frag orphan "" || return 1
	# chunk by chunk, with cloudnat's fragment tracker read after each
	for c in $(seq 1 "$C1K"); do
		measure "$p" frag 1k+orph "$rep.$c" "t1k orph" 1 keep
		[ "$p" = cloudnat ] || continue
		b_ctl cnat show fragments >"$dir/fragments.$c" 2>&1 || true
		awk -v p="$p" -v r="$rep.$c" '/in flight/ {
				for (i = 1; i <= NF; i++) { if ($i == "flight") f = $(i+1); if ($i == "held") h = $(i+1); if ($i == "timeout") t = $(i+1) }
				gsub(/,/, "", f); gsub(/,/, "", h); gsub(/,/, "", t) }
			/max-held/ { for (i = 1; i <= NF; i++) if ($i == "max-held") m = $(i+1) }
			END { printf "%s\t%s\t%s\t%s\t%s\t%s\n", p, r, f, h, t, m }' "$dir/fragments.$c" >>"$FRAG"
	done
	b_ctl show errors >"$dir/errors.end"
	[ "$p" = cloudnat ] && b_log "  $(tr '\n' ' ' <"$dir/fragments.$C1K")"
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

# shellcheck disable=SC2317 # run by the EXIT trap
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

run_instance() { # <plugin> <family> <rep>
	case $2 in
	cgnat) instance_cgnat "$1" "$3" ;;
	frag) instance_frag "$1" "$3" ;;
	*) instance "$1" "$2" "$3" ;;
	esac
}

failed=()
[ "${BENCH_BASE:-1}" = 1 ] || BENCH_REPS_BASE=0
for rep in $(seq 1 "${BENCH_REPS_BASE:-$BENCH_REPS}"); do
	for fam in dnat snat static cgnat frag; do
		has_family "$fam" || continue
		for p in "${plugins[@]}"; do
			applies "$p" "$fam" || continue
			b_log "-- $p $fam (repetition $rep)"
			if ! run_instance "$p" "$fam" "$rep"; then
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

if [ "$BENCH_SCALE" = 1 ] && has_family dnat; then
	probe_memory
	for p in "${plugins[@]}"; do
		applies "$p" dnat || continue
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
families	$BENCH_FAMILIES
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
