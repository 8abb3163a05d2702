"""transcribe: any audio or video → timed segments and words, language, and (on request) speaker labels."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.engines import diarize as diarizer
from voxhub.engines.asr import can_load, installed_models, read_wav
from voxhub.engines.base import EngineError, TranscribeOptions
from voxhub.engines.languages import whisper_language
from voxhub.engines.remote import RemoteConfig
from voxhub.errors import Unprocessable
from voxhub.jobs.context import JobContext
from voxhub.jobs.registry import JobType, PipelineError
from voxhub.pipelines.media_convert import FileInput
from voxhub.pipelines.speech import decode_to_wav, pipeline_error, remote_for
from voxhub.transcripts import service as transcripts

log = logging.getLogger(__name__)

Progress = Callable[[float, str | None], None]  # (percent, stage or None); may raise to stop the work


class TranscribeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(
        default=None, max_length=200, description="An installed Whisper model (GET /v1/models); default from settings."
    )
    engine: Literal["local", "remote"] | None = Field(default=None, description="Default from VOXHUB_ASR_ENGINE.")
    language: str | None = Field(default=None, max_length=16, description="ISO 639-1 code; detected when left out.")
    task: Literal["transcribe", "translate"] = Field(
        default="transcribe", description="`translate` has Whisper write English whatever the spoken language."
    )
    initial_prompt: str | None = Field(default=None, max_length=1000, description="Context or spelling hints.")
    vocabulary: list[str] = Field(
        default_factory=list, max_length=100, description="Words and names to favour (hotwords)."
    )
    temperature: float | None = Field(default=None, ge=0, le=1)
    word_timestamps: bool = True
    vad: bool = Field(default=True, description="Skip non-speech with voice-activity detection.")
    batched: bool | None = Field(default=None, description="Batched inference; by default for audio over 60 s.")
    diarize: bool = Field(default=False, description="Label speakers (when a diarization model is installed).")
    num_speakers: int | None = Field(default=None, ge=1, le=20)
    min_speakers: int | None = Field(default=None, ge=1, le=20)
    max_speakers: int | None = Field(default=None, ge=1, le=20)
    insights: bool = Field(
        default=False, description="Once transcribed, start an insights job on the transcript (its id in the result)."
    )

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        return whisper_language(value) if value else None

    @field_validator("vocabulary")
    @classmethod
    def _clean_vocabulary(cls, value: list[str]) -> list[str]:
        words = [word.strip() for word in value if word.strip()]
        if any(len(word) > 100 for word in words):
            raise ValueError("each vocabulary entry must be at most 100 characters")
        return words

    @model_validator(mode="after")
    def _speaker_bounds(self) -> TranscribeParams:
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise ValueError("min_speakers must not exceed max_speakers")
        return self

    def options(self) -> TranscribeOptions:
        return TranscribeOptions(
            language=self.language,
            task=self.task,
            initial_prompt=self.initial_prompt,
            vocabulary=self.vocabulary,
            temperature=self.temperature,
            word_timestamps=self.word_timestamps,
            vad=self.vad,
            batched=self.batched,
        )


def check_model(settings: Settings, params: TranscribeParams) -> None:
    """A model named in a request must be installed (or fetchable): never a path on the server."""
    if params.model is None or (params.engine or settings.asr_engine) == "remote":
        return
    if can_load(params.model, settings):
        return
    installed = installed_models(settings)
    raise Unprocessable(
        f"Model {params.model!r} is not installed here; installed: {', '.join(installed) or 'none'}.",
        code="model_unavailable",
        details={"model": params.model, "installed": installed},
    )


def transcribe_file(
    settings: Settings,
    source: Path,
    scratch: Path,
    params: TranscribeParams,
    *,
    duration_s: float,
    progress: Progress,
    remote: RemoteConfig | None = None,
) -> dict[str, Any]:
    """Decode, recognise and (on request) diarize one file; the transcript as stored and exported. Shared by the
    job, the synchronous OpenAI-compatible route and the CLI."""
    progress(0, "decoding")
    wav = scratch / "audio-16k.wav"
    decode_to_wav(settings, source, wav, expected_s=duration_s, on_progress=lambda f: progress(max(f, 0) * 10, None))
    engine = engines.transcriber(settings, engine=params.engine, model=params.model, remote=remote)
    share = 75.0 if params.diarize else 85.0
    progress(10, "transcribing")

    def on_audio(done: float, total: float) -> None:
        progress(10 + share * done / max(total, 1e-9), None)

    try:
        result = engine.transcribe(wav, params.options(), on_progress=on_audio)
    except EngineError as exc:
        raise pipeline_error(exc) from exc
    if not result.segments:
        raise PipelineError("no_speech", "No speech was found in the audio.")
    transcript = result.to_dict()
    transcript["diarization"] = "off"
    if params.diarize:
        transcript["diarization"] = _diarize(wav, params, transcript, progress)
    return transcript


def _diarize(wav: Path, params: TranscribeParams, transcript: dict[str, Any], progress: Progress) -> str:
    if not diarizer.available():
        log.info("diarization requested but unavailable: %s", diarizer.unavailable_reason())
        return "unavailable"
    progress(85, "diarizing")
    turns = diarizer.diarize(
        read_wav(wav),
        16000,
        num_speakers=params.num_speakers,
        min_speakers=params.min_speakers,
        max_speakers=params.max_speakers,
        on_progress=lambda fraction: progress(85 + 10 * fraction, None),
    )
    diarizer.assign_speakers(transcript["segments"], turns)
    labels = sorted({segment["speaker"] for segment in transcript["segments"] if segment.get("speaker")})
    transcript["speakers"] = {label: label for label in labels}
    return "done"


def _check(db: Session, ctx: AppContext, workspace_id: str, job_input: FileInput, params: TranscribeParams) -> None:
    check_model(ctx.settings, params)


def run(ctx: JobContext, job_input: FileInput, params: TranscribeParams) -> dict[str, Any]:
    ctx.progress(0, "preparing")
    duration = ctx.input_file(job_input.file_id).duration_s
    remote = None
    if (params.engine or ctx.app.settings.asr_engine) == "remote":
        with ctx.database.session() as db:
            remote = remote_for(db, ctx.app, ctx.workspace_id, "asr")
    source = ctx.open_input(job_input.file_id)

    def progress(pct: float, stage: str | None) -> None:
        if stage is not None or pct >= 0:
            ctx.progress(pct, stage)
        ctx.check_canceled()

    transcript = transcribe_file(
        ctx.app.settings, source, ctx.scratch, params, duration_s=duration, progress=progress, remote=remote
    )
    ctx.progress(97, "saving")
    with ctx.database.session() as db:
        saved = transcripts.save_from_job(db, workspace_id=ctx.workspace_id, job_id=ctx.job_id, data=transcript)
        version = saved.version
    return {
        "language": transcript["language"],
        "language_probability": transcript["language_probability"],
        "duration_s": transcript["duration_s"],
        "model": transcript["model"],
        "segments": len(transcript["segments"]),
        "words": sum(len(segment.get("words") or []) for segment in transcript["segments"]),
        "speakers": len(transcript.get("speakers") or {}),
        "diarization": transcript["diarization"],
        "transcript_version": version,
        "text": " ".join(segment["text"] for segment in transcript["segments"])[:2000],
    }


JOB_TYPE = JobType(
    name="transcribe",
    queue="asr",
    input_model=FileInput,
    params_model=TranscribeParams,
    run=run,
    timeout_s=4 * 3600,
    description="Speech → text with timestamps, words, language and optional speaker labels.",
    check=_check,
)
