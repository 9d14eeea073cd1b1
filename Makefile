# Two entry points: `make run` (the rotation daemon on embedded defaults) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint lint-imports typecheck pytest netsuite-test interop-deps system-deps deploy-check bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# PostgreSQL (Debian's package) for the multi-process tests; installed when absent.
# Debian's chromium for the web console's browser tests (Playwright drives it; never a downloaded browser).
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL is not installed: run 'sudo apt-get install postgresql'"; fi; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is not installed (web console browser tests): run 'sudo apt-get install chromium'"; fi; \
	fi
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "Node.js is not installed: run 'sudo apt-get install nodejs npm'"; fi; \
	fi

run: $(STAMP)
	$(BIN)/certrotor demo --data-dir run/demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

# The layers contract in pyproject.toml ([tool.importlinter]): imports point one way.
lint-imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/certrotor

pytest: $(STAMP) system-deps interop-deps
	$(BIN)/pytest -q

# The SuiteCloud project's Jest tests; `npm ci` only when node_modules is missing or older than the lock.
NETSUITE_STAMP := netsuite/node_modules/.installed
$(NETSUITE_STAMP): netsuite/package-lock.json | system-deps
	cd netsuite && npm ci --no-audit --no-fund
	@touch $(NETSUITE_STAMP)

netsuite-test: $(NETSUITE_STAMP)
	cd netsuite && npm test

# The emulator's interop test drives @brokenrubik/netsuite-sdk, pinned by tests/interop/node's lock file.
INTEROP_STAMP := tests/interop/node/node_modules/.installed
$(INTEROP_STAMP): tests/interop/node/package-lock.json | system-deps
	cd tests/interop/node && npm ci --no-audit --no-fund
	@touch $(INTEROP_STAMP)

interop-deps: $(INTEROP_STAMP)

# deploy/certrotor.service checked by systemd-analyze where systemd is present (skipped otherwise);
# its ExecStart is pointed at this checkout's certrotor so that verify finds the program.
deploy-check: $(STAMP)
	@if command -v systemd-analyze >/dev/null 2>&1; then \
	  dir=$$(mktemp -d) && \
	  sed 's#/opt/certrotor/bin/certrotor#$(abspath $(BIN))/certrotor#' deploy/certrotor.service > $$dir/certrotor.service && \
	  systemd-analyze verify $$dir/certrotor.service && rm -r $$dir && \
	  echo "deploy/certrotor.service: systemd-analyze verify passed"; \
	else echo "deploy-check skipped: systemd-analyze not found"; fi

test: $(STAMP) system-deps lint lint-imports typecheck netsuite-test deploy-check pytest

bench: $(STAMP)
	$(BIN)/python bench/keygen.py
	$(BIN)/python bench/fleet.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
