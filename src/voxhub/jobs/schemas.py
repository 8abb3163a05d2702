"""Request and response bodies for jobs."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, HttpUrl, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from voxhub.billing.charges import Charge
from voxhub.labels.schemas import FieldValueOut

MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]
MetadataValue = Annotated[str, StringConstraints(max_length=500)]


class JobCreate(BaseModel):
    type: str = Field(max_length=64, description="Job type, e.g. media.convert.", examples=["media.convert"])
    input: dict[str, Any] = Field(
        description='What to work on: {"file_id": …} or {"text": …}, per type (GET /job-types).',
        json_schema_extra={"minProperties": 1},  # the type's own input schema then says which keys (422 if not)
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Options of the job type.")
    priority: int = Field(default=0, ge=0, le=9, description="Higher runs first among queued jobs.")
    webhook_url: HttpUrl | None = Field(default=None, description="Receives this job's final event.")
    metadata: dict[MetadataKey, MetadataValue] = Field(
        default_factory=dict,
        max_length=32,
        description="Your own labels, filterable: up to 32, keys up to 40 characters, values up to 500.",
    )

    @field_validator("input", "params")
    @classmethod
    def _finite_numbers(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Python's JSON parser reads NaN, Infinity and 1e999; stored as JSON they would silently become null.
        where = _non_finite(value)
        if where is not None:
            raise PydanticCustomError("finite_number", "{where} must be a finite number", {"where": where})
        return value


def _non_finite(value: Any, path: str = "") -> str | None:
    """The path of the first NaN or infinite number in `value`, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "value"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = _non_finite(item, f"{path}.{key}" if path else str(key))
        if where is not None:
            return where
    return None


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
    credits: Charge | None = Field(description="What the job holds and was charged; null when it is free.")
    webhook_url: str | None
    tags: list[str] = Field(default=[], description="The job's tags, by name.")
    custom_fields: dict[str, FieldValueOut] = Field(default={}, description="Custom field key → value.")


class JobTypeOut(BaseModel):
    name: str = Field(description="The `type` of `POST …/jobs`.")
    queue: str
    description: str
    timeout_s: int = Field(description="Default time limit of one attempt, seconds.")
    input_schema: dict[str, Any] = Field(description="JSON Schema of the job's `input`.")
    params_schema: dict[str, Any] = Field(description="JSON Schema of the job's `params`, with defaults.")


class EventsTokenOut(BaseModel):
    token: str = Field(description="Pass as `?token=` to the job's events; opens only this job's event stream.")
    expires_at: datetime = Field(description="Open (or reopen) the stream before this; an open stream is not cut.")
    url: str = Field(description="The events URL with the token, ready for `new EventSource(url)`.")


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
        credits=Charge.model_validate(job.credits) if job.credits else None,
        webhook_url=job.webhook_url,
    )


class AdminJobOut(JobOut):
    """A job as operators see it, in any workspace: which worker runs (or last ran) it and when it last said so."""

    worker_id: str | None
    heartbeat_at: datetime | None = Field(description="The worker's last sign of life while running this job.")


def admin_job_out(job: Any) -> AdminJobOut:
    return AdminJobOut(**job_out(job).model_dump(), worker_id=job.worker_id, heartbeat_at=job.heartbeat_at)


class QueueOverview(BaseModel):
    queues: dict[str, dict[str, int]] = Field(description="Jobs by queue, then by state.")
    oldest_queued_age_s: float | None = Field(description="Seconds the oldest queued job has waited.")
    workers_last_minute: list[str] = Field(description="Workers that ran or reported on a job in the last minute.")
    job_types: dict[str, str] = Field(description="Each job type known here, with the queue it runs on.")
