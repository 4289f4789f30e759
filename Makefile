# clearcount: `make run` starts the collector, `make test` runs every test.
# Both create .venv and install what they need, Debian packages included;
# `make run` installs only what serving needs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# One stamp per set of extras: serving, the test suite, the notebooks.
SERVE_STAMP     := $(VENV)/.installed-serve
TEST_STAMP      := $(VENV)/.installed-test
NOTEBOOKS_STAMP := $(VENV)/.installed-notebooks
# The product as `make install` installs it, nothing more: every clearcount process the
# tests start runs from here (tests/product.py), so a module serving imports that only an
# extra brings fails the suite. Built anew whenever pyproject.toml changes, so a
# dependency dropped from it is gone from here too.
BASE_VENV  := .venv-base
BASE_STAMP := $(BASE_VENV)/.installed
# How many CPU-bound loops `make test-busy` runs beside the suite (one per core here).
BUSY_LOOPS ?= 2
# pytest-xdist workers for `make test`: much of the suite waits on servers, Chromium and
# subprocesses, so two workers overlap that waiting on a 2-core machine. Whole files go to
# one worker (--dist loadfile), so a module's fixtures and servers start once, in the order
# tests/conftest.py collects them (longest first; xdist would put files with most tests first).
TEST_WORKERS ?= 2

.PHONY: install base-venv run test test-busy lint deps-check unit bench screenshots notebooks system-test-deps system-bench-deps clean

install: $(SERVE_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(SERVE_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(SERVE_STAMP)

$(NOTEBOOKS_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[notebooks]'
	touch $@ $(SERVE_STAMP)

base-venv: $(BASE_STAMP)

$(BASE_STAMP): pyproject.toml
	rm -rf $(BASE_VENV)
	$(PYTHON) -m venv $(BASE_VENV)
	$(BASE_VENV)/bin/pip install --quiet --upgrade pip
	$(BASE_VENV)/bin/pip install --quiet -e .
	touch $@

run: $(SERVE_STAMP)
	$(BIN)/clearcount serve --demo

# The suite starts hundreds of Python processes (servers, loaders, CLI commands); with
# PYTHONDONTWRITEBYTECODE set, as on some CI images, each would compile clearcount's
# modules again. Compiled once here, they are read by every one (about 0.5 s of CPU
# saved per process that imports the app).
test: $(TEST_STAMP) $(BASE_STAMP) system-test-deps lint
	$(BIN)/python -m compileall -q service pipelines tests benchmarks > /dev/null
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The suite while BUSY_LOOPS CPU-bound processes compete for the cores, with doubled
# patience (tests/patience.py); the loops are stopped however the suite ends.
test-busy: $(TEST_STAMP) $(BASE_STAMP) system-test-deps
	@pids=""; i=0; \
	while [ $$i -lt $(BUSY_LOOPS) ]; do \
		$(PYTHON) -c 'while True: pass' & pids="$$pids $$!"; i=$$((i + 1)); \
	done; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	echo "busy loops:$$pids"; \
	CLEARCOUNT_TEST_PATIENCE=$${CLEARCOUNT_TEST_PATIENCE:-2} $(MAKE) --no-print-directory test

# JupyterLab refuses to run as root unless told to (containers, CI machines).
notebooks: $(NOTEBOOKS_STAMP)
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The README's screenshots of the dashboard, taken again by its browser tests.
screenshots: $(TEST_STAMP) $(BASE_STAMP) system-test-deps
	CLEARCOUNT_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/browser/test_dashboard.py -k "screenshots or heatmap_view"

unit: $(TEST_STAMP) $(BASE_STAMP)
	$(BIN)/pytest tests/unit

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory deps-check

# Every import is declared by the install set that runs it (deptry): service/ and
# pipelines/ by the base dependencies alone (the extras count as "dev" groups there, so a
# package only an extra brings, imported by base code, fails as DEP004), the Spark report by
# the base and the spark extra, the notebooks by the base and the notebooks extra.
DEPTRY := $(BIN)/deptry --no-ansi
deps-check: $(TEST_STAMP)
	$(DEPTRY) service pipelines --extend-exclude 'pipelines/analysis/report_spark\.py'
	$(DEPTRY) pipelines --optional-dependencies-dev-groups notebooks,test --ignore DEP002
	$(DEPTRY) notebooks --optional-dependencies-dev-groups spark,test --ignore DEP002

bench: $(TEST_STAMP) system-bench-deps
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.report
	$(BIN)/python -m benchmarks.dashboard
	$(BIN)/python -m benchmarks.compact
	$(BIN)/python -m benchmarks.loader
	$(BIN)/python -m benchmarks.accuracy
	$(BIN)/python -m benchmarks.behaviour

# Debian packages the tests drive; installed only when missing.
# Debian starts nginx on port 80 when it installs it; the tests start their own, so stop that.
system-test-deps:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { $(SUDO) apt-get update && $(SUDO) apt-get install -y nginx && { $(SUDO) service nginx stop || true; }; }

system-bench-deps:
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; }

clean:
	rm -rf $(VENV) $(BASE_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
