# cloudnat top-level Makefile.
#
#   make            build bin/cloudnat-agent, bin/cloudnatctl and, where VPP
#                   is found, the VPP plugin (build/vpp-plugin/)
#   make test       go vet, gofmt check, go test ./..., C unit tests (ctest),
#                   the package test (scripts/deb/test.sh)
#   make lab        namespace lab: VPP router if VPP + plugin are there,
#                   else the agent's kernel dataplane (needs root);
#                   make lab-vpp / lab-kernel pick the router
#   make deb        Debian packages into build/deb/ (scripts/deb/build.sh):
#                   cloudnat-agent, and cloudnat-vpp-plugin where VPP is found
#   make lab-docker the docker-compose lab, images built locally, checked
#                   (deploy/lab-docker.sh; needs root and Docker)
#   make bench      scripts/bench.sh
#   make soak       scripts/soak.sh: SOAK_MINUTES (default 30) of writes,
#                   agent kills and table deletions on the kernel dataplane,
#                   then dataplane == store == acknowledged writes (root);
#                   make soak-vpp: the same beside a private VPP, which is
#                   SIGKILLed and restarted empty, and tampered with vppctl
#   make binapi     regenerate binapi/ (scripts/gen-binapi.sh)
#   make proto      regenerate proto/ Go code (scripts/gen-proto.sh)
#   make deploy-config  validate deploy/docker-compose.yml (docker compose)
#   make conformance  run the conformance suites (VPP, kernel) and write
#                   docs/conformance-status.md; make conformance-check
#                   checks it statically (part of make test)
#   make fuzz       long packet and API fuzz run against VPP (FUZZ_PACKETS,
#                   default 1000000; FUZZ_SEED, default 1; FUZZ_API_ITERATIONS)
#   make shellcheck lint the shell scripts
#   make clean      remove bin/ and build/
#
# VPP is found by scripts/find-vpp.sh: $VPP_PREFIX, else the first of /usr,
# /opt/vpp, /usr/local with bin/vpp and include/vnet/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

ifeq ($(filter /usr/local/go/bin,$(subst :, ,$(PATH))),)
export PATH := /usr/local/go/bin:$(PATH)
endif

GO            ?= go
GOFMT         ?= gofmt
CMAKE         ?= cmake
CTEST         ?= ctest
GO_TEST_FLAGS ?= -count=1 -timeout 20m
JOBS          ?= $(shell nproc 2>/dev/null || echo 2)
VERSION       ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GO_LDFLAGS    ?= -X github.com/cloudnat/cloudnat/agent/internal/version.Version=$(VERSION)

BIN_DIR       := bin
PLUGIN_BUILD  := build/vpp-plugin

# The one VPP lookup (stderr, e.g. a wrong VPP_PREFIX, goes to the terminal).
VPP_FOUND := $(shell scripts/find-vpp.sh)

# vppapigen needs Debian's python3 with python3-ply, not a pyenv/venv one.
# find-vpp.sh's answer is final: without it, CMake's find_package(VPP) is
# switched off (it would otherwise find e.g. /opt/vpp* on its own, or a VPP
# left in the cache by an earlier configure).
PLUGIN_ENV    := PATH=/usr/bin:$$PATH
CMAKE_ARGS    ?=
CMAKE_CONFIGURE = $(PLUGIN_ENV) $(CMAKE) -S vpp-plugin -B $(PLUGIN_BUILD) -DPython3_EXECUTABLE=/usr/bin/python3 \
	$(if $(VPP_FOUND),-DCMAKE_PREFIX_PATH=$(VPP_FOUND) -DCMAKE_DISABLE_FIND_PACKAGE_VPP=OFF,-DCMAKE_DISABLE_FIND_PACKAGE_VPP=ON) \
	$(CMAKE_ARGS)

# Tests and scripts see the same VPP as the build.
ifneq ($(VPP_FOUND),)
export VPP_PREFIX := $(VPP_FOUND)
endif

.PHONY: all build agent cli plugin deb deb-test test vet fmt-check go-test c-test conformance conformance-check fuzz lab lab-vpp lab-kernel lab-docker docker-bin bench soak soak-vpp binapi proto deploy-config shellcheck clean help

all: agent cli plugin

build: all

agent:
	$(GO) build -trimpath -ldflags '$(GO_LDFLAGS)' -o $(BIN_DIR)/cloudnat-agent ./agent/cmd/cloudnat-agent

cli:
	$(GO) build -trimpath -ldflags '$(GO_LDFLAGS)' -o $(BIN_DIR)/cloudnatctl ./agent/cmd/cloudnatctl

plugin:
ifeq ($(VPP_FOUND),)
	@echo "VPP not found (set VPP_PREFIX): skipping the plugin build"
else
	$(CMAKE_CONFIGURE)
	$(PLUGIN_ENV) $(CMAKE) --build $(PLUGIN_BUILD) -j $(JOBS)
endif

# Debian packages; the plugin's only where VPP is found (scripts/deb/build.sh
# prints the one skip line otherwise).
deb: $(if $(VPP_FOUND),plugin)
	scripts/deb/build.sh

# ---------------------------------------------------------------- tests

# Every step runs even when an earlier one fails; the result is the summary.
TEST_STEPS := build fmt-check vet go-test c-test conformance-check deb-test

test:
	@failed=; start=$$(date +%s); \
	for s in $(TEST_STEPS); do \
		echo "== make $$s"; \
		$(MAKE) --no-print-directory $$s || failed="$$failed $$s"; \
	done; \
	secs=$$(( $$(date +%s) - start )); \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed ($${secs}s)"; exit 1; fi; \
	echo "make test: every step passed: $(TEST_STEPS) ($${secs}s)"

fmt-check:
	@files=$$(find . -name '*.go' -not -path './build/*' -not -path './.git/*' -not -path './bin/*' -not -path './vendor/*' | sort); \
	bad=$$($(GOFMT) -l $$files); \
	if [ -n "$$bad" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$bad"; exit 1; fi; \
	echo "gofmt: ok"

vet:
	$(GO) vet ./...

# The packages that need VPP or root run with -v so that their one SKIP line
# (no VPP, no plugin, not root) shows; go test hides a passing package's output.
VPP_TEST_PKGS := ./test/plugin ./test/agent ./agent/internal/dataplane/vpp/vpptest ./agent/internal/dataplane/kernel/netnstest \
	./agent/internal/reliabilitytest

# The conformance tests (TestConformance*) are a report, not a gate: a
# requirement the code does not meet yet is a failing row of
# docs/conformance-status.md (make conformance), so go-test skips them.
# So is the packet fuzzer (TestFuzzPackets): its findings are the open
# leaks listed in docs/fuzzing.md; `FUZZ_PACKETS=20000 make fuzz` is the
# short run, `make fuzz` the long one (the API fuzzer stays in go-test).
go-test:
	$(GO) test $(GO_TEST_FLAGS) $$($(GO) list ./... | grep -v -x -e '.*/test/plugin' -e '.*/test/agent' -e '.*/vpp/vpptest' -e '.*/kernel/netnstest' -e '.*/reliabilitytest')
	$(GO) test $(GO_TEST_FLAGS) -v -skip '^TestConformance|^TestFuzzPackets$$' $(VPP_TEST_PKGS) 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'

# The agent package installed, upgraded, removed and purged in a debootstrap
# chroot (skips with one line when not root or without debootstrap).
deb-test:
	scripts/deb/test.sh

# C unit tests of vpp-plugin/lib: the plugin's CMakeLists builds them with or
# without VPP.
c-test:
	$(CMAKE_CONFIGURE)
	$(PLUGIN_ENV) $(CMAKE) --build $(PLUGIN_BUILD) -j $(JOBS)
	$(CTEST) --test-dir $(PLUGIN_BUILD) --output-on-failure

# ---------------------------------------------------------------- conformance, fuzz

# The checklist is ../shared/conformance.md (scripts/conformance also finds
# it next to the main worktree); CONFORMANCE_MD overrides.
CONFORMANCE_MD ?=
CONFORMANCE_FLAGS = $(if $(CONFORMANCE_MD),-checklist $(CONFORMANCE_MD))
CONFORMANCE_NOTE ?= plugin and kernel dataplane of commit $(VERSION)

# Both suites run whatever their result (a failing requirement is a row of
# the table, not a build failure); the VPP suite skips without VPP.
conformance: plugin
	@mkdir -p build
	$(GO) test -count=1 -timeout 40m -json -run '^TestConformance' ./test/plugin/ > build/conformance-vpp.json || true
	$(GO) test -count=1 -timeout 20m -json -run '^TestConformance' ./agent/internal/dataplane/kernel/netnstest/ > build/conformance-kernel.json || true
	$(GO) run ./scripts/conformance report $(CONFORMANCE_FLAGS) -note '$(CONFORMANCE_NOTE)' -vpp build/conformance-vpp.json -kernel build/conformance-kernel.json

conformance-check:
	$(GO) run ./scripts/conformance check $(CONFORMANCE_FLAGS)

FUZZ_PACKETS        ?= 1000000
FUZZ_SEED           ?= 1
FUZZ_API_ITERATIONS ?= 300

# The fuzz runs against VPP (FUZZ_PACKETS=20000 for the short one).
fuzz: plugin
	FUZZ_PACKETS=$(FUZZ_PACKETS) FUZZ_SEED=$(FUZZ_SEED) FUZZ_API_ITERATIONS=$(FUZZ_API_ITERATIONS) $(GO) test -count=1 -timeout 120m -v -run '^TestFuzz' ./test/plugin/ 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'

# ---------------------------------------------------------------- lab, bench

lab: agent cli plugin
	scripts/lab.sh

lab-vpp: agent cli plugin
	LAB_ROUTER=vpp scripts/lab.sh

lab-kernel: agent cli
	LAB_ROUTER=kernel scripts/lab.sh

lab-docker:
	deploy/lab-docker.sh

bench: all
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; \
	else echo "scripts/bench.sh not present: no benchmarks to run"; fi

soak:
	scripts/soak.sh

soak-vpp: plugin
	SOAK_DATAPLANE=vpp scripts/soak.sh

# ---------------------------------------------------------------- generated code

binapi:
	scripts/gen-binapi.sh

proto:
	scripts/gen-proto.sh

# Validate deploy/docker-compose.yml and its kernel variant (compose v2
# plugin, else docker-compose v1).
deploy-config:
	@if docker compose version >/dev/null 2>&1; then dc="docker compose"; \
	elif command -v docker-compose >/dev/null; then dc=docker-compose; \
	else echo "docker compose / docker-compose not installed: skipping the deploy/ check"; exit 0; fi; \
	cd deploy && $$dc -f docker-compose.yml config -q && $$dc -f docker-compose.yml -f docker-compose.kernel.yml config -q && \
	echo "deploy/docker-compose.yml, docker-compose.kernel.yml: valid ($$dc)"

# The Go binaries the agent image copies (deploy/Dockerfile.agent), for
# docker compose by hand; make lab-docker builds them itself.
docker-bin:
	for p in agent/cmd/cloudnat-agent agent/cmd/cloudnatctl scripts/lab/labnet; do \
		CGO_ENABLED=0 $(GO) build -trimpath -o build/docker/bin/$${p##*/} ./$$p; done

# Lint the shell scripts (not part of make test).
shellcheck:
	@if command -v shellcheck >/dev/null; then \
		shellcheck -x scripts/*.sh scripts/*/*.sh deploy/*.sh .ci/run packaging/deb/*.postinst packaging/deb/*.prerm packaging/deb/*.postrm && echo "shellcheck: ok"; \
	else echo "shellcheck not installed (apt-get install shellcheck): skipping"; fi

clean:
	rm -rf $(BIN_DIR) build

help:
	@sed -n '3,28p' Makefile | sed 's/^# \{0,1\}//'
