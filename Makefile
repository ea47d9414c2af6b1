# The two commands of the README:
#   make demo   a live 5-validator testnet: partition, slash, ejection, verdict
#   make test   lint, types, unit tests, the integration suite on local processes, then the
#               Docker suite (images built here, no registry needed; Docker is required)
# Both create the virtualenv in .venv on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration integration-docker integration-swarm clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clp-testnet demo

test: lint unit integration integration-docker

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/actionlint -config-file .forgejo/actionlint.yaml .forgejo/workflows/ci.yml

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q --junitxml=reports/unit.xml --cov=clp_node/clp --cov-report=term --cov-fail-under=95

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q --ignore=tests/integration/docker --junitxml=reports/integration.xml

# The Docker backend: its own tests, the compose file, then every scenario on containers.
integration-docker: $(STAMP) images
	$(BIN)/pytest tests/integration/docker tests/integration/test_scenarios.py -q --backend docker --junitxml=reports/integration-docker.xml

# The Swarm backend on a one-node swarm (initialised here when inactive, and left as found):
# its own tests, then every scenario as swarm services. Not part of `make test`.
integration-swarm: $(STAMP) images
	$(BIN)/pytest tests/integration/swarm tests/integration/test_scenarios.py -q --backend swarm --junitxml=reports/integration-swarm.xml

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
