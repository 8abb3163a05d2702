"""Housekeeping: unfinished uploads past their expiry are aborted with their bytes, files past their workspace's
retention are deleted, and `periodic.run_once` does both."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.conftest import People, Person
from tests.files.conftest import files_url, local_store_only, upload
from tests.storage.stores import call_link
from voxhub import periodic
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.files import service
from voxhub.files.models import File, Upload
from voxhub.tasks import PERIODIC_TASKS
from voxhub.workspaces.models import Workspace

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


def start_tus_upload(client: TestClient, person: Person, length: int, first_bytes: bytes) -> str:
    answer = client.post(
        f"/api/v1/workspaces/{person.workspace_id}/uploads/tus/",
        content=first_bytes,
        headers={
            **person.headers,
            **TUS,
            "Upload-Length": str(length),
            "Content-Type": "application/offset+octet-stream",
            "Upload-Metadata": f"filename {base64.b64encode(b'draft.wav').decode()}",
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["upload-offset"] == str(len(first_bytes))
    return str(answer.headers["location"])


def start_multipart_upload(client: TestClient, person: Person, settings: Settings) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/workspaces/{person.workspace_id}/uploads/multipart",
        headers=person.headers,
        json={"filename": "draft.wav", "size": 10 * MiB},
    )
    assert answer.status_code == 201, answer.text
    started = dict(answer.json())
    part = started["parts"][0]
    sent = call_link(client, settings, "PUT", part["url"], content=b"\0" * part["size"])
    assert sent.status_code == 200, sent.text
    return started


def expire_every_upload(db: Session) -> None:
    db.execute(update(Upload).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.commit()


def test_uploads_left_unfinished_past_their_expiry_are_aborted_and_their_bytes_removed(
    app: Any, client: TestClient, people: People, db: Session, settings: Settings, stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    tus_location = start_tus_upload(client, owner, 20 * MiB, b"\0" * (9 * MiB))  # past one S3 part, plus a tail
    multipart = start_multipart_upload(client, owner, settings)
    assert stored() != []
    not_yet = client.head(tus_location, headers={**owner.headers, **TUS})
    assert not_yet.status_code == 200

    with app.state.db.session() as session:
        assert service.expire_uploads(session, ctx=app.state.ctx) == 0  # nothing has expired yet
    expire_every_upload(db)
    with app.state.db.session() as session:
        expired = service.expire_uploads(session, ctx=app.state.ctx)

    assert expired == 2
    assert stored() == []
    assert client.head(tus_location, headers={**owner.headers, **TUS}).status_code == 410
    assert (
        client.get(
            f"/api/v1/workspaces/{owner.workspace_id}/uploads/multipart/{multipart['upload_id']}", headers=owner.headers
        ).status_code
        == 410
    )
    assert client.get(f"{files_url(owner)}/{multipart['file_id']}", headers=owner.headers).status_code == 404
    db.rollback()
    assert set(db.scalars(select(Upload.status))) == {"expired"}
    with app.state.db.session() as session:
        assert service.expire_uploads(session, ctx=app.state.ctx) == 0  # and they are not counted twice


@local_store_only
def test_an_expired_tus_upload_refuses_more_bytes(app: Any, client: TestClient, people: People, db: Session) -> None:
    owner = people.create()
    location = start_tus_upload(client, owner, 1000, b"\0" * 100)
    expire_every_upload(db)

    answer = client.patch(
        location,
        content=b"\0" * 100,
        headers={**owner.headers, **TUS, "Upload-Offset": "100", "Content-Type": "application/offset+octet-stream"},
    )

    assert answer.status_code == 410
    assert answer.json()["error"]["code"] == "upload_expired"


def set_retention(db: Session, workspace_id: str, days: int | None) -> None:
    db.execute(update(Workspace).where(Workspace.id == workspace_id).values(retention_days=days))
    db.commit()


def backdate(db: Session, file_id: str, days: int) -> None:
    db.execute(update(File).where(File.id == file_id).values(created_at=utcnow() - timedelta(days=days)))
    db.commit()


def test_files_older_than_the_workspace_retention_are_deleted_with_their_bytes(
    app: Any, client: TestClient, people: People, db: Session, media: dict[str, Path], stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    keeper = people.create()  # a workspace without retention keeps everything
    old = upload(client, owner, media["tone.wav"]).json()
    new = upload(client, owner, media["tone.mp3"]).json()
    ancient_elsewhere = upload(client, keeper, media["tone.ogg"]).json()
    set_retention(db, owner.workspace_id, 30)
    backdate(db, old["id"], 31)
    backdate(db, new["id"], 29)
    backdate(db, ancient_elsewhere["id"], 400)

    with app.state.db.session() as session:
        deleted = service.delete_expired_files(session, ctx=app.state.ctx)

    assert deleted == 1
    assert client.get(f"{files_url(owner)}/{old['id']}", headers=owner.headers).status_code == 404
    assert client.get(f"{files_url(owner)}/{new['id']}", headers=owner.headers).json()["status"] == "ready"
    assert client.get(f"{files_url(keeper)}/{ancient_elsewhere['id']}", headers=keeper.headers).status_code == 200
    assert len(stored()) == 2
    download = client.get(f"{files_url(owner)}/{new['id']}/download", headers=owner.headers, follow_redirects=False)
    assert download.status_code == 302
    actions = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/audit-log", headers=owner.headers, params={"action": "file.expired"}
    ).json()["items"]
    assert [event["target_id"] for event in actions] == [old["id"]]


def test_run_once_runs_upload_expiry_and_retention(
    app: Any, client: TestClient, people: People, db: Session, media: dict[str, Path], stored: Callable[[], list[str]]
) -> None:
    owner = people.create()
    old = upload(client, owner, media["tone.wav"]).json()
    start_tus_upload(client, owner, 10 * MiB, b"\0" * 1000)
    set_retention(db, owner.workspace_id, 7)
    backdate(db, old["id"], 8)
    expire_every_upload(db)

    results = periodic.run_once(app.state.db, app.state.ctx, PERIODIC_TASKS)

    assert (results["expire_uploads"], results["delete_expired_files"]) == (1, 1)
    assert stored() == []
    assert client.get(files_url(owner), headers=owner.headers).json()["items"] == []
