"""Webhook tests deliver to a real HTTP server in the test (a customer's receiver), and check signatures with the
`standardwebhooks` package the way a customer would."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.conftest import People, Person
from voxhub.config import Settings
from voxhub.notify.models import WebhookDelivery, WebhookEndpoint
from voxhub.periodic import run_once
from voxhub.tasks import PERIODIC_TASKS

# ---- a customer's receiver ----


@dataclass(frozen=True)
class Received:
    """One request the receiver got: what a customer's handler would see."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on a free loopback port that records every request, then answers `status` with `reply`
    after `delay_s` (a slow receiver)."""

    def __init__(self) -> None:
        self.status = 200
        self.reply = "thanks"
        self.delay_s = 0.0
        self._requests: list[Received] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver._record(Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                receiver._closing.wait(receiver.delay_s)
                reply = receiver.reply.encode()
                try:
                    self.send_response(receiver.status)
                    self.send_header("content-type", "text/plain")
                    self.send_header("content-length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the sender gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def _record(self, request: Received) -> None:
        with self._lock:
            self._requests.append(request)

    def url(self, path: str = "hooks") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{path}"

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == f"/{path}"]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


# ---- the app under test ----


@pytest.fixture
def allow_private() -> bool:
    """Receivers in these tests listen on loopback; a test refusing such targets parametrizes this to False."""
    return True


# A receiver that never answers costs a test this long, not the default 10 s.
WEBHOOK_TIMEOUT_S = 1.5


@pytest.fixture
def settings(settings: Settings, allow_private: bool) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private": allow_private, "webhook_timeout_s": WEBHOOK_TIMEOUT_S})


@pytest.fixture
def deliver(app: Any) -> Callable[[], int]:
    """Run the periodic webhook task once, as `voxhub serve` does every 5 s; returns how many deliveries it tried."""
    task = next(task for task in PERIODIC_TASKS if task.name == "deliver_webhooks")

    def run() -> int:
        attempted = run_once(app.state.db, app.state.ctx, (task,))[task.name]
        assert attempted >= 0, "the deliver_webhooks task raised; see the log"
        return attempted

    return run


# ---- real media ----


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("notify-media")
    tone = root / "tone.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1:sample_rate=16000",
            "-c:a",
            "pcm_s16le",
            str(tone),
        ],
        check=True,
    )
    notes = root / "notes.wav"
    notes.write_text("Meeting notes, not audio at all.\n" * 50)
    return {"tone.wav": tone, "notes.wav": notes}


# ---- the API, as a customer uses it ----


def joined(people: People, owner: Person, role: str) -> Person:
    """Someone who joined the owner's workspace with `role`, acting in that workspace."""
    return replace(people.add_to(owner, owner.workspace_id, role), workspace_id=owner.workspace_id)


def hooks_url(workspace_id: str) -> str:
    return f"/api/v1/workspaces/{workspace_id}/webhooks"


def create_webhook(client: TestClient, person: Person, url: str, events: list[str], **fields: Any) -> dict[str, Any]:
    response = client.post(
        hooks_url(person.workspace_id), headers=person.headers, json={"url": url, "events": events, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def upload(client: TestClient, person: Person, path: Path) -> Any:
    with path.open("rb") as handle:
        return client.post(
            f"/api/v1/workspaces/{person.workspace_id}/files",
            headers=person.headers,
            files={"file": (path.name, handle, "application/octet-stream")},
        )


def upload_ready(client: TestClient, person: Person, path: Path) -> dict[str, Any]:
    response = upload(client, person, path)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "ready"
    return response.json()  # type: ignore[no-any-return]


def get_json(client: TestClient, person: Person, path: str) -> Any:
    response = client.get(path, headers=person.headers)
    assert response.status_code == 200, response.text
    return response.json()


def deliveries(client: TestClient, person: Person, webhook_id: str, **params: Any) -> Any:
    response = client.get(
        f"{hooks_url(person.workspace_id)}/{webhook_id}/deliveries", headers=person.headers, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def all_deliveries(client: TestClient, person: Person, webhook_id: str) -> list[dict[str, Any]]:
    """The endpoint's whole delivery log, newest first."""
    return deliveries(client, person, webhook_id)["items"]  # type: ignore[no-any-return]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---- moving time along in the database (a day of retries cannot be waited for) ----


def make_due(db: Session, delivery_id: str, **values: Any) -> None:
    """The delivery's next attempt is due now (and any other column set as given)."""
    from voxhub.clock import utcnow

    db.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(next_attempt_at=utcnow(), **values)
    )
    db.commit()


def set_endpoint(db: Session, endpoint_id: str, **values: Any) -> None:
    db.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(**values))
    db.commit()
