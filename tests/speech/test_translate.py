"""translate end to end with the local Bergamot engine: plain text comes back in the other language line by line, and a
transcript is translated segment by segment with its timings kept, readable as subtitles; a request the local engine
cannot serve is refused with a way to serve it. Text generation is off here (VOXHUB_LLM_ENGINE=none), so a pair
Bergamot lacks is refused: the language model's translations are tests/speech/test_translate_llm.py's."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import srt
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.jobs_helpers import upload
from tests.speech.conftest import (
    create_job,
    error_of,
    job_count,
    run_job,
    transcribe,
    transcript,
    transcript_json,
)
from voxhub.config import Settings

FOX = "The quick brown fox jumps over the lazy dog."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"llm_engine": "none"})


def test_plain_text_is_translated_line_by_line(client: TestClient, people: People) -> None:
    owner = people.create()
    text = f"{FOX}\n\nThe dog sleeps in the sun."

    job = run_job(client, owner, "translate", {"text": text}, target_language="pt")

    assert job["status"] == "succeeded", job
    assert job["queue"] == "default" and job["outputs"] == []
    result = job["result"]
    assert result["language"] == "pt" and result["source_language"] == "en" and result["engine"] == "bergamot"
    first, blank, second = result["text"].split("\n")
    assert "raposa" in first and "cão" in first, first
    assert blank == ""
    assert "sol" in second, second
    # The result holds the text: there is no transcript to read.
    assert error_of(transcript(client, owner, job["id"]), 404)["code"] == "transcript_not_found"


def test_a_transcript_is_translated_with_its_timings_and_reads_as_subtitles(
    client: TestClient, people: People, passage_mp3: Path
) -> None:
    owner = people.create()
    heard = transcribe(client, owner, upload(client, owner, passage_mp3))
    assert heard["status"] == "succeeded", heard
    original = transcript_json(client, owner, heard["id"])

    job = run_job(client, owner, "translate", {"job_id": heard["id"]}, target_language="pt")

    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["source_job_id"] == heard["id"] and result["source_version"] == 1
    assert result["language"] == "pt" and result["source_language"] == "en"
    assert result["segments"] == len(original["segments"])
    translated = transcript_json(client, owner, heard["id"], lang="pt")
    assert translated["language"] == "pt" and translated["variant"] == "pt" and translated["version"] == 1
    assert translated["translated_from"] == "en"
    timings = [(segment["id"], segment["start"], segment["end"]) for segment in translated["segments"]]
    assert timings == [(segment["id"], segment["start"], segment["end"]) for segment in original["segments"]]
    text = " ".join(segment["text"] for segment in translated["segments"]).lower()
    assert "praia" in text and "estrelas" in text, text
    # The translate job's own transcript is the same translation; the transcription keeps its English.
    assert transcript_json(client, owner, job["id"]) == translated
    assert transcript_json(client, owner, heard["id"]) == original
    assert transcript_json(client, owner, heard["id"], lang="en") == original
    subtitles = transcript(client, owner, heard["id"], lang="pt", format="srt")
    assert subtitles.status_code == 200, subtitles.text
    cues = list(srt.parse(subtitles.text))
    assert cues and [cue.index for cue in cues] == list(range(1, len(cues) + 1))
    assert all(cue.start < cue.end for cue in cues)
    assert all(before.end <= after.start for before, after in pairwise(cues))
    assert "praia" in " ".join(cue.content for cue in cues).lower()
    assert cues[-1].end.total_seconds() <= original["duration_s"]
    languages = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/jobs/{heard['id']}/transcript/languages", headers=owner.headers
    )
    assert [(item["variant"], item["language"], item["version"]) for item in languages.json()["items"]] == [
        ("original", "en", 1),
        ("pt", "pt", 1),
    ]


@pytest.mark.parametrize(
    ("job_input", "params", "code"),
    [
        ({"text": FOX}, {"source_language": "en", "target_language": "en"}, "same_language"),
        ({"text": FOX}, {"source_language": "en", "target_language": "de"}, "engine_unavailable"),
        ({"text": FOX}, {"target_language": "de"}, "engine_unavailable"),  # no source: nothing local writes German
        ({"text": FOX}, {"target_language": "portuguese"}, "validation_error"),
        ({"text": "  "}, {"target_language": "pt"}, "validation_error"),
        ({"text": FOX, "job_id": "a" * 36}, {"target_language": "pt"}, "validation_error"),
        ({"job_id": "0" * 36}, {"target_language": "pt"}, "job_not_found"),
    ],
    ids=["same-language", "en-de", "auto-de", "not-a-code", "blank", "text-and-job", "no-such-job"],
)
def test_a_translation_it_cannot_make_is_refused_and_nothing_is_queued(
    client: TestClient, people: People, job_input: dict[str, Any], params: dict[str, Any], code: str
) -> None:
    owner = people.create()

    answer = create_job(client, owner, "translate", job_input, **params)

    error = error_of(answer, 404 if code == "job_not_found" else 422)
    assert error["code"] == code
    if code == "engine_unavailable":
        assert "VOXHUB_MT_ENGINE=remote" in error["message"]  # how to get the pair
        assert "provider key" in error["message"]
        assert "VOXHUB_LLM_ENGINE=local" in error["message"]  # or the language model, turned on
    assert job_count(client, owner) == 0


def test_only_this_workspace_s_finished_transcriptions_can_be_translated(
    client: TestClient, people: People, passage_mp3: Path
) -> None:
    owner = people.create()
    stranger = people.create()
    heard = transcribe(client, owner, upload(client, owner, passage_mp3))
    assert heard["status"] == "succeeded", heard
    spoken = run_job(client, owner, "synthesize", {"text": FOX}, format="wav")
    assert spoken["status"] == "succeeded", spoken
    before = job_count(client, owner)

    into_english = create_job(client, owner, "translate", {"job_id": heard["id"]}, target_language="en")
    # Naming another source does not make a translation into the transcript's own language.
    claimed = {"source_language": "pt", "target_language": "en"}
    claimed_source = create_job(client, owner, "translate", {"job_id": heard["id"]}, **claimed)
    not_a_transcript = create_job(client, owner, "translate", {"job_id": spoken["id"]}, target_language="pt")
    not_yours = create_job(client, stranger, "translate", {"job_id": heard["id"]}, target_language="pt")

    assert error_of(into_english, 422)["code"] == "same_language"
    assert error_of(claimed_source, 422)["code"] == "same_language"
    assert error_of(not_a_transcript, 422)["details"]["fields"][0]["field"] == "input.job_id"
    assert "transcribe job" in error_of(not_a_transcript, 422)["message"]
    assert error_of(not_yours, 404)["code"] == "job_not_found"
    assert job_count(client, owner) == before and job_count(client, stranger) == 0
