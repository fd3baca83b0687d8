#!/usr/bin/env bash
# scripts/deb/build.sh [OUTDIR]: the Debian packages (make deb).
#
#   cloudnat-agent       cloudnat-agent, cloudnatctl, man pages, bash
#                        completion, systemd unit, /etc/cloudnat/agent.yaml
#   cloudnat-vpp-plugin  cloudnat_plugin.so and its API JSON, for the VPP it
#                        was built against (Depends: vpp (= that version));
#                        only where scripts/find-vpp.sh finds VPP and the
#                        plugin is built (make plugin)
#
# OUTDIR defaults to build/deb. Built with dpkg-deb from the files in
# packaging/deb/; the version comes from git (see deb_version) unless
# DEB_VERSION is set. DEB_PACKAGES=agent builds the agent package only.
# The last lines name the packages built.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=${1:-build/deb}
pkgdir=packaging/deb
export PATH=/usr/local/go/bin:$PATH

for t in dpkg-deb dpkg go gzip; do
	command -v "$t" >/dev/null || {
		echo "deb: $t not found"
		exit 1
	}
done

# deb_version: the git description as a Debian version.
#   v1.2.3 (a tag on HEAD)      -> 1.2.3
#   v1.2.3-5-gabc1234           -> 1.2.3+git5.gabc1234
#   no tag: N commits, abc1234  -> 0~gitN.gabc1234 (below any 0.x release)
#   uncommitted changes         -> +dirty appended
deb_version() {
	local d n h v
	if d=$(git describe --tags --long --match 'v[0-9]*' 2>/dev/null); then
		# vX.Y.Z-N-gHASH
		h=${d##*-g}
		d=${d%-g*}
		n=${d##*-}
		v=${d%-*}
		v=${v#v}
		if [ "$n" = 0 ]; then
			echo -n "$v"
		else
			echo -n "$v+git$n.g$h"
		fi
	else
		n=$(git rev-list --count HEAD)
		h=$(git rev-parse --short=7 HEAD)
		echo -n "0~git$n.g$h"
	fi
	if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		echo -n "+dirty"
	fi
	echo
}

version=${DEB_VERSION:-$(deb_version)}
if ! dpkg --validate-version "$version" 2>/dev/null; then
	echo "deb: $version is not a valid Debian version"
	exit 1
fi
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
date_rfc2822=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
maintainer="cloudnat maintainers <cloudnat@lists.cloudnat.dev>"

stage=build/deb-stage
rm -rf "$stage"
rm -f "$out"/cloudnat-agent_*.deb "$out"/cloudnat-vpp-plugin_*.deb
mkdir -p "$out" "$stage"

# common: the doc directory every package has
doc_common() { # doc_common STAGEDIR PACKAGE
	local d=$1/usr/share/doc/$2
	install -d -m 0755 "$d"
	install -m 0644 "$pkgdir/copyright" "$d/copyright"
	{
		echo "cloudnat ($version) unstable; urgency=medium"
		echo
		echo "  * Built from git commit $commit (make deb)."
		echo
		echo " -- $maintainer  $date_rfc2822"
	} | gzip -9n >"$d/changelog.gz"
	chmod 0644 "$d/changelog.gz"
}

finish() { # finish STAGEDIR -> md5sums, Installed-Size is in the control file already
	local s=$1
	(cd "$s" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$s/DEBIAN/md5sums"
	chmod 0644 "$s/DEBIAN/md5sums"
	# Files 0644 unless executable, directories 0755 (a umask of the build
	# machine must not leak into the package).
	find "$s" -type d -exec chmod 0755 {} +
}

installed_size() { du -sk --exclude=DEBIAN "$1" | cut -f1; }

build_deb() { # build_deb STAGEDIR PACKAGE
	local f=$out/${2}_${version}_$arch.deb
	dpkg-deb --root-owner-group -Zxz --build "$1" "$f" >/dev/null
	echo "deb: built $f"
}

# ---------------------------------------------------------------- cloudnat-agent
s=$stage/cloudnat-agent
ldflags="-s -w -X github.com/cloudnat/cloudnat/agent/internal/version.Version=$version"
install -d -m 0755 "$s/usr/sbin" "$s/usr/bin" "$s/DEBIAN"
CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$s/usr/sbin/cloudnat-agent" ./agent/cmd/cloudnat-agent
CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$s/usr/bin/cloudnatctl" ./agent/cmd/cloudnatctl

gen=$stage/gendoc
"$s/usr/bin/cloudnatctl" gendoc "$gen"
"$s/usr/sbin/cloudnat-agent" --gendoc "$gen"
install -d -m 0755 "$s/usr/share/man/man1" "$s/usr/share/man/man8" "$s/usr/share/bash-completion/completions"
for m in "$gen"/man/*.1 "$gen"/man/*.8; do
	sec=${m##*.}
	gzip -9n <"$m" >"$s/usr/share/man/man$sec/${m##*/}.gz"
	chmod 0644 "$s/usr/share/man/man$sec/${m##*/}.gz"
done
install -m 0644 "$gen/completion/bash/cloudnatctl" "$s/usr/share/bash-completion/completions/cloudnatctl"

install -D -m 0644 "$pkgdir/cloudnat-agent.service" "$s/lib/systemd/system/cloudnat-agent.service"
install -D -m 0644 "$pkgdir/agent.yaml" "$s/etc/cloudnat/agent.yaml"
doc_common "$s" cloudnat-agent
install -D -m 0644 "$pkgdir/vpp-startup.conf" "$s/usr/share/doc/cloudnat-agent/examples/vpp-startup.conf"
install -D -m 0644 "$pkgdir/README.Debian" "$s/usr/share/doc/cloudnat-agent/README.Debian"
install -D -m 0644 "$pkgdir/cloudnat-agent.lintian-overrides" "$s/usr/share/lintian/overrides/cloudnat-agent"
for m in postinst prerm postrm; do
	install -m 0755 "$pkgdir/cloudnat-agent.$m" "$s/DEBIAN/$m"
done
echo /etc/cloudnat/agent.yaml >"$s/DEBIAN/conffiles"
chmod 0644 "$s/DEBIAN/conffiles"
cat >"$s/DEBIAN/control" <<EOF
Package: cloudnat-agent
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(installed_size "$s")
Recommends: nftables
Suggests: cloudnat-vpp-plugin
Section: net
Priority: optional
Description: cloud NAT agent for VPP and the Linux kernel
 cloudnat-agent keeps NAT intent (translations, load-balanced VIPs, port
 forwarding, source NAT, timeouts, session limits) in a local state file and
 reconciles a dataplane to it: VPP with cloudnat_plugin.so (package
 cloudnat-vpp-plugin), or the Linux kernel's nf_tables and conntrack where no
 VPP runs. It serves a gRPC API; cloudnatctl is its command-line client.
 .
 The systemd unit cloudnat-agent.service reads /etc/cloudnat/agent.yaml and
 keeps its state under /var/lib/cloudnat, which only purge removes.
EOF
finish "$s"
build_deb "$s" cloudnat-agent

# ---------------------------------------------------------------- cloudnat-vpp-plugin
if [ "${DEB_PACKAGES:-all}" = agent ]; then
	exit 0
fi
if ! vpp_prefix=$(scripts/find-vpp.sh 2>/dev/null); then
	echo "deb: VPP not found (set VPP_PREFIX): skipping the cloudnat-vpp-plugin package"
	exit 0
fi
if ! plugin_dir=$(scripts/find-vpp.sh --cloudnat-plugin-dir 2>/dev/null); then
	echo "deb: cloudnat_plugin.so not built (make plugin): skipping the cloudnat-vpp-plugin package"
	exit 0
fi
# The VPP version the plugin was built against: the vpp package's when VPP
# is the packaged one, else the version a source install records.
vpp_version=
if [ "$vpp_prefix" = /usr ]; then
	vpp_version=$(dpkg-query -W -f='${Version}' vpp 2>/dev/null || true)
fi
if [ -z "$vpp_version" ]; then
	vpp_version=$(scripts/deb/vpp-version.sh "$vpp_prefix" || true)
fi
if [ -z "$vpp_version" ]; then
	echo "deb: cannot tell the version of the VPP in $vpp_prefix: skipping the cloudnat-vpp-plugin package"
	exit 0
fi
api_json=$(find build/vpp-plugin -name cloudnat.api.json -type f -print -quit 2>/dev/null || true)
api_json=${api_json:-vpp-plugin/cloudnat/cloudnat.api.json}

s=$stage/cloudnat-vpp-plugin
install -d -m 0755 "$s/DEBIAN"
install -D -m 0644 "$plugin_dir/cloudnat_plugin.so" "$s/usr/lib/$multiarch/vpp_plugins/cloudnat_plugin.so"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$s/usr/lib/$multiarch/vpp_plugins/cloudnat_plugin.so"
install -D -m 0644 "$api_json" "$s/usr/share/vpp/api/plugins/cloudnat.api.json"
doc_common "$s" cloudnat-vpp-plugin
install -D -m 0644 "$pkgdir/vpp-startup.conf" "$s/usr/share/doc/cloudnat-vpp-plugin/examples/vpp-startup.conf"
install -D -m 0644 "$pkgdir/cloudnat-vpp-plugin.lintian-overrides" "$s/usr/share/lintian/overrides/cloudnat-vpp-plugin"
install -m 0755 "$pkgdir/cloudnat-vpp-plugin.postinst" "$s/DEBIAN/postinst"
libc=$(dpkg-query -W -f='${Version}' libc6 2>/dev/null | sed 's/-.*//')
cat >"$s/DEBIAN/control" <<EOF
Package: cloudnat-vpp-plugin
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(installed_size "$s")
Depends: vpp (= $vpp_version), libc6 (>= ${libc:-2.36})
Recommends: cloudnat-agent (= $version)
Section: net
Priority: optional
Description: cloud NAT plugin for VPP
 cloudnat_plugin.so translates packets at vector speed inside VPP: VIPs
 load-balanced over backends, port forwarding, source NAT, per VRF, with
 per-protocol timeouts and session limits. cloudnat-agent programs it.
 .
 Built against VPP $vpp_version; VPP's own cnat plugin must be disabled in
 startup.conf (see /usr/share/doc/cloudnat-vpp-plugin/examples/).
EOF
finish "$s"
build_deb "$s" cloudnat-vpp-plugin
