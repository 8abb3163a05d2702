"""A job's life after it was accepted, on each executor: cancel while queued and while running, retry after a
failure or a cancel, and delete — each leaving no output files behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import People
from tests.fixtures.workers import local_only, parked_only
from tests.jobs_helpers import (
    attempts_of,
    convert_body,
    get_job,
    job_url,
    jobs_url,
    output_files,
    start,
    upload,
    wait_for_job,
    wait_until_converting,
)
from tests.waiting import wait_until
from voxhub.app import create_app
from voxhub.config import Settings
from voxhub.jobs.models import Job


def test_a_queued_job_is_canceled_at_once_and_a_running_one_at_its_next_checkpoint(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    long_input, short_input = upload(client, owner, media["long.flac"]), upload(client, owner, media["tone.wav"])
    running = start(client, owner, long_input, normalize=True)
    wait_until_converting(client, owner, running["id"])
    waiting = start(client, owner, short_input)  # one job at a time: this one waits behind the long one
    assert get_job(client, owner, waiting["id"])["status"] == "queued"

    canceled_queued = client.post(f"{job_url(owner, waiting['id'])}/cancel", headers=owner.headers)
    asked = client.post(f"{job_url(owner, running['id'])}/cancel", headers=owner.headers)
    stopped = wait_for_job(client, owner, running["id"], timeout=10, what="the running job to stop")

    assert canceled_queued.status_code == 200
    assert canceled_queued.json()["status"] == "canceled"
    assert canceled_queued.json()["error"]["code"] == "canceled"
    assert canceled_queued.json()["attempts"] == 0
    assert asked.status_code == 200
    assert asked.json()["cancel_requested"] is True
    assert stopped["status"] == "canceled"
    assert stopped["error"]["code"] == "canceled"
    assert stopped["progress"] < 100
    assert stopped["outputs"] == []
    assert [a["outcome"] for a in attempts_of(client, owner, running["id"])] == ["canceled"]
    assert output_files(client, owner) == []
    # The worker is free again, and the job canceled while queued never runs, even where its id was still queued.
    after = wait_for_job(client, owner, start(client, owner, short_input)["id"])
    assert after["status"] == "succeeded"
    never_ran = get_job(client, owner, waiting["id"])
    assert never_ran["status"] == "canceled" and never_ran["attempts"] == 0
    assert attempts_of(client, owner, waiting["id"]) == []
    assert [f["id"] for f in output_files(client, owner)] == after["outputs"]


def test_a_finished_job_cannot_be_canceled(client: TestClient, people: People, media: dict[str, Path]) -> None:
    owner = people.create()
    job = wait_for_job(client, owner, start(client, owner, upload(client, owner, media["tone.wav"]))["id"])

    answer = client.post(f"{job_url(owner, job['id'])}/cancel", headers=owner.headers)

    assert job["status"] == "succeeded"
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "job_finished"
    assert answer.json()["error"]["details"]["status"] == "succeeded"
    assert get_job(client, owner, job["id"])["outputs"] == job["outputs"]


def test_a_job_canceled_while_running_can_be_retried_to_success(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    job = start(client, owner, upload(client, owner, media["medium.flac"]), format="opus", normalize=True)
    wait_until_converting(client, owner, job["id"])
    assert client.post(f"{job_url(owner, job['id'])}/cancel", headers=owner.headers).status_code == 200
    assert wait_for_job(client, owner, job["id"])["status"] == "canceled"

    retried = client.post(f"{job_url(owner, job['id'])}/retry", headers=owner.headers)
    done = wait_for_job(client, owner, job["id"], timeout=120)

    assert retried.status_code == 202
    assert retried.json()["status"] == "queued"
    assert retried.json()["error"] is None and not retried.json()["cancel_requested"]
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert [a["outcome"] for a in attempts_of(client, owner, job["id"])] == ["canceled", "succeeded"]
    assert [f["id"] for f in output_files(client, owner)] == done["outputs"]
    again = client.post(f"{job_url(owner, job['id'])}/retry", headers=owner.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_not_retryable"


def test_a_failed_job_retried_runs_again_as_a_new_attempt(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    job = wait_for_job(client, owner, start(client, owner, upload(client, owner, media["tone.wav"]), start_s=30)["id"])
    assert job["status"] == "failed"

    retried = client.post(f"{job_url(owner, job['id'])}/retry", headers=owner.headers)
    again = wait_for_job(client, owner, job["id"])

    assert retried.status_code == 202
    assert retried.json()["status"] == "queued" and retried.json()["error"] is None
    assert again["status"] == "failed"
    assert again["error"]["code"] == "trim_out_of_range"
    assert again["attempts"] == 2
    assert [(a["number"], a["outcome"], a["error_code"]) for a in attempts_of(client, owner, job["id"])] == [
        (1, "failed", "trim_out_of_range"),
        (2, "failed", "trim_out_of_range"),
    ]
    assert output_files(client, owner) == []


def test_deleting_a_job_deletes_its_outputs_and_hides_it(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    job = wait_for_job(client, owner, start(client, owner, upload(client, owner, media["tone.wav"]))["id"])
    [output_id] = job["outputs"]

    deleted = client.delete(job_url(owner, job["id"]), headers=owner.headers)

    assert deleted.status_code == 204
    gone: dict[str, Any] = {
        "job": client.get(job_url(owner, job["id"]), headers=owner.headers),
        "attempts": client.get(f"{job_url(owner, job['id'])}/attempts", headers=owner.headers),
        "delete again": client.delete(job_url(owner, job["id"]), headers=owner.headers),
    }
    for what, answer in gone.items():
        assert answer.status_code == 404, what
        assert answer.json()["error"]["code"] == "job_not_found", what
    output = client.get(f"/api/v1/workspaces/{owner.workspace_id}/files/{output_id}", headers=owner.headers)
    assert output.status_code == 404
    assert output_files(client, owner) == []
    assert client.get(jobs_url(owner), headers=owner.headers).json()["items"] == []


def test_deleting_a_running_job_stops_it(
    client: TestClient, people: People, media: dict[str, Path], db: Session
) -> None:
    owner = people.create()
    job = start(client, owner, upload(client, owner, media["long.flac"]), normalize=True)
    wait_until_converting(client, owner, job["id"])

    deleted = client.delete(job_url(owner, job["id"]), headers=owner.headers)

    assert deleted.status_code == 204
    assert client.get(job_url(owner, job["id"]), headers=owner.headers).status_code == 404

    def stopped() -> bool:
        db.expire_all()
        row = db.get(Job, job["id"])
        return row is not None and row.status == "canceled"

    wait_until(stopped, timeout=10, what="the deleted job's worker to stop it")
    assert output_files(client, owner) == []
    # Its worker is free for the next job.
    nxt = wait_for_job(client, owner, start(client, owner, upload(client, owner, media["tone.wav"]))["id"])
    assert nxt["status"] == "succeeded"


@local_only
def test_among_queued_jobs_the_higher_priority_runs_first(
    client: TestClient, people: People, media: dict[str, Path]
) -> None:
    owner = people.create()
    long_input, short_input = upload(client, owner, media["long.flac"]), upload(client, owner, media["tone.wav"])
    blocker = start(client, owner, long_input, normalize=True)
    wait_until_converting(client, owner, blocker["id"])

    def queued(priority: int) -> str:
        answer = client.post(
            jobs_url(owner), headers=owner.headers, json={**convert_body(short_input), "priority": priority}
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])

    low, high = queued(0), queued(9)
    client.post(f"{job_url(owner, blocker['id'])}/cancel", headers=owner.headers)
    low_done, high_done = wait_for_job(client, owner, low), wait_for_job(client, owner, high)

    assert high_done["timings"]["started_at"] < low_done["timings"]["started_at"]
    assert low_done["status"] == high_done["status"] == "succeeded"


@parked_only
def test_a_job_past_its_types_timeout_fails_with_timeout_and_leaves_nothing(
    client: TestClient, people: People, media: dict[str, Path], settings: Settings
) -> None:
    owner = people.create()
    source = upload(client, owner, media["long.flac"])
    impatient = settings.model_copy(update={"queue_url": None, "job_timeouts": {"media.convert": 2}})

    with TestClient(create_app(impatient)) as api:
        done = wait_for_job(api, owner, start(api, owner, source, normalize=True)["id"], timeout=30)

    assert done["status"] == "failed"
    assert done["error"]["code"] == "timeout"
    assert done["attempts"] == 1  # a timeout is not retried
    assert done["outputs"] == []
    assert output_files(client, owner) == []
