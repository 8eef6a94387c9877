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
	IVR_RELOAD_FLOWS=$${IVR_RELOAD_FLOWS:-1} $(BIN)/flask --app 'app:create_dev_app()' run --host $(HOST) --port $(PORT)

## test: lint, types, then the whole test suite (pytest-xdist, 2 workers per core, a file per worker)
test: setup system lint pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# pytest-xdist workers: twice the usable cores (the tests mostly wait on servers and browsers);
# whole files per worker (a file's browser or server is started once), the slowest files first.
XDIST_WORKERS ?= $(shell $(PYTHON) -c 'import os; n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(); print(2 * (n or 1))')

# Bytecode written (PYTHONDONTWRITEBYTECODE cleared, where a shell sets it): every gunicorn
# worker, CLI run and xdist worker the suite starts imports the app, and compiling it from
# source each time was CPU the suite spent for nothing (__pycache__ is git-ignored).
pytest: setup
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(XDIST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
