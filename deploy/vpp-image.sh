#!/usr/bin/env bash
# deploy/vpp-image.sh: runs inside `docker build -f deploy/Dockerfile.vpp`
# and installs VPP + cloudnat_plugin.so, from one of two sources
# (build argument VPP_SOURCE):
#
#   fdio    FD.io's packages (vpp, vpp-plugin-core; vpp-dev to build the
#           plugin from vpp-plugin/, removed afterwards). Needs FD.io's
#           repository (FDIO_URL, FDIO_REPO, FDIO_DIST) and VPP_VERSION to pin.
#   prefix  a VPP installed under a prefix, with the plugin built against it,
#           from the build context build/docker/vpp (deploy/vpp-prefix-context.sh;
#           make lab-docker makes it).
set -euo pipefail
ctx=/tmp/cloudnat
export DEBIAN_FRONTEND=noninteractive

case "${VPP_SOURCE:-fdio}" in
fdio)
	v=${VPP_VERSION:+=$VPP_VERSION}
	apt-get update
	apt-get install -y --no-install-recommends ca-certificates curl gnupg
	# shellcheck disable=SC1091
	. /etc/os-release
	curl -fsSL "$FDIO_URL/$FDIO_REPO/gpgkey" | gpg --dearmor -o /usr/share/keyrings/fdio.gpg
	echo "deb [signed-by=/usr/share/keyrings/fdio.gpg] $FDIO_URL/$FDIO_REPO/$FDIO_DIST/ $VERSION_CODENAME main" \
		>/etc/apt/sources.list.d/fdio.list
	apt-get update
	apt-get install -y --no-install-recommends "vpp$v" "vpp-plugin-core$v" iproute2 ethtool iputils-ping
	build_deps=("vpp-dev$v" "libvppinfra-dev$v" cmake build-essential python3 python3-ply pkg-config)
	apt-get install -y --no-install-recommends "${build_deps[@]}"
	prefix=$("$ctx/src/scripts/find-vpp.sh")
	cmake -S "$ctx/src/vpp-plugin" -B "$ctx/build" -DCMAKE_PREFIX_PATH="$prefix" -DPython3_EXECUTABLE=/usr/bin/python3
	cmake --build "$ctx/build" -j "$(nproc)"
	plugin_dir=$(set -- /usr/lib/*/vpp_plugins && echo "$1")
	install -m 0644 "$(find "$ctx/build" -name cloudnat_plugin.so -print -quit)" "$plugin_dir/"
	apt-get purge -y --auto-remove "${build_deps[@]%=*}"
	rm -rf /var/lib/apt/lists/*
	;;
prefix)
	[ -d "$ctx/ctx/root" ] || {
		echo "VPP_SOURCE=prefix: build/docker/vpp/root is missing (deploy/vpp-prefix-context.sh)" >&2
		exit 1
	}
	cp -a "$ctx/ctx/root/." /
	# the host's libraries VPP links to, where the base lacks them
	(cd "$ctx/ctx/hostlibs" && find . -type f) | while read -r f; do
		[ -e "/$f" ] || { mkdir -p "$(dirname "/$f")" && cp -a "$ctx/ctx/hostlibs/$f" "/$f"; }
	done
	prefix=$(dirname "$(dirname "$(find / -xdev -path /proc -prune -o -path "$ctx" -prune -o -type f -name vpp -path '*/bin/vpp' -print -quit)")")
	for b in vpp vppctl; do
		[ -x "$prefix/bin/$b" ] && ln -sf "$prefix/bin/$b" "/usr/local/bin/$b"
	done
	echo "$prefix/lib" >/etc/ld.so.conf.d/vpp.conf
	find "$prefix" -name 'libvppinfra.so*' -printf '%h\n' -quit >>/etc/ld.so.conf.d/vpp.conf
	ldconfig
	if ldd "$prefix/bin/vpp" | grep 'not found'; then
		echo "VPP_SOURCE=prefix: libraries missing in the image (above)" >&2
		exit 1
	fi
	echo "VPP $(cat "$ctx/ctx/vpp-version" 2>/dev/null) from $prefix"
	;;
*)
	echo "VPP_SOURCE=$VPP_SOURCE: not fdio or prefix" >&2
	exit 1
	;;
esac

# the cloudnat plugin is where VPP looks for plugins
find / -xdev -name cloudnat_plugin.so -path '*vpp_plugins*' -not -path "$ctx/*" | grep -q . || {
	echo "cloudnat_plugin.so is not in VPP's plugin directory" >&2
	exit 1
}
mkdir -p /run/vpp /var/log/vpp /etc/vpp
install -m 0644 "$ctx/deploy/startup.conf" /etc/vpp/startup.conf
install -m 0755 "$ctx/deploy/vpp-entrypoint.sh" /usr/local/bin/vpp-entrypoint.sh
rm -rf "$ctx"
