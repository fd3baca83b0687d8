#!/usr/bin/env bash
# make soak: runs test/soak against a real cloudnat-agent on the kernel
# dataplane in a network namespace for SOAK_MINUTES minutes (default 30):
# mixed concurrent writes and deletes, requests cancelled on the way, agent
# SIGKILLs and restarts, deletions of its nf_tables table; then checks that
# dataplane == store == acknowledged writes and prints PASS or FAIL.
# Needs root. SOAK_ARGS passes flags to the driver, e.g.
#   SOAK_MINUTES=2 SOAK_ARGS="-objects 80 -kill-every 10s" make soak
# (go run ./test/soak -h lists them). SOAK_DATAPLANE=vpp (make soak-vpp)
# drives a private VPP with the built plugin instead (VPP_PREFIX): VPP is
# SIGKILLed and restarted empty, and translations are deleted behind the
# agent's back with vppctl.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"
export PATH=/usr/local/go/bin:$PATH
[ "$(id -u)" -eq 0 ] || { echo "soak: needs root (network namespace, nf_tables)" >&2; exit 1; }
export SOAK_MINUTES=${SOAK_MINUTES:-30}
mkdir -p build/soak
go build -o build/soak/cloudnat-agent ./agent/cmd/cloudnat-agent
go build -o build/soak/soak ./test/soak
# shellcheck disable=SC2086
exec build/soak/soak -agent build/soak/cloudnat-agent ${SOAK_ARGS:-}
