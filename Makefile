# The two commands of the README:
#   make demo   a live 5-validator testnet: partition, slash, ejection, verdict
#   make test   lint, types, unit tests, the hostile suite, the integration suite on local
#               processes, the browser tests of the run report (headless Chromium), the
#               Docker suite (images built here, no registry needed; Docker is required),
#               then the official-Toxiproxy conformance tests (when the binary is at hand)
# Both create the virtualenv in .venv on first use.
#
# Testnets run JOBS at a time (pytest-xdist workers; `explore --jobs`), the Docker suite
# DOCKER_JOBS: a 5-validator testnet of the suites mostly waits on its 200 ms blocks and
# uses about a third of a core, so 3 per core (2 per core in containers), at most 12 and 8.
# JOBS=1 DOCKER_JOBS=1 runs everything one by one. The images build in the background.
CORES := $(shell nproc 2>/dev/null || echo 2)
per_core = $(shell j=$$(($(1) * $(CORES))); [ $$j -gt $(2) ] && j=$(2); echo $$j)
JOBS ?= $(call per_core,3,12)
DOCKER_JOBS ?= $(call per_core,2,8)

PYTHON ?= python3
# CI images often set PYTHONDONTWRITEBYTECODE. pytest then cannot cache its assertion
# rewriting, and it rewrites every module of the harness and the node (their package is a
# pytest plugin): 2 s of CPU again in each of the ~30 pytest processes of `make test`.
unexport PYTHONDONTWRITEBYTECODE
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-stages lint unit hostile integration browser integration-docker integration-docker-all official-toxiproxy integration-swarm integration-swarm-multi clean
.PHONY: explore-smoke explore-long explore-power rust rust-build rust-lint rust-unit rust-image rust-integration rust-scenarios rust-checks rust-docker

# uv installs the project and its dependencies in a few seconds where pip takes 20-40 (it
# is the first step of both commands, nothing runs beside it); pip stays in the virtualenv,
# upgraded, for the images' `pip wheel`.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --upgrade-package pip -e '.[dev]' pip
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clp-testnet demo

IMAGES_LOG := reports/images.log

# The suites run in two lanes side by side (make -j2 -O: each lane's output is printed when
# it is done), after a first stage, with a few jobs in the background:
#   1. lint; then unit, with the hostile suite and the official-Toxiproxy conformance
#      tests beside it and on into the lanes (in a lane of their own they took longer
#      than either lane: it is CPU they need, not room);
#   2. lane 1: the Python integration suite (the mixed scenarios included), then the Rust
#      node's scenarios (every scenario on Rust nodes and on a mixed testnet); lane 2:
#      explore-smoke, the browser tests, the Rust node's hostile tests, conform and explore
#      smoke, then its image's conform;
#   3. the Docker suite and the step cover of the scenarios on mixed testnets of containers (beside lane
#      1's end, its start-up made lane 1's faults land late; with cargo beside it, niced,
#      it took 30 s longer: its idle CPU is the engine's waits).
# In the background: the Rust node's release binary from the very start (beside the
# virtualenv's install) and the images (the testnets wait for both: a first image build
# makes the base image, minutes of CPU that would make every fault land late), then
# rustfmt, clippy and cargo test (niced). Each log is printed when a stage needs it, and a
# failed build fails `make test`. More at once only slows every testnet down: faults land
# late and scenarios fail (the harness says so, with the load average).
HOSTILE_LOG := reports/hostile.log
RUST_BUILD_LOG := reports/rust-build.log
# The failed tests are printed once more at the very end (tests/failures.py, standard
# library only): with the suites side by side, a failure can sit minutes above it.
test: debootstrap
	@mkdir -p reports; rm -f reports/*.xml; \
	$(MAKE) --no-print-directory test-stages; rc=$$?; \
	$(PYTHON) tests/failures.py reports; \
	echo "make test: exit $$rc"; exit $$rc

# Python modules are compiled once up front, so the testnets' many node and CLI processes
# that start at once do not each compile them.
test-stages:
	@echo "the Rust node's release build in the background (log: $(RUST_BUILD_LOG))"; \
	$(MAKE) --no-print-directory rust-build > $(RUST_BUILD_LOG) 2>&1 & rustbin=$$!; \
	$(MAKE) --no-print-directory $(STAMP) || { wait $$rustbin; exit 2; }; \
	$(BIN)/python -m compileall -q -j 0 clp_node harness; \
	echo "images: building in the background (log: $(IMAGES_LOG))"; \
	$(MAKE) --no-print-directory images > $(IMAGES_LOG) 2>&1 & images=$$!; \
	$(MAKE) --no-print-directory lint || { wait $$images $$rustbin; exit 2; }; \
	echo "hostile and official-toxiproxy in the background (printed when done; log: $(HOSTILE_LOG))"; \
	CLP_TESTNET_PORTS=27000-31999 $(MAKE) --no-print-directory -j2 -O hostile official-toxiproxy > $(HOSTILE_LOG) 2>&1 & hostile=$$!; \
	$(MAKE) --no-print-directory unit; early=$$?; \
	wait $$rustbin; rusted=$$?; \
	echo "the Rust node's release build: exit $$rusted"; cat $(RUST_BUILD_LOG); \
	[ $$early -eq 0 ] && [ $$rusted -eq 0 ] || { wait $$images $$hostile; exit 2; }; \
	kill -0 $$images 2>/dev/null && echo "images: waiting for the build (a first one makes the base image) before any testnet starts"; \
	wait $$images; built=$$?; \
	echo "images: build exit $$built"; cat $(IMAGES_LOG); \
	[ $$built -eq 0 ] || { wait $$hostile; exit 2; }; \
	echo "rustfmt, clippy and cargo test in the background, niced (log: $(RUST_LOG))"; \
	nice -n 10 $(MAKE) --no-print-directory rust-lint rust-unit > $(RUST_LOG) 2>&1 & rustchk=$$!; \
	echo "two lanes side by side, each printed when done: integration then rust-scenarios;"; \
	echo "explore-smoke, browser, rust-checks then rust-docker"; \
	$(MAKE) --no-print-directory -j2 -O lane-scenarios lane-smoke; lanes=$$?; \
	wait $$hostile; hostiled=$$?; \
	echo "hostile and official-toxiproxy: exit $$hostiled"; cat $(HOSTILE_LOG); \
	wait $$rustchk; linted=$$?; \
	echo "rustfmt, clippy, cargo test: exit $$linted"; cat $(RUST_LOG); \
	for rc in $$lanes $$hostiled $$linted; do [ $$rc -eq 0 ] || exit $$rc; done; \
	$(MAKE) --no-print-directory integration-docker

# The two lanes of `make test` (above); each stops at its first failure. Suites that run
# side by side pick their testnets' ports from ranges of their own (CLP_TESTNET_PORTS,
# below the kernel's ephemeral ports; pytest-xdist workers split theirs): a port one
# testnet picked and has yet to bind can then not be bound by another first.
.PHONY: lane-scenarios lane-smoke
lane-scenarios: export CLP_TESTNET_PORTS := 10000-21999
lane-smoke: export CLP_TESTNET_PORTS := 22000-26999
lane-scenarios:
	@$(MAKE) --no-print-directory integration && $(MAKE) --no-print-directory rust-scenarios
lane-smoke:
	@$(MAKE) --no-print-directory explore-smoke && $(MAKE) --no-print-directory browser && \
	$(MAKE) --no-print-directory rust-checks && $(MAKE) --no-print-directory rust-docker

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/actionlint -config-file .forgejo/actionlint.yaml .forgejo/workflows/*.yml

# The CLP core's coverage is measured on its own tests (tests/unit/clp), which alone cover
# it: tracing the whole suite would cost a third more CPU for the same figure.
unit: $(STAMP)
	$(BIN)/pytest tests/unit -q -n 2 --ignore=tests/unit/clp --junitxml=reports/unit.xml
	$(BIN)/pytest tests/unit/clp -q --junitxml=reports/unit-clp.xml --cov=clp_node/clp --cov-report=term --cov-fail-under=95

# What a hostile outsider can do: floods, fuzzed frames and REST requests, schemathesis
# against a live node, bad configs and CLI input, signals. Prints its figures (-s). The
# tests that apply to any node run here on the Python node; their Rust runs (mark
# rust_node) are rust-checks', which needs the Rust build.
hostile: $(STAMP)
	$(BIN)/pytest tests/hostile -q -s -m 'not rust_node' --junitxml=reports/hostile.xml

# promtool checks the node's /metrics; Prometheus itself backs the --monitor test. The
# proxy is the official Toxiproxy when its binary is at hand (OFFICIAL_TOXIPROXY, below),
# else the project's compatible server (the Docker stage runs that one in its image).
integration: $(STAMP) monitoring
	@$(call with_toxiproxy,$(BIN)/pytest tests/integration -q -n $(JOBS) --dist loadgroup --ignore=tests/integration/docker --ignore=tests/integration/swarm --ignore=tests/integration/swarm_multi --junitxml=reports/integration.xml --basetemp=reports/runs-integration)

# report.html of real runs opened in Debian's chromium through its chromedriver.
browser: $(STAMP) browser-deps
	$(BIN)/pytest tests/browser -q --junitxml=reports/browser.xml --basetemp=reports/runs-browser

# Generated testnets and fault schedules (docs/explore.md). The smoke exploration is a few
# minutes at a fixed seed; the long one is what the nightly workflow runs; explore-power
# plants bugs in a copy of the node and checks that the explorer finds and shrinks each.
EXPLORE_SEED ?= 1
EXPLORE_BUDGET ?= 60m

# In `make test` it runs beside the integration suite: a few testnets at a time.
SMOKE_JOBS ?= $(call per_core,1,4)
explore-smoke: $(STAMP)
	@mkdir -p reports
	$(BIN)/clp-testnet explore --seed 1 --runs 8 --jobs $(SMOKE_JOBS) --out runs --json > reports/explore-smoke.json

explore-long: $(STAMP)
	@mkdir -p reports
	$(BIN)/clp-testnet explore --seed $(EXPLORE_SEED) --time-budget $(EXPLORE_BUDGET) --out runs --json > reports/explore-long.json

explore-power: $(STAMP)
	$(BIN)/pytest tests/explore -q -s -m explore_power --junitxml=reports/explore-power.xml

# The Docker backend: its own tests, the compose file, then scenarios on containers of a
# mixed testnet (Python and Rust nodes 3 + 2, tests/rust/test_mixed_suite.py; every
# scenario on Python nodes alone, on Rust nodes and on the mix is the local stages'),
# DOCKER_JOBS at a time (a restarted container whose old host port another testnet took
# meanwhile is started again on a new one). In `make test` the scenarios are the step
# cover, the few that use every kind of step between them (10 of 20 today): every one of
# them took 75 s more, past the 10 minutes `make test` aims at; integration-docker-all
# runs every scenario there (nightly, .forgejo/workflows/nightly-docker.yml). Each suite's
# tmp folders (run folders with report.html, testnets of failed runs) stay in
# reports/runs-*/ for CI to upload.
DOCKER_SCENARIOS ?= step-cover
integration-docker: $(STAMP) images rust-image
	$(BIN)/pytest tests/integration/docker tests/rust/test_mixed_suite.py -q --backend docker --scenario-set $(DOCKER_SCENARIOS) -n $(DOCKER_JOBS) --dist loadgroup --junitxml=reports/integration-docker.xml --basetemp=reports/runs-docker

integration-docker-all:
	@$(MAKE) --no-print-directory integration-docker DOCKER_SCENARIOS=all

# The official Toxiproxy in the loop: the integration stage runs every scenario through it
# (when its binary is at hand) and this stage runs the conformance tests against its server.
# OFFICIAL_TOXIPROXY is the binary (default: the copy in ../shared/tools/toxiproxy); without
# it both stages say so in one line and use the compatible server.
OFFICIAL_TOXIPROXY ?= ../shared/tools/toxiproxy/toxiproxy-server

define with_toxiproxy
if [ -x "$(OFFICIAL_TOXIPROXY)" ]; then \
  export TOXIPROXY_SERVER="$(abspath $(OFFICIAL_TOXIPROXY))"; \
  echo "official Toxiproxy: $$($$TOXIPROXY_SERVER --version 2>&1 | head -1) ($$TOXIPROXY_SERVER)"; \
else echo "no official toxiproxy-server at $(OFFICIAL_TOXIPROXY): the compatible server is used"; fi; \
echo '$(1)'; $(1)
endef

official-toxiproxy: $(STAMP)
	@if [ -x "$(OFFICIAL_TOXIPROXY)" ]; then \
	  $(call with_toxiproxy,$(BIN)/pytest tests/unit/toxiproxy -q --junitxml=reports/toxiproxy-official.xml); \
	else echo "no official toxiproxy-server at $(OFFICIAL_TOXIPROXY): official-Toxiproxy conformance skipped"; fi

# The Swarm backend on a one-node swarm (initialised here when inactive, and left as found):
# its own tests, then every scenario as swarm services (the mixed ones and the upgrade run
# the Rust node's image too: rust-image). Not part of `make test`.
integration-swarm: $(STAMP) images rust-image
	$(BIN)/pytest tests/integration/swarm tests/integration/test_scenarios.py -q --backend swarm --junitxml=reports/integration-swarm.xml

# The Swarm backend across engines: three Docker engines in containers of this one, joined
# in one swarm, and a registry (tests/integration/swarm_multi/engines.py; their image is the
# debootstrap base with Debian's docker.io and docker-registry, made here). The demo with
# its validators on every engine, then the multi-engine suite (remote kill, pause, restart,
# packet loss, clock offset, cleanup) and every scenario on a second such swarm; each
# removed afterwards, with the registry. Nightly (.forgejo/workflows/swarm-multi.yml); not part of `make test`.
SWARM_ENGINES = $(BIN)/python tests/integration/swarm_multi/engines.py --engines 3 --
integration-swarm-multi: $(STAMP) images rust-image
	$(SWARM_ENGINES) $(BIN)/clp-testnet demo --backend swarm --registry '{registry}' --out reports/runs-swarm-multi
	$(SWARM_ENGINES) $(BIN)/pytest tests/integration/swarm_multi tests/integration/test_scenarios.py -q --backend swarm --junitxml=reports/integration-swarm-multi.xml --basetemp=reports/runs-swarm-multi-tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage

# Docker images of the node and the Toxiproxy server (`clp-testnet images build`): content-
# tagged, so a second run builds nothing. Without a registry the base image is made here
# with debootstrap, which the `debootstrap` step installs when it is missing.
.PHONY: images debootstrap
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

images: $(STAMP) debootstrap
	$(BIN)/clp-testnet images build

debootstrap:
	@if command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "installing debootstrap (builds the Debian base image when none can be pulled)"; \
	  $(SUDO) apt-get install -y --no-install-recommends debootstrap >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && \
	    $(SUDO) apt-get install -y --no-install-recommends debootstrap >/dev/null; }; \
	else echo "no debootstrap and no apt-get: images need a pullable BASE_IMAGE"; fi

# Debian packages the tests need, installed when missing (as debootstrap above):
# chromium + chromium-driver for the browser tests, prometheus (with promtool) for --monitor.
.PHONY: browser-deps monitoring
define apt_install
	@if $(1); then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $(2)"; \
	  $(SUDO) apt-get install -y --no-install-recommends $(2) >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && \
	    $(SUDO) apt-get install -y --no-install-recommends $(2) >/dev/null; }; \
	else echo "no apt-get: install $(2) yourself"; exit 1; fi
endef

browser-deps:
	$(call apt_install,[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ],chromium chromium-driver)

monitoring:
	$(call apt_install,command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1,prometheus)

# The Rust node (rust/, docs/rust-node.md). rust-build makes the release binary the Rust
# stages run; rust-lint is rustfmt and clippy; rust-unit the workspace's own tests in the
# dev profile (it compiles in half the CPU of a release test build; the signature crate is
# optimised there too, so the property tests and the crypto run fast); rust-image its
# Docker image (the debootstrap base + the
# binary). rust-integration is rust-scenarios (tests/rust: the differential test of the two
# CLP cores, every scenario on a testnet of Rust nodes and on a mixed one; those naming
# their own nodes are the integration suite's) and rust-checks (the hostile tests that
# apply to any node, `conform` of the Rust node's command, an explore smoke); rust-docker is `conform` of its image. The
# build goes to CARGO_TARGET_DIR, by default in the harness's cache folder (outside the
# clone, like the image build cache): a new clone rebuilds only the workspace's own crates.
# A machine without cargo fails here, loudly.
CARGO ?= cargo
CARGO_TARGET_DIR ?= $(or $(CLP_TESTNET_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/clp-testnet)/cargo-target
export CARGO_TARGET_DIR
RUST_MANIFEST := --manifest-path rust/Cargo.toml
RUST_LOG := reports/rust.log
RUST_NODE = $(CARGO_TARGET_DIR)/release/clp-node-rs

rust: rust-build rust-lint rust-unit rust-integration

define require_cargo
@command -v $(CARGO) >/dev/null 2>&1 || { echo "cargo is not on PATH: the Rust node needs a Rust toolchain (rustup, https://rustup.rs)"; exit 1; }
endef

rust-build:
	$(require_cargo)
	$(CARGO) build --release --locked $(RUST_MANIFEST)

rust-lint:
	$(require_cargo)
	$(CARGO) fmt $(RUST_MANIFEST) --all --check
	$(CARGO) clippy --locked $(RUST_MANIFEST) --workspace --all-targets -- -D warnings

rust-unit:
	$(require_cargo)
	$(CARGO) test --locked $(RUST_MANIFEST) --workspace

rust-image: $(STAMP) debootstrap rust-build
	$(BIN)/clp-testnet images build --node rust

# One after the other: the checks' flood and explore need the CPU the scenarios leave.
rust-integration: $(STAMP) rust-build
	@$(MAKE) --no-print-directory rust-scenarios && $(MAKE) --no-print-directory rust-checks

# Rust nodes wait on protocol time far more than they compute: more testnets at once. The
# mixed suite's testnets are mostly Python nodes: JOBS of them at once (at RUST_JOBS, eight
# starting together made a height-3 fault land 6 blocks late at a load of 11).
RUST_JOBS ?= $(call per_core,4,16)
rust-scenarios: $(STAMP) rust-build
	@mkdir -p reports
	@$(call with_toxiproxy,$(BIN)/pytest tests/rust -q -n $(RUST_JOBS) --dist loadgroup --ignore=tests/rust/test_mixed_suite.py --junitxml=reports/rust.xml --basetemp=reports/runs-rust)
	@$(call with_toxiproxy,$(BIN)/pytest tests/rust/test_mixed_suite.py -q -n $(JOBS) --dist loadgroup --junitxml=reports/rust-mixed.xml --basetemp=reports/runs-rust-mixed)

rust-checks: $(STAMP) rust-build
	@mkdir -p reports
	$(BIN)/pytest tests/hostile -q -s -m rust_node --junitxml=reports/hostile-rust.xml --basetemp=reports/runs-hostile-rust
	$(BIN)/clp-testnet conform --node rust --scenarios none --out reports/runs-rust-conform
	$(BIN)/clp-testnet explore --node rust --seed 1 --runs 6 --jobs $(SMOKE_JOBS) --out runs --json > reports/explore-smoke-rust.json

# The Rust node's image qualified on the Docker backend (rust-image built it).
rust-docker: $(STAMP) rust-image
	$(BIN)/clp-testnet conform --node rust --backend docker --scenarios happy-path --out reports/runs-rust-conform-docker
