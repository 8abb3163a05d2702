"""The one-request upload: real media becomes a ready File with its probed facts; anything else is refused with a
reason, and leaves no bytes behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.files.conftest import SECONDS, files_url, local_store_only, sha256_of, upload, wav_of_size
from tests.live_server import LiveServer, hang_up_mid_request, requests_counted
from tests.storage.stores import call_link
from voxhub.config import Settings


@pytest.mark.parametrize(
    ("name", "codec", "content_type"),
    [
        ("tone.wav", "pcm_s16le", "audio/wav"),
        ("tone.mp3", "mp3", "audio/mpeg"),
        ("tone.ogg", "vorbis", "audio/ogg"),
    ],
)
def test_audio_upload_becomes_a_ready_file_with_its_media_facts(
    client: TestClient,
    people: People,
    media: dict[str, Path],
    stored: Callable[[], list[str]],
    name: str,
    codec: str,
    content_type: str,
) -> None:
    owner = people.create()

    response = upload(client, owner, media[name])

    assert response.status_code == 201, response.text
    file = response.json()
    assert file["status"] == "ready"
    assert file["filename"] == name
    assert file["kind"] == "upload"
    assert file["content_type"] == content_type
    assert file["size_bytes"] == media[name].stat().st_size
    assert file["sha256"] == sha256_of(media[name])
    assert file["created_by"] == owner.id
    assert file["media"]["duration_s"] == pytest.approx(SECONDS, abs=0.1)
    assert file["media"]["audio_codec"] == codec
    assert file["media"]["sample_rate"] == 44100
    assert file["media"]["channels"] == 1
    assert file["media"]["video_codec"] is None
    assert client.get(f"{files_url(owner)}/{file['id']}", headers=owner.headers).json() == file
    assert len(stored()) == 1


def test_the_type_comes_from_probing_not_from_the_name_or_declared_type(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()

    response = upload(client, owner, media["tone.mp3"], filename="interview.wav", content_type="audio/wav")

    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "audio/mpeg"
    assert response.json()["media"]["container"] == "mp3"
    assert response.json()["filename"] == "interview.wav"


def test_a_video_with_audio_is_accepted(client: TestClient, people: People, media: dict[str, Path]) -> None:
    owner = people.create()

    response = upload(client, owner, media["clip.mp4"], content_type="video/mp4")

    assert response.status_code == 201, response.text
    file = response.json()
    assert file["status"] == "ready"
    assert file["content_type"] == "video/mp4"
    assert file["media"]["video_codec"] == "h264"
    assert (file["media"]["width"], file["media"]["height"]) == (160, 120)
    assert file["media"]["audio_codec"] == "aac"
    assert file["media"]["duration_s"] == pytest.approx(SECONDS, abs=0.2)


def test_a_file_larger_than_one_storage_part_arrives_whole(
    client: TestClient, people: People, settings: Settings, tmp_path: Path
) -> None:
    """Past 8 MiB the S3 store sends the stream in several parts; the bytes and their hash must still match."""
    owner = people.create()
    recording = wav_of_size(tmp_path / "recording.wav", 9 * 1024 * 1024)

    response = upload(client, owner, recording)

    assert response.status_code == 201, response.text
    assert response.json()["size_bytes"] == recording.stat().st_size
    assert response.json()["sha256"] == sha256_of(recording)
    link = client.get(
        f"{files_url(owner)}/{response.json()['id']}/download", headers=owner.headers, follow_redirects=False
    ).headers["location"]
    assert sha256_of(call_link(client, settings, "GET", link).content) == sha256_of(recording)


def test_a_path_in_the_filename_is_kept_for_display_only(
    client: TestClient, people: People, media: dict[str, Path], stored: Callable[[], list[str]]
) -> None:
    owner = people.create()

    response = upload(client, owner, media["tone.wav"], filename="../../etc/passwd")

    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "passwd"
    assert all("passwd" not in key for key in stored())


@pytest.mark.parametrize(
    ("name", "code", "reason"),
    [
        ("empty.wav", "unsupported_media", "empty_file"),
        ("notes.wav", "corrupt_media", "unreadable"),
        ("silent.mp4", "unsupported_media", "no_audio_stream"),
        ("truncated.mp3", "corrupt_media", "truncated"),
    ],
)
def test_unusable_media_is_rejected_with_its_reason_and_no_bytes_are_kept(
    client: TestClient,
    people: People,
    media: dict[str, Path],
    stored: Callable[[], list[str]],
    name: str,
    code: str,
    reason: str,
) -> None:
    owner = people.create()

    response = upload(client, owner, media[name], content_type="audio/wav")

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["reason"] == reason
    assert error["message"]
    file = client.get(f"{files_url(owner)}/{error['details']['file_id']}", headers=owner.headers).json()
    assert file["status"] == "rejected"
    assert file["reject_reason"] == reason
    assert file["reject_message"] == error["message"]
    assert file["media"] is None
    assert stored() == []


def test_media_longer_than_allowed_is_rejected(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    settings.max_media_duration_s = SECONDS - 1

    response = upload(client, owner, media["tone.wav"])

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "media_too_long"
    file = client.get(f"{files_url(owner)}/{error['details']['file_id']}", headers=owner.headers).json()
    assert file["status"] == "rejected"
    assert file["reject_reason"] == error["details"]["reason"]
    assert stored() == []


def test_a_file_over_the_one_request_limit_is_refused_before_it_is_stored(
    client: TestClient, people: People, settings: Settings, tmp_path: Path, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    settings.max_simple_upload_mb = 1
    big = wav_of_size(tmp_path / "big.wav", 1_500_000)

    response = upload(client, owner, big)

    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "file_too_large"
    assert response.json()["error"]["details"]["max_bytes"] == 1024 * 1024
    assert client.get(files_url(owner), headers=owner.headers).json()["items"] == []
    assert stored() == []


def test_a_file_past_the_workspace_quota_is_refused_before_it_is_stored(
    client: TestClient, people: People, settings: Settings, tmp_path: Path, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    settings.storage_quota_mb = 1
    medium = wav_of_size(tmp_path / "medium.wav", 600_000)
    first = upload(client, owner, medium)
    assert first.status_code == 201, first.text
    held = stored()

    second = upload(client, owner, medium)

    assert second.status_code == 402, second.text
    error = second.json()["error"]
    assert error["code"] == "storage_quota_exceeded"
    assert error["details"]["used_bytes"] == medium.stat().st_size
    assert error["details"]["quota_bytes"] == 1024 * 1024
    listed = client.get(files_url(owner), headers=owner.headers).json()["items"]
    assert [f["id"] for f in listed] == [first.json()["id"]]
    assert stored() == held


@local_store_only
def test_an_unverified_user_cannot_upload(
    client: TestClient, people: People, media: dict[str, Path], stored: Callable[[], list[str]]
) -> None:
    unverified = people.create(verified=False)

    response = upload(client, unverified, media["tone.wav"])

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "email_not_verified"
    assert stored() == []


@local_store_only
def test_a_viewer_cannot_upload(
    client: TestClient, people: People, media: dict[str, Path], stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")

    response = upload(client, viewer, media["tone.wav"], workspace_id=owner.workspace_id)

    assert response.status_code == 403
    assert stored() == []
    assert client.get(files_url(owner), headers=viewer.headers).json()["items"] == []


@local_store_only
def test_someone_outside_the_workspace_gets_not_found(
    client: TestClient, people: People, media: dict[str, Path], stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    stranger = people.create()

    response = upload(client, stranger, media["tone.wav"], workspace_id=owner.workspace_id)

    assert response.status_code == 404
    assert stored() == []


@local_store_only
def test_a_request_without_the_file_field_is_refused(
    client: TestClient, people: People, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()

    response = client.post(files_url(owner), headers=owner.headers, files={"other": ("a.wav", b"RIFF", "audio/wav")})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_missing"
    assert stored() == []


@local_store_only
def test_an_upload_whose_client_hangs_up_keeps_nothing_and_is_not_a_server_error(
    client: TestClient,
    live_server: LiveServer,
    people: People,
    media: dict[str, Path],
    stored: Callable[[], list[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = people.create()
    url = f"{live_server.url}{files_url(owner)}"
    form = httpx.Request("POST", url, files={"file": ("tone.wav", media["tone.wav"].read_bytes(), "audio/wav")})
    body = form.read()
    headers = {**owner.headers, "Content-Type": form.headers["content-type"]}

    with caplog.at_level("INFO"):
        hang_up_mid_request(url, "POST", headers, len(body), body[: len(body) // 2])
        counted = requests_counted(live_server, "POST", "/api/v1/workspaces/{workspace_id}/files")

    assert counted == {"499": 1}
    assert not [record for record in caplog.records if record.levelname == "ERROR"], caplog.text
    assert "client disconnected" in caplog.text
    assert client.get(files_url(owner), headers=owner.headers).json()["items"] == []
    assert stored() == []
