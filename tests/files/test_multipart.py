"""Direct multipart uploads: the client PUTs parts to presigned URLs — straight to the S3 server, or to voxhub's own
signed URLs with the local store — with the same client code, then asks voxhub to complete the File."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import People, Person
from tests.files.conftest import files_url, local_store_only, sha256_of, wav_of_size
from tests.live_server import LiveServer
from voxhub.files.uploads import MIN_PART_SIZE

MiB = 1024 * 1024


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A plain HTTP client, as any application would use, talking to voxhub on a real port."""
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def two_part_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real WAV a little over one part: two parts, the second short."""
    return wav_of_size(tmp_path_factory.mktemp("multipart") / "meeting.wav", MIN_PART_SIZE + 500_000)


def uploads_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/uploads/multipart"


def start(http: httpx.Client, person: Person, path: Path, **overrides: Any) -> httpx.Response:
    body = {"filename": path.name, "size": path.stat().st_size, "content_type": "audio/wav", **overrides}
    return http.post(uploads_url(person), headers=person.headers, json=body)


def put_part(part: dict[str, Any], path: Path, part_size: int) -> httpx.Response:
    """PUT one part's bytes to its URL: no credentials, no other header — the URL is the permission."""
    with path.open("rb") as handle:
        handle.seek((part["part_number"] - 1) * part_size)
        data = handle.read(part["size"])
    return httpx.put(part["url"], content=data, timeout=60)


def test_parts_put_to_presigned_urls_become_a_ready_file(
    http: httpx.Client, people: People, two_part_wav: Path, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()

    started = start(http, owner, two_part_wav)
    assert started.status_code == 201, started.text
    upload = started.json()
    sent = [put_part(part, two_part_wav, upload["part_size"]) for part in upload["parts"]]
    completed = http.post(f"{uploads_url(owner)}/{upload['upload_id']}/complete", headers=owner.headers)

    assert upload["part_size"] >= 5 * MiB
    assert [p["part_number"] for p in upload["parts"]] == [1, 2]
    assert sum(p["size"] for p in upload["parts"]) == two_part_wav.stat().st_size
    assert [answer.status_code for answer in sent] == [200, 200]
    assert completed.status_code == 200, completed.text
    file = completed.json()
    assert file["id"] == upload["file_id"]
    assert file["status"] == "ready"
    assert file["filename"] == "meeting.wav"
    assert file["size_bytes"] == two_part_wav.stat().st_size
    assert file["sha256"] == sha256_of(two_part_wav)
    assert file["media"]["sample_rate"] == 48000
    assert len(stored()) == 1  # the parts are gone; only the file remains


def test_completing_with_a_part_missing_conflicts_until_it_arrives(
    http: httpx.Client, people: People, two_part_wav: Path
) -> None:
    owner = people.create()
    upload = start(http, owner, two_part_wav).json()
    assert put_part(upload["parts"][0], two_part_wav, upload["part_size"]).status_code == 200

    early = http.post(f"{uploads_url(owner)}/{upload['upload_id']}/complete", headers=owner.headers)
    # the first URLs may have expired by now: ask for fresh ones and send the last part with those
    again = http.get(f"{uploads_url(owner)}/{upload['upload_id']}", headers=owner.headers)
    assert again.status_code == 200, again.text
    fresh = again.json()
    assert put_part(fresh["parts"][1], two_part_wav, fresh["part_size"]).status_code == 200
    completed = http.post(f"{uploads_url(owner)}/{upload['upload_id']}/complete", headers=owner.headers)

    assert early.status_code == 409
    assert early.json()["error"]["code"] == "upload_incomplete"
    assert early.json()["error"]["details"]["missing_parts"] == [2]
    assert [p["part_number"] for p in fresh["parts"]] == [1, 2]
    assert fresh["file_id"] == upload["file_id"]
    assert completed.status_code == 200, completed.text
    assert completed.json()["sha256"] == sha256_of(two_part_wav)


def test_a_part_of_the_wrong_size_is_caught_at_completion(
    http: httpx.Client, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    upload = start(http, owner, media["tone.wav"]).json()
    assert httpx.put(upload["parts"][0]["url"], content=b"RIFF too short").status_code == 200

    completed = http.post(f"{uploads_url(owner)}/{upload['upload_id']}/complete", headers=owner.headers)

    assert completed.status_code == 409
    assert completed.json()["error"]["details"]["received_bytes"] == len(b"RIFF too short")


def test_aborting_removes_every_part_sent(
    http: httpx.Client, people: People, two_part_wav: Path, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    upload = start(http, owner, two_part_wav).json()
    assert put_part(upload["parts"][0], two_part_wav, upload["part_size"]).status_code == 200
    assert stored() != []

    aborted = http.delete(f"{uploads_url(owner)}/{upload['upload_id']}", headers=owner.headers)
    late_part = put_part(upload["parts"][1], two_part_wav, upload["part_size"])
    late_complete = http.post(f"{uploads_url(owner)}/{upload['upload_id']}/complete", headers=owner.headers)

    assert aborted.status_code == 204
    assert late_part.status_code == 404
    assert late_complete.status_code in (404, 410)
    assert http.get(f"{files_url(owner)}/{upload['file_id']}", headers=owner.headers).status_code == 404
    assert stored() == []


def test_a_multipart_upload_that_is_not_media_is_rejected(
    http: httpx.Client, people: People, media: dict[str, Path], stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    upload = start(http, owner, media["notes.wav"]).json()
    assert put_part(upload["parts"][0], media["notes.wav"], upload["part_size"]).status_code == 200

    completed = http.post(f"{uploads_url(owner)}/{upload['upload_id']}/complete", headers=owner.headers)

    assert completed.status_code == 422
    assert completed.json()["error"]["code"] == "corrupt_media"
    file = http.get(f"{files_url(owner)}/{upload['file_id']}", headers=owner.headers).json()
    assert file["status"] == "rejected"
    assert stored() == []


@local_store_only
def test_a_size_over_the_limit_is_refused_before_anything_is_stored(
    http: httpx.Client, live_server: LiveServer, people: People, two_part_wav: Path, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    live_server.settings.max_file_size_mb = 1

    answer = start(http, owner, two_part_wav)

    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "file_too_large"
    assert http.get(files_url(owner), headers=owner.headers).json()["items"] == []
    assert stored() == []


@local_store_only
def test_a_size_past_the_quota_is_refused_before_anything_is_stored(
    http: httpx.Client, live_server: LiveServer, people: People, two_part_wav: Path, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    live_server.settings.storage_quota_mb = 5

    answer = start(http, owner, two_part_wav)

    assert answer.status_code == 402
    assert answer.json()["error"]["code"] == "storage_quota_exceeded"
    assert stored() == []


@local_store_only
def test_another_workspace_cannot_see_or_touch_a_multipart_upload(
    http: httpx.Client, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    stranger = people.create()
    upload = start(http, owner, media["tone.wav"]).json()
    upload_id = upload["upload_id"]

    for workspace_id in (owner.workspace_id, stranger.workspace_id):
        url = f"{uploads_url(stranger, workspace_id)}/{upload_id}"
        assert http.get(url, headers=stranger.headers).status_code == 404
        assert http.post(f"{url}/complete", headers=stranger.headers).status_code == 404
        assert http.delete(url, headers=stranger.headers).status_code == 404
    assert (
        http.post(
            uploads_url(stranger, owner.workspace_id),
            headers=stranger.headers,
            json={"filename": "a.wav", "size": 1000},
        ).status_code
        == 404
    )

    assert put_part(upload["parts"][0], media["tone.wav"], upload["part_size"]).status_code == 200
    completed = http.post(f"{uploads_url(owner)}/{upload_id}/complete", headers=owner.headers)
    assert completed.status_code == 200, completed.text
