# shellcheck shell=bash
# scripts/lab/common.sh: the lab's shared topology, bookkeeping and checks.
# Sourced by scripts/lab.sh; the router (VPP or kernel) comes from
# scripts/lab/router-<name>.sh, which implements:
#
#   router_preflight             exit with a message if the router can't run
#   router_start                 start the router (VPP, or the router netns)
#   router_attach <veth>         take the router side of a host's veth pair;
#                                print the interface name as the agent knows it
#   router_addr <if> <prefix>    give the router interface an address
#   router_ready                 called once every interface is attached
#   router_agent_args            print the agent's dataplane-specific flags
#   router_agent_exec            print a command prefix to run the agent with
#   router_reset                 make the dataplane lose all NAT state (VPP:
#                                restart it and redo the plumbing; kernel:
#                                delete the agent's nf_tables table)
#   router_reset_what            say what router_reset did, for the PASS line
#   router_diag                  print state that explains a failure
#   router_stop                  clean up what the lab's processes leave
#
# (The scenarios need a few more, for tables: see scripts/lab/scenarios.sh.)
#
# All addresses live only inside the lab's own namespaces (and VPP's
# interfaces on veths whose root-side ends carry no address).

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ---------------------------------------------------------------- addressing

VIP=10.200.0.10
VIP_PORT=80
VIP_PREFIX=10.200.0.0/16
INSIDE4=10.10.0.0/16
SNAT4=10.99.0.1      # the router's outside address, also the SNAT address
EXT4=10.99.0.2
SNAT6=fd00:99::1
EXT6=fd00:99::2
PARTNER6=fd00:98::2
EXCLUDED6=fd00:98::/64
FWD_PORT=8080
SNAT4_ROUTED=10.99.1.1 # a SNAT address on no interface, routed to the router

# host  v4-addr/len   v4-router     v6-addr/len       v6-router    default-route?
LAB_HOSTS=(
	"client   10.10.1.2/24 10.10.1.1 fd00:10:1::2/64 fd00:10:1::1 yes"
	"backend1 10.10.2.2/24 10.10.2.1 - - yes"
	"backend2 10.10.3.2/24 10.10.3.1 - - yes"
	"extranet 10.99.0.2/24 10.99.0.1 fd00:99::2/64 fd00:99::1 no"
	"partner  - - fd00:98::2/64 fd00:98::1 yes"
)

# ---------------------------------------------------------------- bookkeeping

LAB_ID=${LAB_ID:-$(printf '%04x' $((RANDOM ^ ($$ & 0xffff))))}
# A run directory left by an earlier run (a failed one keeps its logs) must
# not be reused: its state file would hand the agent someone else's intent.
if [ -z "${LAB_RUN:-}" ]; then
	while [ -e "/tmp/cloudnat-lab.$LAB_ID" ]; do
		LAB_ID=$(printf '%04x' $(((RANDOM << 1 ^ RANDOM) & 0xffff)))
	done
fi
LAB_RUN=${LAB_RUN:-/tmp/cloudnat-lab.$LAB_ID}
LAB_NS_PREFIX="cnl$LAB_ID"
declare -A LAB_IF      # host -> router interface name (as the agent knows it)
declare -A LAB_VETH    # host -> router-side veth name
LAB_NAMESPACES=()
LAB_PIDS=()            # background processes to stop, in start order
LAB_PASS=0
LAB_FAIL=0
LAB_FAILED_CHECKS=()

ns_name() { echo "$LAB_NS_PREFIX-$1"; }
in_ns() {
	local h=$1
	shift
	ip netns exec "$(ns_name "$h")" "$@"
}

# log and die write to fd 3, the lab's stderr, even where a caller (wait_for)
# silences a command's own output.
exec 3>&2
log() { echo "lab: $*" >&3; }
die() {
	echo "lab: $*" >&3
	exit 1
}

pass() {
	LAB_PASS=$((LAB_PASS + 1))
	echo "PASS $1"
}
# fail also saves the router's state at that moment (first 5 failures) in
# $LAB_RUN/diag-N.txt; the summary prints the first one.
fail() {
	LAB_FAIL=$((LAB_FAIL + 1))
	LAB_FAILED_CHECKS+=("$1")
	echo "FAIL $1: $2"
	if [ "$LAB_FAIL" -le 5 ] && type router_diag >/dev/null 2>&1; then
		{
			echo "after FAIL $1: $2"
			router_diag
		} >"$LAB_RUN/diag-$LAB_FAIL.txt" 2>&1 || true
	fi
}

# bg NAME PROGRAM ARGS...: run PROGRAM (a program, not a shell function) in
# the background in a session of its own, output appended to
# $LAB_RUN/NAME.log (a restart adds to it). Its pid is also its process
# group id, so stop_pid ends it with its children.
bg() {
	local name=$1
	shift
	echo "==== $(date -u +%FT%TZ) $*" >>"$LAB_RUN/$name.log"
	setsid "$@" >>"$LAB_RUN/$name.log" 2>&1 </dev/null &
	LAB_PIDS+=("$!")
}

stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

LAB_CLEANED=0
lab_cleanup() {
	local rc=$? i h
	[ "$LAB_CLEANED" = 1 ] && return
	LAB_CLEANED=1
	trap - EXIT INT TERM
	set +e
	# Processes in reverse start order (agent before the router it drives).
	for ((i = ${#LAB_PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${LAB_PIDS[i]}"
	done
	type router_stop >/dev/null 2>&1 && router_stop
	for h in "${LAB_NAMESPACES[@]}"; do
		ip netns del "$(ns_name "$h")" 2>/dev/null
	done
	for h in "${!LAB_VETH[@]}"; do
		ip link del "${LAB_VETH[$h]}" 2>/dev/null
	done
	if [ "${LAB_KEEP:-0}" = 1 ] || [ "$LAB_FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then
		log "logs kept in $LAB_RUN"
	else
		rm -rf "$LAB_RUN"
	fi
	exit "$rc"
}

lab_traps() {
	trap lab_cleanup EXIT
	trap 'echo "lab: interrupted" >&2; exit 130' INT
	trap 'echo "lab: terminated" >&2; exit 143' TERM
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD until it succeeds.
wait_for() {
	local secs=$1 what=$2 end
	shift 2
	end=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$end" ]; then
			log "timed out after ${secs}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

# ---------------------------------------------------------------- tools

lab_preflight() {
	[ "$(id -u)" -eq 0 ] || die "the lab needs root (network namespaces, veths, VPP)"
	mkdir -p "$LAB_RUN"
	LABNET=$LAB_RUN/labnet
	(cd "$LAB_ROOT" && PATH=/usr/local/go/bin:$PATH go build -o "$LABNET" ./scripts/lab/labnet) ||
		die "cannot build scripts/lab/labnet"
	CTL_BIN=${CLOUDNATCTL:-$LAB_ROOT/bin/cloudnatctl}
	AGENT_BIN=${CLOUDNAT_AGENT:-$LAB_ROOT/bin/cloudnat-agent}
	AGENT_SOCK=$LAB_RUN/agent.sock
	AGENT_ADDR=unix://$AGENT_SOCK
	local t missing=()
	for t in ip ping; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	[ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]} (apt-get install -y iproute2 iputils-ping)"
	command -v ethtool >/dev/null || log "ethtool not found (apt-get install -y ethtool): veth offloads stay on"
	[ "${LAB_SELFTEST:-0}" = 1 ] && return 0
	if [ ! -x "$AGENT_BIN" ] || [ ! -x "$CTL_BIN" ]; then
		log "building bin/cloudnat-agent and bin/cloudnatctl"
		(cd "$LAB_ROOT" && make --no-print-directory agent cli >&2) || die "build failed"
	fi
}

ctl() { "$CTL_BIN" --addr "$AGENT_ADDR" "$@"; }

# ctl_do CMD...: a configuration step; a failure is a FAIL line of its own.
ctl_do() {
	local out
	if out=$(ctl "$@" 2>&1); then
		echo "  \$ cloudnatctl$(printf ' %q' "$@")" >&2
		return 0
	fi
	fail "config: cloudnatctl $*" "$(echo "$out" | tail -3 | tr '\n' ' ')"
	return 1
}

# ---------------------------------------------------------------- topology

# no_offload IFACE HOST: checksum and segmentation offloads off on the
# host's end of its veth, so the router sees packets with complete checksums
# and no TSO super-frames (LAB_OFFLOADS=on keeps them, to test the router's
# handling of CHECKSUM_PARTIAL/GSO packets). The router's end is left alone:
# VPP's af_packet takes its checksum/GSO mode from it when the host-interface
# is created, and with offloads off there VPP v26.06 answered nothing (not
# even ARP) in this lab.
no_offload() {
	[ "${LAB_OFFLOADS:-off}" = on ] && return 0
	command -v ethtool >/dev/null || return 0
	in_ns "$2" ethtool -K "$1" rx off tx off tso off gso off gro off >/dev/null 2>&1 || true
}

# host_ns NAME VETH: a host namespace NAME with eth0, the far end of a veth
# pair whose router end is VETH (left in the root namespace), lo and eth0
# up, no IPv6 autoconfiguration or DAD, offloads off.
host_ns() {
	local h=$1 veth=$2
	ip netns add "$(ns_name "$h")"
	LAB_NAMESPACES+=("$h")
	ip link add "$veth" type veth peer name "$veth-h"
	LAB_VETH[$h]=$veth
	ip link set "$veth-h" netns "$(ns_name "$h")"
	in_ns "$h" ip link set "$veth-h" name eth0
	in_ns "$h" ip link set lo up
	in_ns "$h" sysctl -qw net.ipv6.conf.eth0.accept_ra=0 net.ipv6.conf.eth0.accept_dad=0
	no_offload eth0 "$h"
	in_ns "$h" ip link set eth0 up
}

topology_create() {
	local line h a4 r4 a6 r6 defrt veth ifname
	for line in "${LAB_HOSTS[@]}"; do
		read -r h a4 r4 a6 r6 defrt <<<"$line"
		veth="cn${LAB_ID}${h:0:1}${h: -1}" # e.g. cn1a2fct, cn1a2fb1 (<= 15 chars)
		host_ns "$h" "$veth"
		[ "$a4" = - ] || in_ns "$h" ip addr add "$a4" dev eth0
		[ "$a6" = - ] || in_ns "$h" ip -6 addr add "$a6" dev eth0 nodad
		if [ "$defrt" = yes ]; then
			[ "$r4" = - ] || in_ns "$h" ip route add default via "$r4"
			[ "$r6" = - ] || in_ns "$h" ip -6 route add default via "$r6"
		elif [ "$h" = extranet ]; then
			# Only the routed SNAT pool goes back through the router.
			in_ns "$h" ip route add "$SNAT4_ROUTED/32" via "$r4"
		fi
	done
	topology_attach
}

# topology_attach: hand every host's router-side veth to the router and give
# it the router's addresses (again after a router restart).
topology_attach() {
	local line h a4 r4 a6 r6 defrt ifname
	for line in "${LAB_HOSTS[@]}"; do
		read -r h a4 r4 a6 r6 defrt <<<"$line"
		ifname=$(router_attach "${LAB_VETH[$h]}")
		LAB_IF[$h]=$ifname
		[ "$r4" = - ] || router_addr "$ifname" "$r4/${a4#*/}"
		[ "$r6" = - ] || router_addr "$ifname" "$r6/${a6#*/}"
	done
	router_ready
	topology_warmup
}

# Each host pings its router, so that the router knows every host's
# link-layer address before the checks: VPP drops (does not queue) the packet
# that makes it resolve a neighbour, which would cost a UDP check its first
# datagram. Echoes every 0.2 s until one is answered: when the host already
# knows the router (after a router restart), the first reply is the one VPP
# drops.
topology_warmup() {
	local line h a4 r4 a6 r6 defrt
	for line in "${LAB_HOSTS[@]}"; do
		read -r h a4 r4 a6 r6 defrt <<<"$line"
		[ "$r4" = - ] || in_ns "$h" ping -c 1 -i 0.2 -w 3 "$r4" >/dev/null 2>&1 ||
			log "warm-up: $h cannot ping its router $r4"
		[ "$r6" = - ] || in_ns "$h" ping -6 -c 1 -i 0.2 -w 3 "$r6" >/dev/null 2>&1 ||
			log "warm-up: $h cannot ping its router $r6"
	done
}

servers_start() {
	local h
	for h in backend1 backend2 extranet partner; do
		bg "srv-$h" ip netns exec "$(ns_name "$h")" "$LABNET" serve --name "$h" --listen tcp::80 --listen udp::53
	done
	for h in backend1 backend2 extranet partner; do
		wait_for 10 "server in $h" in_ns "$h" "$LABNET" get --timeout 500ms 127.0.0.1:80 ||
			wait_for 1 "server in $h" in_ns "$h" "$LABNET" get --timeout 500ms '[::1]:80' ||
			die "server in $h did not start (see $LAB_RUN/srv-$h.log)"
	done
}

# agent_answers: the agent answers status; ends the lab at once if the agent
# has died instead of waiting for the timeout.
agent_answers() {
	if ! kill -0 "$AGENT_PID" 2>/dev/null; then
		tail -5 "$LAB_RUN/agent.log" >&3
		die "the agent exited (see $LAB_RUN/agent.log)"
	fi
	ctl status
}

agent_start() {
	local -a pre args
	read -r -a pre <<<"$(router_agent_exec)"
	read -r -a args <<<"$(router_agent_args)"
	log "starting the agent: $AGENT_BIN ${args[*]} ${LAB_AGENT_ARGS:-}"
	# shellcheck disable=SC2206
	args+=(${LAB_AGENT_ARGS:-})
	# A first start says so (--init); a restart finds the state file, and a
	# lost one (its marker left) would make the agent refuse to start.
	[ -e "$LAB_RUN/state.json.initialized" ] || args+=(--init)
	bg agent "${pre[@]}" "$AGENT_BIN" "${args[@]}" \
		--grpc.listen "$AGENT_ADDR" --state.path "$LAB_RUN/state.json"
	AGENT_PID=${LAB_PIDS[-1]}
	if ! wait_for 30 "the agent's gRPC socket" agent_answers; then
		tail -20 "$LAB_RUN/agent.log" >&2
		die "the agent did not come up (see $LAB_RUN/agent.log)"
	fi
	# The dataplane is connected once it lists the client's interface.
	if ! wait_for 30 "the agent to see the dataplane's interfaces" sh -c \
		"'$CTL_BIN' --addr '$AGENT_ADDR' interface list 2>/dev/null | grep -q -- '${LAB_IF[client]}'"; then
		ctl status >&2 || true
		die "the agent does not list interface ${LAB_IF[client]} (see $LAB_RUN/agent.log)"
	fi
}

config_apply() {
	log "configuring through cloudnatctl"
	local ok=0
	ctl_do translation add --proto tcp --vip "$VIP" --port "$VIP_PORT" \
		--to "->10.10.2.2:80" --to "->10.10.3.2:80" || ok=1
	ctl_do snat set "$SNAT4" "$SNAT6" || ok=1
	ctl_do snat exclude "$INSIDE4" || ok=1
	ctl_do snat exclude "$VIP_PREFIX" || ok=1
	ctl_do snat exclude "$EXCLUDED6" || ok=1
	ctl_do snat enable "${LAB_IF[client]}" --ipv4 --ipv6 || ok=1
	ctl_do snat enable "${LAB_IF[backend1]}" --ipv4 || ok=1
	ctl_do snat enable "${LAB_IF[backend2]}" --ipv4 || ok=1
	ctl_do translation add --kind real --proto tcp --vip "$SNAT4" --port "$FWD_PORT" --to "->10.10.2.2:80" || ok=1
	[ $ok = 0 ] && pass "config: applied through cloudnatctl"
	# Give the reconciler a moment to push intent to the dataplane.
	wait_for 15 "the VIP translation in the dataplane" sh -c \
		"'$CTL_BIN' --addr '$AGENT_ADDR' translation list 2>/dev/null | grep -q -- '$VIP'" || true
	sleep 1
}

# ---------------------------------------------------------------- checks

# get_from HOST ARGS...: labnet get from inside HOST; output in $GOT.
get_from() {
	local h=$1
	shift
	GOT=$(in_ns "$h" timeout 60 "$LABNET" get "$@" 2>&1) && return 0
	return 1
}

why() { echo "$1" | grep -v '^labnet:' | sort | uniq -c | sort -rn | head -3 | sed 's/^ *//' | tr '\n' ';' | sed 's/;$//'; }

check_vip_lb() {
	local n=${LAB_CONNS:-20} c1 c2 ok
	# One quick try first, so a broken VIP costs 2 s rather than n times that.
	get_from client --n 1 --timeout 2s "$VIP:$VIP_PORT" || n=2
	if get_from client --n "$n" --timeout 2s "$VIP:$VIP_PORT"; then
		pass "vip-tcp: $n/$n connections from client to $VIP:$VIP_PORT answered"
	else
		ok=$(echo "$GOT" | grep -c '^backend' || true)
		fail "vip-tcp: connections from client to $VIP:$VIP_PORT" "$ok/$n answered ($(why "$GOT"))"
	fi
	c1=$(echo "$GOT" | grep -c '^backend1 ' || true)
	c2=$(echo "$GOT" | grep -c '^backend2 ' || true)
	if [ "$c1" -gt 0 ] && [ "$c2" -gt 0 ]; then
		pass "vip-lb: both backends reached (backend1 $c1, backend2 $c2 of $n)"
	else
		fail "vip-lb: both backends reached" "backend1 $c1, backend2 $c2 of $n"
	fi
	# (grep reads a here-string: "cmd | grep -q" under pipefail can fail when
	# grep exits before cmd has written everything.)
	if [ $((c1 + c2)) -gt 0 ] && ! grep '^backend' <<<"$GOT" | grep -v ' 10\.10\.1\.2$' >/dev/null; then
		pass "vip-src: backends saw the client's own address 10.10.1.2"
	else
		fail "vip-src: backends saw the client's own address" "$(echo "$GOT" | grep '^backend' | awk '{print $2}' | sort -u | tr '\n' ' ')"
	fi
}

# expect_answer NAME HOST WANT-REGEX LABNET-GET-ARGS...
expect_answer() {
	local name=$1 h=$2 want=$3
	shift 3
	if get_from "$h" "$@" && grep -Eq "^$want\$" <<<"$GOT"; then
		pass "$name: $h -> ${!#} answered '$(echo "$GOT" | head -1)'"
	else
		fail "$name" "$h -> ${!#}: want '$want', got '$(why "$GOT")'"
	fi
}

check_ping() {
	local name=$1 h=$2 dst=$3 out
	shift 3
	if out=$(in_ns "$h" ping -c 3 -i 0.2 -W 1 "$@" "$dst" 2>&1); then
		pass "$name: $h pings $dst ($(echo "$out" | grep -o '[0-9]* received'))"
	else
		fail "$name" "$h cannot ping $dst: $(echo "$out" | grep -E 'received|unreachable|Network' | head -1)"
	fi
}

# Two inside hosts ping the extranet at once with the same ICMP echo id:
# behind one SNAT address, the NAT must give them different ids.
check_ping_same_id() {
	local out1 out2 rc1 rc2
	in_ns client ping -c 4 -i 0.2 -W 1 -e 4242 "$EXT4" >"$LAB_RUN/ping-c.out" 2>&1 &
	local p1=$!
	in_ns backend1 ping -c 4 -i 0.2 -W 1 -e 4242 "$EXT4" >"$LAB_RUN/ping-b1.out" 2>&1 &
	local p2=$!
	wait $p1 && rc1=0 || rc1=$?
	wait $p2 && rc2=0 || rc2=$?
	out1=$(grep -o '[0-9]* received' "$LAB_RUN/ping-c.out" || echo "no summary")
	out2=$(grep -o '[0-9]* received' "$LAB_RUN/ping-b1.out" || echo "no summary")
	if grep -q 'invalid option\|invalid argument' "$LAB_RUN/ping-c.out"; then
		in_ns client ping -c 4 -i 0.2 -W 1 "$EXT4" >"$LAB_RUN/ping-c.out" 2>&1 &
		p1=$!
		in_ns backend1 ping -c 4 -i 0.2 -W 1 "$EXT4" >"$LAB_RUN/ping-b1.out" 2>&1 &
		p2=$!
		wait $p1 && rc1=0 || rc1=$?
		wait $p2 && rc2=0 || rc2=$?
	fi
	if [ "$rc1" = 0 ] && [ "$rc2" = 0 ]; then
		pass "snat-icmp-id: client and backend1 ping $EXT4 at once with echo id 4242 (client $out1, backend1 $out2)"
	else
		fail "snat-icmp-id: client and backend1 ping $EXT4 at once with echo id 4242" "client $out1, backend1 $out2"
	fi
}

check_sessions() {
	local out n
	if out=$(ctl session list 2>&1); then
		n=$(echo "$out" | grep -Ec 'tcp|udp|icmp' || true)
		if [ "$n" -gt 0 ]; then
			pass "sessions: cloudnatctl session list shows $n session lines"
		else
			fail "sessions" "cloudnatctl session list shows no tcp/udp/icmp session"
		fi
	else
		fail "sessions" "cloudnatctl session list: $(echo "$out" | tail -1)"
	fi
}

# The agent restarts: intent comes back from its state file, and traffic
# through the existing translations goes on.
check_agent_restart() {
	stop_pid "$AGENT_PID"
	agent_start
	local out
	out=$(ctl translation list 2>&1) || true
	if grep -q -- ":$FWD_PORT" <<<"$out"; then
		pass "agent-restart: translations listed again after an agent restart"
	else
		fail "agent-restart" "translation list after an agent restart has no :$FWD_PORT translation: $(tail -2 <<<"$out" | tr "\n" " ")"
	fi
	expect_answer "agent-restart-portfwd" extranet "backend1 $EXT4" --n 2 "$SNAT4:$FWD_PORT"
}

# The dataplane loses everything (VPP restarts; the kernel's table is
# deleted): the agent must put the intent back by itself.
check_dataplane_reset() {
	local start secs
	start=$(date +%s)
	router_reset || {
		fail "dataplane-reset" "could not reset the router"
		return
	}
	if wait_for "${LAB_RESYNC_SECS:-60}" "the agent to reprogram the dataplane" \
		in_ns client "$LABNET" get --n 1 --timeout 1s "$EXT4:80" &&
		wait_for 20 "the VIP after the reset" in_ns client "$LABNET" get --n 1 --timeout 1s "$VIP:$VIP_PORT"; then
		secs=$(($(date +%s) - start))
		pass "dataplane-reset: $(router_reset_what); source NAT and the VIP work again ${secs}s later"
	else
		fail "dataplane-reset" "$(router_reset_what); source NAT or the VIP did not come back within ${LAB_RESYNC_SECS:-60}s"
		return
	fi
	expect_answer "dataplane-reset-snat" client "extranet $SNAT4" --n 2 "$EXT4:80"
	expect_answer "dataplane-reset-portfwd" extranet "backend1 $EXT4" --n 2 "$SNAT4:$FWD_PORT"
	expect_answer "dataplane-reset-snat6" client "extranet $SNAT6" --n 2 "[$EXT6]:80"
}

# Source NAT to an address that is on no interface: the extranet routes it
# to the router, which must take the replies for it.
check_snat_routed_address() {
	if ! ctl_do snat set "$SNAT4_ROUTED" "$SNAT6"; then
		fail "snat-routed" "cannot set the SNAT address $SNAT4_ROUTED"
		return
	fi
	sleep 1
	expect_answer "snat-routed-tcp" client "extranet $SNAT4_ROUTED" --n 3 "$EXT4:80"
	check_ping "snat-routed-ping" client "$EXT4"
	ctl_do snat set "$SNAT4" "$SNAT6" || true
}

check_translation_del() {
	if ! ctl translation del --proto tcp --vip "$VIP" --port "$VIP_PORT" >"$LAB_RUN/del.out" 2>&1; then
		fail "vip-del" "cloudnatctl translation del: $(tail -1 "$LAB_RUN/del.out")"
		return
	fi
	sleep 1
	if get_from client --n 3 --timeout 1s "$VIP:$VIP_PORT"; then
		fail "vip-del" "the VIP still answers after translation del"
	else
		pass "vip-del: after translation del the VIP no longer answers"
	fi
}

checks_run() {
	local mib=${LAB_BULK_MIB:-8} bulk
	bulk=$((mib << 20))
	echo "---- (1) VIP load-balancing TCP to two backends"
	check_vip_lb
	if declare -F router_check_workers >/dev/null; then router_check_workers; fi
	expect_answer "vip-bulk" client "backend[12] 10\.10\.1\.2 $bulk bytes ok" --bytes "$bulk" "$VIP:$VIP_PORT"
	echo "---- (2) source NAT to the extranet, port forwarding from it"
	expect_answer "snat-tcp" client "extranet $SNAT4" --n 3 "$EXT4:80"
	expect_answer "snat-udp" client "extranet $SNAT4" --proto udp --n 3 "$EXT4:53"
	expect_answer "snat-tcp-backend" backend2 "extranet $SNAT4" --n 2 "$EXT4:80"
	expect_answer "snat-bulk" client "extranet $SNAT4 $bulk bytes ok" --bytes "$bulk" "$EXT4:80"
	check_ping "snat-ping" client "$EXT4"
	check_ping_same_id
	expect_answer "portfwd-tcp" extranet "backend1 $EXT4" --n 3 "$SNAT4:$FWD_PORT"
	echo "---- (3) IPv6 source NAT with an excluded prefix"
	expect_answer "snat6-tcp" client "extranet $SNAT6" --n 3 "[$EXT6]:80"
	expect_answer "snat6-bulk" client "extranet $SNAT6 $bulk bytes ok" --bytes "$bulk" "[$EXT6]:80"
	check_ping "snat6-ping" client "$EXT6" -6
	expect_answer "snat6-excluded" client "partner fd00:10:1::2" --n 3 "[$PARTNER6]:80"
	[ "${LAB_SELFTEST:-0}" = 1 ] && return 0 # the rest needs the agent
	echo "---- source NAT to a routed address (on no interface)"
	check_snat_routed_address
	echo "---- agent state"
	check_sessions
	echo "---- restarts: the agent, then the dataplane"
	check_agent_restart
	check_dataplane_reset
	check_translation_del
}

summary() {
	local skipped=
	[ "${LAB_SKIP:-0}" -gt 0 ] && skipped=", $LAB_SKIP skipped"
	echo "---- summary: $LAB_PASS passed, $LAB_FAIL failed$skipped (router: $LAB_ROUTER)"
	if [ "$LAB_FAIL" -gt 0 ]; then
		printf '  failed: %s\n' "${LAB_FAILED_CHECKS[@]}"
		echo "---- diagnostics, taken right after the first failure ($LAB_RUN/diag-*.txt has up to 5)"
		sed 's/^/  /' "$LAB_RUN/diag-1.txt" 2>/dev/null || true
		return 1
	fi
}
