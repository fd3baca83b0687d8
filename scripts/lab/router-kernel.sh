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
	*:*) ip -n "$ROUTER_NS" -6 addr add "$2" dev "$1" nodad ;;
	*) ip -n "$ROUTER_NS" addr add "$2" dev "$1" ;;
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

# Tables for the scenarios (scripts/lab/scenarios.sh): table N is a VRF
# device vrfN in the router namespace, an interface joins it as a slave, and
# a route in one table continues in another through the other's VRF device
# (route leaking). Table 0 is the main table.
router_table_add() {
	ip -n "$ROUTER_NS" link add "vrf$1" type vrf table "$1"
	ip -n "$ROUTER_NS" link set "vrf$1" up
}
router_set_table() { ip -n "$ROUTER_NS" link set "$1" master "vrf$2"; }
router_route_via_table() { # PREFIX FROM-TABLE TO-TABLE
	local t=(table "$2")
	[ "$2" = 0 ] && t=()
	ip -n "$ROUTER_NS" route add "$1" "${t[@]}" dev "vrf$3"
}
router_route_via_table_del() {
	local t=(table "$2")
	[ "$2" = 0 ] && t=()
	ip -n "$ROUTER_NS" route del "$1" "${t[@]}" dev "vrf$3"
}
