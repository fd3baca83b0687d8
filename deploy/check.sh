#!/usr/bin/env bash
# Run from deploy/ after `docker compose up -d --build`: real connections
# from the client container through the router (VPP, or the kernel in the
# kernel variant), one PASS/FAIL line per check.
#
#   ./check.sh [LABEL]     LABEL is added to each line, e.g. "after agent restart"
#
# Compose: $DC when set (deploy/lab-docker.sh sets it), else `docker compose`
# when the plugin is there, else docker-compose (v1).
set -uo pipefail
cd "$(dirname "$0")" || exit 1
label=${1:+ ($1)}
if [ -n "${DC:-}" ]; then
	read -r -a dc <<<"$DC"
elif docker compose version >/dev/null 2>&1; then
	dc=(docker compose)
else
	dc=(docker-compose)
fi
dcx() { "${dc[@]}" "$@"; }
fails=0
out=$(dcx exec -T client labnet get --n 20 --timeout 2s 10.231.100.10:80 2>&1)
s1=$(grep -c '^server1 ' <<<"$out")
s2=$(grep -c '^server2 ' <<<"$out")
if [ "$s1" -gt 0 ] && [ "$s2" -gt 0 ] && [ $((s1 + s2)) -eq 20 ]; then
	echo "PASS vip$label: 20 TCP connections to 10.231.100.10:80 answered (server1 $s1, server2 $s2)"
else
	echo "FAIL vip$label: server1 $s1, server2 $s2 of 20: $(grep -m1 -i err <<<"$out")"
	fails=$((fails + 1))
fi
out=$(dcx exec -T client labnet get --n 3 --timeout 2s 10.231.1.1:8080 2>&1)
if [ "$(grep -c '^server1 10.231.1.2$' <<<"$out")" -eq 3 ]; then
	echo "PASS portfwd$label: 10.231.1.1:8080 reaches server1:80, which sees the client's address"
else
	echo "FAIL portfwd$label: $(head -1 <<<"$out")"
	fails=$((fails + 1))
fi
if [ -z "$label" ]; then
	dcx exec -T agent cloudnatctl --addr unix:///run/cloudnat/agent.sock session list || fails=$((fails + 1))
fi
[ "$fails" -eq 0 ]
