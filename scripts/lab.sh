#!/usr/bin/env bash
# scripts/lab.sh (make lab): cloudnat's network-namespace lab.
#
# Hosts, each a network namespace joined to the router by a veth pair:
#
#   client   10.10.1.2/24 fd00:10:1::2/64 ─┐
#   backend1 10.10.2.2/24                 ─┤
#   backend2 10.10.3.2/24                 ─┼─ router ── extranet 10.99.0.2/24 fd00:99::2/64
#                                          │    (10.99.0.1, fd00:99::1: outside + SNAT addresses)
#                                          └──────────── partner fd00:98::2/64 (excluded from SNAT)
#
# The router is a private VPP with cloudnat_plugin.so (af_packet host
# interfaces on the veths) when VPP and the built plugin are found, else a
# router namespace where the agent's kernel dataplane does the NAT. Set
# LAB_ROUTER=vpp|kernel to choose. Either way the agent is configured through
# cloudnatctl only, and the same checks run:
#
#   (1) client -> VIP 10.200.0.10:80, load-balanced over backend1/backend2
#       (N connections, both backends seen, backends see the client's own
#       address, an 8 MiB transfer checked byte for byte)
#   (2) client/backends -> extranet through source NAT (TCP, UDP, bulk, ping,
#       two hosts pinging at once with the same echo id); extranet ->
#       10.99.0.1:8080 port-forwarded to backend1:80 (a "real" translation);
#       source NAT to an address on no interface (10.99.1.1, routed to the
#       router by the extranet)
#   (3) client -> extranet over IPv6 through source NAT; client -> partner
#       (excluded prefix) keeps its own source address
#   then: sessions listed; the agent restarted (intent back from its state
#   file); the dataplane reset (VPP restarted empty / the kernel's nf_tables
#   table deleted) and reprogrammed by the agent alone; translation del.
#
# Those are the "base" checks. Then the scenarios, scripts/lab/scenario-*.sh
# (see scripts/lab/scenarios.sh), each with its own hosts and router tables:
#
#   peering  tables 11 and 12 meeting at the router, NAT on both sides:
#            static+static, static+masquerade, masquerade+static,
#            static+port forward, port forward+static, masquerade+port
#            forward (TCP, UDP, ping, ICMP error; IPv4 and IPv6);
#            conflicts refused
#   natgw    a dual-stack NAT gateway (cloudnatctl apply -f natgw.yaml)
#            for table 21 with three interfaces (one with a virtual IP) to
#            an internet in table 0: port blocks, portsUsed, unsolicited
#            drops, relabel
#   cgnat    customer tables blue and red with the same addresses behind
#            one pool of the uplink's address (scripts/lab/scenario-cgnat.sh)
#
# LAB_SCENARIOS=base,cgnat,peering,natgw (comma-separated; default all)
# picks them; the base topology and agent are always set up. Both routers
# run every scenario (the kernel's tables: VRF devices, else policy
# routing); where the kernel dataplane refuses a scenario's NAT as
# unsupported (the peering combinations between two inside tables), one
# "SKIP" line each.
#
# One "PASS <check>" or "FAIL <check>: <why>" (or "SKIP <what>: <why>") line
# per check, then a summary;
# exits 1 if any check failed. Everything it creates is removed on exit,
# including on Ctrl-C (logs of a failed run are kept in /tmp/cloudnat-lab.*;
# LAB_KEEP=1 keeps them always).
#
# Environment: LAB_ROUTER (auto|vpp|kernel), LAB_SCENARIOS, VPP_PREFIX, CLOUDNAT_PLUGIN_DIR,
# LAB_CONNS (connections to the VIP, default 20), LAB_BULK_MIB (size of the
# bulk transfers, default 8), LAB_OFFLOADS=on (keep the hosts' checksum/TSO
# offloads), CLOUDNAT_AGENT, CLOUDNATCTL,
# LAB_SELFTEST=1 (kernel router only: hand-written nf_tables rules instead of
# the agent, to test the lab itself), LAB_VPP_WORKERS=1 (VPP router only: one
# worker polls the hosts' interfaces; VPP_MAIN_CORE/VPP_WORKER_CORE, default
# 0 and 1, pick the CPUs).
set -euo pipefail

# shellcheck source=scripts/lab/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab/common.sh"
# shellcheck source=scripts/lab/scenarios.sh
. "$LAB_ROOT/scripts/lab/scenarios.sh"

LAB_ROUTER=${LAB_ROUTER:-auto}
if [ "$LAB_ROUTER" = auto ]; then
	if ! "$LAB_ROOT/scripts/find-vpp.sh" >/dev/null; then
		echo "VPP not found (set VPP_PREFIX): the lab runs on the kernel dataplane"
		LAB_ROUTER=kernel
	elif ! "$LAB_ROOT/scripts/find-vpp.sh" --cloudnat-plugin-dir >/dev/null; then
		echo "cloudnat_plugin.so not built (make plugin): the lab runs on the kernel dataplane"
		LAB_ROUTER=kernel
	else
		LAB_ROUTER=vpp
	fi
fi
case "$LAB_ROUTER" in
vpp | kernel) ;;
*) die "LAB_ROUTER must be auto, vpp or kernel (got $LAB_ROUTER)" ;;
esac
# shellcheck source=scripts/lab/router-vpp.sh
. "$LAB_ROOT/scripts/lab/router-$LAB_ROUTER.sh"

lab_check_scenarios
lab_traps
lab_preflight
router_preflight

echo "== cloudnat lab: router $LAB_ROUTER, run directory $LAB_RUN"
router_start
topology_create
servers_start
if [ "${LAB_SELFTEST:-0}" = 1 ] && [ "$LAB_ROUTER" = kernel ]; then
	router_selftest_nat # the lab's own test: hand-written rules, no agent
else
	agent_start
	config_apply
fi
if lab_selected base; then checks_run; fi
if [ -n "${AGENT_PID:-}" ]; then scenarios_run; fi
summary
