"""Redis restarted (killed, and back without persistence, so every queued message is gone), with jobs on a real
Celery worker: no job is lost — the job row is the truth, and the `resend_queued_jobs` sweep sends again what the
queue forgot — and a job asked for while Redis is down is accepted, not refused. Rate limits degrade as
voxhub.ratelimit says: while their shared counts are unreachable requests are served (open), and counting resumes
once Redis is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.catalogs import edited_catalog
from tests.conftest import People, within_one_rate_minute
from tests.faults.conftest import GRANTED, settled_once
from tests.faults.servers import Redis
from tests.fixtures.workers import SECRET_KEY, CeleryCluster, voxhub_env
from tests.jobs_helpers import (
    attempts_of,
    convert_body,
    get_job,
    is_final,
    jobs_url,
    start,
    upload,
    wait_until_converting,
)
from tests.live_server import free_port
from tests.waiting import wait_until
from voxhub.app import create_app
from voxhub.config import Settings
from voxhub.jobs.executors import make_celery
from voxhub.worker import PERIODIC_TASK

pytestmark = pytest.mark.xdist_group("faults-redis")
RESEND_AFTER_S = 1
PER_MINUTE = 5


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(tmp_path_factory.mktemp("faults-redis"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster(
    redis_server: Redis, database_url: str, smtp_server: tuple[Any, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryCluster]:
    """One `voxhub worker` on this module's Redis; it sends forgotten jobs again after RESEND_AFTER_S."""
    data_dir = tmp_path_factory.mktemp("faults-redis-var")
    env = voxhub_env(
        database_url=database_url,
        data_dir=data_dir,
        queue_url=redis_server.url,
        smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}",
        job_resend_after_s=RESEND_AFTER_S,
    )
    workers = CeleryCluster(
        redis_url=redis_server.url, data_dir=data_dir, env=env, logs=tmp_path_factory.mktemp("faults-celery")
    )
    try:
        workers.start_worker()
        yield workers
    finally:
        workers.stop()


@pytest.fixture
def settings(settings: Settings, cluster: CeleryCluster) -> Settings:
    return settings.model_copy(
        update={"secret_key": SECRET_KEY, "queue_url": cluster.redis_url, "data_dir": cluster.data_dir}
    )


def test_jobs_queued_when_redis_restarts_are_sent_again_and_run_once(
    client: TestClient,
    people: People,
    media: dict[str, Path],
    redis_server: Redis,
    settings: Settings,
    nothing_left_running: None,
) -> None:
    owner = people.create()
    people.grant(owner.workspace_id, GRANTED)
    long_source = upload(client, owner, media["medium.flac"])
    short_source = upload(client, owner, media["tone.wav"])
    running = start(client, owner, long_source, normalize=True)
    wait_until_converting(client, owner, running["id"])
    waiting = [start(client, owner, short_source, format="wav") for _ in range(2)]  # in Redis, behind it

    redis_server.stop()
    try:
        during = client.post(jobs_url(owner), headers=owner.headers, json=convert_body(short_source, format="wav"))
    finally:
        redis_server.start()
    assert during.status_code == 202, during.text  # accepted: the row is written; the sweep sends it
    jobs = [running, *waiting, during.json()]
    beat = make_celery(settings)

    def all_over() -> list[dict[str, Any]] | None:
        # What `voxhub beat` does every minute, done here every second.
        beat.send_task(PERIODIC_TASK, args=["resend_queued_jobs"], queue="default")
        now = [get_job(client, owner, job["id"]) for job in jobs]
        return now if all(is_final(job) for job in now) else None

    try:
        done = wait_until(all_over, timeout=180, what="every job to run once Redis is back", every=1.0)
    finally:
        beat.close()

    assert [job["status"] for job in done] == ["succeeded"] * 4, done
    for job in done:
        outcomes = [attempt["outcome"] for attempt in attempts_of(client, owner, job["id"])]
        assert outcomes.count("succeeded") == 1, outcomes
        assert len(job["outputs"]) == 1
    settled_once(client, owner, done)


def test_rate_limits_serve_while_redis_is_down_and_count_again_once_it_is_back(
    client: TestClient, people: People, redis_server: Redis, settings: Settings, tmp_path: Path
) -> None:
    owner = people.create()
    catalog = edited_catalog(settings.billing_catalog, tmp_path / "billing.toml",  # type: ignore[arg-type]
                             {"plans.free.requests_per_minute": PER_MINUTE})  # fmt: skip
    files = f"/api/v1/workspaces/{owner.workspace_id}/files"

    def statuses(http: TestClient, count: int) -> list[int]:
        return [http.get(files, headers=owner.headers).status_code for _ in range(count)]

    with TestClient(create_app(settings.model_copy(update={"billing_catalog": catalog}))) as limited:
        within_one_rate_minute()
        before = statuses(limited, PER_MINUTE + 1)
        redis_server.stop()
        try:
            down = statuses(limited, PER_MINUTE + 1)
        finally:
            redis_server.start()
        within_one_rate_minute()
        back = statuses(limited, PER_MINUTE + 1)

    assert before[-1] == 429 and set(before[:-1]) == {200}, before  # counted in Redis
    assert down == [200] * (PER_MINUTE + 1)  # open: served, neither refused nor failed
    assert back[-1] == 429 and set(back[:-1]) == {200}, back  # a fresh window in the new Redis, counted again
