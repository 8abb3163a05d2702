"""Dubs through the HTTP API on the local executor, with real engines: faster-whisper base, the diarizer, Bergamot
(English → Portuguese), piper and espeak-ng, ffmpeg. Text generation is off (VOXHUB_LLM_ENGINE=none) unless a test
asks for it. The recordings are made here: a test-card picture, English lines spoken by voxhub at known times over a
synthetic music bed."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Mailbox, People, Person
from tests.fixtures.workers import STALE_AFTER_S, on_executor
from tests.speech.conftest import speak
from voxhub.config import Settings
from voxhub.media.audio import measure_loudness

DUB_TIMEOUT_S = 600.0  # two cores shared by several test processes
# (start second, text): three sentences of one speaker with gaps of music between them
LINES = (
    (1.0, "Welcome to the show. Today we talk about the weather."),
    (7.5, "The rain will stop in the morning, and the afternoon will be warm."),
    (14.0, "Thank you for watching, and see you next week."),
)
DURATION_S = 20.0
# A music bed: two notes and a slow swell, well below the speech, like a programme's background
BED = "0.030*sin(2*PI*220*t)*(0.7+0.3*sin(2*PI*0.5*t))+0.020*sin(2*PI*330*t)+0.012*sin(2*PI*440*t)"


@dataclass(frozen=True)
class Recording:
    path: Path
    lines: tuple[tuple[float, str, float], ...]  # start, text, seconds spoken
    duration_s: float

    @property
    def onsets(self) -> list[float]:
        """When each line is first heard."""
        return [start for start, _text, _seconds in self.lines]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def seconds_of(path: Path) -> float:
    answer = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(json.loads(answer.stdout)["format"]["duration"])


def _trimmed(path: Path) -> Path:
    """A spoken line without the voice's own silence before and after it, so the line is heard from its start."""
    target = path.with_name(path.stem + "-trimmed.wav")
    edges = "silenceremove=start_periods=1:start_threshold=-45dB"
    _ffmpeg("-i", str(path), "-af", f"{edges},areverse,{edges},areverse", str(target))
    return target


def make_recording(
    directory: Path,
    lines: tuple[tuple[float, str], ...] = LINES,
    *,
    duration_s: float = DURATION_S,
    video: bool = True,
    name: str = "talk",
    voice: str | None = None,
) -> Recording:
    """`lines` (English, unless `voice` speaks another language) heard from their times on, over the music bed,
    with a test-card picture when `video`."""
    directory.mkdir(parents=True, exist_ok=True)
    spoken = [
        _trimmed(speak(directory / f"line{number}", text, format="wav", voice=voice))
        for number, (_start, text) in enumerate(lines)
    ]
    inputs = ["-f", "lavfi", "-t", f"{duration_s}", "-i", f"aevalsrc={BED}:s=44100:c=stereo"]
    for path in spoken:
        inputs += ["-i", str(path)]
    delays = [
        f"[{number + 1}:a]aresample=44100,pan=stereo|c0=c0|c1=c0,adelay={round(start * 1000)}:all=1[l{number}]"
        for number, (start, _text) in enumerate(lines)
    ]
    mixed = "".join(f"[l{number}]" for number in range(len(lines)))
    graph = ";".join([*delays, f"[0:a]{mixed}amix=inputs={len(lines) + 1}:normalize=0:duration=first,volume=2.0[a]"])
    loose = directory / f"{name}-loose.wav"
    _ffmpeg(*inputs, "-filter_complex", graph, "-map", "[a]", "-c:a", "pcm_s16le", str(loose))
    # at -16 LUFS, as a programme is published: a dub normalised to the same target then keeps the bed's level
    gain = -16.0 - measure_loudness(loose).integrated_lufs
    audio = directory / f"{name}-audio.wav"
    _ffmpeg("-i", str(loose), "-af", f"volume={gain:.2f}dB", "-c:a", "pcm_s16le", str(audio))
    if video:
        target = directory / f"{name}.mp4"
        _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={duration_s}", "-i", str(audio),
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
            "-shortest", "-movflags", "+faststart", str(target),
        )  # fmt: skip
    else:
        target = directory / f"{name}.m4a"
        _ffmpeg("-i", str(audio), "-c:a", "aac", "-b:a", "128k", str(target))
    timed = tuple((start, text, seconds_of(path)) for (start, text), path in zip(lines, spoken, strict=True))
    return Recording(path=target, lines=timed, duration_s=duration_s)


@pytest.fixture(scope="package")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return make_recording(tmp_path_factory.mktemp("dub-video"))


@pytest.fixture
def people(client: TestClient, app: Any, mailbox: Mailbox) -> People:
    """People whose workspaces have credits: a dub costs 30 credits a minute per language."""
    app.state.test_mailbox = mailbox
    return People(client, app, starting_credits=100_000)


@pytest.fixture
def executor_kind() -> str:
    return "local"


@pytest.fixture
def settings(settings: Settings, executor_kind: str, request: pytest.FixtureRequest) -> Settings:
    return on_executor(
        settings, executor_kind, request, job_stale_after_s=STALE_AFTER_S, workers=1, llm_engine="none"
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _nothing_left_running(nothing_left_running: None) -> None:
    """No dubbing test leaves a job queued or running for the next one."""


def dubs_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/dubs"


def start_dub(client: TestClient, person: Person, file_id: str, **body: Any) -> httpx2.Response:
    return client.post(dubs_url(person), headers=person.headers, json={"file_id": file_id, **body})


def wait_for_dub(
    client: TestClient, person: Person, dub_id: str, *, until: tuple[str, ...] = (), timeout: float = DUB_TIMEOUT_S
) -> dict[str, Any]:
    """Poll the dub until its status is one of `until` (default: any that no job is working on)."""
    until = until or ("awaiting_review", "succeeded", "failed", "canceled")
    deadline = time.monotonic() + timeout
    while True:
        dub = client.get(f"{dubs_url(person)}/{dub_id}", headers=person.headers).json()
        if dub["status"] in until:
            return dict(dub)
        assert time.monotonic() < deadline, f"the dub stayed {dub['status']}: {dub}"
        time.sleep(0.5)


def download(client: TestClient, person: Person, file_id: str, target: Path) -> Path:
    """A file's bytes, through the signed link the API redirects to."""
    answer = client.get(
        f"/api/v1/workspaces/{person.workspace_id}/files/{file_id}/download", headers=person.headers,
        follow_redirects=True,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    target.write_bytes(answer.content)
    return target


def streams_of(path: Path) -> list[dict[str, Any]]:
    answer = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return list(json.loads(answer.stdout)["streams"])


def error_of(answer: httpx2.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return dict(answer.json()["error"])
