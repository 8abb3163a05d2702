"""Files tests run on both stores (local disk and the real S3 server), with real media made by ffmpeg, and — where a
real HTTP client needs one — voxhub served by uvicorn on a free port."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Person
from tests.storage.stores import stored_objects, use_store
from voxhub.app import create_app
from voxhub.config import Settings

SECONDS = 3  # every short test medium lasts this long

# For what is decided before any byte reaches a store (who may call what): one store is enough.
local_store_only = pytest.mark.parametrize("store_kind", ["local"])


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, store_kind: str, request: pytest.FixtureRequest) -> Settings:
    return use_store(settings, store_kind, request)


@pytest.fixture
def stored(settings: Settings, request: pytest.FixtureRequest) -> Callable[[], list[str]]:
    """What the store holds right now for this test (objects and unfinished uploads)."""
    return lambda: stored_objects(settings, request)


# ---- real media ----


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def sine(seconds: float, rate: int = 44100) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate={rate}"]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real media files, and broken ones, made once per run."""
    root = tmp_path_factory.mktemp("media")
    made = {
        name: root / name
        for name in (
            "tone.wav",
            "tone.mp3",
            "tone.ogg",
            "clip.mp4",
            "silent.mp4",
            "truncated.mp3",
            "notes.wav",
            "empty.wav",
            "long.mp3",
        )
    }
    ffmpeg(*sine(SECONDS), "-c:a", "pcm_s16le", str(made["tone.wav"]))
    ffmpeg(*sine(SECONDS), "-c:a", "libmp3lame", "-b:a", "64k", str(made["tone.mp3"]))
    ffmpeg(*sine(SECONDS), "-c:a", "libvorbis", str(made["tone.ogg"]))
    video = ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={SECONDS}"]
    ffmpeg(
        *video,
        *sine(SECONDS),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(made["clip.mp4"]),
    )
    ffmpeg(*video, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(made["silent.mp4"]))
    # An mp3 whose header announces 20 s, cut after half of its bytes: a download that broke off.
    ffmpeg(*sine(20), "-c:a", "libmp3lame", "-b:a", "64k", str(made["long.mp3"]))
    whole = made["long.mp3"].read_bytes()
    made["truncated.mp3"].write_bytes(whole[: len(whole) // 2])
    made["notes.wav"].write_text("Meeting notes, not audio at all.\n" * 200)
    made["empty.wav"].write_bytes(b"")
    return made


def wav_of_size(path: Path, size: int) -> Path:
    """A real WAV (48 kHz stereo, 192 kB/s) of at least `size` bytes."""
    if not path.exists():
        ffmpeg(*sine(size / 192_000 + 0.5, rate=48000), "-ac", "2", "-c:a", "pcm_s16le", str(path))
    return path


def sha256_of(data: bytes | Path) -> str:
    if isinstance(data, Path):
        digest = hashlib.sha256()
        with data.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()
    return hashlib.sha256(data).hexdigest()


# ---- the API, as a client uses it ----


def files_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/files"


def upload(
    client: TestClient,
    person: Person,
    path: Path,
    *,
    filename: str | None = None,
    content_type: str = "application/octet-stream",
    workspace_id: str | None = None,
) -> Any:
    """The one-request upload: multipart/form-data field `file`."""
    with path.open("rb") as handle:
        return client.post(
            files_url(person, workspace_id),
            headers=person.headers,
            files={"file": (filename or path.name, handle, content_type)},
        )


# ---- voxhub served over real HTTP ----


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
        for family in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text):
            for sample in family.samples:
                wanted = {"method": method, "route": route}
                if sample.name == "voxhub_http_requests_total" and wanted.items() <= sample.labels.items():
                    counted[sample.labels["status"]] = counted.get(sample.labels["status"], 0) + int(sample.value)
        if sum(counted.values()) >= at_least or time.monotonic() > deadline:
            return counted
        time.sleep(0.05)


@pytest.fixture
def live_server(settings: Settings, app: Any) -> Iterator[LiveServer]:
    """voxhub on a real port, sharing the database and store with `app`; its signed links point at itself."""
    with served(settings) as server:
        yield server


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
