"""transcribe end to end: speech voxhub itself synthesised comes back as its words, timed and in its language, with the
options asked for; a request it cannot serve is refused before anything is queued, and audio without speech fails
with a clear code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.jobs_helpers import attempts_of, read_events, upload
from tests.speech.conftest import (
    PASSAGE,
    create_job,
    error_of,
    job_count,
    run_job,
    spoken_text,
    transcribe,
    transcript,
    transcript_json,
    word_error_rate,
    words_of,
)
from voxhub.config import Settings
from voxhub.engines import diarize
from voxhub.engines.asr import resolve


def assert_timed_within(data: dict[str, Any]) -> None:
    """Segments and their words in time order, each word inside its segment, all inside the audio."""
    duration = data["duration_s"]
    ends = [0.0]
    for segment in data["segments"]:
        assert ends[-1] <= segment["start"] <= segment["end"] <= duration, segment
        ends.append(segment["end"])
        word_end = segment["start"]
        for word in segment["words"]:
            assert word_end <= word["start"] <= word["end"] <= segment["end"], (word, segment)
            word_end = word["end"]


@pytest.mark.parametrize(("model", "max_wer"), [("base", 0.15), ("tiny.en", 0.20)])
def test_speech_synthesized_by_voxhub_is_transcribed_back_to_its_words(
    client: TestClient, people: People, model: str, max_wer: float
) -> None:
    owner = people.create()
    spoken = run_job(client, owner, "synthesize", {"text": PASSAGE}, format="mp3")
    assert spoken["status"] == "succeeded", spoken

    job = transcribe(client, owner, spoken["outputs"][0], model=model)

    assert job["status"] == "succeeded", job
    assert job["progress"] == 100 and job["stage"] == "done"
    assert job["queue"] == "asr" and job["attempts"] == 1
    result = job["result"]
    assert result["model"] == model
    assert result["language"] == "en" and 0.5 < result["language_probability"] <= 1
    assert result["diarization"] == "off" and result["speakers"] == 0
    assert result["transcript_version"] == 1
    assert word_error_rate(PASSAGE, result["text"]) <= max_wer, result["text"]
    data = transcript_json(client, owner, job["id"])
    assert data["version"] == 1 and data["variant"] == "original" and data["language"] == "en"
    assert data["duration_s"] == pytest.approx(spoken["result"]["duration_s"], abs=0.3)
    assert word_error_rate(PASSAGE, spoken_text(data)) <= max_wer
    assert len(data["segments"]) == result["segments"] >= 1
    words = [word for segment in data["segments"] for word in segment["words"]]
    assert len(words) == result["words"] == pytest.approx(len(words_of(PASSAGE)), rel=0.2)
    assert all("speaker" not in segment for segment in data["segments"])
    assert_timed_within(data)
    stages = [event.data["stage"] for event in read_events(client, owner, job["id"]) if event.kind == "stage"]
    assert stages == ["preparing", "decoding", "transcribing", "saving"]


@pytest.mark.parametrize("executor_kind", ["celery"])
def test_a_celery_worker_transcribes_an_upload(client: TestClient, people: People, passage_mp3: Path) -> None:
    owner = people.create()

    job = transcribe(client, owner, upload(client, owner, passage_mp3))

    assert job["status"] == "succeeded", job
    [attempt] = attempts_of(client, owner, job["id"])
    assert attempt["worker_id"].startswith("celery:")
    assert word_error_rate(PASSAGE, spoken_text(transcript_json(client, owner, job["id"]))) <= 0.2


def test_a_given_language_prompt_and_vocabulary_are_taken(
    client: TestClient, people: People, passage_mp3: Path
) -> None:
    owner = people.create()
    vocabulary = ["tea", " stars ", ""]

    job = transcribe(
        client,
        owner,
        upload(client, owner, passage_mp3),
        language="en-US",
        initial_prompt="An evening at the beach, written down by a friend.",
        vocabulary=vocabulary,
    )

    assert job["status"] == "succeeded", job
    assert job["params"]["language"] == "en"  # a region is dropped: Whisper knows languages
    assert job["params"]["vocabulary"] == ["tea", "stars"]  # trimmed, blanks dropped
    assert job["result"]["language"] == "en"
    assert word_error_rate(PASSAGE, job["result"]["text"]) <= 0.2, job["result"]["text"]


@pytest.mark.parametrize("batched", [True, False])
def test_batched_and_sequential_decoding_both_give_the_words(
    client: TestClient, people: People, passage_mp3: Path, batched: bool
) -> None:
    owner = people.create()

    job = transcribe(client, owner, upload(client, owner, passage_mp3), batched=batched)

    assert job["status"] == "succeeded", job
    assert job["params"]["batched"] is batched
    data = transcript_json(client, owner, job["id"])
    assert word_error_rate(PASSAGE, spoken_text(data)) <= 0.2
    assert job["result"]["words"] > 0
    assert_timed_within(data)


def test_without_word_timestamps_segments_come_without_words(
    client: TestClient, people: People, passage_mp3: Path
) -> None:
    owner = people.create()

    job = transcribe(client, owner, upload(client, owner, passage_mp3), word_timestamps=False)

    assert job["status"] == "succeeded", job
    assert job["result"]["words"] == 0
    data = transcript_json(client, owner, job["id"])
    assert all(segment["words"] == [] for segment in data["segments"])
    assert word_error_rate(PASSAGE, spoken_text(data)) <= 0.2


def test_diarize_labels_speakers_where_it_can_and_the_job_succeeds_either_way(
    client: TestClient, people: People, passage_mp3: Path
) -> None:
    owner = people.create()

    job = transcribe(client, owner, upload(client, owner, passage_mp3), diarize=True)

    assert job["status"] == "succeeded", job
    data = transcript_json(client, owner, job["id"])
    if diarize.available():
        assert job["result"]["diarization"] == data["diarization"] == "done"
        labels = {segment["speaker"] for segment in data["segments"]}
        assert all(label.startswith("S") for label in labels), labels
        assert set(data["speakers"]) == labels
        assert job["result"]["speakers"] == len(labels) >= 1
    else:
        assert job["result"]["diarization"] == data["diarization"] == "unavailable"
        assert all("speaker" not in segment for segment in data["segments"])
        assert job["result"]["speakers"] == 0
    assert word_error_rate(PASSAGE, spoken_text(data)) <= 0.2


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"model": "whisper-huge-v9"}, "model_unavailable", None),
        ({"model": "installed-model-path"}, "model_unavailable", None),  # the path of an installed model
        ({"model": "../models/whisper-base"}, "model_unavailable", None),
        ({"language": "xx"}, "validation_error", "params.language"),
        ({"language": "klingon"}, "validation_error", "params.language"),
        ({"num_speakers": 0}, "validation_error", "params.num_speakers"),
        ({"min_speakers": 3, "max_speakers": 2}, "validation_error", "params"),
    ],
    ids=["unknown-model", "model-path", "relative-model-path", "xx", "klingon", "no-speakers", "speaker-bounds"],
)
def test_a_request_it_cannot_serve_is_refused_and_nothing_is_queued(
    client: TestClient,
    people: People,
    passage_mp3: Path,
    settings: Settings,
    params: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    owner = people.create()
    file_id = upload(client, owner, passage_mp3)
    if params.get("model") == "installed-model-path":
        params = {"model": resolve("tiny.en", settings)}

    error = error_of(create_job(client, owner, "transcribe", {"file_id": file_id}, **params), 422)

    assert error["code"] == code
    if code == "model_unavailable":
        assert error["details"]["model"] == params["model"]
        assert {"base", "tiny.en"} <= set(error["details"]["installed"])
        assert "tiny.en" in error["message"]
    else:
        assert error["details"]["fields"][0]["field"] == field
    assert job_count(client, owner) == 0


def test_audio_without_speech_fails_with_no_speech_and_leaves_no_transcript(
    client: TestClient, people: People, silence_wav: Path
) -> None:
    owner = people.create()

    job = transcribe(client, owner, upload(client, owner, silence_wav))

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "no_speech"
    assert job["attempts"] == 1  # nothing to gain from trying again
    assert job["result"] is None
    error = error_of(transcript(client, owner, job["id"]), 409)
    assert error["code"] == "transcript_not_ready" and error["details"]["status"] == "failed"
