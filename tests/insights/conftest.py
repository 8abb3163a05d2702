"""Insights jobs through the HTTP API, on the local executor, extractive (VOXHUB_LLM_ENGINE=none) unless a test asks
for the local language model. Transcripts are the known script of tests/insights/script.py, written as a
transcription's transcript (as if Whisper had heard it word for word), or spoken by voxhub and transcribed."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Mailbox, People, Person
from tests.fixtures.workers import STALE_AFTER_S, on_executor
from tests.jobs_helpers import job_url, jobs_url, wait_for_job
from voxhub.clock import utcnow
from voxhub.config import Settings
from voxhub.jobs.models import Job, JobStatus
from voxhub.transcripts import service as transcripts

JOB_TIMEOUT_S = 240.0  # two cores shared by several test processes


@pytest.fixture
def people(client: TestClient, app: Any, mailbox: Mailbox) -> People:
    """People whose workspaces have credits: insights jobs are paid once the plan's allowance is used up."""
    app.state.test_mailbox = mailbox
    return People(client, app, starting_credits=100_000)


@pytest.fixture
def executor_kind() -> str:
    """Worker threads inside the app; a test that needs a parked queue parametrizes this."""
    return "local"


@pytest.fixture
def settings(settings: Settings, executor_kind: str, request: pytest.FixtureRequest) -> Settings:
    return on_executor(
        settings, executor_kind, request, job_stale_after_s=STALE_AFTER_S, workers=1, llm_engine="none"
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _nothing_left_running(nothing_left_running: None) -> None:
    """No insights test leaves a job queued or running for the next one."""


def transcription(app: Any, person: Person, document: dict[str, Any]) -> str:
    """A succeeded transcribe job in `person`'s workspace whose transcript is `document`; its id."""
    with app.state.db.session() as db:
        job = Job(
            workspace_id=person.workspace_id,
            type="transcribe",
            queue="asr",
            status=JobStatus.SUCCEEDED.value,
            input={},
            params={},
            progress=100.0,
            result={"segments": len(document["segments"]), "transcript_version": 1},
            finished_at=utcnow(),
            created_by=person.id,
        )
        db.add(job)
        db.flush()
        transcripts.save_from_job(db, workspace_id=person.workspace_id, job_id=job.id, data=document)
        return job.id


def start_insights(client: TestClient, person: Person, job_input: dict[str, Any], **params: Any) -> httpx2.Response:
    return client.post(
        jobs_url(person), headers=person.headers, json={"type": "insights", "input": job_input, "params": params}
    )


def run_insights(
    client: TestClient, person: Person, job_input: dict[str, Any], *, timeout: float = JOB_TIMEOUT_S, **params: Any
) -> dict[str, Any]:
    """Start an insights job (it must be accepted) and wait until it is over; the job as it ended."""
    accepted = start_insights(client, person, job_input, **params)
    assert accepted.status_code == 202, accepted.text
    return wait_for_job(client, person, accepted.json()["id"], timeout=timeout)


def insights_of(client: TestClient, person: Person, job_id: str, workspace_id: str | None = None) -> httpx2.Response:
    return client.get(f"{job_url(person, job_id, workspace_id)}/insights", headers=person.headers)


def error_of(answer: httpx2.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return dict(answer.json()["error"])
