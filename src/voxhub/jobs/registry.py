"""Job types: each names its queue, its input and params models, its default timeout and its pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from voxhub.billing.service import JobSize
    from voxhub.context import AppContext
    from voxhub.jobs.context import JobContext

QUEUES = ("asr", "tts", "media", "text", "default")


class PipelineError(Exception):
    """A job failed for a reason the user should see. Transient errors (an engine timeout, a storage hiccup)
    are retried with backoff; the others fail the job at once with their code."""

    def __init__(self, code: str, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient


class JobCanceled(Exception):
    pass


class JobTimedOut(Exception):
    pass


class WorkerStopping(Exception):
    """The process running the job is shutting down: the job goes back to the queue and runs again."""


@dataclass(frozen=True)
class JobType:
    name: str
    queue: str
    input_model: type[BaseModel]
    params_model: type[BaseModel]
    run: Callable[[JobContext, Any, Any], dict[str, Any]]
    timeout_s: int = 3600
    description: str = ""
    # Checks that need the database or settings, run when the job is created so a bad request gets its 4xx at once
    # instead of a failed job: check(db, ctx, workspace_id, job_input, params). Raise a VoxhubError.
    check: Callable[[Session, AppContext, str, Any, Any], None] | None = None
    # What the job's price counts, for types whose size is not their input file's duration or their text (the
    # tokens a language model will read and write): size(db, ctx, workspace_id, job_input, params).
    size: Callable[[Session, AppContext, str, Any, Any], JobSize] | None = None
    # The queue of a job whose work depends on its request (a translation the language model writes goes to `text`,
    # where the GPU machines listen): queue_for(db, ctx, workspace_id, job_input, params); `queue` otherwise.
    queue_for: Callable[[Session, AppContext, str, Any, Any], str] | None = None


JOB_TYPES: dict[str, JobType] = {}


def register(job_type: JobType) -> JobType:
    assert job_type.queue in QUEUES, job_type.queue
    JOB_TYPES[job_type.name] = job_type
    return job_type


def registered() -> dict[str, JobType]:
    """Every job type registered in this process (the app and the worker register the pipelines when assembled)."""
    return JOB_TYPES
