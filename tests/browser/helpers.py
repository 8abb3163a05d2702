"""What the browser tests share: voxhub serving the console (its mail, users made directly), and a page watched for
errors, opened until it has drawn what it loads, and photographed."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import expect

from tests.conftest import PASSWORD, Person
from tests.jobs_helpers import wait_for_job
from tests.live_server import LiveServer
from voxhub.audit.service import Actor
from voxhub.config import Settings
from voxhub.mail import first_link, latest_written, plain_text

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = HERE.parents[1] / ".testenv" / "screenshots"
# Plain words tiny.en writes back as spelled: the journey edits one of them and finds the edit in the export.
SENTENCE = "Hello from voxhub. The weather is nice today, so we walk to the river."
JOB_TIMEOUT_S = 120.0  # a loaded two-core machine is slow, not broken


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
        """A verified user with a personal workspace (made as `voxhub admin create-user` does), signed in over HTTP."""
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

    def transcribed(self, person: Person, media: Path) -> dict[str, Any]:
        """`media` uploaded in one request and transcribed with tiny.en: the finished job."""
        with self.api() as client, media.open("rb") as handle:
            uploaded = client.post(
                f"/api/v1/workspaces/{person.workspace_id}/files",
                headers=person.headers,
                files={"file": (media.name, handle, "audio/wav")},
            )
            assert uploaded.status_code == 201, uploaded.text
            body = {"type": "transcribe", "input": {"file_id": uploaded.json()["id"]}, "params": {"model": "tiny.en"}}
            started = client.post(f"/api/v1/workspaces/{person.workspace_id}/jobs", headers=person.headers, json=body)
            assert started.status_code == 202, started.text
            job = wait_for_job(client, person, started.json()["id"], timeout=JOB_TIMEOUT_S)
        assert job["status"] == "succeeded", job
        return job


def unique_email(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() % 10**9}@example.com"


# ---- pages ----


@dataclass
class PageProblems:
    """What went wrong in a page: console errors (CSP violations among them), uncaught errors, and console
    responses without the Content-Security-Policy header."""

    found: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.found, "the page reported problems:\n" + "\n".join(self.found)


def watch(page: Any) -> PageProblems:
    """Collect `page`'s console errors, uncaught errors and Content-Security-Policy violations, and check that each
    page and console file it loads carries the policy."""
    problems = PageProblems()

    def on_console(message: Any) -> None:
        where = urlsplit(message.location.get("url") or "").path
        # A recording nobody has asked insights of answers 404, and the transcript page offers to make them.
        if message.type == "error" and where.endswith("/insights") and "404" in message.text:
            return
        if message.type == "error":
            problems.found.append(f"console error at {page.url}: {message.text} ({message.location.get('url')})")

    def on_response(response: Any) -> None:
        path = urlsplit(response.url).path
        console_file = path.startswith("/console/") or response.request.resource_type == "document"
        ours = console_file and not path.startswith(("/api/", "/docs", "/redoc")) and response.status < 300
        if ours and "content-security-policy" not in response.headers:
            problems.found.append(f"{response.url} came without a Content-Security-Policy header")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.found.append(f"uncaught error at {page.url}: {error}"))
    page.on("response", on_response)
    # Chromium logs a CSP refusal as a console error too; the event names the directive and what it blocked.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) => "
        "console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline code'}`));"
    )
    return problems


def visit(page: Any, path: str, quiet_ms: int = 300, timeout: float = 20.0) -> None:
    """Open `path` and wait until its h1 shows and the page has made no request (event streams aside) for
    `quiet_ms`: what the page loads is drawn."""
    pending: set[Any] = set()
    last_change = [time.monotonic()]

    def started(request: Any) -> None:
        if request.resource_type != "eventsource":
            pending.add(request)
            last_change[0] = time.monotonic()

    def ended(request: Any) -> None:
        pending.discard(request)
        last_change[0] = time.monotonic()

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    try:
        page.goto(path)
        page.locator("h1").first.wait_for(timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        while pending or time.monotonic() - last_change[0] < quiet_ms / 1000:
            assert time.monotonic() < deadline, f"{page.url} kept loading: {[r.url for r in pending]}"
            page.wait_for_timeout(50)
    finally:
        page.remove_listener("request", started)
        page.remove_listener("requestfinished", ended)
        page.remove_listener("requestfailed", ended)


def screenshot(page: Any, folder: Path, name: str) -> Path:
    """A full-page screenshot of what the page shows now, as `folder/name.png`."""
    target = folder / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def sign_in(page: Any, email: str, screenshots: Path | None = None) -> str:
    """Sign in on /login (where `page` is) as `email`; the id of the workspace the console opens."""
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    if screenshots:
        screenshot(page, screenshots, "login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/w/[^/]+/files$"))
    found = re.search(r"/w/([^/]+)/files", page.url)
    assert found, page.url
    return found.group(1)


def srt_text(data: str) -> str:
    """The spoken text of an SRT file: its cue lines without numbers and timings."""
    lines = [line for line in data.splitlines() if line.strip() and not line.strip().isdigit() and "-->" not in line]
    return re.sub(r"\s+", " ", " ".join(lines)).strip()
