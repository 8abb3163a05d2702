"""voxhub served by uvicorn on a free port, for tests that need a real HTTP client, a second process's worth of app,
or to hang up mid-request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from voxhub.app import create_app
from voxhub.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """voxhub under uvicorn in a thread; `restart()` is a new process's worth of app on the same database and data."""

    settings: Settings
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.server is None or self.thread is None:
            return
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "uvicorn did not stop"
        self.server = self.thread = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def served(settings: Settings) -> Iterator[LiveServer]:
    """voxhub with `settings` under uvicorn on a free port, its signed links pointing at itself, until the end."""
    port = free_port()
    server = LiveServer(settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"}), port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def hang_up_mid_request(url: str, method: str, headers: dict[str, str], length: int, body: bytes) -> None:
    """A request that announces `length` bytes of body, sends `body` (fewer), then closes its connection."""
    parts = urlsplit(url)
    head = [f"{method} {parts.path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {length}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def requests_counted(server: LiveServer, method: str, route: str, *, at_least: int = 1) -> dict[str, int]:
    """The server's count of `method` requests to the route template `route`, by status, once there are
    `at_least` of them (a request is counted when the server has finished with it)."""
    deadline = time.monotonic() + 30
    while True:
        counted: dict[str, int] = {}
        try:
            exposition = httpx.get(f"{server.url}/metrics", timeout=10).text
        except httpx.TransportError:  # a loaded machine: ask again until the deadline
            if time.monotonic() > deadline:
                raise
            continue
        for family in text_string_to_metric_families(exposition):
            for sample in family.samples:
                wanted = {"method": method, "route": route}
                if sample.name == "voxhub_http_requests_total" and wanted.items() <= sample.labels.items():
                    counted[sample.labels["status"]] = counted.get(sample.labels["status"], 0) + int(sample.value)
        if sum(counted.values()) >= at_least or time.monotonic() > deadline:
            return counted
        time.sleep(0.05)
