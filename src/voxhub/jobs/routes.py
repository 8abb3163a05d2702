"""HTTP routes for jobs: create (idempotent), read, list, cancel, retry, delete, and live events over SSE."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from voxhub.db import MAX_INTEGER
from voxhub.deps import (
    AnonymousActor,
    Ctx,
    CurrentPrincipal,
    DbSession,
    MemberAccess,
    SpenderAccess,
    SuperUser,
    ViewerAccess,
    get_principal,
    get_workspace_access,
    limit_requests,
)
from voxhub.errors import responses
from voxhub.jobs import event_tokens, events, service
from voxhub.jobs.models import FINAL_STATES, Job, JobStatus
from voxhub.jobs.registry import registered
from voxhub.jobs.schemas import (
    AdminJobOut,
    EventsTokenOut,
    JobAttemptOut,
    JobCreate,
    JobOut,
    JobTypeOut,
    QueueOverview,
    admin_job_out,
    job_out,
)
from voxhub.labels.filters import LabelQuery
from voxhub.labels.models import TargetType
from voxhub.labels.service import labelled
from voxhub.pagination import Cursor, Page, QueryTime, Sort
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/jobs", tags=["jobs"])
admin = APIRouter(prefix="/api/v1/admin", tags=["admin"])
job_types = APIRouter(prefix="/api/v1/job-types", tags=["jobs"])

STATUS_PATTERN = f"^({'|'.join(JobStatus)})$"
HEARTBEAT_S = 15.0
POLL_S = 0.3
# A stream with nothing new polls less and less often, down to this: 500 idle followers polling every POLL_S made
# 1,700 reads a second and slowed every other request (bench/load.py).
IDLE_POLL_S = 2.0


def labelled_jobs(db: Session, access: WorkspaceAccess, jobs: list[Job]) -> list[JobOut]:
    """The jobs as the API shows them, with their tags and custom fields."""
    items = [job_out(job) for job in jobs]
    return labelled(db, workspace_id=access.workspace_id, target_type=TargetType.JOB, items=items)


@router.post(
    "",
    status_code=202,
    summary="Start a job",
    responses={**responses(401, 402, 403, 404, 409, 422, 429), 200: {"description": "Idempotent replay"}},
)
def create_job(
    body: JobCreate,
    db: DbSession,
    ctx: Ctx,
    access: SpenderAccess,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Queue a job. With `Idempotency-Key`, the same key and body return the same job (200) for 24 hours."""
    job, created = service.create(db, ctx=ctx, access=access, request=body, idempotency_key=idempotency_key)
    return JSONResponse(job_out(job).model_dump(mode="json"), status_code=202 if created else 200)


@router.get("", summary="List jobs", responses=responses(401, 403, 404, 422))
def list_jobs(
    db: DbSession,
    access: ViewerAccess,
    labels: LabelQuery,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    created_after: QueryTime | None = None,
    created_before: QueryTime | None = None,
    metadata: Annotated[list[str] | None, Query(description="key=value; repeat to require several")] = None,
    sort: Sort = "newest",
) -> Page[JobOut]:
    """The workspace's jobs, newest first (or `sort=oldest`)."""
    wanted = dict(item.split("=", 1) for item in metadata or [] if "=" in item)
    rows, next_cursor = service.list_jobs(
        db,
        workspace_id=access.workspace_id,
        cursor=cursor,
        limit=limit,
        status=status,
        type=type,
        created_after=created_after,
        created_before=created_before,
        metadata=wanted or None,
        sort=sort,
        labels=labels,
    )
    return Page(items=labelled_jobs(db, access, rows), next_cursor=next_cursor)


@router.get("/{job_id}", summary="Get a job", responses=responses(401, 403, 404))
def get_job(job_id: str, db: DbSession, access: ViewerAccess) -> JobOut:
    """Status, progress, timings, outputs, result and error."""
    return labelled_jobs(db, access, [service.get(db, workspace_id=access.workspace_id, job_id=job_id)])[0]


@router.get("/{job_id}/attempts", summary="A job's attempts", responses=responses(401, 403, 404))
def job_attempts(job_id: str, db: DbSession, access: ViewerAccess) -> Page[JobAttemptOut]:
    """Each attempt: worker, start, end, outcome and error."""
    service.get(db, workspace_id=access.workspace_id, job_id=job_id)
    return Page(
        items=[
            JobAttemptOut(
                number=a.number,
                worker_id=a.worker_id,
                started_at=a.started_at,
                finished_at=a.finished_at,
                outcome=a.outcome,
                error_code=a.error_code,
                error_message=a.error_message,
            )
            for a in service.attempts(db, job_id=job_id)
        ]
    )


@router.post("/{job_id}/cancel", summary="Cancel a job", responses=responses(401, 403, 404, 409))
def cancel_job(job_id: str, db: DbSession, ctx: Ctx, access: MemberAccess) -> JobOut:
    """Queued jobs stop at once; running ones at their next checkpoint, leaving no outputs."""
    return labelled_jobs(db, access, [service.cancel(db, ctx=ctx, access=access, job_id=job_id)])[0]


@router.post("/{job_id}/retry", status_code=202, summary="Retry a job", responses=responses(401, 402, 403, 404, 409))
def retry_job(job_id: str, db: DbSession, ctx: Ctx, access: SpenderAccess) -> JobOut:
    """Run a failed or canceled job again."""
    return labelled_jobs(db, access, [service.retry(db, ctx=ctx, access=access, job_id=job_id)])[0]


@router.delete("/{job_id}", status_code=204, summary="Delete a job", responses=responses(401, 403, 404))
def delete_job(job_id: str, db: DbSession, ctx: Ctx, access: MemberAccess) -> Response:
    """Cancel it if needed, delete its outputs, and hide it."""
    service.delete(db, ctx=ctx, access=access, job_id=job_id)
    return Response(status_code=204)


def _sse(event_id: int, kind: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


@router.post(
    "/{job_id}/events/token", summary="A token to follow a job from a browser", responses=responses(401, 403, 404)
)
def job_events_token(
    job_id: str, request: Request, db: DbSession, ctx: Ctx, access: ViewerAccess, principal: CurrentPrincipal
) -> EventsTokenOut:
    """A five-minute token for `GET …/events?token=…`, for clients that cannot send an Authorization header (a
    browser's `EventSource`). It opens this job's events only, and stops working when your login or key does."""
    session_id = principal.session.id if principal.session else None
    token, expires_at = event_tokens.issue(db, ctx=ctx, access=access, job_id=job_id, session_id=session_id)
    url = request.url_for("job_events", workspace_id=access.workspace_id, job_id=job_id).path
    return EventsTokenOut(token=token, expires_at=expires_at, url=f"{url}?token={token}")


async def events_access(
    workspace_id: str,
    job_id: str,
    request: Request,
    db: DbSession,
    ctx: Ctx,
    anonymous: AnonymousActor,
    token: Annotated[
        str | None,
        Query(max_length=2000, description="From `POST …/events/token`, instead of an Authorization header."),
    ] = None,
) -> WorkspaceAccess:
    """A viewer, known by the Authorization header as everywhere or, without one, by an events token."""
    if token is None or request.headers.get("authorization"):
        principal = await get_principal(request, db)
        access = await run_in_threadpool(get_workspace_access, workspace_id, principal, db, ctx, request)
    else:

        def by_token(events_token: str) -> WorkspaceAccess:
            access = event_tokens.access_by_token(
                db, ctx=ctx, token=events_token, workspace_id=workspace_id, job_id=job_id, actor=anonymous
            )
            limit_requests(db, ctx, access, request=request)
            return access

        access = await run_in_threadpool(by_token, token)
    access.require(Role.VIEWER)
    return access


def _event_id(last_event_id: str | None) -> int:
    """The id a Last-Event-ID names; 0 (replay from the start) for what no event can have."""
    if not last_event_id or not (last_event_id.isascii() and last_event_id.isdigit()):
        return 0
    if len(last_event_id) > len(str(MAX_INTEGER)) or int(last_event_id) > MAX_INTEGER:
        return 0
    return int(last_event_id)


@router.get(
    "/{job_id}/events",
    summary="Follow a job (Server-Sent Events)",
    responses={
        **responses(401, 403, 404),
        200: {"content": {"text/event-stream": {}}},
        204: {"description": "The job is over and the client has seen all its events"},
    },
)
async def job_events(
    job_id: str,
    request: Request,
    db: DbSession,
    access: Annotated[WorkspaceAccess, Depends(events_access)],
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """Replays the job's events, then streams new ones (progress, stage, log, state) until a final state.
    Honours `Last-Event-ID` (204 when the job is over and nothing follows it); sends a heartbeat comment every 15 s.
    Works whichever process runs the job. A browser's `EventSource`, which cannot send headers, passes
    `?token=` from `POST …/events/token` instead."""
    database = request.app.state.db
    after = _event_id(last_event_id)

    def anything_to_follow() -> bool:
        # The request's own session (ended before the stream starts): a second one while it holds a connection would
        # let as many streams opening at once as the pool has connections wait on each other for a free one.
        job = service.get(db, workspace_id=access.workspace_id, job_id=job_id)
        return job.status not in FINAL_STATES or bool(events.since(db, job_id=job_id, after_id=after, limit=1))

    if not await run_in_threadpool(anything_to_follow):
        # A client reconnecting after the final event would wait forever; 204 tells an EventSource to stop.
        return Response(status_code=204)

    def fetch(since_id: int) -> list[tuple[int, str, dict[str, Any]]]:
        with database.session() as db:
            return [(e.id, e.kind, e.data) for e in events.since(db, job_id=job_id, after_id=since_id)]

    async def stream() -> AsyncIterator[str]:
        nonlocal after
        last_sent = time.monotonic()
        pause = POLL_S
        yield "retry: 2000\n\n"
        while True:
            batch = await run_in_threadpool(fetch, after)
            pause = POLL_S if batch else min(pause * 1.5, IDLE_POLL_S)
            for number, (event_id, kind, data) in enumerate(batch, start=1):
                after = event_id
                last_sent = time.monotonic()
                yield _sse(event_id, kind, data)
                # A retried job's history holds the earlier attempt's end: the stream ends at the last one only.
                last = kind == "state" and data.get("final") and number == len(batch)
                if last and not await run_in_threadpool(fetch, event_id):
                    return
            if await request.is_disconnected():
                return
            if time.monotonic() - last_sent >= HEARTBEAT_S:
                last_sent = time.monotonic()
                yield ": heartbeat\n\n"
            await anyio.sleep(pause)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@admin.get("/queue", summary="Queue overview (superusers)", responses=responses(401, 403))
def queue_overview(db: DbSession, me: SuperUser) -> QueueOverview:
    """Jobs by state and queue, the oldest queued job's age, and workers seen in the last minute."""
    return service.queue_overview(db)


@admin.get("/jobs", summary="Jobs in every workspace (superusers)", responses=responses(401, 403, 422))
def list_all_jobs(
    db: DbSession,
    me: SuperUser,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AdminJobOut]:
    """Jobs of every workspace, newest first, with the worker on each and its last heartbeat: running jobs and
    recent failures for operators."""
    rows, next_cursor = service.list_all_jobs(db, cursor=cursor, limit=limit, status=status, queue=queue, type=type)
    return Page(items=[admin_job_out(job) for job in rows], next_cursor=next_cursor)


@job_types.get("", summary="Job types and their options", responses=responses(401))
async def list_job_types(principal: CurrentPrincipal) -> Page[JobTypeOut]:
    """Every job type this server runs, with JSON Schemas of its `input` and `params`: enough to build a form."""
    return Page(
        items=[
            JobTypeOut(
                name=job_type.name,
                queue=job_type.queue,
                description=job_type.description,
                timeout_s=job_type.timeout_s,
                input_schema=job_type.input_model.model_json_schema(),
                params_schema=job_type.params_model.model_json_schema(),
            )
            for job_type in sorted(registered().values(), key=lambda job_type: job_type.name)
        ]
    )
