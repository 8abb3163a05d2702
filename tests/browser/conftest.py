"""The console in a real browser: voxhub under uvicorn (SQLite, jobs on the app's own worker threads, mail written to
DATA_DIR/mail/) and Debian's Chromium driven by Playwright, one browser per test process.

These tests run once, in the SQLite pass: the console only calls the public API, which the rest of the suite tests on
both databases. Outside `make test` a missing /usr/bin/chromium or axe-core skips them; `make test` sets
VOXHUB_TEST_BROWSER=required, so there a missing one fails."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, Person
from tests.jobs_helpers import wait_for_job
from tests.live_server import LiveServer, served
from voxhub.audit.service import Actor
from voxhub.config import Settings
from voxhub.db import make_engine, migrate
from voxhub.mail import first_link, latest_written, plain_text
from voxhub.pipelines.synthesize import SynthesizeParams, synthesize_file

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = HERE.parents[1] / ".testenv" / "screenshots"
# Plain words tiny.en writes back as spelled: the journey edits one of them and finds the edit in the export.
SENTENCE = "Hello from voxhub. The weather is nice today, so we walk to the river."
JOB_TIMEOUT_S = 120.0  # a loaded two-core machine is slow, not broken


def _unavailable(reason: str) -> None:
    if os.environ.get("VOXHUB_TEST_BROWSER") == "required":
        pytest.fail(f"{reason} (make test installs it: see the Makefile's `programs` and `browser-tools`)")
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
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed in this environment (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@dataclass
class PageProblems:
    """What went wrong in a page: console errors (CSP violations among them), uncaught exceptions."""

    found: list[str]

    def check(self) -> None:
        assert not self.found, "the page reported errors:\n" + "\n".join(self.found)


def watch(page: Any) -> PageProblems:
    """Collect `page`'s console errors, uncaught errors and Content-Security-Policy violations."""
    problems = PageProblems([])

    def on_console(message: Any) -> None:
        if message.type == "error":
            problems.found.append(f"console error at {page.url}: {message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.found.append(f"uncaught error at {page.url}: {error}"))
    # Chromium logs a CSP refusal as a console error too; the event names the directive and what it blocked.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) => "
        "console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline code'}`));"
    )
    return problems


@pytest.fixture
def new_page(browser: Any, console: Console) -> Iterator[Any]:
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


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser tests: screenshots in {SCREENSHOTS}")
    return SCREENSHOTS


def screenshot(page: Any, folder: Path, name: str) -> Path:
    """A full-page screenshot of what the page shows now, as `folder/name.png`."""
    target = folder / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


# ---- voxhub ----


@dataclass
class Console:
    """voxhub serving the console on a real port, with its mail in `settings.mail_dir`."""

    server: LiveServer
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def app(self) -> Any:
        assert self.server.server is not None, "the server is not running"
        return self.server.server.config.app

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def mail_to(self, to: str, subject: str = "", timeout: float = 15.0) -> Any:
        """The newest mail written to `to` whose subject contains `subject`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            message = latest_written(self.settings.mail_dir, to=to)
            if message is not None and subject.lower() in str(message["Subject"]).lower():
                return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail to {to} with {subject!r} in its subject within {timeout}s")
            time.sleep(0.05)

    def mailed_link(self, to: str, subject: str = "") -> str:
        """The first link in the newest mail to `to`: what a person clicks."""
        message = self.mail_to(to, subject)
        link = first_link(message)
        assert link, plain_text(message)
        assert link.startswith(self.url), f"the mail links to {link}, not to this voxhub ({self.url})"
        return link

    def create_user(self, email: str, *, name: str = "Ada Lovelace", superuser: bool = False) -> Person:
        """A verified user with a personal workspace, signed in through the API."""
        from voxhub.workspaces.flows import create_user

        with self.app.state.db.session() as session:
            create_user(
                session, email=email, password=PASSWORD, name=name, actor=Actor.system(), verified=True,
                superuser=superuser,
            )  # fmt: skip
        with self.api() as client:
            tokens = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            assert tokens.status_code == 200, tokens.text
            headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
            workspaces = client.get("/api/v1/workspaces", headers=headers)
            assert workspaces.status_code == 200, workspaces.text
        return Person(
            id="",
            email=email,
            password=PASSWORD,
            access_token=tokens.json()["access_token"],
            refresh_token=tokens.json()["refresh_token"],
            workspace_id=workspaces.json()["items"][0]["id"],
        )

    def transcribed(self, person: Person, media: Path) -> tuple[str, dict[str, Any]]:
        """`media` uploaded in one request and transcribed with tiny.en: the file's id and the finished job."""
        with self.api() as client, media.open("rb") as handle:
            uploaded = client.post(
                f"/api/v1/workspaces/{person.workspace_id}/files",
                headers=person.headers,
                files={"file": (media.name, handle, "audio/wav")},
            )
            assert uploaded.status_code == 201, uploaded.text
            file_id = uploaded.json()["id"]
            body = {"type": "transcribe", "input": {"file_id": file_id}, "params": {"model": "tiny.en"}}
            started = client.post(f"/api/v1/workspaces/{person.workspace_id}/jobs", headers=person.headers, json=body)
            assert started.status_code == 202, started.text
            job = wait_for_job(client, person, started.json()["id"], timeout=JOB_TIMEOUT_S)
        assert job["status"] == "succeeded", job
        return file_id, job


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


def unique_email(prefix: str) -> str:
    return f"{prefix}-{os.urandom(3).hex()}@example.com"


def srt_text(data: str) -> str:
    """The spoken text of an SRT file: its cue lines without numbers and timings."""
    lines = [line for line in data.splitlines() if line.strip() and not line.strip().isdigit() and "-->" not in line]
    return re.sub(r"\s+", " ", " ".join(lines)).strip()
