"""Files tests run on both stores (local disk and the real S3 server), with real media made by ffmpeg, and — where a
real HTTP client needs one — voxhub served by uvicorn on a free port (`live_server`, tests/live_server.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.audio import ffmpeg
from tests.conftest import Person
from tests.storage.stores import stored_objects, use_store
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
