"""Jobs: accepting work, its state machine (queued → running → succeeded | failed | canceled), cancel, retry, delete,
and recovery of jobs whose worker died. The job row is the truth; queues carry only job ids."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.audit.service import Actor
from voxhub.billing import service as billing
from voxhub.clock import as_utc, utcnow
from voxhub.context import AppContext
from voxhub.db import affected, on_commit
from voxhub.errors import Conflict, NotFound, Unprocessable, field_errors
from voxhub.files import service as files
from voxhub.files.models import File, FileStatus
from voxhub.hooks import Hook
from voxhub.ids import new_id
from voxhub.jobs import events
from voxhub.jobs.models import FINAL_STATES, AttemptOutcome, EventKind, Job, JobAttempt, JobStatus
from voxhub.jobs.registry import QUEUES, JobType, registered
from voxhub.jobs.schemas import JobCreate, QueueOverview, job_out
from voxhub.labels.models import TargetType
from voxhub.labels.service import LabelFilter, forget, labelled, narrow
from voxhub.notify import delivery, endpoints
from voxhub.pagination import MAX_LIMIT, Sort, created_between, encode_cursor, paginate
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

IDEMPOTENCY_WINDOW = timedelta(hours=24)
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
# A job whose workspace already runs all the jobs its plan allows waits this long before it is looked at again.
CONCURRENCY_WAIT_S = 2.0


@dataclass(frozen=True)
class JobSucceeded:
    ctx: AppContext
    job: Job


@dataclass(frozen=True)
class JobCreated:
    ctx: AppContext
    job: Job
    actor: Actor


@dataclass(frozen=True)
class JobFinished:
    ctx: AppContext
    job: Job  # its status final


# Sent in the transaction that accepts a job, once its row is written: rooms above make what they keep of it (the dub
# a `dub` job makes).
job_created: Hook[JobCreated] = Hook("job.created")
# Sent in the transaction that records a job's success, before its watchers hear of it: rooms above start follow-up
# work here (insights after a transcription), and may add to the job's result.
job_succeeded: Hook[JobSucceeded] = Hook("job.succeeded")
# Sent in the transaction that ends a job (succeeded, failed or canceled), after its credits are settled: rooms
# above keep what they made of the job in step (a podcast episode's status) and announce it.
job_finished: Hook[JobFinished] = Hook("job.finished")
# A user deleted a job: what was made from it (its search passages) goes too.
job_deleted: Hook[Job] = Hook("job.deleted")


def job_type(name: str) -> JobType:
    """The registered job type of this name, or 422 `unknown_job_type` listing the known ones."""
    types = registered()
    if name not in types:
        raise Unprocessable(
            f"Unknown job type {name!r}; known types: {', '.join(sorted(types))}.",
            code="unknown_job_type",
            details=field_errors(("type", "unknown")),
        )
    return types[name]


def _validate(model: type[BaseModel], data: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [(".".join([where, *[str(p) for p in err["loc"]]]), err["msg"]) for err in exc.errors()]
        raise Unprocessable(
            f"{fields[0][0]}: {fields[0][1]}", code="validation_error", details=field_errors(*fields)
        ) from exc


def _request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _timeout(ctx: AppContext, kind: JobType) -> int:
    return int(ctx.settings.job_timeouts.get(kind.name, kind.timeout_s))


def create(
    db: Session, *, ctx: AppContext, access: WorkspaceAccess, request: JobCreate, idempotency_key: str | None
) -> tuple[Job, bool]:
    """Accept a job; returns it and whether it is new. The queue hears of it only once this transaction commits."""
    access.require(Role.MEMBER)
    body = request.model_dump(mode="json")
    request_hash = _request_hash(body)
    if idempotency_key:
        # Clients retrying at once: the workspace's account lock lets one in at a time, so each later one finds
        # the job the first made and gets it back (instead of colliding with it on the unique key).
        billing.lock_credits(db, workspace_id=access.workspace_id)
        existing = db.scalar(
            select(Job).where(Job.workspace_id == access.workspace_id, Job.idempotency_key == idempotency_key)
        )
        if existing is not None and as_utc(existing.created_at) > utcnow() - IDEMPOTENCY_WINDOW:
            if existing.request_hash != request_hash:
                raise Conflict(
                    "This Idempotency-Key was used with a different request.",
                    code="idempotency_conflict",
                    details={"job_id": existing.id},
                )
            return existing, False
        if existing is not None:
            existing.idempotency_key = None  # expired: the key is free again
            db.flush()
    kind = job_type(request.type)
    job_input = _validate(kind.input_model, request.input, "input")
    params = _validate(kind.params_model, request.params, "params")
    webhook_url = str(request.webhook_url) if request.webhook_url else None
    if webhook_url:
        endpoints.check_target(ctx, webhook_url)
    if kind.check is not None:
        kind.check(db, ctx, access.workspace_id, job_input, params)
    size = _size(db, ctx, kind, workspace_id=access.workspace_id, job_input=job_input, params=params)
    queue = kind.queue_for(db, ctx, access.workspace_id, job_input, params) if kind.queue_for else kind.queue
    assert queue in QUEUES, queue
    job = Job(
        id=new_id(),
        workspace_id=access.workspace_id,
        type=kind.name,
        queue=queue,
        priority=request.priority,
        input=job_input.model_dump(mode="json"),
        params=params.model_dump(mode="json"),
        meta=dict(request.metadata),
        webhook_url=webhook_url,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        max_attempts=ctx.settings.job_max_attempts,
        timeout_s=_timeout(ctx, kind),
        created_by=access.user.id if access.user else None,
        created_by_api_key=access.api_key_id,
    )
    # Held before the job is written, so the job row goes in once, with what it holds.
    billing.hold_for_job(db, ctx=ctx, job=job, size=size, actor=access.actor)
    db.add(job)
    db.flush()
    events.emit(db, job_id=job.id, kind=EventKind.STATE, data={"status": job.status})
    job_created.send(db, JobCreated(ctx=ctx, job=job, actor=access.actor))
    audit.record(
        db,
        actor=access.actor,
        action="job.created",
        workspace_id=access.workspace_id,
        target_type="job",
        target_id=job.id,
        summary={"type": job.type},
    )
    _enqueue_after_commit(db, ctx, job)
    return job, True


def _size(
    db: Session,
    ctx: AppContext,
    kind: JobType,
    *,
    workspace_id: str,
    job_input: BaseModel,
    params: BaseModel,
    require_ready: bool = True,
) -> billing.JobSize:
    """What the job's price counts: what its type says, else its input file's duration (the file must be ready),
    its text and speed."""
    if kind.size is not None:
        return kind.size(db, ctx, workspace_id, job_input, params)
    seconds = 0.0
    file_id = getattr(job_input, "file_id", None)
    if file_id:
        file = media_input(db, workspace_id=workspace_id, file_id=file_id, job_type=kind.name, ready=require_ready)
        seconds = float((file.media or {}).get("duration_s") or 0.0)
    text = getattr(job_input, "text", None) or ""
    return billing.JobSize(input_seconds=seconds, text=text, speed=float(getattr(params, "speed", 1.0) or 1.0))


def media_input(db: Session, *, workspace_id: str, file_id: str, job_type: str, ready: bool = True) -> File:
    """The workspace's file a job of `job_type` would read: 404 `file_not_found`, 422 `input_not_ready` until it is
    ready (when `ready`), 422 `input_not_media` for a text file."""
    file = files.get_file(db, workspace_id=workspace_id, file_id=file_id)
    if ready and file.status != FileStatus.READY:
        raise Unprocessable(
            "The input file is not ready.", code="input_not_ready", details={"file_id": file_id, "status": file.status}
        )
    if (file.media or {}).get("container") == "text":
        raise Unprocessable(
            f"The input file {file.filename!r} is text; a {job_type} job needs audio or video.",
            code="input_not_media",
            details={"file_id": file_id, "content_type": file.content_type},
        )
    return file


def _enqueue_after_commit(db: Session, ctx: AppContext, job: Job, delay_s: float = 0) -> None:
    job_id, queue = job.id, job.queue
    if ctx.queue is not None:
        job_queue = ctx.queue
        on_commit(db, lambda: job_queue.enqueue(job_id, queue, delay_s=delay_s))


def get(db: Session, *, workspace_id: str, job_id: str) -> Job:
    """The workspace's job unless deleted, or 404 `job_not_found`."""
    job = db.get(Job, job_id)
    if job is None or job.workspace_id != workspace_id or job.deleted_at is not None:
        raise NotFound("Job not found.", code="job_not_found")
    return job


def list_jobs(
    db: Session,
    *,
    workspace_id: str,
    cursor: str | None,
    limit: int,
    status: str | None = None,
    type: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    metadata: dict[str, str] | None = None,
    sort: Sort = "newest",
    labels: LabelFilter | None = None,
) -> tuple[list[Job], str | None]:
    """One page of the workspace's jobs, filtered by status, type, time, metadata, tags and custom fields, and the
    next cursor."""
    query: Select[Any] = select(Job).where(Job.workspace_id == workspace_id, Job.deleted_at.is_(None))
    if status:
        query = query.where(Job.status == status)
    if type:
        query = query.where(Job.type == type)
    query = created_between(query, Job.created_at, created_after, created_before)
    query = narrow(db, query, Job.id, workspace_id=workspace_id, target_type=TargetType.JOB, wanted=labels)
    if not metadata:
        return paginate(db, query, Job.id, cursor=cursor, limit=limit, sort=sort)
    # JSON filtering differs per database; metadata filters are applied to a bounded scan of rows instead. A page
    # may then hold fewer than `limit` jobs, but its cursor continues right after what was looked at: none skipped.
    rows, scanned_to = paginate(db, query, Job.id, cursor=cursor, limit=MAX_LIMIT, sort=sort)
    matches: list[Job] = []
    for job in rows:
        if all(job.meta.get(k) == v for k, v in metadata.items()):
            if len(matches) == limit:
                return matches, encode_cursor(matches[-1].id)
            matches.append(job)
    return matches, scanned_to


def attempts(db: Session, *, job_id: str) -> list[JobAttempt]:
    """Every attempt at running the job, in order."""
    return list(db.scalars(select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.number)))


# ---- user actions ----


def cancel(db: Session, *, ctx: AppContext, access: WorkspaceAccess, job_id: str) -> Job:
    """A queued job is canceled at once; a running one stops at its next checkpoint."""
    access.require(Role.MEMBER)
    job = get(db, workspace_id=access.workspace_id, job_id=job_id)
    if job.status in FINAL_STATES:
        raise Conflict(f"The job is already {job.status}.", code="job_finished", details={"status": job.status})
    billing.lock_credits(db, workspace_id=job.workspace_id)
    now = utcnow()
    canceled = affected(
        db,
        update(Job)
        .where(Job.id == job.id, Job.status == JobStatus.QUEUED.value)
        .values(
            status=JobStatus.CANCELED.value,
            finished_at=now,
            cancel_requested_at=now,
            error_code="canceled",
            error_message="Canceled before it started.",
        ),
    )
    if canceled:
        db.refresh(job)
        on_final(db, ctx=ctx, job=job)
    else:
        db.execute(update(Job).where(Job.id == job.id).values(cancel_requested_at=now))
        db.refresh(job)
        events.emit(
            db,
            job_id=job.id,
            kind=EventKind.STAGE,
            data={"progress": job.progress, "stage": "canceling", "message": "Cancel requested"},
        )
    audit.record(
        db,
        actor=access.actor,
        action="job.canceled",
        workspace_id=access.workspace_id,
        target_type="job",
        target_id=job.id,
        summary={"was": "queued" if canceled else "running"},
    )
    return job


def retry(db: Session, *, ctx: AppContext, access: WorkspaceAccess, job_id: str) -> Job:
    """Run a failed or canceled job again, as a new attempt of the same job."""
    access.require(Role.MEMBER)
    job = get(db, workspace_id=access.workspace_id, job_id=job_id)
    if job.status not in (JobStatus.FAILED.value, JobStatus.CANCELED.value):
        raise Conflict(
            "Only failed or canceled jobs can be retried.", code="job_not_retryable", details={"status": job.status}
        )
    kind = job_type(job.type)
    job_input = kind.input_model.model_validate(job.input)
    params = kind.params_model.model_validate(job.params)
    size = _size(db, ctx, kind, workspace_id=job.workspace_id, job_input=job_input, params=params, require_ready=False)
    billing.hold_for_job(db, ctx=ctx, job=job, size=size, actor=access.actor)
    now = utcnow()
    job.status = JobStatus.QUEUED.value
    job.queued_at = job.run_after = now
    job.finished_at = job.cancel_requested_at = None
    job.error_code = job.error_message = None
    job.progress, job.stage, job.message = 0.0, None, None
    job.max_attempts = job.attempts + ctx.settings.job_max_attempts
    job.worker_id = None
    events.emit(db, job_id=job.id, kind=EventKind.STATE, data={"status": job.status, "retry": True})
    audit.record(
        db,
        actor=access.actor,
        action="job.retried",
        workspace_id=access.workspace_id,
        target_type="job",
        target_id=job.id,
    )
    _enqueue_after_commit(db, ctx, job)
    return job


def delete(db: Session, *, ctx: AppContext, access: WorkspaceAccess, job_id: str) -> None:
    """Delete a job (members and up): cancel it if it still runs, remove its outputs, hide it from lists."""
    access.require(Role.MEMBER)
    job = get(db, workspace_id=access.workspace_id, job_id=job_id)
    if job.status not in FINAL_STATES:
        cancel(db, ctx=ctx, access=access, job_id=job_id)
    files.remove_outputs(db, ctx=ctx, file_ids=list(job.outputs or []), actor=access.actor)
    job.outputs = []
    job.deleted_at = utcnow()
    forget(db, workspace_id=job.workspace_id, target_type=TargetType.JOB, target_id=job.id)
    job_deleted.send(db, job)
    audit.record(
        db,
        actor=access.actor,
        action="job.deleted",
        workspace_id=access.workspace_id,
        target_type="job",
        target_id=job.id,
    )


# ---- the worker's side ----


def claim(db: Session, *, ctx: AppContext, job_id: str, worker_id: str) -> bool:
    """queued → running for this worker, by a conditional update: a job delivered twice still runs once.
    A job whose workspace already runs as many jobs as its plan allows is put back to wait its turn."""
    now = utcnow()
    if ctx.settings.billing_enabled and not _slot_free(db, ctx=ctx, job_id=job_id, now=now):
        return False
    claimed = affected(
        db,
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED.value, Job.run_after <= now, Job.deleted_at.is_(None))
        .values(
            status=JobStatus.RUNNING.value,
            worker_id=worker_id,
            heartbeat_at=now,
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
            progress=0.0,
        ),
    )
    if not claimed:
        return False
    job = db.get(Job, job_id)
    assert job is not None
    db.refresh(job)
    db.add(JobAttempt(job_id=job_id, number=job.attempts, worker_id=worker_id, started_at=now))
    events.emit(
        db,
        job_id=job_id,
        kind=EventKind.STATE,
        data={"status": job.status, "attempt": job.attempts, "worker_id": worker_id},
    )
    return True


def _lock_credits_of(db: Session, *, job_id: str) -> None:
    """Lock the job's credit account before the job row: every path that touches both takes them in this order,
    so a claim and a settlement of the same workspace never wait on each other in a circle."""
    workspace_id = db.scalar(select(Job.workspace_id).where(Job.id == job_id))
    if workspace_id is not None:
        billing.lock_credits(db, workspace_id=workspace_id)


def _slot_free(db: Session, *, ctx: AppContext, job_id: str, now: datetime) -> bool:
    workspace_id = db.scalar(select(Job.workspace_id).where(Job.id == job_id, Job.status == JobStatus.QUEUED.value))
    if workspace_id is None:
        return True  # not claimable anyway: the conditional update below says so
    billing.lock_credits(db, workspace_id=workspace_id)
    running = db.scalar(
        select(func.count()).where(Job.workspace_id == workspace_id, Job.status == JobStatus.RUNNING.value)
    )
    if not billing.running_jobs_over_limit(db, ctx=ctx, workspace_id=workspace_id, running=int(running or 0)):
        return True
    waiting = affected(
        db,
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
        .values(run_after=now + timedelta(seconds=CONCURRENCY_WAIT_S), stage="waiting for a free slot"),
    )
    job = db.get(Job, job_id)
    if waiting and job is not None:
        _enqueue_after_commit(db, ctx, job, delay_s=CONCURRENCY_WAIT_S)
    return False


def next_claimable(db: Session, *, queues: tuple[str, ...] | None = None, limit: int = 8) -> list[str]:
    """Ids of queued jobs due to run, highest priority then oldest first, for a worker to claim."""
    query = select(Job.id).where(
        Job.status == JobStatus.QUEUED.value, Job.run_after <= utcnow(), Job.deleted_at.is_(None)
    )
    if queues:
        query = query.where(Job.queue.in_(queues))
    return list(db.scalars(query.order_by(Job.priority.desc(), Job.queued_at).limit(limit)))


def heartbeat(db: Session, *, job_id: str, worker_id: str) -> bool:
    """Mark the worker's running job alive; False once the job is no longer running on that worker."""
    return bool(
        affected(
            db,
            update(Job)
            .where(Job.id == job_id, Job.worker_id == worker_id, Job.status == JobStatus.RUNNING.value)
            .values(heartbeat_at=utcnow()),
        )
    )


def _finish_attempt(
    db: Session,
    *,
    job: Job,
    worker_id: str,
    outcome: AttemptOutcome,
    code: str | None = None,
    message: str | None = None,
) -> None:
    attempt = db.scalar(
        select(JobAttempt).where(
            JobAttempt.job_id == job.id, JobAttempt.number == job.attempts, JobAttempt.worker_id == worker_id
        )
    )
    if attempt is not None:
        attempt.finished_at = utcnow()
        attempt.outcome = outcome
        attempt.error_code = code
        attempt.error_message = message


def _settle(db: Session, *, job_id: str, owner: str, **values: Any) -> Job | None:
    """Move a running job owned by worker `owner` to its next state; None if the job is no longer its."""
    _lock_credits_of(db, job_id=job_id)
    moved = affected(
        db,
        update(Job)
        .where(Job.id == job_id, Job.worker_id == owner, Job.status == JobStatus.RUNNING.value)
        .values(**values),
    )
    if not moved:
        return None
    job = db.get(Job, job_id)
    assert job is not None
    db.refresh(job)
    return job


def succeed(db: Session, *, ctx: AppContext, job_id: str, worker_id: str, result: dict[str, Any]) -> Job | None:
    """Finish the worker's running job with its result, then settle credits and notify; None if not its job."""
    job = _settle(
        db,
        job_id=job_id,
        owner=worker_id,
        status=JobStatus.SUCCEEDED.value,
        progress=100.0,
        result=result,
        finished_at=utcnow(),
        stage="done",
        message=None,
    )
    if job is not None:
        _finish_attempt(db, job=job, worker_id=worker_id, outcome=AttemptOutcome.SUCCEEDED)
        job_succeeded.send(db, JobSucceeded(ctx=ctx, job=job))
        on_final(db, ctx=ctx, job=job)
    return job


def fail(
    db: Session, *, ctx: AppContext, job_id: str, worker_id: str, code: str, message: str, transient: bool
) -> Job | None:
    """Fail this attempt: requeued with backoff when the error is transient and attempts remain, else final."""
    current = db.get(Job, job_id)
    if current is None:
        return None
    db.refresh(current)
    if transient and current.attempts < current.max_attempts:
        delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (current.attempts - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
        return _requeue(
            db,
            ctx=ctx,
            job_id=job_id,
            worker_id=worker_id,
            now=utcnow(),
            outcome=AttemptOutcome.RETRYING,
            code=code,
            message=f"{code}: {message}"[:500],
            delay_s=delay,
            stage="retrying",
            attempt_message=message,
            event={"retry_in_s": round(delay, 1), "error": {"code": code, "message": message}},
        )
    job = _settle(
        db,
        job_id=job_id,
        owner=worker_id,
        status=JobStatus.FAILED.value,
        finished_at=utcnow(),
        error_code=code,
        error_message=message,
    )
    if job is not None:
        _finish_attempt(db, job=job, worker_id=worker_id, outcome=AttemptOutcome.FAILED, code=code, message=message)
        on_final(db, ctx=ctx, job=job)
    return job


def mark_canceled(db: Session, *, ctx: AppContext, job_id: str, worker_id: str) -> Job | None:
    """Record that a running job stopped because it was canceled, then settle and notify."""
    job = _settle(
        db,
        job_id=job_id,
        owner=worker_id,
        status=JobStatus.CANCELED.value,
        finished_at=utcnow(),
        error_code="canceled",
        error_message="Canceled while running.",
    )
    if job is not None:
        _finish_attempt(db, job=job, worker_id=worker_id, outcome=AttemptOutcome.CANCELED)
        on_final(db, ctx=ctx, job=job)
    return job


def on_final(db: Session, *, ctx: AppContext, job: Job) -> None:
    """A job reached a final state: settle what it held, tell the rooms above, its watchers (SSE) and webhooks."""
    billing.settle_job(db, ctx=ctx, job=job)
    if job.status in (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value):  # a cancel is audited where it is asked
        audit.record(
            db,
            actor=Actor.system(),
            action=f"job.{job.status}",
            workspace_id=job.workspace_id,
            target_type="job",
            target_id=job.id,
            summary={"type": job.type, **({"error_code": job.error_code} if job.error_code else {})},
        )
    job_finished.send(db, JobFinished(ctx=ctx, job=job))
    # The job as GET shows it, tags and custom fields included, for its watchers and its webhooks.
    shown = labelled(db, workspace_id=job.workspace_id, target_type=TargetType.JOB, items=[job_out(job)])[0]
    body = shown.model_dump(mode="json")
    events.emit(db, job_id=job.id, kind=EventKind.STATE, data={"status": job.status, "final": True, "job": body})
    delivery.emit(
        db,
        workspace_id=job.workspace_id,
        event_type=f"job.{job.status}",
        data=body,
        extra_url=job.webhook_url,
    )


def _requeue(
    db: Session,
    *,
    ctx: AppContext,
    job_id: str,
    worker_id: str,
    now: datetime,
    outcome: AttemptOutcome,
    code: str,
    message: str,
    delay_s: float = 0,
    stage: str = "requeued",
    attempt_message: str | None = None,
    event: dict[str, Any] | None = None,
) -> Job | None:
    """Put a running job of worker `worker_id` back in the queue (to run after `delay_s`), ending its attempt
    with `outcome`. Used by retries, shutdowns and the stale-job reaper alike."""
    job = _settle(
        db,
        job_id=job_id,
        owner=worker_id,
        status=JobStatus.QUEUED.value,
        worker_id=None,
        run_after=now + timedelta(seconds=delay_s),
        queued_at=now,
        stage=stage,
        message=message,
    )
    if job is not None:
        _finish_attempt(db, job=job, worker_id=worker_id, outcome=outcome, code=code, message=attempt_message)
        events.emit(
            db, job_id=job_id, kind=EventKind.STATE, data={"status": job.status, **(event or {"requeued": True})}
        )
        _enqueue_after_commit(db, ctx, job, delay_s=delay_s)
    return job


def release(db: Session, *, ctx: AppContext, job_id: str, worker_id: str) -> Job | None:
    """The worker is shutting down: its job goes back to the queue, to run again from the start."""
    return _requeue(
        db,
        ctx=ctx,
        job_id=job_id,
        worker_id=worker_id,
        now=utcnow(),
        outcome=AttemptOutcome.INTERRUPTED,
        code="shutdown",
        message="Worker stopped; requeued",
    )


def reap_stale(db: Session, *, ctx: AppContext, now: datetime | None = None) -> int:
    """Requeue running jobs whose worker stopped sending heartbeats (killed, machine gone)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=ctx.settings.job_stale_after_s)
    stale = list(db.scalars(select(Job).where(Job.status == JobStatus.RUNNING.value, Job.heartbeat_at < cutoff)))
    count = 0
    for job in stale:
        worker_id = job.worker_id or ""
        if job.attempts >= job.max_attempts:
            settled = fail(
                db,
                ctx=ctx,
                job_id=job.id,
                worker_id=worker_id,
                code="worker_lost",
                message="The worker running this job stopped responding.",
                transient=False,
            )
        else:
            settled = _requeue(
                db,
                ctx=ctx,
                job_id=job.id,
                worker_id=worker_id,
                now=now,
                outcome=AttemptOutcome.LOST,
                code="worker_lost",
                message="Worker lost; requeued",
            )
        count += settled is not None
    return count


def resend_queued(db: Session, *, ctx: AppContext, now: datetime | None = None) -> int:
    """Send again the ids of jobs queued and due for longer than `job_resend_after_s`: the row is the truth, and a
    queue that lost its messages (Redis restarted without persistence, an enqueue that failed while it was down)
    must not lose the jobs. A job delivered twice still runs once (`claim`); each is sent at most once per period."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=ctx.settings.job_resend_after_s)
    forgotten = list(
        db.scalars(
            select(Job).where(Job.status == JobStatus.QUEUED.value, Job.run_after < cutoff, Job.deleted_at.is_(None))
        )
    )
    count = 0
    for job in forgotten:
        # run_after moves to now (the job stays due), so the next sweep waits a full period before sending it again.
        if affected(
            db,
            update(Job)
            .where(Job.id == job.id, Job.status == JobStatus.QUEUED.value, Job.run_after == job.run_after)
            .values(run_after=now),
        ):
            _enqueue_after_commit(db, ctx, job)
            count += 1
    return count


def requeue_running_on_start(db: Session, *, ctx: AppContext) -> int:
    """Local mode after a restart: jobs this single process was running are requeued at once."""
    now = utcnow()
    jobs = list(db.scalars(select(Job).where(Job.status == JobStatus.RUNNING.value)))
    for job in jobs:
        worker_id = job.worker_id or ""
        _finish_attempt(db, job=job, worker_id=worker_id, outcome=AttemptOutcome.LOST, code="restart")
        job.status, job.worker_id, job.run_after, job.queued_at = JobStatus.QUEUED.value, None, now, now
        job.stage, job.message = "requeued", "Server restarted; requeued"
        events.emit(db, job_id=job.id, kind=EventKind.STATE, data={"status": job.status, "requeued": True})
    return len(jobs)


def list_all_jobs(
    db: Session,
    *,
    cursor: str | None,
    limit: int,
    status: str | None = None,
    queue: str | None = None,
    type: str | None = None,
) -> tuple[list[Job], str | None]:
    """One page of jobs in every workspace, newest first, filtered by status, queue and type (superusers' view)."""
    query: Select[Any] = select(Job).where(Job.deleted_at.is_(None))
    if status:
        query = query.where(Job.status == status)
    if queue:
        query = query.where(Job.queue == queue)
    if type:
        query = query.where(Job.type == type)
    return paginate(db, query, Job.id, cursor=cursor, limit=limit, sort="newest")


def queue_overview(db: Session, *, now: datetime | None = None) -> QueueOverview:
    """Jobs by state and queue, the oldest queued job's age, and workers seen in the last minute (all workspaces)."""
    now = now or utcnow()
    counts: dict[str, dict[str, int]] = {}
    for queue, state, count in db.execute(
        select(Job.queue, Job.status, func.count()).where(Job.deleted_at.is_(None)).group_by(Job.queue, Job.status)
    ):
        counts.setdefault(queue, {})[state] = count
    oldest = db.scalar(select(func.min(Job.queued_at)).where(Job.status == JobStatus.QUEUED.value))
    recent = now - timedelta(minutes=1)
    seen = set(db.scalars(select(Job.worker_id).where(Job.heartbeat_at >= recent, Job.worker_id.is_not(None))))
    seen |= set(db.scalars(select(JobAttempt.worker_id).where(JobAttempt.started_at >= recent)))
    return QueueOverview(
        queues=counts,
        oldest_queued_age_s=round((now - as_utc(oldest)).total_seconds(), 1) if oldest else None,
        workers_last_minute=sorted(worker for worker in seen if worker),
        job_types={name: kind.queue for name, kind in registered().items()},
    )
