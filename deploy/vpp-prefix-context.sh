#!/usr/bin/env bash
# deploy/vpp-prefix-context.sh PREFIX OUTDIR: the part of the VPP image's
# build context that carries a VPP installed under PREFIX (e.g. /opt/vpp,
# built from source) for Dockerfile.vpp's VPP_SOURCE=prefix:
#
#   OUTDIR/root/PREFIX/...     VPP's bin/, lib*/, etc/, share/vpp (no headers)
#   OUTDIR/hostlibs/<libdir>/... the host's shared libraries VPP links to; the
#                              image takes those its base lacks, so it needs no
#                              network (the base must be the host's Debian
#                              release; deploy/base-image.sh's is)
#   OUTDIR/root/PREFIX/lib/<multiarch>/vpp_plugins/cloudnat_plugin.so
#                              built against that VPP (make plugin)
#   OUTDIR/vpp-version         VPP's version
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:?usage: vpp-prefix-context.sh PREFIX OUTDIR}
out=${2:?usage: vpp-prefix-context.sh PREFIX OUTDIR}
prefix=${prefix%/}

plugin_dir=$(VPP_PREFIX=$prefix scripts/find-vpp.sh --plugin-dir) || {
	echo "vpp-prefix-context: no vpp_plugins directory under $prefix" >&2
	exit 1
}
cn_dir=$(scripts/find-vpp.sh --cloudnat-plugin-dir) || {
	echo "vpp-prefix-context: cloudnat_plugin.so not built (make plugin)" >&2
	exit 1
}

rm -rf "$out"
mkdir -p "$out/root$prefix"
for d in bin sbin lib lib64 etc share/vpp; do
	[ -e "$prefix/$d" ] || continue
	mkdir -p "$(dirname "$out/root$prefix/$d")"
	cp -a "$prefix/$d" "$out/root$prefix/$d"
done
# no static libraries, CMake files or pkg-config files in the image
find "$out/root$prefix" \( -name '*.a' -o -name '*.cmake' -o -name '*.pc' \) -delete
install -m 0644 "$cn_dir/cloudnat_plugin.so" "$out/root$plugin_dir/cloudnat_plugin.so"

# The host libraries VPP needs (outside the prefix), with their paths.
find "$out/root$prefix" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
	xargs -0 -r file -N --mime-type 2>/dev/null | awk -F': ' '$2 ~ /sharedlib|executable/ {print $1}' |
	while read -r f; do
		LD_LIBRARY_PATH=$(find "$prefix" -name 'libvppinfra.so*' -printf '%h\n' -quit) ldd "$f" 2>/dev/null || true
	done | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u | while read -r lib; do
	case "$lib" in "$prefix"/*) continue ;; esac
	mkdir -p "$out/hostlibs$(dirname "$lib")"
	cp -L "$lib" "$out/hostlibs$lib"
done

scripts/deb/vpp-version.sh "$prefix" >"$out/vpp-version" 2>/dev/null || echo unknown >"$out/vpp-version"
echo "vpp-prefix-context: VPP $(cat "$out/vpp-version") from $prefix, $(du -sh "$out" | cut -f1) in $out" >&2
