"""Faults survived, with the real servers: the database restarted mid-traffic, Redis restarted, the S3 store
unreachable, a worker whose disk is full, an engine that hangs. (A Celery worker killed mid-job:
tests/jobs/test_recovery.py.) Modules that start servers of their own run whole on one xdist worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.catalogs import edited_catalog
from tests.conftest import Person

PRICE = 3  # credits a media.convert job costs here, so every job holds and then captures or releases credits
GRANTED = 1000


@pytest.fixture(scope="session")
def billing_catalog(billing_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's catalog, with a price on media.convert."""
    target = tmp_path_factory.mktemp("faults-billing") / "billing.toml"
    return edited_catalog(billing_catalog, target, {'prices."media.convert"': {"credits": PRICE, "per": "job"}})


@pytest.fixture(scope="session")
def media(job_media: dict[str, Path]) -> dict[str, Path]:
    return job_media


def account(client: TestClient, person: Person) -> dict[str, Any]:
    """The workspace's credits as its billing page shows them: balance, held, available."""
    answer = client.get(f"/api/v1/workspaces/{person.workspace_id}/billing", headers=person.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def ledger(client: TestClient, person: Person) -> list[dict[str, Any]]:
    answer = client.get(
        f"/api/v1/workspaces/{person.workspace_id}/billing/ledger", headers=person.headers, params={"limit": 200}
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def settled_once(client: TestClient, person: Person, jobs: list[dict[str, Any]]) -> None:
    """Each job's hold was settled exactly once: captured for a success, released otherwise; nothing held is left,
    and the balance is what was granted less what the successes cost."""
    entries = ledger(client, person)
    for job in jobs:
        kinds = sorted(entry["kind"] for entry in entries if entry["job_id"] == job["id"])
        expected = ["capture", "hold"] if job["status"] == "succeeded" else ["hold", "release"]
        assert kinds == expected, (job["id"], job["status"], kinds)
    credits = account(client, person)
    succeeded = sum(job["status"] == "succeeded" for job in jobs)
    assert credits["held"] == 0
    assert credits["balance"] == GRANTED - PRICE * succeeded
