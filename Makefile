# sla-credits: every target creates .venv and installs what it needs first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: wrk chromium screenshots run test lint typecheck unit bench bench-api bench-billing bench-scale clean fuzz openapi

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## run: load the demo into the SQLite default once, print API keys, serve on :8000
run: $(STAMP)
	$(BIN)/sla-credits quickstart

## test: lint, type checks and the whole test suite (two processes; then, alone, the tests that stop PostgreSQL)
test: $(STAMP) lint typecheck
	$(BIN)/pytest -q --durations=15 -n 2 --dist worksteal -m "not exclusive"
	$(BIN)/pytest -q -m exclusive

## openapi: write the served OpenAPI document to docs/openapi.json (a test fails while they differ)
openapi: $(STAMP)
	$(BIN)/sla-credits openapi --output docs/openapi.json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: the core benchmark (reference dataset, 10x, 10x the customers; SQLite and PostgreSQL; SCALES=1 for the reference alone)
bench: $(STAMP)
	$(BIN)/python -m bench.core

clean:
	rm -rf $(VENV) data bench/out .pytest_cache .mypy_cache .ruff_cache

## bench-api: HTTP load (credits vs /healthz, ingest) on SQLite and PostgreSQL
bench-api: $(STAMP) wrk
	$(BIN)/python -m bench.api

## bench-billing: billing runs and verify beside a full rebuild, SQLite and PostgreSQL
bench-billing: $(STAMP)
	$(BIN)/python -m bench.billing

## bench-scale: 1, 2 and 4 API workers on PostgreSQL, projection lag and catch-up
bench-scale: $(STAMP) wrk
	$(BIN)/python -m bench.scale

# the HTTP load generator, from Debian's packages
wrk:
	@command -v wrk >/dev/null || apt-get install -y -q wrk || (apt-get update -q && apt-get install -y -q wrk)

## screenshots: the console's main pages into docs/screenshots/ (Debian's Chromium)
screenshots: $(STAMP) chromium
	$(BIN)/python -m tests.e2e.screenshots

# the browser for the console tests and screenshots, from Debian's packages (never `playwright install`)
chromium:
	@test -x /usr/bin/chromium || DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver \
		|| (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver)

## fuzz: the live-vs-replay differential harness for minutes (MINUTES=5), memory, SQLite and PostgreSQL
MINUTES ?= 5
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --minutes $(MINUTES)
