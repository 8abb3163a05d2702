"""insights jobs through the API with no language model (VOXHUB_LLM_ENGINE=none): the extractive method finds the
planted topics and key terms, says it writes no action items, and what it read; the insights are found again by
either job's id, say when the transcript was edited since, and are refused clearly for what has none."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.insights.conftest import (
    error_of,
    insights_of,
    run_insights,
    start_insights,
    transcription,
)
from tests.insights.script import TOPICS, transcript_of
from tests.jobs_helpers import job_url, jobs_url, wait_for_job

TOLERANCE_S = 20.0


def test_extractive_insights_of_a_transcript_find_the_planted_topics(
    client: TestClient, app: Any, people: People
) -> None:
    owner = people.create()
    document, changes = transcript_of()
    source = transcription(app, owner, document)

    job = run_insights(client, owner, {"job_id": source})

    assert job["status"] == "succeeded", job
    assert job["queue"] == "text"
    result = job["result"]
    assert result["engine"] == "extractive" and result["model"] == "wordllama-l2-256"
    assert result["language"] == "en" and result["source_job_id"] == source and result["transcript_version"] == 1
    chapters = result["chapters"]
    assert len(chapters) == len(TOPICS), [(c["start"], c["gist"]) for c in chapters]
    for chapter, planted in zip(chapters[1:], changes, strict=True):
        assert abs(chapter["start"] - planted) <= TOLERANCE_S, (chapter["start"], planted)
    assert chapters[0]["start"] == 0 and chapters[-1]["end"] == document["duration_s"]
    assert all(before["end"] == after["start"] for before, after in pairwise(chapters))
    phrases = {phrase["text"].lower() for phrase in result["key_phrases"]}
    for topic in TOPICS:
        assert phrases & set(topic.key_terms), (topic.name, sorted(phrases))
    said = {segment["text"] for segment in document["segments"]}
    assert all(line.removeprefix("- ") in said for line in result["summary"].split("\n"))
    # No language model, no action items: empty, and the result says why.
    assert result["action_items"] == []
    assert [skip["feature"] for skip in result["skipped"]] == ["action_items"]
    assert "language model" in result["skipped"][0]["reason"]
    # Everything was read.
    assert result["complete"] is True and result["segments"] == len(document["segments"])
    assert result["coverage"] == [
        {"start": 0.5, "end": document["segments"][-1]["end"], "first_segment_id": 0, "last_segment_id": 47}
    ]
    assert result["tokens"] == 0
    assert job["credits"]["estimated"]["tokens"] == 0 and job["credits"]["charged"] == 0  # no model, nothing to pay


def test_insights_are_found_by_either_job_and_go_stale_when_the_transcript_is_edited(
    client: TestClient, app: Any, people: People
) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    document, _changes = transcript_of()
    source = transcription(app, owner, document)
    job = run_insights(client, owner, {"job_id": source}, summary_type="headline", key_phrases=False)
    assert job["status"] == "succeeded", job

    by_job = insights_of(client, viewer, job["id"], owner.workspace_id)
    by_transcription = insights_of(client, viewer, source, owner.workspace_id)

    assert by_job.status_code == 200, by_job.text
    assert by_transcription.json() == by_job.json()
    found = by_job.json()
    assert found["job_id"] == job["id"] and found["source_job_id"] == source
    assert found["summary"] in {segment["text"] for segment in document["segments"]}
    assert found["key_phrases"] is None and found["chapters"]
    assert (found["transcript_version"], found["latest_transcript_version"], found["stale"]) == (1, 1, False)

    edited = client.patch(
        f"{job_url(owner, source)}/transcript",
        headers=owner.headers,
        json={"segments": [{"id": 0, "text": "Good morning, let us begin with the new roof."}]},
    )
    assert edited.status_code == 200, edited.text
    stale = insights_of(client, viewer, source, owner.workspace_id).json()
    assert (stale["transcript_version"], stale["latest_transcript_version"], stale["stale"]) == (1, 2, True)

    again = run_insights(client, owner, {"job_id": source}, summary_type="headline", key_phrases=False)
    fresh = insights_of(client, viewer, source, owner.workspace_id).json()
    assert fresh["job_id"] == again["id"]
    assert (fresh["transcript_version"], fresh["stale"]) == (2, False)
    assert (
        insights_of(client, viewer, job["id"], owner.workspace_id).json()["stale"] is True
    )  # the first job's insights stay as made


def test_plain_text_gets_insights_without_times(client: TestClient, people: People) -> None:
    owner = people.create()
    text = "\n".join(sentence for topic in TOPICS for sentence in topic.sentences)

    job = run_insights(client, owner, {"text": text}, summary_type="paragraph")

    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["source_job_id"] is None and result["transcript_version"] is None
    assert len(result["chapters"]) == len(TOPICS)
    assert all(chapter["start"] is None and chapter["end"] is None for chapter in result["chapters"])
    assert all(phrase["timestamps"] == [] for phrase in result["key_phrases"])
    assert result["coverage"][0]["first_segment_id"] == 0 and result["coverage"][0]["start"] is None
    assert insights_of(client, owner, job["id"]).json()["summary"] == result["summary"]


def test_an_empty_transcript_is_refused(client: TestClient, app: Any, people: People) -> None:
    owner = people.create()
    document, _changes = transcript_of()
    document["segments"] = [{**segment, "text": " ", "words": []} for segment in document["segments"][:3]]
    source = transcription(app, owner, document)

    refused = error_of(start_insights(client, owner, {"job_id": source}), 422)

    assert refused["code"] == "empty_transcript"
    assert error_of(start_insights(client, owner, {"text": "  \n "}), 422)["code"] == "validation_error"


def test_unknown_jobs_and_other_workspaces_jobs_are_not_found(client: TestClient, app: Any, people: People) -> None:
    owner, stranger = people.create(), people.create()
    document, _changes = transcript_of()
    theirs = transcription(app, stranger, document)
    their_insights = run_insights(client, stranger, {"job_id": theirs}, chapters=False)
    assert their_insights["status"] == "succeeded", their_insights
    unknown = "0190a8f2-0000-7000-8000-000000000000"

    for job_id in (unknown, theirs, their_insights["id"]):
        assert error_of(start_insights(client, owner, {"job_id": job_id}), 404)["code"] == "job_not_found"
        assert error_of(insights_of(client, owner, job_id), 404)["code"] == "job_not_found"
        assert (
            error_of(
                client.get(f"{jobs_url(owner, stranger.workspace_id)}/{job_id}/insights", headers=owner.headers), 404
            )["code"]
            == "workspace_not_found"
        )


def test_a_job_that_is_not_a_transcription_is_refused_clearly(client: TestClient, app: Any, people: People) -> None:
    owner = people.create()
    text_job = run_insights(client, owner, {"text": "We will ship the release on Friday. Ana writes the notes."})
    source = transcription(app, owner, transcript_of()[0])

    refused = error_of(start_insights(client, owner, {"job_id": text_job["id"]}), 422)
    assert refused["code"] == "validation_error" and "transcribe job" in refused["message"]
    assert refused["details"]["fields"][0]["field"] == "input.job_id"
    # A transcription nobody made insights of yet, and a job of a type that has none.
    nothing_yet = error_of(insights_of(client, owner, source), 404)
    assert nothing_yet["code"] == "insights_not_found" and "insights job" in nothing_yet["message"]
    accepted = client.post(
        jobs_url(owner),
        headers=owner.headers,
        json={"type": "translate", "input": {"text": "Bom dia."}, "params": {"target_language": "en"}},
    )
    assert accepted.status_code == 202, accepted.text
    translated = wait_for_job(client, owner, accepted.json()["id"], timeout=120)
    assert error_of(insights_of(client, owner, translated["id"]), 404)["code"] == "insights_not_found"


@pytest.mark.parametrize("executor_kind", ["parked"])
def test_insights_of_a_job_still_queued_are_not_ready(client: TestClient, app: Any, people: People) -> None:
    owner = people.create()
    source = transcription(app, owner, transcript_of()[0])
    queued = start_insights(client, owner, {"job_id": source})
    assert queued.status_code == 202, queued.text

    early = error_of(insights_of(client, owner, queued.json()["id"]), 409)

    assert early["code"] == "insights_not_ready" and early["details"]["status"] == "queued"
    assert error_of(insights_of(client, owner, source), 404)["code"] == "insights_not_found"
