"""The console in a real browser: voxhub under uvicorn (SQLite, jobs on the app's own worker threads, mail written to
DATA_DIR/mail/) and Debian's Chromium driven by Playwright, one browser per test process.

These tests run once, in the SQLite pass: the console only calls the public API, which the rest of the suite tests on
both databases. Outside `make test` a missing /usr/bin/chromium or axe-core skips them; `make test` sets
VOXHUB_TEST_BROWSER=required, so there a missing one fails."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.helpers import AXE, CHROMIUM, SCREENSHOTS, SENTENCE, Console, PageProblems, watch
from tests.live_server import served
from voxhub.config import Settings
from voxhub.db import make_engine, migrate
from voxhub.pipelines.synthesize import SynthesizeParams, synthesize_file

# What the pages' actions wait for (set on each context below), assertions wait for too: a busy machine draws late.
expect.set_options(timeout=15_000)

STARTED = time.time()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Says where this run's screenshots are (`make test` says it too: in a whole-suite run under xdist this
    conftest is not loaded where the summary is written)."""
    if SCREENSHOTS.is_dir() and any(shot.stat().st_mtime >= STARTED for shot in SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser tests: screenshots of the console's pages in {SCREENSHOTS}")


def _unavailable(reason: str) -> None:
    if os.environ.get("VOXHUB_TEST_BROWSER") == "required":
        pytest.fail(f"{reason}; `make test` installs it (the Makefile's `programs` and `browser-tools`)")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _sqlite_pass_only() -> None:
    if os.environ.get("VOXHUB_TEST_DATABASE_URL"):
        pytest.skip("the browser tests run once, in the SQLite pass: the console calls only the API tested on both")


# ---- the browser ----


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for this test process."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, as `npm ci --prefix tests/browser` installed it."""
    if not AXE.is_file():
        _unavailable(f"{AXE} is missing (run: npm ci --prefix tests/browser)")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def new_page(browser: Any, console: Console) -> Iterator[Callable[..., Any]]:
    """`new_page(**context_options)`: a page in a fresh browser context (its own cookies) on the console; the test
    fails on any console error, uncaught error or CSP violation in any page it opened."""
    contexts: list[Any] = []
    watched: list[PageProblems] = []

    def open_page(**options: Any) -> Any:
        context = browser.new_context(base_url=console.url, accept_downloads=True, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watched.append(watch(page))
        return page

    yield open_page
    for context in contexts:
        context.close()
    for problems in watched:
        problems.check()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the tests save what each main page looks like (printed, so a person can go and look)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser tests: screenshots in {SCREENSHOTS}")
    return SCREENSHOTS


# ---- voxhub ----


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory, billing_catalog: Path) -> Iterator[Console]:
    """voxhub for every browser test of this process, on its own SQLite database (the rest of the suite empties its
    tables after each test), its links pointing at itself. Tests make their own users, so they never meet."""
    root = tmp_path_factory.mktemp("console")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root / "var",
        database_url=f"sqlite:///{root / 'console.db'}",
        smtp_url=None,  # mail is written to DATA_DIR/mail/, where a person on this machine would read it
        billing_catalog=billing_catalog,  # room for a browser's polling: the free plan allows 60 requests a minute
        secret_key="browser-test-secret-key-" + "b" * 32,
        run_periodic_tasks=False,
        workers=1,
        asr_model="tiny.en",  # the installed small model: a transcription started from the console runs in seconds
        llm_engine="none",  # insights by the extractive method: seconds, and no language model to load
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    engine.dispose()
    with served(settings) as server:
        yield Console(server, server.settings)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SENTENCE spoken by voxhub's own synthesizer: a few seconds of real speech."""
    root = tmp_path_factory.mktemp("browser-speech")
    with tempfile.TemporaryDirectory() as scratch:
        engine_settings = Settings(_env_file=None, data_dir=root / "var")  # type: ignore[call-arg]
        made, _known, _voice = synthesize_file(
            engine_settings, SENTENCE, SynthesizeParams(format="wav"), Path(scratch), progress=lambda *_: None
        )
        return made.replace(root / "hello.wav")
