# shellcheck shell=bash
# scripts/lab/router-kernel.sh: the lab's router is a "router" network
# namespace that forwards between the hosts' veths; the agent runs inside it
# with the kernel dataplane (nf_tables + conntrack) doing the NAT. Same
# topology, same cloudnatctl configuration, same checks as the VPP router.

router_preflight() {
	ROUTER_NS=$(ns_name router)
	modprobe -q nf_tables 2>/dev/null || true
	modprobe -q nft_chain_nat 2>/dev/null || true
	modprobe -q nf_nat 2>/dev/null || true
}

router_start() {
	ip netns add "$ROUTER_NS"
	LAB_NAMESPACES+=(router)
	ip -n "$ROUTER_NS" link set lo up
	ip netns exec "$ROUTER_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
}

router_attach() {
	local veth=$1
	ip link set "$veth" netns "$ROUTER_NS"
	ip netns exec "$ROUTER_NS" sysctl -qw "net.ipv6.conf.$veth.accept_dad=0" || true
	ip -n "$ROUTER_NS" link set "$veth" up
	echo "$veth"
}

router_addr() {
	case "$2" in
	*:*)
		ip -n "$ROUTER_NS" -6 addr add "$2" dev "$1" nodad
		router_addr_table "$1" "$2"
		;;
	*)
		ip -n "$ROUTER_NS" addr add "$2" dev "$1"
		router_addr_table "$1" "$2"
		;;
	esac
}

router_ready() { :; }

router_agent_exec() { echo "ip netns exec $ROUTER_NS"; }

router_agent_args() { echo "--dataplane kernel --log.level debug --reconcile.interval 3s"; }

router_diag() {
	echo "nft list ruleset (router namespace):"
	ip netns exec "$ROUTER_NS" nft list ruleset 2>&1 | sed 's/^/  /' | head -120
	if command -v conntrack >/dev/null; then
		echo "conntrack -L (router namespace):"
		ip netns exec "$ROUTER_NS" conntrack -L 2>&1 | sed 's/^/  /' | head -40
	fi
	echo "agent log (tail):"
	tail -30 "$LAB_RUN/agent.log" 2>/dev/null | sed 's/^/  /'
}

# router_reset: the agent's nf_tables table disappears and conntrack is
# flushed, as after a reboot of the dataplane; the agent's periodic
# reconcile (--reconcile.interval, shortened by the lab) restores it.
router_reset() {
	ip netns exec "$ROUTER_NS" nft delete table inet "${KERNEL_TABLE:-cloudnat}" || return 1
	ip netns exec "$ROUTER_NS" conntrack -F >/dev/null 2>&1 || true
}
router_reset_what() { echo "the nf_tables table was deleted"; }

router_stop() { :; }

# LAB_SELFTEST=1: instead of the agent, hand-written nf_tables rules do the
# same NAT, to tell a lab problem from a dataplane problem.
router_selftest_nat() {
	local ext=${LAB_IF[extranet]}
	ip netns exec "$ROUTER_NS" nft -f - <<NFT
table ip labself {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr $VIP tcp dport $VIP_PORT dnat to numgen random mod 2 map { 0 : 10.10.2.2, 1 : 10.10.3.2 }
		ip daddr $SNAT4 tcp dport $FWD_PORT dnat to 10.10.2.2:80
	}
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "$ext" ip saddr $INSIDE4 snat to $SNAT4
	}
}
table ip6 labself6 {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "$ext" ip6 saddr fd00:10:1::/64 ip6 daddr != $EXCLUDED6 snat to $SNAT6
	}
}
NFT
	pass "config: self-test nf_tables rules loaded (no agent)"
}

# Tables for the scenarios (scripts/lab/scenarios.sh): table N is a
# VRF device vrfN in the router namespace, an interface joins it as a slave,
# and a route in one table continues in another through the other's VRF
# device (route leaking). Table 0 is the main table. Where the kernel has no
# vrf module, policy routing stands in for VRFs, as the kernel dataplane
# reads it (docs/kernel-dataplane.md): "iif X lookup N" (pref 1000, no
# other selector; both families) puts X in table N, X's connected routes
# move from the main table to table N, with a local route for the router's
# own address there (and "from ADDR lookup N"), and a leak is
# "iif X to PFX lookup M" (pref 1100, so the interface's own table comes
# first) for every interface X of the table.
#
# Addresses used in two tables (the cgnat scenario: the router's
# 100.64.0.254 in tables 1 and 2, and its uplink address 100.64.0.1 in
# table 0 being the clients' address in 1 and 2) need more than that, what
# a VRF device does by itself:
#   - a packet entering X gets the mark KERNEL_LAB_MARK|N (nf_tables table
#     inet cnlab, prerouting), "fwmark KERNEL_LAB_MARK|N lookup N" (pref 980)
#     routes it, and net.ipv{4,6}.fwmark_reflect=1 gives the router's own
#     answers (echo replies, ICMP errors, resets) the mark of the packet
#     they answer: they leave by the table they came from;
#   - the local table's rule moves from pref 0 to 995, after those rules
#     and the dataplane's (990, fwmark lookup of re-zoned replies), so a
#     reply translated back to 100.64.0.1 is routed in its table, not
#     delivered to the router's own uplink address (with VRF devices too);
#   - accept_local=1: a client's source address may be one of the router's
#     (with VRF devices too).
# The mark's upper half is not the dataplane's tag (0x0dc1): the dataplane
# does not take these packets for re-zoned ones.
KERNEL_NO_VRF=
KERNEL_LAB_MARK=0x0c1a0000
declare -A KERNEL_IF_TABLE    # interface -> table (policy routing)
declare -A KERNEL_TABLE_IFS   # table -> its interfaces (policy routing)
KERNEL_TABLES_SET=
router_table_add() {
	if [ -z "$KERNEL_TABLES_SET" ]; then
		KERNEL_TABLES_SET=1
		kernel_tables_setup
	fi
	if [ -z "$KERNEL_NO_VRF" ] && ip -n "$ROUTER_NS" link add "vrf$1" type vrf table "$1" 2>/dev/null; then
		ip -n "$ROUTER_NS" link set "vrf$1" up
		return
	fi
	if [ -z "$KERNEL_NO_VRF" ]; then
		log "no VRF devices in this kernel (modprobe vrf): tables are policy routing rules"
		KERNEL_NO_VRF=1
		kernel_policy_setup
	fi
	local f mark
	mark=$(printf '%#x' $((KERNEL_LAB_MARK | $1)))
	for f in -4 -6; do
		ip -n "$ROUTER_NS" "$f" rule add fwmark "$mark" lookup "$1" pref 980
	done
}
# kernel_tables_setup: what tables need with VRF devices too (a VRF device
# keeps its own addresses out of the local table, not table 0's: a reply
# translated back to the clients' 100.64.0.1, the uplink's address, must
# reach the rule cloudnat routes it by, and the clients' source address
# may be one of the router's).
kernel_tables_setup() {
	local f
	ip netns exec "$ROUTER_NS" sysctl -qw net.ipv4.conf.all.accept_local=1 net.ipv4.conf.default.accept_local=1
	for f in -4 -6; do
		ip -n "$ROUTER_NS" "$f" rule add pref 995 lookup local
		ip -n "$ROUTER_NS" "$f" rule del pref 0 lookup local
	done
}
kernel_policy_setup() {
	ip netns exec "$ROUTER_NS" sysctl -qw net.ipv4.fwmark_reflect=1 net.ipv6.fwmark_reflect=1
	ip netns exec "$ROUTER_NS" nft -f - <<NFT
table inet cnlab {
	chain pre {
		type filter hook prerouting priority mangle;
	}
}
NFT
}
router_set_table() {
	if [ -z "$KERNEL_NO_VRF" ]; then
		ip -n "$ROUTER_NS" link set "$1" master "vrf$2"
		return
	fi
	ip -n "$ROUTER_NS" -4 rule add iif "$1" lookup "$2" pref 1000
	ip -n "$ROUTER_NS" -6 rule add iif "$1" lookup "$2" pref 1000
	ip netns exec "$ROUTER_NS" sysctl -qw "net.ipv4.conf.$1.accept_local=1"
	ip netns exec "$ROUTER_NS" nft add rule inet cnlab pre iifname "$1" \
		meta mark set "$(printf '%#x' $((KERNEL_LAB_MARK | $2)))"
	KERNEL_IF_TABLE[$1]=$2
	KERNEL_TABLE_IFS[$2]+=" $1"
	# An ip rule change has no notification: the agent would see it at its
	# next poll (up to 5 s later, flows of X meanwhile in zone 0). A link
	# change (the alias) makes it look at once, as a VRF device's does.
	ip -n "$ROUTER_NS" link set dev "$1" alias "table $2"
}
# router_addr_table IF ADDR: (policy routing) IF's connected routes of
# ADDR's family (not link-local) move to its table, with a local route for
# ADDR there, and the router's own packets from ADDR look there too; called
# by router_addr.
router_addr_table() {
	local t=${KERNEL_IF_TABLE[$1]:-} fam=-4 pfx
	[ -n "$t" ] || return 0
	case "$2" in *:*) fam=-6 ;; esac
	ip -n "$ROUTER_NS" "$fam" rule add from "${2%/*}" lookup "$t" pref 1000
	ip -n "$ROUTER_NS" "$fam" route add local "${2%/*}" dev "$1" table "$t"
	for pfx in $(ip -n "$ROUTER_NS" "$fam" route show dev "$1" proto kernel | awk '$1 !~ /^fe80/ {print $1}'); do
		ip -n "$ROUTER_NS" "$fam" route del "$pfx" dev "$1" table main
		ip -n "$ROUTER_NS" "$fam" route add "$pfx" dev "$1" table "$t"
	done
}
# router_leak add|del PFX FROM TO: table FROM routes PFX by a lookup in
# table TO (0: the main table). VRF devices: a route by TO's VRF device; to
# the main table, a rule "iif vrfFROM to PFX lookup main" (pref 1100: the
# l3mdev rule's lookup in FROM comes first and falls through when FROM has
# no route). Policy routing: "iif X to PFX lookup TO" for every interface X
# of FROM; from the main table (FROM 0), "to PFX lookup TO" (pref 1100,
# before the main table's rule).
router_leak() {
	local op=$1 pfx=$2 from=$3 to=$4 t ifc p q fam=-4 lt=$4 sel
	[ "$to" = 0 ] && lt=main
	case "$pfx" in *:*) fam=-6 ;; esac
	# A rule "to 0.0.0.0/0" would have no selector but iif (the dataplane
	# would take it for a VRF): two halves.
	p=("$pfx")
	[ "$pfx" = 0.0.0.0/0 ] && p=(0.0.0.0/1 128.0.0.0/1)
	[ "$pfx" = ::/0 ] && p=(::/1 8000::/1)
	if [ -z "$KERNEL_NO_VRF" ]; then
		if [ "$to" = 0 ]; then
			for q in "${p[@]}"; do
				ip -n "$ROUTER_NS" "$fam" rule "$op" iif "vrf$from" to "$q" lookup main pref 1100
			done
			return
		fi
		t=(table "$from")
		[ "$from" = 0 ] && t=()
		ip -n "$ROUTER_NS" route "$op" "$pfx" "${t[@]}" dev "vrf$to"
		return
	fi
	sel=${KERNEL_TABLE_IFS[$from]:-}
	[ "$from" = 0 ] && sel=-
	for ifc in $sel; do
		for q in "${p[@]}"; do
			if [ "$ifc" = - ]; then
				ip -n "$ROUTER_NS" "$fam" rule "$op" to "$q" lookup "$lt" pref 1100
			else
				ip -n "$ROUTER_NS" "$fam" rule "$op" iif "$ifc" to "$q" lookup "$lt" pref 1100
			fi
		done
	done
}
router_route_via_table() { router_leak add "$@"; } # PREFIX FROM-TABLE TO-TABLE
router_route_via_table_del() { router_leak del "$@"; }
