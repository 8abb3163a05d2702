"""The second wall between tenants: PostgreSQL row-level security under the service's own workspace filters.

Every table with a `workspace_id` column has a policy; a connection as the application's role sees and writes a
workspace's rows only in a transaction scoped to that workspace (or an operator's, which sets the bypass)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, func, select, text, update
from sqlalchemy.exc import ProgrammingError

from tests.conftest import People, Person
from tests.jobs_helpers import run_job
from voxhub.db import Base, Database, job_workspace, scope_to_workspace
from voxhub.files.models import File

pytestmark = pytest.mark.skipif(
    not os.environ.get("VOXHUB_TEST_DATABASE_URL"),
    reason="row-level security is PostgreSQL's: on SQLite the service-level filters are the one wall "
    "(tests/test_permissions.py)",
)


def _seed(client: TestClient, people: People, owner: Person, audio: Path) -> None:
    """Rows in as many of a workspace's tables as its API writes cheaply."""
    base = f"/api/v1/workspaces/{owner.workspace_id}"
    people.grant(owner.workspace_id, 100)  # credit account and ledger
    people.add_to(owner, owner.workspace_id, "member")  # an invitation and a second membership
    answers = [
        client.post(f"{base}/api-keys", headers=owner.headers, json={"name": "ci", "scopes": ["read"]}),
        client.post(f"{base}/conversations", headers=owner.headers, json={"title": "Launch"}),
    ]
    with audio.open("rb") as handle:
        answers.append(client.post(f"{base}/files", headers=owner.headers, files={"file": ("a.wav", handle)}))
    for answer in answers:
        assert answer.status_code == 201, answer.text
    # A job's pipeline runs in a session scoped to its workspace: it must still find its file and write its output.
    job = run_job(client, owner, {"type": "media.convert", "input": {"file_id": answers[-1].json()["id"]}})
    assert job["status"] == "succeeded", job


def _tables_with_workspace(connection: Connection) -> list[str]:
    rows = connection.execute(
        text(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'workspace_id' ORDER BY table_name"
        )
    )
    return [row[0] for row in rows]


def _tenant(connection: Connection, *, workspace: str = "", bypass: str = "") -> None:
    connection.execute(
        text("SELECT set_config('app.workspace_id', :w, true), set_config('app.bypass', :b, true)"),
        {"w": workspace, "b": bypass},
    )


def _count(connection: Connection, table: str, workspace: str | None = None) -> int:
    query = select(func.count()).select_from(Base.metadata.tables[table])
    if workspace is not None:
        query = query.where(Base.metadata.tables[table].c.workspace_id == workspace)
    return int(connection.execute(query).scalar_one())


@pytest.fixture
def app_engine(app: Any) -> Iterator[Engine]:
    """A plain connection pool as the application's role: no session, so no setting unless a test makes one."""
    engine = create_engine(app.state.db.engine.url)
    yield engine
    engine.dispose()


def test_every_table_with_a_workspace_id_has_a_forced_policy(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        tables = _tables_with_workspace(connection)
        walled = {
            row[0]: (row[1], row[2])
            for row in connection.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
                    "JOIN pg_policies p ON p.tablename = c.relname AND p.schemaname = 'public' "
                    "WHERE p.policyname = 'workspace_wall'"
                )
            )
        }
    engine.dispose()
    assert len(tables) >= 29
    unwalled = [table for table in tables if walled.get(table) != (True, True)]
    assert not unwalled, f"tables with a workspace_id and no forced workspace_wall policy: {unwalled}"


def test_the_app_role_is_held_by_the_wall(app: Any) -> None:
    with app.state.db.engine.connect() as connection:
        role = connection.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
    assert tuple(role) == (False, False), "the suite's app must connect as a role the policies apply to"


def test_without_the_setting_or_with_another_workspace_nothing_is_read_or_written(
    client: TestClient, people: People, app_engine: Engine, job_media: dict[str, Path]
) -> None:
    alice, bob = people.create(), people.create()
    _seed(client, people, alice, job_media["tone.wav"])
    _seed(client, people, bob, job_media["tone.wav"])

    with app_engine.connect() as connection, connection.begin():
        tables = _tables_with_workspace(connection)
        _tenant(connection, bypass="on")
        mine = {table: _count(connection, table, alice.workspace_id) for table in tables}
        samples = {}
        for table in tables:
            columns = Base.metadata.tables[table]
            row = connection.execute(select(columns).where(columns.c.workspace_id == alice.workspace_id)).first()
            if row is not None:
                samples[table] = dict(row._mapping)
    seeded = [table for table, count in mine.items() if count]
    assert len(seeded) >= 10, f"the seed reached only {seeded}"

    for table in tables:
        columns = Base.metadata.tables[table]
        for setting in ({}, {"workspace": bob.workspace_id}, {"workspace": "", "bypass": "off"}):
            with app_engine.connect() as connection, connection.begin():
                if setting:
                    _tenant(connection, **setting)
                assert _count(connection, table, alice.workspace_id) == 0, (table, setting)
                if not setting:
                    assert _count(connection, table) == 0, table
                touched = connection.execute(
                    update(columns)
                    .where(columns.c.workspace_id == alice.workspace_id)
                    .values(workspace_id=columns.c.workspace_id)
                )
                assert touched.rowcount == 0, (table, setting)
                deleted = connection.execute(columns.delete().where(columns.c.workspace_id == alice.workspace_id))
                assert deleted.rowcount == 0, (table, setting)
            if table in samples:
                with app_engine.connect() as connection, connection.begin():
                    if setting:
                        _tenant(connection, **setting)
                    with pytest.raises(ProgrammingError, match="row-level security"):
                        connection.execute(columns.insert().values(**samples[table]))

        # Alice's own scope sees exactly her rows, and none of Bob's.
        with app_engine.connect() as connection, connection.begin():
            _tenant(connection, workspace=alice.workspace_id)
            assert _count(connection, table) == mine[table], table
            assert _count(connection, table, bob.workspace_id) == 0, table


def test_a_scoped_session_of_the_app_cannot_reach_another_workspace(
    client: TestClient, people: People, app: Any, job_media: dict[str, Path]
) -> None:
    """The wall as the service meets it: a query that forgot its workspace filter still finds nothing of another's."""
    alice, bob = people.create(), people.create()
    with job_media["tone.wav"].open("rb") as handle:
        answer = client.post(
            f"/api/v1/workspaces/{alice.workspace_id}/files", headers=alice.headers, files={"file": ("a.wav", handle)}
        )
    assert answer.status_code == 201, answer.text
    file_id = answer.json()["id"]
    database: Database = app.state.db

    with database.session() as db:
        scope_to_workspace(db, bob.workspace_id)
        assert db.get(File, file_id) is None
        assert db.scalar(select(func.count()).select_from(File)) == 0
        db.commit()  # the scope outlives a commit: the next transaction is Bob's too
        assert db.scalar(select(func.count()).select_from(File)) == 0

    with job_workspace(bob.workspace_id), database.session() as db:
        assert db.get(File, file_id) is None

    with job_workspace(alice.workspace_id), database.session() as db:
        assert db.get(File, file_id) is not None

    # Bob's own API answers 404 for Alice's file, and the service filter is not the only thing saying so.
    assert client.get(f"/api/v1/workspaces/{bob.workspace_id}/files/{file_id}", headers=bob.headers).status_code == 404
    with database.session() as db:  # an operator's session: the bypass
        assert db.get(File, file_id) is not None
