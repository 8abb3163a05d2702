"""Transcripts: saved by transcribe and translate jobs, read in any export format, corrected by users in versions."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voxhub.audit import service as audit
from voxhub.errors import Conflict, NotFound, Unprocessable, field_errors
from voxhub.hooks import Hook
from voxhub.jobs import service as jobs
from voxhub.jobs.models import Job, JobStatus
from voxhub.transcripts.models import ORIGINAL, TranscriptVersion
from voxhub.workspaces.models import Role
from voxhub.workspaces.service import WorkspaceAccess

TRANSCRIPT_JOB_TYPES = ("transcribe", "translate")

# A version of a transcript was saved (a job's, a translation's or an edit): what reads transcripts (the search index)
# catches up.
transcript_saved: Hook[TranscriptVersion] = Hook("transcript.saved")


def save_from_job(
    db: Session,
    *,
    workspace_id: str,
    job_id: str,
    data: dict[str, Any],
    variant: str = ORIGINAL,
    produced_by_job: str | None = None,
) -> TranscriptVersion:
    """Version 1 of a job's transcript (or of one translation of it). A retried job replaces what an earlier attempt
    saved, and a repeated translation to the same language starts its versions afresh."""
    db.execute(
        delete(TranscriptVersion).where(TranscriptVersion.job_id == job_id, TranscriptVersion.variant == variant)
    )
    row = TranscriptVersion(
        workspace_id=workspace_id,
        job_id=job_id,
        variant=variant,
        version=1,
        language=str(data.get("language") or ""),
        source="translation" if produced_by_job else "job",
        produced_by_job=produced_by_job,
        data=data,
    )
    db.add(row)
    db.flush()
    transcript_saved.send(db, row)
    return row


def _resolve(db: Session, *, workspace_id: str, job_id: str, lang: str | None) -> tuple[Job, str]:
    """The job holding the transcript and the variant asked for. A translate job's transcript lives with the
    transcription it translated, as the variant named by its target language."""
    job = jobs.get(db, workspace_id=workspace_id, job_id=job_id)
    if job.type not in TRANSCRIPT_JOB_TYPES:
        raise NotFound(f"A {job.type} job has no transcript.", code="transcript_not_found")
    if job.status != JobStatus.SUCCEEDED.value:
        raise Conflict(
            f"The job is {job.status}; its transcript exists once it has succeeded.",
            code="transcript_not_ready",
            details={"status": job.status},
        )
    if job.type == "translate":
        source_job_id = (job.result or {}).get("source_job_id")
        if not source_job_id:
            raise NotFound(
                "This translate job translated plain text; its result holds the text.", code="transcript_not_found"
            )
        return jobs.get(db, workspace_id=workspace_id, job_id=source_job_id), lang or (job.result or {})["language"]
    return job, lang or ORIGINAL


def _variant_for(db: Session, job: Job, lang: str) -> str:
    """`?lang=` may name the original's own language as well as a translation's."""
    if lang == ORIGINAL:
        return ORIGINAL
    original = latest_row(db, job_id=job.id, variant=ORIGINAL)
    if original is not None and original.language == lang:
        return ORIGINAL
    return lang


def latest_row(db: Session, *, job_id: str, variant: str) -> TranscriptVersion | None:
    """The newest version of a job's transcript in one variant (original or a translation), or None."""
    return db.scalar(
        select(TranscriptVersion)
        .where(TranscriptVersion.job_id == job_id, TranscriptVersion.variant == variant)
        .order_by(TranscriptVersion.version.desc())
        .limit(1)
    )


def get(
    db: Session, *, workspace_id: str, job_id: str, lang: str | None = None, version: int | None = None
) -> TranscriptVersion:
    """A job's transcript in a language (the original by default) at a version (the latest by default), or 404."""
    job, variant = _resolve(db, workspace_id=workspace_id, job_id=job_id, lang=lang)
    variant = _variant_for(db, job, variant)
    if version is None:
        row = latest_row(db, job_id=job.id, variant=variant)
    else:
        row = db.scalar(
            select(TranscriptVersion).where(
                TranscriptVersion.job_id == job.id,
                TranscriptVersion.variant == variant,
                TranscriptVersion.version == version,
            )
        )
    if row is None:
        available = db.scalars(
            select(TranscriptVersion.variant).where(TranscriptVersion.job_id == job.id).distinct()
        ).all()
        raise NotFound(
            "No such transcript"
            + (f" in {lang!r}" if lang else "")
            + (f" at version {version}" if version else "")
            + ".",
            code="transcript_not_found",
            details={"languages": sorted(available)},
        )
    return row


def languages(db: Session, *, workspace_id: str, job_id: str) -> list[TranscriptVersion]:
    """The latest version of a transcription in each language it exists in: the original first, then its
    translations by language."""
    job, _variant = _resolve(db, workspace_id=workspace_id, job_id=job_id, lang=None)
    newest = (
        select(TranscriptVersion.variant, func.max(TranscriptVersion.version).label("version"))
        .where(TranscriptVersion.job_id == job.id)
        .group_by(TranscriptVersion.variant)
        .subquery()
    )
    rows = db.scalars(
        select(TranscriptVersion)
        .join(
            newest,
            (TranscriptVersion.variant == newest.c.variant) & (TranscriptVersion.version == newest.c.version),
        )
        .where(TranscriptVersion.job_id == job.id)
    )
    return sorted(rows, key=lambda row: (row.variant != ORIGINAL, row.language))


def versions(db: Session, *, workspace_id: str, job_id: str, lang: str | None = None) -> list[TranscriptVersion]:
    """Every version of a job's transcript in a language, oldest first."""
    job, variant = _resolve(db, workspace_id=workspace_id, job_id=job_id, lang=lang)
    variant = _variant_for(db, job, variant)
    return list(
        db.scalars(
            select(TranscriptVersion)
            .where(TranscriptVersion.job_id == job.id, TranscriptVersion.variant == variant)
            .order_by(TranscriptVersion.version)
        )
    )


def edit(
    db: Session,
    *,
    access: WorkspaceAccess,
    job_id: str,
    segments: list[dict[str, Any]],
    speakers: dict[str, str],
    base_version: int | None,
    lang: str | None = None,
) -> TranscriptVersion:
    """Correct segment text and speaker labels, and name speakers: a new version on top of the latest. With
    `base_version`, an edit made against an older version is refused (409) instead of silently undoing another."""
    access.require(Role.MEMBER)
    current = get(db, workspace_id=access.workspace_id, job_id=job_id, lang=lang)
    if base_version is not None and base_version != current.version:
        raise Conflict(
            f"The transcript is at version {current.version}, not {base_version}; reload it and edit again.",
            code="version_conflict",
            details={"current_version": current.version},
        )
    data = copy.deepcopy(current.data)
    by_id = {segment["id"]: segment for segment in data.get("segments", [])}
    changed: list[int] = []
    for patch in segments:
        segment = by_id.get(patch["id"])
        if segment is None:
            raise Unprocessable(
                f"There is no segment {patch['id']}.",
                code="validation_error",
                details=field_errors(("segments.id", f"unknown segment {patch['id']}")),
            )
        if patch.get("text") is not None and patch["text"].strip() != segment["text"]:
            segment["text"] = patch["text"].strip()
            segment["words"] = []  # word timings described the old text
            segment["edited"] = True
        if "speaker" in patch:
            if patch["speaker"]:
                segment["speaker"] = patch["speaker"]
            else:
                segment.pop("speaker", None)
        changed.append(patch["id"])
    if speakers:
        names = dict(data.get("speakers") or {})
        for label, name in speakers.items():
            if name:
                names[label] = name
            else:
                names.pop(label, None)
        data["speakers"] = names
    # Number from the highest version of this variant, under the unique constraint: two concurrent edits cannot
    # both become version N+1 — the second fails and its caller retries on the new latest.
    highest = db.scalar(
        select(func.max(TranscriptVersion.version)).where(
            TranscriptVersion.job_id == current.job_id, TranscriptVersion.variant == current.variant
        )
    )
    row = TranscriptVersion(
        workspace_id=current.workspace_id,
        job_id=current.job_id,
        variant=current.variant,
        version=int(highest or 0) + 1,
        language=current.language,
        source="edit",
        data=data,
        created_by=access.user.id if access.user else None,
    )
    try:
        with db.begin_nested():
            db.add(row)
    except IntegrityError as exc:
        raise Conflict(
            "Another edit of this transcript landed first; reload it and edit again.", code="version_conflict"
        ) from exc
    transcript_saved.send(db, row)
    audit.record(
        db,
        actor=access.actor,
        action="transcript.edited",
        workspace_id=access.workspace_id,
        target_type="job",
        target_id=current.job_id,
        summary={"variant": current.variant, "version": row.version, "segments": changed, "speakers": sorted(speakers)},
    )
    return row
