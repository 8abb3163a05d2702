"""Job events: appended in the same transaction as the change they describe, read by SSE streams in any process."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from voxhub.jobs.models import EventKind, JobEvent


def emit(db: Session, *, job_id: str, kind: EventKind, data: dict[str, Any]) -> None:
    """Append an event to the job's stream, in the caller's transaction."""
    db.add(JobEvent(job_id=job_id, kind=kind.value, data=data))


def since(db: Session, *, job_id: str, after_id: int, limit: int = 500) -> list[JobEvent]:
    """The job's events after `after_id`, oldest first."""
    return list(
        db.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > after_id).order_by(JobEvent.id).limit(limit)
        )
    )
