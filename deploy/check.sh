#!/usr/bin/env bash
# Run from deploy/ after `docker compose up -d --build`: real connections
# from the client container through VPP, one PASS/FAIL line per check.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
dc() { docker compose "$@"; }
fails=0
out=$(dc exec -T client labnet get --n 20 --timeout 2s 10.231.100.10:80 2>&1)
s1=$(grep -c '^server1 ' <<<"$out")
s2=$(grep -c '^server2 ' <<<"$out")
if [ "$s1" -gt 0 ] && [ "$s2" -gt 0 ] && [ $((s1 + s2)) -eq 20 ]; then
	echo "PASS vip: 20 connections to 10.231.100.10:80 answered (server1 $s1, server2 $s2)"
else
	echo "FAIL vip: server1 $s1, server2 $s2 of 20: $(grep -m1 ERR <<<"$out")"
	fails=$((fails + 1))
fi
out=$(dc exec -T client labnet get --n 3 --timeout 2s 10.231.1.1:8080 2>&1)
if [ "$(grep -c '^server1 10.231.1.2$' <<<"$out")" -eq 3 ]; then
	echo "PASS portfwd: 10.231.1.1:8080 reaches server1:80, which sees the client's address"
else
	echo "FAIL portfwd: $(head -1 <<<"$out")"
	fails=$((fails + 1))
fi
dc exec -T agent cloudnatctl --addr unix:///run/cloudnat/agent.sock session list || fails=$((fails + 1))
[ "$fails" -eq 0 ]
