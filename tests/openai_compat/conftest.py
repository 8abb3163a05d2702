"""OpenAI-compatible API tests: voxhub under uvicorn on a free port (the official `openai` client needs a real
server), speech made by voxhub's own synthesis, API keys made through the HTTP API, and a word error rate to judge
what the real Whisper model heard."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.audio import ffmpeg
from tests.conftest import Mailbox, People, Person
from tests.openai_compat.helpers import SENTENCE, SPANISH, create_api_key
from voxhub.config import Settings
from voxhub.pipelines.synthesize import SynthesizeParams, synthesize_file


@dataclass(frozen=True)
class Clips:
    """Real speech of SENTENCE (piper, through voxhub's synthesize pipeline) and other test media."""

    speech_wav: Path
    speech_mp3: Path
    spanish_wav: Path  # espeak-ng's Spanish voice
    silence: Path
    not_audio: Path
    truncated: Path
    empty: Path


@pytest.fixture
def people(client: TestClient, app: Any, mailbox: Mailbox) -> People:
    """People whose workspaces have credits: these tests run paid jobs past the free plan's allowance."""
    app.state.test_mailbox = mailbox
    return People(client, app, starting_credits=100_000)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    root = tmp_path_factory.mktemp("openai-clips")
    settings = Settings(_env_file=None, data_dir=root / "var")  # type: ignore[call-arg]

    def speak(text: str, name: str, language: str | None = None) -> Path:
        with tempfile.TemporaryDirectory() as scratch:
            params = SynthesizeParams(format="wav", language=language)
            made, _known, _voice = synthesize_file(settings, text, params, Path(scratch), progress=lambda *_: None)
            return made.replace(root / name)

    speech_wav = speak(SENTENCE, "speech.wav")
    spanish_wav = speak(SPANISH, "spanish.wav", "es")
    speech_mp3 = root / "speech.mp3"
    ffmpeg("-i", str(speech_wav), "-c:a", "libmp3lame", "-b:a", "64k", str(speech_mp3))
    silence = root / "silence.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2", "-c:a", "pcm_s16le", str(silence))
    not_audio = root / "notes.wav"
    not_audio.write_text("Meeting notes, not audio at all.\n" * 100)
    long_mp3 = root / "long.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=20", "-c:a", "libmp3lame", "-b:a", "64k", str(long_mp3))
    truncated = root / "truncated.mp3"
    truncated.write_bytes(long_mp3.read_bytes()[: long_mp3.stat().st_size // 2])
    empty = root / "empty.wav"
    empty.write_bytes(b"")
    return Clips(speech_wav, speech_mp3, spanish_wav, silence, not_audio, truncated, empty)


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openai-var")


@pytest.fixture
def settings(settings: Settings, shared_data_dir: Path) -> Settings:
    # One data dir per test process: Whisper base is joined from its two packages into DATA_DIR/models once, and
    # the loaded model is shared by every test instead of loaded again for each.
    return settings.model_copy(update={"data_dir": shared_data_dir})


@dataclass
class Caller:
    person: Person
    key: str
    read_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def caller(people: People, client: TestClient) -> Caller:
    """A workspace owner with a `write` key (allowed to spend) and a `read` key."""
    owner = people.create()
    return Caller(owner, create_api_key(client, owner, "write"), create_api_key(client, owner, "read"))
