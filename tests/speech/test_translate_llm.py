"""translate through the language model (the real bundled 0.5B model) for a pair no offline engine has (Bergamot:
English ↔ Portuguese; Apertium: English ↔ Spanish): plain text and a transcript come back in French, the transcript's
segments keeping their ids and timings, labelled engine "llm"; English ↔ Portuguese still goes to Bergamot. With text
generation off, the refusal is tests/speech/test_translate.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.engines.test_llm import LLM_SETTINGS
from tests.insights.conftest import transcription
from tests.speech.conftest import run_job, transcript_json
from voxhub.config import Settings

SENTENCES = ("The cat sleeps.", "The dog eats bread.")


@pytest.fixture(scope="session")
def llm_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("translate-llm") / "var"


@pytest.fixture
def settings(settings: Settings, llm_data_dir: Path) -> Settings:
    # One data dir per test process: the model is joined from its PyPI parts into it once, and loaded once.
    return settings.model_copy(update={"data_dir": llm_data_dir, "llm_engine": "local", **LLM_SETTINGS})


def document(sentences: tuple[str, ...]) -> dict[str, Any]:
    """A transcribe job's transcript of `sentences`, two seconds each with a pause between."""
    segments = [
        {"id": number, "start": 0.5 + 2.5 * number, "end": 2.5 + 2.5 * number, "text": text, "words": []}
        for number, text in enumerate(sentences)
    ]
    return {"language": "en", "language_probability": 1.0, "duration_s": 3.0 + 2.5 * len(sentences),
            "model": "script", "segments": segments}  # fmt: skip


def test_plain_text_in_a_pair_no_offline_engine_has_is_translated_by_the_language_model(
    client: TestClient, people: People
) -> None:
    owner = people.create()
    text = f"{SENTENCES[0]}\n\n{SENTENCES[1]}"

    job = run_job(client, owner, "translate", {"text": text}, source_language="en", target_language="fr")

    assert job["status"] == "succeeded", job
    result = job["result"]
    assert (result["engine"], result["language"], result["source_language"]) == ("llm", "fr", "en")
    assert job["queue"] == "text"  # where text generation is routed, not Bergamot's `default`
    first, blank, second = result["text"].split("\n")
    assert "chat" in first.lower(), result["text"]
    assert blank == ""
    assert second.strip() and second != SENTENCES[1], result["text"]


def test_a_transcript_keeps_its_segments_and_timings_through_the_language_model(
    client: TestClient, people: People, app: Any
) -> None:
    owner = people.create()
    original = document(SENTENCES)
    heard = transcription(app, owner, original)

    job = run_job(client, owner, "translate", {"job_id": heard}, target_language="fr")

    assert job["status"] == "succeeded", job
    assert job["result"]["engine"] == "llm" and job["result"]["segments"] == len(SENTENCES)
    translated = transcript_json(client, owner, heard, lang="fr")
    assert translated["language"] == "fr" and translated["translated_from"] == "en"
    timings = [(segment["id"], segment["start"], segment["end"]) for segment in translated["segments"]]
    assert timings == [(segment["id"], segment["start"], segment["end"]) for segment in original["segments"]]
    texts = [segment["text"] for segment in translated["segments"]]
    assert all(text and text != source for text, source in zip(texts, SENTENCES, strict=True)), texts
    assert "chat" in texts[0].lower(), texts


def test_english_to_portuguese_still_goes_to_bergamot(client: TestClient, people: People) -> None:
    owner = people.create()

    job = run_job(client, owner, "translate", {"text": SENTENCES[0]}, target_language="pt")

    assert job["status"] == "succeeded", job
    assert job["result"]["engine"] == "bergamot"
    assert "gato" in job["result"]["text"].lower()
