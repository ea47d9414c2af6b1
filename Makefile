# The two commands of the README:
#   make demo   a live 5-validator testnet: partition, slash, ejection, verdict
#   make test   lint, types, unit tests, the integration suite on local processes, the
#               Docker suite (images built here, no registry needed; Docker is required),
#               then the official-Toxiproxy stage (when the official binary is at hand)
# Both create the virtualenv in .venv on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration integration-docker official-toxiproxy clean
.PHONY: explore-smoke explore-long explore-power

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clp-testnet demo

test: lint unit integration explore-smoke integration-docker official-toxiproxy

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/actionlint -config-file .forgejo/actionlint.yaml .forgejo/workflows/ci.yml .forgejo/workflows/explore.yml

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q --junitxml=reports/unit.xml --cov=clp_node/clp --cov-report=term --cov-fail-under=95

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q --ignore=tests/integration/docker --junitxml=reports/integration.xml

# Generated testnets and fault schedules (docs/explore.md). The smoke exploration is a few
# minutes at a fixed seed; the long one is what the nightly workflow runs; explore-power
# plants bugs in a copy of the node and checks that the explorer finds and shrinks each.
EXPLORE_SEED ?= 1
EXPLORE_BUDGET ?= 60m

explore-smoke: $(STAMP)
	@mkdir -p reports
	$(BIN)/clp-testnet explore --seed 1 --runs 8 --out runs --json > reports/explore-smoke.json

explore-long: $(STAMP)
	@mkdir -p reports
	$(BIN)/clp-testnet explore --seed $(EXPLORE_SEED) --time-budget $(EXPLORE_BUDGET) --out runs --json > reports/explore-long.json

explore-power: $(STAMP)
	$(BIN)/pytest tests/explore -q -s -m explore_power --junitxml=reports/explore-power.xml

# The Docker backend: its own tests, the compose file, then every scenario on containers.
integration-docker: $(STAMP) images
	$(BIN)/pytest tests/integration/docker tests/integration/test_scenarios.py -q --backend docker --junitxml=reports/integration-docker.xml

# The official Toxiproxy in the loop: its server against the conformance tests, then every
# scenario once with it on the local backend. OFFICIAL_TOXIPROXY is the binary (default: the
# copy in ../shared/tools/toxiproxy); without it this stage says so in one line and passes.
OFFICIAL_TOXIPROXY ?= ../shared/tools/toxiproxy/toxiproxy-server

official-toxiproxy: $(STAMP)
	@if [ -x "$(OFFICIAL_TOXIPROXY)" ]; then \
	  export TOXIPROXY_SERVER="$(abspath $(OFFICIAL_TOXIPROXY))"; \
	  echo "official Toxiproxy: $$($$TOXIPROXY_SERVER --version 2>&1 | head -1)"; \
	  $(BIN)/pytest tests/unit/toxiproxy -q --junitxml=reports/toxiproxy-official.xml && \
	  $(BIN)/pytest tests/integration/test_scenarios.py -q --junitxml=reports/scenarios-official.xml; \
	else echo "no official toxiproxy-server at $(OFFICIAL_TOXIPROXY): official-Toxiproxy stage skipped"; fi

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
