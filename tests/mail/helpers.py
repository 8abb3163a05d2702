"""Sending mail through the real mailer, as a domain does, and reading what it logged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from voxhub.clock import utcnow
from voxhub.ids import new_id
from voxhub.jobs.models import Job
from voxhub.jobs.service import JobFinished, job_finished
from voxhub.mail.models import EmailLog


def send(app: Any, *, template: str, to: str, context: dict[str, Any], **extra: Any) -> None:
    """`Mailer.send_after_commit` in a unit of work of its own; returns once the mail was handed over (or not)."""
    with app.state.db.session() as db:
        app.state.ctx.mailer.send_after_commit(db, template=template, to=to, context=context, **extra)
    app.state.ctx.mailer.flush()


def finish_job(app: Any, *, workspace_id: str, user_id: str, took_s: float, job_id: str | None = None) -> str:
    """Tell the rooms above the jobs room that a transcription `user_id` started succeeded after `took_s` seconds."""
    now = utcnow()
    job = Job(
        id=job_id or new_id(),
        workspace_id=workspace_id,
        type="transcribe",
        queue="asr",
        status="succeeded",
        input={},
        params={},
        meta={},
        created_by=user_id,
        created_at=now - timedelta(seconds=took_s),
        finished_at=now,
    )
    with app.state.db.session() as db:
        job_finished.send(db, JobFinished(ctx=app.state.ctx, job=job))
    app.state.ctx.mailer.flush()
    return job.id


def logged(app: Any, **where: Any) -> list[EmailLog]:
    """Rows of the email log (oldest first), read as an operator."""
    with app.state.db.session() as db:
        query = select(EmailLog).filter_by(**where).order_by(EmailLog.id)
        return list(db.scalars(query))


JOB_CONTEXT = {"name": "Ada", "job_label": "transcription", "minutes": 3.0, "job_id": "j1", "workspace_id": "w1"}
