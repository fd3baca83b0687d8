#!/usr/bin/env bash
# Entrypoint of the agent image's client/server roles: routes through VPP
# (ROUTES="PREFIX via ADDR[,PREFIX via ADDR...]"), offloads off (packets
# leave with full checksums, as af_packet on the VPP side wants them), then
# the command.
set -euo pipefail
if [ -n "${ROUTES:-}" ]; then
	IFS=, read -r -a routes <<<"$ROUTES"
	for r in "${routes[@]}"; do
		# shellcheck disable=SC2086
		ip route replace $r
	done
	for path in /sys/class/net/*; do
		dev=${path##*/}
		[ "$dev" = lo ] || ethtool -K "$dev" rx off tx off tso off gso off gro off >/dev/null 2>&1 || true
	done
fi
exec "$@"
