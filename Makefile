# time-service: the book's Go time service as a Spin WebAssembly component on Kubernetes.
# `make help` lists the targets; the README walks through them in order.

# Tool and image versions: pinned here and nowhere else (the workflows run these targets).
WASMTIME_VERSION := 48.0.8
WKG_VERSION := 0.16.1
OHA_VERSION := 1.16.0
CARGO_FUZZ_VERSION := 0.13.2
SPIN_VERSION := v3.6.3
# The shim release proven on a node (Spin 3.6). v0.25.x exists (Spin 4.0) and has not been run on a
# node here: `make cluster SHIM_VERSION=v0.25.1` tries it (k3d's image tag and kind's download follow).
SHIM_VERSION := v0.24.0
# k3d's node is the shim's own image at SHIM_VERSION: rancher/k3s v1.35.2-k3s1 (containerd 2) plus the shim.
K3D_VERSION := v5.8.3
# k3d publishes no checksum file: the sha256 of each k3d-linux-ARCH binary at K3D_VERSION.
K3D_SHA256_amd64 := dbaa79a76ace7f4ca230a1ff41dc7d8a5036a8ad0309e9c54f9bf3836dbe853e
K3D_SHA256_arm64 := 0b8110f2229631af7402fb828259330985918b08fefd38b7f1b788a1c8687216
# k3d's schema for its config file (make cluster writes one), read at the commit K3D_VERSION tags:
# scripts/test-cluster validates against it where it can be downloaded.
MANIFESTS_k3d_config_schema_BASE := https://raw.githubusercontent.com/k3d-io/k3d/201b614ea6798f0ee9e75c63360eef891b36bb19
MANIFESTS_k3d_config_schema_FILES := \
	pkg/config/v1alpha5/schema.json=b6ded41929fb6d52491e5e082865847b218eba3f5418852e0cb7bf0608fbae32
KIND_VERSION := v0.32.0
# The node image kind v0.32.0 defaults to, by the digest it pins: Kubernetes 1.36.1, containerd 2.3.1.
KIND_NODE_IMAGE := kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5
# The load-balancer controller kind's documentation offers (make expose-lb on kind).
CLOUD_PROVIDER_KIND_IMAGE := registry.k8s.io/cloud-provider-kind/cloud-controller-manager:v0.11.1
KUBECTL_VERSION := v1.36.2
METRICS_SERVER_VERSION := v0.9.0
# SpinKube's spin-operator, for make cluster-spinkube and deploy-spinapp: installed as SpinKube's
# quickstart does (cert-manager, the CRDs, the RuntimeClass, the Helm chart, the shim executor). Its
# manifests are read at the commit v0.6.1 tags, each checked by its sha256 (scripts/fetch-tools
# spin-operator); the chart is pulled from the operator's OCI registry by version.
SPIN_OPERATOR_VERSION := v0.6.1
MANIFESTS_spin_operator_BASE := https://raw.githubusercontent.com/spinframework/spin-operator/96c9d1d1d69c2c04e005375c44f323fb10e31002
MANIFESTS_spin_operator_FILES := \
	config/crd/bases/core.spinkube.dev_spinapps.yaml=08051de70925efe25bafca636c9b9410a4fe61e17015bd199be1efa04a5b5762 \
	config/crd/bases/core.spinkube.dev_spinappexecutors.yaml=c290585b469a6076eeab764af63be1aac11d584c903b5f72a45a1df807634107 \
	config/samples/spin-runtime-class.yaml=51abe9088f50b622cd0f88274a3c694bd1a9758e9a3a3fed57c296f9114b5840 \
	config/samples/spin-shim-executor.yaml=2d0a0aa0aa1246435ee7c5869aad54058814fa9f690898e9ef629dc3b1cf6b2d
# KEDA and its HTTP Add-on, for make cluster-keda and deploy-scale-to-zero: their release manifests,
# by version. The CRDs test-manifests validates against, the add-on's InterceptorRoute and KEDA's
# ScaledObject, are read at the commits v0.15.0 and v2.20.2 tag, each checked by its sha256
# (scripts/fetch-tools keda-http-add-on, keda).
KEDA_VERSION := v2.20.2
KEDA_HTTP_ADD_ON_VERSION := v0.15.0
# The add-on's activation timing, set on its scaler by make cluster-keda (docs/scale-to-zero.md):
# its queue tick (a Go duration) and its push interval to KEDA, in ms. The add-on's are 500ms and 200.
KEDA_HTTP_QUEUE_TICK := 100ms
KEDA_HTTP_PUSH_INTERVAL_MS := 100
MANIFESTS_keda_http_add_on_BASE := https://raw.githubusercontent.com/kedacore/http-add-on/4ea8a863bd7c16464dc5afbe9ebc8a26e563fac0
MANIFESTS_keda_http_add_on_FILES := \
	config/crd/bases/http.keda.sh_interceptorroutes.yaml=a706e998936b0ba41ff890673be57578f6280b0b3308e9b86b67b745d7b3480b
MANIFESTS_keda_BASE := https://raw.githubusercontent.com/kedacore/keda/68a5b5028f35b22d50597c69819ab32c4e92f21a
MANIFESTS_keda_FILES := \
	config/crd/bases/keda.sh_scaledobjects.yaml=af35555862a83933b074af14ad439c4b4ceabaf4daa3e9338e9b23e36d308d80
# The cert-manager release SpinKube's quickstart installs first (the operator's webhooks need it).
CERT_MANAGER_VERSION := v1.14.3
HELM_VERSION := v3.19.0
# The oldest Kubernetes the manifests support, the clusters' (k3d 1.35, kind 1.36), and the newest.
K8S_SCHEMA_VERSIONS := 1.30.0 1.35.0 1.36.0 1.37.0
# Python linters and validators, in their own virtualenv (.tools/venv).
PYTHON_TOOLS := kubernetes-validate==1.37.0 yamllint==1.38.0 checkov==3.3.30 zizmor==1.32.0 check-jsonschema==0.39.0

# The artifact is the one spin.toml names, so `spin up`, wasmtime and the tests serve one file.
WASM := $(shell sed -n 's/^source = "\(.*\)"$$/\1/p' spin.toml)
# The same component for WASI 0.3 (feature wasip3, spin-sdk 7), in a target directory of its own.
WASM_P3_DIR := target/wasip3
WASM_P3 := $(WASM_P3_DIR)/wasm32-wasip2/release/time_service.wasm
LISTEN ?= 127.0.0.1:3000
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)

# Publishing and deploying. The cluster's registry answers on localhost:5001 from the host and,
# through each node's registry mirror, from the nodes too.
REGISTRY ?= localhost:5001
IMAGE ?= time-service
# How make push packages the component (docs/image-forms.md compares the three):
#   wasm      the default: one application/wasm layer, the component alone (scripts/oci-image --wasm,
#             wkg's layout): precompiled starts, small pods, no restarts at scale-out; one component
#             on /... and nothing more (scripts/check-wasm-form guards that)
#   spinkube  SpinKube's layout (spin registry push): spin.toml whole, for apps that need more of it
#   image     an ordinary one-layer OCI image holding /spin.toml and the component, for containerd
#             older than 1.7.7 / 1.6.25, which cannot pull wasm artifacts
IMAGE_FORM ?= wasm
IMAGE_FORMS := wasm spinkube image
# Each form its own tag, so that switching forms rolls the pods out.
TAG ?= $(VERSION)$(if $(filter-out wasm,$(IMAGE_FORM)),-$(IMAGE_FORM))
REF := $(REGISTRY)/$(IMAGE):$(TAG)
# The book's Go service as a container, beside the component (make push-container, deploy-container).
CONTAINER_REF := $(REGISTRY)/$(IMAGE)-container:$(VERSION)
GO_SERVICE := target/container/go-time-service
# The OCI image layouts scripts/oci-image writes and scripts/push pushes.
WASM_LAYOUT := target/oci/wasm
SPIN_IMAGE_LAYOUT := target/oci/spin-image
CONTAINER_LAYOUT := target/oci/container
# The image k8s/ renders; deploy's overlay swaps it for the one it pushed.
BASE_IMAGE := $(shell sed -n 's/^ *newName: //p' k8s/base/kustomization.yaml)
CLUSTER ?= k3d
CLUSTER_NAME ?= time-service
# make cluster NODES=N: N worker nodes (k3d agents, kind workers) beside the control plane, all but
# the last with the shim (the wasm pool; a lone worker has it too), the last a plain node. 0: one node.
NODES ?= 0
# The RuntimeClass make deploy uses, and the label of the nodes that run the shim: runtimeclass.yaml's
# nodeSelector unless given (make cluster puts it on the nodes it gives the shim; make deploy
# WASM_NODE_SELECTOR=KEY=VALUE applies the RuntimeClass with another).
RUNTIME_CLASS_FILE := runtimeclass.yaml
RUNTIME_CLASS_LABEL := $(shell sed -n 's|^    \(app.kubernetes.io/part-of\): |\1=|p' $(RUNTIME_CLASS_FILE))
WASM_NODE_SELECTOR ?= $(shell sed -n '/^  nodeSelector:/,/^[^ ]/{s/^    \([^:]*\): *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1=\2/p}' \
	$(RUNTIME_CLASS_FILE) | paste -sd, -)
NODE_PORT := 30080
CONTAINER_NODE_PORT := 30081
# KEDA's HTTP interceptor, through which both apps are reached when they scale to zero.
SCALE_TO_ZERO_NODE_PORT := 30082
# The LoadBalancer Service's port, the book's 8080 (make expose-lb).
LB_PORT := 8080

# Tools cargo installs go to cargo's bin directory, the Python ones to .tools/venv, the cluster
# tools to .tools/bin.
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
CARGO_BIN := $(CARGO_HOME_DIR)/bin
TOOLS_BIN := $(CURDIR)/.tools/bin
VENV := $(CURDIR)/.tools/venv
export PATH := $(CARGO_BIN):$(TOOLS_BIN):$(VENV)/bin:$(PATH)
# Spin, when installed (or fetched into .tools/bin by make run), serves; otherwise wasmtime does.
# (make 4.3's $(shell) does not see the exported PATH: give it.)
SPIN := $(shell PATH="$(PATH)" command -v spin)
# Reproducible on any machine: panic messages embed the source paths of dependencies, which
# live under CARGO_HOME; name them independently of where that is. (Only the wasm target.)
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS := --remap-path-prefix=$(CARGO_HOME_DIR)=/cargo

# The cluster scripts and make compare read their versions, names and ports from the environment.
export SPIN_VERSION K3D_VERSION K3D_SHA256_amd64 K3D_SHA256_arm64 KIND_VERSION KUBECTL_VERSION TOOLS_BIN CLUSTER CLUSTER_NAME SHIM_VERSION \
	NODE_PORT CONTAINER_NODE_PORT LB_PORT KIND_NODE_IMAGE METRICS_SERVER_VERSION CLOUD_PROVIDER_KIND_IMAGE \
	IMAGE_FORM REF CONTAINER_REF NODES RUNTIME_CLASS_FILE WASM_NODE_SELECTOR \
	HELM_VERSION SPIN_OPERATOR_VERSION CERT_MANAGER_VERSION MANIFESTS_spin_operator_BASE MANIFESTS_spin_operator_FILES \
	SCALE_TO_ZERO_NODE_PORT KEDA_VERSION KEDA_HTTP_ADD_ON_VERSION KEDA_HTTP_QUEUE_TICK KEDA_HTTP_PUSH_INTERVAL_MS MANIFESTS_keda_http_add_on_BASE MANIFESTS_keda_http_add_on_FILES MANIFESTS_keda_BASE MANIFESTS_keda_FILES \
	MANIFESTS_k3d_config_schema_BASE MANIFESTS_k3d_config_schema_FILES

# What make runs against a cluster (cluster-checks/: one subcommand per target).
CLUSTER_CHECKS := cargo run --quiet --locked -p cluster-checks --

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.DEFAULT_GOAL := help
.PHONY: help tools cargo-tools toolchain tool-wasmtime tool-wkg tool-oha tool-fuzz tool-nightly tool-registry tool-go tool-skopeo \
	tool-python tool-kubectl tool-spin cluster-tools build build-wasip3 go-service wasm-artifact spin-image container-image \
	run test test-lint test-unit test-e2e test-wasm-form test-push test-cluster-checks test-cluster test-cluster-commands test-manifests test-docs test-fetch test-fresh test-workflows test-fuzz-build load-local bench bench-quick \
	repro vectors fuzz push push-container cluster cluster-spinkube cluster-delete deploy deploy-container deploy-spinapp deploy-scale-to-zero overlay smoke port-forward \
	expose-lb logs scale scale-out autoscale load rollout drain-check registry-outage compare undeploy undeploy-container undeploy-spinapp undeploy-scale-to-zero cold-start cluster-keda clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-24s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

## ---- Build, run, test ---------------------------------------------------------------------

tools: toolchain tool-wasmtime tool-wkg tool-oha tool-fuzz tool-registry tool-go tool-skopeo tool-python tool-kubectl ## Install everything the tests use: toolchain, cargo, apt and Python tools

# One target per tool, so that every command installs what it needs itself, once, and nothing more.

# rust-toolchain.toml names the toolchain, the wasm target and the lint components. rustup installs
# them with the toolchain on the first cargo call, but adds nothing to a toolchain that is already
# there, and installs nothing with RUSTUP_AUTO_INSTALL=0: this covers both (no download when all is there).
toolchain:
	@[ "$$(rustup component list --installed 2>/dev/null | grep -cE '^(rust-std-wasm32-wasip2|clippy-.*|rustfmt-.*)$$')" = 3 ] || \
		rustup toolchain install --no-self-update
tool-wasmtime:
	@$(call cargo-install,wasmtime,$(WASMTIME_CRATE),to serve the component over HTTP; it compiles from source$(comma) 8 to 10 minutes on 2 cores)
tool-wkg:
	@$(call cargo-install,wkg,wkg@$(WKG_VERSION),test-push pulls the wasm artifact with it and checks it against its own push; 5 to 7 minutes on 2 cores)
tool-oha:
	@$(call cargo-install,oha,oha@$(OHA_VERSION),the HTTP load generator; 5 to 7 minutes on 2 cores)
tool-fuzz: tool-nightly
	@$(call cargo-install,cargo-fuzz,cargo-fuzz@$(CARGO_FUZZ_VERSION),the fuzzing driver; under a minute)
tool-nightly:  # cargo-fuzz's sanitizers need a nightly compiler
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal --no-self-update
tool-registry:  # a real OCI registry for test-push
	@$(call apt-install,docker-registry,docker-registry)
tool-go:  # Go's own formatter for the reference vectors, and the book's Go service
	@$(call apt-install,go,golang-go)
tool-skopeo:  # pushes the OCI layouts (IMAGE_FORM=wasm and image, push-container) without a daemon
	@$(call apt-install,skopeo,skopeo)
tool-python:
	@test -x $(VENV)/bin/checkov || { python3 -m venv $(VENV) && $(VENV)/bin/pip install -q $(PYTHON_TOOLS); }
tool-kubectl:  # test-manifests renders with kubectl kustomize; test-cluster-commands watches a fake apiserver with it
	@command -v kubectl >/dev/null || scripts/fetch-tools kubectl
tool-spin:  # make push IMAGE_FORM=spinkube pushes with spin registry push
	@command -v spin >/dev/null || scripts/fetch-tools spin

comma := ,
# $(call cargo-install,COMMAND,CRATE@VERSION [FLAGS],WHY): cargo install unless COMMAND is on PATH,
# saying first what is installed, why and for how long, and showing cargo's progress.
cargo-install = command -v $(1) >/dev/null || { echo "installing $(firstword $(2)) with cargo install, once: $(3)"; \
	cargo install --locked $(2); }
# Only what `wasmtime serve` needs: the full default feature set takes twice as long to build.
WASMTIME_CRATE := wasmtime-cli@$(WASMTIME_VERSION) --no-default-features \
	--features run,serve,component-model-async,cranelift,cache,parallel-compilation,pooling-allocator,wat
# What make tools compiles, crate, version and features: the workflows key their cache of the four
# binaries on this line, so that a new pin compiles again (make -s cargo-tools).
CARGO_TOOLS := $(WASMTIME_CRATE) wkg@$(WKG_VERSION) oha@$(OHA_VERSION) cargo-fuzz@$(CARGO_FUZZ_VERSION)
cargo-tools:
	@echo '$(CARGO_TOOLS)'
# $(call apt-install,COMMAND,PACKAGE): apt-get install (through sudo unless root) unless COMMAND is on PATH.
apt-install = command -v $(1) >/dev/null || { $(SUDO) apt-get update -qq && \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); }

build: toolchain ## Build the component (wasm32-wasip2) and print its size and sha256
	cargo build --locked --target wasm32-wasip2 --release
	@printf '%s  %s bytes\n' "$$(sha256sum $(WASM) | cut -d' ' -f1)" "$$(stat -c %s $(WASM))"

build-wasip3: toolchain ## Build the same component for WASI 0.3 (spin-sdk 7): wasmtime runs it, Spin and the shim not yet
	CARGO_TARGET_DIR=$(WASM_P3_DIR) cargo build --locked --target wasm32-wasip2 --release --features wasip3
	@printf '%s  %s bytes\n' "$$(sha256sum $(WASM_P3) | cut -d' ' -f1)" "$$(stat -c %s $(WASM_P3))"

# Spin is the host this project is about: fetched in seconds where its releases can be downloaded.
# Only where that is impossible does wasmtime serve, which cargo compiles from source once.
run: build ## Serve on LISTEN (default 127.0.0.1:3000) with spin up (fetched if missing), else wasmtime serve
	@command -v spin >/dev/null || why=$$(scripts/fetch-tools spin 3>&1 1>&2 2>&3) || \
		{ echo "make run: Spin $(SPIN_VERSION) cannot be fetched ($$why): serving with wasmtime instead"; \
		$(MAKE) --no-print-directory tool-wasmtime; }
	scripts/serve $(LISTEN) $(WASM)

test: tools build build-wasip3 test-lint test-unit test-e2e test-wasm-form test-push test-cluster-checks test-cluster test-cluster-commands test-manifests test-docs test-workflows test-fuzz-build test-fetch repro test-fresh bench-quick ## Install the tools, then run every test
	@echo "make test: all passed"

test-lint: toolchain
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked -p cluster-checks --all-targets -- -D warnings
	cargo clippy --locked --release --target wasm32-wasip2 -- -D warnings
	CARGO_TARGET_DIR=$(WASM_P3_DIR) cargo clippy --locked --release --target wasm32-wasip2 --features wasip3 -- -D warnings

test-unit: toolchain
	cargo test --locked --lib --test go_vectors --test clock_properties
	cargo test --locked -p cluster-checks

# The same end-to-end suite against every host that is installed, and the WASI 0.3 build.
test-e2e: build build-wasip3 tool-wasmtime tool-oha
	HOST=wasmtime cargo test --locked --test e2e
	HOST=wasmtime COMPONENT=$(WASM_P3) cargo test --locked --test e2e
	@if command -v spin >/dev/null; then HOST=spin cargo test --locked --test e2e; \
	else echo "spin is not installed: e2e ran against wasmtime only"; fi

test-wasm-form:  # scripts/check-wasm-form passes spin.toml and refuses what the wasm form cannot carry
	scripts/test-wasm-form

test-push: wasm-artifact spin-image container-image tool-registry tool-wkg tool-skopeo tool-wasmtime tool-oha
	scripts/test-push $(WASM) $(WASM_LAYOUT) $(SPIN_IMAGE_LAYOUT) $(CONTAINER_LAYOUT) $(GO_SERVICE)

# make rollout's and drain-check's load check, on loopback: undisturbed it passes; a server that resets
# its kept-alive connections mid-request shows drops, one per reset; a killed host shows refusals.
test-cluster-checks: build tool-wasmtime tool-oha
	COMPONENT=$(WASM) $(CLUSTER_CHECKS) self-test

# scripts/cluster against stub docker, k3d, kind and kubectl: which node gets which runtime and label.
test-cluster: tool-go tool-python
	scripts/test-cluster

# make deploy-spinapp's and deploy-scale-to-zero's checks against a stub kubectl: what they apply, in
# which order, and nothing when they stop.
test-cluster-commands: tool-python tool-kubectl tool-oha
	scripts/test-cluster-commands

test-manifests: tool-kubectl tool-python
	K8S_SCHEMA_VERSIONS="$(K8S_SCHEMA_VERSIONS)" scripts/test-manifests

# make run on a fresh clone with a fresh Rust (stable only): the README's first command, alone.
test-fresh: $(if $(SPIN),,tool-wasmtime)
	scripts/test-fresh $(WASM)

test-fetch:  # fetch-tools' checksum check against a release served on loopback
	scripts/test-fetch

test-docs:  # the README under 8 KB, every link between the pages resolving
	scripts/check-docs

test-workflows: tool-python
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	check-jsonschema --builtin-schema vendor.github-actions .github/actions/*/action.yml
	zizmor --offline .github
	yamllint --strict .github

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

bench: build build-wasip3 go-service tool-wasmtime tool-oha ## Benchmark against the Spin template, a minimal component, the book's Go service, hyper; write bench/RESULTS.md
	scripts/bench $(WASM) $(WASM_P3) $(GO_SERVICE)

bench-quick: build build-wasip3 go-service tool-wasmtime tool-oha
	BENCH_QUICK=1 scripts/bench $(WASM) $(WASM_P3) $(GO_SERVICE)

## ---- Publish and run on Kubernetes ------------------------------------------------------

$(if $(filter-out $(IMAGE_FORMS),$(IMAGE_FORM)),$(error IMAGE_FORM must be one of $(IMAGE_FORMS), not '$(IMAGE_FORM)'))
# What each form pushes, and what it needs to.
PUSH_SOURCE_wasm := $(WASM_LAYOUT)
PUSH_NEEDS_wasm := wasm-artifact tool-skopeo
PUSH_SOURCE_spinkube := $(WASM)
PUSH_NEEDS_spinkube := build tool-spin
PUSH_SOURCE_image := $(SPIN_IMAGE_LAYOUT)
PUSH_NEEDS_image := spin-image tool-skopeo
push: $(PUSH_NEEDS_$(IMAGE_FORM)) ## Push the component to REGISTRY as IMAGE:TAG in IMAGE_FORM: wasm (the default), spinkube or image
	scripts/push $(PUSH_SOURCE_$(IMAGE_FORM)) $(REF)

push-container: container-image tool-skopeo ## Push the book's Go service as a container image to REGISTRY as IMAGE-container
	scripts/push $(CONTAINER_LAYOUT) $(CONTAINER_REF)

# The book's Go service: static (the image has no libc) and reproducible (no paths, no build ID, no
# git revision: the same source gives the same bytes whatever the checkout).
go-service: tool-go
	cd container && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags=-buildid= -o $(abspath $(GO_SERVICE)) .

# The one-layer images (scripts/oci-image). IMAGE_FORM=wasm: the component alone, once spin.toml is
# known to ask for nothing more. IMAGE_FORM=image: spin.toml with only its source rewritten to the
# component beside it, as the shim reads an image's /spin.toml.
wasm-artifact: build
	scripts/check-wasm-form spin.toml
	scripts/oci-image $(WASM_LAYOUT) --wasm $(WASM)
spin-image: build
	mkdir -p $(dir $(SPIN_IMAGE_LAYOUT))
	sed 's|^source = ".*"$$|source = "time_service.wasm"|' spin.toml > $(dir $(SPIN_IMAGE_LAYOUT))spin.toml
	scripts/oci-image $(SPIN_IMAGE_LAYOUT) --file $(dir $(SPIN_IMAGE_LAYOUT))spin.toml:/spin.toml:644 \
		--file $(WASM):/time_service.wasm:644
container-image: go-service
	scripts/oci-image $(CONTAINER_LAYOUT) --file $(GO_SERVICE):/go-time-service:755 \
		--entrypoint /go-time-service --user 65532:65532 --port 8080

cluster-tools: ## Fetch spin, k3d, kind and kubectl at the pinned versions into .tools/bin, checksums verified
	scripts/fetch-tools spin k3d kind kubectl

cluster: cluster-tools ## Create a k3d (or CLUSTER=kind) cluster with containerd-shim-spin (NODES=3: a wasm pool of two and a plain node), a registry, NodePort and load balancer
	scripts/cluster registry
	scripts/cluster create
ifeq ($(CLUSTER),kind)
	scripts/cluster kind-shim            # containerd-shim-spin into the wasm nodes
	scripts/cluster kind-dbus            # D-Bus on the wasm nodes: the shim's systemd cgroups need it
	scripts/cluster kind-mirror          # localhost:5001 on the nodes is the registry
	scripts/cluster kind-metrics-server  # CPU figures for the HPA
	scripts/cluster kind-load-balancer   # cloud-provider-kind, for make expose-lb
endif
	scripts/cluster label                # WASM_NODE_SELECTOR on the nodes with the shim
	scripts/cluster show

cluster-spinkube: cluster-tools ## Install SpinKube's spin-operator on the cluster as its quickstart does (cert-manager, CRDs, RuntimeClass, chart, shim executor), for deploy-spinapp
	scripts/fetch-tools helm spin-operator
	scripts/cluster spinkube

cluster-keda: cluster-tools ## Install KEDA v2.20.2 and its HTTP Add-on v0.15.0 on the cluster (its scaler's activation timing set), for deploy-scale-to-zero
	scripts/cluster keda

cluster-delete: ## Delete the cluster and its registry
	scripts/cluster delete

deploy: push tool-kubectl tool-skopeo ## Push to the cluster's registry, use the cluster's RuntimeClass (or apply ours), apply k8s/ with the pushed image's digest, wait
	$(CLUSTER_CHECKS) runtime-class
	$(call deploy-overlay,component,$(REF))
	kubectl apply -k .deploy/component
	kubectl rollout status deployment/time-service --timeout=180s

# SpinKube's path: spin-operator makes the Deployment and a ClusterIP Service from k8s/spinapp/'s SpinApp;
# the project adds the NodePort, HPA, PodDisruptionBudget and NetworkPolicy, and patches into the
# operator's Deployment what a SpinApp has no field for (docs/spinkube.md).
SPINAPP_EXECUTOR_FILE := k8s/spinapp-executor/spinappexecutor.yaml
SPINAPP_EXECUTOR := $(shell sed -n 's/^  name: //p' $(SPINAPP_EXECUTOR_FILE))
deploy-spinapp: push tool-kubectl tool-skopeo ## Deploy as a SpinApp through spin-operator (SpinKube), with make deploy's NodePort, probes, pause and hardening
	$(CLUSTER_CHECKS) spinapp-prepare $(SPINAPP_EXECUTOR_FILE) time-service
	$(call deploy-overlay,spinapp,$(REF))
	kubectl apply -k .deploy/spinapp
	$(CLUSTER_CHECKS) spinapp-harden k8s time-service

# The SpinApp first: spin-operator refuses to let an executor go while a SpinApp names it.
undeploy-spinapp: tool-kubectl ## Delete what deploy-spinapp created: the SpinApp and its objects, then the executor and RuntimeClass if ours
	$(CLUSTER_CHECKS) spinapp-undeploy k8s/spinapp time-service $(SPINAPP_EXECUTOR)
	$(CLUSTER_CHECKS) runtime-class-release

# Scale to zero: KEDA's HTTP Add-on scales the app between 0 and 3 on the requests its interceptor
# proxies (docs/scale-to-zero.md). SCALE_TO_ZERO names the app: component (the default) or container.
SCALE_TO_ZERO ?= component
$(if $(filter-out component container,$(SCALE_TO_ZERO)),$(error SCALE_TO_ZERO must be component or container, not '$(SCALE_TO_ZERO)'))
STZ_PUSH_component := push
STZ_PUSH_container := push-container
STZ_REF_component := $(REF)
STZ_REF_container := $(CONTAINER_REF)
STZ_DIR_component := scale-to-zero
STZ_DIR_container := scale-to-zero-container
STZ_DEPLOYMENT_component := time-service
STZ_DEPLOYMENT_container := time-service-container
STZ_DIR := $(STZ_DIR_$(SCALE_TO_ZERO))
STZ_DEPLOYMENT := $(STZ_DEPLOYMENT_$(SCALE_TO_ZERO))
deploy-scale-to-zero: $(STZ_PUSH_$(SCALE_TO_ZERO)) tool-kubectl tool-skopeo ## Scale to zero with KEDA's HTTP Add-on (SCALE_TO_ZERO=container: the Go service), reached through the interceptor on NodePort 30082
	$(CLUSTER_CHECKS) scale-to-zero-prepare $(STZ_DEPLOYMENT)
	# KEDA's webhook refuses a ScaledObject whose target already has an HPA: make deploy's goes.
	kubectl delete hpa $(STZ_DEPLOYMENT) --ignore-not-found
	$(call deploy-overlay,$(STZ_DIR),$(STZ_REF_$(SCALE_TO_ZERO)))
	kubectl apply -k .deploy/$(STZ_DIR)
	$(CLUSTER_CHECKS) scale-to-zero-wait $(STZ_DEPLOYMENT)

# The interceptor's NodePort goes with the last app scaled so.
undeploy-scale-to-zero: tool-kubectl ## Delete what deploy-scale-to-zero created (SCALE_TO_ZERO=container: the container's), the RuntimeClass if ours and unused
	kubectl delete -k k8s/$(STZ_DIR) --ignore-not-found
	$(CLUSTER_CHECKS) runtime-class-release
	kubectl get interceptorroute --selector $(RUNTIME_CLASS_LABEL) -o name | grep -q . || \
		kubectl delete service time-service-interceptor --namespace keda --ignore-not-found

cold-start: tool-kubectl tool-oha ## With both scaled to zero, through the interceptor: the first request after zero and where its time went, a burst of 20, CPU load 1 -> 3 then idle to 0; side by side
	$(CLUSTER_CHECKS) cold-start

deploy-container: push-container tool-kubectl tool-skopeo ## Push the Go service and apply k8s/container/ with its digest: the container beside the component, NodePort 30081
	$(call deploy-overlay,container,$(CONTAINER_REF))
	kubectl apply -k .deploy/container
	kubectl rollout status deployment/time-service-container --timeout=180s

# What each deploy target applies: .deploy/NAME, the kustomization k8s/ has for it with the image by
# the digest the registry serves for what make push (or push-container) just pushed, pulled only when
# the node lacks it. So the registry is off the path of every pod start (a scale-out, a restart, a
# rollback), and a new push is a new digest, which the same make deploy rolls out (docs/image-forms.md).
# OVERLAY_NAME: the kustomization, the image name there, the pushed image's name.
OVERLAY_component := ../../k8s $(BASE_IMAGE) $(REGISTRY)/$(IMAGE)
OVERLAY_container := ../../k8s/container $(BASE_IMAGE)-container $(REGISTRY)/$(IMAGE)-container
OVERLAY_spinapp := ../../k8s/spinapp $(BASE_IMAGE) $(REGISTRY)/$(IMAGE)
OVERLAY_scale-to-zero := ../../k8s/scale-to-zero $(BASE_IMAGE) $(REGISTRY)/$(IMAGE)
OVERLAY_scale-to-zero-container := ../../k8s/scale-to-zero-container $(BASE_IMAGE)-container $(REGISTRY)/$(IMAGE)-container
# $(call deploy-overlay,NAME,REF): .deploy/NAME with the digest the registry holds at REF; stops when it
# cannot be read, rather than render an overlay without it.
deploy-overlay = digest=$$(scripts/push --digest $(2)) && $(MAKE) --no-print-directory overlay OVERLAY=$(1) DIGEST=$$digest
# make overlay OVERLAY=NAME DIGEST=sha256:...: .deploy/NAME (test-manifests renders each too).
overlay:
	@test -n "$(OVERLAY_$(OVERLAY))" -a -n "$(DIGEST)" || { echo "make overlay OVERLAY=NAME DIGEST=sha256:..., NAME one of $(patsubst OVERLAY_%,%,$(filter OVERLAY_%,$(.VARIABLES)))" >&2; exit 1; }
	@mkdir -p .deploy/$(OVERLAY) && printf 'resources: [%s]\nimages:\n- name: %s\n  newName: %s\n  digest: %s\n' \
		$(OVERLAY_$(OVERLAY)) $(DIGEST) > .deploy/$(OVERLAY)/kustomization.yaml

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

scale-out: tool-kubectl ## Scale the component 1 -> 10 (SCALE_OUT_REPLICAS), HPA aside; fail on a restart or a pod off the RuntimeClass's nodes
	$(CLUSTER_CHECKS) scale-out

autoscale: tool-kubectl ## Show the HorizontalPodAutoscaler (min 1, max 3, CPU 80%)
	kubectl get hpa time-service
	kubectl describe hpa time-service

load: tool-oha tool-kubectl ## Load the NodePort with oha until the HPA scales out (at most LOAD_SECONDS, 300), show the pods
	scripts/load-until-scaled http://localhost:$(NODE_PORT)/time $(or $(LOAD_SECONDS),300)

rollout: tool-oha tool-kubectl ## At 3 replicas, oha through each NodePort while every pod is replaced, then one evicted; fail on a failed request
	$(CLUSTER_CHECKS) rollout

drain-check: tool-oha tool-kubectl ## At 3 replicas, oha through the NodePort while a wasm node is drained; fail on a failed request or a misplaced pod
	$(CLUSTER_CHECKS) drain-check

registry-outage: tool-kubectl ## With both deployed: stop the cluster's registry, scale each 1 -> 10, delete a pod of each; fail unless all start from the node's image
	$(CLUSTER_CHECKS) registry-outage

compare: tool-oha tool-kubectl ## With both deployed: registry bytes, scale-out, memory per pod, NodePort throughput side by side
	$(CLUSTER_CHECKS) compare

undeploy: undeploy-container ## Delete everything deploy, deploy-container and expose-lb created, the RuntimeClass if ours and unused
	kubectl delete -k k8s/loadbalancer --ignore-not-found
	kubectl delete -k k8s --ignore-not-found
	$(CLUSTER_CHECKS) runtime-class-release

undeploy-container: tool-kubectl ## Delete what deploy-container created
	kubectl delete -k k8s/container --ignore-not-found

clean: ## Remove build outputs
	cargo clean
	rm -rf .deploy
