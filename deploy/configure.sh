#!/usr/bin/env bash
# One-shot configuration of the docker-compose lab, through cloudnatctl only:
#   VIP 10.231.100.10:80/tcp load-balanced to server1 and server2, and
#   VPP's front address 10.231.1.1:8080 port-forwarded to server1:80.
set -euo pipefail
addr=${CLOUDNAT_ADDR:-unix:///run/cloudnat/agent.sock}
ctl() { cloudnatctl --addr "$addr" "$@"; }

for _ in $(seq 1 60); do
	ctl status >/dev/null 2>&1 && break
	sleep 1
done
ctl status

# Replace rather than add, so that re-running the service is harmless.
ctl translation del --proto tcp --vip 10.231.100.10 --port 80 >/dev/null 2>&1 || true
ctl translation add --proto tcp --vip 10.231.100.10 --port 80 \
	--to '->10.231.2.2:80' --to '->10.231.2.3:80'
ctl translation del --proto tcp --vip 10.231.1.1 --port 8080 >/dev/null 2>&1 || true
ctl translation add --kind real --proto tcp --vip 10.231.1.1 --port 8080 --to '->10.231.2.2:80'
ctl translation list
