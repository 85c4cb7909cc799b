# Roost: two commands do everything on a fresh machine.
#   make up    install, start every server and part of Roost, serve until Ctrl-C
#   make test  install and run the whole suite (lint, types, unit, integration, e2e,
#              the fault tier and the OpenAPI fuzzing), then the Redis Cluster pass
#              (make cluster)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test install lint typecheck unit integration e2e faults cluster services bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

services: install
	$(BIN)/roost services

# exec: the shell becomes roost up, so a SIGTERM that make passes on reaches it.
up: install
	@exec env ROOST_RATE_LIMIT_MULTIPLIER=$${ROOST_RATE_LIMIT_MULTIPLIER:-10} $(BIN)/roost up

# ruff, then the import-linter contracts in pyproject.toml ([tool.importlinter]): the layering
# of docs/architecture.md ("Layering, as the build checks it"). A broken contract fails the build.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

typecheck: install
	$(BIN)/mypy .

unit: install
	$(BIN)/pytest tests/unit -q

integration: services
	$(BIN)/pytest tests/integration -q

e2e: services
	$(BIN)/pytest tests/e2e -q

# Parts SIGKILLed and PostgreSQL, Redis and the broker stopped under a write load,
# against servers the tier starts on its own ports (docs/operations.md).
faults: install
	$(BIN)/pytest tests/faults -q -m faults

# The Redis Cluster pass (docs/operations.md, "CI"): the integration and e2e tiers
# again, on a 3-master Redis Cluster the session starts from the system's redis-server
# on free ports (never the shared Redis).
cluster: services
	ROOST_TEST_REDIS_CLUSTER=1 $(BIN)/pytest tests/integration tests/e2e -q \
		-p no:cacheprovider

test: lint typecheck services
	$(BIN)/pytest tests -q -p no:cacheprovider
	$(MAKE) cluster

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(VENV)/.bench-installed

bench: services $(VENV)/.bench-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .roost .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
