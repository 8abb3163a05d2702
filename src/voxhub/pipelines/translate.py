"""translate: a transcript (by its job) or plain text → another language. Segment timings are kept, so translated
subtitles line up with the audio. The local engine is Bergamot for the pairs it has (English ↔ Portuguese) and the
language model for every other pair, unless text generation is off (VOXHUB_LLM_ENGINE=none)."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.engines.base import EngineError, Translator
from voxhub.engines.llm_translate import LlmTranslator
from voxhub.engines.mt import check_language
from voxhub.errors import Unprocessable, VoxhubError, field_errors
from voxhub.jobs import service as jobs
from voxhub.jobs.context import JobContext
from voxhub.jobs.registry import JobType, PipelineError
from voxhub.pipelines.speech import pipeline_error, remote_for
from voxhub.transcripts import service as transcripts

BATCH = 20  # segments per engine call: progress and cancellation between batches


class TranslateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str | None = Field(default=None, max_length=36, description="A succeeded transcribe job.")
    text: str | None = Field(default=None, max_length=100_000, description="Or plain text.")

    @model_validator(mode="after")
    def _one_source(self) -> TranslateInput:
        if (self.job_id is None) == (self.text is None):
            raise ValueError("give exactly one of job_id and text")
        if self.text is not None and not self.text.strip():
            raise ValueError("text is empty")
        return self


class TranslateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_language: str = Field(max_length=16, description="ISO 639-1 code, e.g. 'pt'.")
    source_language: str | None = Field(default=None, max_length=16, description="Default: the transcript's language.")
    engine: Literal["local", "remote"] | None = Field(default=None, description="Default from VOXHUB_MT_ENGINE.")

    @field_validator("target_language", "source_language")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_language(value)
        except EngineError as exc:
            raise ValueError(exc.message) from exc


def _engine(settings: Settings, params: TranslateParams) -> str:
    return params.engine or settings.mt_engine


def _by_llm(settings: Settings, params: TranslateParams, source: str, target: str) -> bool:
    """Whether the language model translates this: chosen locally, for a pair Bergamot lacks, with a model to do it."""
    if _engine(settings, params) != "local" or settings.llm_engine == "none":
        return False
    return (source, target) not in engines.translator(settings, engine="local").pairs()


def _source_language(
    db: Session, settings: Settings, workspace_id: str, job_input: TranslateInput, params: TranslateParams
) -> str:
    if params.source_language:
        return params.source_language
    if job_input.job_id:
        return transcripts.get(db, workspace_id=workspace_id, job_id=job_input.job_id).language
    # Plain text without a source: the local engine knows only two languages, so the other one is the source.
    if _engine(settings, params) == "local" and params.target_language in ("en", "pt"):
        return "pt" if params.target_language == "en" else "en"
    return "auto"


def _check(db: Session, ctx: AppContext, workspace_id: str, job_input: TranslateInput, params: TranslateParams) -> None:
    target = params.target_language
    if job_input.job_id:
        job = jobs.get(db, workspace_id=workspace_id, job_id=job_input.job_id)
        if job.type != "transcribe":
            raise Unprocessable(
                "input.job_id must name a transcribe job.",
                code="validation_error",
                details=field_errors(("input.job_id", f"a {job.type} job, not a transcribe job")),
            )
        # Even with another source_language named: a translation into the transcript's own language could not be
        # told apart from the transcript itself (?lang= names both).
        spoken = transcripts.get(db, workspace_id=workspace_id, job_id=job_input.job_id).language
        if spoken == target:
            raise Unprocessable(
                f"The transcript is already in {target}.", code="same_language", details={"language": target}
            )
    source = _source_language(db, ctx.settings, workspace_id, job_input, params)
    if source == target:
        raise Unprocessable(f"The text is already in {source}.", code="same_language", details={"language": source})
    if _engine(ctx.settings, params) == "local" and not _by_llm(ctx.settings, params, source, target):
        local = engines.translator(ctx.settings, engine="local")
        # "auto" (plain text, no source) is left only for a target the local engine never writes: refused too
        if (source, target) not in local.pairs():
            try:
                local.translate([], source=source, target=target)
            except EngineError as exc:
                raise Unprocessable(exc.message, code=exc.code, details=exc.details) from exc


def _queue(db: Session, ctx: AppContext, workspace_id: str, job_input: TranslateInput, params: TranslateParams) -> str:
    """`text` when the language model writes the translation, so it runs where text generation is routed."""
    source = _source_language(db, ctx.settings, workspace_id, job_input, params)
    return "text" if _by_llm(ctx.settings, params, source, params.target_language) else "default"


def translate_texts(engine: Translator, texts: list[str], *, source: str, target: str, progress: Any) -> list[str]:
    out: list[str] = []
    for start in range(0, len(texts), BATCH):
        try:
            out.extend(engine.translate(texts[start : start + BATCH], source=source, target=target))
        except EngineError as exc:
            raise pipeline_error(exc) from exc
        progress(5 + 90 * len(out) / max(len(texts), 1))
    return out


def run(ctx: JobContext, job_input: TranslateInput, params: TranslateParams) -> dict[str, Any]:
    ctx.progress(0, "preparing")
    settings = ctx.app.settings
    target = params.target_language
    with ctx.database.session() as db:
        remote = remote_for(db, ctx.app, ctx.workspace_id, "mt") if _engine(settings, params) == "remote" else None
        try:
            source = _source_language(db, settings, ctx.workspace_id, job_input, params)
            original = (
                transcripts.get(db, workspace_id=ctx.workspace_id, job_id=job_input.job_id)
                if job_input.job_id
                else None
            )
        except VoxhubError as exc:  # the transcription was deleted since: nothing to retry
            raise PipelineError(exc.code, exc.message) from exc
        data = copy.deepcopy(original.data) if original else None
        source_version = original.version if original else None
        by_llm = _by_llm(settings, params, source, target)
        llm_remote = (
            remote_for(db, ctx.app, ctx.workspace_id, "llm") if by_llm and settings.llm_engine == "remote" else None
        )
    engine: Translator
    generator = engines.text_generator(settings, remote=llm_remote) if by_llm else None
    if generator is not None:
        engine = LlmTranslator(generator)
    else:
        engine = engines.translator(settings, engine=params.engine, remote=remote)

    def progress(pct: float) -> None:
        ctx.progress(pct)
        ctx.check_canceled()

    ctx.progress(5, "translating")
    if data is None:
        lines = (job_input.text or "").split("\n")
        indexes = [index for index, line in enumerate(lines) if line.strip()]
        translated = translate_texts(
            engine, [lines[i] for i in indexes], source=source, target=target, progress=progress
        )
        for index, text in zip(indexes, translated, strict=True):
            lines[index] = text
        return {"text": "\n".join(lines), "language": target, "source_language": source, "engine": engine.name}
    segments = data.get("segments") or []
    translated = translate_texts(engine, [s["text"] for s in segments], source=source, target=target, progress=progress)
    for segment, text in zip(segments, translated, strict=True):
        segment["text"] = text.strip()
        segment["words"] = []  # word timings belong to the spoken language
    data.update(language=target, translated_from=source, source_version=source_version, engine=engine.name)
    if not any(segment["text"] for segment in segments):
        raise PipelineError("translation_failed", "The engine returned no text.")
    ctx.progress(97, "saving")
    with ctx.database.session() as db:
        transcripts.save_from_job(
            db,
            workspace_id=ctx.workspace_id,
            job_id=str(job_input.job_id),
            data=data,
            variant=target,
            produced_by_job=ctx.job_id,
        )
    return {
        "source_job_id": job_input.job_id,
        "language": target,
        "source_language": source,
        "source_version": source_version,
        "segments": len(segments),
        "engine": engine.name,
    }


JOB_TYPE = JobType(
    name="translate",
    queue="default",
    input_model=TranslateInput,
    params_model=TranslateParams,
    run=run,
    timeout_s=3600,
    description="A transcript (keeping its timing) or plain text → another language.",
    check=_check,
    queue_for=_queue,
)
