#!/usr/bin/env bash
# The router of the compose lab's kernel variant (docker-compose.kernel.yml):
# the container keeps the addresses Docker gave it (10.231.1.1, 10.231.2.1)
# and forwards; the agent container shares its network namespace and does the
# NAT with the kernel dataplane (nf_tables + conntrack).
set -euo pipefail
# net.ipv4.ip_forward=1 comes from the compose file (sysctls:); /proc/sys is
# read-only in an unprivileged container.
if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
	sysctl -qw net.ipv4.ip_forward=1 || echo "router: net.ipv4.ip_forward is 0 and cannot be set" >&2
fi
ip -o -4 addr show | awk '$2 != "lo" {print "router: " $2 " " $4}'
trap 'exit 0' TERM INT
sleep infinity &
wait $!
