"""Resumable uploads with tus 1.0: a standard client (tuspy) uploads 50 MB over real HTTP through a dropped connection
and a server restart; the protocol's answers are checked request by request."""

from __future__ import annotations

import base64
import hashlib
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tusclient import client as tus_client

from tests.conftest import People, Person
from tests.files.conftest import files_url, local_store_only, sha256_of, wav_of_size
from tests.live_server import LiveServer, hang_up_mid_request, requests_counted
from voxhub.billing.catalog import catalog_of
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.files.models import Upload

MiB = 1024 * 1024
CHUNK = 5 * MiB
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"


def tus_url(person: Person, workspace_id: str | None = None) -> str:
    return f"/api/v1/workspaces/{workspace_id or person.workspace_id}/uploads/tus/"


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def create(
    client: TestClient,
    person: Person,
    length: int,
    *,
    body: bytes | None = None,
    workspace_id: str | None = None,
    **headers: str,
) -> Any:
    sent = {
        **person.headers,
        **TUS,
        "Upload-Length": str(length),
        "Upload-Metadata": metadata(filename="tone.wav", filetype="audio/wav"),
        **headers,
    }
    if body is not None:
        sent["Content-Type"] = OFFSET_STREAM
    return client.post(tus_url(person, workspace_id), headers=sent, content=body)


def patch(client: TestClient, person: Person, location: str, offset: int, data: bytes, **headers: str) -> Any:
    sent = {**person.headers, **TUS, "Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM, **headers}
    return client.patch(location, headers=sent, content=data)


def offset_of(client: TestClient, person: Person, location: str) -> int:
    answer = client.head(location, headers={**person.headers, **TUS})
    assert answer.status_code == 200, answer.status_code
    return int(answer.headers["upload-offset"])


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def started(client: TestClient, person: Person, length: int) -> str:
    answer = create(client, person, length)
    assert answer.status_code == 201, answer.text
    return str(answer.headers["location"])


def expires_in_about(header: str, hours: int) -> bool:
    expires = parsedate_to_datetime(header)
    return abs(expires - (utcnow() + timedelta(hours=hours))) < timedelta(minutes=5)


# ---- the protocol, request by request ----


@local_store_only
def test_options_announces_version_extensions_checksums_and_max_size(
    client: TestClient, people: People, settings: Settings
) -> None:
    owner = people.create()

    answer = client.options(tus_url(owner), headers=owner.headers)

    assert answer.status_code == 204
    assert answer.headers["tus-resumable"] == "1.0.0"
    assert answer.headers["tus-version"] == "1.0.0"
    extensions = answer.headers["tus-extension"].split(",")
    for extension in ("creation", "creation-with-upload", "termination", "checksum", "expiration"):
        assert extension in extensions
    assert set(answer.headers["tus-checksum-algorithm"].split(",")) >= {"sha1", "sha256"}
    # the workspace's plan allows less than the server: the plan's limit is the one that holds
    free_plan = catalog_of(settings).plan("free").max_file_size_mb
    assert free_plan < settings.max_file_size_mb
    assert int(answer.headers["tus-max-size"]) == free_plan * MiB


def test_chunks_sent_with_patch_become_a_ready_file(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings
) -> None:
    owner = people.create()
    data = media["tone.wav"].read_bytes()

    created = create(client, owner, len(data))
    location = created.headers["location"]
    first = patch(client, owner, location, 0, data[:100_000])
    middle_offset = offset_of(client, owner, location)
    last = patch(client, owner, location, 100_000, data[100_000:])

    assert created.status_code == 201
    assert expires_in_about(created.headers["upload-expires"], settings.upload_expiry_h)
    assert first.status_code == 204
    assert first.headers["upload-offset"] == "100000"
    assert "upload-expires" in first.headers
    assert middle_offset == 100_000
    assert last.status_code == 204, last.text
    assert last.headers["upload-offset"] == str(len(data))
    file = client.get(f"{files_url(owner)}/{last.headers['voxhub-file-id']}", headers=owner.headers).json()
    assert file["status"] == "ready"
    assert file["filename"] == "tone.wav"
    assert file["sha256"] == sha256_of(data)
    assert file["size_bytes"] == len(data)
    assert file["media"]["audio_codec"] == "pcm_s16le"
    # a client that lost the last answer asks again and learns the upload is complete
    head = client.head(location, headers={**owner.headers, **TUS})
    assert head.status_code == 200
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(len(data))
    assert head.headers["voxhub-file-id"] == file["id"]
    assert "upload-expires" in head.headers


def test_creation_with_upload_takes_the_first_bytes_in_the_post(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    data = media["tone.mp3"].read_bytes()

    partial = create(client, owner, len(data), body=data[:10_000])
    rest = patch(client, owner, partial.headers["location"], 10_000, data[10_000:])
    whole = create(client, owner, len(data), body=data)

    assert partial.status_code == 201, partial.text
    assert partial.headers["upload-offset"] == "10000"
    assert rest.status_code == 204, rest.text
    assert whole.status_code == 201, whole.text
    assert whole.headers["upload-offset"] == str(len(data))
    for file_id in (rest.headers["voxhub-file-id"], whole.headers["voxhub-file-id"]):
        file = client.get(f"{files_url(owner)}/{file_id}", headers=owner.headers).json()
        assert file["status"] == "ready"
        assert file["sha256"] == sha256_of(data)
        assert file["content_type"] == "audio/mpeg"


@local_store_only
def test_requests_without_tus_resumable_are_refused(client: TestClient, people: People) -> None:
    owner = people.create()
    location = started(client, owner, 1000)

    created = client.post(tus_url(owner), headers={**owner.headers, "Upload-Length": "1000"})
    patched = client.patch(
        location, headers={**owner.headers, "Upload-Offset": "0", "Content-Type": OFFSET_STREAM}, content=b"x" * 10
    )

    assert created.status_code == 412
    assert created.headers["tus-version"] == "1.0.0"
    assert patched.status_code == 412
    assert offset_of(client, owner, location) == 0


def test_a_patch_at_the_wrong_offset_conflicts_and_appends_nothing(client: TestClient, people: People) -> None:
    owner = people.create()
    location = started(client, owner, 1000)
    assert patch(client, owner, location, 0, b"a" * 100).status_code == 204

    behind = patch(client, owner, location, 0, b"b" * 100)
    ahead = patch(client, owner, location, 300, b"c" * 100)

    assert behind.status_code == 409
    assert ahead.status_code == 409
    assert behind.json()["error"]["details"]["offset"] == 100
    assert offset_of(client, owner, location) == 100


def test_a_chunk_whose_checksum_does_not_match_is_refused_and_nothing_is_appended(
    client: TestClient, people: People
) -> None:
    owner = people.create()
    location = started(client, owner, 3000)
    chunk = b"x" * 1000

    wrong = patch(client, owner, location, 0, chunk, **{"Upload-Checksum": checksum("sha1", b"something else")})
    offset_after_wrong = offset_of(client, owner, location)
    sha1 = patch(client, owner, location, 0, chunk, **{"Upload-Checksum": checksum("sha1", chunk)})
    sha256 = patch(client, owner, location, 1000, chunk, **{"Upload-Checksum": checksum("sha256", chunk)})
    unknown = patch(client, owner, location, 2000, chunk, **{"Upload-Checksum": checksum("md5", chunk)})

    assert wrong.status_code == 460
    assert wrong.json()["error"]["code"] == "checksum_mismatch"
    assert offset_after_wrong == 0
    assert sha1.status_code == 204
    assert sha256.status_code == 204
    assert sha256.headers["upload-offset"] == "2000"
    assert unknown.status_code == 400
    assert offset_of(client, owner, location) == 2000


@local_store_only
def test_an_upload_longer_than_the_limit_is_refused_before_any_byte_is_stored(
    client: TestClient, people: People, settings: Settings, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    settings.max_file_size_mb = 1

    answer = create(client, owner, 2 * MiB, body=b"\0" * 100_000)

    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "file_too_large"
    assert stored() == []
    assert client.get(files_url(owner), headers=owner.headers).json()["items"] == []


@local_store_only
def test_a_chunk_past_the_declared_length_is_refused(client: TestClient, people: People) -> None:
    owner = people.create()
    location = started(client, owner, 1000)

    answer = patch(client, owner, location, 0, b"x" * 1001)

    assert answer.status_code == 413
    assert offset_of(client, owner, location) == 0


@local_store_only
def test_an_upload_past_the_workspace_quota_is_refused_before_any_byte_is_stored(
    client: TestClient, people: People, settings: Settings, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    settings.storage_quota_mb = 1
    location = started(client, owner, 600_000)  # declared uploads count against the quota at once
    held = stored()

    answer = create(client, owner, 600_000, body=b"\0" * 1000)

    assert answer.status_code == 402
    assert answer.json()["error"]["code"] == "storage_quota_exceeded"
    assert answer.json()["error"]["details"]["used_bytes"] == 600_000
    assert offset_of(client, owner, location) == 0
    assert len(client.get(files_url(owner), headers=owner.headers).json()["items"]) == 1
    assert stored() == held


@local_store_only
def test_a_patch_with_another_content_type_is_refused(client: TestClient, people: People) -> None:
    owner = people.create()
    location = started(client, owner, 1000)

    answer = patch(client, owner, location, 0, b"x" * 100, **{"Content-Type": "application/octet-stream"})

    assert answer.status_code == 415
    assert offset_of(client, owner, location) == 0


def test_terminating_an_upload_removes_its_bytes(
    client: TestClient, people: People, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    location = started(client, owner, 20 * MiB)
    assert patch(client, owner, location, 0, b"x" * (9 * MiB)).status_code == 204  # past one S3 part
    assert stored() != []

    terminated = client.delete(location, headers={**owner.headers, **TUS})
    head = client.head(location, headers={**owner.headers, **TUS})
    late = patch(client, owner, location, 9 * MiB, b"x" * 100)

    assert terminated.status_code == 204
    assert terminated.headers["tus-resumable"] == "1.0.0"
    assert head.status_code in (404, 410)
    assert late.status_code in (404, 410)
    assert stored() == []


def test_a_finished_upload_that_is_not_media_is_rejected(
    client: TestClient, people: People, media: dict[str, Path], stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    data = media["notes.wav"].read_bytes()
    location = started(client, owner, len(data))

    answer = patch(client, owner, location, 0, data)

    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "corrupt_media"
    file = client.get(f"{files_url(owner)}/{error['details']['file_id']}", headers=owner.headers).json()
    assert file["status"] == "rejected"
    assert file["reject_reason"] == error["details"]["reason"]
    assert stored() == []


@local_store_only
def test_an_empty_upload_is_rejected_at_once(
    client: TestClient, people: People, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()

    answer = create(client, owner, 0)

    assert answer.status_code == 422
    assert answer.json()["error"]["details"]["reason"] == "empty_file"
    assert stored() == []


@local_store_only
def test_another_workspace_cannot_see_or_touch_an_upload(client: TestClient, people: People) -> None:
    owner = people.create()
    stranger = people.create()
    location = started(client, owner, 1000)
    assert patch(client, owner, location, 0, b"x" * 100).status_code == 204
    upload_id = location.rstrip("/").rsplit("/", 1)[1]
    in_own_workspace = f"{tus_url(stranger)}{upload_id}"

    for url in (location, in_own_workspace):
        assert client.head(url, headers={**stranger.headers, **TUS}).status_code == 404
        assert patch(client, stranger, url, 100, b"y" * 100).status_code == 404
        assert client.delete(url, headers={**stranger.headers, **TUS}).status_code == 404
    assert create(client, stranger, 1000, workspace_id=owner.workspace_id).status_code == 404
    assert client.options(tus_url(owner), headers=stranger.headers).status_code == 404

    assert offset_of(client, owner, location) == 100


@local_store_only
def test_a_viewer_cannot_upload_with_tus(client: TestClient, people: People) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")

    assert create(client, viewer, 1000, workspace_id=owner.workspace_id).status_code == 403


# ---- a standard client over real HTTP: 50 MB, a dropped connection, a server restart ----


@pytest.fixture(scope="module")
def fifty_mb_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wav_of_size(tmp_path_factory.mktemp("tus") / "long-interview.wav", 50 * MiB)


def drop_connection_mid_patch(url: str, headers: dict[str, str], source: Path, offset: int, send: int) -> None:
    """A PATCH that announces a whole chunk, sends `send` bytes of it, then loses its connection."""
    parts = urlsplit(url)
    with source.open("rb") as handle:
        handle.seek(offset)
        body = handle.read(send)
    head = [
        f"PATCH {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {CHUNK}",
        f"Upload-Offset: {offset}",
        f"Content-Type: {OFFSET_STREAM}",
        "Tus-Resumable: 1.0.0",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def wait_until_the_server_let_go(db: Session, upload_id: str, past: int, timeout: float = 60.0) -> int:
    """The offset recorded once the server finished with the broken request (its lease released)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.rollback()  # a fresh snapshot each time
        row = db.execute(select(Upload.offset, Upload.lease_until).where(Upload.id == upload_id)).one()
        if row.offset > past and row.lease_until is None:
            return int(row.offset)
        time.sleep(0.05)
    raise AssertionError(f"the server still holds upload {upload_id} after {timeout}s")


def download_sha256(live_server: LiveServer, person: Person, file_id: str) -> str:
    with httpx.Client(timeout=120) as http:
        redirect = http.get(f"{live_server.url}{files_url(person)}/{file_id}/download", headers=person.headers)
        assert redirect.status_code == 302, redirect.text
        digest = hashlib.sha256()
        with http.stream("GET", redirect.headers["location"]) as body:  # no credentials: the link is enough
            assert body.status_code == 200
            for chunk in body.iter_bytes():
                digest.update(chunk)
        return digest.hexdigest()


def test_tuspy_uploads_50_mb_through_a_dropped_connection_and_a_server_restart(
    live_server: LiveServer, people: People, db: Session, fifty_mb_wav: Path
) -> None:
    owner = people.create()
    tus = tus_client.TusClient(f"{live_server.url}{tus_url(owner)}", headers=owner.headers)
    size = fifty_mb_wav.stat().st_size
    options: dict[str, Any] = {"file_path": str(fifty_mb_wav), "chunk_size": CHUNK}

    first = tus.uploader(**options, metadata={"filename": "long-interview.wav", "filetype": "audio/wav"})
    first.upload_chunk()
    first.upload_chunk()
    assert first.offset == 2 * CHUNK
    url = str(first.url)

    # The third chunk's connection drops after 3 MiB: what arrived is kept.
    drop_connection_mid_patch(url, owner.headers, fifty_mb_wav, offset=2 * CHUNK, send=3 * MiB)
    kept = wait_until_the_server_let_go(db, url.rsplit("/", 1)[1], past=2 * CHUNK)
    assert 2 * CHUNK < kept <= 2 * CHUNK + 3 * MiB

    # A new uploader resumes where the server says the upload stands.
    second = tus.uploader(**options, url=url)
    assert second.offset == kept
    second.upload_chunk()
    second.upload_chunk()
    assert second.offset == kept + 2 * CHUNK

    # The server restarts (a new app on the same database and store); the upload goes on from there.
    live_server.restart()
    third = tus.uploader(**options, url=url)
    assert third.offset == second.offset
    third.upload()
    assert third.offset == size

    file_id = third.request.response_headers["voxhub-file-id"]
    file = httpx.get(f"{live_server.url}{files_url(owner)}/{file_id}", headers=owner.headers).json()
    assert file["status"] == "ready"
    assert file["size_bytes"] == size
    assert file["sha256"] == sha256_of(fifty_mb_wav)
    assert file["filename"] == "long-interview.wav"
    assert file["media"]["duration_s"] == pytest.approx(size / 192_000, abs=1)
    assert download_sha256(live_server, owner, file_id) == sha256_of(fifty_mb_wav)


@local_store_only
def test_a_patch_whose_client_hangs_up_keeps_what_arrived_and_is_not_a_server_error(
    client: TestClient,
    live_server: LiveServer,
    people: People,
    media: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = people.create()
    data = media["tone.wav"].read_bytes()
    location = urlsplit(started(client, owner, len(data))).path
    headers = {**owner.headers, **TUS, "Upload-Offset": "0", "Content-Type": OFFSET_STREAM}

    with caplog.at_level("INFO"):
        hang_up_mid_request(f"{live_server.url}{location}", "PATCH", headers, len(data), data[: len(data) // 2])
        counted = requests_counted(live_server, "PATCH", "/api/v1/workspaces/{workspace_id}/uploads/tus/{upload_id}")
    kept = offset_of(client, owner, location)
    finished = patch(client, owner, location, kept, data[kept:])

    assert counted == {"499": 1}  # neither a 500 nor a 204 to a client that is gone
    assert not [record for record in caplog.records if record.levelname == "ERROR"], caplog.text
    assert "client disconnected" in caplog.text
    assert 0 < kept <= len(data) // 2
    assert finished.status_code == 204, finished.text
    file = client.get(f"{files_url(owner)}/{finished.headers['voxhub-file-id']}", headers=owner.headers).json()
    assert file["status"] == "ready" and file["sha256"] == sha256_of(data)
