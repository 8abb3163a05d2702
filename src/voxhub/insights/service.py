"""Insights of transcripts: reading the transcript, making the insights with a language model or the extractive
method, keeping them per insights job, and finding them again by the insights job or by the transcription."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from voxhub.engines.embed import Embedder
from voxhub.engines.llm import TextGenerator
from voxhub.errors import Conflict, NotFound, Unprocessable, VoxhubError, field_errors
from voxhub.insights import extractive, generative
from voxhub.insights.models import Insights
from voxhub.insights.schemas import (
    InsightsDocument,
    InsightsEngine,
    InsightsOptions,
    InsightsOut,
    Skipped,
    Usage,
)
from voxhub.insights.segments import Segment, coverage, from_text, from_transcript, sentences
from voxhub.jobs import service as jobs
from voxhub.jobs.models import JobStatus
from voxhub.transcripts import service as transcripts
from voxhub.transcripts.models import ORIGINAL

JOB_TYPE = "insights"
SOURCE_JOB_TYPE = "transcribe"
NO_LLM = (
    "Action items need a language model (VOXHUB_LLM_ENGINE=local or remote); the extractive method only picks "
    "sentences and phrases that were said."
)

Progress = Callable[[float], None]  # fraction done, 0 to 1; may raise to stop the work


@dataclass(frozen=True)
class Source:
    """The text insights are made of: a transcription's transcript at one version, or plain text."""

    segments: list[Segment]
    language: str | None
    duration: float | None = None
    job_id: str | None = None
    variant: str | None = None
    version: int | None = None


def read_transcript(db: Session, *, workspace_id: str, job_id: str, language: str | None = None) -> Source:
    """The latest transcript of a transcribe job of this workspace: 404 for another workspace's or an unknown job,
    422 for a job that is no transcription or a transcript without words, 409 while it is not done. With
    `language`, its translation into that language when there is one."""
    job = jobs.get(db, workspace_id=workspace_id, job_id=job_id)
    if job.type != SOURCE_JOB_TYPE:
        raise Unprocessable(
            f"input.job_id must name a transcribe job, not a {job.type} job.",
            code="validation_error",
            details=field_errors(("input.job_id", f"a {job.type} job, not a transcribe job")),
        )
    row = transcripts.get(db, workspace_id=workspace_id, job_id=job_id)
    if language and language != row.language:
        with contextlib.suppress(NotFound):  # no translation: a language model writes in `language` instead
            row = transcripts.get(db, workspace_id=workspace_id, job_id=job_id, lang=language)
    segments = from_transcript(row.data)
    if not segments:
        raise Unprocessable(
            "The transcript has no text to make insights of.", code="empty_transcript", details={"job_id": job_id}
        )
    duration = row.data.get("duration_s")
    return Source(
        segments=segments,
        language=row.language or None,
        duration=float(duration) if duration is not None else None,
        job_id=job_id,
        variant=row.variant,
        version=row.version,
    )


def text_source(text: str) -> Source:
    """Plain text as numbered sentences, without times or a language."""
    return Source(segments=from_text(text), language=None)


def analyse(
    source: Source,
    options: InsightsOptions,
    *,
    generator: TextGenerator | None,
    embedder: Embedder,
    progress: Progress,
) -> InsightsDocument:
    """Summary, chapters, key phrases and action items of `source`. Chapters begin where the topic changes (by the
    embeddings) and key phrases are found in the text either way; `generator` writes the summary, the chapters'
    headlines and the action items, and without one they are sentences and phrases picked from the text itself
    (`engine: extractive`, and no action items)."""
    segments = source.segments
    language = options.language or source.language or "en"
    spoken = source.language or language
    progress(0.02)
    units = sentences(segments)
    vectors = extractive.embed(units, embedder)
    starts = extractive.chapter_starts(segments, units, vectors)
    chapters = extractive.chapters(segments, units, vectors, starts=starts, language=spoken, duration=source.duration)
    phrases = extractive.key_phrases(segments, language=spoken, starts=starts) if options.key_phrases else None
    progress(0.05)
    if generator is None:
        return InsightsDocument(
            engine=InsightsEngine.EXTRACTIVE,
            model=embedder.model_id,
            language=spoken,  # the extractive method writes nothing: its words are the transcript's
            summary_type=options.summary_type,
            summary=extractive.summary(
                units, vectors, options.summary_type, phrases=phrases or [], chapter_count=len(chapters)
            )
            if options.summary
            else None,
            chapters=chapters if options.chapters else None,
            key_phrases=phrases,
            action_items=[] if options.action_items else None,
            coverage=[coverage(segments)],
            complete=True,
            segments=len(segments),
            skipped=[Skipped(feature="action_items", reason=NO_LLM)] if options.action_items else [],
        )
    written = generative.write(
        segments, chapters, generator, options, language=language, progress=lambda f: progress(0.05 + 0.95 * f)
    )
    skipped = []
    if not written.coverage:
        skipped = [
            Skipped(feature=feature, reason=f"The language model {generator.model_id} gave no usable answer.")
            for feature in ("summary", "chapters", "action_items")
            if getattr(options, feature)
        ]
    return InsightsDocument(
        engine=InsightsEngine(generator.engine),
        model=generator.model_id,
        language=language,
        summary_type=options.summary_type,
        summary=written.summary,
        chapters=written.chapters if options.chapters else None,
        key_phrases=phrases,
        action_items=written.action_items,
        coverage=written.coverage,
        complete=written.complete,
        segments=len(segments),
        skipped=skipped,
        usage=Usage(prompt_tokens=written.prompt_tokens, completion_tokens=written.completion_tokens),
    )


def save(db: Session, *, workspace_id: str, job_id: str, source: Source, document: InsightsDocument) -> Insights:
    """Keep what an insights job made (a retried job replaces what an earlier attempt kept)."""
    db.execute(delete(Insights).where(Insights.job_id == job_id))
    row = Insights(
        workspace_id=workspace_id,
        job_id=job_id,
        source_job_id=source.job_id,
        transcript_variant=source.variant,
        transcript_version=source.version,
        engine=document.engine.value,
        data=document.model_dump(mode="json"),
    )
    db.add(row)
    db.flush()
    return row


def get(db: Session, *, workspace_id: str, job_id: str) -> InsightsOut:
    """The insights of an insights job, or the newest insights of a transcription: 404 for another workspace's or
    an unknown job, for a job of another type and for a transcription nobody made insights of; 409 while the
    insights job is not done."""
    job = jobs.get(db, workspace_id=workspace_id, job_id=job_id)
    if job.type == JOB_TYPE:
        if job.status != JobStatus.SUCCEEDED.value:
            raise Conflict(
                f"The job is {job.status}; its insights exist once it has succeeded.",
                code="insights_not_ready",
                details={"status": job.status},
            )
        row = db.scalar(select(Insights).where(Insights.job_id == job.id))
        if row is None:  # a job that succeeded on plain text before insights were kept
            raise NotFound("This insights job kept no insights; its result holds them.", code="insights_not_found")
        return _out(db, row)
    if job.type != SOURCE_JOB_TYPE:
        raise NotFound(f"A {job.type} job has no insights.", code="insights_not_found")
    for row in _newest_first(db, workspace_id=workspace_id, source_job_id=job.id):
        try:
            made_by = jobs.get(db, workspace_id=workspace_id, job_id=row.job_id)
        except VoxhubError:
            continue  # its insights job was deleted
        if made_by.status == JobStatus.SUCCEEDED.value:
            return _out(db, row)
    raise NotFound(
        "No insights of this transcription yet: start an insights job on it, or transcribe with "
        "params.insights = true.",
        code="insights_not_found",
    )


def _newest_first(db: Session, *, workspace_id: str, source_job_id: str) -> Sequence[Insights]:
    return db.scalars(
        select(Insights)
        .where(Insights.workspace_id == workspace_id, Insights.source_job_id == source_job_id)
        .order_by(Insights.created_at.desc(), Insights.id.desc())
        .limit(50)
    ).all()


def _out(db: Session, row: Insights) -> InsightsOut:
    latest = None
    if row.source_job_id is not None:
        newest = transcripts.latest_row(db, job_id=row.source_job_id, variant=row.transcript_variant or ORIGINAL)
        latest = newest.version if newest is not None else None
    stale = latest is not None and row.transcript_version is not None and latest > row.transcript_version
    return InsightsOut(
        **InsightsDocument.model_validate(row.data).model_dump(),
        job_id=row.job_id,
        source_job_id=row.source_job_id,
        transcript_version=row.transcript_version,
        latest_transcript_version=latest,
        stale=stale,
        created_at=row.created_at,
    )
