#!/usr/bin/env bash
# debian-root.sh: a Debian bookworm root made by debootstrap from Debian's
# packages, kept as a tarball so that later runs do not download it again.
# Used by the package test (scripts/deb/test.sh) and by the Docker base image
# of the compose lab (deploy/base-image.sh).
#
#   scripts/debian-root.sh            print the tarball's path (build it if absent)
#
# Environment:
#   CLOUDNAT_CACHE   cache directory (default /var/cache/cloudnat-test)
#   DEBIAN_SUITE     suite (default bookworm)
#   DEBIAN_MIRROR    mirror (default: the first deb.debian.org-style URI of
#                    the host's apt sources, else http://deb.debian.org/debian)
#
# The tarball holds minbase plus the few tools the test and the lab use
# (iproute2, ping, ethtool, netcat, nftables, ca-certificates) and systemd
# (systemd-analyze verify of the unit, deb-systemd-helper). Its name
# carries a hash of that list, so a changed list makes a new one. Needs root
# and debootstrap; progress goes to stderr, the path to stdout.
set -euo pipefail

cache=${CLOUDNAT_CACHE:-/var/cache/cloudnat-test}
suite=${DEBIAN_SUITE:-bookworm}
include=iproute2,iputils-ping,ethtool,netcat-openbsd,nftables,ca-certificates,procps,systemd

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(grep -h -o -E 'https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | tr -d ' ' || true)
	mirror=${mirror:-http://deb.debian.org/debian}
fi

key=$(printf '%s %s' "$suite" "$include" | sha256sum | cut -c1-12)
tarball=$cache/debian-$suite-$key.tar.gz
if [ -s "$tarball" ]; then
	echo "$tarball"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "debian-root: needs root to run debootstrap" >&2
	exit 1
fi
if ! command -v debootstrap >/dev/null; then
	echo "debian-root: debootstrap not installed (apt-get install debootstrap)" >&2
	exit 1
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/root.XXXXXX")
cleanup() {
	umount -R "$work/proc" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

start=$(date +%s)
echo "debian-root: debootstrap --variant=minbase $suite from $mirror (cold: a few minutes)" >&2
if ! debootstrap --variant=minbase --include="$include" "$suite" "$work/root" "$mirror" >"$work/log" 2>&1; then
	tail -20 "$work/log" >&2
	echo "debian-root: debootstrap failed" >&2
	exit 1
fi
# No package caches or lists in the image: a few tens of MB less.
rm -rf "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/lib/apt/lists/*
tar -C "$work/root" --numeric-owner -czf "$work/root.tar.gz" .
mv "$work/root.tar.gz" "$tarball"
echo "debian-root: $tarball made in $(($(date +%s) - start)) s" >&2
echo "$tarball"
