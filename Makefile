# Two commands on a fresh machine: `make run` (the app on SQLite) and `make test` (everything).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: setup system run test lint pytest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,load]'
	touch $(STAMP)

setup: $(STAMP)

## system: redis-server, Graphviz, Chromium and espeak-ng for the tests (apt-get when root)
system:
	bash scripts/system-packages

## run: the webhook app on http://$(HOST):$(PORT), SQLite in ./instance, flows reloaded on edit
run: setup
	IVR_RELOAD_FLOWS=$${IVR_RELOAD_FLOWS:-1} $(BIN)/flask --app app run --host $(HOST) --port $(PORT)

## test: lint, types, then the whole test suite (on every core: pytest-xdist's -n auto)
test: setup system lint pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
