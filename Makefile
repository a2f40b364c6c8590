# caredge: `make demo` runs the whole system on embedded defaults; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo services lint format test test-unit test-integration test-faults bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/caredge demo

services:
	./scripts/ensure-test-services.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: venv services lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

test-integration: venv services
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

# The fault scenarios at their full durations and 10,000 fuzz cases per property (make test runs
# the reduced versions: 20-30 s outages, 1,000 cases).
test-faults: venv services
	CAREDGE_FAULTS_FULL=1 CAREDGE_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest tests/faults tests/property $(PYTEST_ARGS)

bench: venv services
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
