# pyvirt: the two entry points are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: test demo deps venv lint typecheck unit bench fuzz clean schema

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

# The domain and network grammars are generated from the models' declarations (committed;
# a test checks that regenerating changes nothing).
schema: venv
	$(PY) -m pyvirt.domain.xml.schema
	$(PY) -m pyvirt.network.schema

demo: venv
	$(VENV)/bin/python -m pyvirt.demo

# pyvirt side by side with raw QEMU and libvirt (not part of `make test`): regenerates
# bench/RESULTS.md. BENCH_ARGS=--quick tries it out; --only start,scale picks sections.
bench: venv
	@$(PY) -c 'import pyinstrument' 2>/dev/null || $(VENV)/bin/pip install -q -e '.[dev,bench]'
	@# byte-compiled as an installed package is (PYTHONDONTWRITEBYTECODE would otherwise
	@# make every timed command recompile what changed since the last compile)
	$(PY) -m compileall -q src >/dev/null
	$(PY) bench/run.py $(BENCH_ARGS)

# The long runs of the hardening suite: >= 10 000 mutated documents through validate,
# define and domxml-to-native (in-process and via the CLI), and 300 SIGKILLs.
fuzz: venv
	PYVIRT_FUZZ_PROFILE=fuzz PYVIRT_CRASH_ITERATIONS=300 $(VENV)/bin/pytest -q -rs \
		tests/fuzz tests/hardening/test_crash_safety.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
