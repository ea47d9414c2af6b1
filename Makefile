# The two commands of the README:
#   make demo   a live 5-validator testnet: partition, slash, ejection, verdict
#   make test   lint, types, unit tests and the integration suite
# Both create the virtualenv in .venv on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clp-testnet demo

test: lint unit integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q --junitxml=reports/unit.xml --cov=clp_node/clp --cov-report=term --cov-fail-under=95

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q --junitxml=reports/integration.xml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
