#!/usr/bin/env bash
# Regenerates vpp-plugin/cloudnat/cloudnat.api.json and the Go bindings in
# binapi/ (govpp binapi-generator, --gen rpc) from:
#   - the plugin's vpp-plugin/cloudnat/cloudnat.api, through VPP's vppapigen;
#   - the VPP core APIs the agent uses (interface, ip, vpe, vlib, memclnt and
#     what they import), from an installed VPP's share/vpp/api/core/*.api.json
#     or, failing that, through vppapigen from their .api sources.
#
# VPP is found from VPP_SRC (a VPP source tree: src/tools/vppapigen) or
# VPP_PREFIX (an installed VPP: bin/vppapigen, include/, share/vpp/api/),
# defaulting to the first of /usr, /opt/vpp, /usr/local that has vppapigen.
# vppapigen needs a python3 with ply (Debian: python3-ply); PYTHON overrides.
set -euo pipefail

GOVPP_VERSION=v0.13.0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"

apigen='' incdir='' coredir='' vppver=''
if [[ -n ${VPP_SRC:-} ]]; then
	if [[ -f $VPP_SRC/src/tools/vppapigen/vppapigen.py ]]; then
		apigen=$VPP_SRC/src/tools/vppapigen/vppapigen.py
		incdir=$VPP_SRC/src
		vppver=$("$VPP_SRC/src/scripts/version" 2>/dev/null) || vppver= # as "vpp -v" prints it
	fi
else
	for p in ${VPP_PREFIX:-/usr /opt/vpp /usr/local}; do
		if [[ -x $p/bin/vppapigen ]]; then
			apigen=$p/bin/vppapigen
			incdir=$p/include
			[[ -d $p/share/vpp/api/core ]] && coredir=$p/share/vpp/api/core
			if [[ -x $p/bin/vpp ]]; then
				vppver=$(LD_LIBRARY_PATH=$p/lib/x86_64-linux-gnu:$p/lib "$p/bin/vpp" -v 2>/dev/null |
					awk '/^vpp v/{sub(/^v/,"",$2); print $2; exit}') || true
			fi
			break
		fi
	done
fi
if [[ -z $apigen ]]; then
	echo "gen-binapi: vppapigen not found (set VPP_SRC to a VPP source tree or VPP_PREFIX to an installed VPP with vpp-dev)" >&2
	exit 1
fi

py=${PYTHON:-}
if [[ -z $py ]]; then
	for c in /usr/bin/python3 python3; do
		if command -v "$c" >/dev/null && "$c" -c 'import ply' 2>/dev/null; then py=$c; break; fi
	done
fi
if [[ -z $py ]]; then
	echo "gen-binapi: no python3 with the ply module (Debian: apt-get install python3-ply)" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

apijson() { # <input.api> <output.json>  (vppapigen also writes a _json.h into --outputdir)
	mkdir -p "$tmp/out"
	"$py" "$apigen" --includedir "$incdir" --input "$1" JSON --outputdir "$tmp/out" --output "$2"
}

# 1. The plugin's API.
apijson vpp-plugin/cloudnat/cloudnat.api vpp-plugin/cloudnat/cloudnat.api.json
mkdir -p "$tmp/api/core" "$tmp/api/plugins"
cp vpp-plugin/cloudnat/cloudnat.api.json "$tmp/api/plugins/"

# 2. The core APIs (and everything they import).
core=(vlibmemory/memclnt vlibmemory/vlib vpp/api/vpe vpp/api/vpe_types vnet/interface vnet/interface_types
	vnet/ip/ip vnet/ip/ip_types vnet/fib/fib_types vnet/mfib/mfib_types vnet/ethernet/ethernet_types)
for f in "${core[@]}"; do
	b=$(basename "$f")
	if [[ -n $coredir && -f $coredir/$b.api.json ]]; then
		cp "$coredir/$b.api.json" "$tmp/api/core/"
	else
		apijson "$incdir/$f.api" "$tmp/api/core/$b.api.json"
	fi
done

# 3. Go bindings.
# Built inside govpp's own module (in the module cache) so that the
# generator's dependencies need no go.sum entries here.
govpp_dir=$(go mod download -json "go.fd.io/govpp@$GOVPP_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
(cd "$govpp_dir" && GOFLAGS=-mod=mod go build -o "$tmp/binapi-generator" ./cmd/binapi-generator)
gen=("$tmp/binapi-generator")
rm -rf binapi.new
VPP_VERSION=${vppver:-unknown} "${gen[@]}" --input "$tmp/api" --output-dir binapi.new \
	--import-prefix github.com/cloudnat/cloudnat/binapi --no-source-path-info --gen rpc \
	cloudnat interface ip vpe vlib memclnt
# keep hand-written tests that live beside the generated packages
if [[ -d binapi ]]; then
	find binapi -name '*_test.go' -o -name 'testdata' -prune | while read -r keep; do
		mkdir -p "binapi.new/$(dirname "${keep#binapi/}")"
		cp -a "$keep" "binapi.new/${keep#binapi/}"
	done
fi
rm -rf binapi
mv binapi.new binapi
gofmt -l binapi | (! grep .) >/dev/null || gofmt -w binapi
echo "gen-binapi: binapi/ regenerated (VPP ${vppver:-unknown}, govpp $GOVPP_VERSION)"
