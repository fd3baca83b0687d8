#!/usr/bin/env bash
# scripts/deb/vpp-version.sh PREFIX: the version of the VPP installed under
# PREFIX, as its Debian package would spell it (e.g. 26.06-release), for the
# cloudnat-vpp-plugin package's "Depends: vpp (= ...)". Prints nothing and
# exits 1 when it cannot tell.
set -euo pipefail
prefix=${1:?usage: vpp-version.sh PREFIX}
v=
# A source install keeps VPP's build version in its headers.
for h in "$prefix/include/vpp/app/version.h" "$prefix/include/vpp/vpp_version.h"; do
	if [ -f "$h" ]; then
		v=$(sed -n 's/^#define VPP_BUILD_VER "\(.*\)"/\1/p' "$h" | head -1)
		[ -n "$v" ] && break
	fi
done
[ -n "$v" ] || exit 1
# VPP's packages use the build version as it is (26.06-release,
# 26.06-rc0~123-gabcdef1); a "v" prefix is dropped.
v=${v#v}
dpkg --validate-version "$v" 2>/dev/null || exit 1
echo "$v"
