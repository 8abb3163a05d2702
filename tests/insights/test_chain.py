"""A transcription asked for insights (`params.insights`) starts an insights job in the transaction that records its
success, as the person who started it; when that job cannot start, the transcription still succeeds and its result
says why."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import People, Person
from tests.insights.conftest import JOB_TIMEOUT_S, insights_of
from tests.insights.script import transcript_of
from tests.jobs_helpers import get_job, jobs_url, wait_for_job
from voxhub.jobs import service as jobs
from voxhub.jobs.models import Job, JobStatus
from voxhub.transcripts import service as transcripts

WORKER = "test-worker"


def transcription_finishing(app: Any, person: Person, document: dict[str, Any], **params: Any) -> str:
    """A transcribe job running on WORKER whose transcript is saved, about to succeed."""
    with app.state.db.session() as db:
        job = Job(
            workspace_id=person.workspace_id,
            type="transcribe",
            queue="asr",
            status=JobStatus.RUNNING.value,
            input={},
            params=params,
            worker_id=WORKER,
            attempts=1,
            created_by=person.id,
        )
        db.add(job)
        db.flush()
        transcripts.save_from_job(db, workspace_id=person.workspace_id, job_id=job.id, data=document)
        return job.id


def succeed(app: Any, job_id: str) -> None:
    with app.state.db.session() as db:
        assert jobs.succeed(db, ctx=app.state.ctx, job_id=job_id, worker_id=WORKER, result={"segments": 1})


def insights_jobs(client: TestClient, person: Person) -> list[dict[str, Any]]:
    answer = client.get(jobs_url(person), headers=person.headers, params={"type": "insights"})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_a_transcription_asking_for_insights_starts_them_as_its_owner(
    client: TestClient, app: Any, people: People
) -> None:
    owner = people.create()
    source = transcription_finishing(app, owner, transcript_of()[0], insights=True)

    succeed(app, source)

    done = get_job(client, owner, source)
    assert done["status"] == "succeeded"
    chained = done["result"]["insights_job_id"]
    assert done["result"]["segments"] == 1  # the transcription's own result stays
    assert [job["id"] for job in insights_jobs(client, owner)] == [chained]
    with app.state.db.session() as db:
        assert db.get(Job, chained).created_by == owner.id
    assert wait_for_job(client, owner, chained, timeout=JOB_TIMEOUT_S)["status"] == "succeeded"
    assert insights_of(client, owner, source).json()["job_id"] == chained


def test_a_transcription_not_asking_for_insights_starts_none(client: TestClient, app: Any, people: People) -> None:
    owner = people.create()
    source = transcription_finishing(app, owner, transcript_of()[0])

    succeed(app, source)

    assert "insights_job_id" not in get_job(client, owner, source)["result"]
    assert insights_jobs(client, owner) == []


def test_insights_that_cannot_start_leave_the_transcription_succeeded_saying_why(
    client: TestClient, app: Any, people: People
) -> None:
    owner = people.create()
    document, _changes = transcript_of()
    document["segments"] = [{**segment, "text": "", "words": []} for segment in document["segments"][:2]]
    source = transcription_finishing(app, owner, document, insights=True)

    succeed(app, source)

    done = get_job(client, owner, source)
    assert done["status"] == "succeeded"
    assert done["result"]["insights_error"]["code"] == "empty_transcript"
    assert "insights_job_id" not in done["result"]
    assert insights_jobs(client, owner) == []
