# shellcheck shell=bash
# scripts/lab/scenario-peering.sh: NAT on both sides of a peering (issue 12).
#
#   side 1, table 11: peera 10.11.0.2/24 fd00:11::2/64 ── router 10.11.0.1 fd00:11::1
#   side 2, table 12: peerb 10.12.0.2/24 fd00:12::2/64 ── router 10.12.0.1 fd00:12::1
#
# a (peera) is exposed to side 2 as A = 172.16.11.<k> (fd00:172:16:11::<k>),
# b (peerb) to side 1 as B = 192.168.12.<k> (fd00:192:168:12::<k>), where k
# numbers the combination (fresh addresses for each, so nothing of one
# combination lingers in the next). Each side is configured, for both
# families, through cloudnatctl alone, as in test/plugin/static_test.go:
#
#   static       static create --inside a/32 --vrf 11 --outside A/32 --outside-vrf 12
#   masquerade   pool create (range A, outside VRF 12) + pool bind (a/32 in VRF 11)
#   port forward translations in the side's own VRF: tcp A:8080 -> a:80,
#                udp A:5353 -> a:53, udp A:9 -> a:9 (nothing listens), icmp
#                (icmp6) A -> a; the other table reaches A by a lookup in this one
#                (router plumbing: router_route_via_table)
#
# and the mirror for side 2. Precedence (docs/design.md) decides who may
# start flows: static+static both ways; static+masquerade and
# masquerade+static from the masquerading side; static+port forward, port
# forward+static and masquerade+port forward to the forwarded ports. For
# each initiator x towards the other side's Y, IPv4 and IPv6: TCP and UDP
# (two connections each; the server sees x's exposed address), ping, and an
# ICMP error (UDP to a closed port) back to x. Then a configuration that claims an address
# for two modes must be refused, naming the conflict, with nothing changed.
# Every combination is removed again before the next.
#
# The kernel dataplane refuses every combination (static NAT, bindings
# between two tables need the outside table 0: docs/kernel-dataplane.md,
# "Tables, zones and routing"; with one side in table 0 instead, the
# other side's translations in its table would not see packets of the
# first side's zone either): one SKIP line each, naming the refusal.

PEER_T1=11
PEER_T2=12
PEER_A=10.11.0.2
PEER_B=10.12.0.2
PEER_A6=fd00:11::2
PEER_B6=fd00:12::2

# peer_side S [6]: the variables of side S (1 or 2) for combination PEER_K,
# IPv4 or (6) IPv6 addresses; P_LEN is the host prefix length.
peer_side() {
	if [ "$1" = 1 ]; then
		P_HOST=peera P_TABLE=$PEER_T1 P_OTABLE=$PEER_T2
		P_ADDR=$PEER_A P_EXP=172.16.11.$PEER_K P_LEN=32
		[ "${2:-4}" = 6 ] && P_ADDR=$PEER_A6 P_EXP=fd00:172:16:11::$PEER_K P_LEN=128
	else
		P_HOST=peerb P_TABLE=$PEER_T2 P_OTABLE=$PEER_T1
		P_ADDR=$PEER_B P_EXP=192.168.12.$PEER_K P_LEN=32
		[ "${2:-4}" = 6 ] && P_ADDR=$PEER_B6 P_EXP=fd00:192:168:12::$PEER_K P_LEN=128
	fi
	return 0
}

# hostport ADDR PORT: ADDR:PORT, IPv6 in brackets.
hostport() {
	case "$1" in
	*:*) echo "[$1]:$2" ;;
	*) echo "$1:$2" ;;
	esac
}

# peer_mode S MODE add|del: configure (remove) MODE on side S, both
# families. Returns as scen_ctl (2: refused by the kernel dataplane).
peer_mode() {
	local f rc
	for f in 4 6; do
		rc=0
		peer_mode_family "$@" "$f" || rc=$?
		[ "$rc" = 0 ] || [ "$3" = del ] || return "$rc"
	done
}

# peer_mode_family S MODE add|del 4|6
peer_mode_family() {
	local s=$1 m=$2 op=$3 rc=0 pool icmp=icmp
	peer_side "$s" "$4"
	pool=peer$PEER_K-$s-v$4
	[ "$4" = 6 ] && icmp=icmp6
	case "$m/$op" in
	static/add)
		scen_ctl "peering config" static create --inside "$P_ADDR/$P_LEN" --vrf "$P_TABLE" \
			--outside "$P_EXP/$P_LEN" --outside-vrf "$P_OTABLE" || return
		;;
	static/del)
		ctl static delete --vrf "$P_TABLE" --inside "$P_ADDR/$P_LEN" >/dev/null 2>&1 || true
		;;
	masq/add)
		scen_ctl "peering config" pool create "$pool" --outside-vrf "$P_OTABLE" --range "$P_EXP" || return
		scen_ctl "peering config" pool bind "$pool" --vrf "$P_TABLE" --prefix "$P_ADDR/$P_LEN" || return
		;;
	masq/del)
		ctl pool unbind "$pool" --vrf "$P_TABLE" --prefix "$P_ADDR/$P_LEN" >/dev/null 2>&1 || true
		ctl pool delete "$pool" >/dev/null 2>&1 || true
		;;
	portfwd/add)
		scen_ctl "peering config" translation add --proto tcp --vrf "$P_TABLE" --vip "$P_EXP" --port 8080 \
			--to "->$(hostport "$P_ADDR" 80)" || return
		scen_ctl "peering config" translation add --proto udp --vrf "$P_TABLE" --vip "$P_EXP" --port 5353 \
			--to "->$(hostport "$P_ADDR" 53)" || return
		scen_ctl "peering config" translation add --proto udp --vrf "$P_TABLE" --vip "$P_EXP" --port 9 \
			--to "->$(hostport "$P_ADDR" 9)" || return
		scen_ctl "peering config" translation add --proto "$icmp" --vrf "$P_TABLE" --vip "$P_EXP" \
			--to "->$P_ADDR" || return
		if ! router_route_via_table "$P_EXP/$P_LEN" "$P_OTABLE" "$P_TABLE"; then
			fail "peering config" "route $P_EXP/$P_LEN in table $P_OTABLE by a lookup in table $P_TABLE"
			rc=1
		fi
		;;
	portfwd/del)
		router_route_via_table_del "$P_EXP/$P_LEN" "$P_OTABLE" "$P_TABLE" 2>/dev/null || true
		ctl translation del --proto tcp --vrf "$P_TABLE" --vip "$P_EXP" --port 8080 >/dev/null 2>&1 || true
		ctl translation del --proto udp --vrf "$P_TABLE" --vip "$P_EXP" --port 5353 >/dev/null 2>&1 || true
		ctl translation del --proto udp --vrf "$P_TABLE" --vip "$P_EXP" --port 9 >/dev/null 2>&1 || true
		ctl translation del --proto "$icmp" --vrf "$P_TABLE" --vip "$P_EXP" >/dev/null 2>&1 || true
		;;
	esac
	return $rc
}

# peer_flows NAME S MODE-OF-THE-OTHER-SIDE: side S's host starts flows to
# the other side's exposed address, IPv4 then IPv6; the other side must see
# S's exposed address.
peer_flows() {
	local name=$1 s=$2 om=$3 src h dst dh tport=80 uport=53 f v
	if [ "$om" = portfwd ]; then
		tport=8080 uport=5353
	fi
	for f in 4 6; do
		v=
		[ $f = 6 ] && v=6
		peer_side "$s" $f
		src=$P_EXP h=$P_HOST
		peer_side $((3 - s)) $f
		dst=$P_EXP dh=$P_HOST
		expect_answer "$name-$h-tcp$v" "$h" "$dh $src" --n 2 --timeout 2s "$(hostport "$dst" $tport)"
		expect_answer "$name-$h-udp$v" "$h" "$dh $src" --proto udp --n 2 --timeout 2s "$(hostport "$dst" $uport)"
		check_ping "$name-$h-ping$v" "$h" "$dst" "-$f"
		expect_icmp_error "$name-$h-icmp-error$v" "$h" "$(hostport "$dst" 9)"
	done
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
	vrf_host6 peera "$PEER_A6/64" fd00:11::1
	vrf_host6 peerb "$PEER_B6/64" fd00:12::1
	vrf_server peera
	vrf_server peerb
	peer_combination 1 static static 1 2
	peer_combination 2 static masq 2
	peer_combination 3 masq static 1
	peer_combination 4 static portfwd 1
	peer_combination 5 portfwd static 2
	peer_combination 6 masq portfwd 1
}
