"""synthesize: text → speech, sentence by sentence with progress, encoded by ffmpeg to the format asked for."""

from __future__ import annotations

import itertools
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from voxhub import engines
from voxhub.config import Settings
from voxhub.context import AppContext
from voxhub.engines.base import EngineError, Synthesizer, Voice
from voxhub.engines.remote import RemoteConfig
from voxhub.engines.textnorm import normalize, split_sentences
from voxhub.errors import Unprocessable, field_errors
from voxhub.jobs.context import JobContext
from voxhub.jobs.registry import JobType, PipelineError
from voxhub.media import convert as ffmpeg
from voxhub.media.probe import MediaInfo
from voxhub.pipelines.speech import pipeline_error, remote_for
from voxhub.voices import service as hosted_voices

MAX_CHARS = 100_000
ESPEAK_CHUNK_CHARS = 5000  # per espeak-ng run: progress still moves, and starting the program stops mattering
PAUSE_S = 0.15  # between sentences, which the engines speak separately
PCM_DEFAULT_RATE = 24000  # what OpenAI's `pcm` format is, so clients written for it play ours unchanged
# lame picks 32 kb/s for 22 kHz mono, which lisps; aac and opus choose 70 to 100 kb/s themselves
BITRATES_KBPS = {"mp3": 64}
Format = Literal["mp3", "wav", "flac", "opus", "aac", "pcm"]
Progress = Callable[[float, str | None], None]


class TextInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_CHARS, description="Plain text (no SSML), up to 100,000 characters.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value


class SynthesizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voice: str | None = Field(
        default=None,
        max_length=200,
        description="A voice id from GET /api/v1/voices; `elevenlabs:…` and `unrealspeech:…` voices use the "
        "workspace's key for that provider.",
    )
    language: str | None = Field(default=None, max_length=16, description="Picks a voice when none is named.")
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    format: Format = "mp3"
    sample_rate: int | None = Field(default=None, ge=8000, le=48000)
    engine: Literal["local", "remote"] | None = Field(default=None, description="Default from VOXHUB_TTS_ENGINE.")


def pick_voice(settings: Settings, engine: Synthesizer, params: SynthesizeParams) -> Voice:
    try:
        return engines.find_voice(engine, params.voice, default=settings.tts_voice, language=params.language)
    except EngineError as exc:
        raise Unprocessable(exc.message, code=exc.code, details=exc.details) from exc


def _sentences(text: str, voice: Voice) -> list[str]:
    sentences = split_sentences(normalize(text, voice.language.split("-")[0]))
    if not sentences:
        raise PipelineError("empty_text", "Nothing speakable is left in the text once symbols are removed.")
    return sentences


def pcm_stream(
    engine: Synthesizer, voice: Voice, text: str, *, speed: float, progress: Progress
) -> Iterator[tuple[bytes, int]]:
    """(PCM, sample rate) sentence by sentence, with a short pause between sentences. espeak-ng is given many
    sentences per run: it is a program started once per call, fast enough that the start is the main cost, and it
    pauses at sentence ends itself."""
    sentences = _sentences(text, voice)
    if voice.engine == "espeak-ng":
        sentences = _grouped(sentences, ESPEAK_CHUNK_CHARS)
    total = sum(len(sentence) for sentence in sentences)
    done = 0
    for index, sentence in enumerate(sentences):
        paused = index == 0
        try:
            for chunk in engine.synthesize(sentence, voice, speed=speed):
                if not paused:
                    yield b"\0\0" * int(chunk.sample_rate * PAUSE_S), chunk.sample_rate
                    paused = True
                yield chunk.pcm, chunk.sample_rate
        except EngineError as exc:
            raise pipeline_error(exc) from exc
        done += len(sentence)
        progress(5 + 85 * done / total, None)


def _grouped(sentences: list[str], max_chars: int) -> list[str]:
    groups: list[str] = []
    for sentence in sentences:
        if groups and len(groups[-1]) + 1 + len(sentence) <= max_chars:
            groups[-1] += " " + sentence
        else:
            groups.append(sentence)
    return groups


def synthesize_file(
    settings: Settings,
    text: str,
    params: SynthesizeParams,
    scratch: Path,
    *,
    progress: Progress,
    remote: RemoteConfig | None = None,
    hosted: Synthesizer | None = None,
) -> tuple[Path, MediaInfo | None, Voice]:
    """Speak `text` into a file in `scratch`; its media facts when known without probing (raw PCM), and the voice.
    Shared by the job, the CLI and (through `stream_speech`'s parts) the OpenAI-compatible route. `hosted` is the
    engine of a hosted provider's voice (voices.service.synthesizer_for), used instead of the configured one."""
    engine = hosted or engines.synthesizer(settings, engine=params.engine, remote=remote)
    voice = pick_voice(settings, engine, params)
    progress(2, "synthesizing")
    wav = scratch / "synthesized.wav"  # not "speech.wav": that may be the output
    rate = _write_wav(wav, pcm_stream(engine, voice, text, speed=params.speed, progress=progress))
    if not rate:
        raise PipelineError("synthesis_failed", "The engine produced no audio.")
    progress(90, "encoding")
    target = scratch / ffmpeg.output_name("speech", params.format)
    sample_rate = params.sample_rate or (PCM_DEFAULT_RATE if params.format == "pcm" else None)
    known: MediaInfo | None = None
    if params.format == "wav" and sample_rate in (None, rate):
        wav.replace(target)  # already what was asked for: 16-bit mono WAV at the voice's rate
        seconds = round((target.stat().st_size - 44) / 2 / rate, 3)
        known = MediaInfo(
            duration_s=seconds, container="wav", audio_codec="pcm_s16le", sample_rate=rate, channels=1,
            bit_rate=rate * 16,
        )  # fmt: skip
    else:
        spec = ffmpeg.ConvertSpec(
            format=params.format, sample_rate=sample_rate, channels=1, bitrate_kbps=BITRATES_KBPS.get(params.format)
        )
        try:
            known = ffmpeg.convert(
                wav, target, spec, expected_s=0, on_progress=lambda _: None, ffmpeg=settings.ffmpeg_path
            )
        except ffmpeg.ConvertFailed as exc:
            raise PipelineError("conversion_failed", f"ffmpeg could not encode the speech: {exc.message}") from exc
    if params.format == "pcm":
        out_rate = sample_rate or rate
        known = MediaInfo(
            duration_s=round(target.stat().st_size / 2 / out_rate, 3),
            container="s16le",
            audio_codec="pcm_s16le",
            sample_rate=out_rate,
            channels=1,
            bit_rate=out_rate * 16,
        )
    return target, known, voice


def _write_wav(target: Path, pcm: Iterator[tuple[bytes, int]]) -> int:
    """The PCM as a mono 16-bit WAV file; its sample rate, or 0 when no audio came. The file is opened with the first
    chunk: a WAV writer closed before its format is set raises, and would hide the error that stopped the audio."""
    writer: wave.Wave_write | None = None
    rate = 0
    try:
        for chunk, chunk_rate in pcm:
            if writer is None:
                rate = chunk_rate
                writer = wave.open(str(target), "wb")  # noqa: SIM115 - closed below, whatever happens
                writer.setnchannels(1)
                writer.setsampwidth(2)
                writer.setframerate(rate)
            writer.writeframes(chunk)
    finally:
        if writer is not None:
            writer.close()
    return rate


def stream_speech(
    settings: Settings,
    text: str,
    params: SynthesizeParams,
    *,
    remote: RemoteConfig | None = None,
    hosted: Synthesizer | None = None,
) -> tuple[Iterator[bytes], Voice]:
    """Encoded audio as it is made: each sentence goes to an ffmpeg encoder as soon as it is synthesised, so the
    first bytes leave long before the last sentence is spoken. Errors before the first byte raise here."""
    engine = hosted or engines.synthesizer(settings, engine=params.engine, remote=remote)
    voice = pick_voice(settings, engine, params)
    pcm = pcm_stream(engine, voice, text, speed=params.speed, progress=lambda *_: None)
    # The first sentence is spoken here: a failing engine or an empty text fails the request itself.
    first_chunk = next(pcm, None)
    if first_chunk is None:
        raise PipelineError("synthesis_failed", "The engine produced no audio.")
    first, rate = first_chunk
    sample_rate = params.sample_rate or (PCM_DEFAULT_RATE if params.format == "pcm" else None)
    chunks = itertools.chain([first], (chunk for chunk, _rate in pcm))
    encoded = ffmpeg.encode_stream(
        chunks,
        input_rate=rate,
        fmt=params.format,
        sample_rate=sample_rate,
        bitrate_kbps=BITRATES_KBPS.get(params.format),
        ffmpeg=settings.ffmpeg_path,
    )
    return encoded, voice


def _check(db: Session, ctx: AppContext, workspace_id: str, job_input: TextInput, params: SynthesizeParams) -> None:
    if hosted_voices.synthesizer_for(db, ctx=ctx, workspace_id=workspace_id, voice=params.voice) is not None:
        return  # a hosted voice: the workspace has a key for its provider, which judges the voice and the text
    if (params.engine or ctx.settings.tts_engine) == "remote":
        return
    engine = engines.synthesizer(ctx.settings, engine="local")
    voice = pick_voice(ctx.settings, engine, params)
    try:
        _sentences(job_input.text, voice)  # text of nothing but emoji or symbols: refused now, not failed later
    except PipelineError as exc:
        raise Unprocessable(exc.message, code=exc.code, details=field_errors(("input.text", exc.message))) from exc


def run(ctx: JobContext, job_input: TextInput, params: SynthesizeParams) -> dict[str, Any]:
    ctx.progress(0, "preparing")
    remote = None
    with ctx.database.session() as db:
        try:
            hosted = hosted_voices.synthesizer_for(db, ctx=ctx.app, workspace_id=ctx.workspace_id, voice=params.voice)
        except Unprocessable as exc:  # the provider's key was deleted after the job was accepted
            raise PipelineError(exc.code, exc.message) from exc
        if hosted is None and (params.engine or ctx.app.settings.tts_engine) == "remote":
            remote = remote_for(db, ctx.app, ctx.workspace_id, "tts")

    def progress(pct: float, stage: str | None) -> None:
        ctx.progress(pct, stage)
        ctx.check_canceled()

    target, known, voice = synthesize_file(
        ctx.app.settings, job_input.text, params, ctx.scratch, progress=progress, remote=remote, hosted=hosted
    )
    ctx.progress(95, "storing")
    output = ctx.write_output(target.name, target, ffmpeg.content_type(params.format), known=known)
    media = output.media or {}
    return {
        "file_id": output.id,
        "voice": voice.id,
        "engine": voice.engine,
        "format": params.format,
        "duration_s": media.get("duration_s"),
        "sample_rate": media.get("sample_rate"),
        "characters": len(job_input.text),
        "size_bytes": output.size_bytes,
    }


JOB_TYPE = JobType(
    name="synthesize",
    queue="tts",
    input_model=TextInput,
    params_model=SynthesizeParams,
    run=run,
    timeout_s=2 * 3600,
    description="Text → speech with a piper or espeak-ng voice, as mp3, wav, flac, opus, aac or raw PCM.",
    check=_check,
)
