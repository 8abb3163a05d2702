"""Running one job: claim it, run its pipeline with a JobContext under a heartbeat, and settle it exactly once."""

from __future__ import annotations

import enum
import errno
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from voxhub.audit.service import Actor
from voxhub.context import AppContext
from voxhub.db import Database, job_workspace
from voxhub.errors import is_database_outage
from voxhub.files import service as files
from voxhub.jobs import service
from voxhub.jobs.context import DISK_FULL_MESSAGE, JobContext
from voxhub.jobs.deadline import run_within_deadline
from voxhub.jobs.metrics import observe_finished, observe_started
from voxhub.jobs.models import Job, JobStatus
from voxhub.jobs.registry import JobCanceled, JobTimedOut, PipelineError, WorkerStopping, registered
from voxhub.storage import StorageError
from voxhub.telemetry import count_job_finished, job_span

log = logging.getLogger("voxhub.jobs")


class Ending(enum.StrEnum):
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    REQUEUED = "requeued"  # the worker is stopping: the job runs again elsewhere
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """How one run of a job ended, before it is settled."""

    ending: Ending
    error_code: str | None = None
    error_message: str | None = None
    transient: bool = False  # a failure worth another attempt

    @classmethod
    def failed(cls, code: str, message: str, *, transient: bool) -> Outcome:
        return cls(Ending.FAILED, code, message, transient)


def new_worker_id(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Heartbeat:
    """Keeps `heartbeat_at` fresh while a job runs, so the reaper can tell a live worker from a dead one."""

    def __init__(self, database: Database, job_id: str, worker_id: str, every_s: float) -> None:
        self.database, self.job_id, self.worker_id, self.every_s = database, job_id, worker_id, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id[:8]}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                with self.database.session() as db:
                    if not service.heartbeat(db, job_id=self.job_id, worker_id=self.worker_id):
                        return
            except Exception:
                log.warning("heartbeat for job %s failed", self.job_id, exc_info=True)


def run_job(
    database: Database, ctx: AppContext, job_id: str, worker_id: str, stopping: threading.Event | None = None
) -> str | None:
    """Claim and run one job. Returns its final (or requeued) status, or None when it was not ours to run.
    Once `stopping` is set, the job stops at its next checkpoint and goes back to the queue."""
    with database.session() as db:
        if not service.claim(db, ctx=ctx, job_id=job_id, worker_id=worker_id):
            return None
        job = db.get(Job, job_id)
        assert job is not None
        db.expunge(job)
    if job.heartbeat_at is not None:
        observe_started(job.type, (job.heartbeat_at - job.queued_at).total_seconds())
    kind = registered().get(job.type)
    scratch_root = Path(ctx.settings.data_dir) / "scratch"
    context = JobContext(
        database=database, app=ctx, job=job, worker_id=worker_id, scratch_root=scratch_root, stopping=stopping
    )
    started = time.monotonic()
    outcome: Outcome
    try:
        with (
            _Heartbeat(database, job_id, worker_id, max(1.0, ctx.settings.job_stale_after_s / 4)),
            job_span(job_id=job.id, workspace_id=job.workspace_id, job_type=job.type, attempt=job.attempts),
        ):
            if kind is None:
                raise PipelineError("unknown_job_type", f"This worker does not know job type {job.type!r}.")
            job_input = kind.input_model.model_validate(job.input)
            params = kind.params_model.model_validate(job.params)
            with job_workspace(job.workspace_id):  # the pipeline's sessions see this workspace's rows alone
                result = run_within_deadline(context, lambda: kind.run(context, job_input, params))
            context.stopping = None  # the work is done: a shutdown now must not throw it away
            context.check_canceled(force=True)
        outcome = Outcome(Ending.SUCCEEDED)
    except JobCanceled:
        outcome = Outcome(Ending.CANCELED)
    except WorkerStopping:
        outcome = Outcome(Ending.REQUEUED)
    except JobTimedOut:
        outcome = Outcome.failed("timeout", f"The job ran past its {job.timeout_s} s limit.", transient=False)
    except PipelineError as error:
        outcome = Outcome.failed(error.code, error.message, transient=error.transient)
    except StorageError as error:
        outcome = Outcome.failed("storage_unavailable", str(error), transient=True)
    except Exception as error:  # a bug or an unexpected condition: logged, retried like a transient failure
        if is_database_outage(error):
            outcome = Outcome.failed("database_unavailable", "The database was not reachable.", transient=True)
        elif _disk_full_error(error):
            outcome = Outcome.failed("worker_disk_full", DISK_FULL_MESSAGE, transient=True)
        else:
            log.exception("job %s (%s) crashed", job_id, job.type)
            outcome = Outcome.failed("internal_error", f"Unexpected error: {type(error).__name__}", transient=True)
    finally:
        disk_full = context.disk_full()  # looked at before the scratch dir goes, which frees what it held
        context.close()
    if outcome.ending is Ending.FAILED and disk_full:
        # Whatever the failure looked like to the pipeline (an ffmpeg error, an OSError), this was its cause.
        outcome = Outcome.failed("worker_disk_full", DISK_FULL_MESSAGE, transient=True)
    return _settle(
        database, ctx, job, worker_id, outcome, locals().get("result"), context.outputs, time.monotonic() - started
    )


def _disk_full_error(error: BaseException | None) -> bool:
    """Whether `error`, or one it was raised from, is the disk refusing a write (ENOSPC, or a quota's EDQUOT)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        error = error.__cause__ or error.__context__
    return False


def _settle(
    database: Database,
    ctx: AppContext,
    job: Job,
    worker_id: str,
    outcome: Outcome,
    result: object,
    written: list[str],
    elapsed: float,
) -> str | None:
    """Record how the run ended. While the database is unreachable (restarting) the worker keeps trying, for as long
    as the reaper would wait before it takes the job over: the outcome is known, and rerunning the job would be
    waste. Past that, the job is left running, and the reaper requeues it."""
    give_up_at = time.monotonic() + ctx.settings.job_stale_after_s
    pause = 0.25
    while True:
        try:
            return _settle_once(database, ctx, job, worker_id, outcome, result, written, elapsed)
        except Exception as error:
            if not is_database_outage(error) or time.monotonic() > give_up_at:
                raise
            log.warning("could not settle job %s: the database is not reachable; trying again", job.id)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _settle_once(
    database: Database,
    ctx: AppContext,
    job: Job,
    worker_id: str,
    outcome: Outcome,
    result: object,
    written: list[str],
    elapsed: float,
) -> str | None:
    with database.session() as db:
        if outcome.ending is Ending.SUCCEEDED:
            settled = service.succeed(
                db, ctx=ctx, job_id=job.id, worker_id=worker_id, result=result if isinstance(result, dict) else {}
            )
        elif outcome.ending is Ending.CANCELED:
            settled = service.mark_canceled(db, ctx=ctx, job_id=job.id, worker_id=worker_id)
        elif outcome.ending is Ending.REQUEUED:
            settled = service.release(db, ctx=ctx, job_id=job.id, worker_id=worker_id)
        else:
            assert outcome.error_code is not None
            settled = service.fail(
                db,
                ctx=ctx,
                job_id=job.id,
                worker_id=worker_id,
                code=outcome.error_code,
                message=outcome.error_message or "",
                transient=outcome.transient,
            )
        if written and (settled is None or settled.status != JobStatus.SUCCEEDED):
            # Canceled, failed, retrying, or taken over by another worker: this attempt leaves no outputs behind.
            files.remove_outputs(db, ctx=ctx, file_ids=written, actor=Actor(user_agent=f"worker {worker_id}"))
            current = db.get(Job, job.id)
            if current is not None:
                current.outputs = [f for f in current.outputs if f not in written]
        status = settled.status if settled is not None else None
    log.info("job %s (%s) -> %s in %.2fs", job.id, job.type, status or "lost", elapsed)
    observe_finished(job.type, status, elapsed)
    count_job_finished(job.type, status)
    return status
