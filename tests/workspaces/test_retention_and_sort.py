"""Workspaces set how long their files are kept; lists of files and jobs can be read oldest first."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tests.conftest import People
from voxhub.clock import utcnow
from voxhub.files import service as files
from voxhub.files.models import File
from voxhub.workspaces.models import Workspace


def test_an_admin_sets_retention_and_the_task_deletes_older_files(client, people: People, app, db) -> None:
    owner = people.create()
    url = f"/api/v1/workspaces/{owner.workspace_id}"

    changed = client.patch(url, headers=owner.headers, json={"retention_days": 30})
    assert changed.status_code == 200
    assert changed.json()["retention_days"] == 30
    assert client.get(url, headers=owner.headers).json()["retention_days"] == 30
    assert client.patch(url, headers=owner.headers, json={"retention_days": 0}).status_code == 422

    actions = [e["action"] for e in client.get(f"{url}/audit-log", headers=owner.headers).json()["items"]]
    assert "workspace.retention_changed" in actions

    cleared = client.patch(url, headers=owner.headers, json={"retention_days": None})
    assert cleared.json()["retention_days"] is None
    renamed = client.patch(url, headers=owner.headers, json={"name": "Studio"})
    assert renamed.json()["name"] == "Studio" and renamed.json()["retention_days"] is None

    with app.state.db.session() as session:
        session.execute(update(Workspace).where(Workspace.id == owner.workspace_id).values(retention_days=30))
        old = File(workspace_id=owner.workspace_id, filename="old.wav", storage_key="", status="ready")
        new = File(workspace_id=owner.workspace_id, filename="new.wav", storage_key="", status="ready")
        session.add_all([old, new])
        session.flush()
        old.storage_key = files.storage_key(owner.workspace_id, old.id)
        new.storage_key = files.storage_key(owner.workspace_id, new.id)
        old.created_at = utcnow() - timedelta(days=31)
        old_id, new_id = old.id, new.id
    with app.state.db.session() as session:
        assert files.delete_expired_files(session, ctx=app.state.ctx) == 1
    listed = client.get(f"{url}/files", headers=owner.headers).json()["items"]
    assert [f["id"] for f in listed] == [new_id]
    assert client.get(f"{url}/files/{old_id}", headers=owner.headers).status_code == 404


def test_files_list_oldest_first_with_a_cursor(client, people: People, app) -> None:
    owner = people.create()
    with app.state.db.session() as session:
        rows = [
            File(workspace_id=owner.workspace_id, filename=f"{n}.wav", storage_key="", status="ready") for n in range(5)
        ]
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]
    url = f"/api/v1/workspaces/{owner.workspace_id}/files"

    seen: list[str] = []
    cursor = None
    while True:
        params = {"sort": "oldest", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, headers=owner.headers, params=params).json()
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert seen == sorted(ids)
    newest = client.get(url, headers=owner.headers, params={"limit": 5}).json()["items"]
    assert [f["id"] for f in newest] == sorted(ids, reverse=True)
    assert client.get(url, headers=owner.headers, params={"sort": "sideways"}).status_code == 422
