"""Text uploads: a file named as text whose bytes are UTF-8 text is kept as a text file (a podcast's notes, a
document), and it is refused clearly where audio or video is needed. Anything else must still be media."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.files.conftest import files_url, sha256_of, upload

NOTES = "# Bees\n\nOur first hive arrived in April.\tA hive holds one queen — and tens of thousands of workers.\n"


@pytest.mark.parametrize(("name", "content_type"), [("notes.md", "text/markdown"), ("notes.TXT", "text/plain")])
def test_a_text_file_named_as_text_is_kept_as_text(
    client: TestClient, people: People, tmp_path: Path, stored: Callable[[], list[str]], name: str, content_type: str
) -> None:
    owner = people.create()
    path = tmp_path / name
    path.write_text(NOTES, encoding="utf-8")

    answer = upload(client, owner, path, content_type="audio/wav")  # the declared type is never believed

    assert answer.status_code == 201, answer.text
    file = answer.json()
    assert file["status"] == "ready" and file["content_type"] == content_type
    assert file["media"]["container"] == "text" and file["media"]["duration_s"] == 0
    assert file["sha256"] == sha256_of(path) and file["size_bytes"] == path.stat().st_size
    assert len(stored()) == 1


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.wav", NOTES.encode()),  # text, but not named as text: it must be media, and is not
        ("notes.txt", b"\xff\xfe" + NOTES.encode("utf-16-le")),  # not UTF-8
        ("notes.txt", b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00"),  # control characters: binary
    ],
)
def test_anything_else_must_still_be_media(
    client: TestClient, people: People, tmp_path: Path, stored: Callable[[], list[str]], name: str, data: bytes
) -> None:
    owner = people.create()
    path = tmp_path / name
    path.write_bytes(data)

    answer = upload(client, owner, path)

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] in ("corrupt_media", "unsupported_media")
    assert stored() == []


def test_a_text_file_is_refused_where_audio_is_needed(client: TestClient, people: People, tmp_path: Path) -> None:
    owner = people.create()
    path = tmp_path / "notes.md"
    path.write_text(NOTES, encoding="utf-8")
    file = upload(client, owner, path).json()

    answer = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/jobs",
        headers=owner.headers,
        json={"type": "transcribe", "input": {"file_id": file["id"]}},
    )

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "input_not_media"
    assert "notes.md" in error["message"] and "audio or video" in error["message"]
    listed = client.get(f"/api/v1/workspaces/{owner.workspace_id}/jobs", headers=owner.headers).json()
    assert listed["items"] == []
    assert client.get(f"{files_url(owner)}/{file['id']}", headers=owner.headers).json()["status"] == "ready"
