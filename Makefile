# Developer entry points. `make` (or `make help`) lists them.
#
# Tools the targets need but the machine may lack are installed under .tools/ (git-ignored):
# a Python venv (scripts/setup-tools) and cargo-fuzz.

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

TOOLS       := $(abspath .tools)
VENV_PYTHON := $(TOOLS)/venv/bin/python
# Tests that drive Python tools (DuckDB, Polars, moto, ...) find the interpreter here.
export PIPELINE_PYTHON := $(VENV_PYTHON)

# Where cargo puts build outputs (honours CARGO_TARGET_DIR like cargo does).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

# Benchmark: generated data and the number of runs per tool (best run counts).
BENCH_DATA ?= $(TARGET_DIR)/bench-data
BENCH_RUNS ?= 3

# Fuzzing: cargo-fuzz wants nightly -Z flags; RUSTC_BOOTSTRAP lets stable rustc accept them.
FUZZ_TARGET       ?= chunked
FUZZ_SECONDS      ?= 60
# The test command's short fuzz run: proves the target builds and holds on its seeds.
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_ARGS         ?=
CARGO_FUZZ_VERSION ?= 0.13.2
CARGO_FUZZ        := $(TOOLS)/cargo/bin/cargo-fuzz
FUZZ_ENV          := RUSTC_BOOTSTRAP=1

.PHONY: help
help: ## List the targets
	@echo "Targets:"
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort \
	  | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'
	@echo "Variables: CARGO=$(CARGO) CONTAINER_CLI=$(CONTAINER_CLI) BENCH_DATA=$(BENCH_DATA)" \
	  "BENCH_RUNS=$(BENCH_RUNS) FUZZ_TARGET=$(FUZZ_TARGET) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS=$(FUZZ_ARGS)"

.PHONY: tools
tools: ## Create the Python venv in .tools/venv (pinned: scripts/requirements.txt)
	scripts/setup-tools

.PHONY: test
test: tools ## The full check CI runs: tools, fmt check, clippy -D warnings, all tests, a short fuzz run
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

.PHONY: lint
lint: ## Format check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: fmt
fmt: ## Format the workspace and the fuzz crate
	$(CARGO) fmt --all
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml

.PHONY: bench
bench: tools ## Throughput and peak RSS against DuckDB and Polars on generated data (>= 200 MB)
	$(CARGO) build --release -p shared --example profile --example bench_data
	$(TARGET_DIR)/release/examples/bench_data $(BENCH_DATA)
	$(VENV_PYTHON) bench/compare.py --runs $(BENCH_RUNS) --profile $(TARGET_DIR)/release/examples/profile $(BENCH_DATA)

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
