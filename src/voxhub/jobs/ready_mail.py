"""The "your job is ready" mail: when a job someone started succeeds after a wait long enough that they have likely
moved on, its starter is mailed (jobs mail: optional, with an unsubscribe link; once per job)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from voxhub.accounts.models import User
from voxhub.clock import as_utc
from voxhub.jobs.models import JobStatus
from voxhub.jobs.service import JobFinished, job_finished

# What a person calls each job type's result; podcast episodes announce themselves (podcasts' own mail).
LABELS = {
    "transcribe": "transcription",
    "translate": "translation",
    "synthesize": "speech",
    "media.convert": "conversion",
    "insights": "summary",
    "dub": "dub",
    "dub_render": "dub",
}
SILENT_PREFIXES = ("podcast",)


def mail_job_ready(db: Session, event: JobFinished) -> None:
    """Mail the user who started `event.job` that it succeeded, when it took at least VOXHUB_JOB_READY_MAIL_AFTER_S."""
    job, ctx = event.job, event.ctx
    if job.status != JobStatus.SUCCEEDED or not job.created_by or job.type.startswith(SILENT_PREFIXES):
        return
    if job.finished_at is None or (
        (as_utc(job.finished_at) - as_utc(job.created_at)).total_seconds() < ctx.settings.job_ready_mail_after_s
    ):
        return
    user = db.get(User, job.created_by)
    if user is None or user.deleted_at is not None:
        return
    ctx.mailer.send_after_commit(
        db,
        template="job_ready",
        to=user.email,
        context={
            "name": user.name,
            "job_label": LABELS.get(job.type, job.type.replace(".", " ")),
            "minutes": round((as_utc(job.finished_at) - as_utc(job.created_at)).total_seconds() / 60, 1),
            "job_id": job.id,
            "workspace_id": job.workspace_id,
        },
        user_id=user.id,
        workspace_id=job.workspace_id,
        event_key=f"job_ready:{job.id}",
    )


def connect() -> None:
    """Listen for finished jobs (idempotent; the app and the worker call it when they register job types)."""
    job_finished.connect(mail_job_ready)
