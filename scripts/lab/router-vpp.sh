# shellcheck shell=bash
# scripts/lab/router-vpp.sh: the lab's router is a private VPP with
# cloudnat_plugin.so. Each host's veth has its router-side end in the root
# namespace, with no address; VPP takes it as an af_packet host-interface
# (host-<veth>) and owns the addresses. The agent runs beside VPP and talks
# to it over VPP's API socket. vppctl is used only for the interface/IP
# plumbing the agent does not own.

router_preflight() {
	local envs
	envs=$("$LAB_ROOT/scripts/find-vpp.sh" --env) || die "VPP not found (set VPP_PREFIX)"
	eval "$envs"
	[ -n "$VPP_PLUGIN_DIR" ] || die "VPP's plugin directory not found under $VPP_PREFIX"
	[ -n "$CLOUDNAT_PLUGIN_DIR" ] || die "cloudnat_plugin.so not built (make plugin, or set CLOUDNAT_PLUGIN_DIR)"
	[ -f "$VPP_PLUGIN_DIR/af_packet_plugin.so" ] || die "$VPP_PLUGIN_DIR has no af_packet_plugin.so"
	VPP_RUN=$LAB_RUN
	VPP_CLI=$VPP_RUN/cli.sock
	VPP_API=$VPP_RUN/api.sock
	VPP_SHM_PREFIX=$LAB_NS_PREFIX
}

vppctl() { "$VPPCTL" -s "$VPP_CLI" "$@"; }

# vpp_do CMD...: a plumbing command; VPP's CLI reports errors on stdout with
# exit 0, so its output is checked too.
vpp_do() {
	local out
	out=$(vppctl "$@" 2>&1) || die "vppctl $*: $out"
	echo "vppctl $* -> $out" >>"$VPP_RUN/vppctl.log"
	case "$out" in
	*rror* | *nknown* | *nvalid*) die "vppctl $*: $out" ;;
	esac
	printf '%s' "$out"
}

# LAB_VPP_WORKERS=1: the main thread on one CPU and one worker, which polls
# every host interface (VPP places them on the workers), so flows are handled
# on the worker and new clients' captures come from the main thread, as in a
# deployment. VPP_MAIN_CORE alone picks the main thread's CPU.
router_cpu_stanza() {
	if [ "${LAB_VPP_WORKERS:-0}" = 1 ]; then
		echo "cpu { main-core ${VPP_MAIN_CORE:-0} corelist-workers ${VPP_WORKER_CORE:-1} }"
	elif [ -n "${VPP_MAIN_CORE:-}" ]; then
		echo "cpu { main-core $VPP_MAIN_CORE }"
	fi
}

router_start() {
	local plugins="$VPP_PLUGIN_DIR:$CLOUDNAT_PLUGIN_DIR"
	cat >"$VPP_RUN/startup.conf" <<EOF
unix {
  nodaemon
  cli-listen $VPP_CLI
  log $VPP_RUN/vpp-unix.log
  poll-sleep-usec 100
  coredump-size 0
}
api-segment { prefix $VPP_SHM_PREFIX }
socksvr { socket-name $VPP_API }
statseg { socket-name $VPP_RUN/stats.sock size 32m page-size 4k }
memory { main-heap-size 512M main-heap-page-size 4k }
buffers { buffers-per-numa 16384 page-size 4k }
$(router_cpu_stanza)
plugins {
  path $plugins
  plugin default { disable }
  plugin af_packet_plugin.so { enable }
  plugin ping_plugin.so { enable }
  plugin cloudnat_plugin.so { enable }
  plugin cnat_plugin.so { disable }
}
logging { default-log-level info default-syslog-log-level emerg }
EOF
	log "starting VPP ($VPP_BIN, plugins from $CLOUDNAT_PLUGIN_DIR)"
	bg vpp "$VPP_BIN" -c "$VPP_RUN/startup.conf"
	VPP_PID=${LAB_PIDS[-1]}
	if ! wait_for 30 "VPP's CLI" vppctl show version; then
		tail -20 "$LAB_RUN/vpp.log" >&2
		die "VPP did not start (see $LAB_RUN/vpp.log)"
	fi
	wait_for 10 "VPP's API socket" test -S "$VPP_API" || die "VPP has no API socket $VPP_API"
	if ! grep -q cloudnat_plugin.so <<<"$(vppctl show plugins)"; then
		die "VPP did not load cloudnat_plugin.so (see $LAB_RUN/vpp.log)"
	fi
	log "$(vppctl show version)"
}

router_attach() {
	local veth=$1 ifname
	ip link set "$veth" up
	sysctl -qw "net.ipv6.conf.$veth.disable_ipv6=1" || true
	# A stable MAC (the veth end's own): after a VPP restart the hosts'
	# neighbour caches are still right, instead of pointing at a new random
	# 02:fe:... address for half a minute.
	ifname=$(vpp_do create host-interface name "$veth" hw-addr "$(cat "/sys/class/net/$veth/address")")
	ifname=${ifname//[[:space:]]/}
	[ -n "$ifname" ] || ifname=host-$veth
	vpp_do set interface state "$ifname" up >/dev/null
	echo "$ifname"
}

router_addr() {
	vpp_do set interface ip address "$1" "$2" >/dev/null
	case "$2" in
	*:*) vpp_do ip6 nd "$1" ra-suppress >/dev/null ;;
	esac
}

# With LAB_VPP_WORKERS=1 the worker handles the client's connections: the
# first packet of the new client was held until the main thread had
# captured the client's replies (ip4-cloudnat's client_wait counter), and
# check_vip_lb's connections all completed.
router_check_workers() {
	local n
	[ "${LAB_VPP_WORKERS:-0}" = 1 ] || return 0
	n=$(vppctl show errors | awk '/ip4-cloudnat/ && /first packets handed/ { s += $1 } END { print s + 0 }')
	if [ "$n" -gt 0 ]; then
		pass "vip-worker: the worker held $n first packet(s) of new clients until their replies were captured"
	else
		fail "vip-worker: no first packet of a new client was held (ip4-cloudnat client_wait)" \
			"$(vppctl show threads | tr '\n' ' ')"
	fi
}

router_ready() {
	vppctl show interface address >"$VPP_RUN/interfaces.txt" 2>&1 || true
}

router_agent_exec() { echo ""; }

# A full sync every 5 s (default 30 s): one that is not a no-op would
# disturb the checks (the plugin's own SNAT features were once turned off
# this way), so it shows within one scenario.
router_agent_args() {
	echo "--dataplane vpp --vpp.api_socket $VPP_API --vpp.stats_socket $VPP_RUN/stats.sock --log.level debug --reconcile.interval 5s"
}

router_diag() {
	local c
	for c in "show interface" "show interface address" "cnat show translation" "cnat show session verbose" \
		"cnat show snat" "cnat show timeouts" "show ip fib 10.200.0.10/32" "show ip fib 10.99.0.1/32" \
		"show ip6 fib fd00:99::1/128" "show errors" "show log"; do
		echo "vppctl $c:"
		vppctl "$c" 2>&1 | tail -40 | sed 's/^/  /'
	done
	echo "agent log (tail):"
	tail -30 "$LAB_RUN/agent.log" 2>/dev/null | sed 's/^/  /'
}

# router_reset: restart VPP (it comes back empty) and redo the interface
# plumbing the agent does not own; NAT intent is the agent's to restore.
router_reset() {
	stop_pid "$VPP_PID"
	rm -f "$VPP_API" "$VPP_CLI"
	router_start && topology_attach
}
router_reset_what() { echo "VPP restarted empty"; }

router_stop() {
	rm -f /dev/shm/"$VPP_SHM_PREFIX"-* 2>/dev/null || true
}

# Tables for the scenarios (scripts/lab/scenarios.sh): FIB table N of both
# families, an interface moved into one (before it has addresses), and a
# route in one table that continues with a lookup in another.
router_table_add() {
	vpp_do ip table add "$1" >/dev/null
	vpp_do ip6 table add "$1" >/dev/null
}
router_set_table() {
	vpp_do set interface ip table "$1" "$2" >/dev/null
	vpp_do set interface ip6 table "$1" "$2" >/dev/null
}
router_route_via_table() { # PREFIX FROM-TABLE TO-TABLE
	local af=ip4
	case "$1" in *:*) af=ip6 ;; esac
	vpp_do ip route add "$1" table "$2" via "$af-lookup-in-table" "$3" >/dev/null
}
router_route_via_table_del() {
	local af=ip4
	case "$1" in *:*) af=ip6 ;; esac
	vpp_do ip route del "$1" table "$2" via "$af-lookup-in-table" "$3" >/dev/null
}
