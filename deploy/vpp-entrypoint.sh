#!/usr/bin/env bash
# Starts VPP and hands it the container's network interfaces: each ethN
# becomes VPP's af_packet interface host-ethN with the address Docker gave
# ethN (the kernel's copy of the address is removed so that only VPP answers
# for it). The agent then configures NAT through VPP's API socket.
set -euo pipefail

mkdir -p /run/vpp /var/log/vpp
vpp -c /etc/vpp/startup.conf &
vpp_pid=$!
trap 'kill -TERM $vpp_pid 2>/dev/null; wait $vpp_pid' TERM INT

vppctl() { command vppctl -s /run/vpp/cli.sock "$@"; }
for _ in $(seq 1 100); do
	vppctl show version >/dev/null 2>&1 && break
	kill -0 $vpp_pid 2>/dev/null || { echo "vpp exited"; exit 1; }
	sleep 0.2
done
vppctl show version

for path in /sys/class/net/*; do
	dev=${path##*/}
	[ "$dev" = lo ] && continue
	[ -e "/sys/class/net/$dev/device" ] && continue # only Docker's veths
	addrs=$(ip -o -4 addr show dev "$dev" | awk '{print $4}')
	# Leave ethN's offloads on: af_packet takes its checksum/GSO handling from
	# them, and with them off VPP's interface stopped answering in our lab.
	ip addr flush dev "$dev"
	sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" 2>/dev/null || true
	ip link set "$dev" up
	vppctl create host-interface name "$dev"
	vppctl set interface state "host-$dev" up
	for a in $addrs; do
		vppctl set interface ip address "host-$dev" "$a"
		echo "host-$dev: $a"
	done
done
vppctl show interface address
wait $vpp_pid
