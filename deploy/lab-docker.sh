#!/usr/bin/env bash
# deploy/lab-docker.sh (make lab-docker): the docker-compose lab from a clean
# checkout, with no image registry, checked with real traffic. One PASS/FAIL
# line per check and a summary line:
#
#   the VIP load-balances TCP over the two server containers, port forwarding
#   reaches server1; the agent container is recreated and its intent comes
#   back (traffic again); the dataplane restarts (the VPP container, or the
#   kernel router's nf_tables table deleted) and the agent reprograms it.
#
# Steps: Docker (installed with apt and dockerd started when absent), the
# base image from debootstrap (deploy/base-image.sh), the Go binaries built on
# the host, the VPP image from the VPP installed under VPP_PREFIX (e.g.
# /opt/vpp) with the plugin built against it, `compose build`, `compose up`.
#
# Environment:
#   LAB_DOCKER_DATAPLANE  vpp, kernel or auto (default: vpp when
#                         scripts/find-vpp.sh finds a VPP, else kernel)
#   VPP_SOURCE            prefix (default: VPP_PREFIX's tree) or fdio (FD.io's
#                         packages: needs their repository and BASE images
#                         from a registry)
#   LAB_DOCKER_KEEP=1     leave the lab running at the end
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH=/usr/local/go/bin:$PATH
start=$(date +%s)

step() { echo "== [$(($(date +%s) - start)) s] $*"; }
die() {
	echo "FAIL lab-docker: $*"
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (Docker, debootstrap)"

# ---- Docker: the engine, and compose v2 (plugin) or v1 (docker-compose)
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null ||
	{ ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; }; then
	step "apt-get install docker.io docker-compose debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		docker.io docker-compose debootstrap >/dev/null || die "apt-get install docker.io docker-compose debootstrap"
fi
if ! docker info >/dev/null 2>&1; then
	step "starting dockerd (log: /var/log/cloudnat-dockerd.log)"
	if [ -d /run/systemd/system ]; then
		systemctl start docker
	else
		setsid dockerd >/var/log/cloudnat-dockerd.log 2>&1 </dev/null &
	fi
	for _ in $(seq 1 60); do
		docker info >/dev/null 2>&1 && break
		sleep 1
	done
	docker info >/dev/null 2>&1 || die "dockerd did not start (see /var/log/cloudnat-dockerd.log)"
fi
if docker compose version >/dev/null 2>&1; then
	DC="docker compose"
else
	DC="docker-compose"
fi
export DC
read -r -a dc <<<"$DC"
dcx() { (cd deploy && "${dc[@]}" "${files[@]}" "$@"); }
step "Docker $(docker version -f '{{.Server.Version}}' 2>/dev/null), compose: $("${dc[@]}" version 2>/dev/null | head -1)"

# ---- which dataplane
dataplane=${LAB_DOCKER_DATAPLANE:-auto}
vpp_prefix=$(scripts/find-vpp.sh 2>/dev/null || true)
if [ "$dataplane" = auto ]; then
	if [ -n "$vpp_prefix" ]; then dataplane=vpp; else dataplane=kernel; fi
fi
vpp_source=${VPP_SOURCE:-prefix}
case "$dataplane" in
vpp)
	files=(-f docker-compose.yml)
	if [ "$vpp_source" = prefix ] && [ -z "$vpp_prefix" ]; then
		die "LAB_DOCKER_DATAPLANE=vpp with VPP_SOURCE=prefix needs a VPP (set VPP_PREFIX)"
	fi
	;;
kernel)
	files=(-f docker-compose.yml -f docker-compose.kernel.yml)
	step "no VPP found (set VPP_PREFIX): the lab runs on the kernel dataplane (docker-compose.kernel.yml)"
	;;
*) die "LAB_DOCKER_DATAPLANE=$dataplane: not vpp, kernel or auto" ;;
esac
step "dataplane: $dataplane${vpp_prefix:+ (VPP in $vpp_prefix)}"

# ---- images
step "base image (debootstrap + docker import, cached)"
base=$(deploy/base-image.sh) || die "deploy/base-image.sh"
export BASE_IMAGE=$base

step "Go binaries for the images (build/docker/bin)"
mkdir -p build/docker/bin
for p in agent/cmd/cloudnat-agent agent/cmd/cloudnatctl scripts/lab/labnet; do
	CGO_ENABLED=0 go build -trimpath -o "build/docker/bin/${p##*/}" "./$p" || die "go build ./$p"
done

if [ "$dataplane" = vpp ]; then
	export VPP_SOURCE=$vpp_source
	if [ "$vpp_source" = prefix ]; then
		step "VPP from $vpp_prefix and cloudnat_plugin.so built against it (build/docker/vpp)"
		make --no-print-directory plugin >build/docker/plugin.log 2>&1 || {
			tail -20 build/docker/plugin.log
			die "make plugin"
		}
		deploy/vpp-prefix-context.sh "$vpp_prefix" build/docker/vpp || die "deploy/vpp-prefix-context.sh"
		export VPP_BASE_IMAGE=$base
	fi
fi

step "compose build"
dcx down -v --remove-orphans >/dev/null 2>&1
dcx build >build/docker/compose-build.log 2>&1 || {
	tail -30 build/docker/compose-build.log
	die "compose build (log: build/docker/compose-build.log)"
}

passed=0
failed=0
record() { # record OUTPUT-OF-CHECK
	local l
	while IFS= read -r l; do
		echo "$l"
		case "$l" in
		PASS*) passed=$((passed + 1)) ;;
		FAIL*) failed=$((failed + 1)) ;;
		esac
	done <<<"$1"
}
pass() { record "PASS $*"; }
fail() { record "FAIL $*"; }
cleanup() {
	if [ "${LAB_DOCKER_KEEP:-0}" = 1 ]; then
		step "left running (LAB_DOCKER_KEEP=1): cd deploy && $DC ${files[*]} down -v"
	else
		dcx down -v --remove-orphans >/dev/null 2>&1
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { dcx exec -T agent cloudnatctl --timeout 5s "$@"; }
wait_agent() {
	for _ in $(seq 1 60); do
		ctl status >/dev/null 2>&1 && return 0
		sleep 1
	done
	return 1
}
# wait_traffic: the VIP answers again (the dataplane was reprogrammed)
wait_traffic() {
	for _ in $(seq 1 30); do
		dcx exec -T client labnet get --n 1 --timeout 1s 10.231.100.10:80 2>/dev/null | grep -q '^server' && return 0
		sleep 1
	done
	return 1
}
diag() {
	echo "---- diagnostics"
	dcx ps 2>&1 | sed 's/^/  /'
	dcx logs --tail 20 vpp agent configure 2>&1 | sed 's/^/  /'
}

step "compose up"
t0=$(date +%s)
if ! dcx up -d >build/docker/compose-up.log 2>&1; then
	tail -20 build/docker/compose-up.log
	diag
	die "compose up (log: build/docker/compose-up.log)"
fi
cfg=$(dcx ps -q configure)
rc=$(docker wait "$cfg" 2>/dev/null || echo 1)
if [ "$rc" = 0 ] && wait_agent; then
	pass "up: $DC up, the agent configured through cloudnatctl by the configure service ($(($(date +%s) - t0)) s)"
else
	fail "up: configure exited $rc"
	diag
fi

wait_traffic
record "$(DC="$DC ${files[*]}" deploy/check.sh 2>&1 | grep -E '^(PASS|FAIL)')"

# ---- the agent container replaced: intent from the state volume
dcx rm -sf agent >/dev/null 2>&1
dcx up -d --no-deps agent >/dev/null 2>&1
if wait_agent && ctl translation list 2>/dev/null | grep -q 10.231.100.10; then
	pass "agent restart: a new agent container serves the intent kept in the cloudnat-state volume"
else
	fail "agent restart: $(ctl translation list 2>&1 | tail -2 | tr '\n' ' ')"
	diag
fi
wait_traffic
record "$(DC="$DC ${files[*]}" deploy/check.sh "after agent restart" 2>&1 | grep -E '^(PASS|FAIL)')"

# ---- the dataplane restarted empty: the agent reprograms it
if [ "$dataplane" = vpp ]; then
	dcx restart vpp >/dev/null 2>&1
	what="VPP container restarted"
	for _ in $(seq 1 60); do
		dcx exec -T vpp vppctl -s /run/vpp/cli.sock show cnat translation 2>/dev/null | grep -q 10.231.100.10 && break
		sleep 1
	done
	if dcx exec -T vpp vppctl -s /run/vpp/cli.sock show cnat translation 2>/dev/null | grep -q 10.231.100.10; then
		pass "$what: the agent reprogrammed the new VPP (show cnat translation)"
	else
		fail "$what: the translations did not come back"
		diag
	fi
else
	what="kernel table deleted"
	dcx exec -T vpp nft delete table inet cloudnat >/dev/null 2>&1
	for _ in $(seq 1 30); do
		dcx exec -T vpp nft list table inet cloudnat >/dev/null 2>&1 && break
		sleep 1
	done
	if dcx exec -T vpp nft list table inet cloudnat 2>/dev/null | grep -q 10.231.100.10; then
		pass "$what: the agent wrote its nf_tables table again"
	else
		fail "$what: the table did not come back"
		diag
	fi
fi
wait_traffic
record "$(DC="$DC ${files[*]}" deploy/check.sh "after $what" 2>&1 | grep -E '^(PASS|FAIL)')"

echo "lab-docker ($dataplane): $passed passed, $failed failed ($(($(date +%s) - start)) s)"
[ "$failed" -eq 0 ]
