"""The rules of the OpenAI-compatible audio API: which model a name means, what is too long to do while the client
waits, and how a voxhub transcript is written in OpenAI's response formats. Nothing here knows HTTP."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

import voxhub
from voxhub.audit import service as audit
from voxhub.billing import service as billing
from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.db import Database
from voxhub.engines import Capability
from voxhub.engines.asr import installed_models
from voxhub.engines.base import Synthesizer
from voxhub.engines.embed import LOCAL_MODELS as EMBED_MODELS
from voxhub.engines.embed import OPENAI_EMBED_ALIASES
from voxhub.engines.llm import local_models
from voxhub.engines.remote import RemoteConfig, language_name
from voxhub.engines.textnorm import estimate_seconds
from voxhub.errors import BadRequest, EngineBusy, EngineFailed, NotFound, Unprocessable, VoxhubError
from voxhub.jobs.registry import PipelineError
from voxhub.media import convert as ffmpeg
from voxhub.media.probe import MediaInfo, MediaRejected, ToolMissing, probe
from voxhub.openai_compat.schemas import ModelOut, SpeechIn, TranscriptionForm, TranslationForm
from voxhub.pipelines.speech import remote_for
from voxhub.pipelines.synthesize import SynthesizeParams, stream_speech
from voxhub.pipelines.transcribe import TranscribeParams, transcribe_file
from voxhub.transcripts import formats
from voxhub.voices import service as hosted_voices
from voxhub.workspaces.service import WorkspaceAccess

Task = Literal["transcribe", "translate"]

# OpenAI's model names, so client code runs unchanged: `whisper-1` is the configured Whisper model, the speech models
# the configured local voices.
ASR_ALIASES = ("whisper-1",)
TTS_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OWNER = "voxhub"

# Engine failures that are the request's fault; the others are the server's.
_BAD_INPUT = frozenset({"conversion_failed", "empty_text", "unsupported_language", "voice_not_found"})


class TooLongForSync(VoxhubError):
    status_code = 413
    code = "audio_too_long"
    message = "The audio is too long for a synchronous call; use the jobs API."


# ---- models ----


@cache
def _installed_at() -> int:
    """When this voxhub was installed: OpenAI's `created` for models that have no date of their own."""
    return int(Path(voxhub.__file__).stat().st_mtime)


def list_models(settings: Settings) -> list[ModelOut]:
    """The installed Whisper models by their own names, then OpenAI's names for the default models, then the
    language models."""
    embedding = [model.model_id for model in EMBED_MODELS.values()]
    chat = chat_models(settings)
    ids = [*installed_models(settings), *ASR_ALIASES, *TTS_MODELS, *embedding, *OPENAI_EMBED_ALIASES, *chat]
    return [ModelOut(id=model_id, created=_installed_at(), owned_by=OWNER) for model_id in dict.fromkeys(ids)]


def chat_models(settings: Settings) -> list[str]:
    """Language models this server answers to: the local ones that are installed, or the remote engine's model."""
    if settings.llm_engine == "none":
        return []
    if settings.llm_engine == "remote":
        return [settings.remote_llm_model]
    return local_models(settings)


def get_model(settings: Settings, model_id: str) -> ModelOut:
    """One model of the /v1/models list, or 404 `model_not_found`."""
    for model in list_models(settings):
        if model.id == model_id:
            return model
    raise _model_not_found(model_id)


def _model_not_found(model_id: str) -> NotFound:
    return NotFound(
        f"The model '{model_id}' does not exist here; GET /v1/models lists the models.",
        code="model_not_found",
        details={"param": "model"},
    )


# ---- transcriptions and translations ----


def transcribe_params(settings: Settings, form: TranscriptionForm | TranslationForm, *, task: Task) -> TranscribeParams:
    """The pipeline's parameters for one call. Word timestamps are computed only when the answer uses them."""
    words = form.response_format in ("srt", "vtt") or (
        form.response_format == "verbose_json" and "word" in getattr(form, "timestamp_granularities", [])
    )
    return TranscribeParams(
        model=_asr_model(settings, form.model),
        language=getattr(form, "language", None),
        task=task,
        initial_prompt=form.prompt or None,
        temperature=form.temperature or None,  # OpenAI's 0 means "start at 0 and raise it on failure", as ours does
        word_timestamps=words,
    )


def _asr_model(settings: Settings, requested: str) -> str | None:
    """None (the configured model) for OpenAI's names; an installed model by its own name; any name a remote engine
    is asked for, which it judges itself."""
    if requested in ASR_ALIASES:
        return None
    if settings.asr_engine == "remote" or requested in (*installed_models(settings), settings.asr_model):
        return requested
    raise _model_not_found(requested)


def remote_engine(db: Session, ctx: AppContext, workspace_id: str, capability: Capability) -> RemoteConfig | None:
    """The remote engine's settings (the workspace's own provider key first) when the settings choose one."""
    engine = ctx.settings.asr_engine if capability == "asr" else ctx.settings.tts_engine
    return remote_for(db, ctx, workspace_id, capability) if engine == "remote" else None


def probe_upload(
    settings: Settings,
    *,
    source: Path,
    size: int,
    form: TranscriptionForm | TranslationForm,
    task: Task,
    workspace_id: str,
) -> tuple[TranscribeParams, MediaInfo]:
    """Check the model and probe the upload, holding it to the length limit (for a worker thread)."""
    params = transcribe_params(settings, form, task=task)
    return params, check_audio(settings, source, size=size, task=params.task, workspace_id=workspace_id)


def transcribe_upload(
    settings: Settings,
    *,
    source: Path,
    scratch: Path,
    params: TranscribeParams,
    info: MediaInfo,
    remote: RemoteConfig | None,
) -> dict[str, Any]:
    """Transcribe a probed upload (for a worker thread)."""
    try:
        return transcribe_file(
            settings,
            source,
            scratch,
            params,
            duration_s=info.duration_s,
            progress=lambda _pct, _stage: None,
            remote=remote,
        )
    except PipelineError as exc:
        if exc.code == "no_speech":  # OpenAI answers silence with empty text, not an error
            return {"language": params.language or "", "duration_s": info.duration_s, "segments": []}
        raise client_error(exc) from exc


def check_audio(settings: Settings, source: Path, *, size: int, task: Task, workspace_id: str) -> MediaInfo:
    """The upload's media facts; 400 for what is not usable audio, 413 for audio longer than a synchronous call."""
    try:
        info = probe(str(source), ffprobe=settings.ffprobe_path, ffmpeg=settings.ffmpeg_path, size_bytes=size)
    except MediaRejected as exc:
        raise BadRequest(
            f"{exc.message} ({exc.reason})", code=exc.code, details={"param": "file", "reason": exc.reason}
        ) from exc
    except ToolMissing as exc:
        raise EngineBusy(str(exc), code="ffmpeg_missing") from exc
    if info.duration_s > settings.sync_max_audio_s:
        params = ', "params": {"task": "translate"}' if task == "translate" else ""
        raise TooLongForSync(
            f"The audio lasts {info.duration_s:.1f} s; this route takes up to {settings.sync_max_audio_s} s. "
            f"For longer audio, upload the file (POST /api/v1/workspaces/{workspace_id}/files) and start a job: "
            f'POST /api/v1/workspaces/{workspace_id}/jobs with {{"type": "transcribe", "input": {{"file_id": "…"}}'
            f"{params}}}.",
            details={"param": "file", "duration_s": info.duration_s, "max_duration_s": settings.sync_max_audio_s},
        )
    return info


def client_error(exc: PipelineError) -> VoxhubError:
    """A pipeline's failure as the caller should see it: its input's fault (400), a passing trouble (503), or ours."""
    if exc.code in _BAD_INPUT:
        return BadRequest(exc.message, code=exc.code)
    if exc.transient:
        return EngineBusy(exc.message, code=exc.code)
    return EngineFailed(exc.message, code=exc.code)


def openai_transcript(
    transcript: dict[str, Any], *, form: TranscriptionForm | TranslationForm, task: Task
) -> dict[str, Any] | str:
    """The transcript as OpenAI answers it: a JSON object for json and verbose_json, text for the others."""
    response_format = form.response_format
    segments = transcript.get("segments") or []
    text = " ".join(segment["text"].strip() for segment in segments).strip()
    if response_format == "json":
        return {"text": text}
    if response_format == "text":
        return text + "\n" if text else ""
    if response_format in ("srt", "vtt"):
        return formats.render(transcript, response_format)
    verbose: dict[str, Any] = {
        "task": task,
        # A translation is always into English, and OpenAI names the language of its output.
        "language": "english" if task == "translate" else language_name(transcript.get("language") or ""),
        "duration": transcript.get("duration_s", 0.0),
        "text": text,
        "segments": [_openai_segment(segment, form.temperature) for segment in segments],
    }
    if "word" in getattr(form, "timestamp_granularities", []):
        verbose["words"] = [
            {"word": word["word"].strip(), "start": word["start"], "end": word["end"]}
            for segment in segments
            for word in segment.get("words") or []
            if word["word"].strip()
        ]
    return verbose


def _openai_segment(segment: dict[str, Any], temperature: float) -> dict[str, Any]:
    text = segment["text"].strip()
    encoded = text.encode()
    return {
        "id": segment["id"],
        "seek": round(segment["start"] * 100),  # Whisper's seek counts 10 ms frames
        "start": segment["start"],
        "end": segment["end"],
        "text": text,
        "tokens": [],  # voxhub does not expose token ids
        "temperature": temperature,
        "avg_logprob": segment.get("avg_logprob", 0.0),
        # As Whisper computes it: how well gzip squeezes the text (repetitive hallucinations squeeze well).
        "compression_ratio": round(len(encoded) / len(zlib.compress(encoded)), 4) if encoded else 0.0,
        "no_speech_prob": segment.get("no_speech_prob", 0.0),
    }


# ---- speech ----


def speech_params(settings: Settings, body: SpeechIn, *, workspace_id: str) -> SynthesizeParams:
    """The synthesis parameters for one call; 404 for a model that is not a speech model, 413 for more text than a
    synchronous call speaks."""
    if body.model not in TTS_MODELS:
        raise _model_not_found(body.model)
    estimated = estimate_seconds(body.input, speed=body.speed)
    if estimated > settings.sync_max_audio_s:
        raise TooLongForSync(
            f"The text would take about {estimated:.0f} s to speak; this route makes up to "
            f"{settings.sync_max_audio_s} s. For longer text, start a job: POST /api/v1/workspaces/{workspace_id}/jobs "
            'with {"type": "synthesize", "input": {"text": "…"}}.',
            code="input_too_long",
            details={"param": "input", "estimated_s": round(estimated, 1), "max_duration_s": settings.sync_max_audio_s},
        )
    return SynthesizeParams(voice=body.voice, speed=body.speed, format=body.response_format)


def start_speech(
    settings: Settings,
    text: str,
    params: SynthesizeParams,
    *,
    remote: RemoteConfig | None,
    hosted: Synthesizer | None = None,
) -> Iterator[bytes]:
    """The encoded audio as it is made, for a worker thread: the first sentence is spoken here, so that a bad voice
    or a failing engine is an error response rather than a broken stream."""
    try:
        audio, _voice = stream_speech(settings, text, params, remote=remote, hosted=hosted)
    except Unprocessable as exc:  # from choosing the voice
        if exc.code == "voice_not_found":
            raise BadRequest(exc.message, code=exc.code, details={"param": "voice"}) from exc
        raise EngineBusy(exc.message, code=exc.code) from exc
    except PipelineError as exc:
        raise client_error(exc) from exc
    return audio


@asynccontextmanager
async def held(
    database: Database, *, ctx: AppContext, access: WorkspaceAccess, job_type: str, measure: billing.Measure
) -> AsyncIterator[str | None]:
    """What the call costs, held (committed at once: the call outlives any transaction) while the block runs and
    released if it fails; the caller settles a success. 402 before any work when it cannot be paid."""
    charge_id = await run_in_threadpool(
        billing.begin_sync_charge,
        database,
        ctx=ctx,
        workspace_id=access.workspace_id,
        job_type=job_type,
        measure=measure,
        actor=access.actor,
    )
    try:
        yield charge_id
    except BaseException:
        await run_in_threadpool(billing.abandon_sync_charge, database, ctx=ctx, charge_id=charge_id)
        raise


async def transcribe_call(
    database: Database,
    db: Session,
    *,
    ctx: AppContext,
    access: WorkspaceAccess,
    source: Path,
    size: int,
    form: TranscriptionForm | TranslationForm,
    task: Task,
    scratch: Path,
) -> dict[str, Any] | str:
    """One `/v1/audio/transcriptions` (or translations) call on an uploaded file: probed, held, transcribed,
    charged and audited; the answer in the form's `response_format`."""
    settings = ctx.settings
    remote = await run_in_threadpool(remote_engine, db, ctx, access.workspace_id, "asr")
    params, info = await run_in_threadpool(
        probe_upload, settings, source=source, size=size, form=form, task=task, workspace_id=access.workspace_id
    )
    measure = billing.Measure(seconds=info.duration_s)
    async with held(database, ctx=ctx, access=access, job_type="transcribe", measure=measure) as charge_id:
        transcript = await run_in_threadpool(
            transcribe_upload, settings, source=source, scratch=scratch, params=params, info=info, remote=remote
        )
    answer = openai_transcript(transcript, form=form, task=task)
    await run_in_threadpool(
        billing.end_sync_charge, db, ctx=ctx, charge_id=charge_id, result={"duration_s": transcript.get("duration_s")}
    )
    record_transcription(db, access=access, task=task, form=form, transcript=transcript)
    return answer


async def speech_call(
    database: Database, db: Session, *, ctx: AppContext, access: WorkspaceAccess, body: SpeechIn
) -> Iterator[bytes]:
    """One `/v1/audio/speech` call: held, started (errors before the first byte answer as errors), audited, and
    charged when the stream ends."""
    params = speech_params(ctx.settings, body, workspace_id=access.workspace_id)
    remote = await run_in_threadpool(remote_engine, db, ctx, access.workspace_id, "tts")
    # An `elevenlabs:…` or `unrealspeech:…` voice is spoken by that provider with the workspace's key.
    hosted = await run_in_threadpool(
        lambda: hosted_voices.synthesizer_for(db, ctx=ctx, workspace_id=access.workspace_id, voice=body.voice)
    )
    seconds = estimate_seconds(body.input, speed=body.speed)
    measure = billing.Measure(seconds=seconds, characters=len(body.input))
    async with held(database, ctx=ctx, access=access, job_type="synthesize", measure=measure) as charge_id:
        audio = await run_in_threadpool(start_speech, ctx.settings, body.input, params, remote=remote, hosted=hosted)
    record_speech(db, access=access, body=body)
    return charged_stream(database, ctx, audio, charge_id=charge_id, characters=len(body.input), seconds=seconds)


def charged_stream(
    database: Database,
    ctx: AppContext,
    audio: Iterator[bytes],
    *,
    charge_id: str | None,
    characters: int,
    seconds: float,
) -> Iterator[bytes]:
    """The audio stream; once it ends (or the client goes away after the speech was made) the call is charged."""
    try:
        yield from audio
    finally:
        with database.session() as db:
            billing.end_sync_charge(
                db, ctx=ctx, charge_id=charge_id, result={"characters": characters, "duration_s": seconds}
            )


def speech_media_type(response_format: str) -> str:
    """The Content-Type of speech in an OpenAI `response_format` (mp3, wav, opus, ...)."""
    return ffmpeg.content_type(response_format)


# ---- audit ----


def record_transcription(
    db: Session,
    *,
    access: WorkspaceAccess,
    task: Task,
    form: TranscriptionForm | TranslationForm,
    transcript: dict[str, Any],
) -> None:
    """Every call is in the workspace's audit log, with the seconds of audio it took."""
    audit.record(
        db,
        actor=access.actor,
        action="openai.transcription" if task == "transcribe" else "openai.translation",
        workspace_id=access.workspace_id,
        summary={
            "model": form.model,
            "response_format": form.response_format,
            "duration_s": transcript.get("duration_s"),
            "language": transcript.get("language"),
        },
    )


def record_speech(db: Session, *, access: WorkspaceAccess, body: SpeechIn) -> None:
    """Every call is in the workspace's audit log, with the characters it spoke."""
    audit.record(
        db,
        actor=access.actor,
        action="openai.speech",
        workspace_id=access.workspace_id,
        summary={
            "model": body.model,
            "voice": body.voice,
            "response_format": body.response_format,
            "characters": len(body.input),
            "estimated_s": round(estimate_seconds(body.input, speed=body.speed), 1),
        },
    )
