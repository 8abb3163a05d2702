"""PostgreSQL restarted mid-traffic: while it is down every request is answered at once with 503
`service_unavailable` and Retry-After; once it is back the same process serves again (the pool replaces its dead
connections), and every job ran to success exactly once with its credits captured once."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tests.conftest import People
from tests.faults.conftest import GRANTED, settled_once
from tests.faults.servers import Postgres
from tests.jobs_helpers import (
    attempts_of,
    convert_body,
    jobs_url,
    output_files,
    start,
    upload,
    wait_for_job,
    wait_until_converting,
)
from tests.waiting import wait_until
from voxhub.config import Settings
from voxhub.db import make_engine, migrate

pytestmark = [
    pytest.mark.xdist_group("faults-postgres"),
    pytest.mark.skipif(
        not os.environ.get("VOXHUB_TEST_DATABASE_URL"),
        reason="a PostgreSQL restart: this runs in the suite's PostgreSQL pass (VOXHUB_TEST_DATABASE_URL set)",
    ),
]


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A PostgreSQL of this module's own, never the suite's: it is stopped and started again here."""
    server = Postgres(tmp_path_factory.mktemp("faults-pg") / "pg")
    server.create()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def database_url(postgres: Postgres) -> str:
    url = make_url(postgres.url).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def app_database_url(database_url: str) -> str:
    """The app connects as the server's owner here: this module is about the connection, not the tenant wall."""
    return database_url


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Jobs run one at a time inside the app, so one is running and others wait in the queue when the server stops.
    return settings.model_copy(update={"workers": 1, "queue_url": None, "job_max_attempts": 3})


def test_requests_fail_fast_while_postgres_restarts_and_jobs_and_credits_come_through_whole(
    client: TestClient, people: People, media: dict[str, Path], postgres: Postgres, nothing_left_running: None
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, GRANTED)
    long_source = upload(client, owner, media["medium.flac"])
    short_source = upload(client, owner, media["tone.wav"])
    running = start(client, owner, long_source, normalize=True)
    waiting = [start(client, owner, short_source, format="wav") for _ in range(2)]
    wait_until_converting(client, owner, running["id"])

    postgres.stop()
    try:
        asked = time.monotonic()
        listing = client.get(jobs_url(owner), headers=owner.headers)
        creating = client.post(jobs_url(owner), headers=owner.headers, json=convert_body(short_source, format="wav"))
        answered_in = time.monotonic() - asked
    finally:
        postgres.start()

    def serving() -> Any:
        answer = client.get(jobs_url(owner), headers=owner.headers)
        return answer if answer.status_code == 200 else None

    after = wait_until(serving, timeout=60, what="the same app to serve again once PostgreSQL is back")
    jobs = [wait_for_job(client, owner, job["id"], timeout=180) for job in [running, *waiting]]

    for answer in (listing, creating):
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "service_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
    assert answered_in < 10  # both refused at once, not after a connect timeout
    # The job asked for while the database was down was never made; the others are all there and all succeeded.
    assert sorted(job["id"] for job in after.json()["items"]) == sorted(job["id"] for job in [running, *waiting])
    assert [job["status"] for job in jobs] == ["succeeded"] * 3, jobs
    outputs = output_files(client, owner)
    for job in jobs:
        outcomes = [attempt["outcome"] for attempt in attempts_of(client, owner, job["id"])]
        assert outcomes.count("succeeded") == 1, outcomes
        assert len(job["outputs"]) == 1
    assert sorted(file["id"] for file in outputs) == sorted(job["outputs"][0] for job in jobs)
    settled_once(client, owner, jobs)
