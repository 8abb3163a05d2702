"""Billing's schema upgrades keep what was stored: a refund that an older voxhub flagged while it waited for its
payment (found again by its note's text) awaits that payment after the upgrade, and is found by it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import create_engine, make_url, text

from voxhub.db import alembic_config, make_engine, migrate

EVENTS = sa.table(
    "billing_events",
    sa.column("id", sa.String),
    sa.column("provider", sa.String),
    sa.column("event_id", sa.String),
    sa.column("raw_type", sa.String),
    sa.column("workspace_id", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("headers", sa.JSON),
    sa.column("status", sa.String),
    sa.column("note", sa.Text),
    sa.column("attempts", sa.Integer),
    sa.column("received_at", sa.DateTime(timezone=True)),
)


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own (the tests' one is already at the newest schema), on the suite's kind of server."""
    server_url = os.environ.get("VOXHUB_TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    server = make_url(server_url)
    name = f"{server.database}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_upgrade"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def stored_event(event_id: str, status: str, note: str) -> dict[str, object]:
    return {
        "id": event_id,
        "provider": "stripe",
        "event_id": f"evt_{event_id}",
        "raw_type": "charge.refunded",
        "workspace_id": None,
        "payload": {},
        "headers": {},
        "status": status,
        "note": note,
        "attempts": 1,
        "received_at": datetime.now(UTC),
    }


def events(engine: sa.Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(EVENTS.c.id, EVENTS.c.status, text("payment_ref"))).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_a_refund_flagged_while_it_waited_for_its_payment_awaits_it_after_the_upgrade(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    try:
        migrate(engine, "0005")
        with engine.begin() as connection:
            connection.execute(
                EVENTS.insert(),
                [
                    stored_event("waiting", "flagged", "refund for unknown payment 'pi_3Pq'"),
                    stored_event("stranger", "flagged", "unknown workspace 'ws_elsewhere'"),
                    stored_event("done", "processed", "12 credits were already spent"),
                ],
            )

        migrate(engine)
        upgraded = events(engine)
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0005")
        with engine.connect() as connection:
            downgraded = dict(connection.execute(sa.select(EVENTS.c.id, EVENTS.c.note)).all())
    finally:
        engine.dispose()

    assert upgraded == {
        "waiting": ("awaiting_payment", "pi_3Pq"),
        "stranger": ("flagged", None),
        "done": ("processed", None),
    }
    assert downgraded["waiting"] == "refund for unknown payment 'pi_3Pq'"  # as the older voxhub finds it
