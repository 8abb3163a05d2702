"""Transcripts over HTTP: exported in five formats that subtitle tools read back, corrected in versions that exports
follow while old versions stay readable, and visible only to the workspace, read-only for its viewers."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx2
import pytest
import srt
import webvtt
from fastapi.testclient import TestClient

from tests.conftest import People, Person
from tests.jobs_helpers import job_url, upload
from tests.speech.conftest import (
    PASSAGE,
    create_job,
    error_of,
    run_job,
    transcribe,
    transcript,
    transcript_json,
    word_error_rate,
)

CONTENT_TYPES = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}
CORRECTED = "We strolled along the beach until the sun went down."


@pytest.fixture
def transcribed(client: TestClient, people: People, passage_mp3: Path) -> tuple[Person, dict[str, Any]]:
    """Someone and their finished transcription of the passage."""
    owner = people.create()
    job = transcribe(client, owner, upload(client, owner, passage_mp3))
    assert job["status"] == "succeeded", job
    return owner, job


def edit(client: TestClient, person: Person, job_id: str, body: dict[str, Any], **headers: str) -> httpx2.Response:
    return client.patch(f"{job_url(person, job_id)}/transcript", headers={**person.headers, **headers}, json=body)


def versions(client: TestClient, person: Person, job_id: str) -> list[tuple[int, str]]:
    answer = client.get(f"{job_url(person, job_id)}/transcript/versions", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return [(row["version"], row["source"]) for row in answer.json()["items"]]


def seconds(timestamp: str) -> float:
    """HH:MM:SS.mmm as seconds."""
    hours, minutes, rest = timestamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def test_a_transcript_is_exported_in_every_format_with_its_content_type(
    client: TestClient, transcribed: tuple[Person, dict[str, Any]]
) -> None:
    owner, job = transcribed

    exported = {fmt: transcript(client, owner, job["id"], format=fmt) for fmt in CONTENT_TYPES}

    for fmt, answer in exported.items():
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == CONTENT_TYPES[fmt]
        assert answer.headers["x-transcript-version"] == "1"
    data = exported["json"].json()
    segments = data["segments"]
    assert data["job_id"] == job["id"] and len(segments) == job["result"]["segments"]
    assert word_error_rate(PASSAGE, exported["txt"].text) <= 0.2
    cues = list(srt.parse(exported["srt"].text))
    assert [cue.index for cue in cues] == list(range(1, len(cues) + 1))
    assert all(cue.start < cue.end for cue in cues)
    assert all(before.end <= after.start for before, after in pairwise(cues))
    assert word_error_rate(PASSAGE, " ".join(cue.content for cue in cues)) <= 0.2
    captions = webvtt.from_string(exported["vtt"].text).captions
    assert [(seconds(c.start), seconds(c.end)) for c in captions] == [
        (cue.start.total_seconds(), cue.end.total_seconds()) for cue in cues
    ]
    assert [caption.text for caption in captions] == [cue.content for cue in cues]
    header, *rows = [line.split("\t") for line in exported["tsv"].text.splitlines()]
    assert header == ["start", "end", "text"]
    assert [(int(start), int(end)) for start, end, _text in rows] == [
        (round(segment["start"] * 1000), round(segment["end"] * 1000)) for segment in segments
    ]
    attachment = transcript(client, owner, job["id"], format="srt", download="true")
    assert attachment.headers["content-disposition"] == f'attachment; filename="{job["id"]}.original.srt"'
    assert error_of(transcript(client, owner, job["id"], format="docx"), 422)["code"] == "validation_error"


def test_a_correction_is_a_new_version_that_exports_follow(
    client: TestClient, transcribed: tuple[Person, dict[str, Any]]
) -> None:
    owner, job = transcribed
    original = transcript_json(client, owner, job["id"])
    body = {"segments": [{"id": 0, "text": f"  {CORRECTED} ", "speaker": "S1"}], "speakers": {"S1": "Ana"}}

    answer = edit(client, owner, job["id"], {**body, "base_version": 1})

    assert answer.status_code == 200, answer.text
    corrected = answer.json()
    assert corrected["version"] == 2
    first = corrected["segments"][0]
    assert first["text"] == CORRECTED and first["speaker"] == "S1" and first["edited"] is True
    assert first["words"] == []  # the words' timings described the old text
    assert first["start"] == original["segments"][0]["start"] and first["end"] == original["segments"][0]["end"]
    assert corrected["segments"][1:] == original["segments"][1:]
    assert corrected["speakers"] == {"S1": "Ana"}
    assert transcript_json(client, owner, job["id"]) == corrected
    assert transcript(client, owner, job["id"], format="txt").text.startswith(f"Ana: {CORRECTED}")
    [cue, *_] = srt.parse(transcript(client, owner, job["id"], format="srt").text)
    assert cue.content.startswith("Ana: We strolled")
    [caption, *_] = webvtt.from_string(transcript(client, owner, job["id"], format="vtt").text).captions
    assert caption.voice == "Ana" and caption.text.startswith("We strolled")
    assert versions(client, owner, job["id"]) == [(1, "job"), (2, "edit")]
    assert transcript_json(client, owner, job["id"], version=1) == original
    assert transcript(client, owner, job["id"], version=1, format="txt").text.startswith(
        original["segments"][0]["text"]
    )

    renamed = edit(client, owner, job["id"], {"speakers": {"S1": "Ana Lima"}}, **{"If-Match": '"2"'})

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["version"] == 3
    assert transcript(client, owner, job["id"], format="txt").text.startswith(f"Ana Lima: {CORRECTED}")
    assert transcript_json(client, owner, job["id"], version=2) == corrected
    assert error_of(transcript(client, owner, job["id"], version=4), 404)["code"] == "transcript_not_found"


def test_an_edit_of_an_old_version_or_of_a_segment_that_is_not_there_is_refused(
    client: TestClient, transcribed: tuple[Person, dict[str, Any]]
) -> None:
    owner, job = transcribed
    assert edit(client, owner, job["id"], {"segments": [{"id": 0, "text": CORRECTED}]}).status_code == 200

    stale = edit(client, owner, job["id"], {"segments": [{"id": 0, "text": "Mine."}], "base_version": 1})
    stale_header = edit(client, owner, job["id"], {"speakers": {"S1": "Ana"}}, **{"If-Match": "1"})
    unknown = edit(client, owner, job["id"], {"segments": [{"id": 999, "text": "Nowhere."}]})
    nothing = edit(client, owner, job["id"], {})
    bad_header = edit(client, owner, job["id"], {"speakers": {"S1": "Ana"}}, **{"If-Match": "latest"})

    conflict = error_of(stale, 409)
    assert conflict["code"] == "version_conflict" and conflict["details"]["current_version"] == 2
    assert error_of(stale_header, 409)["code"] == "version_conflict"
    missing = error_of(unknown, 422)
    assert missing["code"] == "validation_error" and missing["details"]["fields"][0]["field"] == "segments.id"
    assert error_of(nothing, 422)["code"] == "validation_error"
    assert error_of(bad_header, 422)["code"] == "validation_error"
    assert versions(client, owner, job["id"]) == [(1, "job"), (2, "edit")]
    assert transcript_json(client, owner, job["id"])["segments"][0]["text"] == CORRECTED


def test_viewers_read_but_cannot_correct_and_other_workspaces_never_see_it(
    client: TestClient, people: People, transcribed: tuple[Person, dict[str, Any]]
) -> None:
    owner, job = transcribed
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    stranger = people.create()
    url = f"{job_url(owner, job['id'])}/transcript"

    assert client.get(url, headers=viewer.headers, params={"format": "srt"}).status_code == 200
    assert client.get(f"{url}/versions", headers=viewer.headers).status_code == 200
    refused = client.patch(url, headers=viewer.headers, json={"speakers": {"S1": "Ana"}})
    assert error_of(refused, 403)["code"] == "insufficient_role"
    assert error_of(transcript(client, stranger, job["id"]), 404)["code"] == "job_not_found"
    assert error_of(client.get(url, headers=stranger.headers), 404)["code"] == "workspace_not_found"
    eve = client.patch(url, headers=stranger.headers, json={"speakers": {"S1": "Eve"}})
    assert error_of(eve, 404)["code"] == "workspace_not_found"
    assert versions(client, owner, job["id"]) == [(1, "job")]

    assert client.delete(job_url(owner, job["id"]), headers=owner.headers).status_code == 204

    assert error_of(transcript(client, owner, job["id"]), 404)["code"] == "job_not_found"
    assert client.get(url, headers=viewer.headers).status_code == 404


def test_a_job_without_a_transcript_says_why(client: TestClient, people: People) -> None:
    owner = people.create()
    spoken = run_job(client, owner, "synthesize", {"text": "Hello there."}, format="wav")

    error = error_of(transcript(client, owner, spoken["id"]), 404)

    assert error["code"] == "transcript_not_found" and "synthesize" in error["message"]


@pytest.mark.parametrize("executor_kind", ["parked"])
def test_a_job_still_queued_has_no_transcript_yet(client: TestClient, people: People, passage_mp3: Path) -> None:
    owner = people.create()
    queued = create_job(client, owner, "transcribe", {"file_id": upload(client, owner, passage_mp3)})
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["id"]

    read = transcript(client, owner, job_id)
    listed = client.get(f"{job_url(owner, job_id)}/transcript/versions", headers=owner.headers)
    corrected = edit(client, owner, job_id, {"speakers": {"S1": "Ana"}})

    for answer in (read, listed, corrected):
        error = error_of(answer, 409)
        assert error["code"] == "transcript_not_ready" and error["details"]["status"] == "queued"


def test_integers_past_what_a_database_stores_are_refused_not_a_server_error(
    client: TestClient, transcribed: tuple[Person, dict[str, Any]]
) -> None:
    owner, job = transcribed
    url = f"{job_url(owner, job['id'])}/transcript"
    huge = 2**63  # past SQLite's integers, where the query used to raise OverflowError

    reads = [client.get(url, headers=owner.headers, params={"version": number}) for number in (huge, 2**31)]
    edits = [
        edit(client, owner, job["id"], {"segments": [{"id": 0, "text": CORRECTED}], "base_version": huge}),
        edit(client, owner, job["id"], {"segments": [{"id": huge, "text": CORRECTED}]}),
    ]
    events = client.get(f"{job_url(owner, job['id'])}/events", headers={**owner.headers, "Last-Event-ID": str(huge)})

    for answer in [*reads, *edits]:
        assert error_of(answer, 422)["code"] == "validation_error"
    assert events.status_code == 200, events.text  # not an id any event has: the stream replays from the start
    assert "event: state" in events.text
    assert versions(client, owner, job["id"]) == [(1, "job")]
    assert client.get(url, headers=owner.headers, params={"version": 1}).status_code == 200
