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
KIND_NODE_IMAGE := kindest/node:v1.31.0
KUBECTL_VERSION := v1.31.0
METRICS_SERVER_VERSION := v0.7.2
K8S_SCHEMA_VERSIONS := 1.30.0 1.37.0
# Python linters and validators, in their own virtualenv (.tools/venv).
PYTHON_TOOLS := kubernetes-validate==1.37.0 yamllint==1.38.0 checkov==3.3.30 zizmor==1.32.0 check-jsonschema==0.39.0

# The artifact is the one spin.toml names, so `spin up`, wasmtime and the tests serve one file.
WASM := $(shell sed -n 's/^source = "\(.*\)"$$/\1/p' spin.toml)
LISTEN ?= 127.0.0.1:3000
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

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.DEFAULT_GOAL := help
.PHONY: help tools cluster-tools build run test test-lint test-unit test-e2e test-push test-manifests test-workflows \
	test-fuzz-build load-local bench bench-quick repro vectors fuzz push cluster cluster-delete deploy overlay \
	smoke port-forward logs scale autoscale load undeploy clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

## ---- Build, run, test ---------------------------------------------------------------------

tools: ## Install what build, run and test need: Rust targets, nightly, cargo, Python and apt tools
	rustup target add wasm32-wasip2
	rustup component add clippy rustfmt
	rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	command -v docker-registry >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry; }
	test -x $(VENV)/bin/checkov || { python3 -m venv $(VENV) && $(VENV)/bin/pip install -q $(PYTHON_TOOLS); }
	command -v kubectl >/dev/null || $(MAKE) --no-print-directory cluster-tools  # test-manifests renders with it
	@$(call cargo-install,wasmtime,$(WASMTIME_CRATE))
	@$(call cargo-install,wkg,wkg@$(WKG_VERSION))
	@$(call cargo-install,oha,oha@$(OHA_VERSION))
	@$(call cargo-install,cargo-fuzz,cargo-fuzz@$(CARGO_FUZZ_VERSION))

# $(call cargo-install,COMMAND,CRATE@VERSION [FLAGS]): cargo install unless COMMAND is on PATH.
cargo-install = command -v $(1) >/dev/null || { echo "installing $(2)"; cargo install --locked $(2); }
# Only what `wasmtime serve` needs: the full default feature set takes twice as long to build.
WASMTIME_CRATE := wasmtime-cli@$(WASMTIME_VERSION) --no-default-features \
	--features run,serve,component-model-async,cranelift,cache,parallel-compilation,pooling-allocator,wat

build: ## Build the component (wasm32-wasip2) and print its size and sha256
	cargo build --locked --target wasm32-wasip2 --release
	@printf '%s  %s bytes\n' "$$(sha256sum $(WASM) | cut -d' ' -f1)" "$$(stat -c %s $(WASM))"

run: build ## Serve on LISTEN (default 127.0.0.1:3000): spin up if installed, else wasmtime serve
	@command -v spin >/dev/null || $(call cargo-install,wasmtime,$(WASMTIME_CRATE))
	scripts/serve $(LISTEN) $(WASM)

test: tools build test-lint test-unit test-e2e test-push test-manifests test-workflows test-fuzz-build repro bench-quick ## Install the tools, then run every test
	@echo "make test: all passed"

test-lint:
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked --release --target wasm32-wasip2 -- -D warnings

test-unit:
	cargo test --locked --lib --test go_vectors --test clock_properties

# The same end-to-end suite against every host that is installed.
test-e2e: build
	HOST=wasmtime cargo test --locked --test e2e
	@if command -v spin >/dev/null; then HOST=spin cargo test --locked --test e2e; \
	else echo "spin is not installed: e2e ran against wasmtime only"; fi

test-push: build
	scripts/test-push $(WASM)

test-manifests:
	K8S_SCHEMA_VERSIONS="$(K8S_SCHEMA_VERSIONS)" scripts/test-manifests

test-workflows:
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	zizmor --offline .github/workflows
	yamllint --strict .github/workflows

test-fuzz-build:
	cargo +nightly fuzz build --fuzz-dir fuzz

load-local: build ## Send 100,000 requests at concurrency 64 to the local host; fail on any error or non-2xx
	HOST=wasmtime LOAD_REQUESTS=100000 cargo test --locked --test e2e -- load

fuzz: ## Fuzz the router and the formatter for 60 s each (FUZZ_SECONDS)
	cargo +nightly fuzz run --fuzz-dir fuzz router -- -max_total_time=$(or $(FUZZ_SECONDS),60)
	cargo +nightly fuzz run --fuzz-dir fuzz clock -- -max_total_time=$(or $(FUZZ_SECONDS),60)

repro: ## Build the component twice from clean and check the sha256 is the same
	scripts/repro

vectors: ## Regenerate testdata/go_time_vectors.tsv with Go's own formatter (needs go)
	cd testdata/go-vectors && go run . > ../go_time_vectors.tsv

bench: ## Benchmark the component against a hello-world floor and a native server; write bench/RESULTS.md
	scripts/bench

bench-quick:
	BENCH_QUICK=1 scripts/bench

## ---- Publish and run on Kubernetes ------------------------------------------------------

push: build ## Push the component to REGISTRY as IMAGE:TAG (spin registry push, else wkg oci push)
	scripts/push $(WASM) $(REF)

cluster-tools: ## Install spin, k3d, kind and kubectl at the pinned versions into .tools/bin
	SPIN_VERSION=$(SPIN_VERSION) K3D_VERSION=$(K3D_VERSION) KIND_VERSION=$(KIND_VERSION) KUBECTL_VERSION=$(KUBECTL_VERSION) \
		TOOLS_BIN=$(TOOLS_BIN) scripts/cluster-tools

cluster: ## Create a k3d (or CLUSTER=kind) cluster with containerd-shim-spin, a registry and port 30080
	CLUSTER=$(CLUSTER) CLUSTER_NAME=$(CLUSTER_NAME) SHIM_VERSION=$(SHIM_VERSION) NODE_PORT=$(NODE_PORT) \
		KIND_NODE_IMAGE=$(KIND_NODE_IMAGE) METRICS_SERVER_VERSION=$(METRICS_SERVER_VERSION) \
		scripts/cluster create

cluster-delete: ## Delete the cluster and its registry
	CLUSTER=$(CLUSTER) CLUSTER_NAME=$(CLUSTER_NAME) scripts/cluster delete

deploy: push ## Push to the cluster's registry, apply the RuntimeClass and k8s/ with that image, wait
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

port-forward: ## Forward localhost:9999 to the Service's port 8080 (Ctrl-C to stop)
	kubectl port-forward service/time-service 9999:8080

logs: ## Show the request log of every pod
	kubectl logs --selector app.kubernetes.io/name=time-service --prefix --tail=20

scale: ## Scale to 3 replicas by hand (the HPA takes over again at its next sync)
	kubectl scale deployment/time-service --replicas=3
	kubectl rollout status deployment/time-service --timeout=180s
	kubectl get pods --selector app.kubernetes.io/name=time-service -o wide

autoscale: ## Show the HorizontalPodAutoscaler (min 1, max 3, CPU 80%)
	kubectl get hpa time-service
	kubectl describe hpa time-service

load: ## Load the NodePort with oha until the HPA scales out (at most LOAD_SECONDS, 300), show the pods
	scripts/load-until-scaled http://localhost:$(NODE_PORT)/time $(or $(LOAD_SECONDS),300)

undeploy: ## Delete everything deploy created: the objects of k8s/ and the RuntimeClass
	kubectl delete -k k8s --ignore-not-found
	kubectl delete -f runtimeclass.yaml --ignore-not-found

clean: ## Remove build outputs
	cargo clean
	rm -rf .deploy
