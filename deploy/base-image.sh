#!/usr/bin/env bash
# deploy/base-image.sh [TAG]: a Debian bookworm base image for the compose
# lab, made without any image registry: the root that scripts/debian-root.sh
# builds with debootstrap from Debian's packages, imported with
# `docker import`. Cached: the root tarball under /var/cache/cloudnat-test,
# the image by a label holding the tarball's name (a second run is instant).
#
# TAG defaults to cloudnat/debian:bookworm. Prints the tag on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-cloudnat/debian:bookworm}

tarball=$(scripts/debian-root.sh)
key=$(basename "$tarball")
have=$(docker image inspect -f '{{index .Config.Labels "cloudnat.root"}}' "$tag" 2>/dev/null || true)
if [ "$have" = "$key" ]; then
	echo "base-image: $tag is up to date ($key)" >&2
	echo "$tag"
	exit 0
fi
docker import \
	--change "LABEL cloudnat.root=$key" \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'CMD ["/bin/bash"]' \
	"$tarball" "$tag" >/dev/null
echo "base-image: $tag imported from $key" >&2
echo "$tag"
