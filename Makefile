# time-service: the book's Go time service as a Spin WebAssembly component on Kubernetes.
# `make help` lists the targets; the README walks through them in order.

# Tool and image versions: pinned here and nowhere else (the workflows run these targets).
WASMTIME_VERSION := 48.0.8
WKG_VERSION := 0.16.1
OHA_VERSION := 1.16.0
CARGO_FUZZ_VERSION := 0.13.2
SPIN_VERSION := v3.6.3
SHIM_VERSION := v0.24.0
K3D_VERSION := v5.8.3
KIND_VERSION := v0.24.0
# kind v0.24 and its v1.31 node image ship containerd 1.7, whose config layout scripts/cluster patches.
# Pinned by the digest kind v0.24.0 itself pins for v1.31.0.
KIND_NODE_IMAGE := kindest/node:v1.31.0@sha256:53df588e04085fd41ae12de0c3fe4c72f7013bba32a20e7325357a1ac94ba865
# The load-balancer controller kind's documentation offers (make expose-lb on kind).
CLOUD_PROVIDER_KIND_IMAGE := registry.k8s.io/cloud-provider-kind/cloud-controller-manager:v0.6.0
KUBECTL_VERSION := v1.31.0
METRICS_SERVER_VERSION := v0.7.2
K8S_SCHEMA_VERSIONS := 1.30.0 1.37.0
# Python linters and validators, in their own virtualenv (.tools/venv).
PYTHON_TOOLS := kubernetes-validate==1.37.0 yamllint==1.38.0 checkov==3.3.30 zizmor==1.32.0 check-jsonschema==0.39.0

# The artifact is the one spin.toml names, so `spin up`, wasmtime and the tests serve one file.
WASM := $(shell sed -n 's/^source = "\(.*\)"$$/\1/p' spin.toml)
# The same component for WASI 0.3 (feature wasip3, spin-sdk 7), in a target directory of its own.
WASM_P3_DIR := target/wasip3
WASM_P3 := $(WASM_P3_DIR)/wasm32-wasip2/release/time_service.wasm
LISTEN ?= 127.0.0.1:3000
# Spin, when installed, serves and pushes; otherwise wasmtime serves and wkg pushes.
SPIN := $(shell command -v spin)
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)

# Publishing and deploying. The cluster's registry answers on localhost:5001 from the host and,
# through each node's registry mirror, from the nodes too.
REGISTRY ?= localhost:5001
IMAGE ?= time-service
TAG ?= $(VERSION)
REF := $(REGISTRY)/$(IMAGE):$(TAG)
# The image k8s/kustomization.yaml renders; deploy's overlay swaps it for the one it pushed.
BASE_IMAGE := $(shell sed -n 's/^ *newName: //p' k8s/kustomization.yaml)
CLUSTER ?= k3d
CLUSTER_NAME ?= time-service
NODE_PORT := 30080
# The LoadBalancer Service's port, the book's 8080 (make expose-lb).
LB_PORT := 8080

# Tools cargo installs go to cargo's bin directory, the Python ones to .tools/venv, the cluster
# tools to .tools/bin.
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
CARGO_BIN := $(CARGO_HOME_DIR)/bin
TOOLS_BIN := $(CURDIR)/.tools/bin
VENV := $(CURDIR)/.tools/venv
export PATH := $(CARGO_BIN):$(TOOLS_BIN):$(VENV)/bin:$(PATH)
# Reproducible on any machine: panic messages embed the source paths of dependencies, which
# live under CARGO_HOME; name them independently of where that is. (Only the wasm target.)
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS := --remap-path-prefix=$(CARGO_HOME_DIR)=/cargo

# The cluster scripts read their versions and names from the environment.
export SPIN_VERSION K3D_VERSION KIND_VERSION KUBECTL_VERSION TOOLS_BIN CLUSTER CLUSTER_NAME SHIM_VERSION \
	NODE_PORT LB_PORT KIND_NODE_IMAGE METRICS_SERVER_VERSION CLOUD_PROVIDER_KIND_IMAGE

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.DEFAULT_GOAL := help
.PHONY: help tools toolchain tool-wasmtime tool-wkg tool-oha tool-fuzz tool-nightly tool-registry tool-go \
	tool-python tool-kubectl cluster-tools build build-wasip3 run test test-lint test-unit test-e2e test-push \
	test-manifests test-fresh test-workflows test-fuzz-build load-local bench bench-quick repro vectors fuzz push \
	cluster cluster-delete deploy overlay smoke port-forward expose-lb logs scale autoscale load undeploy clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

## ---- Build, run, test ---------------------------------------------------------------------

tools: toolchain tool-wasmtime tool-wkg tool-oha tool-fuzz tool-registry tool-go tool-python tool-kubectl ## Install everything the tests use: toolchain, cargo, apt and Python tools

# One target per tool, so that every command installs what it needs itself, once, and nothing more.

# rust-toolchain.toml names the toolchain, the wasm target and the lint components. rustup installs
# them with the toolchain on the first cargo call, but adds nothing to a toolchain that is already
# there, and installs nothing with RUSTUP_AUTO_INSTALL=0: this covers both (no download when all is there).
toolchain:
	@[ "$$(rustup component list --installed 2>/dev/null | grep -cE '^(rust-std-wasm32-wasip2|clippy-.*|rustfmt-.*)$$')" = 3 ] || \
		rustup toolchain install --no-self-update
tool-wasmtime:
	@$(call cargo-install,wasmtime,$(WASMTIME_CRATE),to serve the component over HTTP; it compiles from source$(comma) about 8 minutes on 2 cores)
tool-wkg:
	@$(call cargo-install,wkg,wkg@$(WKG_VERSION),to push and pull OCI wasm artifacts; about 7 minutes on 2 cores)
tool-oha:
	@$(call cargo-install,oha,oha@$(OHA_VERSION),the HTTP load generator; about 7 minutes on 2 cores)
tool-fuzz: tool-nightly
	@$(call cargo-install,cargo-fuzz,cargo-fuzz@$(CARGO_FUZZ_VERSION),the fuzzing driver; under a minute)
tool-nightly:  # cargo-fuzz's sanitizers need a nightly compiler
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal --no-self-update
tool-registry:  # a real OCI registry for test-push
	@$(call apt-install,docker-registry,docker-registry)
tool-go:  # Go's own formatter for the reference vectors, and the book's Go service for the benchmark
	@$(call apt-install,go,golang-go)
tool-python:
	@test -x $(VENV)/bin/checkov || { python3 -m venv $(VENV) && $(VENV)/bin/pip install -q $(PYTHON_TOOLS); }
tool-kubectl:  # test-manifests renders with kubectl kustomize
	@command -v kubectl >/dev/null || $(MAKE) --no-print-directory cluster-tools

comma := ,
# $(call cargo-install,COMMAND,CRATE@VERSION [FLAGS],WHY): cargo install unless COMMAND is on PATH,
# saying first what is installed, why and for how long, and showing cargo's progress.
cargo-install = command -v $(1) >/dev/null || { echo "installing $(firstword $(2)) with cargo install, once: $(3)"; \
	cargo install --locked $(2); }
# Only what `wasmtime serve` needs: the full default feature set takes twice as long to build.
WASMTIME_CRATE := wasmtime-cli@$(WASMTIME_VERSION) --no-default-features \
	--features run,serve,component-model-async,cranelift,cache,parallel-compilation,pooling-allocator,wat
# $(call apt-install,COMMAND,PACKAGE): apt-get install (through sudo unless root) unless COMMAND is on PATH.
apt-install = command -v $(1) >/dev/null || { $(SUDO) apt-get update -qq && \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); }

build: toolchain ## Build the component (wasm32-wasip2) and print its size and sha256
	cargo build --locked --target wasm32-wasip2 --release
	@printf '%s  %s bytes\n' "$$(sha256sum $(WASM) | cut -d' ' -f1)" "$$(stat -c %s $(WASM))"

build-wasip3: toolchain ## Build the same component for WASI 0.3 (spin-sdk 7): wasmtime runs it, Spin and the shim not yet
	CARGO_TARGET_DIR=$(WASM_P3_DIR) cargo build --locked --target wasm32-wasip2 --release --features wasip3
	@printf '%s  %s bytes\n' "$$(sha256sum $(WASM_P3) | cut -d' ' -f1)" "$$(stat -c %s $(WASM_P3))"

run: build $(if $(SPIN),,tool-wasmtime) ## Serve on LISTEN (default 127.0.0.1:3000): spin up if installed, else wasmtime serve
	scripts/serve $(LISTEN) $(WASM)

test: tools build build-wasip3 test-lint test-unit test-e2e test-push test-manifests test-workflows test-fuzz-build repro test-fresh bench-quick ## Install the tools, then run every test
	@echo "make test: all passed"

test-lint: toolchain
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked --release --target wasm32-wasip2 -- -D warnings
	CARGO_TARGET_DIR=$(WASM_P3_DIR) cargo clippy --locked --release --target wasm32-wasip2 --features wasip3 -- -D warnings

test-unit: toolchain
	cargo test --locked --lib --test go_vectors --test clock_properties

# The same end-to-end suite against every host that is installed, and the WASI 0.3 build.
test-e2e: build build-wasip3 tool-wasmtime tool-oha
	HOST=wasmtime cargo test --locked --test e2e
	HOST=wasmtime COMPONENT=$(WASM_P3) cargo test --locked --test e2e
	@if command -v spin >/dev/null; then HOST=spin cargo test --locked --test e2e; \
	else echo "spin is not installed: e2e ran against wasmtime only"; fi

test-push: build tool-registry tool-wkg
	scripts/test-push $(WASM)

test-manifests: tool-kubectl tool-python
	K8S_SCHEMA_VERSIONS="$(K8S_SCHEMA_VERSIONS)" scripts/test-manifests

# make run on a fresh clone with a fresh Rust (stable only): the README's first command, alone.
test-fresh: $(if $(SPIN),,tool-wasmtime)
	scripts/test-fresh $(WASM)

test-workflows: tool-python
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	zizmor --offline .github/workflows
	yamllint --strict .github/workflows

test-fuzz-build: tool-fuzz
	cargo +nightly fuzz build --fuzz-dir fuzz

load-local: build tool-wasmtime tool-oha ## Send 100,000 requests at concurrency 64 to the local host; fail on any error or non-2xx
	HOST=wasmtime LOAD_REQUESTS=100000 cargo test --locked --test e2e -- load

fuzz: tool-fuzz ## Fuzz the router and the formatter for 60 s each (FUZZ_SECONDS)
	cargo +nightly fuzz run --fuzz-dir fuzz router -- -max_total_time=$(or $(FUZZ_SECONDS),60)
	cargo +nightly fuzz run --fuzz-dir fuzz clock -- -max_total_time=$(or $(FUZZ_SECONDS),60)

repro: toolchain ## Build the component twice from clean and check the sha256 is the same
	scripts/repro $(WASM)

vectors: tool-go ## Regenerate testdata/go_time_vectors.tsv with Go's own formatter
	cd testdata/go-vectors && go run . > ../go_time_vectors.tsv

bench: build build-wasip3 tool-wasmtime tool-oha tool-go ## Benchmark against the Spin template, a minimal component, the book's Go service, hyper; write bench/RESULTS.md
	scripts/bench $(WASM) $(WASM_P3)

bench-quick: build build-wasip3 tool-wasmtime tool-oha tool-go
	BENCH_QUICK=1 scripts/bench $(WASM) $(WASM_P3)

## ---- Publish and run on Kubernetes ------------------------------------------------------

push: build $(if $(SPIN),,tool-wkg) ## Push the component to REGISTRY as IMAGE:TAG (spin registry push, else wkg oci push)
	scripts/push $(WASM) $(REF)

cluster-tools: ## Install spin, k3d, kind and kubectl at the pinned versions into .tools/bin
	scripts/cluster-tools

cluster: cluster-tools ## Create a k3d (or CLUSTER=kind) cluster with containerd-shim-spin, a registry, NodePort and load balancer
	scripts/cluster registry
	scripts/cluster create
ifeq ($(CLUSTER),kind)
	scripts/cluster kind-shim            # containerd-shim-spin into every node
	scripts/cluster kind-dbus            # D-Bus on every node: the shim's systemd cgroups need it
	scripts/cluster kind-mirror          # localhost:5001 on the nodes is the registry
	scripts/cluster kind-metrics-server  # CPU figures for the HPA
	scripts/cluster kind-load-balancer   # cloud-provider-kind, for make expose-lb
endif
	scripts/cluster show

cluster-delete: ## Delete the cluster and its registry
	scripts/cluster delete

deploy: push tool-kubectl ## Push to the cluster's registry, apply the RuntimeClass and k8s/ with that image, wait
	kubectl apply -f runtimeclass.yaml
	$(MAKE) --no-print-directory overlay
	kubectl apply -k .deploy
	kubectl rollout status deployment/time-service --timeout=180s

# .deploy/: k8s/ with the image swapped for REF (test-manifests renders it too).
overlay:
	mkdir -p .deploy
	printf 'resources: [../k8s]\nimages:\n- name: %s\n  newName: %s\n  newTag: "%s"\n' \
		$(BASE_IMAGE) $(REGISTRY)/$(IMAGE) $(TAG) > .deploy/kustomization.yaml

smoke: ## curl /time and /nanotime on the NodePort and check the JSON
	scripts/smoke http://localhost:$(NODE_PORT)

port-forward: tool-kubectl ## Forward localhost:9999 to the Service's port 8080 (Ctrl-C to stop)
	kubectl port-forward service/time-service 9999:8080

expose-lb: tool-kubectl ## Expose the pods as a LoadBalancer Service on port 8080 too, wait for its address, curl it
	kubectl apply -k k8s/loadbalancer
	address=$$(scripts/lb-address time-service-lb 120) && scripts/smoke "http://$$address:$(LB_PORT)"

logs: tool-kubectl ## Show the request log of every pod
	kubectl logs --selector app.kubernetes.io/name=time-service --prefix --tail=20

scale: tool-kubectl ## Scale to 3 replicas by hand (the HPA takes over again at its next sync)
	kubectl scale deployment/time-service --replicas=3
	kubectl rollout status deployment/time-service --timeout=180s
	kubectl get pods --selector app.kubernetes.io/name=time-service -o wide

autoscale: tool-kubectl ## Show the HorizontalPodAutoscaler (min 1, max 3, CPU 80%)
	kubectl get hpa time-service
	kubectl describe hpa time-service

load: tool-oha tool-kubectl ## Load the NodePort with oha until the HPA scales out (at most LOAD_SECONDS, 300), show the pods
	scripts/load-until-scaled http://localhost:$(NODE_PORT)/time $(or $(LOAD_SECONDS),300)

undeploy: tool-kubectl ## Delete everything deploy and expose-lb created, the RuntimeClass included
	kubectl delete -k k8s/loadbalancer --ignore-not-found
	kubectl delete -k k8s --ignore-not-found
	kubectl delete -f runtimeclass.yaml --ignore-not-found

clean: ## Remove build outputs
	cargo clean
	rm -rf .deploy
