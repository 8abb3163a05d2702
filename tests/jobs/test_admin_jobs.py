"""The superusers' list of jobs in every workspace: what the console's operations page shows as running jobs and
recent failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import People
from tests.jobs_helpers import start, upload, wait_for_job, wait_until_converting

ADMIN_JOBS = "/api/v1/admin/jobs"


@pytest.fixture
def executor_kind() -> str:
    """Worker threads inside the app: the list reads the jobs table, whichever executor wrote it."""
    return "local"


def superuser_headers(app: Any, people: People) -> dict[str, str]:
    return people.create("root@example.com", name="Root", superuser=True).headers


def test_a_superuser_sees_running_jobs_and_failures_of_every_workspace(
    client: TestClient, people: People, media: dict[str, Path], app: Any
) -> None:
    alice, bob = people.create(), people.create()
    past_the_end = start(client, alice, upload(client, alice, media["tone.wav"]), start_s=30)
    failed = wait_for_job(client, alice, past_the_end["id"])
    running = start(client, bob, upload(client, bob, media["long.flac"]), normalize=True)
    wait_until_converting(client, bob, running["id"])
    root = superuser_headers(app, people)

    everything = client.get(ADMIN_JOBS, headers=root)
    runs = client.get(ADMIN_JOBS, headers=root, params={"status": "running"})
    failures = client.get(ADMIN_JOBS, headers=root, params={"status": "failed", "queue": "media"})
    first = client.get(ADMIN_JOBS, headers=root, params={"limit": 1})
    refused = client.get(ADMIN_JOBS, headers=alice.headers)
    unknown = client.get(ADMIN_JOBS, headers=root, params={"status": "sleeping"})
    client.post(f"/api/v1/workspaces/{bob.workspace_id}/jobs/{running['id']}/cancel", headers=bob.headers)
    wait_for_job(client, bob, running["id"])

    assert [job["id"] for job in everything.json()["items"]] == [running["id"], failed["id"]]  # newest first
    [run] = runs.json()["items"]
    assert (run["id"], run["workspace_id"], run["status"]) == (running["id"], bob.workspace_id, "running")
    assert run["worker_id"] and run["heartbeat_at"]
    [failure] = failures.json()["items"]
    assert (failure["id"], failure["workspace_id"]) == (failed["id"], alice.workspace_id)
    assert failure["error"]["code"] == "trim_out_of_range"
    assert len(first.json()["items"]) == 1 and first.json()["next_cursor"]
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "superuser_required"
    assert unknown.status_code == 422
