#!/usr/bin/env bash
# Regenerates the Go code of the gRPC API (proto/cloudnat/v1/*.pb.go) from
# proto/cloudnat/v1/cloudnat.proto.
#
# Needs protoc (Debian: apt-get install -y protobuf-compiler, which also ships
# the google/protobuf/*.proto well-known types) and installs the Go plugins
# at the versions pinned below with `go install` when they are missing or
# differ. PROTOC overrides the protoc binary.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"

protoc=${PROTOC:-protoc}
if ! command -v "$protoc" >/dev/null; then
	echo "gen-proto: protoc not found (Debian: apt-get install -y protobuf-compiler)" >&2
	exit 1
fi

gobin=$(go env GOBIN)
[[ -n $gobin ]] || gobin=$(go env GOPATH)/bin
export PATH=$gobin:$PATH

have_version() { # tool want
	command -v "$1" >/dev/null && [[ $("$1" --version 2>/dev/null) == *"${2#v}"* ]]
}
have_version protoc-gen-go "$PROTOC_GEN_GO_VERSION" ||
	GOFLAGS=-mod=mod go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
have_version protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" ||
	GOFLAGS=-mod=mod go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"

"$protoc" -I proto \
	--go_out=proto --go_opt=paths=source_relative \
	--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	proto/cloudnat/v1/cloudnat.proto
echo "gen-proto: wrote proto/cloudnat/v1/cloudnat.pb.go, cloudnat_grpc.pb.go"
