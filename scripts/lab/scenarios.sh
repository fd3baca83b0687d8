# shellcheck shell=bash
# scripts/lab/scenarios.sh: the lab's scenarios beyond the base checks, and
# what they share. Each scenario is a file scripts/lab/scenario-<name>.sh
# defining scenario_<name>; it builds its own hosts (namespaces) and router
# tables with the helpers below, configures the agent through cloudnatctl
# only, and prints PASS/FAIL (or SKIP) lines. scripts/lab.sh runs the base
# checks ("base") and then every scenario file, in name order, that
# LAB_SCENARIOS selects (a comma-separated list, default "all"; e.g.
# LAB_SCENARIOS=peering or LAB_SCENARIOS=base,natgw).
#
# Besides the router functions of common.sh, a scenario needs from the
# router (scripts/lab/router-*.sh):
#
#   router_table_add <N>                       create table (VRF) N
#   router_set_table <if> <N>                  put an interface (no address
#                                              yet) into table N
#   router_route_via_table <pfx> <from> <to>   route pfx in table from by a
#                                              lookup in table to
#   router_route_via_table_del <pfx> <from> <to>

LAB_SCENARIOS=${LAB_SCENARIOS:-all}
LAB_SKIP=0

# lab_selected NAME: LAB_SCENARIOS selects NAME.
lab_selected() {
	case ",$LAB_SCENARIOS," in
	*,all,* | *,"$1",*) return 0 ;;
	esac
	return 1
}

# The scenario files there are.
lab_scenario_names() {
	local f n
	for f in "$LAB_ROOT"/scripts/lab/scenario-*.sh; do
		[ -e "$f" ] || continue
		n=${f##*/scenario-}
		echo "${n%.sh}"
	done
}

# lab_check_scenarios: die on a name in LAB_SCENARIOS that is no scenario.
lab_check_scenarios() {
	local s known
	known=" base all $(lab_scenario_names | tr '\n' ' ')"
	for s in ${LAB_SCENARIOS//,/ }; do
		case "$known" in
		*" $s "*) ;;
		*) die "LAB_SCENARIOS: no scenario $s (known:$known)" ;;
		esac
	done
}

# scenarios_run: every selected scenario, after the base checks.
scenarios_run() {
	local s f
	for s in $(lab_scenario_names); do
		lab_selected "$s" || continue
		f=$LAB_ROOT/scripts/lab/scenario-$s.sh
		# shellcheck source=/dev/null
		. "$f"
		echo "==== scenario $s"
		"scenario_$s"
	done
}

skip() {
	LAB_SKIP=$((LAB_SKIP + 1))
	echo "SKIP $1: $2"
}

# ---------------------------------------------------------------- hosts

# vrf_host NAME TAG TABLE HOST-ADDR/LEN ROUTER-ADDR [ROUTE...]: a host
# namespace NAME joined to the router by a veth pair (router side
# cn<LAB_ID><TAG>, TAG two characters) whose router end is in TABLE with
# ROUTER-ADDR; the host's routes via the router are ROUTE... (default:
# default). Then the host pings the router, so the router knows it.
vrf_host() {
	local h=$1 tag=$2 table=$3 a4=$4 r4=$5 veth ifname rt
	shift 5
	[ $# -gt 0 ] || set -- default
	# shellcheck disable=SC2153 # LAB_ID, LAB_IF: common.sh's
	veth="cn${LAB_ID}${tag}"
	host_ns "$h" "$veth"
	in_ns "$h" ip addr add "$a4" dev eth0
	for rt in "$@"; do
		in_ns "$h" ip route add "$rt" via "$r4"
	done
	ifname=$(router_attach "$veth")
	# shellcheck disable=SC2034,SC2004
	LAB_IF[$h]=$ifname
	[ "$table" = 0 ] || router_set_table "$ifname" "$table"
	router_addr "$ifname" "$r4/${a4#*/}"
	in_ns "$h" ping -c 1 -i 0.2 -w 3 "$r4" >/dev/null 2>&1 || log "warm-up: $h cannot ping its router $r4"
}

# vrf_host6 NAME HOST-ADDR6/LEN ROUTER-ADDR6: an IPv6 address for host NAME
# (made by vrf_host) and its router end, the host's default route via it.
vrf_host6() {
	local h=$1 a6=$2 r6=$3
	in_ns "$h" ip -6 addr add "$a6" dev eth0 nodad
	in_ns "$h" ip -6 route add default via "$r6"
	router_addr "${LAB_IF[$h]}" "$r6/${a6#*/}"
	in_ns "$h" ping -6 -c 1 -i 0.2 -w 3 "$r6" >/dev/null 2>&1 || log "warm-up: $h cannot ping its router $r6"
}

# vrf_server NAME [SERVE-ARGS...]: labnet answering on tcp 80 and udp 53 in
# host NAME, with its name.
vrf_server() {
	local h=$1
	shift
	bg "srv-$h" ip netns exec "$(ns_name "$h")" "$LABNET" serve --name "$h" "$@" --listen tcp::80 --listen udp::53
	wait_for 10 "server in $h" in_ns "$h" "$LABNET" get --timeout 500ms 127.0.0.1:80 ||
		die "server in $h did not start (see $LAB_RUN/srv-$h.log)"
}

# ---------------------------------------------------------------- config

# SCEN_REFUSED: the refusal of the last scen_ctl that the kernel dataplane
# refused (FAILED_PRECONDITION), else empty.
SCEN_REFUSED=

# scen_ctl WHAT CMD...: a configuration step of a scenario. Success: 0.
# The kernel dataplane refusing it as unsupported (FAILED_PRECONDITION, "...
# not supported by this dataplane"): SCEN_REFUSED set, 2. Anything else: a
# FAIL line, 1.
scen_ctl() {
	local what=$1 out
	shift
	SCEN_REFUSED=
	if out=$(ctl "$@" 2>&1); then
		echo "  \$ cloudnatctl$(printf ' %q' "$@")" >&2
		return 0
	fi
	# cloudnatctl prints the status message only; the agent's refusal of
	# intent a dataplane cannot express (FAILED_PRECONDITION) ends with
	# dataplane.ErrUnsupported's text.
	if [ "$LAB_ROUTER" = kernel ] && grep -q 'not supported by this dataplane' <<<"$out"; then
		# shellcheck disable=SC2034 # read by the scenarios
		SCEN_REFUSED=$(grep 'not supported by this dataplane' <<<"$out" | head -1 | sed 's/^cloudnatctl: //')
		return 2
	fi
	fail "$what: cloudnatctl $*" "$(tail -3 <<<"$out" | tr '\n' ' ')"
	return 1
}

# expect_refused NAME WANT-REGEX CMD...: cloudnatctl CMD must fail with an
# error matching WANT-REGEX (case-insensitive).
expect_refused() {
	local name=$1 want=$2 out
	shift 2
	if out=$(ctl "$@" 2>&1); then
		fail "$name" "cloudnatctl $* was accepted"
	elif grep -Eqi -- "$want" <<<"$out"; then
		pass "$name: refused: $(tail -1 <<<"$out" | sed 's/.*desc = //')"
	else
		fail "$name" "cloudnatctl $* failed without naming the conflict ($want): $(tail -1 <<<"$out")"
	fi
}

# expect_no_answer NAME HOST LABNET-GET-ARGS...: no try is answered.
expect_no_answer() {
	local name=$1 h=$2
	shift 2
	local answered
	get_from "$h" "$@" || true
	answered=$(grep -v '^ERR\|^labnet:' <<<"$GOT" || true)
	if [ -n "$answered" ]; then
		fail "$name" "$h -> ${!#} was answered: $(head -1 <<<"$answered")"
	else
		pass "$name: $h -> ${!#} not answered ($(why "$GOT"))"
	fi
}

# expect_icmp_error NAME HOST HOST:PORT: a UDP datagram to a closed port
# comes back as an ICMP port unreachable (connection refused).
expect_icmp_error() {
	local name=$1 h=$2 dst=$3
	if ! get_from "$h" --proto udp --n 1 --timeout 2s "$dst" && grep -q 'connection refused' <<<"$GOT"; then
		pass "$name: $h -> $dst (closed UDP port): ICMP port unreachable came back"
	else
		fail "$name" "$h -> $dst (closed UDP port): want connection refused, got '$(why "$GOT")'"
	fi
}
