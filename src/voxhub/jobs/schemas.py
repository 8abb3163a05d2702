"""Request and response bodies for jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, HttpUrl


class JobCreate(BaseModel):
    type: str = Field(description="Job type, e.g. media.convert.", examples=["media.convert"])
    input: dict[str, Any] = Field(description='What to work on: {"file_id": …} or {"text": …}, per type.')
    params: dict[str, Any] = Field(default_factory=dict, description="Options of the job type.")
    priority: int = Field(default=0, ge=0, le=9, description="Higher runs first among queued jobs.")
    webhook_url: HttpUrl | None = Field(default=None, description="Receives this job's final event.")
    metadata: dict[str, str] = Field(default_factory=dict, max_length=32, description="Your own labels; filterable.")


class JobError(BaseModel):
    code: str
    message: str


class JobTimings(BaseModel):
    created_at: datetime
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobOut(BaseModel):
    id: str
    workspace_id: str
    type: str
    queue: str
    status: str = Field(description="queued, running, succeeded, failed or canceled")
    priority: int
    input: dict[str, Any]
    params: dict[str, Any]
    metadata: dict[str, str]
    progress: float
    stage: str | None
    message: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    timings: JobTimings
    outputs: list[str] = Field(description="Ids of the files this job produced.")
    result: dict[str, Any] | None
    error: JobError | None
    credits: dict[str, Any] | None
    webhook_url: str | None


class JobAttemptOut(BaseModel):
    number: int
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error_code: str | None
    error_message: str | None


def job_out(job: Any) -> JobOut:
    return JobOut(
        id=job.id,
        workspace_id=job.workspace_id,
        type=job.type,
        queue=job.queue,
        status=job.status,
        priority=job.priority,
        input=job.input,
        params=job.params,
        metadata=job.meta,
        progress=job.progress,
        stage=job.stage,
        message=job.message,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        cancel_requested=job.cancel_requested_at is not None,
        timings=JobTimings(
            created_at=job.created_at, queued_at=job.queued_at, started_at=job.started_at, finished_at=job.finished_at
        ),
        outputs=list(job.outputs or []),
        result=job.result,
        error=JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None,
        credits=job.credits,
        webhook_url=job.webhook_url,
    )
