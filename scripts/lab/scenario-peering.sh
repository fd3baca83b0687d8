# shellcheck shell=bash
# scripts/lab/scenario-peering.sh: NAT on both sides of a peering (issue 12).
#
#   side 1, table 11: peera 10.11.0.2/24 ── router 10.11.0.1
#   side 2, table 12: peerb 10.12.0.2/24 ── router 10.12.0.1
#
# a (peera) is exposed to side 2 as A = 172.16.11.<k>, b (peerb) to side 1
# as B = 192.168.12.<k>, where k numbers the combination (fresh addresses
# for each, so nothing of one combination lingers in the next). Each side is
# configured through cloudnatctl alone, as in test/plugin/static_test.go:
#
#   static       static create --inside a/32 --vrf 11 --outside A/32 --outside-vrf 12
#   masquerade   pool create (range A, outside VRF 12) + pool bind (a/32 in VRF 11)
#   port forward translations in the side's own VRF: tcp A:8080 -> a:80,
#                udp A:5353 -> a:53, udp A:9 -> a:9 (nothing listens), icmp
#                A -> a; the other table reaches A by a lookup in this one
#                (router plumbing: router_route_via_table)
#
# and the mirror for side 2. Precedence (docs/design.md) decides who may
# start flows: static+static both ways; static+masquerade and
# masquerade+static from the masquerading side; static+port forward, port
# forward+static and masquerade+port forward to the forwarded ports. For
# each initiator x towards the other side's Y: TCP and UDP (two connections
# each; the server sees x's exposed address), ping, and an ICMP error (UDP
# to a closed port) back to x. Then a configuration that claims an address
# for two modes must be refused, naming the conflict, with nothing changed.
# Every combination is removed again before the next.

PEER_T1=11
PEER_T2=12
PEER_A=10.11.0.2
PEER_B=10.12.0.2

# peer_side S: the variables of side S (1 or 2) for combination PEER_K.
peer_side() {
	if [ "$1" = 1 ]; then
		P_HOST=peera P_ADDR=$PEER_A P_TABLE=$PEER_T1 P_OTABLE=$PEER_T2 P_EXP=172.16.11.$PEER_K
	else
		P_HOST=peerb P_ADDR=$PEER_B P_TABLE=$PEER_T2 P_OTABLE=$PEER_T1 P_EXP=192.168.12.$PEER_K
	fi
}

# peer_mode S MODE add|del: configure (remove) MODE on side S. Returns as
# scen_ctl (2: refused by the kernel dataplane).
peer_mode() {
	local s=$1 m=$2 op=$3 rc=0 pool
	peer_side "$s"
	pool=peer$PEER_K-$s
	case "$m/$op" in
	static/add)
		scen_ctl "peering config" static create --inside "$P_ADDR/32" --vrf "$P_TABLE" \
			--outside "$P_EXP/32" --outside-vrf "$P_OTABLE" || return
		;;
	static/del)
		ctl static delete --vrf "$P_TABLE" --inside "$P_ADDR/32" >/dev/null 2>&1 || true
		;;
	masq/add)
		scen_ctl "peering config" pool create "$pool" --outside-vrf "$P_OTABLE" --range "$P_EXP" || return
		scen_ctl "peering config" pool bind "$pool" --vrf "$P_TABLE" --prefix "$P_ADDR/32" || return
		;;
	masq/del)
		ctl pool unbind "$pool" --vrf "$P_TABLE" --prefix "$P_ADDR/32" >/dev/null 2>&1 || true
		ctl pool delete "$pool" >/dev/null 2>&1 || true
		;;
	portfwd/add)
		scen_ctl "peering config" translation add --proto tcp --vrf "$P_TABLE" --vip "$P_EXP" --port 8080 \
			--to "->$P_ADDR:80" || return
		scen_ctl "peering config" translation add --proto udp --vrf "$P_TABLE" --vip "$P_EXP" --port 5353 \
			--to "->$P_ADDR:53" || return
		scen_ctl "peering config" translation add --proto udp --vrf "$P_TABLE" --vip "$P_EXP" --port 9 \
			--to "->$P_ADDR:9" || return
		scen_ctl "peering config" translation add --proto icmp --vrf "$P_TABLE" --vip "$P_EXP" \
			--to "->$P_ADDR" || return
		router_route_via_table "$P_EXP/32" "$P_OTABLE" "$P_TABLE" || rc=1
		;;
	portfwd/del)
		router_route_via_table_del "$P_EXP/32" "$P_OTABLE" "$P_TABLE" 2>/dev/null || true
		ctl translation del --proto tcp --vrf "$P_TABLE" --vip "$P_EXP" --port 8080 >/dev/null 2>&1 || true
		ctl translation del --proto udp --vrf "$P_TABLE" --vip "$P_EXP" --port 5353 >/dev/null 2>&1 || true
		ctl translation del --proto udp --vrf "$P_TABLE" --vip "$P_EXP" --port 9 >/dev/null 2>&1 || true
		ctl translation del --proto icmp --vrf "$P_TABLE" --vip "$P_EXP" >/dev/null 2>&1 || true
		;;
	esac
	return $rc
}

# peer_flows NAME S MODE-OF-THE-OTHER-SIDE: side S's host starts flows to
# the other side's exposed address; the other side must see S's exposed
# address.
peer_flows() {
	local name=$1 s=$2 om=$3 src h dst dh tport=80 uport=53
	peer_side "$s"
	src=$P_EXP h=$P_HOST
	peer_side $((3 - s))
	dst=$P_EXP dh=$P_HOST
	if [ "$om" = portfwd ]; then
		tport=8080 uport=5353
	fi
	expect_answer "$name-$h-tcp" "$h" "$dh $src" --n 2 --timeout 2s "$dst:$tport"
	expect_answer "$name-$h-udp" "$h" "$dh $src" --proto udp --n 2 --timeout 2s "$dst:$uport"
	check_ping "$name-$h-ping" "$h" "$dst"
	expect_icmp_error "$name-$h-icmp-error" "$h" "$dst:9"
}

# peer_conflict: with side 1 static and side 2 masquerading (combination
# PEER_K), an address claimed by two modes is refused and nothing changes.
peer_conflict() {
	local a b before after
	peer_side 1
	a=$P_EXP
	peer_side 2
	b=$P_EXP
	before=$(ctl -o json static list 2>&1; ctl -o json pool list 2>&1)
	expect_refused "peering-conflict-static-on-pool" "pool" \
		static create --inside "$PEER_B/32" --vrf "$PEER_T2" --outside "$b/32" --outside-vrf "$PEER_T1"
	expect_refused "peering-conflict-pool-on-static" "static" \
		pool create peer-conflict --outside-vrf "$PEER_T2" --range "$a"
	after=$(ctl -o json static list 2>&1; ctl -o json pool list 2>&1)
	if [ "$before" = "$after" ]; then
		pass "peering-conflict-unchanged: static mappings and pools as before the refused requests"
	else
		fail "peering-conflict-unchanged" "static mappings or pools changed: $(diff <(echo "$before") <(echo "$after") | head -4 | tr '\n' ' ')"
	fi
}

# peer_combination K MODE1 MODE2 INITIATOR-SIDES...
peer_combination() {
	local m1=$2 m2=$3 name rc s
	PEER_K=$1
	shift 3
	name="peering-${m1}+${m2}"
	echo "---- peering: side 1 $m1, side 2 $m2"
	rc=0
	peer_mode 1 "$m1" add || rc=$?
	[ $rc = 0 ] && { peer_mode 2 "$m2" add || rc=$?; }
	case $rc in
	0)
		pass "$name-config: side 1 $m1, side 2 $m2 configured through cloudnatctl"
		sleep 0.5
		for s in "$@"; do
			if [ "$s" = 1 ]; then peer_flows "$name" 1 "$m2"; else peer_flows "$name" 2 "$m1"; fi
		done
		[ "$m1/$m2" = static/masq ] && peer_conflict
		;;
	2) skip "$name" "$SCEN_REFUSED" ;;
	esac
	peer_mode 2 "$m2" del
	peer_mode 1 "$m1" del
}

scenario_peering() {
	router_table_add "$PEER_T1"
	router_table_add "$PEER_T2"
	vrf_host peera pa "$PEER_T1" "$PEER_A/24" 10.11.0.1
	vrf_host peerb pb "$PEER_T2" "$PEER_B/24" 10.12.0.1
	vrf_server peera
	vrf_server peerb
	peer_combination 1 static static 1 2
	peer_combination 2 static masq 2
	peer_combination 3 masq static 1
	peer_combination 4 static portfwd 1
	peer_combination 5 portfwd static 2
	peer_combination 6 masq portfwd 1
}
