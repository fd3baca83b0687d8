# shellcheck shell=bash
# scripts/lab/scenario-natgw.sh: a NAT gateway (issue 12, IEP-4) for a
# network of three interfaces reaching an "internet".
#
#   network, table 21: nic1 10.21.1.2/24 fd00:21:1::2/64 ─┐
#                      nic2 10.21.2.2/24 fd00:21:2::2/64 ─┼─ router ── internet
#                      nic3 10.21.3.2/24                 ─┘   203.0.113.2/24
#                      (virtual IP 198.51.100.10)             fd00:203::2/64
#                                              (table 0: the gateway's public side)
#
# Table 21's default routes are a lookup in table 0, the main table (the
# kernel dataplane takes pools and static NAT between two tables only with
# outside table 0, docs/kernel-dataplane.md; one topology for both routers);
# the internet knows only 198.51.100.0/24 and 2001:db8:100::/64 (the public
# addresses) behind the router. The dual-stack gateway lab-gw (network 21, outsideVRF 0, ips
# ip1 = 198.51.100.1 and 2001:db8:100::1, 64 ports per interface, selector
# app=web) and the three interfaces are one YAML file applied with
# cloudnatctl apply -f. Checks: nic1 and nic2 reach the internet's server
# (which answers with the peer's address and port) as 198.51.100.1 and
# 2001:db8:100::1 with ports inside their own blocks; nic3 as its virtual IP;
# the status shows 2 members and portsUsed 128; unsolicited inbound traffic
# to the gateway address is dropped; relabelling nic2 out of the selector
# (apply again) leaves one member and nic2 untranslated by the gateway.

NATGW_NET=21
NATGW_OUT=0
NATGW_IP=198.51.100.1
NATGW_IP6=2001:db8:100::1
NATGW_VIP=198.51.100.10
NATGW_INET=203.0.113.2
NATGW_INET6=fd00:203::2

# natgw_yaml NIC2-APP: the gateway and its interfaces, nic2 labelled
# app=NIC2-APP.
natgw_yaml() {
	cat <<EOF
apiVersion: cloudnat.io/v1alpha1
kind: NATGateway
metadata:
  name: lab-gw
spec:
  type: Public
  ipFamilies: [IPv4, IPv6]
  network: $NATGW_NET
  outsideVRF: $NATGW_OUT
  ips:
    - name: ip1
      ip: [$NATGW_IP, "$NATGW_IP6"]
  portsPerNetworkInterface: 64
  networkInterfaceSelector:
    matchLabels: {app: web}
---
apiVersion: cloudnat.io/v1alpha1
kind: NetworkInterface
metadata:
  name: nic1
  labels: {app: web}
spec:
  network: $NATGW_NET
  ips: [10.21.1.2, "fd00:21:1::2"]
---
apiVersion: cloudnat.io/v1alpha1
kind: NetworkInterface
metadata:
  name: nic2
  labels: {app: $1}
spec:
  network: $NATGW_NET
  ips: [10.21.2.2, "fd00:21:2::2"]
---
apiVersion: cloudnat.io/v1alpha1
kind: NetworkInterface
metadata:
  name: nic3
  labels: {app: web}
spec:
  network: $NATGW_NET
  outsideVRF: $NATGW_OUT
  ips: [10.21.3.2]
  virtualIP: $NATGW_VIP
EOF
}

# natgw_status: the gateway as JSON in NATGW_JSON.
natgw_status() { NATGW_JSON=$(ctl -o json natgw get lab-gw 2>&1); }

# natgw_block NIC: "start end" of NIC's block in NATGW_JSON (empty if none).
natgw_block() {
	jq -r --arg n "$1" '.status.members[]? | select(.interface == $n) | "\(.port_start) \(.port_end)"' \
		<<<"$NATGW_JSON" 2>/dev/null
}

# natgw_member_flows PREFIX NIC: NIC reaches the internet as the gateway
# address with source ports inside its block, TCP (two connections) and
# UDP, IPv4 and IPv6 (the same block on both addresses).
natgw_member_flows() {
	local pre=$1 nic=$2 start end proto port bad line ip p f v gw dst
	read -r start end <<<"$(natgw_block "$nic")"
	if ! [[ "$start" =~ ^[0-9]+$ && "$end" =~ ^[0-9]+$ ]]; then
		fail "$pre-$nic" "natgw get lists no block for $nic: $(tr '\n' ' ' <<<"$NATGW_JSON" | head -c 300)"
		return
	fi
	for f in 4 6; do
		for proto in tcp udp; do
			port=80 v='' gw=$NATGW_IP dst=$NATGW_INET:
			[ $proto = udp ] && port=53
			[ $f = 6 ] && v=6 gw=$NATGW_IP6 dst="[$NATGW_INET6]:"
			if ! get_from "$nic" --proto $proto --n 2 --timeout 2s "$dst$port"; then
				fail "$pre-$nic-$proto$v" "$nic -> $dst$port: $(why "$GOT")"
				continue
			fi
			bad=
			while read -r line; do
				read -r _ ip p <<<"$line"
				if [ "$ip" != "$gw" ] || ! [[ "$p" =~ ^[0-9]+$ ]] || [ "$p" -lt "$start" ] || [ "$p" -gt "$end" ]; then
					bad="$line"
				fi
			done <<<"$GOT"
			if [ -z "$bad" ]; then
				pass "$pre-$nic-$proto$v: $nic -> internet seen as $(tr '\n' ',' <<<"$GOT" | sed 's/,$//') (block $start-$end)"
			else
				fail "$pre-$nic-$proto$v" "$nic -> internet seen as '$bad', want $gw with a port in $start-$end"
			fi
		done
	done
}

# natgw_expect_members N PORTS: the status lists N members, portsUsed PORTS.
natgw_expect_members() {
	local name=$1 n=$2 ports=$3 got_n got_p members
	natgw_status
	got_n=$(jq -r '.status.members // [] | length' <<<"$NATGW_JSON" 2>/dev/null)
	got_p=$(jq -r '.status.ports_used // 0 | tonumber' <<<"$NATGW_JSON" 2>/dev/null)
	members=$(jq -r '[.status.members[]? | "\(.interface) \(.port_start)-\(.port_end)"] | join(", ")' \
		<<<"$NATGW_JSON" 2>/dev/null)
	if [ "$got_n" = "$n" ] && [ "$got_p" = "$ports" ]; then
		pass "$name: natgw get: $n member(s) ($members), portsUsed $ports"
	else
		fail "$name" "natgw get: want $n members, portsUsed $ports; got ${got_n:-?} ($members), portsUsed ${got_p:-?}"
	fi
}

scenario_natgw() {
	local rc=0 start block1
	if ! command -v jq >/dev/null; then
		skip natgw "jq not found (apt-get install -y jq): cannot read cloudnatctl's JSON"
		return
	fi
	router_table_add "$NATGW_NET"
	vrf_host internet it "$NATGW_OUT" "$NATGW_INET/24" 203.0.113.1 198.51.100.0/24
	vrf_host nic1 n1 "$NATGW_NET" 10.21.1.2/24 10.21.1.1
	vrf_host nic2 n2 "$NATGW_NET" 10.21.2.2/24 10.21.2.1
	vrf_host nic3 n3 "$NATGW_NET" 10.21.3.2/24 10.21.3.1
	vrf_host6 nic1 fd00:21:1::2/64 fd00:21:1::1
	vrf_host6 nic2 fd00:21:2::2/64 fd00:21:2::1
	in_ns internet sysctl -qw net.ipv6.conf.eth0.accept_ra=0 net.ipv6.conf.eth0.accept_dad=0
	in_ns internet ip -6 addr add "$NATGW_INET6/64" dev eth0 nodad
	in_ns internet ip -6 route add 2001:db8:100::/64 via fd00:203::1
	router_addr "${LAB_IF[internet]}" fd00:203::1/64
	in_ns internet ping -6 -c 1 -i 0.2 -w 3 fd00:203::1 >/dev/null 2>&1 || log "warm-up: internet cannot ping fd00:203::1"
	router_route_via_table 0.0.0.0/0 "$NATGW_NET" "$NATGW_OUT"
	router_route_via_table ::/0 "$NATGW_NET" "$NATGW_OUT"
	vrf_server internet --port

	natgw_yaml web >"$LAB_RUN/natgw.yaml"
	scen_ctl "natgw config" apply -f "$LAB_RUN/natgw.yaml" || rc=$?
	case $rc in
	0) pass "natgw-config: gateway lab-gw and nic1..nic3 applied (cloudnatctl apply -f natgw.yaml)" ;;
	2)
		skip natgw "$SCEN_REFUSED"
		return
		;;
	*) return ;;
	esac
	sleep 0.5
	natgw_expect_members natgw-status 2 128
	natgw_member_flows natgw nic1
	natgw_member_flows natgw nic2
	expect_answer natgw-nic3-vip-tcp nic3 "internet $NATGW_VIP [0-9]+" --n 2 --timeout 2s "$NATGW_INET:80"
	expect_answer natgw-nic3-vip-udp nic3 "internet $NATGW_VIP [0-9]+" --proto udp --n 2 --timeout 2s "$NATGW_INET:53"
	check_ping natgw-nic1-ping nic1 "$NATGW_INET"
	expect_no_answer natgw-unsolicited-tcp internet --n 2 --timeout 1s "$NATGW_IP:80"
	expect_no_answer natgw-unsolicited-udp internet --proto udp --n 2 --timeout 1s "$NATGW_IP:53"
	expect_no_answer natgw-unsolicited-tcp6 internet --n 2 --timeout 1s "[$NATGW_IP6]:80"
	block1=$(natgw_block nic1)
	read -r start _ <<<"$block1"
	[[ "$start" =~ ^[0-9]+$ ]] && expect_no_answer natgw-unsolicited-block internet --n 1 --timeout 1s "$NATGW_IP:$start"

	echo "---- natgw: nic2 relabelled out of the selector"
	natgw_yaml batch >"$LAB_RUN/natgw.yaml"
	scen_ctl "natgw relabel" apply -f "$LAB_RUN/natgw.yaml" || return
	sleep 0.5
	natgw_expect_members natgw-relabel-status 1 64
	if [ "$(natgw_block nic1)" = "$block1" ]; then
		pass "natgw-relabel-nic1-keeps-block: nic1 kept its block ${block1/ /-}"
	else
		fail "natgw-relabel-nic1-keeps-block" "nic1 had ${block1/ /-}, now $(natgw_block nic1)"
	fi
	natgw_member_flows natgw-relabel nic1
	if get_from nic2 --n 1 --timeout 2s "$NATGW_INET:80" && grep -q " $NATGW_IP " <<<"$GOT"; then
		fail "natgw-relabel-nic2" "nic2 is still translated by the gateway: $GOT"
	else
		pass "natgw-relabel-nic2: nic2 is no longer translated by the gateway ($(why "$GOT"))"
	fi
	ctl natgw delete lab-gw >/dev/null 2>&1 || true
}
