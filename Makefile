# strata: build, test, lint and demo. `make` builds ./strata; see README.md.

GO      ?= go
VERSION ?= 0.1.0-dev
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# -s -w: no symbol table or DWARF; a third smaller binary starts ~0.3 ms
# faster, and strata starts twice per container (the CLI, then the init).
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# The binary is static (nsenter's cgo LDFLAGS): the init's exec stage runs
# inside the container. osusergo and netgo keep the libc's user and host
# lookups (and the threads cgo would run them on) out of it;
# urfave_cli_no_docs drops the man-page generator, whose package init
# every strata start would otherwise pay for.
TAGS    := osusergo netgo urfave_cli_no_docs
# The binary links musl (musl-gcc, from Debian's musl-tools), not glibc:
# glibc's static start-up asks the CPU for its cache sizes with about 70
# cpuid instructions, and under a hypervisor each one is a VM exit (6.4 µs
# on the test VM: 0.5 ms of every start), where musl's asks nothing; strata
# starts twice per container (the CLI, then the init) and twice per exec
# (the CLI, then the process's executor).
# tools/musl/setup.sh fills MUSL_ROOT with what musl-gcc lacks: the kernel's
# headers and a libseccomp.pc for Debian's static libseccomp.
# GOEXPERIMENT=jsonv2: encoding/json runs on the v2 engine (Go 1.27's
# default, an experiment in 1.26), which decodes a config.json or a
# state.json cold in half the time of v1's (the default config.json: 0.24-
# 0.35 ms against 0.47-0.71 here; the first decode pays for reflecting on
# the spec's types, and every command decodes one). Everything that
# compiles this module (build, unit tests, vet) uses BUILD_ENV, so the
# tests run what the binary runs.
MUSL_ROOT := $(CURDIR)/.musl
BUILD_ENV := GOEXPERIMENT=jsonv2 CGO_ENABLED=1 CC=musl-gcc PKG_CONFIG_PATH=$(MUSL_ROOT) PKG_CONFIG_LIBDIR=$(MUSL_ROOT) CGO_CFLAGS="-O2 -g -isystem $(MUSL_ROOT)/include"
# Where `make strata` writes the binary; the test suites build through it.
# The image side (build, bundle, check, pull, push; see image_side.go) is the
# same package built with the strata_image tag, written beside it as
# strata-image, where strata looks for it.
OUT     ?= strata
OUT_IMAGE := $(dir $(OUT))strata-image

# Each recipe runs as one bash script that stops at the first failure.
SHELL       := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:

.PHONY: all strata musl-root deps test unit integration lint demo clean

all: strata

# Always handed to go build: its cache knows better than make what changed.
# cgo is required (nsenter's constructor, libseccomp).
strata: musl-root
	$(BUILD_ENV) $(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(OUT) .
	$(BUILD_ENV) $(GO) build -tags "$(TAGS) strata_image" -ldflags "$(LDFLAGS)" -o $(OUT_IMAGE) .

musl-root:
	tools/musl/setup.sh $(MUSL_ROOT)

# Unit tests first, then the end-to-end suites under tests/ against the binary
# just built (as root; they build the busybox rootfs themselves, cached under
# tests/rootfs/busybox).
test: deps unit integration

# What the build and `make test` need from Debian, installed when missing (so
# the README's two commands work on a fresh machine; .ci/run installs these
# and the e2e engines up front). runc: tests/compat compares strata with it.
# docker-registry: tests/pull pulls from one it starts on 127.0.0.1.
# buildah, podman: tests/build compares strata build's images with buildah's
# and runs them under podman (netavark: the network stack .ci/run installs
# with it, so that a fresh machine's podman is the one the tests ran with).
TEST_PKGS := gcc libc6-dev musl-tools pkg-config libseccomp-dev busybox-static jq skopeo umoci iproute2 runc docker-registry buildah podman netavark
deps:
	@[ "$$(id -u)" = 0 ] || { echo "the tests need root (namespaces, mounts, cgroups)" >&2; exit 1; }
	need=
	for p in $(TEST_PKGS); do dpkg -s "$$p" >/dev/null 2>&1 || need="$$need $$p"; done
	if [ -n "$$need" ]; then apt-get update -q && apt-get install -y -q --no-install-recommends $$need; fi

unit: musl-root
	$(BUILD_ENV) $(GO) test -count=1 $$($(GO) list ./... | grep -v /tests/)

integration: strata
	STRATA_BINARY=$(CURDIR)/strata $(GO) test -count=1 -timeout 30m ./tests/...

lint: musl-root
	@unformatted=$$(gofmt -l $$(git ls-files '*.go'))
	if [ -n "$$unformatted" ]; then echo "gofmt -l reports:"; echo "$$unformatted"; exit 1; fi
	$(BUILD_ENV) $(GO) vet ./...
	$(BUILD_ENV) $(GO) vet -tags strata_image .

# Run one busybox container that shows its hostname, mounts, identity and a
# masked path, then remove everything it made. Needs root.
demo: deps strata
	tmp=$$(mktemp -d /tmp/strata-demo.XXXXXX)
	id=strata-demo-$$$$
	trap './strata --root "$$tmp/state" delete --force "$$id" 2>/dev/null || true
	      for h in /sys/fs/cgroup/*; do rmdir "$$h/strata-demo/$$id" "$$h/strata-demo" 2>/dev/null || true; done
	      rm -rf "$$tmp"' EXIT
	mkdir -p "$$tmp/bundle"
	$(GO) run ./tests/rootfs/mkrootfs "$$tmp/bundle/rootfs"
	(cd "$$tmp/bundle" && $(CURDIR)/strata spec)
	script='echo "hostname: $$(hostname)"; echo "id: $$(id)"
	        echo "masked /proc/keys: $$(wc -c < /proc/keys) bytes (the host'"'"'s lists keys)"; echo mounts:; cat /proc/mounts'
	jq --arg id "$$id" --arg script "$$script" \
	  '.process.terminal = false | .hostname = "strata-demo" | .process.args = ["sh", "-c", $$script]
	   | .linux.cgroupsPath = "/strata-demo/" + $$id' \
	  "$$tmp/bundle/config.json" > "$$tmp/config.json"
	mv "$$tmp/config.json" "$$tmp/bundle/config.json"
	./strata --root "$$tmp/state" run --bundle "$$tmp/bundle" "$$id"

clean:
	rm -rf strata strata-image tests/rootfs/busybox

# OCI runtime-tools validation suite against $(RUNTIME) (default ./strata, built
# first; RUNTIME=/usr/sbin/runc and RUNTIME=/usr/bin/crun work too). The suite is
# built from the version pinned in tools/go.mod, fetched through the Go module
# proxy, into tests/validation/bin (gitignored). The runner (tests/validation)
# prints a table and "validation: N passed, N failed"; for strata it fails when
# a test listed in tests/validation/expected-pass stops passing. crun 1.8 needs a
# v1 hugetlb hierarchy mounted for the run and configs rewritten to ociVersion
# 1.0.2: the runner does both when the runtime is crun. Needs root.
RUNTIME          ?= ./strata
VALIDATION_BIN   := $(CURDIR)/tests/validation/bin
VALIDATION_FLAGS ?=
RUNTIME_TOOLS    := github.com/opencontainers/runtime-tools

.PHONY: validation validation-suite
validation: validation-suite
	@[ "$$(id -u)" = 0 ] || { echo "make validation needs root" >&2; exit 1; }
	flags=(-suite $(VALIDATION_BIN) -runtime $(RUNTIME) -logs $(VALIDATION_BIN)/logs $(VALIDATION_FLAGS))
	case "$(RUNTIME)" in
	./strata|strata|$(CURDIR)/strata) $(MAKE) --no-print-directory strata
	  flags+=(-expected tests/validation/expected-pass) ;;
	*crun) flags+=(-hugetlb-v1 -oci-version 1.0.2) ;;
	esac
	$(VALIDATION_BIN)/runner "$${flags[@]}"

# The suite's executables: a static runtimetest (it runs inside the containers),
# one binary per validation/<test>, and the rootfs tarball they unpack. Built as
# packages of a dependency of tools/go.mod, so the module zip's incomplete
# vendor/ directory is never used and go.sum pins every byte.
validation-suite:
	mkdir -p $(VALIDATION_BIN)
	cd tools
	CGO_ENABLED=0 $(GO) build -o $(VALIDATION_BIN)/ $(RUNTIME_TOOLS)/cmd/runtimetest $(RUNTIME_TOOLS)/validation/...
	cp -f "$$($(GO) list -m -f '{{.Dir}}' $(RUNTIME_TOOLS))/rootfs-amd64.tar.gz" $(VALIDATION_BIN)/
	chmod 644 $(VALIDATION_BIN)/rootfs-amd64.tar.gz
	cd ..
	$(GO) build -o $(VALIDATION_BIN)/runner ./tests/validation

# Benchmark strata against runc and crun on one busybox bundle, interleaved,
# and write the table to docs/benchmarks.md (see tests/bench). NOT run in CI:
# timings on a shared CI machine are too noisy to gate on. Needs root, and
# installs when missing the runtimes it measures strata against and GNU time
# (the peak RSS row).
BENCH_FLAGS ?=
.PHONY: bench
bench: strata
	@[ "$$(id -u)" = 0 ] || { echo "make bench needs root" >&2; exit 1; }
	@$(MAKE) --no-print-directory deps TEST_PKGS="runc crun time busybox-static"
	$(GO) run ./tests/bench -strata ./strata -out docs/benchmarks.md $(BENCH_FLAGS)

# The image side against the tools users compare it with, interleaved (see
# tests/benchimage): a pull from a docker-registry the bench starts on
# 127.0.0.1 against skopeo copy + umoci unpack, a build and a cached rebuild
# against buildah bud --layers, a commit against podman commit. Writes its
# section of docs/benchmarks.md ("The image side"), keeping the rest. NOT run
# in CI (too noisy to gate on); `make lint` vets it. Needs root and
# docker-registry, skopeo, umoci, buildah, podman and runc.
BENCH_IMAGE_FLAGS ?=
.PHONY: bench-image
bench-image: strata
	@[ "$$(id -u)" = 0 ] || { echo "make bench-image needs root" >&2; exit 1; }
	$(GO) run ./tests/benchimage -strata ./strata -out docs/benchmarks.md $(BENCH_IMAGE_FLAGS)

# Real engines end to end (tests/e2e, docs/e2e.md): containerd 1.6 with ctr,
# dockerd 20.10 and podman 4.3 from apt, each started by the test with private
# root, state, socket and exec-root directories under /tmp, with $(RUNTIME) as
# their OCI runtime (default ./strata, built first; RUNTIME=/usr/sbin/runc
# proves the harness). Behind the build tag e2e: `go test ./...` does not
# compile it. Needs root. The rootless tests (TestRootless*) need a login user
# with subordinate id ranges (E2E_ROOTLESS_USER; the guests of tests/vm have
# one): left out here, run by make vm-test's rootless suite.
E2E_FLAGS ?=
.PHONY: e2e
e2e:
	@[ "$$(id -u)" = 0 ] || { echo "make e2e needs root" >&2; exit 1; }
	case "$(RUNTIME)" in
	./strata|strata|$(CURDIR)/strata) $(MAKE) --no-print-directory strata
	  unset RUNTIME; export STRATA_BINARY=$(CURDIR)/strata ;;
	*) export RUNTIME="$(RUNTIME)" ;;
	esac
	$(GO) test -tags e2e -count=1 -timeout 20m -v -skip '^TestRootless' $(E2E_FLAGS) ./tests/e2e/

# Soak (tests/soak): 1000 sequential and 50 parallel runs of /bin/true and 100
# creates SIGKILLed at random points, then a whole-machine leak check (mounts,
# cgroups under every hierarchy, --root, processes). About 75 s on the 2-core
# test machine, so `make test` runs it too (it lives under tests/); this runs
# it alone, verbose, with its timings. SOAK_FLAGS=-soak.seed=N replays the
# kill points of a failed run. Needs root.
SOAK_FLAGS ?=
.PHONY: soak
soak: strata
	@[ "$$(id -u)" = 0 ] || { echo "make soak needs root" >&2; exit 1; }
	STRATA_BINARY=$(CURDIR)/strata $(GO) test -count=1 -v -timeout 20m ./tests/soak $(SOAK_FLAGS)

# The suites in Debian 12 guest VMs (tests/vm, docs/hosts.md): kernels 6.1
# and 6.12, systemd 252 as PID 1, pure cgroup v2, under qemu with TCG (KVM
# does not run a vCPU on these machines). The guest image is built from
# Debian's packages with mmdebstrap and cached in tests/vm/.cache until
# tests/vm/image.sh changes. Both guests boot at once; each runs the
# integration, security, validation, soak, podman, rootless (a login user of
# the guest, and rootless podman), bundle and checkpoint (CRIU) suites with
# strata and with the guest's runc, and cri and cri2 (tests/cri's TestPod
# with the systemd cgroup driver, containerd 1.6 and 2, both handlers in one
# run). KERNELS="6.12" or SUITES="integration" narrow a run. Needs root.
VM_PKGS := mmdebstrap qemu-system-x86 e2fsprogs
.PHONY: vm-test
vm-test:
	@[ "$$(id -u)" = 0 ] || { echo "make vm-test needs root" >&2; exit 1; }
	need=
	for p in $(VM_PKGS); do dpkg -s "$$p" >/dev/null 2>&1 || need="$$need $$p"; done
	if [ -n "$$need" ]; then apt-get update -q && apt-get install -y -q --no-install-recommends $$need; fi
	GO=$(GO) tests/vm/run.sh

# Kubernetes' path (tests/cri, docs/kubernetes.md), run twice: with
# Debian's containerd 1.6 and with containerd 2 (built from
# tools/containerd2/go.mod, CRI_CONTAINERD names its directory). Its CRI
# plugin with a `strata` handler (the runc shim, BinaryName = the strata
# under test) and a `runc` handler, driven through crictl: a pod, two
# containers sharing its namespaces, exec, logs, stats, update, an OOM kill,
# a teardown that leaves nothing. containerd, the test's image registry
# (docker-registry from apt) and the CNI bridge run in a network namespace
# of the test's. STRATA_BINARY names a prebuilt strata; else ./strata is
# built. The tools are built through the Go module proxy into $(CRI_TOOLS)
# (gitignored) from their own module, tools/cri/go.mod (cri-tools and
# runtime-tools cannot share one opencontainers/selinux). Behind the build
# tag cri. Needs root.
CRI_TOOLS ?= $(CURDIR)/tests/cri/bin
CRI_FLAGS ?=
CNI_PLUGINS := github.com/containernetworking/plugins/plugins
.PHONY: cri cri-tools critest
cri: cri-tools
	@[ "$$(id -u)" = 0 ] || { echo "make cri needs root" >&2; exit 1; }
	if [ -z "$${STRATA_BINARY:-}" ]; then $(MAKE) --no-print-directory strata; export STRATA_BINARY=$(CURDIR)/strata; fi
	CRI_TOOLS=$(CRI_TOOLS) $(GO) test -tags cri -count=1 -timeout 15m -v -run '^TestPod$$' $(CRI_FLAGS) ./tests/cri/
	CRI_TOOLS=$(CRI_TOOLS) CRI_CONTAINERD=$(CRI_TOOLS)/containerd2 $(GO) test -tags cri -count=1 -timeout 15m -v -run '^TestPod$$' $(CRI_FLAGS) ./tests/cri/

# critest, cri-tools' CRI validation suite, against the strata handler and
# the runc handler of one such containerd (TestCritest in tests/cri); fails
# for a spec that passes with runc and not with strata, and writes both
# handlers' counts to $(CRI_TOOLS)/critest-results.txt (docs/kubernetes.md).
# It takes several minutes per handler: not in CI.
critest: cri-tools
	@[ "$$(id -u)" = 0 ] || { echo "make critest needs root" >&2; exit 1; }
	(cd tools/cri && CGO_ENABLED=0 $(GO) test -c -o $(CRI_TOOLS)/critest sigs.k8s.io/cri-tools/cmd/critest)
	if [ -z "$${STRATA_BINARY:-}" ]; then $(MAKE) --no-print-directory strata; export STRATA_BINARY=$(CURDIR)/strata; fi
	CRI_TOOLS=$(CRI_TOOLS) $(GO) test -tags cri -count=1 -timeout 100m -v -run '^TestCritest$$' $(CRI_FLAGS) ./tests/cri/

# crictl and the CNI plugins (bridge, host-local, loopback), static.
cri-tools:
	mkdir -p $(CRI_TOOLS)/cni
	cd tools/cri
	CGO_ENABLED=0 $(GO) build -o $(CRI_TOOLS)/ sigs.k8s.io/cri-tools/cmd/crictl
	CGO_ENABLED=0 $(GO) build -o $(CRI_TOOLS)/cni/ $(CNI_PLUGINS)/main/bridge $(CNI_PLUGINS)/main/loopback $(CNI_PLUGINS)/ipam/host-local
	cd ../containerd2
	CGO_ENABLED=0 $(GO) build -o $(CRI_TOOLS)/containerd2/ github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
