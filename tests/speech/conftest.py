"""Speech jobs on real engines (faster-whisper base and tiny.en, the piper joe voice, espeak-ng, Bergamot) through the
HTTP API, on the local executor unless a test names another. The speech is voxhub's own: a passage is synthesised once
per test process and uploaded by the tests that need audio."""

from __future__ import annotations

import string
import subprocess
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Mailbox, People, Person
from tests.fixtures.workers import STALE_AFTER_S, on_executor
from tests.jobs_helpers import job_url, jobs_url, wait_for_job
from voxhub.config import Settings
from voxhub.pipelines.synthesize import SynthesizeParams, synthesize_file

# About 8 s spoken; plain words both Whisper models write back exactly as spelled here.
PASSAGE = (
    "We walked along the beach until the sun went down. The wind was cold, so we built a fire and made tea. "
    "Later we watched the stars come out."
)
JOB_TIMEOUT_S = 180.0  # three test processes share two cores; a loaded machine is slow, not broken


@pytest.fixture
def people(client: TestClient, app: Any, mailbox: Mailbox) -> People:
    """People whose workspaces have credits: these tests run paid jobs past the free plan's allowance."""
    app.state.test_mailbox = mailbox
    return People(client, app, starting_credits=100_000)


@pytest.fixture
def executor_kind() -> str:
    """Worker threads inside the app; a test that needs Celery (or a parked queue) parametrizes this."""
    return "local"


@pytest.fixture
def settings(settings: Settings, executor_kind: str, request: pytest.FixtureRequest) -> Settings:
    # As the jobs tests run: one job at a time on either executor.
    return on_executor(
        settings,
        executor_kind,
        request,
        job_stale_after_s=STALE_AFTER_S,
        workers=1,
        webhooks_allow_private=True,
    )


@pytest.fixture(autouse=True)
def _nothing_left_running(nothing_left_running: None) -> None:
    """No speech test leaves a job queued or running for the next one."""


# ---- speech, made once ----


@pytest.fixture(scope="package")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


def speak(directory: Path, text: str, **params: Any) -> Path:
    """`text` spoken by voxhub's own synthesizer (the default voice unless `params` name one) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    engine_settings = Settings(_env_file=None, data_dir=directory / "var")
    made, _known, _voice = synthesize_file(
        engine_settings, text, SynthesizeParams(**params), directory, progress=lambda _pct, _stage: None
    )
    return made


@pytest.fixture(scope="package")
def passage_mp3(speech_dir: Path) -> Path:
    return speak(speech_dir / "passage", PASSAGE, format="mp3")


@pytest.fixture(scope="package")
def silence_wav(speech_dir: Path) -> Path:
    target = speech_dir / "silence.wav"
    silence = ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", "-c:a", "pcm_s16le"]
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *silence, str(target)], check=True)
    return target


# ---- word error rate ----


def words_of(text: str) -> list[str]:
    """Lower case, punctuation gone (apostrophes kept: "don't" is one word)."""
    drop = str.maketrans(dict.fromkeys(string.punctuation.replace("'", "") + "…", " "))
    return text.lower().translate(drop).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words in the reference: Levenshtein distance over words."""
    expected, heard = words_of(reference), words_of(hypothesis)
    previous = list(range(len(heard) + 1))
    for row, word in enumerate(expected, start=1):
        current = [row]
        for column, other in enumerate(heard, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (word != other)))
        previous = current
    return previous[-1] / max(len(expected), 1)


# ---- the API, as a client uses it ----


def create_job(
    client: TestClient, person: Person, kind: str, job_input: dict[str, Any], **params: Any
) -> httpx2.Response:
    return client.post(
        jobs_url(person), headers=person.headers, json={"type": kind, "input": job_input, "params": params}
    )


def run_job(client: TestClient, person: Person, kind: str, job_input: dict[str, Any], **params: Any) -> dict[str, Any]:
    """Start a job (it must be accepted) and wait until it is over; the job as it ended."""
    accepted = create_job(client, person, kind, job_input, **params)
    assert accepted.status_code == 202, accepted.text
    return wait_for_job(client, person, accepted.json()["id"], timeout=JOB_TIMEOUT_S)


def transcribe(client: TestClient, person: Person, file_id: str, **params: Any) -> dict[str, Any]:
    """A finished transcribe job of the file; tiny.en unless `params` name another model."""
    params.setdefault("model", "tiny.en")
    return run_job(client, person, "transcribe", {"file_id": file_id}, **params)


def transcript(client: TestClient, person: Person, job_id: str, **query: Any) -> httpx2.Response:
    return client.get(f"{job_url(person, job_id)}/transcript", headers=person.headers, params=query)


def transcript_json(client: TestClient, person: Person, job_id: str, **query: Any) -> dict[str, Any]:
    answer = transcript(client, person, job_id, **query)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def job_count(client: TestClient, person: Person) -> int:
    answer = client.get(jobs_url(person), headers=person.headers)
    assert answer.status_code == 200, answer.text
    return len(answer.json()["items"])


def error_of(answer: httpx2.Response, status: int) -> dict[str, Any]:
    """The error body of a response that must have `status`."""
    assert answer.status_code == status, answer.text
    return dict(answer.json()["error"])


def spoken_text(transcript: dict[str, Any]) -> str:
    return " ".join(segment["text"] for segment in transcript["segments"])
