#!/usr/bin/env bash
# find-vpp.sh: the one place that decides where VPP is installed.
#
# Used by the Makefile, scripts/lab.sh and scripts/bench*.sh.
#
#   scripts/find-vpp.sh               print the VPP prefix (e.g. /opt/vpp)
#   scripts/find-vpp.sh --vpp         print the path of the vpp binary
#   scripts/find-vpp.sh --vppctl      print the path of vppctl
#   scripts/find-vpp.sh --plugin-dir  print VPP's own plugin directory
#   scripts/find-vpp.sh --cloudnat-plugin-dir
#                                     print the directory holding the built
#                                     cloudnat_plugin.so (CLOUDNAT_PLUGIN_DIR,
#                                     else build/vpp-plugin/...); exit 1 if none
#   scripts/find-vpp.sh --env         print shell assignments (VPP_PREFIX=...,
#                                     VPP_BIN=..., VPPCTL=..., VPP_PLUGIN_DIR=...)
#
# The prefix is $VPP_PREFIX when set (it must then hold bin/vpp and
# include/vnet/), else the first of /usr, /opt/vpp, /usr/local that does.
# When no VPP is found it prints nothing and exits 1; callers print the one
# line "VPP not found (set VPP_PREFIX): ..." themselves.
set -euo pipefail

is_vpp_prefix() {
	[ -x "$1/bin/vpp" ] && [ -d "$1/include/vnet" ]
}

find_prefix() {
	if [ -n "${VPP_PREFIX:-}" ]; then
		if is_vpp_prefix "$VPP_PREFIX"; then
			echo "${VPP_PREFIX%/}"
			return 0
		fi
		echo "find-vpp: VPP_PREFIX=$VPP_PREFIX has no bin/vpp and include/vnet/" >&2
		return 1
	fi
	local p
	for p in /usr /opt/vpp /usr/local; do
		if is_vpp_prefix "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# VPP's plugin directory: Debian/Ubuntu packages use lib/x86_64-linux-gnu/,
# a source install lib/ or lib64/.
find_plugin_dir() {
	local prefix=$1 d multiarch
	multiarch=$(gcc -print-multiarch 2>/dev/null || true)
	for d in ${multiarch:+"$prefix/lib/$multiarch/vpp_plugins"} \
		"$prefix"/lib/*-linux-gnu/vpp_plugins "$prefix/lib64/vpp_plugins" "$prefix/lib/vpp_plugins"; do
		if [ -d "$d" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

find_cloudnat_plugin_dir() {
	local root f
	if [ -n "${CLOUDNAT_PLUGIN_DIR:-}" ]; then
		if [ -f "$CLOUDNAT_PLUGIN_DIR/cloudnat_plugin.so" ]; then
			echo "${CLOUDNAT_PLUGIN_DIR%/}"
			return 0
		fi
		echo "find-vpp: CLOUDNAT_PLUGIN_DIR=$CLOUDNAT_PLUGIN_DIR has no cloudnat_plugin.so" >&2
		return 1
	fi
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	[ -d "$root/build/vpp-plugin" ] || return 1
	f=$(find "$root/build/vpp-plugin" -name cloudnat_plugin.so -type f -print -quit 2>/dev/null || true)
	[ -n "$f" ] || return 1
	dirname "$f"
}

what=${1:-}
case "$what" in
"" | --prefix)
	find_prefix
	;;
--vpp)
	p=$(find_prefix) && echo "$p/bin/vpp"
	;;
--vppctl)
	p=$(find_prefix) && echo "$p/bin/vppctl"
	;;
--plugin-dir)
	p=$(find_prefix) && find_plugin_dir "$p"
	;;
--cloudnat-plugin-dir)
	find_cloudnat_plugin_dir
	;;
--env)
	p=$(find_prefix)
	printf 'VPP_PREFIX=%q\n' "$p"
	printf 'VPP_BIN=%q\n' "$p/bin/vpp"
	printf 'VPPCTL=%q\n' "$p/bin/vppctl"
	printf 'VPP_PLUGIN_DIR=%q\n' "$(find_plugin_dir "$p" || true)"
	printf 'CLOUDNAT_PLUGIN_DIR=%q\n' "$(find_cloudnat_plugin_dir 2>/dev/null || true)"
	;;
-h | --help)
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
	;;
*)
	echo "find-vpp: unknown option $what (try --help)" >&2
	exit 2
	;;
esac
