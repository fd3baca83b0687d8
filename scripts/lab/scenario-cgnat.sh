# shellcheck shell=bash
# scripts/lab/scenario-cgnat.sh: the carrier-grade NAT scenario of issue 11
# (LAB_SCENARIOS=cgnat), sourced by scripts/lab.sh and run after the base
# checks. Its own namespaces, the same addresses in two customer tables:
#
#   table 1 "blue"  (one bridged segment, a switch namespace):
#     blue1   100.64.0.1/24  fd00:64:1::11/64 ─┐
#     blue2   100.64.0.2/24  fd00:64:1::12/64 ─┼─ router 100.64.0.254, 192.0.2.1, fd00:64:1::1
#     bluesrv 192.0.2.2/24   (a public host)  ─┘
#   table 2 "red":
#     red1    100.64.0.1/24  fd00:64:2::11/64 ─── router 100.64.0.254, fd00:64:2::1
#   table 0, the uplink:
#     inet    100.100.0.2/10 fd00:64::2/64    ─── router 100.64.0.1/10, fd00:64::1
#             (the internet: its server on 198.51.100.10, on its loopback;
#             203.0.113.0/24 and fd00:65::/64 lie one hop beyond it)
#
# Routes: each client table's default route is a lookup in table 0; table 0
# has a default route to inet and routes 192.0.2.2/32 and each table's IPv6
# prefix back into the client tables (VPP: ip4-/ip6-lookup-in-table; the
# kernel router: the client tables' default routes via inet onlink, the
# routes back by device; the tables are VRF devices, or policy routing
# where the kernel has no vrf module: scripts/lab/router-kernel.sh).
# The NAT is configured only through cloudnatctl: pool "cgnat" in table 0
# with one address, 100.64.0.1 (the router's own uplink address, and blue1's
# and red1's inside address too), bound to (1, 100.64.0.0/24) and
# (2, 100.64.0.0/24).
#
# Checks: TCP, UDP, ping from blue1, blue2 and red1 to the internet,
# translated to the pool address; blue1 and red1 at the same time from the
# same source port (UDP, TCP) and with the same echo id, each answered, on
# two public ports; ICMP errors inbound (port unreachable, time exceeded from
# the router (hop 1) and from beyond inet (hop 2)) reaching the right client,
# and outbound (a client's port unreachable reaching the internet server
# through the mapping); IPv6 both ways untranslated; 192.0.2.2 reachable
# from inet with untranslated replies, and its own flows untranslated; the
# subscribers (cloudnatctl subscriber list), their public ports inside their
# blocks, the block log stream's allocation records, and (VPP) vppctl
# cnat show subscribers. The same checks on both routers; the pool's blocks
# are 64 ports (the kernel dataplane gives every bound address one block at
# bind time). Should a dataplane refuse the pool, one SKIP line for the NAT
# checks, and the routing ones (IPv6, 192.0.2.2) still run.

CG_POOL=cgnat
CG_POOL4=100.64.0.1  # the pool's one address: the router's uplink address
CG_SRV4=198.51.100.10 # the internet server (inet's loopback)
CG_INET4=100.100.0.2
CG_INET6=fd00:64::2
CG_FAR4=203.0.113.99 # one hop beyond inet
CG_INSIDE4=100.64.0.0/24
CG_BLUESRV=192.0.2.2

# segment table router-addresses...
CG_SEGMENTS=(
	"blue   1 100.64.0.254/24 192.0.2.1/24 fd00:64:1::1/64"
	"red    2 100.64.0.254/24 fd00:64:2::1/64"
	"uplink 0 100.64.0.1/10 fd00:64::1/64"
)
# host segment v4-addr/len v4-router v6-addr/len v6-router
CG_HOSTS=(
	"blue1   blue   100.64.0.1/24  100.64.0.254 fd00:64:1::11/64 fd00:64:1::1"
	"blue2   blue   100.64.0.2/24  100.64.0.254 fd00:64:1::12/64 fd00:64:1::1"
	"bluesrv blue   192.0.2.2/24   192.0.2.1    -                -"
	"red1    red    100.64.0.1/24  100.64.0.254 fd00:64:2::11/64 fd00:64:2::1"
	"inet    uplink 100.100.0.2/10 100.64.0.1   fd00:64::2/64    fd00:64::1"
)
declare -A CG_IF # segment -> router interface

# ---------------------------------------------------------------- plumbing

# cg_table IF TABLE: put the router interface IF into TABLE (before its
# addresses), creating the table first (the router's helpers,
# scripts/lab/scenarios.sh: a VPP table; on the kernel a VRF device, or
# policy routing where the kernel has no vrf module).
declare -A CG_TABLES
cg_table() {
	local ifname=$1 t=$2
	[ "$t" = 0 ] && return 0
	if [ -z "${CG_TABLES[$t]:-}" ]; then
		router_table_add "$t"
		CG_TABLES[$t]=1
	fi
	router_set_table "$ifname" "$t"
}

# cg_routes: client tables -> table 0 by default; table 0 -> the inet peer by
# default, and 192.0.2.2/32 and each client table's IPv6 prefix back.
cg_routes() {
	local up=${CG_IF[uplink]} blue=${CG_IF[blue]} red=${CG_IF[red]}
	if [ "$LAB_ROUTER" = vpp ]; then
		local c
		for c in \
			"ip route add 0.0.0.0/0 via $CG_INET4 $up" \
			"ip route add ::/0 via $CG_INET6 $up" \
			"ip route add 0.0.0.0/0 table 1 via ip4-lookup-in-table 0" \
			"ip route add ::/0 table 1 via ip6-lookup-in-table 0" \
			"ip route add 0.0.0.0/0 table 2 via ip4-lookup-in-table 0" \
			"ip route add ::/0 table 2 via ip6-lookup-in-table 0" \
			"ip route add $CG_BLUESRV/32 via ip4-lookup-in-table 1" \
			"ip route add fd00:64:1::/64 via ip6-lookup-in-table 1" \
			"ip route add fd00:64:2::/64 via ip6-lookup-in-table 2"; do
			# shellcheck disable=SC2086
			vpp_do $c >/dev/null
		done
	else
		local r=(ip -n "$ROUTER_NS")
		"${r[@]}" route add default via "$CG_INET4" dev "$up"
		"${r[@]}" -6 route add default via "$CG_INET6" dev "$up"
		"${r[@]}" route add table 1 default via "$CG_INET4" dev "$up" onlink
		"${r[@]}" -6 route add table 1 default via "$CG_INET6" dev "$up" onlink
		"${r[@]}" route add table 2 default via "$CG_INET4" dev "$up" onlink
		"${r[@]}" -6 route add table 2 default via "$CG_INET6" dev "$up" onlink
		"${r[@]}" route add "$CG_BLUESRV/32" dev "$blue"
		"${r[@]}" -6 route add fd00:64:1::/64 dev "$blue"
		"${r[@]}" -6 route add fd00:64:2::/64 dev "$red"
	fi
}

# cg_veth_to_switch NAME SEG: a veth pair NAME/NAMEs whose NAMEs end is a
# port of the segment's bridge.
cg_veth_to_switch() {
	local v=$1 sw
	sw=$(ns_name "cg-sw-$2")
	ip link add "$v" type veth peer name "${v}s"
	ip link set "${v}s" netns "$sw"
	ip -n "$sw" link set "${v}s" master br0
	ip -n "$sw" link set "${v}s" up
}

cg_topology_create() {
	local line seg t addrs a h a4 r4 a6 r6 v ifname i=0 sw
	for line in "${CG_SEGMENTS[@]}"; do
		read -r seg t addrs <<<"$line"
		# A switch namespace with a bridge joins the segment's hosts and the
		# router's interface; the router sees one interface per segment on
		# either dataplane.
		sw=$(ns_name "cg-sw-$seg")
		ip netns add "$sw"
		LAB_NAMESPACES+=("cg-sw-$seg")
		ip -n "$sw" link set lo up
		ip -n "$sw" link add br0 type bridge mcast_snooping 0
		ip -n "$sw" link set br0 up
		v="cg${LAB_ID}${seg:0:1}"
		cg_veth_to_switch "$v" "$seg"
		# shellcheck disable=SC2034 # common.sh's cleanup deletes them
		LAB_VETH["cg-$seg"]=$v
		ifname=$(router_attach "$v")
		CG_IF[$seg]=$ifname
		cg_table "$ifname" "$t"
		for a in $addrs; do
			router_addr "$ifname" "$a"
		done
	done
	router_ready
	cg_routes
	for line in "${CG_HOSTS[@]}"; do
		read -r h seg a4 r4 a6 r6 <<<"$line"
		h=cg-$h
		i=$((i + 1))
		v="cg${LAB_ID}h$i"
		ip netns add "$(ns_name "$h")"
		LAB_NAMESPACES+=("$h")
		cg_veth_to_switch "$v" "$seg"
		ip link set "$v" netns "$(ns_name "$h")"
		in_ns "$h" ip link set "$v" name eth0
		in_ns "$h" ip link set lo up
		in_ns "$h" sysctl -qw net.ipv6.conf.eth0.accept_ra=0 net.ipv6.conf.eth0.accept_dad=0
		no_offload eth0 "$h"
		in_ns "$h" ip link set eth0 up
		in_ns "$h" ip addr add "$a4" dev eth0
		in_ns "$h" ip route add default via "$r4"
		if [ "$a6" != - ]; then
			in_ns "$h" ip -6 addr add "$a6" dev eth0 nodad
			in_ns "$h" ip -6 route add default via "$r6"
		fi
	done
	# The internet: a server address on its loopback, prefixes one hop
	# beyond it (on a veth pair of its own: the VM's kernel may lack the
	# dummy device) for TTL-limited probes, and no ICMP rate limit, so every
	# probe gets its error.
	in_ns cg-inet ip addr add "$CG_SRV4/32" dev lo
	in_ns cg-inet ip link add d0 type veth peer name d0p
	in_ns cg-inet ip link set d0p up
	in_ns cg-inet ip link set d0 up
	in_ns cg-inet ip route add 203.0.113.0/24 dev d0
	in_ns cg-inet ip -6 route add fd00:65::/64 dev d0
	in_ns cg-inet sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
}

# cg_warmup: every host pings its router, so the router knows them all.
cg_warmup() {
	local line h seg a4 r4 a6 r6
	for line in "${CG_HOSTS[@]}"; do
		read -r h seg a4 r4 a6 r6 <<<"$line"
		in_ns "cg-$h" ping -c 1 -i 0.2 -w 3 "$r4" >/dev/null 2>&1 ||
			log "warm-up: cg-$h cannot ping its router $r4"
		[ "$r6" = - ] || in_ns "cg-$h" ping -6 -c 1 -i 0.2 -w 3 "$r6" >/dev/null 2>&1 ||
			log "warm-up: cg-$h cannot ping its router $r6"
	done
}

cg_servers_start() {
	local h
	# The internet's server answers with the peer's address and port. Its UDP
	# sockets are bound to each address: a wildcard socket would answer from
	# the outgoing route's source (100.100.0.2), not the address asked.
	bg srv-cg-inet ip netns exec "$(ns_name cg-inet)" "$LABNET" serve --name internet --port-too \
		--listen tcp::80 --listen "udp:$CG_SRV4:53" --listen "udp:[$CG_INET6]:53"
	for h in bluesrv blue1 red1; do
		bg "srv-cg-$h" ip netns exec "$(ns_name "cg-$h")" "$LABNET" serve --name "$h" --listen tcp::80 --listen udp::53
	done
	for h in inet bluesrv blue1 red1; do
		wait_for 10 "server in cg-$h" in_ns "cg-$h" "$LABNET" get --timeout 500ms 127.0.0.1:80 ||
			die "server in cg-$h did not start (see $LAB_RUN/srv-cg-$h.log)"
	done
}

# cg_config: the pool and its bindings, through cloudnatctl only. Returns 2
# when the dataplane refuses the pool: one SKIP line.
cg_config() {
	local out
	# Blocks of 64 ports: the kernel dataplane gives every bound address its
	# block at bind time (docs/kernel-dataplane.md), 2 x 256 addresses here,
	# which blocks of 256 (252 in 1024-65535) would not cover.
	if ! out=$(ctl pool create "$CG_POOL" --outside-vrf 0 --range "$CG_POOL4" --block-size 64 --max-blocks 4 2>&1); then
		if grep -qi 'not supported\|precondition' <<<"$out"; then
			skip cgnat "the $LAB_ROUTER dataplane refuses the pool: $(tail -1 <<<"$out")"
			return 2
		fi
		fail "cgnat-config: cloudnatctl pool create $CG_POOL" "$(tail -2 <<<"$out" | tr '\n' ' ')"
		return 1
	fi
	echo "  \$ cloudnatctl pool create $CG_POOL --outside-vrf 0 --range $CG_POOL4 --block-size 64 --max-blocks 4" >&2
	ctl_do pool bind "$CG_POOL" --vrf 1 --prefix "$CG_INSIDE4" || return 1
	ctl_do pool bind "$CG_POOL" --vrf 2 --prefix "$CG_INSIDE4" || return 1
	pass "cgnat-config: pool $CG_POOL ($CG_POOL4 in table 0) bound to (1, $CG_INSIDE4) and (2, $CG_INSIDE4) through cloudnatctl"
	wait_for 15 "the bindings in the dataplane" sh -c \
		"'$CTL_BIN' --addr '$AGENT_ADDR' pool bindings 2>/dev/null | grep -c '$CG_INSIDE4' | grep -q 2" || true
	sleep 1
}

# ---------------------------------------------------------------- checks

CG_POOL_RE=${CG_POOL4//./\\.}

# cg_parallel NAME WANT-REGEX HOST:ARGS... : labnet get in several hosts at
# once (ARGS split on spaces); every host's every line must match WANT-REGEX,
# and the public "<addr> <port>" pairs they saw must all differ.
cg_parallel() {
	local name=$1 want=$2 spec h args pids=() hosts=() i rc ok=1 seen detail=""
	shift 2
	for spec in "$@"; do
		h=${spec%%:*}
		args=${spec#*:}
		# shellcheck disable=SC2086
		in_ns "cg-$h" timeout 60 "$LABNET" get $args >"$LAB_RUN/cg-par-$h.out" 2>&1 &
		pids+=("$!")
		hosts+=("$h")
	done
	for i in "${!pids[@]}"; do
		wait "${pids[i]}" && rc=0 || rc=$?
		h=${hosts[i]}
		if [ "$rc" != 0 ] || grep -Evq "^$want\$" <(grep -v '^labnet:' "$LAB_RUN/cg-par-$h.out"); then
			ok=0
		fi
		detail+="$h '$(grep -v '^labnet:' "$LAB_RUN/cg-par-$h.out" | sort -u | tr '\n' ';' | sed 's/;$//')', "
	done
	detail=${detail%, }
	seen=$(for h in "${hosts[@]}"; do grep -v '^labnet:' "$LAB_RUN/cg-par-$h.out" | awk '{print $2, $3}' | sort -u; done | sort | uniq -d)
	if [ "$ok" = 1 ] && [ -z "$seen" ]; then
		pass "$name: $detail"
	elif [ "$ok" = 1 ]; then
		fail "$name" "two clients share a public address and port: $seen ($detail)"
	else
		fail "$name" "$detail"
	fi
}

# cg_expect_error NAME HOST ERROR-REGEX LABNET-GET-ARGS...: the try must end
# with an ICMP error the host's socket was told about.
cg_expect_error() {
	local name=$1 h=$2 want=$3
	shift 3
	get_from "cg-$h" "$@" || true
	if grep -Eq "^ERR .*($want)" <<<"$GOT"; then
		pass "$name: cg-$h -> ${!#}: $(grep -Eo "$want" <<<"$GOT" | head -1)"
	else
		fail "$name" "cg-$h -> ${!#}: want an error '$want', got '$(why "$GOT")'"
	fi
}

# cg_ping_error NAME HOST DST WANT PING-ARGS...: ping gets an ICMP error.
cg_ping_error() {
	local name=$1 h=$2 dst=$3 want=$4 out
	shift 4
	out=$(in_ns "cg-$h" ping -c 2 -i 0.3 -W 1 "$@" "$dst" 2>&1) || true
	if grep -q "$want" <<<"$out"; then
		pass "$name: cg-$h ping $* $dst: $(grep -m1 "$want" <<<"$out" | sed 's/ icmp_seq=[0-9]*//')"
	else
		fail "$name" "cg-$h ping $* $dst: no '$want': $(tr '\n' ' ' <<<"$out" | tail -c 200)"
	fi
}

# The same echo id from blue1 and red1 (same inside address) at once.
cg_ping_same_id() {
	local p1 p2 rc1 rc2 o1 o2
	in_ns cg-blue1 ping -c 4 -i 0.2 -W 1 -e 4343 "$CG_SRV4" >"$LAB_RUN/cg-ping-b1.out" 2>&1 &
	p1=$!
	in_ns cg-red1 ping -c 4 -i 0.2 -W 1 -e 4343 "$CG_SRV4" >"$LAB_RUN/cg-ping-r1.out" 2>&1 &
	p2=$!
	wait $p1 && rc1=0 || rc1=$?
	wait $p2 && rc2=0 || rc2=$?
	o1=$(grep -o '[0-9]* received' "$LAB_RUN/cg-ping-b1.out" || echo "no summary")
	o2=$(grep -o '[0-9]* received' "$LAB_RUN/cg-ping-r1.out" || echo "no summary")
	if [ "$rc1" = 0 ] && [ "$rc2" = 0 ]; then
		pass "cgnat-icmp-same-id: blue1 and red1 (both 100.64.0.1) ping $CG_SRV4 at once with echo id 4343 (blue1 $o1, red1 $o2)"
	else
		fail "cgnat-icmp-same-id: blue1 and red1 ping $CG_SRV4 at once with echo id 4343" "blue1 $o1, red1 $o2"
	fi
}

# An ICMP error made inside goes out through the mapping: the client's
# flow gets its answer and closes; then the internet server sends again, from
# its own address and port to the client's public address and port; the
# closed port's port unreachable must come back to it, translated.
cg_icmp_error_out() {
	local h=$1 lport=$2 pub port
	if ! get_from "cg-$h" --proto udp --local ":$lport" --n 1 "$CG_SRV4:53" ||
		! read -r _ pub port <<<"$GOT" || [ -z "$port" ]; then
		fail "cgnat-icmp-error-out-$h" "cg-$h -> $CG_SRV4:53 from port $lport: $(why "$GOT")"
		return
	fi
	sleep 0.2
	get_from cg-inet --proto udp --local "$CG_SRV4:53" --n 1 --timeout 2s "$pub:$port" || true
	if grep -q '^ERR .*connection refused' <<<"$GOT"; then
		pass "cgnat-icmp-error-out-$h: cg-$h's closed port $lport (public $pub:$port) answered the internet with port unreachable"
	else
		fail "cgnat-icmp-error-out-$h" "the internet sent to $pub:$port (cg-$h's closed port $lport): want 'connection refused', got '$(why "$GOT")'"
	fi
}

# cg_subscribers: 3 subscribers with blocks, and each public port the
# internet server saw for a client lies in that client's blocks.
cg_subscribers() {
	local out sub line ok=1 n
	if ! out=$(ctl subscriber list 2>&1); then
		fail "cgnat-subscribers" "cloudnatctl subscriber list: $(tail -1 <<<"$out")"
		return
	fi
	echo "$out" >"$LAB_RUN/cg-subscribers.txt"
	n=0
	for sub in "1 100.64.0.1" "1 100.64.0.2" "2 100.64.0.1"; do
		# POOL VRF INSIDE PUBLIC SESSIONS PORTS-IN-USE BLOCKS
		line=$(awk -v v="${sub% *}" -v a="${sub#* }" -v p="$CG_POOL" \
			'$1 == p && $2 == v && $3 == a && $4 != "" && $7 ~ /[0-9]+-[0-9]+/' <<<"$out")
		if [ -n "$line" ]; then n=$((n + 1)); else ok=0; fi
	done
	if [ "$ok" = 1 ]; then
		pass "cgnat-subscribers: cloudnatctl subscriber list shows (1, 100.64.0.1), (1, 100.64.0.2), (2, 100.64.0.1) with public address and blocks"
	else
		fail "cgnat-subscribers" "$n of 3 subscribers listed with blocks: $(tr '\n' ';' <<<"$out" | tail -c 400)"
	fi
	# Ports seen by the internet server (same-port checks) within blocks.
	local h vrf ins port blocks inblock bad=""
	for h in blue1:1:100.64.0.1 red1:2:100.64.0.1 blue2:1:100.64.0.2; do
		IFS=: read -r h vrf ins <<<"$h"
		[ -s "$LAB_RUN/cg-par-$h.out" ] || continue
		blocks=$(awk -v v="$vrf" -v a="$ins" -v p="$CG_POOL" '$1 == p && $2 == v && $3 == a {print $7}' <<<"$out")
		while read -r port; do
			inblock=$(tr ',' '\n' <<<"$blocks" | awk -F- -v p="$port" '$1 <= p && p <= $2 {print "y"}')
			[ -n "$inblock" ] || bad+="$h port $port not in '$blocks'; "
		done < <(awk '/^internet /{print $3}' "$LAB_RUN/cg-par-$h.out" | sort -u)
	done
	if [ -z "$bad" ]; then
		pass "cgnat-blocks: the public ports the internet saw lie in each subscriber's own blocks"
	else
		fail "cgnat-blocks" "$bad"
	fi
}

cg_blocklog() {
	local sub missing=""
	sleep 0.5 # records are drained every 0.1 s
	for sub in "1 100.64.0.1" "1 100.64.0.2" "2 100.64.0.1"; do
		grep -q "alloc *pool=$CG_POOL vrf=${sub% *} inside=${sub#* } public=$CG_POOL4 ports=[0-9]*-[0-9]*" \
			"$LAB_RUN/cg-blocklog.log" || missing+="(${sub/ /, }) "
	done
	if [ -z "$missing" ]; then
		pass "cgnat-blocklog: cloudnatctl blocklog --follow streamed allocation records for the 3 subscribers ($(grep -c ' alloc ' "$LAB_RUN/cg-blocklog.log") allocs)"
	else
		fail "cgnat-blocklog" "no allocation record for ${missing% }: $(grep -v '^====' "$LAB_RUN/cg-blocklog.log" | tail -3 | tr '\n' ';')"
	fi
}

cg_vpp_show() {
	local out ok=1 sub
	[ "$LAB_ROUTER" = vpp ] || return 0
	out=$(vppctl cnat show subscribers 2>&1)
	echo "$out" >"$LAB_RUN/cg-vpp-subscribers.txt"
	for sub in "table 1.*100.64.0.1" "table 1.*100.64.0.2" "table 2.*100.64.0.1"; do
		grep -Eq "$sub\b" <<<"$out" || ok=0
	done
	if [ "$ok" = 1 ]; then
		pass "cgnat-vppctl: vppctl cnat show subscribers lists the 3 subscribers"
	else
		fail "cgnat-vppctl" "vppctl cnat show subscribers: $(tr '\n' ';' <<<"$out" | tail -c 400)"
	fi
}

# Checks that need no NAT: IPv6 routed untranslated between the tables and
# the uplink, and the public host 192.0.2.2 in blue.
cg_routing_checks() {
	echo "---- cgnat: IPv6 between blue/red and the uplink, untranslated"
	expect_answer "cgnat6-tcp-blue1" cg-blue1 "internet fd00:64:1::11 [0-9]+" --n 2 "[$CG_INET6]:80"
	expect_answer "cgnat6-udp-blue2" cg-blue2 "internet fd00:64:1::12 [0-9]+" --proto udp --n 2 "[$CG_INET6]:53"
	expect_answer "cgnat6-tcp-red1" cg-red1 "internet fd00:64:2::11 [0-9]+" --n 2 "[$CG_INET6]:80"
	expect_answer "cgnat6-in-blue1" cg-inet "blue1 $CG_INET6" --n 2 "[fd00:64:1::11]:80"
	expect_answer "cgnat6-in-red1" cg-inet "red1 $CG_INET6" --proto udp --n 2 "[fd00:64:2::11]:53"
	check_ping "cgnat6-ping-red1" cg-red1 "$CG_INET6" -6
	echo "---- cgnat: 192.0.2.2 in blue, reachable from the uplink, untranslated"
	expect_answer "cgnat-public-in-tcp" cg-inet "bluesrv $CG_INET4" --n 2 "$CG_BLUESRV:80"
	expect_answer "cgnat-public-in-udp" cg-inet "bluesrv $CG_INET4" --proto udp --n 2 "$CG_BLUESRV:53"
	check_ping "cgnat-public-in-ping" cg-inet "$CG_BLUESRV"
	expect_answer "cgnat-public-out-tcp" cg-bluesrv "internet $CG_BLUESRV [0-9]+" --n 2 "$CG_SRV4:80"
}

cg_nat_checks() {
	local h
	echo "---- cgnat: blue1, blue2, red1 -> the internet, translated to the pool ($CG_POOL4)"
	for h in blue1 blue2 red1; do
		expect_answer "cgnat-tcp-$h" "cg-$h" "internet $CG_POOL_RE [0-9]+" --n 3 "$CG_SRV4:80"
		expect_answer "cgnat-udp-$h" "cg-$h" "internet $CG_POOL_RE [0-9]+" --proto udp --n 3 "$CG_SRV4:53"
		check_ping "cgnat-ping-$h" "cg-$h" "$CG_SRV4"
	done
	echo "---- cgnat: the same inside address, source port and echo id in two tables at once"
	cg_parallel "cgnat-same-port-udp" "internet $CG_POOL_RE [0-9]+" \
		"blue1:--proto udp --local :40000 --n 3 $CG_SRV4:53" \
		"red1:--proto udp --local :40000 --n 3 $CG_SRV4:53" \
		"blue2:--proto udp --local :40000 --n 3 $CG_SRV4:53"
	cg_parallel "cgnat-same-port-tcp" "internet $CG_POOL_RE [0-9]+" \
		"blue1:--local :40001 --n 1 $CG_SRV4:80" \
		"red1:--local :40001 --n 1 $CG_SRV4:80"
	cg_ping_same_id
	echo "---- cgnat: ICMP errors both ways"
	for h in blue1 red1; do
		cg_expect_error "cgnat-port-unreach-$h" "$h" "connection refused" --proto udp --n 1 "$CG_SRV4:54"
	done
	cg_expect_error "cgnat-ttl2-udp-blue1" blue1 "no route to host" --proto udp --ttl 2 --n 1 "$CG_FAR4:53"
	cg_expect_error "cgnat-ttl2-tcp-red1" red1 "no route to host" --ttl 2 --n 1 "$CG_FAR4:80"
	cg_ping_error "cgnat-ttl2-ping-red1" red1 "$CG_FAR4" "Time to live exceeded" -t 2
	cg_expect_error "cgnat-ttl1-udp-red1" red1 "no route to host" --proto udp --ttl 1 --n 1 "$CG_FAR4:53"
	cg_ping_error "cgnat-ttl1-ping-blue1" blue1 "$CG_FAR4" "Time to live exceeded" -t 1
	cg_icmp_error_out blue1 40010
	cg_icmp_error_out red1 40010
	echo "---- cgnat: subscribers and their blocks"
	cg_subscribers
	cg_blocklog
	cg_vpp_show
	echo "---- cgnat: the agent restarted (a full resync of pools, bindings, SNAT interfaces)"
	cg_agent_restart
}

# The agent restarts and resyncs everything against the dataplane: the pool
# and its bindings stay, and the source NAT feature the bindings turned on
# stays too (it is not one of the agent's SNAT interfaces, and must not be
# taken for drift).
cg_agent_restart() {
	local out
	stop_pid "$AGENT_PID"
	agent_start
	# The restarted agent's first full sync (what turned the bindings'
	# interfaces off before the plugin left them out of its dump).
	wait_for 20 "the agent's first full sync" sh -c \
		"'$CTL_BIN' --addr '$AGENT_ADDR' status 2>/dev/null | grep 'last full sync:' | grep -qv never" || true
	out=$(ctl pool bindings 2>&1) || true
	if [ "$(grep -c "$CG_INSIDE4" <<<"$out")" = 2 ]; then
		pass "cgnat-agent-restart: both bindings listed again after an agent restart"
	else
		fail "cgnat-agent-restart" "pool bindings after an agent restart: $(tr '\n' ';' <<<"$out")"
	fi
	expect_answer "cgnat-agent-restart-udp-blue2" cg-blue2 "internet $CG_POOL_RE [0-9]+" --proto udp --n 2 "$CG_SRV4:53"
	expect_answer "cgnat-agent-restart-tcp-red1" cg-red1 "internet $CG_POOL_RE [0-9]+" --n 2 "$CG_SRV4:80"
}

scenario_cgnat() {
	local rc=0
	log "cgnat: building blue/red/uplink"
	cg_topology_create
	cg_warmup
	cg_servers_start
	bg cg-blocklog "$CTL_BIN" --addr "$AGENT_ADDR" blocklog --follow
	cg_config || rc=$?
	[ "$rc" = 0 ] && cg_nat_checks
	[ "$rc" = 1 ] || cg_routing_checks
}
