"""SQLite's one write lock held by someone else past the busy timeout: the request is answered 503 saying the database
is busy (not that it is unreachable), with Retry-After, and the same request succeeds once the lock is let go."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, exc, text
from sqlalchemy.engine import make_url

from voxhub.errors import is_database_busy, is_database_outage

only_on_sqlite = pytest.mark.skipif(
    bool(os.environ.get("VOXHUB_TEST_DATABASE_URL")),
    reason="SQLite's single write lock; PostgreSQL locks rows, and its outage is tests/faults/test_database_restart.py",
)


@only_on_sqlite
def test_a_write_lock_held_past_the_busy_timeout_is_a_503_that_says_busy(client: TestClient, app: Any) -> None:
    path = make_url(app.state.db.url).database
    holder = sqlite3.connect(path, isolation_level=None)
    signup = {"email": "busy@example.com", "password": "a long passphrase", "name": "Busy"}
    try:
        holder.execute("BEGIN IMMEDIATE")  # SQLite's one write lock, held by another process's connection
        refused = client.post("/api/v1/auth/signup", json=signup)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    accepted = client.post("/api/v1/auth/signup", json=signup)

    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "service_unavailable"
    assert "busy" in refused.json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert accepted.status_code == 201, accepted.text


def test_busy_is_told_apart_from_unreachable(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}", connect_args={"timeout": 0.05})
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    holder = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(exc.OperationalError) as locked, engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    assert is_database_busy(locked.value) and is_database_outage(locked.value)

    gone = create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")  # a directory that is not there
    with pytest.raises(exc.OperationalError) as unreachable, gone.connect():
        pass
    assert is_database_outage(unreachable.value) and not is_database_busy(unreachable.value)
