"""Jobs survive what happens to the processes running them, and still run exactly once: a server stopped or killed
mid-job (local executor), a Celery worker killed with SIGKILL mid-job, and a job id delivered twice."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.fixtures.workers import CeleryCluster, Process, parked_only, voxhub_env
from tests.jobs_helpers import attempts_of, get_job, output_files, start, upload, wait_for_job, wait_until_converting
from tests.live_server import free_port
from tests.waiting import wait_until
from voxhub.app import create_app
from voxhub.config import Settings
from voxhub.jobs.runner import new_worker_id, run_job


def ran_exactly_once(client: httpx.Client, person: Any, job: dict[str, Any]) -> None:
    """Succeeded, by one attempt only, with one output file that is the job's."""
    assert job["status"] == "succeeded", job
    outcomes = [a["outcome"] for a in attempts_of(client, person, job["id"])]
    assert outcomes.count("succeeded") == 1, outcomes
    assert len(job["outputs"]) == 1
    assert [f["id"] for f in output_files(client, person)] == job["outputs"]


# The fixture app only serves people and uploads: with no worker listening to its queue, it runs nothing itself.
@parked_only
def test_a_job_running_when_the_server_stops_runs_again_after_the_restart_exactly_once(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings
) -> None:
    owner = people.create()
    source = upload(client, owner, media["medium.flac"])
    local = settings.model_copy(update={"queue_url": None})

    with TestClient(create_app(local)) as before:
        job = start(before, owner, source, normalize=True)
        wait_until_converting(before, owner, job["id"])
        stopping = time.monotonic()
    stop_took = time.monotonic() - stopping
    between = get_job(client, owner, job["id"])
    with TestClient(create_app(local)) as after:
        done = wait_for_job(after, owner, job["id"], timeout=120)

    assert stop_took < 10  # the running job let the server stop instead of holding it up
    assert between["status"] == "queued"  # handed back, not left running
    assert between["outputs"] == []
    ran_exactly_once(client, owner, done)
    assert done["attempts"] == 2
    first, second = attempts_of(client, owner, job["id"])
    assert first["outcome"] == "interrupted"
    assert second["outcome"] == "succeeded"


@parked_only
def test_a_job_running_when_the_server_is_killed_is_requeued_by_the_next_start(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings, tmp_path: Path
) -> None:
    owner = people.create()
    source = upload(client, owner, media["medium.flac"])
    port = free_port()
    env = voxhub_env(
        database_url=settings.resolved_database_url, data_dir=settings.data_dir, workers=1, run_periodic_tasks="false"
    )

    def serve() -> Process:
        server = Process.start(
            "serve", ["serve", "--port", str(port)], env=env, cwd=tmp_path, log=tmp_path / "serve.log"
        )

        def healthy() -> bool:
            assert server.alive(), server.log_tail()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=90, what="voxhub serve to answer", every=0.1)
        return server

    server = serve()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            job = start(http, owner, source, normalize=True)
            wait_until_converting(http, owner, job["id"])
        server.kill()
    finally:
        server.stop()
    left = get_job(client, owner, job["id"])
    # Started again (here, in this process, on the same database and data dir):
    with TestClient(create_app(settings.model_copy(update={"queue_url": None}))) as restarted:
        done = wait_for_job(restarted, owner, job["id"], timeout=120)

    assert left["status"] == "running"  # nobody could say otherwise: the process died
    ran_exactly_once(client, owner, done)
    lost, succeeded = attempts_of(client, owner, job["id"])
    assert (lost["outcome"], lost["error_code"]) == ("lost", "restart")
    assert succeeded["outcome"] == "succeeded"


@pytest.mark.parametrize("executor_kind", ["celery"])
def test_a_job_whose_worker_is_killed_finishes_exactly_once_on_another_worker(
    client: TestClient, people: People, media: dict[str, Path], celery_cluster: CeleryCluster
) -> None:
    owner = people.create()
    source = upload(client, owner, media["medium.flac"])
    [first_worker] = celery_cluster.workers()
    beat = celery_cluster.start_beat()  # its reaper requeues jobs whose heartbeat went quiet
    spare = celery_cluster.start_worker(wait=False)  # the one left standing; it starts while the job runs
    try:
        job = start(client, owner, source, normalize=True)
        wait_until_converting(client, owner, job["id"])
        [attempt] = attempts_of(client, owner, job["id"])
        victim = celery_cluster.running(attempt["worker_id"])
        victim.kill()
        celery_cluster.wait_ready(spare)

        done = wait_for_job(client, owner, job["id"], timeout=120, what="the job to finish on the other worker")
    finally:
        beat.stop()

    assert victim is first_worker  # the spare was not consuming yet
    ran_exactly_once(client, owner, done)
    assert done["attempts"] == 2
    lost, succeeded = attempts_of(client, owner, job["id"])
    assert (lost["outcome"], lost["error_code"]) == ("lost", "worker_lost")
    assert lost["worker_id"] == attempt["worker_id"]
    assert succeeded["outcome"] == "succeeded"
    assert succeeded["worker_id"] != lost["worker_id"]
    assert celery_cluster.workers() == [spare]


@parked_only
def test_a_job_delivered_twice_at_once_runs_once(
    client: TestClient, people: People, media: dict[str, Path], app: Any
) -> None:
    owner = people.create()
    job = start(client, owner, upload(client, owner, media["tone.wav"]), format="wav")
    both_ready = threading.Barrier(2)
    results: list[str | None] = []

    def deliver(number: int) -> None:
        worker_id = new_worker_id(f"delivery-{number}")
        both_ready.wait()
        results.append(run_job(app.state.db, app.state.ctx, job["id"], worker_id))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results, key=str) == [None, "succeeded"]
    done = get_job(client, owner, job["id"])
    assert done["attempts"] == 1
    ran_exactly_once(client, owner, done)
