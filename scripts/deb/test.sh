#!/usr/bin/env bash
# scripts/deb/test.sh: the cloudnat-agent package installed into a Debian
# root (make deb-test, a step of make test). One PASS/FAIL line per check:
#
#   the package's files (dpkg -c) and lintian; install into a debootstrap
#   chroot; the unit (systemd-analyze verify); the agent started with the
#   unit's ExecStart and the packaged config, on the kernel dataplane in a
#   network namespace of its own, answering cloudnatctl status; a
#   translation stored; an upgrade to a second build with a higher version
#   keeps the state file, the intent and a locally edited conffile; remove
#   keeps the state; purge deletes it.
#
# Where VPP is found and the plugin built, the cloudnat-vpp-plugin package's
# files, Depends and lintian are checked too (not installed: that needs VPP's
# own package). Skips with one line when not root or without
# debootstrap/dpkg-deb/unshare.
# The Debian root comes from scripts/debian-root.sh (cached under
# /var/cache/cloudnat-test: the first run downloads it, about 2-3 minutes).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
export PATH=/usr/local/go/bin:$PATH

skip() {
	echo "SKIP deb-test: $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "not root (it installs packages into a chroot)"
for t in debootstrap dpkg-deb unshare chroot; do
	command -v "$t" >/dev/null || skip "$t not installed (apt-get install debootstrap dpkg util-linux)"
done

start=$(date +%s)
passed=0
failed=0
pass() {
	echo "PASS $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $*"
	failed=$((failed + 1))
}
check() { # check "what" command...
	local what=$1
	shift
	if "$@" >"$work/check.out" 2>&1; then
		pass "$what"
	else
		fail "$what: $(tail -3 "$work/check.out" | tr '\n' ' ')"
	fi
}

work=$(mktemp -d /tmp/cloudnat-deb-test.XXXXXX)
chr=$work/root
agent_pid=
cleanup() {
	stop_agent
	umount "$chr/proc" 2>/dev/null || true
	umount "$chr" 2>/dev/null || true
	if mountpoint -q "$chr" 2>/dev/null || mountpoint -q "$chr/proc" 2>/dev/null; then
		echo "deb-test: $chr is still mounted; left $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! tarball=$(scripts/debian-root.sh); then
	echo "FAIL deb-test: no Debian root (scripts/debian-root.sh)"
	exit 1
fi

# Two builds of the agent package: the tree's version, and a higher one.
if ! scripts/deb/build.sh "$work/v1" >"$work/build1.log" 2>&1; then
	cat "$work/build1.log"
	echo "FAIL deb-test: scripts/deb/build.sh"
	exit 1
fi
deb1=$(ls "$work"/v1/cloudnat-agent_*.deb)
v1=$(dpkg-deb -f "$deb1" Version)
v2="$v1+upgrade1"
if ! DEB_PACKAGES=agent DEB_VERSION=$v2 scripts/deb/build.sh "$work/v2" >"$work/build2.log" 2>&1; then
	cat "$work/build2.log"
	echo "FAIL deb-test: scripts/deb/build.sh (second build)"
	exit 1
fi
deb2=$(ls "$work"/v2/cloudnat-agent_*.deb)
echo "deb-test: cloudnat-agent $v1, then $v2, in $(basename "$tarball")"

# ---- the package's files
want=(./usr/sbin/cloudnat-agent ./usr/bin/cloudnatctl ./lib/systemd/system/cloudnat-agent.service
	./etc/cloudnat/agent.yaml
	./usr/share/man/man8/cloudnat-agent.8.gz ./usr/share/man/man1/cloudnatctl.1.gz
	./usr/share/man/man1/cloudnatctl-translation-add.1.gz ./usr/share/bash-completion/completions/cloudnatctl
	./usr/share/doc/cloudnat-agent/copyright ./usr/share/doc/cloudnat-agent/changelog.gz
	./usr/share/doc/cloudnat-agent/examples/vpp-startup.conf)
dpkg-deb -c "$deb1" | awk '{print $6}' >"$work/contents"
missing=
for f in "${want[@]}"; do
	grep -qx -- "$f" "$work/contents" || missing="$missing $f"
done
bad_owner=$(dpkg-deb -c "$deb1" | awk '$2 != "root/root"' | head -1)
if [ -z "$missing" ] && [ -z "$bad_owner" ]; then
	pass "dpkg -c: $(wc -l <"$work/contents") entries, all root/root, the binaries, unit, conffile, man pages, completion"
else
	fail "dpkg -c: missing:${missing:- none}; not root/root: ${bad_owner:-none}"
fi
if [ "$(dpkg-deb -f "$deb1" Version)" = "$v1" ] && dpkg --compare-versions "$v2" gt "$v1"; then
	pass "versions: $v1 < $v2"
else
	fail "versions: $v1, $v2"
fi
if command -v lintian >/dev/null; then
	lintian --pedantic -I "$deb1" >"$work/lintian" 2>&1
	if ! grep -E '^[EWIP]: ' "$work/lintian" >/dev/null; then
		pass "lintian --pedantic: no tags (overrides: packaging/deb/cloudnat-agent.lintian-overrides)"
	else
		fail "lintian: $(grep -E '^[EWIP]: ' "$work/lintian" | head -3 | tr '\n' ' ')"
	fi
else
	echo "SKIP lintian not installed (apt-get install lintian)"
fi

# ---- the plugin package, where VPP is found and the plugin built
plugin_deb=$(ls "$work"/v1/cloudnat-vpp-plugin_*.deb 2>/dev/null)
if [ -n "$plugin_deb" ]; then
	depends=$(dpkg-deb -f "$plugin_deb" Depends)
	contents=$(dpkg-deb -c "$plugin_deb" | awk '{print $6}')
	if grep -qx './usr/lib/[a-z0-9_]*-linux-gnu/vpp_plugins/cloudnat_plugin.so' <<<"$contents" &&
		grep -qx './usr/share/vpp/api/plugins/cloudnat.api.json' <<<"$contents" &&
		grep -Eq '(^|, )vpp \(= [^)]+\)' <<<"$depends"; then
		pass "cloudnat-vpp-plugin: plugin in vpp_plugins/, API JSON in /usr/share/vpp/api/plugins/, Depends: $depends"
	else
		fail "cloudnat-vpp-plugin: Depends '$depends', contents: $(tr '\n' ' ' <<<"$contents")"
	fi
	if command -v lintian >/dev/null; then
		if ! lintian --pedantic -I "$plugin_deb" 2>&1 | grep -E '^[EWIP]: ' >"$work/lintian-plugin"; then
			pass "lintian --pedantic cloudnat-vpp-plugin: no tags"
		else
			fail "lintian cloudnat-vpp-plugin: $(head -3 "$work/lintian-plugin" | tr '\n' ' ')"
		fi
	fi
else
	echo "deb-test: $(grep -m1 'skipping the cloudnat-vpp-plugin' "$work/build1.log" || echo 'no cloudnat-vpp-plugin package built')"
fi

# ---- install into the chroot
# The root: an overlay on the tarball unpacked once next to it (instant on
# later runs); a plain unpack where overlayfs is not available.
lower=${tarball%.tar.gz}.root
if [ ! -d "$lower" ]; then
	rm -rf "$lower.tmp"
	mkdir -p "$lower.tmp"
	tar -C "$lower.tmp" -xzf "$tarball" && mv "$lower.tmp" "$lower"
fi
mkdir -p "$chr" "$work/upper" "$work/ovlwork"
if ! mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/ovlwork" "$chr" 2>/dev/null; then
	tar -C "$chr" -xzf "$tarball"
fi
mount -t proc proc "$chr/proc"
cp "$deb1" "$chr/tmp/v1.deb"
cp "$deb2" "$chr/tmp/v2.deb"
in_root() { chroot "$chr" "$@"; }

check "install: dpkg -i cloudnat-agent $v1 into a Debian bookworm root" in_root dpkg -i /tmp/v1.deb
# shellcheck disable=SC2016 # dpkg-query's ${field}
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' cloudnat-agent 2>&1)
if grep -q '/etc/cloudnat/agent.yaml' <<<"$conffiles" && [ -x "$chr/usr/sbin/cloudnat-agent" ] &&
	[ -x "$chr/usr/bin/cloudnatctl" ] && [ -L "$chr/etc/systemd/system/multi-user.target.wants/cloudnat-agent.service" ]; then
	pass "installed: binaries, conffile /etc/cloudnat/agent.yaml, unit enabled (multi-user.target.wants)"
else
	fail "installed: conffiles '$conffiles', $(find "$chr/etc/systemd/system/multi-user.target.wants/" 2>&1 | tail -1)"
fi
if grep -v '^#' "$chr/etc/cloudnat/agent.yaml" | grep -q '[^[:space:]]'; then
	fail "agent.yaml: has uncommented settings"
else
	pass "agent.yaml: every setting commented ($(grep -c '^#[a-z]' "$chr/etc/cloudnat/agent.yaml") sections)"
fi
check "systemd-analyze verify cloudnat-agent.service (in the root)" \
	in_root systemd-analyze verify --man=no /lib/systemd/system/cloudnat-agent.service
unit=$chr/lib/systemd/system/cloudnat-agent.service
if grep -qx 'After=vpp.service network.target' "$unit" && grep -qx 'Wants=vpp.service' "$unit" &&
	! grep -q '^Requires=' "$unit" && grep -qx 'Restart=on-failure' "$unit" &&
	grep -qx 'StateDirectory=cloudnat' "$unit" && grep -qx 'RuntimeDirectory=cloudnat' "$unit"; then
	pass "unit: After/Wants vpp.service (no Requires), Restart=on-failure, StateDirectory, RuntimeDirectory"
else
	fail "unit: $(grep -E '^(After|Wants|Requires|Restart|StateDirectory|RuntimeDirectory)=' "$unit" | tr '\n' ' ')"
fi

# ---- the agent as the unit starts it: its ExecStart, StateDirectory and
# RuntimeDirectory, in a network namespace of its own (kernel dataplane).
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
ctl() { in_root cloudnatctl --timeout 5s "$@"; }
start_agent() { # start_agent LOGNAME
	mkdir -p "$chr/run/cloudnat"
	install -d -m 0750 "$chr/var/lib/cloudnat"
	# shellcheck disable=SC2086 # ExecStart's words
	unshare --net chroot "$chr" env STATE_DIRECTORY=/var/lib/cloudnat RUNTIME_DIRECTORY=/run/cloudnat $exec_start >"$work/$1.log" 2>&1 &
	agent_pid=$!
	local _
	for _ in $(seq 1 100); do
		ctl status >"$work/status" 2>&1 && return 0
		kill -0 "$agent_pid" 2>/dev/null || break
		sleep 0.2
	done
	return 1
}
stop_agent() {
	[ -n "$agent_pid" ] || return 0
	kill "$agent_pid" 2>/dev/null
	wait "$agent_pid" 2>/dev/null
	agent_pid=
}

vip=10.250.0.1
if start_agent agent1 && grep -qi kernel "$work/status"; then
	pass "agent: started by the unit's ExecStart ($exec_start), cloudnatctl status answers, dataplane kernel"
else
	fail "agent: $(tail -3 "$work/agent1.log" | tr '\n' ' ') / $(head -3 "$work/status" 2>/dev/null | tr '\n' ' ')"
fi
ctl translation add --proto tcp --vip "$vip" --port 80 --to '->10.250.1.1:8080' >"$work/add" 2>&1
if [ -s "$chr/var/lib/cloudnat/state.json" ] && grep -q "$vip" "$chr/var/lib/cloudnat/state.json"; then
	pass "intent: a translation stored in /var/lib/cloudnat/state.json"
else
	fail "intent: $(tail -2 "$work/add" | tr '\n' ' ')"
fi
stop_agent
sum_before=$(sha256sum <"$chr/var/lib/cloudnat/state.json" 2>/dev/null)

# ---- upgrade, with a local edit of the conffile
echo "# edited by the operator" >>"$chr/etc/cloudnat/agent.yaml"
check "upgrade: dpkg -i cloudnat-agent $v2" in_root dpkg -i /tmp/v2.deb
# shellcheck disable=SC2016 # dpkg-query's ${field}
installed=$(in_root dpkg-query -W -f='${Version}' cloudnat-agent 2>&1)
if [ "$installed" = "$v2" ] && [ "$(sha256sum <"$chr/var/lib/cloudnat/state.json" 2>/dev/null)" = "$sum_before" ] &&
	grep -q '^# edited by the operator' "$chr/etc/cloudnat/agent.yaml"; then
	pass "upgrade: $installed installed, state file unchanged, local conffile edit kept"
else
	fail "upgrade: installed '$installed', state $(sha256sum <"$chr/var/lib/cloudnat/state.json" 2>&1 | cut -c1-12) (was ${sum_before:0:12})"
fi
if start_agent agent2 && ctl translation list >"$work/list" 2>&1 && grep -q "$vip" "$work/list"; then
	pass "upgrade: the new agent serves the translation stored before ($(grep -o -m1 "$v2" "$work/status" || echo "version ?"))"
else
	fail "upgrade: $(tail -3 "$work/agent2.log" | tr '\n' ' ') / $(tail -2 "$work/list" 2>/dev/null | tr '\n' ' ')"
fi
stop_agent

# ---- remove keeps the state; purge deletes it
check "remove: dpkg -r cloudnat-agent" in_root dpkg -r cloudnat-agent
if [ "$(sha256sum <"$chr/var/lib/cloudnat/state.json" 2>/dev/null)" = "$sum_before" ] && [ ! -e "$chr/usr/sbin/cloudnat-agent" ] &&
	[ -f "$chr/etc/cloudnat/agent.yaml" ]; then
	pass "remove: binaries gone, state file and conffile kept"
else
	fail "remove: $(find "$chr/var/lib/cloudnat" "$chr/usr/sbin/cloudnat-agent" 2>&1 | tr '\n' ' ')"
fi
check "purge: dpkg -P cloudnat-agent" in_root dpkg -P cloudnat-agent
if [ ! -e "$chr/var/lib/cloudnat" ] && [ ! -e "$chr/etc/cloudnat" ] &&
	[ ! -e "$chr/etc/systemd/system/multi-user.target.wants/cloudnat-agent.service" ]; then
	pass "purge: /var/lib/cloudnat, /etc/cloudnat and the unit's enablement gone"
else
	fail "purge: left $(find "$chr/var/lib/cloudnat" "$chr/etc/cloudnat" -maxdepth 0 2>/dev/null | tr '\n' ' ')"
fi

echo "deb-test: $passed passed, $failed failed ($(($(date +%s) - start)) s)"
[ "$failed" -eq 0 ]
