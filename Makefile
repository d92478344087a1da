# nmrstake: every target sets up what it needs (idempotent; fast when already done).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export MPLBACKEND := Agg

ARGS ?=

.PHONY: install install-test demo test compile bench fuzz clean help

help:
	@echo "make demo   set everything up, then run the whole system (local Anvil, service, oracle and operator daemons, 20 participants x 3 rounds)"
	@echo "make test   set everything up, then run the whole test suite"
	@echo "make install (what running needs) | install-test (plus Slither and Chromium) | compile | bench | fuzz | screenshots | clean"

# Python: a virtualenv with the pinned packages; stamp = hash of what decides its contents.
$(VENV)/.stamp: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[operator,test,picture]"
	@touch $@

# npm: exactly what package-lock.json says.
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Slither lives in a virtualenv of its own: its pins (eth-account 0.14, eth-utils 6) clash with ape's.
SLITHER_VENV := .venv-slither
$(SLITHER_VENV)/.stamp: tools/slither/requirements.txt
	@test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/python -m pip install -q --upgrade "pip>=24"
	$(SLITHER_VENV)/bin/python -m pip install -q -r tools/slither/requirements.txt
	@touch $@

# The dashboard's chart library (npm `uplot`, pinned in package.json) copied into the package's
# static folder: `nmrstake serve` serves it from its own origin, also when the package is installed
# elsewhere (pip install . after this step), with no node_modules beside it.
VENDOR := src/nmrstake/service/static/vendor
$(VENDOR)/.stamp: node_modules/.stamp
	@mkdir -p $(VENDOR)
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	cp node_modules/uplot/LICENSE $(VENDOR)/uPlot.LICENSE
	@touch $@

# Headless Chromium for the browser tests and the dashboard benchmark: Debian's package, installed
# only when `chromium` is not on PATH (as root, or through sudo; otherwise a clear error).
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "error: the browser tests need Debian's chromium, and this user can neither install packages nor sudo:" \
	            "run 'apt-get update && apt-get install -y chromium' as root" >&2; exit 1; fi; \
	  echo "installing Debian's chromium (apt-get)"; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { echo "error: chromium is still not on PATH after apt-get install" >&2; exit 1; }

# PostgreSQL for the service's tests and benchmark (one throwaway server per test session, run as
# a normal user: tests/helpers/postgres.py): Debian's package, installed only when its initdb is
# missing (as root, or through sudo; otherwise a clear error). The S3 server (SeaweedFS) comes from
# PyPI with the test extra.
.PHONY: postgresql
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "error: the service tests need Debian's postgresql, and this user can neither install packages nor sudo:" \
	            "run 'apt-get update && apt-get install -y postgresql' as root" >&2; exit 1; fi; \
	  echo "installing Debian's postgresql (apt-get)"; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "error: no initdb under /usr/lib/postgresql after apt-get install" >&2; exit 1; }

# What running nmrstake needs (the demo, the CLI, the service): no browser, no Slither.
install: $(VENV)/.stamp node_modules/.stamp $(VENDOR)/.stamp
	@node tools/solc/install.js
	@ln -sf $(CURDIR)/node_modules/.bin/anvil $(BIN)/anvil
	@ln -sf $(CURDIR)/node_modules/.bin/ganache $(BIN)/ganache
	@$(BIN)/ape plugins list 2>/dev/null | grep -q solidity || { echo "ape-solidity missing"; exit 1; }
	@# Byte-compile the editable package, as pip does an installed one: every command then loads
	@# nmrstake's modules instead of compiling them (also where PYTHONDONTWRITEBYTECODE is set).
	@$(BIN)/python -m compileall -q src >/dev/null

# What the suite and the benchmarks need besides: Slither (the security tests), Chromium (the
# dashboard's browser tests and benchmark) and PostgreSQL (the service's shared database).
install-test: install $(SLITHER_VENV)/.stamp chromium postgresql

# A full compile whenever a contract or the compiler settings changed since the last one (ape's
# incremental compile leaves the contracts that import or embed a changed one stale); nothing
# when nothing changed (tools/compile.py; tests/conftest.py runs it too, for `ape test` alone).
# The demo and the benchmarks, which load the build through ape, compile first the same way.
# Then the participant's contract data in the package (ABIs and code hashes, src/nmrstake/abi/,
# committed so that a wheel built without Node or solc carries it) is brought up to date with the
# build (tools/export_abis.py; nothing when it is current). `make test` does not export: its test
# of that data fails when a contract was changed without running this and committing the result.
compile: install
	$(BIN)/python tools/compile.py
	$(BIN)/python tools/export_abis.py

demo: compile
	$(BIN)/nmrstake demo $(ARGS)

# The checks, then the whole suite on two workers (pytest-xdist; a test file stays on one worker,
# so its module fixtures deploy once): first every embedded-EVM test, then, in a run of their own,
# the tests marked `nodes` (they start Anvil and Ganache and switch ape's provider, which would
# break the embedded chain's snapshots for any test after them in the same worker; xdist starts
# the largest files first, so one run could not keep them last). Then the tournament's unit tests
# again on a real Anvil of their own (a free port, never a node on 8545).
TEST_WORKERS ?= 2
test: install-test check
	$(BIN)/python tools/compile.py
	$(BIN)/ape test tests -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile -m "not nodes" $(ARGS)
	$(BIN)/ape test tests -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile -m nodes $(ARGS)
	APE_FOUNDRY_HOST=http://127.0.0.1:$$($(BIN)/python -c 'from nmrstake.localchain import free_port; print(free_port())') \
	  $(BIN)/ape test tests/contracts/test_tournament.py tests/contracts/test_tournament_claims.py --network ethereum:local:foundry -p no:cacheprovider

# ruff and mypy over the Python (settings in pyproject.toml), solhint over the contracts.
.PHONY: check
check: install check-sol
	$(BIN)/ruff check src tests bench scripts tools
	$(BIN)/mypy

# solhint over every contract (.solhint.json; why its rules are set so: docs/security.md).
.PHONY: check-sol
check-sol: install
	$(CURDIR)/node_modules/.bin/solhint --max-warnings 0 'contracts/**/*.sol'

bench: install-test compile
	$(BIN)/python bench/gas.py
	$(BIN)/python bench/oracle.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/service.py --replicas 1,2
	$(BIN)/python bench/hostile.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/demo.py
	$(BIN)/python bench/cli.py

# The dashboard's pages at desktop and phone width, as its browser tests shoot them (out/dashboard/),
# copied into docs/screenshots/ for docs/dashboard.md.
SCREENSHOTS := rounds round round-open round-late standings model staker strategy-owner
.PHONY: screenshots
screenshots: install-test compile
	$(BIN)/ape test tests/e2e/test_dashboard.py -p no:cacheprovider -m nodes -q
	mkdir -p docs/screenshots
	for name in $(SCREENSHOTS); do for shot in $$name $$name-phone; do \
	  if [ -f out/dashboard/$$shot.png ]; then cp out/dashboard/$$shot.png docs/screenshots/; fi; done; done

# A longer stateful fuzzing campaign than the one in `make test` (set FUZZ_EXAMPLES).
FUZZ_EXAMPLES ?= 500
fuzz: install
	NMRSTAKE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/ape test tests/contracts/test_invariants.py tests/contracts/test_committee_invariants.py -p no:cacheprovider -s

clean:
	rm -rf $(VENV) $(SLITHER_VENV) node_modules .build contracts/.cache out
