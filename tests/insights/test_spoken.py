"""The known script spoken by voxhub and transcribed with `params.insights`: once the transcription succeeds an insights
job starts on its transcript by itself, and its chapters change within 20 s of where the spoken topics do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.audio import decoded_seconds, ffmpeg
from tests.conftest import People
from tests.insights.conftest import JOB_TIMEOUT_S, insights_of
from tests.insights.script import TOPICS
from tests.jobs_helpers import get_job, jobs_url, upload, wait_for_job
from tests.speech.conftest import speak

TOLERANCE_S = 20.0
PAUSE_S = 1.0  # between topics, as a speaker would pause


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """The script spoken topic by topic and joined with a pause between topics; where the later topics begin."""
    directory = tmp_path_factory.mktemp("meeting")
    parts = [speak(directory / f"topic{n}", " ".join(t.sentences), format="wav") for n, t in enumerate(TOPICS)]
    changes, clock = [], 0.0
    for part in parts[:-1]:
        clock += decoded_seconds(part) + PAUSE_S
        changes.append(clock)
    inputs = [arg for part in parts for arg in ("-i", str(part))]
    padded = "".join(f"[{n}]apad=pad_dur={PAUSE_S}[p{n}];" for n in range(len(parts) - 1))
    joined = "".join(f"[p{n}]" for n in range(len(parts) - 1)) + f"[{len(parts) - 1}]"
    target = directory / "meeting.mp3"
    graph = f"{padded}{joined}concat=n={len(parts)}:v=0:a=1"
    ffmpeg(*inputs, "-filter_complex", graph, "-ac", "1", "-ar", "16000", str(target))
    return target, changes


def test_a_transcription_with_insights_starts_them_when_it_succeeds(
    client: TestClient, people: People, meeting: tuple[Path, list[float]]
) -> None:
    owner = people.create()
    audio, changes = meeting
    accepted = client.post(
        jobs_url(owner),
        headers=owner.headers,
        json={
            "type": "transcribe",
            "input": {"file_id": upload(client, owner, audio)},
            "params": {"model": "tiny.en", "insights": True},
            "metadata": {"meeting": "planning"},
        },
    )
    assert accepted.status_code == 202, accepted.text

    heard = wait_for_job(client, owner, accepted.json()["id"], timeout=JOB_TIMEOUT_S)

    assert heard["status"] == "succeeded", heard
    chained = heard["result"]["insights_job_id"]
    started = get_job(client, owner, chained)
    assert started["type"] == "insights" and started["input"]["job_id"] == heard["id"]
    assert started["metadata"] == {"meeting": "planning"}
    insights = wait_for_job(client, owner, chained, timeout=JOB_TIMEOUT_S)
    assert insights["status"] == "succeeded", insights
    found = insights_of(client, owner, heard["id"])
    assert found.status_code == 200, found.text
    result: dict[str, Any] = found.json()
    assert result["job_id"] == chained and result["engine"] == "extractive" and result["complete"] is True
    chapters = result["chapters"]
    assert len(chapters) == len(TOPICS), [(chapter["start"], chapter["gist"]) for chapter in chapters]
    for chapter, planted in zip(chapters[1:], changes, strict=True):
        assert abs(chapter["start"] - planted) <= TOLERANCE_S, (chapter["start"], planted)
    phrases = " | ".join(phrase["text"].lower() for phrase in result["key_phrases"])
    for topic in TOPICS:
        assert any(term in phrases for term in topic.key_terms), (topic.name, phrases)
    assert all(stamp["start"] < stamp["end"] for phrase in result["key_phrases"] for stamp in phrase["timestamps"])
