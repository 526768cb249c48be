# pyvirt: the two entry points are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: test demo deps venv lint typecheck unit bench fuzz clean

deps:
	@bash scripts/install-deps.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: deps $(STAMP)

lint: venv
	$(VENV)/bin/ruff check src tests

typecheck: venv
	$(VENV)/bin/mypy src

# pytest's exit status (5 = no tests collected) fails the target like any other failure.
test: lint typecheck
	$(VENV)/bin/pytest -q -rs $(PYTEST_ARGS)

unit: venv
	$(VENV)/bin/pytest -q tests/unit tests/golden $(PYTEST_ARGS)

demo: venv
	$(VENV)/bin/python -m pyvirt.demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
