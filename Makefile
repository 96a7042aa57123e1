# news-ingest: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen --all-extras

.PHONY: help install demo airflow scale-demo test lint format bench bench-extract mutate clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install:  ## install uv if missing, then the locked environment (.venv)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --all-extras --quiet

demo: install  ## run the news_ingest DAG once through Airflow against the bundled demo site
	@scripts/demo.sh

airflow: install  ## start airflow standalone on the demo home, DAG scheduled against the demo site
	@scripts/airflow.sh

scale-demo: install  ## the CeleryExecutor topology without Docker: one run, where each task ran
	@scripts/ensure-postgres.sh
	@scripts/ensure-redis.sh
	@scripts/scale-demo.sh

test: install lint  ## run every test (and the linters); installs PostgreSQL, Redis and chromium if missing
	@scripts/ensure-postgres.sh
	@scripts/ensure-redis.sh
	@scripts/ensure-chromium.sh
	@$(RUN) pytest

lint: install  ## ruff, mypy (strict, src/ingest) and the import-layer contracts
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) mypy
	@$(RUN) lint-imports

format: install  ## apply ruff's formatter and safe fixes
	@$(RUN) ruff format .
	@$(RUN) ruff check --fix .

bench: install  ## benchmarks; results go to docs/benchmarks.md
	@$(RUN) python bench/run.py --write docs/benchmarks.md

bench-extract: install  ## extraction quality on ../shared/devset (merged into docs/benchmarks.md)
	@$(RUN) python bench/run.py --write docs/benchmarks.md --only devset --merge

mutate: install  ## mutation testing of fetch, crawl, schedule, robots, dedupe (mutmut; slow)
	@scripts/ensure-postgres.sh
	@$(RUN) --group mutation mutmut run --max-children 2; $(RUN) --group mutation mutmut results

clean:  ## remove local state (demo warehouse, Airflow home, caches)
	rm -rf var .airflow .pytest_cache .ruff_cache .mypy_cache .hypothesis mutants
