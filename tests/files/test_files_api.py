"""The files API: listing with cursors and filters, reading, renaming, downloading through signed links, deleting —
each audited, none reachable from another workspace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.conftest import People, Person
from tests.files.conftest import files_url, local_store_only, upload
from tests.storage.stores import call_link
from voxhub.audit.service import Actor
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.files import service as files_service
from voxhub.files.models import File
from voxhub.workspaces.models import Role, Workspace
from voxhub.workspaces.service import WorkspaceAccess


def uploaded(client: TestClient, person: Person, path: Path, **kwargs: Any) -> dict[str, Any]:
    answer = upload(client, person, path, **kwargs)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def listed(client: TestClient, person: Person, **params: Any) -> dict[str, Any]:
    answer = client.get(files_url(person), headers=person.headers, params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def audit_actions(client: TestClient, person: Person) -> list[tuple[str, str]]:
    answer = client.get(
        f"/api/v1/workspaces/{person.workspace_id}/audit-log",
        headers=person.headers,
        params={"action": "file.", "limit": 200},
    )
    assert answer.status_code == 200, answer.text
    return [(event["action"], event["target_id"]) for event in answer.json()["items"]]


@local_store_only
def test_files_are_listed_newest_first_a_page_at_a_time(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    ids = [uploaded(client, owner, media[name])["id"] for name in ("tone.wav", "tone.mp3", "tone.ogg")]

    first = listed(client, owner, limit=2)
    second = listed(client, owner, limit=2, cursor=first["next_cursor"])
    bad_cursor = client.get(files_url(owner), headers=owner.headers, params={"cursor": "not-a-cursor"})

    assert [f["id"] for f in first["items"]] == ids[::-1][:2]
    assert first["next_cursor"]
    assert [f["id"] for f in second["items"]] == ids[:1]
    assert second["next_cursor"] is None
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["error"]["code"] == "invalid_cursor"


@local_store_only
def test_files_can_be_filtered_by_kind_status_and_creation_time(
    client: TestClient, people: People, media: dict[str, Path], db: Session
) -> None:
    owner = people.create()
    old = uploaded(client, owner, media["tone.wav"])
    new = uploaded(client, owner, media["tone.mp3"])
    rejected = upload(client, owner, media["notes.wav"]).json()["error"]["details"]["file_id"]
    output = File(
        workspace_id=owner.workspace_id,
        kind="output",
        filename="transcript.srt",
        status="ready",
        content_type="text/plain",
        storage_key=f"ws/{owner.workspace_id}/files/output",
    )
    db.add(output)
    db.execute(update(File).where(File.id == old["id"]).values(created_at=utcnow() - timedelta(days=3)))
    db.commit()
    yesterday = (utcnow() - timedelta(days=1)).isoformat()

    def ids(**params: Any) -> set[str]:
        return {f["id"] for f in listed(client, owner, **params)["items"]}

    assert ids() == {old["id"], new["id"], rejected, output.id}
    assert ids(kind="upload") == {old["id"], new["id"], rejected}
    assert ids(kind="output") == {output.id}
    assert ids(status="ready") == {old["id"], new["id"], output.id}
    assert ids(status="rejected") == {rejected}
    assert ids(created_before=yesterday) == {old["id"]}
    assert ids(created_after=yesterday, kind="upload", status="ready") == {new["id"]}
    assert client.get(files_url(owner), headers=owner.headers, params={"kind": "other"}).status_code == 422


def test_a_file_can_be_read_and_renamed_and_the_rename_is_audited(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    file = uploaded(client, owner, media["tone.wav"], filename="take 1.wav")

    renamed = client.patch(
        f"{files_url(owner)}/{file['id']}", headers=owner.headers, json={"filename": "../../interviews/Final cut.wav"}
    )
    fetched = client.get(f"{files_url(owner)}/{file['id']}", headers=owner.headers)

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["filename"] == "Final cut.wav"
    assert fetched.json()["filename"] == "Final cut.wav"
    assert fetched.json()["sha256"] == file["sha256"]
    assert ("file.renamed", file["id"]) in audit_actions(client, owner)
    assert (
        client.patch(f"{files_url(owner)}/{file['id']}", headers=owner.headers, json={"filename": ""}).status_code
        == 422
    )


def test_download_redirects_to_a_signed_link_serving_the_exact_bytes(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings
) -> None:
    owner = people.create()
    file = uploaded(client, owner, media["tone.mp3"], filename="Réunion.mp3")

    attachment = client.get(f"{files_url(owner)}/{file['id']}/download", headers=owner.headers, follow_redirects=False)
    inline = client.get(
        f"{files_url(owner)}/{file['id']}/download", headers=owner.headers, params={"inline": 1}, follow_redirects=False
    )

    assert attachment.status_code == 302
    served = call_link(client, settings, "GET", attachment.headers["location"])
    assert served.status_code == 200
    assert served.content == media["tone.mp3"].read_bytes()
    assert served.headers["content-type"].startswith("audio/mpeg")
    assert served.headers["content-disposition"].startswith("attachment")
    assert "R%C3%A9union.mp3" in served.headers["content-disposition"]
    assert inline.status_code == 302
    shown = call_link(client, settings, "GET", inline.headers["location"])
    assert shown.headers["content-disposition"].startswith("inline")
    assert shown.content == media["tone.mp3"].read_bytes()
    assert (
        call_link(client, settings, "GET", attachment.headers["location"], headers={"Range": "bytes=0-99"}).content
        == media["tone.mp3"].read_bytes()[:100]
    )
    assert [action for action, target in audit_actions(client, owner) if target == file["id"]].count(
        "file.download_link_issued"
    ) == 2


def test_a_deletion_that_rolls_back_keeps_the_file_and_its_bytes(
    client: TestClient,
    people: People,
    media: dict[str, Path],
    app: Any,
    settings: Settings,
    stored: Callable[[], list[str]],
) -> None:
    """The bytes go only once the deletion commits: a transaction that fails after deleting leaves a ready file
    that still downloads."""
    owner = people.create()
    file = uploaded(client, owner, media["tone.wav"])
    with pytest.raises(RuntimeError), app.state.db.session() as db:
        workspace = db.get(Workspace, owner.workspace_id)
        access = WorkspaceAccess(workspace=workspace, role=Role.OWNER, actor=Actor(user_agent="test"))
        files_service.delete_file(db, ctx=app.state.ctx, access=access, file_id=file["id"])
        raise RuntimeError("something after the deletion failed")

    again = client.get(f"{files_url(owner)}/{file['id']}", headers=owner.headers)
    assert again.status_code == 200 and again.json()["status"] == "ready"
    assert len(stored()) == 1
    link = client.get(
        f"{files_url(owner)}/{file['id']}/download", headers=owner.headers, follow_redirects=False
    ).headers["location"]
    download = call_link(client, settings, "GET", link)
    assert download.status_code == 200 and download.content == media["tone.wav"].read_bytes()


def test_deleting_a_file_removes_its_bytes_and_its_links_stop_working(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    file = uploaded(client, owner, media["tone.wav"])
    kept = uploaded(client, owner, media["tone.mp3"])
    link = client.get(
        f"{files_url(owner)}/{file['id']}/download", headers=owner.headers, follow_redirects=False
    ).headers["location"]

    deleted = client.delete(f"{files_url(owner)}/{file['id']}", headers=owner.headers)

    assert deleted.status_code == 204
    assert client.get(f"{files_url(owner)}/{file['id']}", headers=owner.headers).status_code == 404
    assert (
        client.get(
            f"{files_url(owner)}/{file['id']}/download", headers=owner.headers, follow_redirects=False
        ).status_code
        == 404
    )
    assert client.delete(f"{files_url(owner)}/{file['id']}", headers=owner.headers).status_code == 404
    assert [f["id"] for f in listed(client, owner)["items"]] == [kept["id"]]
    assert call_link(client, settings, "GET", link).status_code == 404
    assert len(stored()) == 1


def test_every_file_action_is_in_the_audit_log(client: TestClient, people: People, media: dict[str, Path]) -> None:
    owner = people.create()
    file = uploaded(client, owner, media["tone.wav"])
    rejected = upload(client, owner, media["silent.mp4"]).json()["error"]["details"]["file_id"]
    client.get(f"{files_url(owner)}/{file['id']}/download", headers=owner.headers, follow_redirects=False)
    client.delete(f"{files_url(owner)}/{file['id']}", headers=owner.headers)

    actions = audit_actions(client, owner)

    for expected in [
        ("file.uploaded", file["id"]),
        ("file.rejected", rejected),
        ("file.download_link_issued", file["id"]),
        ("file.deleted", file["id"]),
    ]:
        assert expected in actions


@local_store_only
def test_a_viewer_can_read_and_download_but_not_change_files(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings
) -> None:
    owner = people.create()
    viewer = people.add_to(owner, owner.workspace_id, "viewer")
    file = uploaded(client, owner, media["tone.wav"])
    url = f"{files_url(owner)}/{file['id']}"

    seen = client.get(files_url(viewer, owner.workspace_id), headers=viewer.headers).json()["items"]
    assert [f["id"] for f in seen] == [file["id"]]
    assert client.get(url, headers=viewer.headers).status_code == 200
    link = client.get(f"{url}/download", headers=viewer.headers, follow_redirects=False)
    assert link.status_code == 302
    assert call_link(client, settings, "GET", link.headers["location"]).content == media["tone.wav"].read_bytes()
    assert client.patch(url, headers=viewer.headers, json={"filename": "mine.wav"}).status_code == 403
    assert client.delete(url, headers=viewer.headers).status_code == 403
    assert client.get(url, headers=owner.headers).json()["filename"] == "tone.wav"


@local_store_only
def test_another_workspace_gets_not_found_from_every_files_route(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    stranger = people.create()
    file = uploaded(client, owner, media["tone.wav"])
    uploaded(client, stranger, media["tone.mp3"])

    for workspace_id in (owner.workspace_id, stranger.workspace_id):
        base = files_url(stranger, workspace_id)
        url = f"{base}/{file['id']}"
        answers = {
            "get": client.get(url, headers=stranger.headers),
            "rename": client.patch(url, headers=stranger.headers, json={"filename": "stolen.wav"}),
            "download": client.get(f"{url}/download", headers=stranger.headers, follow_redirects=False),
            "delete": client.delete(url, headers=stranger.headers),
        }
        if workspace_id == owner.workspace_id:
            answers["list"] = client.get(base, headers=stranger.headers)
            answers["upload"] = upload(client, stranger, media["tone.wav"], workspace_id=workspace_id)
        else:
            assert file["id"] not in {f["id"] for f in listed(client, stranger)["items"]}
        for route, answer in answers.items():
            assert answer.status_code == 404, (route, workspace_id, answer.text)
            assert "location" not in answer.headers

    still = client.get(f"{files_url(owner)}/{file['id']}", headers=owner.headers).json()
    assert (still["status"], still["filename"]) == ("ready", "tone.wav")


@local_store_only
def test_a_rejected_file_can_be_read_but_has_no_bytes_to_download(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    rejected = upload(client, owner, media["empty.wav"]).json()["error"]["details"]["file_id"]

    read = client.get(f"{files_url(owner)}/{rejected}", headers=owner.headers)
    download = client.get(f"{files_url(owner)}/{rejected}/download", headers=owner.headers, follow_redirects=False)

    assert read.status_code == 200
    assert read.json()["status"] == "rejected"
    assert download.status_code == 404
    assert download.json()["error"]["code"] == "file_not_ready"


def test_a_player_gets_the_signed_link_as_json(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings
) -> None:
    owner, stranger = people.create(), people.create()
    file = uploaded(client, owner, media["tone.mp3"])

    link = client.get(f"{files_url(owner)}/{file['id']}/link", headers=owner.headers, params={"inline": 1})
    theirs = client.get(f"{files_url(stranger)}/{file['id']}/link", headers=stranger.headers)
    other_workspace = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/files/{file['id']}/link", headers=stranger.headers
    )

    assert link.status_code == 200
    assert link.json()["expires_in"] == settings.download_url_ttl
    played = call_link(client, settings, "GET", link.json()["url"])
    assert played.content == media["tone.mp3"].read_bytes()
    assert played.headers["content-disposition"].startswith("inline")
    assert theirs.status_code == 404
    assert other_workspace.status_code == 404
