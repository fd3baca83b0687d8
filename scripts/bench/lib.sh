# shellcheck shell=bash
# scripts/bench/lib.sh: helpers of scripts/bench.sh (sourced, not run).
#
# One private VPP at a time: its own run directory (startup.conf, cli.sock,
# api/stats sockets, log), its own api-segment prefix, one NAT plugin enabled.
# Measurements come from `show runtime` (clocks per packet per node).

# ------------------------------------------------------------------ output

b_log() { printf '%s\n' "$*" >&2; }
b_die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

# ------------------------------------------------------------ hugepages

# Set vm.nr_hugepages to at least $1 (2 MiB pages). Returns 0 when the kernel
# gave that many; on failure puts the old value back and returns 1. The value
# found at the start is restored by b_hugepages_restore (EXIT trap).
B_HP_FILE=/proc/sys/vm/nr_hugepages
B_HP_ORIG=
b_hugepages_want() {
	local want=$1 got
	[ -w "$B_HP_FILE" ] || return 1
	[ -n "$B_HP_ORIG" ] || B_HP_ORIG=$(cat "$B_HP_FILE")
	echo "$want" >"$B_HP_FILE" 2>/dev/null || true
	got=$(cat "$B_HP_FILE")
	if [ "$got" -lt "$want" ]; then
		echo "$B_HP_ORIG" >"$B_HP_FILE" 2>/dev/null || true
		return 1
	fi
	return 0
}
b_hugepages_restore() {
	if [ -n "$B_HP_ORIG" ]; then
		echo "$B_HP_ORIG" >"$B_HP_FILE" 2>/dev/null || true
	fi
}

# ------------------------------------------------------------------ VPP

# b_vpp_start <dir> <plugin .so> <main-heap size, e.g. 4G> <hugepages: 0|1> [extra startup.conf text]
# Starts VPP in the background (B_VPP_PID) with its CLI at <dir>/cli.sock.
B_VPP_PID=
B_VPP_DIR=
b_vpp_start() {
	local dir=$1 so=$2 heap=$3 huge=$4 extra=${5:-} path page cpu
	mkdir -p "$dir"
	rm -f "$dir/cli.sock"
	path=$VPP_PLUGIN_DIR
	if [ "$so" = cloudnat_plugin.so ]; then path="$CLOUDNAT_PLUGIN_DIR:$VPP_PLUGIN_DIR"; fi
	page=
	[ "$huge" = 1 ] && page="main-heap-page-size 2M"
	cpu="main-core $BENCH_MAIN_CORE"
	[ -n "$BENCH_WORKER_CORE" ] && cpu="$cpu corelist-workers $BENCH_WORKER_CORE"
	cat >"$dir/startup.conf" <<-EOF
		unix {
		  nodaemon
		  cli-listen $dir/cli.sock
		  cli-no-pager
		  log $dir/vpp.log
		}
		api-segment { prefix cnbench-$$-$(basename "$dir") }
		socksvr { socket-name $dir/api.sock }
		statseg { socket-name $dir/stats.sock }
		cpu { $cpu }
		memory { main-heap-size $heap $page }
		buffers { buffers-per-numa 16384 }
		plugins {
		  path $path
		  plugin default { disable }
		  ${so:+plugin $so { enable \}}
		}
		$extra
	EOF
	# On a machine shared with other work, a preempted VPP charges the whole
	# time it was off the CPU to the node it was running. So VPP runs in a
	# session of its own (with autogroup scheduling, nice only ranks threads
	# within one session's group) whose group has nice -20, and at nice -20.
	rm -f "$dir/vpp.pid"
	# shellcheck disable=SC2016 # expanded by the inner bash
	setsid bash -c 'echo $$ >"$1/vpp.pid"; echo "$3" >/proc/self/autogroup 2>/dev/null
		exec nice -n "$3" "$2" -c "$1/startup.conf"' bench-vpp "$dir" "$VPP_BIN" "${BENCH_NICE:--20}" \
		>"$dir/stdout.log" 2>&1 </dev/null &
	B_VPP_DIR=$dir
	for _ in $(seq 1 50); do
		[ -s "$dir/vpp.pid" ] && break
		sleep 0.1
	done
	B_VPP_PID=$(cat "$dir/vpp.pid" 2>/dev/null || true)
	[ -n "$B_VPP_PID" ] || {
		b_log "bench: VPP did not start ($dir/stdout.log)"
		return 1
	}
	for _ in $(seq 1 300); do
		if ! kill -0 "$B_VPP_PID" 2>/dev/null; then
			b_log "bench: VPP exited at start ($dir); its output:"
			tail -20 "$dir/stdout.log" >&2
			B_VPP_PID=
			return 1
		fi
		if [ -S "$dir/cli.sock" ] && "$VPPCTL" -s "$dir/cli.sock" show version >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	b_log "bench: VPP did not answer on $dir/cli.sock within 30 s"
	b_vpp_stop
	return 1
}

b_vpp_stop() {
	[ -n "$B_VPP_PID" ] || return 0
	kill "$B_VPP_PID" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$B_VPP_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$B_VPP_PID" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$B_VPP_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait 2>/dev/null || true
	B_VPP_PID=
}

# b_ctl <cli command...>: one CLI command, its output on stdout (no checks).
b_ctl() {
	"$VPPCTL" -s "$B_VPP_DIR/cli.sock" "$@"
}

# b_cfg <cli command...>: a configuration command; a reply that looks like an
# error (unknown input, failed, ...) makes it fail.
b_cfg() {
	local out
	echo "vpp# $*" >>"$B_VPP_DIR/cli.log"
	out=$("$VPPCTL" -s "$B_VPP_DIR/cli.sock" "$@" 2>&1) || {
		printf 'bench: vpp CLI "%s": %s\n' "$*" "$out" >&2
		return 1
	}
	[ -z "$out" ] || printf '%s\n' "$out" >>"$B_VPP_DIR/cli.log"
	case "$out" in
	*"unknown input"* | *"unknown command"* | *"parse error"* | *ailed* | *rror* | *"not found"* | *nvalid*)
		printf 'bench: vpp CLI "%s": %s\n' "$*" "$out" >&2
		return 1
		;;
	esac
	return 0
}

# b_exec <file>: run a file of CLI commands one by one (stop at the first error).
b_exec() {
	local line
	while IFS= read -r line; do
		case "$line" in '' | '#'*) continue ;; esac
		b_cfg "$line" || return 1
	done <"$1"
}

# Main-heap bytes in use (show memory main-heap: "used: 1.23G").
b_heap_used() {
	b_ctl show memory main-heap | awk '
		function bytes(v,  n, u) {
			n = v + 0; u = substr(v, length(v), 1)
			if (u == "K") n *= 1024; else if (u == "M") n *= 1048576
			else if (u == "G") n *= 1073741824; else if (u == "T") n *= 1099511627776
			return n
		}
		/used:/ { for (i = 1; i <= NF; i++) if ($i == "used:") { v = $(i+1); sub(/,$/, "", v); printf "%.0f\n", bytes(v); exit } }'
}

# Memory the VPP process holds, in bytes: VmRSS plus the 2 MiB hugepages in
# use system-wide (the main heap's, when it is on hugepages: a hugetlb
# mapping is not in VmRSS).
b_rss() {
	awk '/^VmRSS:/ { s += $2 * 1024 }
		END { printf "%.0f\n", s }' "/proc/$B_VPP_PID/status" |
		awk -v hp="$(awk '/^HugePages_Total:/ { t = $2 } /^HugePages_Free:/ { f = $2 } /^Hugepagesize:/ { z = $2 }
			END { printf "%.0f", (t - f) * z * 1024 }' /proc/meminfo)" '{ printf "%.0f\n", $1 + hp }'
}

# b_stream_wait <name>: wait until the stream has sent its limit.
b_stream_wait() {
	local name=$1 st
	while :; do
		st=$(b_ctl show packet-generator | awk -v n="$name" '$1 == n { print $2 }')
		[ "$st" = "No" ] && return 0
		[ -z "$st" ] && b_die "stream $name vanished"
		kill -0 "$B_VPP_PID" 2>/dev/null || b_die "VPP died while stream $name ran ($B_VPP_DIR/stdout.log)"
		sleep 0.05
	done
}

# b_runtime_sum <runtime file> <NAT node regex> <tx node>:
# prints "nat_clocks path_clocks nat_vectors nat_calls tx_vectors" where
#   nat_clocks  = sum over NAT nodes of (clocks/vector * vectors)
#   path_clocks = the same over every non-process node that handled packets
# (summed over threads). show runtime's columns, from the right:
# Calls Vectors Suspends Clocks Vectors/Call.
b_runtime_sum() {
	awk -v re="$2" -v tx="$3" '
		NF >= 6 && $(NF-4) ~ /^[0-9]+$/ && $(NF-3) ~ /^[0-9]+$/ && $(NF-2) ~ /^[0-9]+$/ {
			name = $1; calls = $(NF-4) + 0; vec = $(NF-3) + 0; susp = $(NF-2) + 0; clk = $(NF-1) + 0
			if (vec == 0 || susp > 0) next
			path += clk * vec
			if (name ~ re) { nat += clk * vec; natv += vec; natc += calls }
			if (name == tx) txv += vec
		}
		END { printf "%.0f %.0f %d %d %d\n", nat, path, natv, natc, txv }' "$1"
}

# b_nodes_table <runtime file>: "node clocks/pkt(of the stream) vectors/call" lines for the report.
b_nodes_table() {
	awk -v pk="$2" '
		NF >= 6 && $(NF-4) ~ /^[0-9]+$/ && $(NF-3) ~ /^[0-9]+$/ && $(NF-2) ~ /^[0-9]+$/ {
			vec = $(NF-3) + 0; susp = $(NF-2) + 0
			if (vec == 0 || susp > 0) next
			printf "    %-32s %10d pkts %8.1f clk/pkt-of-node %8.1f clk/stream-pkt %6.1f vec/call\n", $1, vec, $(NF-1), $(NF-1) * vec / pk, $NF
		}' "$1"
}

# median of the numbers on stdin (one a line); "-" when none.
b_median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'
}
