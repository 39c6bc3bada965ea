# Quick start: `make demo` (serve a demo merchant) and `make test` (run the suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: demo serve migrate worker test lint format clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Shoplet needs Python 3.11 or newer (set PYTHON=python3.x).")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed  ## migrate, load the demo coffee chain, print credentials, serve on :$(PORT)
	$(BIN)/shoplet demo --port $(PORT)

serve: $(VENV)/.installed
	$(BIN)/shoplet serve --port $(PORT)

migrate: $(VENV)/.installed
	$(BIN)/shoplet migrate

worker: $(VENV)/.installed
	$(BIN)/shoplet worker

test: $(VENV)/.installed-test  ## the whole suite (PostgreSQL/Redis too when SHOPLET_TEST_* are set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test  ## ruff (lint and format check), mypy, the import-layer contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed-test  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache .import_linter_cache
